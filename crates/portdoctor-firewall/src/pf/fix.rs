//! Fixes phrased for pf (and the macOS Application Firewall), each with the edits that model
//! it and checked by re-evaluating the edited state.
//!
//! The pass rule goes into its own anchor, `portdoctor`, loaded with `pfctl -a portdoctor -f -`
//! without touching the rest of the ruleset; it is `quick`, so it decides where the anchor
//! stands. pf.conf must reference the anchor (before the rules that block) or loading it has
//! no effect; on macOS the stock `anchor "com.apple/*"` already evaluates
//! `com.apple/portdoctor`.

use super::PfFirewall;
use super::model::PfAction;
use super::step::SOCKETFILTERFW;
use crate::engine::{Edit, Engine, EngineKind};
use crate::fix::{FixCommand, FixKind, FixOption, FixRequest, Shell};
use crate::model::{Decision, Packet, Proto};

/// The anchor portdoctor's pf rules live in.
pub const ANCHOR: &str = "portdoctor";

/// Ways to make `req` reachable for `pkt`, best first; empty when it is already accepted.
pub fn plan_fix(fw: &PfFirewall, pkt: &Packet, req: &FixRequest) -> Vec<FixOption> {
    let mut pkt = pkt.clone();
    pkt.dport = req.port;
    pkt.proto = req.proto;
    if fw.explanation(&pkt).overall.decision == Decision::Accept {
        return vec![];
    }
    let mut opts = vec![];
    if fw.evaluate_pf(&pkt).decision != Decision::Accept {
        let referenced = references(fw, ANCHOR);
        opts.push(anchor_fix(fw, req, ANCHOR, !referenced));
        if has_top_anchor(fw, "com.apple/*") {
            // Without a pf.conf change first: macOS evaluates every com.apple/* anchor.
            let apple = anchor_fix(fw, req, "com.apple/portdoctor", false);
            if referenced {
                opts.push(apple);
            } else {
                opts.insert(0, apple);
            }
        }
    }
    let alf = alf_fix(fw, &pkt);
    if opts.is_empty() {
        opts.extend(alf.clone());
    }
    let opts: Vec<FixOption> = opts
        .into_iter()
        .map(|mut o| {
            if !accepts(fw, &o.edits, &pkt) {
                if let Some(a) = &alf {
                    if o.kind != a.kind || o.summary != a.summary {
                        o.summary = format!("{}, and {}", o.summary, a.summary);
                        o.commands.extend(a.commands.clone());
                        o.edits.extend(a.edits.clone());
                        o.notes.extend(a.notes.clone());
                    }
                }
            }
            o.verified = accepts(fw, &o.edits, &pkt);
            o
        })
        .collect();
    if opts.iter().any(|o| o.verified) {
        opts.into_iter().filter(|o| o.verified).collect()
    } else {
        opts
    }
}

fn accepts(fw: &PfFirewall, edits: &[Edit], pkt: &Packet) -> bool {
    fw.edited(edits)
        .map(|e| e.explain(pkt).overall.decision == Decision::Accept)
        .unwrap_or(false)
}

/// Whether the main ruleset has `anchor "NAME"` (or `NAME/*`).
fn references(fw: &PfFirewall, name: &str) -> bool {
    fw.main.iter().any(|r| matches!(&r.action, PfAction::Anchor { name: n, .. } if n == name || n.trim_end_matches("/*") == name))
}

fn has_top_anchor(fw: &PfFirewall, name: &str) -> bool {
    fw.main
        .iter()
        .any(|r| matches!(&r.action, PfAction::Anchor { name: n, .. } if n == name))
}

/// The pass rule for the request.
pub(crate) fn pass_rule(req: &FixRequest) -> String {
    let from = req.source.as_deref().unwrap_or("any");
    let flags = if req.proto == Proto::Tcp {
        " flags S/SA"
    } else {
        ""
    };
    format!(
        "pass in quick proto {} from {from} to any port {}{flags} keep state label \"{ANCHOR}\"",
        req.proto_name(),
        req.port
    )
}

