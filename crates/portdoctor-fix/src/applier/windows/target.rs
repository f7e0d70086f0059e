//! Finding the rule a plan names among the live rules. COM has no rule id, and display names
//! repeat (Windows ships three "Windows Remote Management (HTTP-In)" rules in one group), so
//! a rule is found by its name and group and by its filters as the planner saw them.

use super::api::{RuleState, is_any};
use super::intent::{profile_mask, protocol_number};
use crate::FixError;
use portdoctor_firewall::engine::Engine;
use portdoctor_firewall::model::RuleRef;
use portdoctor_firewall::windows::{Recorded, RuleAction, WinRule};

/// A rule the plan names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Display name (`INetFwRule::Name`).
    pub name: String,
    /// Group as the planner's reader saw it.
    pub group: String,
    /// The unique rule name (InstanceID) when the reader had it.
    pub id: Option<String>,
    /// Its filters in the state the plan was made on, when that state had the rule.
    pub seen: Option<Seen>,
}

/// A rule's filters as the planner saw them, in `INetFwRule` terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    allow: bool,
    enabled: bool,
    protocol: i32,
    profiles: i32,
    remote_any: bool,
    local_ports_any: bool,
    program: Option<String>,
    service: Option<String>,
}

impl Seen {
    fn of(w: &WinRule) -> Seen {
        let known = |r: &Recorded<Option<String>>| match r {
            Recorded::Known(v) => v.clone(),
            Recorded::Missing(_) => None,
        };
        Seen {
            allow: w.action != RuleAction::Block,
            enabled: w.enabled,
            protocol: protocol_number(w.protocol),
            profiles: profile_mask(w.profiles) & 7,
            remote_any: w.remote_addresses.is_none(),
            local_ports_any: w.local_ports.is_none(),
            program: known(&w.program),
            service: known(&w.service),
        }
    }

    /// The filters whose spelling does not vary between readers agree.
    fn matches(&self, r: &RuleState) -> bool {
        r.allow == self.allow
            && r.enabled == self.enabled
            && r.protocol == self.protocol
            && r.profiles & 7 == self.profiles
            && is_any(&r.remote_addresses) == self.remote_any
            && is_any(&r.local_ports) == self.local_ports_any
    }
}

impl Target {
    /// The rule `rule` names, with its filters from `engine` (the state it was planned on).
    pub fn of(rule: &RuleRef, engine: &dyn Engine) -> Target {
        let seen = engine
            .as_windows()
            .and_then(|fw| fw.rules.get(rule.position.checked_sub(1)?))
            .filter(|w| w.display_name == rule.text && Some(&w.name) == rule.comment.as_ref())
            .map(Seen::of);
        Target {
            name: rule.text.clone(),
            group: rule.chain.clone(),
            id: rule.comment.clone(),
            seen,
        }
    }

    /// The protocol a `TCP Query User{…}` / `UDP Query User{…}` rule is for.
    fn protocol_hint(&self) -> Option<i32> {
        let id = self.id.as_deref()?.trim_start();
        if id.starts_with("TCP Query User{") {
            Some(6)
        } else if id.starts_with("UDP Query User{") {
            Some(17)
        } else {
            None
        }
    }

    /// The one live inbound rule this names; `disabling`: an enabled block rule. Refuses
    /// when none is, or when several are and nothing tells them apart.
    pub fn find(&self, rules: &[RuleState], disabling: bool) -> Result<RuleState, FixError> {
        let mut found: Vec<&RuleState> = rules
            .iter()
            .filter(|r| r.name == self.name && r.inbound)
            .filter(|r| self.seen.as_ref().is_none_or(|s| s.matches(r)))
            .filter(|r| self.protocol_hint().is_none_or(|p| r.protocol == p))
            .filter(|r| !disabling || (r.enabled && !r.allow))
            .collect();
        // Spellings that may differ between readers only narrow when they can.
        narrow(&mut found, |r| r.grouping == self.group);
        if let Some(s) = &self.seen {
            let same =
                |a: &str, b: &Option<String>| a.eq_ignore_ascii_case(b.as_deref().unwrap_or(""));
            narrow(&mut found, |r| same(&r.application, &s.program));
            narrow(&mut found, |r| same(&r.service, &s.service));
        }
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(FixError::Refused(format!(
                "no inbound rule `{}` as planned in the live policy (changed since?)",
                self.name
            ))),
            many => Err(FixError::Refused(format!(
                "{} inbound rules are named `{}` and nothing tells them apart; portdoctor \
                 changes one identified rule only: use the printed command, which names it by \
                 its unique name",
                many.len(),
                self.name
            ))),
        }
    }
}

/// Keeps the rules that pass `keep`, when there are any.
fn narrow(found: &mut Vec<&RuleState>, keep: impl Fn(&RuleState) -> bool) {
    if found.iter().any(|r| keep(r)) {
        found.retain(|r| keep(r));
    }
}
