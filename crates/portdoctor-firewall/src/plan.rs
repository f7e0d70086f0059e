//! The fix planner: one place that decides how to let a packet in, used by `diagnose` (to
//! print fixes) and by the fix engine (to apply them).
//!
//! For each packet that must get in, the planner evaluates the current state; while it is
//! blocked it asks the owner of the blocking rule (the manager in charge, else the raw backend)
//! for a step placed where the verdict is decided, applies the step's edits to a copy, and
//! evaluates again. The plan is *verified* when every packet is accepted on the edited copy;
//! otherwise it says why it could not be.

use crate::engine::{Edit, Engine, Place};
use crate::manager::{self, Argv, Manager, ManagerKind, OpenRequest, PlanStep};
use crate::model::{Action, BaseChain, Hook, Policy};
use crate::model::{Backend, Decision, Family, Packet, RuleRef, Verdict};
use crate::netfilter::build::{AcceptSpec, iptables_accept, iptables_words, nft_accept, nft_words};
use serde::{Deserialize, Serialize};

/// The tag every rule portdoctor adds carries (nft and iptables comment).
pub const TAG: &str = "portdoctor";

/// Most steps in one plan (each gets past one blocking rule).
pub const MAX_STEPS: usize = 8;

/// Who a step speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The kernel backend whose rule is passed.
    pub backend: Backend,
    /// The manager whose command does it, if one is in charge of that rule.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager: Option<ManagerKind>,
}

impl Owner {
    /// `ufw`, `firewalld`, `nftables`, `iptables (legacy)` …
    pub fn label(&self) -> &'static str {
        match self.manager {
            Some(m) => m.label(),
            None => self.backend.label(),
        }
    }
}

/// One step with its owner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OwnedStep {
    /// Who.
    pub owner: Owner,
    /// What.
    #[serde(flatten)]
    pub step: PlanStep,
}

/// Whether the plan was checked on a copy of the rulesets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "status", content = "detail")]
pub enum Verification {
    /// Every packet is accepted once the steps are applied (re-evaluated, not probed).
    Verified,
    /// Nothing to do: every packet is already accepted.
    AlreadyOpen,
    /// Could not be checked; why (the steps so far may still help).
    NotVerified(String),
}

/// A plan to let packets in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FixPlan {
    /// What it lets in.
    pub request: OpenRequest,
    /// The steps, in order.
    pub steps: Vec<OwnedStep>,
    /// Whether it was verified.
    pub verification: Verification,
}

impl FixPlan {
    /// Every edit of every step, in order.
    pub fn edits(&self) -> Vec<Edit> {
        self.steps
            .iter()
            .flat_map(|s| s.step.edits.clone())
            .collect()
    }
}

/// What a plan is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Goal {
    /// Let the packets in.
    Open,
    /// Keep the packets out.
    Close,
}

impl Goal {
    fn reached(self, d: &Decision) -> bool {
        match self {
            Goal::Open => *d == Decision::Accept,
            Goal::Close => matches!(d, Decision::Drop | Decision::Reject(_)),
        }
    }
}

/// Plans how to let every packet of `packets` in, as `req` asks (a narrow plan when
/// `req.from` is set).
pub fn plan_open(
    engine: &dyn Engine,
    managers: &[Box<dyn Manager>],
    packets: &[Packet],
    req: &OpenRequest,
) -> FixPlan {
    plan(engine, managers, packets, req, Goal::Open)
}

/// Plans how to keep every packet of `packets` out (`close`).
pub fn plan_close(
    engine: &dyn Engine,
    managers: &[Box<dyn Manager>],
    packets: &[Packet],
    req: &OpenRequest,
) -> FixPlan {
    plan(engine, managers, packets, req, Goal::Close)
}

