//! How the fix engine carries out a pf fix: argument vectors, never a shell line.
//!
//! The fix's display lines are POSIX pipelines (`(pfctl -a A -sr; echo '…') | pfctl -a A -f -`)
//! because that is what a user types. The fix engine runs the same thing without a shell:
//! `pfctl -a ANCHOR -f -` fed the anchor's rules as they were read plus the pass rule, pf
//! replacing an anchor's ruleset in one step. The pass rule's label is the change's tag, so
//! `present` and `undo` find exactly it. A pf.conf that must reference the anchor is checked
//! (`pfctl -nvf /etc/pf.conf`) and reloaded by the applier; the Application Firewall is changed
//! through `socketfilterfw`, with the command that undoes it.

use super::PfFirewall;
use super::fix::ANCHOR;
use super::model::{PfAction, PfRule};
use crate::engine::{Edit, EngineKind};
use crate::fix::FixOption;
use crate::manager::{Argv, OpenRequest, PlanStep};

/// pf.conf, as the BSDs and macOS keep it.
pub const PF_CONF: &str = "/etc/pf.conf";

/// The Application Firewall's command-line tool on macOS.
pub const SOCKETFILTERFW: &str = "/usr/libexec/ApplicationFirewall/socketfilterfw";

/// The step that carries out `o` for `req`.
pub fn plan_step(fw: &PfFirewall, o: &FixOption, req: &OpenRequest) -> PlanStep {
    let mut step = PlanStep {
        title: o.summary.clone(),
        commands: vec![],
        stdin: None,
        edits: vec![],
        undo: vec![],
    };
    let mut reload = None;
    for e in &o.edits {
        match e {
            Edit::InsertText {
                engine: EngineKind::Pf,
                scope,
                before,
                text,
            } if !scope.is_empty() => {
                let text = tagged(text, &req.tag);
                let mut rules = anchor_rules(fw, scope);
                rules.push(text.clone());
                // The anchor load comes first: a step's stdin feeds its first command.
                step.commands
                    .insert(0, Argv::new(["pfctl", "-a", scope, "-f", "-"]));
                step.stdin = Some(rules.join("\n") + "\n");
                step.edits.push(Edit::InsertText {
                    engine: EngineKind::Pf,
                    scope: scope.clone(),
                    before: *before,
                    text,
                });
                continue;
            }
            Edit::InsertText { text, .. } => reload = Some(text.clone()),
            Edit::ModifyText { text, .. } => alf_commands(fw, text, &mut step),
            _ => {}
        }
        step.edits.push(e.clone());
    }
    if let Some(line) = reload {
        step.title = format!(
            "{}, after adding the line `{line}` to {PF_CONF} before its first filter rule \
             (pf evaluates an anchor only where pf.conf references it)",
            step.title
        );
        step.commands.push(Argv::new(["pfctl", "-nf", PF_CONF]));
        step.commands.push(Argv::new(["pfctl", "-f", PF_CONF]));
    }
    step
}

/// `text` with portdoctor's label replaced by the change's tag.
fn tagged(text: &str, tag: &str) -> String {
    let ours = format!("label \"{ANCHOR}\"");
    if text.contains(&ours) {
        text.replace(&ours, &format!("label \"{tag}\""))
    } else {
        format!("{text} label \"{tag}\"")
    }
}

/// The rules anchor `path` holds as they were read (listed separately, or nested in
/// `pfctl -a '*' -sr`); empty when it holds none or was not read.
pub fn anchor_rules(fw: &PfFirewall, path: &str) -> Vec<String> {
    if let Some(rules) = fw.anchors.get(path) {
        return rules.iter().map(|r| r.text.clone()).collect();
    }
    nested(&fw.main, "", path)
        .map(|rules| rules.iter().map(|r| r.text.clone()).collect())
        .unwrap_or_default()
}

/// The inline rules of anchor `path` among `rules` (whose anchor is `prefix`).
fn nested<'a>(rules: &'a [PfRule], prefix: &str, path: &str) -> Option<&'a [PfRule]> {
    rules.iter().find_map(|r| {
        let PfAction::Anchor {
            name,
            inline: Some(inner),
        } = &r.action
        else {
            return None;
        };
        let name = name.trim_end_matches("/*");
        let full = if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}/{name}")
        };
        if full == path {
            Some(inner.as_slice())
        } else if path.starts_with(&format!("{full}/")) {
            nested(inner, &full, path)
        } else {
            None
        }
    })
}

/// The `socketfilterfw` commands of an Application Firewall edit (`blockall=off`,
/// `allow=PATH`), and the ones that undo them.
fn alf_commands(fw: &PfFirewall, edit: &str, step: &mut PlanStep) {
    let tool =
        |args: &[&str]| Argv::new(std::iter::once(SOCKETFILTERFW).chain(args.iter().copied()));
    if edit == "blockall=off" {
        step.commands.push(tool(&["--setblockall", "off"]));
        step.undo.push(tool(&["--setblockall", "on"]));
    } else if let Some(prog) = edit.strip_prefix("allow=") {
        let listed = fw
            .alf
            .as_ref()
            .is_some_and(|a| a.apps.iter().any(|(p, _)| p == prog));
        step.commands.push(tool(&["--add", prog]));
        step.commands.push(tool(&["--unblockapp", prog]));
        step.undo.push(if listed {
            tool(&["--blockapp", prog])
        } else {
            tool(&["--remove", prog])
        });
    }
}
