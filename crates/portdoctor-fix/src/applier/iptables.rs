//! iptables (legacy or nft-backed): the step's `-I`/`-A` commands become one
//! `iptables-restore --noflush` input per family and table (one transaction each); undo deletes
//! the lines that carry the change's tag, as `iptables-save` prints them. A step is in place
//! only when every one of its families and tables has the tag: a crash between two restores
//! leaves it incomplete, and the repair (or a failing restore) removes what was loaded.

use super::{Applier, run, run_stdin};
use crate::FixError;
use portdoctor_firewall::collect::Runner;
use portdoctor_firewall::plan::OwnedStep;
use std::collections::BTreeMap;

/// The iptables applier of one flavour.
pub struct Iptables {
    /// Legacy x_tables (else nf_tables-backed).
    pub legacy: bool,
}

impl Iptables {
    fn flavour(&self) -> &'static str {
        if self.legacy { "legacy" } else { "nft" }
    }

    fn prog(&self, v6: bool, suffix: &str) -> String {
        format!(
            "{}-{}{suffix}",
            if v6 { "ip6tables" } else { "iptables" },
            self.flavour()
        )
    }
}

/// (program, table) → restore lines, from `iptables-FLAVOUR [-t T] -I|-A CHAIN …` commands.
fn restore_inputs(step: &OwnedStep) -> Result<BTreeMap<(String, String), Vec<String>>, FixError> {
    let mut out: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for c in &step.step.commands {
        let (prog, rest) =
            c.0.split_first()
                .ok_or_else(|| FixError::Refused("empty command".into()))?;
        let (table, rest) = match rest {
            [t, table, rest @ ..] if t == "-t" => (table.clone(), rest),
            rest => ("filter".to_string(), rest),
        };
        out.entry((prog.clone(), table))
            .or_default()
            .push(rest.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" "));
    }
    Ok(out)
}

/// iptables-restore reads words separated by spaces; quote the ones that need it.
fn quote(w: &str) -> String {
    if w.contains(' ') || w.contains('"') {
        format!("\"{}\"", w.replace('"', "\\\""))
    } else {
        w.to_string()
    }
}

fn restore_text(table: &str, lines: &[String]) -> String {
    format!("*{table}\n{}\nCOMMIT\n", lines.join("\n"))
}

impl Applier for Iptables {
    fn name(&self) -> &'static str {
        if self.legacy {
            "iptables (legacy)"
        } else {
            "iptables (nft)"
        }
    }

    fn snapshot(&self, runner: &dyn Runner) -> Result<String, FixError> {
        let mut text = String::new();
        for v6 in [false, true] {
            text.push_str(&run(runner, &[self.prog(v6, "-save")])?.stdout);
        }
        Ok(text)
    }

    fn apply(&self, step: &OwnedStep, tag: &str, runner: &dyn Runner) -> Result<(), FixError> {
        for (i, ((prog, table), lines)) in restore_inputs(step)?.into_iter().enumerate() {
            let restore = vec![format!("{prog}-restore"), "--noflush".into()];
            if let Err(e) = run_stdin(runner, &restore, &restore_text(&table, &lines)) {
                // The families and tables loaded before this one keep the tag: take them out.
                if i > 0 {
                    if let Err(u) = self.undo(step, tag, runner) {
                        tracing::warn!("rolling back the iptables step: {u}");
                    }
                }
                return Err(e);
            }
        }
        Ok(())
    }

    fn present(&self, step: &OwnedStep, tag: &str, runner: &dyn Runner) -> Result<bool, FixError> {
        for (prog, table) in restore_inputs(step)?.keys() {
            let save = [format!("{prog}-save"), "-t".into(), table.clone()];
            if !run(runner, &save)?.stdout.contains(tag) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn undo_interrupted(
        &self,
        step: &OwnedStep,
        tag: &str,
        runner: &dyn Runner,
    ) -> Result<(), FixError> {
        // What a restore loaded carries the tag; the rest was never loaded.
        self.undo(step, tag, runner)
    }

    fn by_tag(&self) -> bool {
        true
    }

    fn undo(&self, _step: &OwnedStep, tag: &str, runner: &dyn Runner) -> Result<(), FixError> {
        let mut any = false;
        for v6 in [false, true] {
            let saved = run(runner, &[self.prog(v6, "-save")])?.stdout;
            let mut by_table: BTreeMap<String, Vec<String>> = BTreeMap::new();
            let mut table = String::new();
            for line in saved.lines() {
                if let Some(t) = line.strip_prefix('*') {
                    table = t.to_string();
                } else if line.starts_with("-A ") && line.contains(tag) {
                    by_table
                        .entry(table.clone())
                        .or_default()
                        .push(line.replacen("-A ", "-D ", 1));
                }
            }
            for (table, lines) in by_table {
                any = true;
                let restore = vec![self.prog(v6, "-restore"), "--noflush".into()];
                run_stdin(runner, &restore, &restore_text(&table, &lines))?;
            }
        }
        // Every rule of the change carries the tag: one call removes them all; the caller
        // checked `present` first.
        let _ = any;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
