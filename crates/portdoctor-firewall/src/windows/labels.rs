//! `netsh advfirewall` labels and values by language.
//!
//! - English: `logancave/some-bat-files : firewall_rules.txt` (Windows 11 22H2) and the
//!   `show allprofiles` transcripts in the fixture README.
//! - zh-CN: the recorded `netsh advfirewall firewall show rule name="Chrome CDP 9222"` output
//!   and the `show allprofiles` / `show currentprofile` outputs named in
//!   `tests/data/windows/README.md` (rule labels 规则名称 … 操作; values 是/否, 入, 任何, 允许;
//!   profile sections 域/专用/公用配置文件 设置, 状态 启用/打开). Labels of the verbose-only
//!   lines (程序, 服务, 接口类型, 安全, 规则源) and the values 出/阻止 were not in a recorded
//!   sample: they are Windows' zh-CN resource strings as documented, marked below.
//! - German: from `netsh` fixtures in public test code (not a verified recording):
//!   Regelname, Aktiviert: Ja, Richtung: Eingehend, Profile: Domäne,Privat,Öffentlich,
//!   LokaleIP, RemoteIP, Protokoll, Lokaler Port, Edgeausnahme, Programm, Aktion: Zulassen.

/// Which field a rule label names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    /// Display name: starts a rule block.
    Name,
    Enabled,
    Direction,
    Profiles,
    Grouping,
    LocalIp,
    RemoteIp,
    Protocol,
    LocalPort,
    RemotePort,
    Edge,
    Program,
    Service,
    InterfaceTypes,
    Security,
    RuleSource,
    Action,
}

/// (label without the colon, field), all languages together.
const RULE_LABELS: &[(&str, Field)] = &[
    ("Rule Name", Field::Name),
    ("Enabled", Field::Enabled),
    ("Direction", Field::Direction),
    ("Profiles", Field::Profiles),
    ("Grouping", Field::Grouping),
    ("LocalIP", Field::LocalIp),
    ("RemoteIP", Field::RemoteIp),
    ("Protocol", Field::Protocol),
    ("LocalPort", Field::LocalPort),
    ("RemotePort", Field::RemotePort),
    ("Edge traversal", Field::Edge),
    ("Program", Field::Program),
    ("Service", Field::Service),
    ("InterfaceTypes", Field::InterfaceTypes),
    ("Security", Field::Security),
    ("Rule source", Field::RuleSource),
    ("Action", Field::Action),
    // zh-CN (recorded)
    ("规则名称", Field::Name),
    ("已启用", Field::Enabled),
    ("方向", Field::Direction),
    ("配置文件", Field::Profiles),
    ("分组", Field::Grouping),
    ("本地 IP", Field::LocalIp),
    ("远程 IP", Field::RemoteIp),
    ("协议", Field::Protocol),
    ("本地端口", Field::LocalPort),
    ("远程端口", Field::RemotePort),
    ("边缘遍历", Field::Edge),
    ("操作", Field::Action),
    // zh-CN (verbose-only lines: not in a recorded sample)
    ("程序", Field::Program),
    ("服务", Field::Service),
    ("接口类型", Field::InterfaceTypes),
    ("安全", Field::Security),
    ("规则源", Field::RuleSource),
    // German (public test fixtures)
    ("Regelname", Field::Name),
    ("Aktiviert", Field::Enabled),
    ("Richtung", Field::Direction),
    ("Profile", Field::Profiles),
    ("Gruppierung", Field::Grouping),
    ("LokaleIP", Field::LocalIp),
    ("Protokoll", Field::Protocol),
    ("Lokaler Port", Field::LocalPort),
    ("Remoteport", Field::RemotePort),
    ("Edgeausnahme", Field::Edge),
    ("Programm", Field::Program),
    ("Dienst", Field::Service),
    ("Schnittstellentypen", Field::InterfaceTypes),
    ("Sicherheit", Field::Security),
    ("Regelquelle", Field::RuleSource),
    ("Aktion", Field::Action),
];

