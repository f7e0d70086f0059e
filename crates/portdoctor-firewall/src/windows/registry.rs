//! Rule strings as Windows stores them in the registry (`v2.10|Action=Block|Active=TRUE|
//! Dir=In|Protocol=6|Profile=Public|App=…|Name=…|`), read from `reg query`, `reg add` lines
//! or a `.reg` export. The same in every language; the key says the store: `…\Services\
//! SharedAccess\Parameters\FirewallPolicy\FirewallRules` is the local store, `SOFTWARE\
//! Policies\Microsoft\WindowsFirewall\FirewallRules` the (local) Group Policy store.

use super::error::LoadError;
use super::model::{Direction, EdgeTraversal, Profiles, Recorded, RuleAction, Store, WinRule};
use super::values;

/// Whether `text` holds registry rule strings.
pub fn recognise(text: &str) -> bool {
    text.lines().take(2000).any(|l| rule_start(l).is_some())
}

/// Byte offset of a `v2.NN|` rule string in the line.
fn rule_start(line: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = line[from..].find("v2.") {
        let at = from + i;
        let rest = &line[at + 3..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0 && rest[digits..].starts_with('|') {
            return Some(at);
        }
        from = at + 3;
    }
    None
}

/// The store of a registry key path.
fn store_of(key: &str) -> Store {
    let k = key.to_ascii_lowercase();
    if k.contains("\\policies\\microsoft\\windowsfirewall") {
        Store::GroupPolicy
    } else if k.contains("firewallpolicy\\firewallrules") {
        Store::Local
    } else {
        Store::Unknown
    }
}

/// Parses every rule string in `text`.
pub fn parse(file: &str, text: &str) -> Result<Vec<WinRule>, LoadError> {
    let mut out = vec![];
    let mut section_store = Store::Unknown;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        let t = line.trim();
        // `[HKEY_…]` (.reg) or a bare key line (`reg query`).
        if (t.starts_with('[') && t.ends_with(']')) || t.to_ascii_uppercase().starts_with("HKEY_") {
            section_store = store_of(t);
            continue;
        }
        let Some(at) = rule_start(line) else {
            continue;
        };
        let store = match line.find("reg add") {
            Some(_) => store_of(line),
            None => section_store.clone(),
        };
        let name = value_name(&line[..at]);
        let data = line[at..].trim_end_matches(['"', ' ', '\t']);
        let data = data.strip_suffix("\" /f").unwrap_or(data);
        let data = data.split("\" /f").next().unwrap_or(data);
        let r = rule(name, data, store).map_err(|(off, m)| {
            LoadError::syntax(file, n + 1, super::error::column_of(line, at + off), m)
        })?;
        out.push(r);
    }
    Ok(out)
}

/// The registry value name before the data: `/v "NAME"`, `"NAME"=`, or `    NAME    REG_SZ`.
fn value_name(before: &str) -> String {
    if let Some(i) = before.find("/v ") {
        let rest = before[i + 3..].trim_start();
        let rest = rest.strip_prefix('"').unwrap_or(rest);
        return rest.split('"').next().unwrap_or("").trim().to_string();
    }
    let t = before.trim();
    if let Some(rest) = t.strip_prefix('"') {
        return rest.split('"').next().unwrap_or("").to_string();
    }
    t.split("REG_SZ").next().unwrap_or("").trim().to_string()
}

/// One rule string. Err: (byte offset in `data`, message).
fn rule(name: String, data: &str, store: Store) -> Result<WinRule, (usize, String)> {
    let mut r = WinRule::inbound(&name, RuleAction::Allow);
    r.store = store;
    r.profiles = Profiles(0);
    let (mut lports, mut rports, mut la, mut ra) = (vec![], vec![], vec![], vec![]);
    let mut off = 0;
    for part in data.split('|') {
        let here = off;
        off += part.len() + 1;
        let Some((k, v)) = part.split_once('=') else {
            continue;
        };
        let bad = |m: String| (here, m);
        match k {
            "Action" => {
                r.action = match v {
                    "Allow" => RuleAction::Allow,
                    "Block" => RuleAction::Block,
                    "ByPass" | "Bypass" => RuleAction::Bypass,
                    _ => return Err(bad(format!("Action `{v}` is not Allow/Block/ByPass"))),
                }
            }
            "Active" => r.enabled = v.eq_ignore_ascii_case("TRUE"),
            "Dir" => {
                r.direction = match v {
                    "In" => Direction::In,
                    "Out" => Direction::Out,
                    _ => return Err(bad(format!("Dir `{v}` is not In/Out"))),
                }
            }
            "Protocol" => r.protocol = values::protocol(v).map_err(bad)?,
            "Profile" => r.profiles.0 |= values::profiles(v).map_err(bad)?.0,
            "LPort" | "LPort2_10" => lports.push(v),
            "RPort" | "RPort2_10" => rports.push(v),
            "LA4" | "LA6" => la.push(v),
            "RA4" | "RA6" => ra.push(v),
            "App" => r.program = Recorded::Known(Some(v.to_string())),
            "Svc" => r.service = Recorded::Known(Some(v.to_string())),
            "PFN" | "AppPkgId" => r.package = Recorded::Known(Some(v.to_string())),
            "Name" => r.display_name = v.to_string(),
            "EmbedCtxt" => r.group = v.to_string(),
            "IF" => r
                .interfaces
                .get_or_insert_with(Vec::new)
                .push(v.to_string()),
            "IFType" => r.interface_types = super::netsh::interface_types(v),
            "Edge" if v.eq_ignore_ascii_case("TRUE") => r.edge = EdgeTraversal::Allow,
            "Defer" => {
                r.edge = if v.eq_ignore_ascii_case("User") {
                    EdgeTraversal::DeferToUser
                } else {
                    EdgeTraversal::DeferToApp
                }
            }
            "Security" | "Security2" | "Security2_9" => r.requires_security = true,
            _ => {}
        }
    }
    if r.profiles.0 == 0 {
        r.profiles = Profiles::ANY;
    }
    let span = |v: &str| v.replace(['[', ']'], "");
    r.local_ports = values::ports(lports.iter().map(|s| s.trim())).map_err(|m| (0, m))?;
    r.remote_ports = values::ports(rports.iter().map(|s| s.trim())).map_err(|m| (0, m))?;
    let la: Vec<String> = la.iter().map(|s| span(s)).collect();
    let ra: Vec<String> = ra.iter().map(|s| span(s)).collect();
    r.local_addresses = values::addresses(la.iter().map(String::as_str)).map_err(|m| (0, m))?;
    r.remote_addresses = values::addresses(ra.iter().map(String::as_str)).map_err(|m| (0, m))?;
    if r.display_name.is_empty() {
        r.display_name = r.name.clone();
    }
    Ok(r)
}