/// Plans steps until every packet meets `goal`, verifying on an edited copy.
pub fn plan(
    engine: &dyn Engine,
    managers: &[Box<dyn Manager>],
    packets: &[Packet],
    req: &OpenRequest,
    goal: Goal,
) -> FixPlan {
    let mut plan = FixPlan {
        request: req.clone(),
        steps: vec![],
        verification: Verification::AlreadyOpen,
    };
    let mut state = match engine.edited(&[]) {
        Ok(s) => s,
        Err(e) => {
            plan.verification = Verification::NotVerified(e.to_string());
            return plan;
        }
    };
    let mut last_blocker: Option<RuleRef> = None;
    for _ in 0..=MAX_STEPS {
        let Some((packet, verdict)) = first_unmet(state.as_ref(), packets, goal) else {
            if !plan.steps.is_empty() {
                plan.verification = Verification::Verified;
            }
            return plan;
        };
        if plan.steps.len() == MAX_STEPS {
            break;
        }
        let Some(rule) = deciding_rule(&verdict, goal) else {
            plan.verification = Verification::NotVerified(unblockable(&verdict));
            return plan;
        };
        if last_blocker.as_ref().is_some_and(|l| same_rule(l, &rule)) {
            plan.verification = Verification::NotVerified(format!(
                "the step did not get past `{}` in {} {} {}",
                rule.text,
                rule.family.as_str(),
                rule.table,
                rule.chain
            ));
            return plan;
        }
        let step = match rule.backend {
            Backend::WindowsFirewall | Backend::Pf if goal == Goal::Open => {
                engine_step(state.as_ref(), &rule, packet, req)
            }
            _ => step_for(managers, &rule, packet, &verdict, req, goal),
        };
        let Some(step) = step else {
            plan.verification = Verification::NotVerified(by_hand(managers, &rule, packet));
            return plan;
        };
        match state.edited(&step.step.edits) {
            Ok(next) => state = next,
            Err(e) => {
                plan.verification =
                    Verification::NotVerified(format!("the fix could not be checked: {e}"));
                plan.steps.push(step);
                return plan;
            }
        }
        plan.steps.push(step);
        last_blocker = Some(rule);
    }
    plan.verification = Verification::NotVerified(format!(
        "more than {MAX_STEPS} rules block it; fix the first ones and diagnose again"
    ));
    plan
}

/// The same rule, wherever an inserted rule moved it.
fn same_rule(a: &RuleRef, b: &RuleRef) -> bool {
    a.backend == b.backend
        && a.family == b.family
        && a.table == b.table
        && a.chain == b.chain
        && a.text == b.text
        && a.is_policy == b.is_policy
}

/// The first packet whose decision does not meet the goal, with its verdict.
fn first_unmet<'p>(
    engine: &dyn Engine,
    packets: &'p [Packet],
    goal: Goal,
) -> Option<(&'p Packet, Verdict)> {
    packets.iter().find_map(|p| {
        let v = engine.explain(p).overall;
        (!goal.reached(&v.decision)).then_some((p, v))
    })
}

/// The rule to act on: for opening, the one that blocks; for closing, the one that accepts
/// (an accept decided by no rule at all needs a rule of our own: see [`close_anew`]).
fn deciding_rule(v: &Verdict, goal: Goal) -> Option<RuleRef> {
    match goal {
        Goal::Open => blocking_rule(v),
        Goal::Close => v.decided_by.clone().or_else(|| Some(own_table_marker())),
    }
}

/// Stands for "no rule accepts; nothing to act on but a table of our own".
fn own_table_marker() -> RuleRef {
    RuleRef {
        backend: Backend::Nftables,
        family: Family::Inet,
        table: OWN_TABLE.into(),
        chain: OWN_CHAIN.into(),
        handle: None,
        position: 0,
        text: "(no rule: accepted by default)".into(),
        comment: None,
        is_policy: true,
    }
}

/// The nft table portdoctor keeps its own blocking rules in.
pub const OWN_TABLE: &str = "portdoctor";
/// Its input chain.
pub const OWN_CHAIN: &str = "input";

/// The rule to get past: the deciding rule, or the earliest of the deciders of the first
/// decider's chain (a step placed before it gets past all of them in that chain).
fn blocking_rule(v: &Verdict) -> Option<RuleRef> {
    if let Some(r) = &v.decided_by {
        return Some(r.clone());
    }
    let first = v.deciders.first()?;
    let same_chain = |r: &&RuleRef| {
        r.backend == first.backend
            && r.family == first.family
            && r.table == first.table
            && r.chain == first.chain
    };
    let rules = v.deciders.iter().filter(same_chain);
    rules
        .clone()
        .filter(|r| !r.is_policy)
        .min_by_key(|r| r.position)
        .or_else(|| rules.clone().next())
        .cloned()
}

