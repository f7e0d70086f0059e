//! ufw: attribution of netfilter verdicts to ufw's own rules (the numbers of
//! `ufw status numbered`, their text and comments, the default incoming policy,
//! before.rules / after.rules), and fixes phrased as ufw commands.
//!
//! Facts used (checked with ufw 0.36.2 in a lab namespace): user rules live in
//! `/etc/ufw/user.rules` (IPv4) and `user6.rules` (IPv6) as `### tuple ###` lines followed by
//! the iptables lines loaded into `ufw-user-input` / `ufw6-user-input` in the same order;
//! `ufw status numbered` numbers the IPv4 rules first, then the IPv6 ones; `ufw allow P/T`
//! turns an existing `deny P/T` (or `reject`, `limit`) into an allow in place ("Rule
//! updated"), while `ufw insert N allow P/T` of an identical rule is skipped; `ufw insert N`
//! of an IPv6 rule needs N to be an IPv6 rule's number.

mod plan;
pub mod rules;
pub mod status;

use crate::collect::Runner;
use crate::manager::{
    ConfigProblem, ConfigRoot, ManagedKind, ManagedRule, Manager, ManagerKind, OpenRequest,
    PlanStep,
};
use crate::model::{Backend, Chain, Family, Packet, RuleRef, Step};
use crate::netfilter::Netfilter;
use rules::Tuple;
use status::StatusRule;

/// ufw's chain of user rules for a family.
fn user_chain(family: Family) -> &'static str {
    if family == Family::Ip6 {
        "ufw6-user-input"
    } else {
        "ufw-user-input"
    }
}

/// ufw's chain of route (forward) rules for a family.
fn forward_chain(family: Family) -> &'static str {
    if family == Family::Ip6 {
        "ufw6-user-forward"
    } else {
        "ufw-user-forward"
    }
}

/// ufw's state, as read from its files and `ufw status numbered`.
#[derive(Debug, Clone)]
pub struct Ufw {
    /// The iptables backend ufw loads its rules into.
    pub backend: Backend,
    /// IPv4 user rules, in order.
    pub v4: Vec<Tuple>,
    /// IPv6 user rules, in order.
    pub v6: Vec<Tuple>,
    /// `ufw status numbered`, when it could be run.
    pub status: Vec<StatusRule>,
    /// Default for incoming traffic: `deny`, `reject` or `allow`.
    pub default_incoming: String,
    /// Default for routed (forwarded) traffic: `deny`, `reject` or `allow`.
    pub default_routed: String,
    /// The kernel's user-rule chains as loaded (for positions and texts).
    chains: Vec<(Family, Chain)>,
    problems: Vec<ConfigProblem>,
}

impl Ufw {
    /// ufw is in charge when its chains are loaded; reads its files under `root`.
    pub fn detect(nf: &Netfilter, runner: &dyn Runner, root: &ConfigRoot) -> Option<Ufw> {
        let mut chains = vec![];
        let mut backend = None;
        // ufw writes iptables rules; the nft view of iptables-nft tables is not its own.
        let iptables = nf
            .rulesets
            .iter()
            .filter(|r| r.backend.is_some_and(|b| b != Backend::Nftables));
        for rs in iptables {
            for t in rs.tables.iter().filter(|t| t.name == "filter") {
                for c in &t.chains {
                    if c.name == user_chain(t.family) {
                        backend = backend.or(rs.backend);
                        chains.push((t.family, c.clone()));
                    } else if c.name == forward_chain(t.family) {
                        chains.push((t.family, c.clone()));
                    }
                }
            }
        }
        let backend = backend?;
        let mut ufw = Ufw {
            backend,
            v4: vec![],
            v6: vec![],
            status: vec![],
            default_incoming: "deny".into(),
            default_routed: "deny".into(),
            chains,
            problems: vec![],
        };
        ufw.read_files(root);
        ufw.read_status(runner);
        Some(ufw)
    }

    fn read_files(&mut self, root: &ConfigRoot) {
        for (path, v6) in [
            ("/etc/ufw/user.rules", false),
            ("/etc/ufw/user6.rules", true),
        ] {
            match root.read(path) {
                Ok(text) => {
                    let (tuples, problems) = rules::parse(&text, path);
                    self.problems.extend(problems);
                    if v6 {
                        self.v6 = tuples;
                    } else {
                        self.v4 = tuples;
                    }
                }
                Err(e) => self.problems.push(ConfigProblem {
                    source: path.into(),
                    line: None,
                    column: None,
                    message: format!("cannot read: {e}"),
                }),
            }
        }
        if let Ok(text) = root.read("/etc/default/ufw") {
            let policy = |key: &str| {
                let v = text
                    .lines()
                    .find_map(|l| l.trim().strip_prefix(key))
                    .map(|v| v.trim_matches('"').to_ascii_lowercase());
                match v.as_deref() {
                    Some("drop") | None => "deny".to_string(),
                    Some("accept") => "allow".into(),
                    Some(other) => other.to_string(),
                }
            };
            self.default_incoming = policy("DEFAULT_INPUT_POLICY=");
            self.default_routed = policy("DEFAULT_FORWARD_POLICY=");
        }
    }

