//! A decision in the words of whoever is in charge: the one shape in which `explain` and
//! `diagnose` report what a firewall does with a packet.

use crate::explain::{BackendVerdict, Explanation};
use crate::manager::{self, ManagedRule, Manager, ManagerKind};
use crate::model::{Backend, Decision, Delivery, Endpoint, Hook, Packet, RuleRef, Verdict};
use serde::{Deserialize, Serialize};

/// What one backend (or all of them together) decides for a packet, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decided {
    /// The kernel backend; for the overall decision, the backend of the deciding rule.
    pub backend: Backend,
    /// The manager in charge of the deciding rule, if any (ufw, firewalld).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager: Option<ManagerKind>,
    /// False when the backend has no rule and only accepting policies.
    pub active: bool,
    /// Accept, drop, reject or unknown.
    pub decision: Decision,
    /// The kernel rule (or chain policy) that decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<RuleRef>,
    /// The manager's own rule behind it ("ufw rule [2]", "zone public …").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedRule>,
    /// For unknown decisions: the decisions the possible paths reach.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub possible: Vec<Decision>,
    /// When no single rule decides: every rule that decides on some path.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub deciders: Vec<RuleRef>,
    /// Assumptions the decision rests on (rate limits and the like).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub assumptions: Vec<String>,
    /// A `redirect` sent the connection to this local port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirected_to: Option<u16>,
    /// A DNAT sent the connection elsewhere: the translated destination and its route.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub delivery: Option<Delivery>,
    /// Load-balanced: each endpoint a connection may go to, with its decision (traces left
    /// out).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub endpoints: Vec<Endpoint>,
    /// The hook of the deciding base chain (`forward` after a DNAT).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub decided_at: Option<Hook>,
}

impl Decided {
    /// Who speaks for this decision: the manager, else the backend (`ufw`, `nftables`);
    /// when several rules of different backends decide on different paths, all of them
    /// (`nftables and iptables (legacy)`).
    pub fn owner_label(&self) -> String {
        if let Some(m) = self.manager {
            return m.label().to_string();
        }
        if self.rule.is_none() && !self.deciders.is_empty() {
            let mut names: Vec<&str> = self.deciders.iter().map(|r| r.backend.label()).collect();
            names.dedup();
            return names.join(" and ");
        }
        self.backend.label().to_string()
    }

    /// Whether the packet is dropped or rejected — also when the decision is unknown but
    /// every possible outcome blocks (e.g. the order of two blocking tables is not knowable).
    pub fn blocks(&self) -> bool {
        let blocking = |d: &Decision| matches!(d, Decision::Drop | Decision::Reject(_));
        blocking(&self.decision)
            || (matches!(self.decision, Decision::Unknown(_))
                && !self.possible.is_empty()
                && self.possible.iter().all(blocking))
    }