fn unblockable(v: &Verdict) -> String {
    match &v.decision {
        Decision::Unknown(r) => {
            format!("the verdict cannot be known ({r}), so no fix can be checked")
        }
        _ => "no rule decides the verdict, so there is no place for a fix".into(),
    }
}

fn by_hand(managers: &[Box<dyn Manager>], rule: &RuleRef, packet: &Packet) -> String {
    let what = manager::owner(managers, rule)
        .and_then(|m| m.attribute(rule, packet, &[]))
        .map_or_else(|| format!("`{}`", rule.text), |r| r.describe());
    format!(
        "no command can place an allow before {what} in {} {} {}: change that rule by hand",
        rule.family.as_str(),
        rule.table,
        rule.chain
    )
}

/// The owner's step past `rule` (open), or that stops what `rule` accepts (close).
fn step_for(
    managers: &[Box<dyn Manager>],
    rule: &RuleRef,
    packet: &Packet,
    verdict: &Verdict,
    req: &OpenRequest,
    goal: Goal,
) -> Option<OwnedStep> {
    if goal == Goal::Close {
        return close_step(managers, rule, packet, verdict, req);
    }
    let seen = Seen::at(verdict, rule, req);
    if let Some(m) = manager::owner(managers, rule) {
        // The manager phrases its step for the packet as the deciding chain sees it.
        let at = OpenRequest {
            port: seen.port,
            to: seen.dest.clone(),
            ..req.clone()
        };
        let step = m.plan_open(rule, packet, &verdict.trace, &at)?;
        return Some(OwnedStep {
            owner: Owner {
                backend: rule.backend,
                manager: Some(m.kind()),
            },
            step,
        });
    }
    let step = match rule.backend {
        Backend::Nftables => nft_step(rule, req, &seen)?,
        Backend::IptablesLegacy | Backend::IptablesNft => iptables_step(rule, packet, req, &seen)?,
        Backend::WindowsFirewall | Backend::Pf => return None,
    };
    Some(OwnedStep {
        owner: Owner {
            backend: rule.backend,
            manager: None,
        },
        step,
    })
}

/// The packet as the deciding rule sees it: after a DNAT, the translated destination and
/// port (a rule in FORWARD or DOCKER-USER never sees the host's port).
struct Seen {
    port: u16,
    dest: Option<String>,
    /// `(the DNAT'd destination 172.17.0.2:80 of port 8080)` for titles.
    note: String,
}

impl Seen {
    fn at(v: &Verdict, rule: &RuleRef, req: &OpenRequest) -> Seen {
        let delivery = v.delivery.as_ref().or_else(|| {
            v.endpoints
                .iter()
                .find(|e| e.decided_by.as_ref() == Some(rule))
                .and_then(|e| e.delivery.as_ref())
        });
        match delivery.and_then(|d| d.socket()) {
            Some(to) => Seen {
                port: to.port(),
                dest: Some(to.ip().to_string()),
                note: format!(
                    " (there the connection to port {} is already DNAT'd to {to})",
                    req.port
                ),
            },
            None => Seen {
                port: req.port,
                dest: None,
                note: String::new(),
            },
        }
    }
}

fn spec<'r>(req: &'r OpenRequest, seen: &'r Seen) -> AcceptSpec<'r> {
    AcceptSpec {
        proto: &req.proto,
        port: seen.port,
        source: req.from.as_deref(),
        dest: seen.dest.as_deref(),
        comment: Some(&req.tag),
    }
}

fn place(rule: &RuleRef) -> Place {
    Place {
        backend: rule.backend,
        family: rule.family,
        table: rule.table.clone(),
        chain: rule.chain.clone(),
        before: (!rule.is_policy).then_some(rule.position),
    }
}

fn who(req: &OpenRequest) -> String {
    req.from
        .as_ref()
        .map_or(String::new(), |f| format!(" from {f}"))
}

/// `80/tcp from 198.18.0.2 to 172.17.0.2`, or `8080/tcp from 198.18.0.2` without a DNAT.
fn what(req: &OpenRequest, seen: &Seen) -> String {
    let to = seen
        .dest
        .as_ref()
        .map_or(String::new(), |d| format!(" to {d}"));
    format!("{}/{}{}{to}", seen.port, req.proto, who(req))
}