    fn read_status(&mut self, runner: &dyn Runner) {
        match runner.run("ufw", &["status", "numbered"]) {
            Ok(out) if out.code == Some(0) => self.status = status::numbered(&out.stdout),
            Ok(out) => self.problems.push(ConfigProblem {
                source: "ufw status numbered".into(),
                line: None,
                column: None,
                message: format!(
                    "failed ({}); rule numbers are derived from user.rules",
                    out.stderr.trim()
                ),
            }),
            Err(e) => self.problems.push(ConfigProblem {
                source: "ufw status numbered".into(),
                line: None,
                column: None,
                message: format!("cannot run ({e}); rule numbers are derived from user.rules"),
            }),
        }
    }

    fn tuples(&self, family: Family) -> &[Tuple] {
        if family == Family::Ip6 {
            &self.v6
        } else {
            &self.v4
        }
    }

    /// The tuple behind position `position` of the family's user chain, with its index.
    fn tuple_at(&self, family: Family, position: usize) -> Option<(usize, &Tuple)> {
        self.tuple_in(family, user_chain(family), position)
    }

    /// The tuple behind position `position` of `chain` (user input or route rules).
    fn tuple_in(&self, family: Family, chain: &str, position: usize) -> Option<(usize, &Tuple)> {
        let mut seen = 0;
        for (i, t) in self.tuples(family).iter().enumerate() {
            let n = t.lines_in(chain);
            if position > seen && position <= seen + n {
                return Some((i, t));
            }
            seen += n;
        }
        None
    }

    /// 1-based position of the first kernel rule of tuple `index` in the family's chain.
    fn first_position(&self, family: Family, index: usize) -> usize {
        self.first_position_in(family, user_chain(family), index)
    }

    /// 1-based position of the first kernel rule of tuple `index` in `chain`.
    fn first_position_in(&self, family: Family, chain: &str, index: usize) -> usize {
        self.tuples(family)[..index]
            .iter()
            .map(|t| t.lines_in(chain))
            .sum::<usize>()
            + 1
    }

    /// The number `ufw status numbered` gives tuple `index` of `family`.
    fn number(&self, family: Family, index: usize) -> usize {
        if family == Family::Ip6 {
            self.v4.len() + index + 1
        } else {
            index + 1
        }
    }

    /// The kernel rule at `position` of the family's user chain.
    fn kernel_rule(&self, family: Family, position: usize) -> Option<RuleRef> {
        let (_, c) = self
            .chains
            .iter()
            .find(|(f, c)| *f == family && c.name == user_chain(family))?;
        let r = c.rules.get(position.checked_sub(1)?)?;
        Some(RuleRef {
            backend: self.backend,
            family,
            table: "filter".into(),
            chain: c.name.clone(),
            handle: None,
            position,
            text: r.text.clone(),
            comment: r.comment.clone(),
            is_policy: false,
        })
    }

    fn route_rule(&self, family: Family, position: usize) -> Option<ManagedRule> {
        let (i, t) = self.tuple_in(family, forward_chain(family), position)?;
        self.numbered(family, i, t)
    }

    fn user_rule(&self, family: Family, position: usize) -> Option<ManagedRule> {
        let (i, t) = self.tuple_at(family, position)?;
        self.numbered(family, i, t)
    }

    /// The user rule `t` (tuple `i` of `family`) as `ufw status numbered` shows it.
    fn numbered(&self, family: Family, i: usize, t: &Tuple) -> Option<ManagedRule> {
        let number = self.number(family, i);
        let shown = self.status.iter().find(|s| s.number == number);
        Some(ManagedRule {
            manager: ManagerKind::Ufw,
            kind: ManagedKind::UserRule,
            number: Some(number),
            zone: None,
            text: shown.map_or_else(|| t.display(), |s| s.text.clone()),
            comment: shown
                .and_then(|s| s.comment.clone())
                .or_else(|| t.comment.clone()),
            source: Some(format!(
                "/etc/ufw/user{}.rules line {}",
                if family == Family::Ip6 { "6" } else { "" },
                t.line
            )),
        })
    }

