//! The macOS Application Firewall (the "Firewall" of System Settings; not pf): it filters
//! incoming connections per application. Read from `socketfilterfw --getglobalstate
//! --getblockall --getstealthmode --getallowsigned --listapps` outputs (any of them, in one
//! text or several).

use super::eval::policy_ref;
use crate::model::{Backend, Decision, Packet, RejectKind, RuleRef, Verdict};
use serde::{Deserialize, Serialize};

/// Application Firewall state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Alf {
    /// On (`State = 1` or 2); `None`: not read.
    pub enabled: Option<bool>,
    /// "Block all incoming connections" (`State = 2`, or `--getblockall`).
    pub block_all: Option<bool>,
    /// Stealth mode (no answer to probes of blocked apps and closed ports).
    pub stealth: Option<bool>,
    /// Built-in / downloaded signed software allowed automatically.
    pub allow_signed: Option<bool>,
    /// Listed applications with allow (true) or block (false).
    pub apps: Vec<(String, bool)>,
}

/// Whether `text` is `socketfilterfw` output.
pub fn recognise(text: &str) -> bool {
    text.lines().take(20).any(|l| {
        let l = l.trim();
        l.starts_with("Firewall is ")
            || l.starts_with("ALF: total number of apps")
            || l.starts_with("Firewall stealth mode")
            || l.starts_with("Firewall has block all state")
            || l.starts_with("Block all ")
            || l.starts_with("Stealth mode ")
    })
}

/// Reads every recognised line; others are ignored. Never fails.
pub fn parse(text: &str, into: &mut Alf) {
    let mut pending: Option<String> = None;
    for raw in text.lines() {
        let l = raw.trim();
        let low = l.to_ascii_lowercase();
        if let Some(rest) = l.strip_prefix("Firewall is ") {
            if rest.contains("State = 2") || rest.starts_with("blocking all") {
                into.enabled = Some(true);
                into.block_all = Some(true);
            } else if rest.contains("State = 1") || rest.starts_with("enabled") {
                into.enabled = Some(true);
            } else if rest.contains("State = 0") || rest.starts_with("disabled") {
                into.enabled = Some(false);
            }
        } else if low.starts_with("firewall has block all state set to ")
            || low.starts_with("block all ")
        {
            into.block_all = Some(low.contains("enabled"));
        } else if low.starts_with("firewall stealth mode is ") {
            into.stealth = Some(low.ends_with(" on"));
        } else if low.starts_with("stealth mode ") {
            into.stealth = Some(low.contains("enabled"));
        } else if low.starts_with("automatically allow") && low.contains("signed") {
            into.allow_signed = Some(low.contains("enabled"));
        } else if let Some((n, path)) = l.split_once(" : ") {
            if n.trim().parse::<u32>().is_ok() {
                let (path, verdict) = match path.split_once('(') {
                    Some((p, v)) => (p.trim().to_string(), Some(v.to_string())),
                    None => (path.trim().to_string(), None),
                };
                match verdict {
                    Some(v) => into.apps.push((path, v.contains("Allow"))),
                    None => pending = Some(path),
                }
            }
        } else if l.starts_with('(') {
            if let Some(p) = pending.take() {
                into.apps.push((p, l.contains("Allow")));
            }
        }
    }
}

fn alf_ref(text: String) -> RuleRef {
    let mut r = policy_ref(&text);
    r.backend = Backend::Pf;
    r.table = "application_firewall".into();
    r.chain = "socketfilterfw".into();
    r
}

fn verdict(decision: Decision, text: String, possible: Vec<Decision>) -> Verdict {
    let r = alf_ref(text);
    Verdict {
        decision,
        decided_by: Some(r.clone()),
        trace: vec![],
        redirected_to: None,
        possible,
        deciders: vec![r],
        assumptions: vec![],
        delivery: None,
        endpoints: vec![],
        decided_at: None,
    }
}

/// The Application Firewall's decision for the packet's listening program.
pub fn evaluate(alf: &Alf, pkt: &Packet) -> Verdict {
    let blocked = |why: String| {
        if alf.stealth == Some(true) {
            verdict(Decision::Drop, why, vec![])
        } else {
            let mut v = verdict(
                Decision::Unknown(format!(
                    "{why}; without stealth mode the refusal may be answered"
                )),
                why,
                vec![Decision::Drop, Decision::Reject(RejectKind::TcpReset)],
            );
            v.decided_by = None;
            v
        }
    };
    match alf.enabled {
        Some(false) => return verdict(Decision::Accept, "Application Firewall off".into(), vec![]),
        None => {
            let mut v = Verdict::unknown(
                "the Application Firewall's state was not read (socketfilterfw --getglobalstate)",
            );
            v.deciders.clear();
            return v;
        }
        Some(true) => {}
    }
    if alf.block_all == Some(true) {
        return blocked("Application Firewall blocks all incoming connections".into());
    }
    let Some(prog) = &pkt.local_program else {
        return Verdict::unknown(
            "the Application Firewall filters by application and the listening program is unknown",
        );
    };
    let listed = alf
        .apps
        .iter()
        .filter(|(p, _)| prog == p || prog.starts_with(&format!("{}/", p.trim_end_matches('/'))))
        .max_by_key(|(p, _)| p.len());
    match listed {
        Some((p, true)) => verdict(
            Decision::Accept,
            format!("Application Firewall allows {p}"),
            vec![],
        ),
        Some((p, false)) => blocked(format!(
            "Application Firewall blocks incoming connections to {p}"
        )),
        None => Verdict::unknown(format!(
            "{prog} is not in the Application Firewall's list: signed software may be allowed \
             automatically, otherwise the user is asked on its first listen"
        )),
    }
}
