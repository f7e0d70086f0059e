//! pf evaluation of one inbound packet: rules first to last, the last matching `pass`/`block`
//! decides unless a `quick` rule ends evaluation; anchors are evaluated where they stand
//! (`x/*`: each child anchor in name order); no match passes. Undecided conditions fork the
//! evaluation; the answer is definite only when every path agrees.

use super::PfFirewall;
use super::model::{BlockHow, BlockPolicy, Host, HostTerm, PfAction, PfDir, PfRule, Side};
use crate::model::{
    Backend, CtState, Decision, Family, Packet, Proto, RejectKind, RuleRef, Step, StepKind, Verdict,
};
use std::cell::RefCell;
use std::net::IpAddr;

/// Most evaluation paths followed before the answer is unknown.
pub const MAX_PATHS: usize = 256;
/// Deepest anchor nesting followed.
const MAX_DEPTH: usize = 16;

/// Assumption made about `no-route` / `urpf-failed`.
pub const ROUTABLE: &str = "the source is routable (the host has a route back to it): `no-route` and `urpf-failed` do not match";

/// Reference to a pf rule: `table` = anchor path (empty for the main ruleset), `chain` =
/// `filter`, `position` = rule number (pf counts from 0), `comment` = label.
pub fn rule_ref(anchor: &str, r: &PfRule) -> RuleRef {
    RuleRef {
        backend: Backend::Pf,
        family: Family::Inet,
        table: anchor.to_string(),
        chain: "filter".into(),
        handle: None,
        position: r.number,
        text: r.text.clone(),
        comment: r.label.clone(),
        is_policy: false,
    }
}

/// Reference to a ruleset-wide behaviour (default pass, state, skip, pf disabled).
pub fn policy_ref(text: &str) -> RuleRef {
    RuleRef {
        backend: Backend::Pf,
        family: Family::Inet,
        table: String::new(),
        chain: "filter".into(),
        handle: None,
        position: 0,
        text: text.to_string(),
        comment: None,
        is_policy: true,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tri {
    Yes,
    No,
    Maybe(String),
}

impl Tri {
    fn not(self) -> Tri {
        match self {
            Tri::Yes => Tri::No,
            Tri::No => Tri::Yes,
            m => m,
        }
    }
    fn and(self, o: impl FnOnce() -> Tri) -> Tri {
        match self {
            Tri::No => Tri::No,
            Tri::Yes => o(),
            Tri::Maybe(w) => match o() {
                Tri::No => Tri::No,
                Tri::Maybe(v) => Tri::Maybe(format!("{w}; {v}")),
                Tri::Yes => Tri::Maybe(w),
            },
        }
    }
    /// Any of the items (pf expands `{ a, b }` lists into one rule each).
    fn any(items: impl IntoIterator<Item = Tri>) -> Tri {
        let mut maybe = None;
        for t in items {
            match t {
                Tri::Yes => return Tri::Yes,
                Tri::Maybe(w) => maybe = Some(w),
                Tri::No => {}
            }
        }
        maybe.map_or(Tri::No, Tri::Maybe)
    }
}

/// The last decisive rule of one evaluation path.
#[derive(Debug, Clone)]
struct Hit {
    rule: RuleRef,
    block: Option<BlockHow>,
}

#[derive(Debug, Clone, Default)]
struct Path {
    last: Option<Hit>,
    done: bool,
    /// A pass/block rule matched since entering the current anchor (for `anchor … quick`).
    hit: bool,
    why: Vec<String>,
    unread: Vec<String>,
    trace: Vec<Step>,
}

pub(crate) struct Ctx<'a> {
    pub fw: &'a PfFirewall,
    pub pkt: &'a Packet,
    pub assumptions: RefCell<Vec<String>>,
}

impl Ctx<'_> {
    fn assume(&self, a: String) {
        let mut v = self.assumptions.borrow_mut();
        if !v.contains(&a) {
            v.push(a);
        }
    }
}

