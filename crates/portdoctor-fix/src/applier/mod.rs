//! Appliers: one per kind of firewall, behind one trait. Each saves the state it will change,
//! applies a planned step in one transaction where the backend has one, tells whether the
//! step's rules are still in place, and undoes exactly them.

mod firewalld;
mod iptables;
mod nft;
mod pf;
mod ufw;
pub mod windows;

use crate::FixError;
use portdoctor_firewall::Backend;
use portdoctor_firewall::Engine;
use portdoctor_firewall::collect::{RunOutput, Runner};
use portdoctor_firewall::manager::{Argv, ManagerKind};
use portdoctor_firewall::plan::{OwnedStep, Owner};

/// Applies and undoes steps for one kind of firewall.
pub trait Applier {
    /// A name for messages and saved files (`nftables`, `ufw`).
    fn name(&self) -> &'static str;
    /// Completes a planned step with what applying and undoing it need from the live
    /// firewall. Called by `Fixer::prepare` with the state the step was planned on; the step
    /// is journaled as completed. Most appliers need nothing (their steps carry their
    /// commands); Windows records each action with the rule as it was (see `windows/`).
    fn prepare(
        &self,
        step: &mut OwnedStep,
        tag: &str,
        planned_on: &dyn Engine,
        runner: &dyn Runner,
    ) -> Result<(), FixError> {
        let _ = (step, tag, planned_on, runner);
        Ok(())
    }
    /// Text of the state a step changes (saved in the journal before applying).
    fn snapshot(&self, runner: &dyn Runner) -> Result<String, FixError>;
    /// Applies one step (atomically where the backend allows).
    fn apply(&self, step: &OwnedStep, tag: &str, runner: &dyn Runner) -> Result<(), FixError>;
    /// Whether the step's rules are in place, unchanged.
    fn present(&self, step: &OwnedStep, tag: &str, runner: &dyn Runner) -> Result<bool, FixError>;
    /// Removes exactly the step's rules.
    fn undo(&self, step: &OwnedStep, tag: &str, runner: &dyn Runner) -> Result<(), FixError>;
    /// Undoes what an apply interrupted inside this step (a crash) left of it, when
    /// [`Applier::present`] says it is not complete. Default: nothing, for appliers whose
    /// step is not split into separately applied parts; Windows reverts the actions that
    /// were done.
    fn undo_interrupted(
        &self,
        step: &OwnedStep,
        tag: &str,
        runner: &dyn Runner,
    ) -> Result<(), FixError> {
        let _ = (step, tag, runner);
        Ok(())
    }
    /// Whether undo finds the change's rules by its tag (one call removes every step's).
    fn by_tag(&self) -> bool {
        false
    }
}

/// The applier for a step's owner.
pub fn for_owner(owner: &Owner) -> Box<dyn Applier> {
    match (owner.manager, owner.backend) {
        (Some(ManagerKind::Ufw), _) => Box::new(ufw::Ufw),
        (Some(ManagerKind::Firewalld), _) => Box::new(firewalld::Firewalld),
        (None, Backend::Nftables) => Box::new(nft::Nft),
        (None, Backend::IptablesLegacy) => Box::new(iptables::Iptables { legacy: true }),
        (None, Backend::IptablesNft) => Box::new(iptables::Iptables { legacy: false }),
        (None, Backend::WindowsFirewall) => Box::new(windows::WindowsFirewall::live()),
        (None, Backend::Pf) => Box::new(pf::Pf),
    }
}

/// Runs an argument vector; an error with its stderr when it fails.
pub(crate) fn run(runner: &dyn Runner, argv: &[String]) -> Result<RunOutput, FixError> {
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| FixError::Refused("empty command".into()))?;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = runner
        .run(prog, &args)
        .map_err(|e| FixError::command(argv, &e.to_string()))?;
    if out.code != Some(0) {
        return Err(FixError::command(argv, &out.stderr));
    }
    Ok(out)
}

/// Runs a program fed `stdin`; an error with its stderr when it fails.
pub(crate) fn run_stdin(
    runner: &dyn Runner,
    argv: &[String],
    stdin: &str,
) -> Result<RunOutput, FixError> {
    let (prog, args) = argv
        .split_first()
        .ok_or_else(|| FixError::Refused("empty command".into()))?;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = runner
        .run_stdin(prog, &args, stdin)
        .map_err(|e| FixError::command(argv, &e.to_string()))?;
    if out.code != Some(0) {
        return Err(FixError::command(argv, &out.stderr));
    }
    Ok(out)
}

/// Runs every command in order.
pub(crate) fn run_all(runner: &dyn Runner, commands: &[Argv]) -> Result<(), FixError> {
    for c in commands {
        run(runner, &c.0)?;
    }
    Ok(())
}
