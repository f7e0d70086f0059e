//! `netsh advfirewall firewall show rule name=all [verbose]` and `netsh advfirewall show
//! allprofiles | currentprofile` text, in the languages of [`super::labels`].
//!
//! Non-verbose output has no `Program:` / `Service:` lines: those filters are then
//! [`Recorded::Missing`] and any rule that could match only through them is `unknown`. Rule
//! names are display names (not unique); the policy store is known only from the verbose
//! `Rule source:` line.

use super::error::{LoadError, column_of};
use super::labels::{self, Field};
use super::model::{
    Direction, EdgeTraversal, InterfaceType, Profile, ProfileSettings, Recorded, RuleAction,
    Setting, Store, WinRule,
};
use super::values;

/// Whether `text` looks like `show rule` output.
pub fn recognise_rules(text: &str) -> bool {
    text.lines().take(50).any(|l| {
        label_of(l).is_some_and(|(lab, _)| labels::rule_field(lab) == Some(Field::Name))
            || mangled_label(l)
    })
}

/// Whether `text` looks like `show allprofiles` / `show currentprofile` output.
pub fn recognise_profiles(text: &str) -> bool {
    text.lines()
        .take(40)
        .any(|l| labels::profile_section(l).is_some())
}

/// `label: value` split at the first colon followed by a blank or the end of the line.
fn label_of(line: &str) -> Option<(&str, &str)> {
    let b = line.as_bytes();
    for (i, c) in line.char_indices() {
        if c == ':' || c == '：' {
            let after = i + c.len_utf8();
            if after >= b.len() || b[after] == b' ' || b[after] == b'\t' || b[after] == b'\r' {
                let lab = &line[..i];
                if lab.trim().is_empty() {
                    return None;
                }
                return Some((lab, line[after..].trim()));
            }
        }
    }
    None
}

/// A label made of question marks: CJK text destroyed by a code-page mismatch.
fn mangled_label(line: &str) -> bool {
    label_of(line).is_some_and(|(lab, _)| {
        let t = lab.trim();
        !t.is_empty() && t.chars().all(|c| c == '?' || c == ' ')
    })
}

/// A rule being read, with where it started.
struct Pending {
    rule: WinRule,
    line: usize,
}

/// Parses `show rule` output. `file` names the text in errors.
pub fn parse_rules(file: &str, text: &str) -> Result<Vec<WinRule>, LoadError> {
    let verbose = text.lines().any(|l| {
        label_of(l).is_some_and(|(lab, _)| {
            matches!(
                labels::rule_field(lab),
                Some(Field::Program | Field::Service | Field::RuleSource | Field::Security)
            )
        })
    });
    let mut out = vec![];
    let mut cur: Option<Pending> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let ln = n + 1;
        if mangled_label(line) {
            return Err(LoadError::UnreadableLocale {
                file: file.into(),
                line: ln,
                column: 1,
                reason: "the labels are question marks (CJK text read in the wrong code page)"
                    .into(),
            });
        }
        let Some((lab, val)) = label_of(line) else {
            continue;
        };
        let Some(field) = labels::rule_field(lab) else {
            if cur.is_none() && out.is_empty() && looks_like_rule_label(lab) {
                return Err(LoadError::UnreadableLocale {
                    file: file.into(),
                    line: ln,
                    column: 1,
                    reason: format!("unknown label `{}`", lab.trim()),
                });
            }
            continue;
        };
        if matches!(field, Field::Name | Field::Grouping) && val.contains("???") {
            let col = column_of(line, line.find("???").unwrap_or(0));
            return Err(LoadError::UnreadableLocale {
                file: file.into(),
                line: ln,
                column: col,
                reason: "names are question marks (text read in the wrong code page)".into(),
            });
        }
        if field == Field::Name {
            if let Some(p) = cur.take() {
                out.push(p.rule);
            }
            cur = Some(Pending {
                rule: new_rule(val, verbose),
                line: ln,
            });
            continue;
        }
        let Some(p) = cur.as_mut() else {
            return Err(LoadError::syntax(
                file,
                ln,
                1,
                "a rule field before any rule name",
            ));
        };
        let col = column_of(line, line.len() - line.trim_start().len() + lab.len() + 1);
        set_field(&mut p.rule, field, val).map_err(|m| LoadError::syntax(file, ln, col, m))?;
        let _ = p.line;
    }
    if let Some(p) = cur {
        out.push(p.rule);
    }
    Ok(out)
}

/// A label-looking text in a block header position (no spaces inside except single ones).
fn looks_like_rule_label(lab: &str) -> bool {
    let t = lab.trim();
    !t.is_empty() && t.chars().count() <= 40 && !t.contains("  ")
}

fn new_rule(display: &str, verbose: bool) -> WinRule {
    let mut r = WinRule::inbound(display, RuleAction::Allow);
    r.store = Store::Unknown;
    if !verbose {
        let why = "not in non-verbose netsh output (use `show rule name=all verbose` or the \
                   PowerShell export)";
        r.program = Recorded::Missing(why.into());
        r.service = Recorded::Missing(why.into());
        r.package = Recorded::Missing(why.into());
    } else {
        r.package = Recorded::Missing("netsh does not show the package (AppContainer)".into());
    }
    r
}