fn anchor_fix(fw: &PfFirewall, req: &FixRequest, anchor: &str, add_reference: bool) -> FixOption {
    let rule = pass_rule(req);
    let load =
        format!("(pfctl -a {anchor} -sr 2>/dev/null; echo '{rule}') | pfctl -a {anchor} -f -");
    let mut edits = vec![];
    let mut commands = vec![FixCommand {
        shell: Shell::Sh,
        line: load,
    }];
    let mut notes = vec![
        "pf keeps state: connections already blocked or passed are not changed until their \
         states expire or are killed (pfctl -k)"
            .to_string(),
    ];
    if add_reference {
        let first = fw
            .main
            .iter()
            .position(|r| !matches!(r.action, PfAction::Match))
            .unwrap_or(fw.main.len());
        edits.push(Edit::InsertText {
            engine: EngineKind::Pf,
            scope: String::new(),
            before: Some(first + 1),
            text: format!("anchor \"{anchor}\""),
        });
        notes.insert(
            0,
            format!(
                "pf.conf must reference the anchor, or loading it has no effect: add the line \
                 `anchor \"{anchor}\"` to /etc/pf.conf before its first filter rule (after \
                 the set, scrub, nat and rdr lines), check with `pfctl -nf /etc/pf.conf`, \
                 then reload"
            ),
        );
        commands.insert(
            0,
            FixCommand {
                shell: Shell::Sh,
                line: "pfctl -nf /etc/pf.conf && pfctl -f /etc/pf.conf".into(),
            },
        );
    }
    if anchor.starts_with("com.apple/") {
        notes.push(
            "no pf.conf change: the stock macOS pf.conf evaluates every com.apple/* anchor; \
             macOS reloads its anchors at boot, so re-apply after a restart or reference \
             `anchor \"portdoctor\"` in pf.conf"
                .into(),
        );
    }
    edits.push(Edit::InsertText {
        engine: EngineKind::Pf,
        scope: anchor.to_string(),
        before: None,
        text: rule.clone(),
    });
    FixOption {
        kind: FixKind::AddAllow,
        summary: format!(
            "pass {}/{} in pf anchor `{anchor}`",
            req.port,
            req.proto_name()
        ),
        commands,
        alternatives: vec![],
        edits,
        notes,
        verified: false,
    }
}

/// The Application Firewall fix for the listening program, when it blocks.
fn alf_fix(fw: &PfFirewall, pkt: &Packet) -> Option<FixOption> {
    let v = fw.alf_verdict(pkt)?;
    if v.decision == Decision::Accept {
        return None;
    }
    let a = fw.alf.as_ref()?;
    let r = super::alf_ref_for_edit();
    if a.block_all == Some(true) {
        return Some(FixOption {
            kind: FixKind::Settings,
            summary: "turn off the Application Firewall's \"block all incoming connections\""
                .into(),
            commands: vec![FixCommand {
                shell: Shell::Sh,
                line: format!("{SOCKETFILTERFW} --setblockall off"),
            }],
            alternatives: vec![],
            edits: vec![Edit::ModifyText {
                rule: r,
                text: "blockall=off".into(),
            }],
            notes: vec![],
            verified: false,
        });
    }
    let prog = pkt.local_program.as_ref()?;
    Some(FixOption {
        kind: FixKind::AddAllow,
        summary: format!("allow {prog} in the Application Firewall"),
        commands: vec![
            FixCommand {
                shell: Shell::Sh,
                line: format!("{SOCKETFILTERFW} --add '{prog}'"),
            },
            FixCommand {
                shell: Shell::Sh,
                line: format!("{SOCKETFILTERFW} --unblockapp '{prog}'"),
            },
        ],
        alternatives: vec![],
        edits: vec![Edit::ModifyText {
            rule: r,
            text: format!("allow={prog}"),
        }],
        notes: vec!["the Application Firewall filters per application, not per port".into()],
        verified: false,
    })
}
