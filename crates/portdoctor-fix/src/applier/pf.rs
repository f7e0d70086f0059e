//! pf (macOS, the BSDs), with no shell: an anchor's rules are replaced in one
//! `pfctl -a ANCHOR -f -` (pf swaps an anchor's ruleset in one transaction), fed the rules the
//! plan read plus the pass rule labelled with the change's tag. `present` and `undo` find the
//! change's rules by that label in `pfctl -a ANCHOR -sr`; undo loads the anchor without them.
//! A step that reloads pf.conf is refused unless pf.conf references the anchor (checked with
//! `pfctl -nvf`, which parses without loading). Application Firewall commands run as planned,
//! with their planned undo.

use super::{Applier, run, run_all, run_stdin};
use crate::FixError;
use portdoctor_firewall::collect::Runner;
use portdoctor_firewall::manager::Argv;
use portdoctor_firewall::pf::step::PF_CONF;
use portdoctor_firewall::plan::OwnedStep;

/// The pf applier.
pub struct Pf;

/// The anchor a command loads from stdin (`pfctl -a ANCHOR -f -`).
fn loaded_anchor(c: &Argv) -> Option<&str> {
    match c.0.as_slice() {
        [p, a, anchor, f, dash] if p == "pfctl" && a == "-a" && f == "-f" && dash == "-" => {
            Some(anchor)
        }
        _ => None,
    }
}

fn anchors(step: &OwnedStep) -> impl Iterator<Item = &str> {
    step.step.commands.iter().filter_map(loaded_anchor)
}

fn reloads_pf_conf(step: &OwnedStep) -> bool {
    step.step
        .commands
        .iter()
        .any(|c| c.0 == ["pfctl", "-f", PF_CONF])
}

fn pfctl(runner: &dyn Runner, args: &[&str]) -> Result<String, FixError> {
    let argv: Vec<String> = std::iter::once("pfctl")
        .chain(args.iter().copied())
        .map(String::from)
        .collect();
    Ok(run(runner, &argv)?.stdout)
}

/// The anchor's rules as pf lists them.
fn listed(runner: &dyn Runner, anchor: &str) -> Result<Vec<String>, FixError> {
    let out = pfctl(runner, &["-a", anchor, "-sr"])?;
    Ok(out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(String::from)
        .collect())
}

fn labelled(line: &str, tag: &str) -> bool {
    line.contains(&format!("label \"{tag}\""))
}

/// Refuses a pf.conf reload when pf.conf does not reference every anchor the step loads:
/// loading the anchor would have no effect.
fn check_reference(step: &OwnedStep, runner: &dyn Runner) -> Result<(), FixError> {
    let parsed = pfctl(runner, &["-nvf", PF_CONF])?;
    for a in anchors(step) {
        if !parsed.contains(&format!("anchor \"{a}\"")) {
            return Err(FixError::Refused(format!(
                "{PF_CONF} does not reference anchor \"{a}\", so its rules would never be \
                 evaluated: add the line `anchor \"{a}\"` before the first filter rule (after \
                 the set, scrub, nat and rdr lines), check it with `pfctl -nf {PF_CONF}`, and \
                 run this again"
            )));
        }
    }
    Ok(())
}

impl Applier for Pf {
    fn name(&self) -> &'static str {
        "pf"
    }

    fn snapshot(&self, runner: &dyn Runner) -> Result<String, FixError> {
        pfctl(runner, &["-a", "*", "-sr"])
    }

    fn apply(&self, step: &OwnedStep, tag: &str, runner: &dyn Runner) -> Result<(), FixError> {
        if reloads_pf_conf(step) {
            check_reference(step, runner)?;
        }
        for c in &step.step.commands {
            let done = match (loaded_anchor(c), &step.step.stdin) {
                (Some(_), Some(text)) => run_stdin(runner, &c.0, text).map(drop),
                _ => run(runner, &c.0).map(drop),
            };
            if let Err(e) = done {
                if let Err(u) = self.undo(step, tag, runner) {
                    tracing::warn!("rolling back the pf step: {u}");
                }
                return Err(e);
            }
        }
        Ok(())
    }

    fn present(&self, step: &OwnedStep, tag: &str, runner: &dyn Runner) -> Result<bool, FixError> {
        for a in anchors(step) {
            if !listed(runner, a)?.iter().any(|l| labelled(l, tag)) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn undo(&self, step: &OwnedStep, tag: &str, runner: &dyn Runner) -> Result<(), FixError> {
        for a in anchors(step) {
            let kept: Vec<String> = listed(runner, a)?
                .into_iter()
                .filter(|l| !labelled(l, tag))
                .collect();
            let load = Argv::new(["pfctl", "-a", a, "-f", "-"]);
            let text = if kept.is_empty() {
                String::new()
            } else {
                kept.join("\n") + "\n"
            };
            run_stdin(runner, &load.0, &text)?;
        }
        run_all(runner, &step.step.undo)
    }
}

#[cfg(test)]
mod tests;