/// The field a label names (trimmed, without its colon).
pub(crate) fn rule_field(label: &str) -> Option<Field> {
    let l = label.trim();
    RULE_LABELS
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(l))
        .map(|(_, f)| *f)
}

/// Yes / no in every table.
pub(crate) fn yes_no(v: &str) -> Option<bool> {
    match v.trim().to_lowercase().as_str() {
        "yes" | "是" | "ja" | "true" => Some(true),
        "no" | "否" | "nein" | "false" => Some(false),
        _ => None,
    }
}

/// Inbound (true) / outbound (false).
pub(crate) fn inbound(v: &str) -> Option<bool> {
    match v.trim().to_lowercase().as_str() {
        "in" | "inbound" | "入" | "入站" | "eingehend" => Some(true),
        "out" | "outbound" | "出" | "出站" | "ausgehend" => Some(false),
        _ => None,
    }
}

/// Rule action word.
pub(crate) fn action(v: &str) -> Option<super::model::RuleAction> {
    use super::model::RuleAction;
    match v.trim().to_lowercase().as_str() {
        "allow" | "允许" | "zulassen" => Some(RuleAction::Allow),
        "block" | "阻止" | "blockieren" => Some(RuleAction::Block),
        "bypass" | "绕过" | "umgehen" => Some(RuleAction::Bypass),
        _ => None,
    }
}

/// Edge traversal value (`Yes`, `No`, `Defer to user`, `Defer to application`).
pub(crate) fn edge(v: &str) -> Option<super::model::EdgeTraversal> {
    use super::model::EdgeTraversal;
    let t = v.trim().to_lowercase();
    if let Some(b) = yes_no(&t) {
        return Some(if b {
            EdgeTraversal::Allow
        } else {
            EdgeTraversal::Block
        });
    }
    if t.contains("user") || t.contains("用户") || t.contains("benutzer") {
        Some(EdgeTraversal::DeferToUser)
    } else if t.contains("app") || t.contains("应用") || t.contains("anwendung") {
        Some(EdgeTraversal::DeferToApp)
    } else {
        None
    }
}

/// Section header of `show allprofiles` / `show currentprofile`.
pub(crate) fn profile_section(line: &str) -> Option<super::model::Profile> {
    use super::model::Profile;
    let t = line.trim().trim_end_matches([':', '：']).trim();
    let p = match t {
        "Domain Profile Settings" | "域配置文件 设置" | "域配置文件设置" => {
            Profile::Domain
        }
        "Private Profile Settings" | "专用配置文件 设置" | "专用配置文件设置" => {
            Profile::Private
        }
        "Public Profile Settings" | "公用配置文件 设置" | "公用配置文件设置" => {
            Profile::Public
        }
        _ => return None,
    };
    Some(p)
}

/// `State` line of a profile section; the value after the label.
pub(crate) fn profile_state(line: &str) -> Option<&str> {
    ["State", "状态", "Status"]
        .iter()
        .find_map(|l| strip_label(line, l))
}

/// `Firewall Policy` line of a profile section; the value after the label.
pub(crate) fn profile_policy(line: &str) -> Option<&str> {
    ["Firewall Policy", "防火墙策略", "Firewallrichtlinie"]
        .iter()
        .find_map(|l| strip_label(line, l))
}

/// On / off of a profile's `State`.
pub(crate) fn on_off(v: &str) -> Option<bool> {
    match v.trim().to_lowercase().as_str() {
        "on" | "启用" | "打开" | "开" | "ein" => Some(true),
        "off" | "关闭" | "禁用" | "关" | "aus" => Some(false),
        _ => None,
    }
}

/// `line` without `label` and the blanks after it, when it starts with the label followed by
/// a blank (so `State` does not take `StateX`).
fn strip_label<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    let rest = line.trim_start().strip_prefix(label)?;
    rest.starts_with(char::is_whitespace).then(|| rest.trim())
}
