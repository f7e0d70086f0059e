//! Windows Defender Firewall through COM `INetFwPolicy2`, not by running the printed
//! PowerShell: a step's edits become [`intent::Intent`]s (platform-free), the intents become
//! [`action::Action`]s on the live rules and profile settings before the change is
//! journaled, and the actions are applied all or nothing. Rules are added, disabled or
//! changed; of the profile settings, only "Block all incoming connections"
//! (`BlockAllInboundTraffic`) is changed, the others are left to the printed command.
//!
//! **Finding rules.** COM has no rule id and display names repeat, so a rule the plan names
//! is found by its name and group and by its filters in the state the plan was made on
//! ([`target`]); when that still leaves several, the step is refused (the printed command
//! names the rule by its unique name).
//!
//! **Undo after a restart.** `PlanStep::edits` is not serialised, and the old values of what
//! a step changes are only known from the live policy. So [`Applier::prepare`] (called by
//! `Fixer::prepare`, before anything is journaled) records each action with the rule as it
//! or setting was, as JSON, in the step's `undo` entries (`["windows-firewall-action",
//! JSON]`): the journal holds everything `present`, `undo` and the repair of an interrupted
//! change need. `apply` refuses when a rule or setting is no longer as recorded (compare and
//! set), `present` checks every action is in place and unchanged, and `undo` sets back
//! exactly the recorded values and removes exactly the added rules (named
//! `portdoctor:<id> …`, group `portdoctor`).
//!
//! **A crash inside a step.** A step of several actions is several COM calls; a crash
//! between them leaves some done. Each action is either done (at its new value) or not (at
//! its recorded old value), so `undo` reverts the ones in place and skips the ones not done,
//! and refuses, before changing anything, when a value is neither (changed by someone else).
//! The repair of interrupted changes calls it for the step the crash cut
//! ([`Applier::undo_interrupted`]).

pub mod action;
pub mod api;
#[cfg(windows)]
mod com;
#[cfg(test)]
mod fake;
pub mod intent;
pub mod target;
#[cfg(test)]
mod tests;

use super::Applier;
use crate::FixError;
use action::{Action, Live};
use api::{FirewallApi, RuleState};
use portdoctor_firewall::Engine;
use portdoctor_firewall::collect::Runner;
use portdoctor_firewall::plan::OwnedStep;

/// The Windows Defender Firewall applier over a [`FirewallApi`].
pub struct WindowsFirewall {
    api: Box<dyn FirewallApi>,
}

impl WindowsFirewall {
    /// The live policy: COM on Windows; elsewhere every call refuses with a clear error.
    pub fn live() -> WindowsFirewall {
        #[cfg(test)]
        if let Some(fake) = tests::POLICY.with_borrow(Clone::clone) {
            return WindowsFirewall::with_api(Box::new(fake));
        }
        #[cfg(windows)]
        let api: Box<dyn FirewallApi> = Box::new(com::Com);
        #[cfg(not(windows))]
        let api: Box<dyn FirewallApi> = Box::new(api::NotWindows);
        WindowsFirewall { api }
    }

    /// Over another implementation (tests).
    pub fn with_api(api: Box<dyn FirewallApi>) -> WindowsFirewall {
        WindowsFirewall { api }
    }

    /// The step's recorded actions and the live policy they look at.
    fn read(&self, step: &OwnedStep) -> Result<(Vec<Action>, Live), FixError> {
        let actions = action::decode(&step.step.undo)?;
        let live = Live::read(self.api.as_ref(), &actions)?;
        Ok((actions, live))
    }

    /// Applies `actions` in order; when one fails, reverts the ones done (newest first).
    fn all_or_nothing(
        &self,
        actions: &[Action],
        forward: fn(&Action, &dyn FirewallApi) -> Result<(), api::ApiError>,
        back: fn(&Action, &dyn FirewallApi) -> Result<(), api::ApiError>,
    ) -> Result<(), FixError> {
        for (i, a) in actions.iter().enumerate() {
            if let Err(e) = forward(a, self.api.as_ref()) {
                let mut msg = e.to_string();
                for done in actions[..i].iter().rev() {
                    if let Err(b) = back(done, self.api.as_ref()) {
                        msg.push_str(&format!(
                            "; and putting back ({}) failed too: {b}",
                            done.describe()
                        ));
                    }
                }
                return Err(match e {
                    api::ApiError::Call { call, .. } => FixError::Command {
                        command: call,
                        stderr: msg,
                    },
                    _ => FixError::Refused(msg),
                });
            }
        }
        Ok(())
    }
}

impl Applier for WindowsFirewall {
    fn name(&self) -> &'static str {
        "windows-firewall"
    }

    fn prepare(
        &self,
        step: &mut OwnedStep,
        tag: &str,
        planned_on: &dyn Engine,
        _: &dyn Runner,
    ) -> Result<(), FixError> {
        let intents = intent::intents(&step.step, tag, planned_on)?;
        let actions = action::resolve(&intents, self.api.as_ref())?;
        step.step.undo = action::encode(&actions)?;
        Ok(())
    }

    /// Every rule of the policy as COM reads it (one JSON object a line): the rules a step
    /// changes are recorded as they were in the step itself.
    fn snapshot(&self, _: &dyn Runner) -> Result<String, FixError> {
        let rules: Vec<RuleState> = self.api.rules()?;
        let lines: Result<Vec<String>, _> = rules.iter().map(serde_json::to_string).collect();
        lines
            .map(|l| l.join("\n"))
            .map_err(|e| FixError::Refused(format!("cannot save the rules: {e}")))
    }

    fn apply(&self, step: &OwnedStep, _: &str, _: &dyn Runner) -> Result<(), FixError> {
        let (actions, live) = self.read(step)?;
        if let Some(a) = action::not_ready(&actions, &live) {
            return Err(FixError::ChangedSince(format!(
                "the live rules changed since the step was prepared ({}); nothing was changed",
                a.describe()
            )));
        }
        self.all_or_nothing(&actions, Action::apply, Action::revert)
    }

    fn present(&self, step: &OwnedStep, _: &str, _: &dyn Runner) -> Result<bool, FixError> {
        let (actions, live) = self.read(step)?;
        Ok(action::to_revert(&actions, &live).is_ok_and(|back| back.len() == actions.len()))
    }

    /// Reverts the step's actions that are in place and skips those not done (an apply
    /// interrupted inside the step); refuses, changing nothing, when a rule or setting is
    /// neither as recorded before nor as the step left it.
    fn undo(&self, step: &OwnedStep, _: &str, _: &dyn Runner) -> Result<(), FixError> {
        let (actions, live) = self.read(step)?;
        let back = action::to_revert(&actions, &live).map_err(|a| {
            FixError::ChangedSince(format!(
                "a Windows Defender Firewall rule or setting of this change was changed by \
                 someone else since ({}); nothing was undone",
                a.describe()
            ))
        })?;
        self.all_or_nothing(&back, Action::revert, Action::apply)
    }

    fn undo_interrupted(
        &self,
        step: &OwnedStep,
        tag: &str,
        runner: &dyn Runner,
    ) -> Result<(), FixError> {
        self.undo(step, tag, runner)
    }
}
