//! Windows Defender Firewall evaluation of one inbound packet, in Microsoft's documented
//! order: authenticated bypass > block > allow > the profile's default inbound action, after
//! the profile-wide switches (firewall off; "block all incoming connections").
//!
//! There is no rule order: every matching block rule blocks, whatever allow rules exist.

use super::WindowsFirewall;
use super::filter::{self, Env, FilterField, Tri};
use super::model::{Direction, Profile, ProfileSettings, RuleAction, Setting, Store, WinRule};
use crate::model::{Backend, Decision, Family, Packet, RuleRef, Step, StepKind, Verdict};
use serde::{Deserialize, Serialize};

/// Assumption stated when a bypass or IPsec rule was set aside.
pub const NOT_AUTHENTICATED: &str =
    "the packet is not IPsec-authenticated: authenticated-bypass and IPsec-only rules do not apply";
/// Assumption about edge traversal.
pub const DIRECT: &str = "the packet arrives directly (not over an edge/Teredo interface): edge \
                          traversal settings have no effect";

/// An allow rule that would match but for one condition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NearMiss {
    /// The rule.
    pub rule: RuleRef,
    /// The one condition that fails.
    pub field: FilterField,
    /// Why, in words.
    pub mismatch: String,
}

/// Rule reference of rule `i` (1-based position in the loaded list). Mapping: `table` = policy
/// store, `chain` = group, `text` = display name, `comment` = the unique name (InstanceID).
pub fn rule_ref(i: usize, r: &WinRule) -> RuleRef {
    RuleRef {
        backend: Backend::WindowsFirewall,
        family: Family::Inet,
        table: r.store.label().to_string(),
        chain: r.group.clone(),
        handle: None,
        position: i + 1,
        text: r.display_name.clone(),
        comment: Some(r.name.clone()),
        is_policy: false,
    }
}

/// Reference to a profile-level setting (firewall off, block all, default inbound action).
pub fn profile_ref(p: Profile, text: String) -> RuleRef {
    RuleRef {
        backend: Backend::WindowsFirewall,
        family: Family::Inet,
        table: "profile".into(),
        chain: p.name().into(),
        handle: None,
        position: 0,
        text,
        comment: None,
        is_policy: true,
    }
}

impl WindowsFirewall {
    /// The settings of profile `p` (Windows' defaults when not read).
    pub fn settings(&self, p: Profile) -> ProfileSettings {
        self.profiles
            .iter()
            .find(|s| s.profile == p)
            .cloned()
            .unwrap_or_else(|| ProfileSettings::default_for(p))
    }

    /// The profile(s) the packet may arrive on, with the assumption made, if any.
    pub(crate) fn arriving_profiles(&self, pkt: &Packet) -> (Vec<Profile>, Option<String>) {
        if let Some(i) = pkt.iif.as_deref().and_then(|a| self.interface(a)) {
            return (vec![i.profile], None);
        }
        if let Some([one]) = self.current_profiles.as_deref() {
            return (
                vec![*one],
                Some(format!(
                    "the packet arrives on the current profile's ({}) network",
                    one.name()
                )),
            );
        }
        let mut ps: Vec<Profile> = self.interfaces.iter().map(|i| i.profile).collect();
        ps.sort();
        ps.dedup();
        if ps.len() == 1 {
            let why = format!("every known interface is on a {} network", ps[0].name());
            return (ps, Some(why));
        }
        (Profile::ALL.to_vec(), None)
    }

    fn interface(&self, alias: &str) -> Option<&super::model::Interface> {
        self.interfaces
            .iter()
            .find(|i| i.alias.eq_ignore_ascii_case(alias))
    }

    fn env<'a>(&'a self, pkt: &'a Packet, p: Profile) -> Env<'a> {
        Env {
            pkt,
            profile: p,
            iface: pkt.iif.as_deref().and_then(|a| self.interface(a)),
            all_ifaces: &self.interfaces,
            vars: &self.environment,
            reasons: false,
        }
    }