impl PfFirewall {
    /// pf's verdict alone (the Application Firewall is separate: [`PfFirewall::alf_verdict`]).
    pub fn evaluate_pf(&self, pkt: &Packet) -> Verdict {
        let pkt = &on_bsd(pkt);
        if self.enabled == Some(false) {
            return policy(
                Decision::Accept,
                "pf is disabled (pfctl -s info: Status: Disabled)",
                vec![],
            );
        }
        if let Some(i) = self.skipped(pkt) {
            return policy(
                Decision::Accept,
                &format!("set skip on {i}: pf does not filter this interface"),
                vec![],
            );
        }
        if matches!(pkt.ct_state, CtState::Established | CtState::Related) {
            return policy(
                Decision::Accept,
                "state table: packets of an existing connection match its state, not the rules",
                vec![
                    "the connection's state exists (it was passed when it started); a block rule \
                      added since does not cut it until its states are killed (pfctl -k)"
                        .into(),
                ],
            );
        }
        let ctx = Ctx {
            fw: self,
            pkt,
            assumptions: RefCell::new(vec![]),
        };
        let paths = ctx.run(&self.main, "", vec![Path::default()], 0);
        let mut v = ctx.finish(paths);
        v.assumptions.extend(ctx.assumptions.into_inner());
        if let Some(first) = self.redirects.first() {
            v.assumptions.push(format!(
                "no redirection applies to the packet: {} rdr/binat statement(s) are not \
                 evaluated (e.g. `{first}`); pf filters the redirected packet",
                self.redirects.len()
            ));
        }
        v
    }

    /// The interface of `set skip on …` the packet arrives on, if any.
    fn skipped(&self, pkt: &Packet) -> Option<String> {
        let iif = match &pkt.iif {
            Some(i) => i.clone(),
            None if pkt.dst.is_loopback() => "lo0".to_string(),
            None => return None,
        };
        self.skip.iter().find(|s| if_match(s, &iif)).cloned()
    }
}

fn policy(d: Decision, text: &str, assumptions: Vec<String>) -> Verdict {
    Verdict::decided(d, policy_ref(text), text.to_string(), assumptions)
}

fn step(kind: StepKind, r: &RuleRef, detail: String) -> Step {
    Step {
        kind,
        backend: Backend::Pf,
        table: r.table.clone(),
        chain: r.chain.clone(),
        position: r.position,
        handle: None,
        detail,
    }
}

/// `pkt` as a BSD sees it: the loopback interface is `lo0`. A packet from Linux's loopback
/// viewpoint (an offline ruleset read on Linux) arrives on `lo`, which on a BSD is only the
/// interface group, so `set skip on lo0` and `pass on lo0` would miss it.
fn on_bsd(pkt: &Packet) -> std::borrow::Cow<'_, Packet> {
    if pkt.iif.as_deref() == Some("lo") {
        let mut p = pkt.clone();
        p.iif = Some("lo0".into());
        std::borrow::Cow::Owned(p)
    } else {
        std::borrow::Cow::Borrowed(pkt)
    }
}

/// Interface name or group (`lo` covers `lo0`; `egress` and other groups are not known).
pub(crate) fn if_match(spec: &str, iif: &str) -> bool {
    if spec == iif {
        return true;
    }
    let ends_digit = spec.chars().last().is_some_and(|c| c.is_ascii_digit());
    !ends_digit
        && iif
            .strip_prefix(spec)
            .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c.is_ascii_digit()))
}

