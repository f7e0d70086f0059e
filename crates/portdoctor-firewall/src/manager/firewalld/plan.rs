//! Fixes in firewall-cmd's words (runtime, then `--permanent`), with the kernel edits.

use super::{Firewalld, TABLE};
use crate::engine::{Edit, Place};
use crate::manager::{Argv, ManagedKind, ManagedRule, OpenRequest, PlanStep};
use crate::model::{Backend, Family, Packet, RuleRef, Step};
use crate::netfilter::build::nft_accept;

/// The step that gets `packet` past the firewalld-owned `rule`.
pub(super) fn open(
    fw: &Firewalld,
    rule: &RuleRef,
    managed: &ManagedRule,
    packet: &Packet,
    trace: &[Step],
    req: &OpenRequest,
) -> Option<PlanStep> {
    match managed.kind {
        ManagedKind::DefaultPolicy => {
            let zone = managed
                .zone
                .clone()
                .unwrap_or_else(|| fw.zone_of(packet, trace));
            Some(allow_in_zone(&zone, req))
        }
        ManagedKind::RichRule if rule.chain.ends_with("_deny") => {
            let zone = managed.zone.clone()?;
            Some(remove_rich_rule(&zone, &managed.text, rule))
        }
        _ => None,
    }
}

/// The same change twice: now (runtime) and after a reload (`--permanent`).
fn both(zone: &str, change: &str) -> Vec<Argv> {
    let zone = format!("--zone={zone}");
    vec![
        Argv::new(["firewall-cmd", zone.as_str(), change]),
        Argv::new(["firewall-cmd", "--permanent", zone.as_str(), change]),
    ]
}

fn what(req: &OpenRequest) -> String {
    match &req.from {
        None => format!("{}/{}", req.port, req.proto),
        Some(f) => format!(
            "rule family=\"{}\" source address=\"{f}\" port port=\"{}\" protocol=\"{}\" accept",
            if f.contains(':') { "ipv6" } else { "ipv4" },
            req.port,
            req.proto
        ),
    }
}

fn allow_in_zone(zone: &str, req: &OpenRequest) -> PlanStep {
    let (add, remove) = match &req.from {
        None => (
            format!("--add-port={}", what(req)),
            format!("--remove-port={}", what(req)),
        ),
        Some(_) => (
            format!("--add-rich-rule={}", what(req)),
            format!("--remove-rich-rule={}", what(req)),
        ),
    };
    let spec = req.accept_spec();
    let edits = nft_accept(&spec)
        .map(|rule| Edit::Insert {
            place: Place {
                backend: Backend::Nftables,
                family: Family::Inet,
                table: TABLE.into(),
                chain: format!("filter_IN_{zone}_allow"),
                before: None,
            },
            rule,
        })
        .into_iter()
        .collect();
    let who = req
        .from
        .as_ref()
        .map_or(String::new(), |f| format!(" from {f}"));
    PlanStep {
        title: format!(
            "Allow {}/{}{who} in firewalld zone {zone} (now and after reload)",
            req.port, req.proto
        ),
        commands: both(zone, &add),
        stdin: None,
        edits,
        undo: both(zone, &remove),
    }
}

fn remove_rich_rule(zone: &str, rich: &str, rule: &RuleRef) -> PlanStep {
    PlanStep {
        title: format!("Remove the firewalld rich rule that blocks it from zone {zone}"),
        commands: both(zone, &format!("--remove-rich-rule={rich}")),
        stdin: None,
        edits: vec![Edit::Remove { rule: rule.clone() }],
        undo: both(zone, &format!("--add-rich-rule={rich}")),
    }
}

/// The step that stops `packet`, which firewalld lets in today.
pub(super) fn close(
    fw: &Firewalld,
    rule: &RuleRef,
    managed: Option<&ManagedRule>,
    packet: &Packet,
    trace: &[Step],
    req: &OpenRequest,
) -> Option<PlanStep> {
    let zone = managed
        .and_then(|m| m.zone.clone())
        .unwrap_or_else(|| fw.zone_of(packet, trace));
    match managed.map(|m| m.kind) {
        Some(ManagedKind::Port) if req.from.is_none() => {
            let what = format!("{}/{}", req.port, req.proto);
            Some(PlanStep {
                title: format!("Remove port {what} from firewalld zone {zone}"),
                commands: both(&zone, &format!("--remove-port={what}")),
                stdin: None,
                edits: vec![Edit::Remove { rule: rule.clone() }],
                undo: both(&zone, &format!("--add-port={what}")),
            })
        }
        Some(ManagedKind::RichRule) if rule.chain.ends_with("_allow") => {
            let text = managed.map(|m| m.text.clone())?;
            Some(PlanStep {
                title: format!("Remove the firewalld rich rule that lets it in from zone {zone}"),
                commands: both(&zone, &format!("--remove-rich-rule={text}")),
                stdin: None,
                edits: vec![Edit::Remove { rule: rule.clone() }],
                undo: both(&zone, &format!("--add-rich-rule={text}")),
            })
        }
        Some(ManagedKind::Service) => None,
        _ => Some(reject_in_zone(&zone, req)),
    }
}

/// A rich rule that rejects the port (from the source) in the zone's deny chain, which runs
/// before its allows.
fn reject_in_zone(zone: &str, req: &OpenRequest) -> PlanStep {
    let rich = match &req.from {
        None => format!(
            "rule port port=\"{}\" protocol=\"{}\" reject",
            req.port, req.proto
        ),
        Some(f) => format!(
            "rule family=\"{}\" source address=\"{f}\" port port=\"{}\" protocol=\"{}\" reject",
            if f.contains(':') { "ipv6" } else { "ipv4" },
            req.port,
            req.proto
        ),
    };
    let spec = req.accept_spec();
    let edits = nft_accept(&spec)
        .map(|mut rule| {
            rule.action = crate::model::Action::Reject(crate::model::RejectKind::PortUnreachable);
            rule.text = rule.text.replace(" accept", " reject");
            Edit::Insert {
                place: Place {
                    backend: Backend::Nftables,
                    family: Family::Inet,
                    table: TABLE.into(),
                    chain: format!("filter_IN_{zone}_deny"),
                    before: None,
                },
                rule,
            }
        })
        .into_iter()
        .collect();
    PlanStep {
        title: format!(
            "Reject {}/{} in firewalld zone {zone} with a rich rule (now and after reload)",
            req.port, req.proto
        ),
        commands: both(zone, &format!("--add-rich-rule={rich}")),
        stdin: None,
        edits,
        undo: both(zone, &format!("--remove-rich-rule={rich}")),
    }
}