    /// `by ufw rule [2] `8080/tcp DENY IN Anywhere``, `by the policy of inet filter input`,
    /// `by nftables handle 7 in inet filter input: `tcp dport 8080 drop`` — or empty.
    pub fn by_text(&self) -> String {
        if let Some(m) = &self.managed {
            return format!("by {}", m.describe());
        }
        let Some(r) = &self.rule else {
            return match self.deciders.as_slice() {
                [] => String::new(),
                many => format!(
                    "by one of: {}",
                    many.iter()
                        .map(|r| format!("`{}` ({})", r.text, place_text(r)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
        };
        let place = place_text(r);
        if r.is_policy {
            return format!("by the policy of {place}");
        }
        let at = match (r.backend, r.handle) {
            (Backend::Nftables, Some(h)) => format!("handle {h}"),
            (Backend::WindowsFirewall, _) => "rule".to_string(),
            _ => format!("rule {}", r.position),
        };
        let comment = r
            .comment
            .as_ref()
            .filter(|c| !r.text.contains(c.as_str()))
            .map_or(String::new(), |c| format!(" (comment: {c})"));
        format!("by {at} in {place}: `{}`{comment}", r.text)
    }
}

/// `inet filter input`, `filter INPUT` (iptables tables have no family word).
pub fn place_text(r: &RuleRef) -> String {
    match r.backend {
        Backend::Nftables => format!("{} {} {}", r.family.as_str(), r.table, r.chain),
        Backend::WindowsFirewall if r.is_policy => format!("the {} profile", r.chain),
        Backend::WindowsFirewall => format!("{} (group {})", r.table, r.chain),
        Backend::Pf if r.table == "application_firewall" => {
            format!("the macOS Application Firewall ({})", r.text)
        }
        Backend::Pf if r.is_policy => format!("pf ({})", r.text),
        Backend::Pf if r.table.is_empty() => "the main pf ruleset".to_string(),
        Backend::Pf => format!("pf anchor {}", r.table),
        _ => format!(
            "{}{} {}",
            if r.family == crate::model::Family::Ip6 {
                "ip6tables "
            } else {
                ""
            },
            r.table,
            r.chain
        ),
    }
}

/// Attributes one verdict.
pub fn decided(
    backend: Backend,
    active: bool,
    v: &Verdict,
    packet: &Packet,
    managers: &[Box<dyn Manager>],
) -> Decided {
    let owner = v
        .decided_by
        .as_ref()
        .and_then(|r| manager::owner(managers, r));
    let managed = match (owner, &v.decided_by) {
        (Some(m), Some(r)) => m.attribute(r, packet, &v.trace),
        _ => None,
    };
    Decided {
        backend: v.decided_by.as_ref().map_or(backend, |r| r.backend),
        manager: managed.as_ref().map(|m| m.manager),
        active,
        decision: v.decision.clone(),
        rule: v.decided_by.clone(),
        managed,
        possible: v.possible.clone(),
        deciders: if v.decided_by.is_some() {
            vec![]
        } else {
            v.deciders.clone()
        },
        assumptions: v.assumptions.clone(),
        redirected_to: v.redirected_to,
        delivery: v.delivery.clone(),
        endpoints: v
            .endpoints
            .iter()
            .map(|e| Endpoint {
                trace: vec![],
                ..e.clone()
            })
            .collect(),
        decided_at: v.decided_at.clone(),
    }
}

impl Decided {
    /// The endpoints that block, when a load-balanced connection is blocked for some only.
    pub fn blocked_endpoints(&self) -> Vec<&Endpoint> {
        self.endpoints
            .iter()
            .filter(|e| matches!(e.decision, Decision::Drop | Decision::Reject(_)))
            .collect()
    }

    /// Whether the decision was made after a DNAT sent the connection on (the forward
    /// path), or by the routing decision itself.
    pub fn on_forward_path(&self) -> bool {
        matches!(self.decided_at, Some(Hook::Forward | Hook::Postrouting))
            || self.delivery.as_ref().is_some_and(|d| {
                !matches!(
                    d.route,
                    crate::model::RouteKind::Local | crate::model::RouteKind::Forwarded
                ) && self.rule.is_none()
            })
    }
}

/// The overall decision and one per backend, attributed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attributed {
    /// Through every backend together.
    pub overall: Decided,
    /// Each backend alone.
    pub backends: Vec<Decided>,
}

/// Attributes an explanation.
pub fn attribute(e: &Explanation, packet: &Packet, managers: &[Box<dyn Manager>]) -> Attributed {
    let first = e.backends.first().map_or(Backend::Nftables, |b| b.backend);
    let one = |b: &BackendVerdict| decided(b.backend, b.active, &b.verdict, packet, managers);
    Attributed {
        overall: decided(
            first,
            e.backends.iter().any(|b| b.active),
            &e.overall,
            packet,
            managers,
        ),
        backends: e.backends.iter().map(one).collect(),
    }
}