/// Joins an anchor name to the anchor it is written in (`/x` is absolute).
pub(crate) fn join(base: &str, name: &str) -> String {
    if let Some(abs) = name.strip_prefix('/') {
        return abs.to_string();
    }
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

impl Ctx<'_> {
    fn run(&self, rules: &[PfRule], anchor: &str, mut paths: Vec<Path>, depth: usize) -> Vec<Path> {
        for r in rules {
            if paths.iter().all(|p| p.done) {
                break;
            }
            let m = self.matches(r);
            let mut next = vec![];
            for p in paths {
                if p.done {
                    next.push(p);
                    continue;
                }
                match &m {
                    Tri::No => next.push(p),
                    Tri::Yes => next.extend(self.apply(r, anchor, p, depth)),
                    Tri::Maybe(w) => {
                        let rf = rule_ref(anchor, r);
                        let mut skip = p.clone();
                        skip.why
                            .push(format!("rule {} (`{}`): {w}", r.number, r.text));
                        skip.trace.push(step(StepKind::Undecided, &rf, w.clone()));
                        let taken = skip.clone();
                        next.push(skip);
                        next.extend(self.apply(r, anchor, taken, depth));
                    }
                }
            }
            let next = merge(next);
            if next.len() > MAX_PATHS {
                let mut p = Path::default();
                p.unread
                    .push(format!("more than {MAX_PATHS} undecided evaluation paths"));
                return vec![p];
            }
            paths = next;
        }
        paths
    }

    fn apply(&self, r: &PfRule, anchor: &str, mut p: Path, depth: usize) -> Vec<Path> {
        let rf = rule_ref(anchor, r);
        let block = match &r.action {
            PfAction::Match => return vec![p],
            PfAction::Pass => None,
            PfAction::Block(how) => Some(*how),
            PfAction::Anchor { name, inline } => {
                return self.anchor(r, anchor, name, inline.as_deref(), p, depth);
            }
        };
        p.hit = true;
        p.trace.push(step(
            StepKind::Matched,
            &rf,
            format!(
                "matches{}: {}",
                if r.quick { " (quick)" } else { "" },
                r.text
            ),
        ));
        p.last = Some(Hit { rule: rf, block });
        if r.quick {
            p.done = true;
        }
        vec![p]
    }

    fn anchor(
        &self,
        r: &PfRule,
        base: &str,
        name: &str,
        inline: Option<&[PfRule]>,
        p: Path,
        depth: usize,
    ) -> Vec<Path> {
        let outer_hit = p.hit;
        let mut p = p;
        p.hit = false;
        let out = if depth >= MAX_DEPTH {
            let mut p = p;
            p.unread
                .push(format!("anchors nested deeper than {MAX_DEPTH}"));
            vec![p]
        } else if let Some(rules) = inline {
            let path = join(base, name.trim_end_matches("/*"));
            self.run(rules, &path, vec![p], depth + 1)
        } else {
            self.named_anchor(base, name, p, depth)
        };
        out.into_iter()
            .map(|mut x| {
                if r.quick && x.hit {
                    x.done = true;
                }
                x.hit |= outer_hit;
                x
            })
            .collect()
    }

    /// An anchor by name: its rules when read, or each child for `x/*`.
    fn named_anchor(&self, base: &str, name: &str, p: Path, depth: usize) -> Vec<Path> {
        let fw = self.fw;
        let targets: Vec<String> = match name.strip_suffix("/*") {
            Some(parent) => {
                let parent = join(base, parent);
                let pre = format!("{parent}/");
                let mut kids: Vec<String> = fw
                    .anchors
                    .keys()
                    .filter(|k| {
                        k.strip_prefix(&pre)
                            .is_some_and(|rest| !rest.is_empty() && !rest.contains('/'))
                    })
                    .cloned()
                    .collect();
                kids.sort();
                if !fw.anchors.contains_key(&parent) {
                    // The parent's own list of children was not read: children other than
                    // the ones known (e.g. added by an edit) may exist.
                    let p = self.unread(p, &format!("{parent}/*"));
                    return self.each(kids, p, depth);
                }
                kids
            }
            None => {
                let path = join(base, name);
                if !fw.anchors.contains_key(&path) {
                    return vec![self.unread(p, &path)];
                }
                vec![path]
            }
        };
        self.each(targets, p, depth)
    }

    /// Evaluates the named anchors in order.
    fn each(&self, targets: Vec<String>, p: Path, depth: usize) -> Vec<Path> {
        let mut paths = vec![p];
        for t in targets {
            if let Some(rules) = self.fw.anchors.get(&t) {
                paths = self.run(rules, &t, paths, depth + 1);
            }
        }
        paths
    }

    fn unread(&self, mut p: Path, path: &str) -> Path {
        if self.fw.assume_unread_anchors_empty {
            self.assume(format!(
                "anchor `{path}` holds no rules (its rules were not read)"
            ));
        } else {
            p.unread.push(format!(
                "the rules of anchor `{path}` were not read (pfctl -a '{path}' -sr, or pfctl -a '*' -sr)"
            ));
        }
        p
    }

    /// Whether rule `r`'s conditions hold for the packet.
    pub(crate) fn matches(&self, r: &PfRule) -> Tri {
        let pkt = self.pkt;
        let dir = match r.dir {
            PfDir::Out => return Tri::No,
            _ => Tri::Yes,
        };
        dir.and(|| self.on(r))
            .and(|| match r.af {
                Some(f) if f != pkt.family => Tri::No,
                _ => Tri::Yes,
            })
            .and(|| {
                if r.protos.is_empty() || r.protos.contains(&pkt.proto.number()) {
                    Tri::Yes
                } else {
                    Tri::No
                }
            })
            .and(|| self.side(&r.from, pkt.src, pkt.sport, true))
            .and(|| self.side(&r.to, pkt.dst, pkt.dport, false))
            .and(|| match r.flags {
                Some((set, mask)) if pkt.proto == Proto::Tcp => {
                    if pkt.tcp_flags & mask == set {
                        Tri::Yes
                    } else {
                        Tri::No
                    }
                }
                _ => Tri::Yes,
            })
            .and(|| {
                let icmp = matches!(pkt.proto, Proto::Icmp | Proto::Icmpv6);
                Tri::any(
                    std::iter::once(Tri::Yes)
                        .filter(|_| r.unmodelled.is_empty())
                        .chain(r.unmodelled.iter().map(|u| {
                            if u.text.starts_with("icmp") && !icmp {
                                Tri::No
                            } else {
                                Tri::Maybe(format!("`{}` is not modelled", u.text))
                            }
                        })),
                )
            })
    }

    fn on(&self, r: &PfRule) -> Tri {
        if r.on.is_empty() {
            return Tri::Yes;
        }
        let Some(iif) = &self.pkt.iif else {
            return Tri::Maybe("the packet's interface is unknown".into());
        };
        Tri::any(r.on.iter().map(|t| {
            let m = if if_match(&t.name, iif) {
                Tri::Yes
            } else if t.name == "egress" || t.name == "all" {
                Tri::Maybe(format!("interface group `{}` is not known offline", t.name))
            } else {
                Tri::No
            };
            if t.negated { m.not() } else { m }
        }))
    }

    fn side(&self, s: &Side, addr: IpAddr, port: u16, src: bool) -> Tri {
        let hosts = if s.hosts.is_empty() {
            Tri::Yes
        } else {
            Tri::any(s.hosts.iter().map(|h| self.host(h, addr, src)))
        };
        hosts.and(|| {
            if s.ports.is_empty() {
                Tri::Yes
            } else if !self.pkt.proto.has_ports() {
                Tri::No
            } else if s.ports.iter().any(|p| p.holds(port)) {
                Tri::Yes
            } else {
                Tri::No
            }
        })
    }

    fn host(&self, h: &HostTerm, a: IpAddr, src: bool) -> Tri {
        let t = match &h.host {
            Host::Any => Tri::Yes,
            Host::Range(r) => bool_tri(r.contains(a)),
            Host::Table(name) => self.table(name, a),
            Host::SelfAddr if !src => Tri::Yes,
            Host::SelfAddr => self.local(a),
            Host::NoRoute | Host::UrpfFailed => {
                if self.fw.assume_routable_source {
                    self.assume(ROUTABLE.to_string());
                    Tri::No
                } else {
                    Tri::Maybe("whether the source is routable is not known offline".into())
                }
            }
            Host::Interface { name, network } => self.iface(name, *network, a),
            Host::Other(w) => Tri::Maybe(format!("`{w}` is resolved when pf loads the rules")),
        };
        if h.negated { t.not() } else { t }
    }

    fn local(&self, a: IpAddr) -> Tri {
        if a.is_loopback()
            || self
                .fw
                .interfaces
                .iter()
                .any(|(_, rs)| rs.iter().any(|(x, _)| *x == a))
        {
            return Tri::Yes;
        }
        if self.fw.interfaces.is_empty() {
            Tri::Maybe("the host's addresses are unknown".into())
        } else {
            Tri::No
        }
    }

    fn iface(&self, name: &str, network: bool, a: IpAddr) -> Tri {
        if is_loopback_if(name) {
            return bool_tri(a.is_loopback());
        }
        match self.fw.interfaces.iter().find(|(n, _)| n == name) {
            None => Tri::Maybe(format!("the addresses of interface {name} are unknown")),
            Some((_, rs)) => bool_tri(
                rs.iter()
                    .any(|(x, net)| if network { net.contains(a) } else { *x == a }),
            ),
        }
    }

    fn table(&self, name: &str, a: IpAddr) -> Tri {
        let Some(t) = self.fw.tables.get(name) else {
            return Tri::Maybe(format!(
                "table <{name}> was not read (pfctl -t {name} -T show)"
            ));
        };
        if !t.constant && !t.live {
            self.assume(format!(
                "table <{name}> holds what pf.conf declares (it may have changed at run time: \
                 pfctl -t {name} -T show)"
            ));
        }
        // Most specific matching entry decides; `!` entries exclude.
        let best = t
            .entries
            .iter()
            .filter(|(_, r)| r.contains(a))
            .min_by_key(|(_, r)| span_size(r));
        match best {
            Some((neg, _)) => bool_tri(!neg),
            None => {
                let unresolved: Vec<&String> =
                    t.unresolved.iter().filter(|u| !is_loopback_if(u)).collect();
                if t.unresolved.iter().any(|u| is_loopback_if(u)) && a.is_loopback() {
                    Tri::Yes
                } else if unresolved.is_empty() {
                    Tri::No
                } else {
                    Tri::Maybe(format!(
                        "table <{name}> has entries not resolved here: {unresolved:?}"
                    ))
                }
            }
        }
    }

    /// The combined verdict of every path.
    fn finish(&self, paths: Vec<Path>) -> Verdict {
        let mut outcomes: Vec<(Decision, Option<RuleRef>)> = vec![];
        let mut why: Vec<String> = vec![];
        let mut trace = paths.first().map(|p| p.trace.clone()).unwrap_or_default();
        for p in &paths {
            if !p.unread.is_empty() {
                outcomes.push((Decision::Unknown(p.unread.join("; ")), None));
                why.extend(p.unread.iter().cloned());
                continue;
            }
            why.extend(p.why.iter().cloned());
            outcomes.push(match &p.last {
                None => (
                    Decision::Accept,
                    Some(policy_ref("no rule matches: pf passes by default")),
                ),
                Some(h) => (self.decision(h.block), Some(h.rule.clone())),
            });
        }
        let mut distinct: Vec<Decision> = vec![];
        let mut deciders: Vec<RuleRef> = vec![];
        for (d, r) in &outcomes {
            if !distinct.contains(d) {
                distinct.push(d.clone());
            }
            if let Some(r) = r {
                if !deciders.contains(r) {
                    deciders.push(r.clone());
                }
            }
        }
        why.sort();
        why.dedup();
        if distinct.len() == 1 && !matches!(distinct[0], Decision::Unknown(_)) {
            let decided_by = (deciders.len() == 1).then(|| deciders[0].clone());
            if let Some(r) = &decided_by {
                trace.push(step(StepKind::Decided, r, r.text.clone()));
            }
            return Verdict {
                decision: distinct.remove(0),
                decided_by,
                trace,
                redirected_to: None,
                possible: vec![],
                deciders,
                assumptions: vec![],
                delivery: None,
                endpoints: vec![],
                decided_at: None,
            };
        }
        Verdict {
            decision: Decision::Unknown(why.join("; ")),
            decided_by: None,
            trace,
            redirected_to: None,
            possible: distinct,
            deciders,
            assumptions: vec![],
            delivery: None,
            endpoints: vec![],
            decided_at: None,
        }
    }

    /// What the client sees for a block rule.
    fn decision(&self, how: Option<BlockHow>) -> Decision {
        let Some(how) = how else {
            return Decision::Accept;
        };
        let tcp = self.pkt.proto == Proto::Tcp;
        let how = match how {
            BlockHow::Policy if self.fw.block_policy == BlockPolicy::Return => BlockHow::Return,
            BlockHow::Policy => BlockHow::Drop,
            h => h,
        };
        match how {
            BlockHow::Drop | BlockHow::Policy => Decision::Drop,
            BlockHow::Return | BlockHow::ReturnRst if tcp => Decision::Reject(RejectKind::TcpReset),
            BlockHow::ReturnRst => Decision::Drop,
            BlockHow::Return | BlockHow::ReturnIcmp => {
                Decision::Reject(RejectKind::PortUnreachable)
            }
        }
    }
}