    fn default_routed_rule(&self) -> ManagedRule {
        ManagedRule {
            text: format!("default {} (routed)", self.default_routed),
            source: Some("/etc/default/ufw DEFAULT_FORWARD_POLICY".into()),
            ..self.default_rule()
        }
    }

    fn default_rule(&self) -> ManagedRule {
        ManagedRule {
            manager: ManagerKind::Ufw,
            kind: ManagedKind::DefaultPolicy,
            number: None,
            zone: None,
            text: format!("default {} (incoming)", self.default_incoming),
            comment: None,
            source: Some("/etc/default/ufw DEFAULT_INPUT_POLICY".into()),
        }
    }
}

/// What part of ufw a kernel rule belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    User,
    Default,
    /// A route rule (`ufw route …`, in ufw-user-forward).
    Route,
    /// The default for routed traffic (FORWARD's policy and ufw's forward chains after the
    /// route rules).
    DefaultRouted,
    Before,
    After,
    Limit,
    Other,
}

fn part_of(rule: &RuleRef) -> Part {
    let c = rule.chain.replace("ufw6-", "ufw-");
    match c.as_str() {
        "ufw-user-input" => Part::User,
        "ufw-user-forward" => Part::Route,
        "INPUT" if rule.is_policy => Part::Default,
        "FORWARD" if rule.is_policy => Part::DefaultRouted,
        "ufw-reject-forward" | "ufw-skip-to-policy-forward" | "ufw-track-forward" => {
            Part::DefaultRouted
        }
        // ufw-track-input accepts new connections when the default is allow.
        "ufw-reject-input" | "ufw-skip-to-policy-input" | "ufw-track-input" => Part::Default,
        "ufw-user-limit" => Part::Limit,
        c if c.starts_with("ufw-before") || c == "ufw-not-local" || c == "ufw-logging-deny" => {
            Part::Before
        }
        c if c.starts_with("ufw-after") => Part::After,
        _ => Part::Other,
    }
}

impl Manager for Ufw {
    fn kind(&self) -> ManagerKind {
        ManagerKind::Ufw
    }

    fn summary(&self) -> String {
        format!(
            "ufw active ({} user rules), default {} (incoming), rules in {}",
            self.v4.len() + self.v6.len(),
            self.default_incoming,
            self.backend.label()
        )
    }

    fn owns(&self, rule: &RuleRef) -> bool {
        rule.backend == self.backend
            && rule.table == "filter"
            && (rule.chain.starts_with("ufw-")
                || rule.chain.starts_with("ufw6-")
                || (matches!(rule.chain.as_str(), "INPUT" | "FORWARD") && rule.is_policy))
    }

    fn attribute(&self, rule: &RuleRef, _packet: &Packet, _trace: &[Step]) -> Option<ManagedRule> {
        if !self.owns(rule) {
            return None;
        }
        let v6 = rule.family == Family::Ip6;
        let file = |name: &str| format!("/etc/ufw/{name}{}.rules", if v6 { "6" } else { "" });
        let from_file = |kind, name: &str| ManagedRule {
            manager: ManagerKind::Ufw,
            kind,
            number: None,
            zone: None,
            text: rule.text.clone(),
            comment: rule.comment.clone(),
            source: Some(file(name)),
        };
        match part_of(rule) {
            Part::User => self.user_rule(rule.family, rule.position),
            Part::Route => self.route_rule(rule.family, rule.position),
            Part::Default => Some(self.default_rule()),
            Part::DefaultRouted => Some(self.default_routed_rule()),
            Part::Before => Some(from_file(ManagedKind::BeforeRules, "before")),
            Part::After => Some(from_file(ManagedKind::AfterRules, "after")),
            Part::Limit => Some(ManagedRule {
                text: "a `ufw limit` rule: this source exceeded 6 connections in 30 s".into(),
                ..from_file(ManagedKind::UserRule, "user")
            }),
            Part::Other => None,
        }
    }

    fn plan_open(
        &self,
        rule: &RuleRef,
        packet: &Packet,
        _trace: &[Step],
        req: &OpenRequest,
    ) -> Option<PlanStep> {
        plan::open(self, rule, packet, req)
    }

    fn plan_close(
        &self,
        rule: &RuleRef,
        packet: &Packet,
        _trace: &[Step],
        req: &OpenRequest,
    ) -> Option<PlanStep> {
        plan::close(self, rule, packet, req)
    }

    fn problems(&self) -> &[ConfigProblem] {
        &self.problems
    }
}
