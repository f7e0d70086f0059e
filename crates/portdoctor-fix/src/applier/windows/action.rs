//! The actions a Windows step performs on the live policy, each with what undo needs: the
//! rule or setting as it was before. They are found once, before the change is journaled
//! ([`resolve`]), and stored in the step's `undo` entries ([`encode`]), so `apply`, `present`
//! and `undo` (also after a restart, from the journal) work from the same record.
//!
//! Each action is one COM call, so after a crash every action is either done or not:
//! [`not_ready`] and [`to_revert`] walk the actions over a copy of the policy ([`Live`]),
//! each seeing it as the earlier ones leave it.

use super::api::{ApiError, Field, FirewallApi, ProfileSetting, RuleState};
use super::intent::Intent;
use crate::FixError;
use portdoctor_firewall::manager::Argv;
use portdoctor_firewall::windows::Profile;
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
    /// Change a setting of one profile (undo: set it back to `was`). Letting allow rules
    /// count again is `to: BlockAllInbound(false)`.
    SetProfile {
        /// The profile.
        profile: Profile,
        /// The setting as it was.
        was: ProfileSetting,
        /// The new value.
        to: ProfileSetting,
    },
}

/// What actions look at in the policy: its rules, and the profile settings they change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Live {
    /// Every rule.
    pub rules: Vec<RuleState>,
    /// The values of the settings read, by profile.
    pub settings: Vec<(Profile, ProfileSetting)>,
}

impl Live {
    /// The policy as `actions` need it: the rules (read first: under Wine they do not
    /// answer, and nothing else is asked), then each setting an action changes.
    pub fn read(api: &dyn FirewallApi, actions: &[Action]) -> Result<Live, ApiError> {
        let mut live = Live {
            rules: api.rules()?,
            settings: vec![],
        };
        for a in actions {
            if let Action::SetProfile { profile, was, .. } = a {
                live.read_setting(api, *profile, *was)?;
            }
        }
        Ok(live)
    }

    /// The value `profile` has for `like`'s setting, read through `api` the first time.
    fn read_setting(
        &mut self,
        api: &dyn FirewallApi,
        profile: Profile,
        like: ProfileSetting,
    ) -> Result<ProfileSetting, ApiError> {
        if let Some(v) = self.setting(profile, like) {
            return Ok(v);
        }
        let v = api.profile_setting(profile, like)?;
        self.settings.push((profile, v));
        Ok(v)
    }

    /// The value `profile` has for `like`'s setting, when it was read.
    fn setting(&self, profile: Profile, like: ProfileSetting) -> Option<ProfileSetting> {
        self.settings
            .iter()
            .find(|(p, v)| *p == profile && v.same_setting(like))
            .map(|(_, v)| *v)
    }

    /// Gives `profile` the setting's value `v`.
    fn put_setting(&mut self, profile: Profile, v: ProfileSetting) {
        self.settings
            .retain(|(p, old)| !(*p == profile && old.same_setting(v)));
        self.settings.push((profile, v));
    }

    /// Replaces the rule that is `old` with `new`; adds `new` when there is none.
    fn replace_rule(&mut self, old: &RuleState, new: RuleState) {
        if let Some(i) = self.rules.iter().position(|r| r.same(old)) {
            self.rules.remove(i);
        }
        self.rules.push(new);
    }
}

impl Action {
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
            Action::SetProfile { profile, was, to } => {
                format!("set {to:?} on the {} profile (was {was:?})", profile.name())
            }
        }
    }

    /// Whether `live` is as this action expects before it is done.
    pub fn ready(&self, live: &Live) -> bool {
        match self {
            Action::AddRule { rule } => !live.rules.iter().any(|r| r.name == rule.name),
            Action::Set { was, .. } => only_one(&live.rules, was),
            Action::SetProfile { profile, was, .. } => live.setting(*profile, *was) == Some(*was),
        }
    }

    /// Whether `live` shows the action done, unchanged since.
    pub fn in_place(&self, live: &Live) -> bool {
        match self {
            Action::AddRule { rule } => {
                live.rules.iter().filter(|r| r.name == rule.name).count() == 1
                    && only_one(&live.rules, rule)
            }
            Action::Set { was, to } => only_one(&live.rules, &to.set_in(was)),
            Action::SetProfile { profile, to, .. } => live.setting(*profile, *to) == Some(*to),
        }
    }

    /// `live` as the action leaves it.
    fn done_in(&self, live: &mut Live) {
        match self {
            Action::AddRule { rule } => live.rules.push(rule.clone()),
            Action::Set { was, to } => live.replace_rule(was, to.set_in(was)),
            Action::SetProfile { profile, to, .. } => live.put_setting(*profile, *to),
        }
    }

    /// `live` as reverting the action leaves it.
    fn undone_in(&self, live: &mut Live) {
        match self {
            Action::AddRule { rule } => live.rules.retain(|r| r.name != rule.name),
            Action::Set { was, to } => live.replace_rule(&to.set_in(was), was.clone()),
            Action::SetProfile { profile, was, .. } => live.put_setting(*profile, *was),
        }
    }

    /// Does it.
    pub fn apply(&self, api: &dyn FirewallApi) -> Result<(), ApiError> {
        match self {
            Action::AddRule { rule } => api.add(rule),
            Action::Set { was, to } => api.set(was, to),
            Action::SetProfile { profile, was, to } => swap(api, *profile, *was, *to),
        }
    }

    /// Reverts it (the policy must be as the action left it).
    pub fn revert(&self, api: &dyn FirewallApi) -> Result<(), ApiError> {
        match self {
            Action::AddRule { rule } => api.remove(rule),
            Action::Set { was, to } => api.set(&to.set_in(was), &to.of(was)),
            Action::SetProfile { profile, was, to } => swap(api, *profile, *to, *was),
        }
    }
}