    /// Evaluates `pkt`: one verdict, definite when every possible arriving profile agrees.
    pub fn evaluate(&self, pkt: &Packet) -> Verdict {
        if pkt.dst.is_loopback() {
            return loopback_accepted();
        }
        let (profiles, assumption) = self.arriving_profiles(pkt);
        let mut verdicts: Vec<(Profile, Verdict)> = profiles
            .iter()
            .map(|p| (*p, self.evaluate_in(pkt, *p)))
            .collect();
        if verdicts.len() == 1 {
            let (_, mut v) = verdicts.remove(0);
            v.assumptions.extend(assumption);
            return v;
        }
        let first = verdicts[0].1.clone();
        if verdicts.iter().all(|(_, v)| v.decision == first.decision) {
            let mut v = first;
            for (_, x) in &verdicts[1..] {
                if x.decided_by != v.decided_by {
                    v.decided_by = None;
                }
                for d in &x.deciders {
                    if !v.deciders.contains(d) {
                        v.deciders.push(d.clone());
                    }
                }
            }
            v.assumptions.push(format!(
                "the profile of the arriving network is unknown; all three profiles give {}",
                describe(&v.decision)
            ));
            return v;
        }
        let mut v = Verdict::unknown(format!(
            "the profile of the network the packet arrives on is unknown (give the interface \
             with Get-NetConnectionProfile): {}",
            verdicts
                .iter()
                .map(|(p, v)| format!("{}: {}", p.name(), describe(&v.decision)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        for (_, x) in &verdicts {
            if !v.possible.contains(&x.decision) {
                v.possible.push(x.decision.clone());
            }
            for d in &x.deciders {
                if !v.deciders.contains(d) {
                    v.deciders.push(d.clone());
                }
            }
        }
        v
    }

    /// Evaluates `pkt` as arriving on a network of profile `p`.
    pub fn evaluate_in(&self, pkt: &Packet, p: Profile) -> Verdict {
        let s = self.settings(p);
        if s.enabled == Setting::Off {
            let r = profile_ref(p, format!("firewall off ({} profile)", p.name()));
            return decided(Decision::Accept, r, vec![]);
        }
        let env = self.env(pkt, p);
        let mut acc = Acc::default();
        for (i, r) in self.rules.iter().enumerate() {
            if !self.rule_counts(r, &s) {
                continue;
            }
            let t = filter::matches(r, &env);
            if matches!(t, Tri::No(_)) && (r.requires_security || r.action == RuleAction::Bypass) {
                acc.set_aside |= only_security_fails(r, &env);
            }
            acc.add(i, r, t, &s);
        }
        acc.finish(p, &s)
    }

    /// Whether a rule takes part at all in profile settings `s` (inbound, local rules merged).
    fn rule_counts(&self, r: &WinRule, s: &ProfileSettings) -> bool {
        r.direction == Direction::In
            && !(r.store == Store::Local && s.allow_local_rules == Setting::Off)
    }

    /// Allow rules that would match `pkt` but for exactly one condition.
    pub fn near_misses(&self, pkt: &Packet) -> Vec<NearMiss> {
        let (profiles, _) = self.arriving_profiles(pkt);
        let Some(&p) = profiles.first() else {
            return vec![];
        };
        let mut env = self.env(pkt, p);
        env.reasons = true;
        let mut out = vec![];
        for (i, r) in self.rules.iter().enumerate() {
            if r.action == RuleAction::Block || r.direction != Direction::In {
                continue;
            }
            let fails: Vec<(FilterField, String)> = filter::check(r, &env)
                .into_iter()
                .filter_map(|(f, t)| match t {
                    Tri::No(why) => Some((f, why)),
                    _ => None,
                })
                .collect();
            if let [(field, why)] = fails.as_slice() {
                out.push(NearMiss {
                    rule: rule_ref(i, r),
                    field: *field,
                    mismatch: why.clone(),
                });
            }
        }
        out
    }

    /// Enabled inbound block rules created by a cancelled firewall prompt (`TCP Query User{…}`)
    /// that match `pkt` (or may).
    pub fn query_user_blocks(&self, pkt: &Packet) -> Vec<RuleRef> {
        let (profiles, _) = self.arriving_profiles(pkt);
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.action == RuleAction::Block && r.is_query_user())
            .filter(|(_, r)| {
                profiles
                    .iter()
                    .any(|p| !matches!(filter::matches(r, &self.env(pkt, *p)), Tri::No(_)))
            })
            .map(|(i, r)| rule_ref(i, r))
            .collect()
    }
}

/// Whether the IPsec condition is the only one of `r` that fails.
fn only_security_fails(r: &WinRule, env: &Env<'_>) -> bool {
    filter::check(r, env)
        .into_iter()
        .filter(|(_, t)| matches!(t, Tri::No(_)))
        .all(|(f, _)| f == FilterField::Security)
}

fn describe(d: &Decision) -> String {
    match d {
        Decision::Accept => "accept".into(),
        Decision::Drop => "drop".into(),
        Decision::Reject(_) => "reject".into(),
        Decision::Unknown(_) => "unknown".into(),
    }
}

/// Connections to a loopback address: Windows Firewall's rules (Windows Firewall with
/// Advanced Security, netsh, the control panel) have no effect on loopback communication
/// (Microsoft KB 2771908); only Windows Service Hardening rules do, and no export shows them.
fn loopback_accepted() -> Verdict {
    let r = RuleRef {
        table: "loopback".into(),
        chain: "loopback".into(),
        ..profile_ref(
            Profile::Public,
            "loopback traffic: Windows Firewall rules do not apply to it (KB 2771908)".into(),
        )
    };
    decided(Decision::Accept, r, vec![])
}

fn decided(d: Decision, r: RuleRef, assumptions: Vec<String>) -> Verdict {
    let detail = format!("{}: {}", describe(&d), r.text);
    Verdict::decided(d, r, detail, assumptions)
}

fn step(kind: StepKind, r: &RuleRef, detail: String) -> Step {
    Step {
        kind,
        backend: Backend::WindowsFirewall,
        table: r.table.clone(),
        chain: r.chain.clone(),
        position: r.position,
        handle: None,
        detail,
    }
}

/// Matches gathered over the rules of one profile.
#[derive(Default)]
struct Acc {
    block_yes: Vec<RuleRef>,
    block_maybe: Vec<(RuleRef, String)>,
    allow_yes: Vec<RuleRef>,
    allow_maybe: Vec<(RuleRef, String)>,
    set_aside: bool,
    trace: Vec<Step>,
}

impl Acc {
    fn add(&mut self, i: usize, r: &WinRule, t: Tri, s: &ProfileSettings) {
        let block = r.action == RuleAction::Block;
        if !block && s.allow_inbound_rules == Setting::Off {
            return;
        }
        match t {
            Tri::No(_) => {}
            Tri::Yes => {
                let rf = rule_ref(i, r);
                let what = if block {
                    "block rule matches"
                } else {
                    "allow rule matches"
                };
                let note = if block && r.is_query_user() {
                    " (a `Query User` rule: Windows created it when the firewall prompt for \
                     this program was cancelled)"
                } else {
                    ""
                };
                self.trace.push(step(
                    StepKind::Matched,
                    &rf,
                    format!("{what}: {}{note}", r.display_name),
                ));
                if block {
                    &mut self.block_yes
                } else {
                    &mut self.allow_yes
                }
                .push(rf);
            }
            Tri::Maybe(why) => {
                let rf = rule_ref(i, r);
                self.trace
                    .push(step(StepKind::Undecided, &rf, format!("may match: {why}")));
                if block {
                    &mut self.block_maybe
                } else {
                    &mut self.allow_maybe
                }
                .push((rf, why));
            }
        }
    }

    /// The verdict: block beats allow beats the default; undecided matches fork.
    fn finish(mut self, p: Profile, s: &ProfileSettings) -> Verdict {
        let mut assumptions = vec![];
        if self.set_aside {
            assumptions.push(NOT_AUTHENTICATED.to_string());
        }
        let default = self.default_outcome(p, s);
        let mut outcomes: Vec<(Decision, Vec<RuleRef>)> = vec![];
        let mut reasons: Vec<String> = vec![];
        if !self.block_yes.is_empty() {
            outcomes.push((Decision::Drop, self.block_yes.clone()));
        } else {
            if !self.block_maybe.is_empty() {
                outcomes.push((
                    Decision::Drop,
                    self.block_maybe.iter().map(|x| x.0.clone()).collect(),
                ));
                reasons.extend(
                    self.block_maybe
                        .iter()
                        .map(|(r, w)| format!("block rule `{}`: {w}", r.text)),
                );
            }
            if !self.allow_yes.is_empty() {
                outcomes.push((Decision::Accept, self.allow_yes.clone()));
            } else {
                if !self.allow_maybe.is_empty() {
                    outcomes.push((
                        Decision::Accept,
                        self.allow_maybe.iter().map(|x| x.0.clone()).collect(),
                    ));
                    reasons.extend(
                        self.allow_maybe
                            .iter()
                            .map(|(r, w)| format!("allow rule `{}`: {w}", r.text)),
                    );
                }
                outcomes.push(default.clone());
            }
        }
        let deciders: Vec<RuleRef> = outcomes.iter().flat_map(|(_, rs)| rs.clone()).collect();
        let distinct: Vec<Decision> = outcomes.iter().fold(vec![], |mut v, (d, _)| {
            if !v.contains(d) {
                v.push(d.clone());
            }
            v
        });
        let mut trace = std::mem::take(&mut self.trace);
        if distinct.len() == 1 {
            let d = distinct[0].clone();
            let decided_by = (deciders.len() == 1).then(|| deciders[0].clone());
            if let Some(r) = &decided_by {
                trace.push(step(
                    StepKind::Decided,
                    r,
                    format!("{}: {}", describe(&d), r.text),
                ));
            }
            return Verdict {
                decision: d,
                decided_by,
                trace,
                redirected_to: None,
                possible: vec![],
                deciders,
                assumptions,
                delivery: None,
                endpoints: vec![],
                decided_at: None,
            };
        }
        Verdict {
            decision: Decision::Unknown(reasons.join("; ")),
            decided_by: None,
            trace,
            redirected_to: None,
            possible: distinct,
            deciders,
            assumptions,
            delivery: None,
            endpoints: vec![],
            decided_at: None,
        }
    }

    /// What happens when no rule decides: the profile's default (or block-all).
    fn default_outcome(&self, p: Profile, s: &ProfileSettings) -> (Decision, Vec<RuleRef>) {
        if s.allow_inbound_rules == Setting::Off {
            let r = profile_ref(
                p,
                format!(
                    "block all incoming connections, allow rules ignored ({} profile)",
                    p.name()
                ),
            );
            return (Decision::Drop, vec![r]);
        }
        let block = s.default_inbound_block.unwrap_or(true);
        let known = if s.default_inbound_block.is_some() {
            ""
        } else {
            " (Windows' default; not read)"
        };
        let r = profile_ref(
            p,
            format!(
                "default inbound action: {} ({} profile){known}",
                if block { "block" } else { "allow" },
                p.name()
            ),
        );
        (
            if block {
                Decision::Drop
            } else {
                Decision::Accept
            },
            vec![r],
        )
    }
}
