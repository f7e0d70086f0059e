//! Plain command appliers (pf): the planned commands and their undo commands, run in
//! order. Type-checked everywhere; they run on their own systems.

use super::{Applier, run_all, run_stdin};
use crate::FixError;
use portdoctor_firewall::collect::Runner;
use portdoctor_firewall::plan::OwnedStep;

/// Runs a step's commands as planned.
pub struct Commands(pub &'static str);

impl Applier for Commands {
    fn name(&self) -> &'static str {
        self.0
    }

    fn snapshot(&self, _runner: &dyn Runner) -> Result<String, FixError> {
        Ok(String::new())
    }

    fn apply(&self, step: &OwnedStep, _tag: &str, runner: &dyn Runner) -> Result<(), FixError> {
        match (&step.step.stdin, step.step.commands.split_first()) {
            (Some(text), Some((first, rest))) => {
                run_stdin(runner, &first.0, text)?;
                run_all(runner, rest)
            }
            _ => run_all(runner, &step.step.commands),
        }
    }

    fn present(&self, _: &OwnedStep, _: &str, _: &dyn Runner) -> Result<bool, FixError> {
        Ok(true)
    }

    fn undo(&self, step: &OwnedStep, _tag: &str, runner: &dyn Runner) -> Result<(), FixError> {
        run_all(runner, &step.step.undo)
    }
}
