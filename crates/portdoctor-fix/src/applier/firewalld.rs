//! firewalld: the planned `firewall-cmd` commands (runtime, then `--permanent`), and their
//! inverse for undo.

use super::{Applier, run, run_all};
use crate::FixError;
use portdoctor_firewall::collect::Runner;
use portdoctor_firewall::plan::OwnedStep;

/// The firewalld applier.
pub struct Firewalld;

impl Applier for Firewalld {
    fn name(&self) -> &'static str {
        "firewalld"
    }

    fn snapshot(&self, runner: &dyn Runner) -> Result<String, FixError> {
        let runtime = run(runner, &["firewall-cmd".into(), "--list-all-zones".into()])?.stdout;
        let permanent = run(
            runner,
            &[
                "firewall-cmd".into(),
                "--permanent".into(),
                "--list-all-zones".into(),
            ],
        )?
        .stdout;
        Ok(format!("# runtime\n{runtime}\n# permanent\n{permanent}"))
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
