//! Native nftables: every step is one `nft -f -` batch (one kernel transaction); undo deletes
//! the rules that carry the change's tag, by handle, in one batch too.

use super::{Applier, run, run_stdin};
use crate::FixError;
use portdoctor_firewall::collect::Runner;
use portdoctor_firewall::model::Ruleset;
use portdoctor_firewall::plan::{OWN_TABLE, OwnedStep};
use serde_json::Value;

/// The nftables applier.
pub struct Nft;

fn nft(args: &[&str]) -> Vec<String> {
    std::iter::once("nft")
        .chain(args.iter().copied())
        .map(String::from)
        .collect()
}

/// The batch for a step: its own script, or its `nft …` commands as batch lines.
fn batch(step: &OwnedStep) -> Result<String, FixError> {
    if let Some(text) = &step.step.stdin {
        return Ok(text.clone());
    }
    let mut out = String::new();
    for c in &step.step.commands {
        match c.0.split_first() {
            Some((p, rest)) if p == "nft" => {
                out.push_str(&rest.join(" "));
                out.push('\n');
            }
            _ => {
                return Err(FixError::Refused(format!(
                    "not an nft command: {}",
                    c.0.join(" ")
                )));
            }
        }
    }
    Ok(out)
}

/// A rule's (family, table, chain, handle).
type Located = (String, String, String, u64);

/// Every rule whose comment is `tag`, and whether our own table has any other rule left:
/// read natively (netlink) where the runner can, else from `nft -a -j list ruleset`.
fn tagged(runner: &dyn Runner, tag: &str) -> Result<(Vec<Located>, bool), FixError> {
    match runner.nft_native() {
        Some(Ok(rs)) => Ok(tagged_in(&rs, tag)),
        _ => tagged_json(runner, tag),
    }
}

/// [`tagged`] over a ruleset read natively.
fn tagged_in(rs: &Ruleset, tag: &str) -> (Vec<Located>, bool) {
    let mut found = vec![];
    let mut own_left = false;
    for t in rs.tables.iter().filter(|t| !t.iptables_nft_owned) {
        for c in &t.chains {
            for r in &c.rules {
                if r.comment.as_deref() == Some(tag) {
                    let family = t.family.as_str().to_string();
                    found.push((
                        family,
                        t.name.clone(),
                        c.name.clone(),
                        r.handle.unwrap_or(0),
                    ));
                } else if t.name == OWN_TABLE {
                    own_left = true;
                }
            }
        }
    }
    (found, own_left)
}

/// [`tagged`] from `nft -a -j list ruleset`.
fn tagged_json(runner: &dyn Runner, tag: &str) -> Result<(Vec<Located>, bool), FixError> {
    let out = run(runner, &nft(&["-a", "-j", "list", "ruleset"]))?;
    let doc: Value = serde_json::from_str(&out.stdout)
        .map_err(|e| FixError::Refused(format!("cannot read `nft -j list ruleset`: {e}")))?;
    let mut found = vec![];
    let mut own_left = false;
    for item in doc
        .get("nftables")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(r) = item.get("rule") else { continue };
        let s = |k: &str| {
            r.get(k)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let ours = r.get("comment").and_then(Value::as_str) == Some(tag);
        if ours {
            found.push((
                s("family"),
                s("table"),
                s("chain"),
                r.get("handle").and_then(Value::as_u64).unwrap_or(0),
            ));
        } else if s("table") == OWN_TABLE {
            own_left = true;
        }
    }
    Ok((found, own_left))
}

impl Applier for Nft {
    fn name(&self) -> &'static str {
        "nftables"
    }

    fn snapshot(&self, runner: &dyn Runner) -> Result<String, FixError> {
        Ok(run(runner, &nft(&["list", "ruleset"]))?.stdout)
    }

    fn apply(&self, step: &OwnedStep, _tag: &str, runner: &dyn Runner) -> Result<(), FixError> {
        run_stdin(runner, &nft(&["-f", "-"]), &batch(step)?).map(|_| ())
    }

    fn present(&self, _step: &OwnedStep, tag: &str, runner: &dyn Runner) -> Result<bool, FixError> {
        Ok(!tagged(runner, tag)?.0.is_empty())
    }

    fn by_tag(&self) -> bool {
        true
    }

    fn undo(&self, _step: &OwnedStep, tag: &str, runner: &dyn Runner) -> Result<(), FixError> {
        let (rules, own_left) = tagged(runner, tag)?;
        // One call removes every rule of the change (all steps share the tag); the caller
        // checked that they were there (`present`) before undoing anything.
        if rules.is_empty() {
            return Ok(());
        }
        let mut script = String::new();
        for (family, table, chain, handle) in &rules {
            script.push_str(&format!(
                "delete rule {family} {table} {chain} handle {handle}\n"
            ));
        }
        let only_ours = rules.iter().all(|r| r.1 == OWN_TABLE);
        if only_ours && !own_left {
            script.push_str(&format!("delete table inet {OWN_TABLE}\n"));
        }
        run_stdin(runner, &nft(&["-f", "-"]), &script).map(|_| ())
    }
}