/// Compare and set on a profile setting: `to` when it is `from`, else refused unchanged.
fn swap(
    api: &dyn FirewallApi,
    profile: Profile,
    from: ProfileSetting,
    to: ProfileSetting,
) -> Result<(), ApiError> {
    let now = api.profile_setting(profile, from)?;
    if now != from {
        return Err(ApiError::NotFound(format!(
            "the {} profile has {now:?}, not {from:?}; nothing was changed",
            profile.name()
        )));
    }
    api.put_profile_setting(profile, to)
}

fn only_one(rules: &[RuleState], want: &RuleState) -> bool {
    rules.iter().filter(|r| r.same(want)).count() == 1
}

/// The first action `live` is not ready for, walking forward as `apply` does.
pub fn not_ready<'a>(actions: &'a [Action], live: &Live) -> Option<&'a Action> {
    let mut live = live.clone();
    for a in actions {
        if !a.ready(&live) {
            return Some(a);
        }
        a.done_in(&mut live);
    }
    None
}

/// What undoing the actions reverts in `live`, newest first: walking back, an action in
/// place is reverted and one not done (an apply interrupted before it) is skipped. An action
/// in neither state (changed by someone else since) is the error.
pub fn to_revert<'a>(actions: &'a [Action], live: &Live) -> Result<Vec<Action>, &'a Action> {
    let mut live = live.clone();
    let mut out = vec![];
    for a in actions.iter().rev() {
        if a.in_place(&live) {
            a.undone_in(&mut live);
            out.push(a.clone());
        } else if !a.ready(&live) {
            return Err(a);
        }
    }
    Ok(out)
}

/// The actions for `intents` on the live policy: each rule to change found exactly once and
/// recorded as it is, each setting recorded with its value; a rule to add must not exist yet.
pub fn resolve(intents: &[Intent], api: &dyn FirewallApi) -> Result<Vec<Action>, FixError> {
    let mut live = Live {
        rules: api.rules()?,
        settings: vec![],
    };
    let mut out = vec![];
    for i in intents {
        let action = match i {
            Intent::AddRule(rule) => {
                if live.rules.iter().any(|r| r.name == rule.name) {
                    return Err(FixError::Refused(format!(
                        "a rule named `{}` is already there",
                        rule.name
                    )));
                }
                Action::AddRule { rule: rule.clone() }
            }
            Intent::Set { target, to } => Action::Set {
                was: target.find(&live.rules, *to == Field::Enabled(false))?,
                to: to.clone(),
            },
            Intent::SetProfile { profile, to } => Action::SetProfile {
                profile: *profile,
                was: changed_setting(&mut live, api, *profile, *to)?,
                to: *to,
            },
        };
        // Later intents see the policy as this one leaves it.
        action.done_in(&mut live);
        out.push(action);
    }
    Ok(out)
}

/// The value `profile`'s setting has now, which `to` must change.
fn changed_setting(
    live: &mut Live,
    api: &dyn FirewallApi,
    profile: Profile,
    to: ProfileSetting,
) -> Result<ProfileSetting, FixError> {
    let was = live.read_setting(api, profile, to)?;
    if was == to {
        return Err(FixError::Refused(format!(
            "the {} profile already has {to:?}: the live policy is not the one planned on \
             (changed since?)",
            profile.name()
        )));
    }
    Ok(was)
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
