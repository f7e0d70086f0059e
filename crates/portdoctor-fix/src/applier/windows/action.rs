//! The actions a Windows step performs on the live policy, each with what undo needs: the
//! rule as it was before. They are found once, before the change is journaled
//! ([`resolve`]), and stored in the step's `undo` entries ([`encode`]), so `apply`, `present`
//! and `undo` (also after a restart, from the journal) work from the same record.

use super::api::{ApiError, Field, FirewallApi, RuleState};
use super::intent::Intent;
use crate::FixError;
use portdoctor_firewall::manager::Argv;
use serde::{Deserialize, Serialize};

/// First word of an `undo` entry that holds an action (as JSON, the second word): these
/// entries are records for the Windows applier, not commands.
pub const WORD: &str = "windows-firewall-action";

/// One change to the live policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum Action {
    /// Add `rule` (undo: remove it).
    AddRule {
        /// The rule, named `portdoctor:<id> …`, group `portdoctor`.
        rule: RuleState,
    },
    /// Set one property of the rule `was` (undo: set it back to `was`'s value). Disabling a
    /// block rule is `to: Enabled(false)`.
    Set {
        /// The rule as it was.
        was: RuleState,
        /// The new value.
        to: Field,
    },
}

impl Action {
    /// The rule as it is once the action is done.
    pub fn after(&self) -> RuleState {
        match self {
            Action::AddRule { rule } => rule.clone(),
            Action::Set { was, to } => to.set_in(was),
        }
    }

    /// `add the rule `…`` / `set Enabled(false) on the rule `…` (was Enabled(true))`.
    pub fn describe(&self) -> String {
        match self {
            Action::AddRule { rule } => format!("add the rule `{}`", rule.name),
            Action::Set { was, to } => {
                format!(
                    "set {to:?} on the rule `{}` (was {:?})",
                    was.name,
                    to.of(was)
                )
            }
        }
    }

    /// Whether `rules` are as this action expects before it is done.
    pub fn ready(&self, rules: &[RuleState]) -> bool {
        match self {
            Action::AddRule { rule } => !rules.iter().any(|r| r.name == rule.name),
            Action::Set { was, .. } => only_one(rules, was),
        }
    }

    /// Whether `rules` show the action done, unchanged since.
    pub fn in_place(&self, rules: &[RuleState]) -> bool {
        let after = self.after();
        match self {
            Action::AddRule { rule } => {
                rules.iter().filter(|r| r.name == rule.name).count() == 1 && only_one(rules, &after)
            }
            Action::Set { .. } => only_one(rules, &after),
        }
    }

    /// Does it.
    pub fn apply(&self, api: &dyn FirewallApi) -> Result<(), ApiError> {
        match self {
            Action::AddRule { rule } => api.add(rule),
            Action::Set { was, to } => api.set(was, to),
        }
    }

    /// Reverts it (the rule must be as [`Action::after`] says).
    pub fn revert(&self, api: &dyn FirewallApi) -> Result<(), ApiError> {
        match self {
            Action::AddRule { rule } => api.remove(rule),
            Action::Set { was, to } => api.set(&self.after(), &to.of(was)),
        }
    }
}

fn only_one(rules: &[RuleState], want: &RuleState) -> bool {
    rules.iter().filter(|r| r.same(want)).count() == 1
}

/// The actions for `intents` on the live rules: each rule to change found exactly once and
/// recorded as it is; a rule to add must not exist yet.
pub fn resolve(intents: &[Intent], api: &dyn FirewallApi) -> Result<Vec<Action>, FixError> {
    let mut rules = api.rules()?;
    let mut out = vec![];
    for i in intents {
        let action = match i {
            Intent::AddRule(rule) => {
                if rules.iter().any(|r| r.name == rule.name) {
                    return Err(FixError::Refused(format!(
                        "a rule named `{}` is already there",
                        rule.name
                    )));
                }
                Action::AddRule { rule: rule.clone() }
            }
            Intent::Set { target, to } => Action::Set {
                was: target.find(&rules, *to == Field::Enabled(false))?,
                to: to.clone(),
            },
        };
        // Later intents see the rules as this one leaves them.
        if let Action::Set { was, .. } = &action {
            rules.retain(|r| r != was);
        }
        rules.push(action.after());
        out.push(action);
    }
    Ok(out)
}

/// The actions as `undo` entries: `[WORD, JSON]` each.
pub fn encode(actions: &[Action]) -> Result<Vec<Argv>, FixError> {
    actions
        .iter()
        .map(|a| {
            serde_json::to_string(a)
                .map(|json| Argv::new([WORD.to_string(), json]))
                .map_err(|e| FixError::Refused(format!("cannot record {a:?}: {e}")))
        })
        .collect()
}

/// The actions recorded in a step's `undo` entries; refuses a step that has none (it was
/// not prepared by this applier).
pub fn decode(undo: &[Argv]) -> Result<Vec<Action>, FixError> {
    let out = undo
        .iter()
        .map(|a| match a.0.as_slice() {
            [w, json] if w == WORD => serde_json::from_str(json)
                .map_err(|e| FixError::Refused(format!("a recorded action does not read: {e}"))),
            _ => Err(FixError::Refused(format!(
                "`{}` is not a recorded Windows Defender Firewall action",
                a.0.join(" ")
            ))),
        })
        .collect::<Result<Vec<Action>, FixError>>()?;
    if out.is_empty() {
        return Err(FixError::Refused(
            "the step records no Windows Defender Firewall actions".into(),
        ));
    }
    Ok(out)
}
