//! What-if edits of the Windows state. `Remove` disables the rule (positions stay stable, as
//! `Disable-NetFirewallRule` would leave them); `InsertText` takes the arguments of
//! `netsh advfirewall firewall add rule` (plus `group=`, as `New-NetFirewallRule -Group`);
//! `ModifyText` takes the `new` arguments of `netsh advfirewall firewall set rule`, or, on a
//! profile policy, `allowinboundrules=`, `defaultinbound=`, `state=`.

use super::WindowsFirewall;
use super::eval::rule_ref;
use super::model::{
    Direction, EdgeTraversal, Profile, Recorded, RuleAction, Setting, Store, WinRule,
};
use super::values;
use crate::engine::{Edit, EditError, EngineKind};
use crate::model::RuleRef;

/// Applies `edits` in order.
pub(crate) fn apply_edits(fw: &mut WindowsFirewall, edits: &[Edit]) -> Result<(), EditError> {
    for e in edits {
        match e {
            Edit::Remove { rule } => {
                let i = find(fw, rule)?;
                fw.rules[i].enabled = false;
            }
            Edit::InsertText {
                engine: EngineKind::Windows,
                scope,
                before,
                text,
            } => {
                let mut r = WinRule::inbound("", RuleAction::Allow);
                r.store = store(scope);
                for (k, v) in args(text)? {
                    set(&mut r, &k, &v, true)?;
                }
                let at = before.map_or(fw.rules.len(), |b| b.saturating_sub(1).min(fw.rules.len()));
                fw.rules.insert(at, r);
            }
            Edit::ModifyText { rule, text } if rule.is_policy => modify_profile(fw, rule, text)?,
            Edit::ModifyText { rule, text } => {
                let i = find(fw, rule)?;
                for (k, v) in args(text)? {
                    set(&mut fw.rules[i], &k, &v, false)?;
                }
            }
            other => {
                return Err(EditError::Unsupported(format!(
                    "the Windows engine does not take {other:?}"
                )));
            }
        }
    }
    Ok(())
}

fn store(scope: &str) -> Store {
    match scope.to_ascii_lowercase().as_str() {
        "grouppolicy" | "gpo" => Store::GroupPolicy,
        _ => Store::Local,
    }
}

/// Index of the rule: its position, checked against display name and unique name.
fn find(fw: &WindowsFirewall, rule: &RuleRef) -> Result<usize, EditError> {
    let i = rule.position.checked_sub(1);
    match i.and_then(|i| fw.rules.get(i).map(|r| (i, r))) {
        Some((i, r))
            if rule_ref(i, r).text == rule.text && rule_ref(i, r).comment == rule.comment =>
        {
            Ok(i)
        }
        _ => Err(EditError::NoRule {
            chain: rule.chain.clone(),
            position: rule.position,
            text: rule.text.clone(),
        }),
    }
}

/// Splits `key=value key="value with blanks"` arguments (keys lower-cased).
pub fn args(text: &str) -> Result<Vec<(String, String)>, EditError> {
    let mut out = vec![];
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else {
            return Err(EditError::Unsupported(format!("`{rest}` is not key=value")));
        };
        let key = rest[..eq].trim().to_ascii_lowercase();
        let after = &rest[eq + 1..];
        let (val, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q
                .find('"')
                .ok_or_else(|| EditError::Unsupported(format!("unclosed quote after {key}=")))?;
            (q[..end].to_string(), &q[end + 1..])
        } else {
            let end = after.find(char::is_whitespace).unwrap_or(after.len());
            (after[..end].to_string(), &after[end..])
        };
        out.push((key, val));
        rest = next.trim_start();
    }
    Ok(out)
}

fn bad(k: &str, v: &str) -> EditError {
    EditError::Unsupported(format!("netsh argument {k}={v} is not understood"))
}

/// Sets one netsh argument on a rule (`adding`: the `add rule` form, else `set rule … new`).
fn set(r: &mut WinRule, k: &str, v: &str, adding: bool) -> Result<(), EditError> {
    let e = |_| bad(k, v);
    match k {
        "name" if adding => {
            r.name = v.to_string();
            r.display_name = v.to_string();
        }
        "name" => r.display_name = v.to_string(),
        "group" => r.group = v.to_string(),
        "dir" => {
            r.direction = match v.to_ascii_lowercase().as_str() {
                "in" => Direction::In,
                "out" => Direction::Out,
                _ => return Err(bad(k, v)),
            }
        }
        "action" => {
            r.action = match v.to_ascii_lowercase().as_str() {
                "allow" => RuleAction::Allow,
                "block" => RuleAction::Block,
                "bypass" => RuleAction::Bypass,
                _ => return Err(bad(k, v)),
            }
        }
        "enable" => r.enabled = v.eq_ignore_ascii_case("yes"),
        "profile" => r.profiles = values::profiles(v).map_err(e)?,
        "protocol" => r.protocol = values::protocol(v).map_err(e)?,
        "localport" => r.local_ports = values::ports(values::items(v)).map_err(e)?,
        "remoteport" => r.remote_ports = values::ports(values::items(v)).map_err(e)?,
        "localip" => r.local_addresses = values::addresses(values::items(v)).map_err(e)?,
        "remoteip" => r.remote_addresses = values::addresses(values::items(v)).map_err(e)?,
        "program" => r.program = Recorded::Known((!values::is_any(v)).then(|| v.to_string())),
        "service" => {
            r.service = Recorded::Known((!v.eq_ignore_ascii_case("any")).then(|| v.to_string()))
        }
        "edge" => {
            r.edge = match v.to_ascii_lowercase().as_str() {
                "yes" => EdgeTraversal::Allow,
                "deferapp" => EdgeTraversal::DeferToApp,
                "deferuser" => EdgeTraversal::DeferToUser,
                _ => EdgeTraversal::Block,
            }
        }
        "interfacetype" => r.interface_types = super::netsh::interface_types(v),
        "description" | "security" | "rmtcomputergrp" | "rmtusrgrp" => {}
        _ => return Err(bad(k, v)),
    }
    Ok(())
}

/// Profile-level settings (`allowinboundrules=`, `defaultinbound=`, `state=`).
fn modify_profile(fw: &mut WindowsFirewall, rule: &RuleRef, text: &str) -> Result<(), EditError> {
    let p = Profile::ALL
        .into_iter()
        .find(|p| p.name() == rule.chain)
        .ok_or_else(|| EditError::Unsupported(format!("no profile {}", rule.chain)))?;
    let mut s = fw.settings(p);
    for (k, v) in args(text)? {
        let on = matches!(v.to_ascii_lowercase().as_str(), "true" | "on" | "yes");
        match k.as_str() {
            "allowinboundrules" => {
                s.allow_inbound_rules = if on { Setting::On } else { Setting::Off }
            }
            "state" => s.enabled = if on { Setting::On } else { Setting::Off },
            "defaultinbound" => s.default_inbound_block = Some(!v.eq_ignore_ascii_case("allow")),
            _ => return Err(bad(&k, &v)),
        }
    }
    fw.profiles.retain(|x| x.profile != p);
    fw.profiles.push(s);
    Ok(())
}