/// Paths in the same state (same last decisive rule, same `quick` end, same match count,
/// same unread anchors) lead to the same outcomes: keep one, with every reason. Last-match
/// evaluation then grows with the rules, not exponentially with the undecided ones.
fn merge(paths: Vec<Path>) -> Vec<Path> {
    let mut out: Vec<Path> = Vec::with_capacity(paths.len());
    for p in paths {
        let same = |q: &Path| {
            q.done == p.done
                && q.hit == p.hit
                && q.unread == p.unread
                && q.last.as_ref().map(|h| (&h.rule, h.block))
                    == p.last.as_ref().map(|h| (&h.rule, h.block))
        };
        match out.iter_mut().find(|q| same(q)) {
            Some(q) => {
                for w in p.why {
                    if !q.why.contains(&w) {
                        q.why.push(w);
                    }
                }
            }
            None => out.push(p),
        }
    }
    out
}

fn bool_tri(b: bool) -> Tri {
    if b { Tri::Yes } else { Tri::No }
}

/// `lo0`, `lo`: the loopback interface.
pub(crate) fn is_loopback_if(name: &str) -> bool {
    name.strip_prefix("lo")
        .is_some_and(|d| d.chars().all(|c| c.is_ascii_digit()))
}

/// Number of addresses in a range, saturated (for "most specific").
fn span_size(r: &crate::addr::IpRange) -> u128 {
    match (r.lo, r.hi) {
        (IpAddr::V4(a), IpAddr::V4(b)) => u128::from(u32::from(b).saturating_sub(u32::from(a))),
        (IpAddr::V6(a), IpAddr::V6(b)) => u128::from(b).saturating_sub(u128::from(a)),
        _ => u128::MAX,
    }
}
