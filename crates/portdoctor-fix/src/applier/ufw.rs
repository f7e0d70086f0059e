//! ufw: the planned `ufw` commands, and their inverse for undo. ufw has no transaction: a
//! step that fails half-way is undone by the caller (every command of a step is one rule).

use super::{Applier, run, run_all};
use crate::FixError;
use portdoctor_firewall::collect::Runner;
use portdoctor_firewall::plan::OwnedStep;

/// The ufw applier.
pub struct Ufw;

impl Applier for Ufw {
    fn name(&self) -> &'static str {
        "ufw"
    }

    fn snapshot(&self, runner: &dyn Runner) -> Result<String, FixError> {
        Ok(run(runner, &["ufw".into(), "status".into(), "numbered".into()])?.stdout)
    }

    fn apply(&self, step: &OwnedStep, _tag: &str, runner: &dyn Runner) -> Result<(), FixError> {
        run_all(runner, &step.step.commands)
    }

    fn present(&self, _: &OwnedStep, _: &str, _: &dyn Runner) -> Result<bool, FixError> {
        Ok(true)
    }

    fn undo(&self, step: &OwnedStep, _tag: &str, runner: &dyn Runner) -> Result<(), FixError> {
        run_all(runner, &step.step.undo)
    }
}