/// `nft insert rule FAM TABLE CHAIN position H …` before the rule, or `nft add rule …` when a
/// policy decided.
fn nft_step(rule: &RuleRef, req: &OpenRequest, seen: &Seen) -> Option<PlanStep> {
    let s = spec(req, seen);
    let model = nft_accept(&s)?;
    let (fam, table, chain) = (rule.family.as_str(), &rule.table, &rule.chain);
    let mut argv: Vec<String> = vec!["nft".into()];
    let title = match (rule.is_policy, rule.handle) {
        (false, Some(h)) => {
            argv.extend(["insert", "rule", fam, table, chain, "position"].map(String::from));
            argv.push(h.to_string());
            format!(
                "Allow {} in nftables, before rule {h} (`{}`) of {fam} {table} {chain}{}",
                what(req, seen),
                rule.text,
                seen.note
            )
        }
        (false, None) => {
            argv.extend(["insert", "rule", fam, table, chain, "index"].map(String::from));
            argv.push((rule.position - 1).to_string());
            format!(
                "Allow {} in nftables, before `{}` in {fam} {table} {chain}{}",
                what(req, seen),
                rule.text,
                seen.note
            )
        }
        (true, _) => {
            argv.extend(["add", "rule", fam, table, chain].map(String::from));
            format!(
                "Allow {} in nftables chain {fam} {table} {chain} (its policy drops){}",
                what(req, seen),
                seen.note
            )
        }
    };
    argv.extend(nft_words(&s));
    Some(PlanStep {
        title,
        commands: vec![Argv(argv)],
        stdin: None,
        edits: vec![Edit::Insert {
            place: place(rule),
            rule: model,
        }],
        undo: vec![],
    })
}

/// `iptables-<flavour> [-t T] -I CHAIN POS …` before the rule, or `-A CHAIN …` after a policy.
fn iptables_step(
    rule: &RuleRef,
    packet: &Packet,
    req: &OpenRequest,
    seen: &Seen,
) -> Option<PlanStep> {
    let s = spec(req, seen);
    let model = iptables_accept(&s, &rule.chain)?;
    let v6 = rule.family == Family::Ip6 || packet.src.is_ipv6();
    let flavour = if rule.backend == Backend::IptablesLegacy {
        "legacy"
    } else {
        "nft"
    };
    let program = format!("{}-{flavour}", if v6 { "ip6tables" } else { "iptables" });
    let mut head: Vec<String> = vec![program.clone()];
    if rule.table != "filter" {
        head.extend(["-t".into(), rule.table.clone()]);
    }
    let mut argv = head.clone();
    let place_text = if rule.is_policy {
        argv.extend(["-A".into(), rule.chain.clone()]);
        format!(
            "at the end of {}/{} (its policy drops)",
            rule.table, rule.chain
        )
    } else {
        argv.extend(["-I".into(), rule.chain.clone(), rule.position.to_string()]);
        format!(
            "before rule {} of {}/{}",
            rule.position, rule.table, rule.chain
        )
    };
    argv.extend(iptables_words(&s));
    let mut undo = head;
    undo.extend(["-D".into(), rule.chain.clone()]);
    undo.extend(iptables_words(&s));
    Some(PlanStep {
        title: format!(
            "Allow {} with {program}, {place_text}{}",
            what(req, seen),
            seen.note
        ),
        commands: vec![Argv(argv)],
        stdin: None,
        edits: vec![Edit::Insert {
            place: place(rule),
            rule: model,
        }],
        undo: vec![Argv(undo)],
    })
}