fn set_field(r: &mut WinRule, f: Field, v: &str) -> Result<(), String> {
    match f {
        Field::Name => {}
        Field::Enabled => r.enabled = labels::yes_no(v).ok_or_else(|| bad("Enabled", v))?,
        Field::Direction => {
            r.direction = if labels::inbound(v).ok_or_else(|| bad("Direction", v))? {
                Direction::In
            } else {
                Direction::Out
            }
        }
        Field::Profiles => r.profiles = values::profiles(v)?,
        Field::Grouping => r.group = v.to_string(),
        Field::LocalIp => r.local_addresses = values::addresses(values::items(v))?,
        Field::RemoteIp => r.remote_addresses = values::addresses(values::items(v))?,
        Field::Protocol => r.protocol = values::protocol(v)?,
        Field::LocalPort => r.local_ports = values::ports(values::items(v))?,
        Field::RemotePort => r.remote_ports = values::ports(values::items(v))?,
        Field::Edge => r.edge = labels::edge(v).unwrap_or(EdgeTraversal::DeferToApp),
        Field::Program => {
            r.program = Recorded::Known((!values::is_any(v)).then(|| v.to_string()));
        }
        Field::Service => {
            let any = v.trim().eq_ignore_ascii_case("any") || v.trim().is_empty();
            r.service = Recorded::Known((!any).then(|| v.to_string()));
        }
        Field::InterfaceTypes => r.interface_types = interface_types(v),
        Field::Security => {
            r.requires_security = !v.trim().eq_ignore_ascii_case("notrequired") && !v.is_empty();
        }
        Field::RuleSource => r.store = rule_source(v),
        Field::Action => r.action = labels::action(v).ok_or_else(|| bad("Action", v))?,
    }
    Ok(())
}

fn bad(what: &str, v: &str) -> String {
    format!("`{v}` is not a value of {what} this reader knows")
}

/// `Rule source:` value to a store.
fn rule_source(v: &str) -> Store {
    let t = v.to_lowercase();
    if t.contains("group policy") || t.contains("组策略") || t.contains("gruppenrichtlinie") {
        Store::GroupPolicy
    } else if t.contains("local") || t.contains("本地") || t.contains("lokal") {
        Store::Local
    } else if t.contains("dynamic") {
        Store::Dynamic
    } else {
        Store::Unknown
    }
}

/// `InterfaceTypes:` value (`Any`, `LAN`, `Wireless`, `RAS`, comma lists).
pub(crate) fn interface_types(v: &str) -> Option<Vec<InterfaceType>> {
    let mut out = vec![];
    for it in values::items(v) {
        match it.to_lowercase().as_str() {
            "any" | "任何" | "beliebig" => return None,
            "lan" | "wired" => out.push(InterfaceType::Wired),
            "wireless" => out.push(InterfaceType::Wireless),
            "ras" | "remoteaccess" => out.push(InterfaceType::RemoteAccess),
            _ => {}
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Parses `show allprofiles` / `show currentprofile` output: the settings of each section.
pub fn parse_profiles(file: &str, text: &str) -> Result<Vec<ProfileSettings>, LoadError> {
    let mut out: Vec<ProfileSettings> = vec![];
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if let Some(p) = labels::profile_section(line) {
            out.push(ProfileSettings::default_for(p));
            continue;
        }
        let Some(cur) = out.last_mut() else {
            continue;
        };
        let col = line.len() - line.trim_start().len() + 1;
        if let Some(v) = labels::profile_state(line) {
            let on = labels::on_off(v).ok_or_else(|| {
                LoadError::syntax(file, n + 1, col, format!("`{v}` is not a firewall state"))
            })?;
            cur.enabled = if on { Setting::On } else { Setting::Off };
        } else if let Some(v) = labels::profile_policy(line) {
            apply_policy(cur, v).map_err(|m| LoadError::syntax(file, n + 1, col, m))?;
        }
    }
    if out.is_empty() {
        return Err(LoadError::Unrecognised {
            file: file.into(),
            hint: "no profile section (`Domain Profile Settings:`)".into(),
        });
    }
    Ok(out)
}

/// `BlockInbound,AllowOutbound` style policy.
fn apply_policy(s: &mut ProfileSettings, v: &str) -> Result<(), String> {
    let inbound = values::items(v).next().unwrap_or("").to_lowercase();
    match inbound.as_str() {
        "blockinbound" => s.default_inbound_block = Some(true),
        "allowinbound" => s.default_inbound_block = Some(false),
        "blockinboundalways" => {
            s.default_inbound_block = Some(true);
            s.allow_inbound_rules = Setting::Off;
        }
        "notconfigured" => {}
        _ => return Err(format!("`{v}` is not a firewall policy")),
    }
    Ok(())
}

/// The profiles `show currentprofile` lists (fewer than three sections), else `None`.
pub fn current_profiles(settings: &[ProfileSettings]) -> Option<Vec<Profile>> {
    (settings.len() < 3).then(|| settings.iter().map(|s| s.profile).collect())
}
