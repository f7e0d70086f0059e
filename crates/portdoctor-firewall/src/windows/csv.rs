//! Semicolon CSV of Markus Scholtes' `Export-FirewallRules.ps1` (`Get-NetFirewallRule`
//! joined with the filter cmdlets; header `"Name";"DisplayName";…;"OverrideBlockRules"`).
//! It does not record the policy store: rules get [`Store::Unknown`].

use super::error::LoadError;
use super::model::{Direction, Profiles, Recorded, RuleAction, Store, WinRule};
use super::netsh::interface_types;
use super::values;

/// Whether `text` starts with the Export-FirewallRules header.
pub fn recognise(text: &str) -> bool {
    let first = text
        .trim_start_matches('\u{feff}')
        .lines()
        .next()
        .unwrap_or("");
    let h = first.replace('"', "");
    h.starts_with("Name;DisplayName;") && h.contains(";Direction;") && h.contains(";Action;")
}

/// Splits one CSV record (`;`, `"` quoting with `""` escapes). Err: column of a bad quote.
fn fields(line: &str) -> Result<Vec<String>, usize> {
    let mut out = vec![];
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.char_indices().peekable();
    let mut col = 0;
    while let Some((_, c)) = chars.next() {
        col += 1;
        match (quoted, c) {
            (true, '"') if chars.peek().is_some_and(|(_, n)| *n == '"') => {
                chars.next();
                col += 1;
                cur.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.is_empty() => quoted = true,
            (false, '"') => return Err(col),
            (false, ';') => out.push(std::mem::take(&mut cur)),
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return Err(col.max(1));
    }
    out.push(cur);
    Ok(out)
}

/// Parses the CSV.
pub fn parse(file: &str, text: &str) -> Result<Vec<WinRule>, LoadError> {
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text.lines().enumerate();
    let Some((_, head)) = lines.next() else {
        return Ok(vec![]);
    };
    let head = fields(head.trim_end_matches('\r'))
        .map_err(|c| LoadError::syntax(file, 1, c, "unbalanced quote in the header"))?;
    let idx = |k: &str| head.iter().position(|h| h == k);
    let need = ["Name", "DisplayName", "Enabled", "Direction", "Action"];
    for k in need {
        if idx(k).is_none() {
            return Err(LoadError::syntax(
                file,
                1,
                1,
                format!("the header has no `{k}` column"),
            ));
        }
    }
    let mut out = vec![];
    for (n, raw) in lines {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        let ln = n + 1;
        let f = fields(line).map_err(|c| LoadError::syntax(file, ln, c, "unbalanced quote"))?;
        let get = |k: &str| {
            idx(k)
                .and_then(|i| f.get(i))
                .map(String::as_str)
                .unwrap_or("")
        };
        let col_of = |k: &str| {
            let i = idx(k).unwrap_or(0);
            // Columns before field i, counted in characters including separators.
            f.iter()
                .take(i)
                .map(|x| x.chars().count() + 3)
                .sum::<usize>()
                + 1
        };
        let err = |k: &str, m: String| LoadError::syntax(file, ln, col_of(k), m);
        let mut r = WinRule::inbound(get("DisplayName"), RuleAction::Allow);
        r.name = get("Name").to_string();
        r.group = get("Group").to_string();
        r.store = Store::Unknown;
        r.enabled = match get("Enabled") {
            "True" | "1" => true,
            "False" | "2" => false,
            v => return Err(err("Enabled", format!("`{v}` is not True/False"))),
        };
        r.direction = match get("Direction") {
            "Inbound" | "1" => Direction::In,
            "Outbound" | "2" => Direction::Out,
            v => return Err(err("Direction", format!("`{v}` is not Inbound/Outbound"))),
        };
        r.action = match get("Action") {
            "Allow" | "2" => RuleAction::Allow,
            "Block" | "4" => RuleAction::Block,
            v => return Err(err("Action", format!("`{v}` is not Allow/Block"))),
        };
        if get("OverrideBlockRules") == "True" && r.action == RuleAction::Allow {
            r.action = RuleAction::Bypass;
        }
        r.profiles = match get("Profile") {
            "" => Profiles::ANY,
            v => values::profiles(v).map_err(|m| err("Profile", m))?,
        };
        r.protocol = values::protocol(get("Protocol")).map_err(|m| err("Protocol", m))?;
        r.local_ports =
            values::ports(values::items(get("LocalPort"))).map_err(|m| err("LocalPort", m))?;
        r.remote_ports =
            values::ports(values::items(get("RemotePort"))).map_err(|m| err("RemotePort", m))?;
        r.local_addresses = values::addresses(values::items(get("LocalAddress")))
            .map_err(|m| err("LocalAddress", m))?;
        r.remote_addresses = values::addresses(values::items(get("RemoteAddress")))
            .map_err(|m| err("RemoteAddress", m))?;
        let prog = get("Program");
        r.program = Recorded::Known((!values::is_any(prog)).then(|| prog.to_string()));
        let pkg = get("Package");
        r.package = Recorded::Known((!values::is_any(pkg)).then(|| pkg.to_string()));
        let svc = get("Service");
        r.service = Recorded::Known(
            (!svc.eq_ignore_ascii_case("any") && !svc.is_empty()).then(|| svc.to_string()),
        );
        let alias = get("InterfaceAlias");
        r.interfaces =
            (!values::is_any(alias)).then(|| values::items(alias).map(String::from).collect());
        r.interface_types = interface_types(get("InterfaceType"));
        r.edge = match get("EdgeTraversalPolicy") {
            "Allow" => super::model::EdgeTraversal::Allow,
            "DeferToUser" => super::model::EdgeTraversal::DeferToUser,
            "DeferToApp" => super::model::EdgeTraversal::DeferToApp,
            _ => super::model::EdgeTraversal::Block,
        };
        r.requires_security = ["Authentication", "Encryption"]
            .iter()
            .any(|k| !matches!(get(k), "" | "NotRequired"));
        out.push(r);
    }
    Ok(out)
}