/// The step that stops `packet` where `rule` accepts it: the manager in charge says how; on a
/// raw host a drop in portdoctor's own nft table, which no accept elsewhere can undo (a drop
/// in any base chain is final).
fn close_step(
    managers: &[Box<dyn Manager>],
    rule: &RuleRef,
    packet: &Packet,
    verdict: &Verdict,
    req: &OpenRequest,
) -> Option<OwnedStep> {
    if let Some(m) = manager::owner(managers, rule) {
        let step = m.plan_close(rule, packet, &verdict.trace, req)?;
        return Some(OwnedStep {
            owner: Owner {
                backend: rule.backend,
                manager: Some(m.kind()),
            },
            step,
        });
    }
    if let Some(m) = managers.first() {
        // A manager runs this host but the accept is not its rule: ask it anyway (its own
        // deny goes where its rules are evaluated).
        if let Some(step) = m.plan_close(rule, packet, &verdict.trace, req) {
            return Some(OwnedStep {
                owner: Owner {
                    backend: rule.backend,
                    manager: Some(m.kind()),
                },
                step,
            });
        }
    }
    Some(OwnedStep {
        owner: Owner {
            backend: Backend::Nftables,
            manager: None,
        },
        step: close_anew(req)?,
    })
}

/// `nft -f -` with our own table: `tcp dport P drop` first in a base chain at priority
/// filter - 10 (before the usual filter chains; drop is final wherever it is).
pub fn close_anew(req: &OpenRequest) -> Option<PlanStep> {
    let s = AcceptSpec {
        comment: Some(&req.tag),
        ..req.accept_spec()
    };
    let mut rule = nft_accept(&s)?;
    rule.action = Action::Drop;
    rule.text = rule.text.replace(" accept", " drop");
    let words = nft_words(&s).join(" ").replace(" accept", " drop");
    let script = format!(
        "table inet {OWN_TABLE} {{\n  chain {OWN_CHAIN} {{\n    type filter hook input priority -10; policy accept;\n  }}\n}}\ninsert rule inet {OWN_TABLE} {OWN_CHAIN} {words}\n"
    );
    Some(PlanStep {
        title: format!(
            "Drop {}/{}{} in portdoctor's own nftables table (a drop is final, whatever else accepts)",
            req.port,
            req.proto,
            who(req)
        ),
        commands: vec![Argv::new(["nft", "-f", "-"])],
        stdin: Some(script),
        edits: vec![
            Edit::AddBaseChain {
                backend: Backend::Nftables,
                family: Family::Inet,
                table: OWN_TABLE.into(),
                chain: crate::model::Chain {
                    name: OWN_CHAIN.into(),
                    handle: None,
                    base: Some(BaseChain {
                        hook: Hook::Input,
                        chain_type: "filter".into(),
                        priority: -10,
                        policy: Policy::Accept,
                        devices: vec![],
                    }),
                    rules: vec![],
                },
            },
            Edit::Insert {
                place: Place {
                    backend: Backend::Nftables,
                    family: Family::Inet,
                    table: OWN_TABLE.into(),
                    chain: OWN_CHAIN.into(),
                    before: Some(1),
                },
                rule,
            },
        ],
        undo: vec![],
    })
}

/// A step phrased by an engine that plans its own fixes (Windows Defender Firewall, pf): its
/// first option that it verified, as the engine carries it out ([`Engine::fix_step`]), else
/// as argument vectors of its shell (`powershell -NoProfile -Command LINE`, `cmd /C LINE`).
/// A POSIX shell line is never run: an engine that writes them must give its own step.
fn engine_step(
    engine: &dyn Engine,
    rule: &RuleRef,
    packet: &Packet,
    req: &OpenRequest,
) -> Option<OwnedStep> {
    let options = engine.fix_options(packet, req);
    let o = options
        .iter()
        .find(|o| o.verified)
        .or_else(|| options.first())?;
    let step = match engine.fix_step(o, req) {
        Some(step) => step,
        None => PlanStep {
            title: o.summary.clone(),
            commands: o.commands.iter().map(shell_argv).collect::<Option<_>>()?,
            stdin: None,
            edits: o.edits.clone(),
            undo: vec![],
        },
    };
    Some(OwnedStep {
        owner: Owner {
            backend: rule.backend,
            manager: None,
        },
        step,
    })
}

/// A PowerShell or cmd line as the argument vector that runs it; `None` for a POSIX line.
fn shell_argv(c: &crate::fix::FixCommand) -> Option<Argv> {
    match c.shell {
        crate::fix::Shell::PowerShell => Some(Argv::new([
            "powershell",
            "-NoProfile",
            "-Command",
            c.line.as_str(),
        ])),
        crate::fix::Shell::Cmd => Some(Argv::new(["cmd", "/C", c.line.as_str()])),
        crate::fix::Shell::Sh => None,
    }
}
