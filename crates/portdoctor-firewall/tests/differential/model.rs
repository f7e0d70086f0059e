//! The generated scenario: native nft tables, iptables rulesets (legacy and nft-backed, IPv4
//! and IPv6) and ipsets, kept structured so a failing case can be shrunk, and rendered as the
//! text `nft -f`, `iptables-restore` and `ipset restore` read.

use std::fmt::Write as _;

/// Everything a case loads into the host namespace.
#[derive(Clone, Debug, Default)]
pub struct Scenario {
    /// A short description (generator choices or the name of a real-world ruleset).
    pub label: String,
    /// Sets for `ipset restore`, loaded first.
    pub ipsets: Vec<IpSet>,
    /// Native nftables tables, loaded with one `nft -f -`.
    pub nft: Vec<NftTable>,
    /// iptables rulesets, each loaded with its own `*-restore`.
    pub ipt: Vec<IptRuleset>,
    /// Verbatim inputs loaded last: (program, arguments, stdin) — for real-world rulesets.
    pub raw: Vec<(String, Vec<String>, String)>,
}

/// An ipset (`create` + `add` lines).
#[derive(Clone, Debug)]
pub struct IpSet {
    /// Set name.
    pub name: String,
    /// `hash:ip`, `hash:net`, `hash:ip,port`, …
    pub ty: String,
    /// IPv6 (`family inet6`).
    pub v6: bool,
    /// Members as `ipset add` spells them.
    pub members: Vec<String>,
}

/// Netfilter hook a base chain is attached to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hook {
    /// `ingress` (inet family, on the host's veth).
    Ingress,
    /// `prerouting`.
    Prerouting,
    /// `input`.
    Input,
}

impl Hook {
    fn nft(self) -> &'static str {
        match self {
            Hook::Ingress => "ingress",
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
        }
    }
}

/// A native nft table.
#[derive(Clone, Debug)]
pub struct NftTable {
    /// `inet`, `ip` or `ip6`.
    pub family: &'static str,
    /// Table name.
    pub name: String,
    /// Named sets and maps: (name, body between the braces).
    pub sets: Vec<(String, String)>,
    /// Chains, base and regular.
    pub chains: Vec<NftChain>,
}

/// A chain; `base` is `Some` for a base chain.
#[derive(Clone, Debug)]
pub struct NftChain {
    /// Chain name.
    pub name: String,
    /// Hook, priority and whether the policy is drop.
    pub base: Option<(Hook, i32, bool)>,
    /// Device of an ingress chain.
    pub device: Option<String>,
    /// A `type nat` chain rather than `type filter`.
    pub nat: bool,
    /// Rules in order.
    pub rules: Vec<Rule>,
}

/// A rule: match text and verdict, for nft and iptables alike.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Match expressions (nft) or options (iptables), already rendered.
    pub matches: String,
    /// What happens on a match.
    pub verdict: Verdict,
    /// nft `counter` before the verdict.
    pub counter: bool,
    /// A non-terminal nft statement before the verdict (`meta mark set 0x1`, `notrack`,
    /// `log prefix "…"`).
    pub stmt: Option<String>,
    /// A comment (nft `comment`, iptables `-m comment`).
    pub comment: Option<String>,
}

/// A rule's verdict, kept abstract so shrinking and tie-breaking can rewrite it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// No verdict (counter / comment only).
    None,
    /// `accept` / `-j ACCEPT`.
    Accept,
    /// `drop` / `-j DROP`.
    Drop,
    /// A reject, as its nft `with …` text or iptables `--reject-with` value ("" = default).
    Reject(String),
    /// `jump` / `-j CHAIN`.
    Jump(String),
    /// `goto` / `-g CHAIN`.
    Goto(String),
    /// `return` / `-j RETURN`.
    Return,
    /// nft verdict map, the whole statement (`tcp dport vmap { … }`, `udp dport vmap @m`).
    Vmap(String),
    /// A non-terminal iptables target with its options (`MARK --set-mark 0x1`,
    /// `CT --notrack`, `LOG --log-prefix "pd "`).
    Target(String),
    /// A NAT verdict, as (nft statement, iptables target): `redirect to :8080` /
    /// `REDIRECT --to-ports 8080`.
    Nat(String, String),
}

/// Which iptables binary family loads a ruleset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IptBackend {
    /// `iptables-legacy-restore` (x_tables).
    Legacy,
    /// `iptables-nft-restore` (nf_tables compat).
    Nft,
}

/// One `iptables-restore` input.
#[derive(Clone, Debug)]
pub struct IptRuleset {
    /// Which backend loads it.
    pub backend: IptBackend,
    /// ip6tables rather than iptables.
    pub v6: bool,
    /// Tables (`*raw`, `*mangle`, `*filter`, `*nat`).
    pub tables: Vec<IptTable>,
}

/// One `*table` section.
#[derive(Clone, Debug)]
pub struct IptTable {
    /// `raw`, `mangle`, `nat`, `filter`.
    pub name: &'static str,
    /// Chains: builtin ones have a policy (`Some(true)` = DROP).
    pub chains: Vec<IptChain>,
}

/// A chain of an iptables table.
#[derive(Clone, Debug)]
pub struct IptChain {
    /// Chain name.
    pub name: String,
    /// `Some(drop?)` for a builtin chain, `None` for a user chain.
    pub policy: Option<bool>,
    /// Rules in order.
    pub rules: Vec<Rule>,
}

impl IptRuleset {
    /// The program that loads it.
    pub fn restore_program(&self) -> &'static str {
        match (self.backend, self.v6) {
            (IptBackend::Legacy, false) => "iptables-legacy-restore",
            (IptBackend::Legacy, true) => "ip6tables-legacy-restore",
            (IptBackend::Nft, false) => "iptables-nft-restore",
            (IptBackend::Nft, true) => "ip6tables-nft-restore",
        }
    }
}

impl Scenario {
    /// The `nft -f` text of the native tables (empty when there are none).
    pub fn nft_text(&self) -> String {
        let mut out = String::new();
        for t in &self.nft {
            let _ = writeln!(out, "table {} {} {{", t.family, t.name);
            for (name, body) in &t.sets {
                let kind = if body.contains(" : ") { "map" } else { "set" };
                let _ = writeln!(out, "\t{kind} {name} {{\n\t\t{body}\n\t}}");
            }
            for c in &t.chains {
                let _ = writeln!(out, "\tchain {} {{", c.name);
                if let Some((hook, prio, drop)) = c.base {
                    let policy = if drop { "drop" } else { "accept" };
                    let device = c
                        .device
                        .as_ref()
                        .map(|d| format!(" device \"{d}\""))
                        .unwrap_or_default();
                    let ty = if c.nat { "nat" } else { "filter" };
                    let _ = writeln!(
                        out,
                        "\t\ttype {ty} hook {}{device} priority {prio}; policy {policy};",
                        hook.nft()
                    );
                }
                for r in &c.rules {
                    let _ = writeln!(out, "\t\t{}", nft_rule(r));
                }
                let _ = writeln!(out, "\t}}");
            }
            let _ = writeln!(out, "}}");
        }
        out
    }

    /// The `ipset restore` text (empty when there are no sets).
    pub fn ipset_text(&self) -> String {
        let mut out = String::new();
        for s in &self.ipsets {
            let fam = if s.v6 { "inet6" } else { "inet" };
            let _ = writeln!(out, "create {} {} family {fam}", s.name, s.ty);
            for m in &s.members {
                let _ = writeln!(out, "add {} {m}", s.name);
            }
        }
        out
    }

    /// Everything, as one human-readable text for failure messages.
    pub fn describe(&self) -> String {
        let mut out = format!("# scenario: {}\n", self.label);
        if !self.ipsets.is_empty() {
            let _ = write!(out, "## ipset restore\n{}", self.ipset_text());
        }
        if !self.nft.is_empty() {
            let _ = write!(out, "## nft -f -\n{}", self.nft_text());
        }
        for r in &self.ipt {
            let _ = write!(out, "## {}\n{}", r.restore_program(), r.text());
        }
        for (prog, args, text) in &self.raw {
            let _ = write!(out, "## {prog} {}\n{text}", args.join(" "));
        }
        out
    }

    /// Whether some rule may send the packet to another port (redirect, DNAT).
    pub fn may_redirect(&self) -> bool {
        let words = ["redirect", "dnat", "REDIRECT", "DNAT"];
        let text = format!(
            "{}{}{}",
            self.nft_text(),
            self.ipt.iter().map(IptRuleset::text).collect::<String>(),
            self.raw.iter().map(|r| r.2.as_str()).collect::<String>()
        );
        words.iter().any(|w| text.contains(w))
    }

    /// Number of rules in all tables, for the summary.
    pub fn rule_count(&self) -> usize {
        let nft: usize = self
            .nft
            .iter()
            .flat_map(|t| &t.chains)
            .map(|c| c.rules.len())
            .sum();
        let ipt: usize = self
            .ipt
            .iter()
            .flat_map(|r| &r.tables)
            .flat_map(|t| &t.chains)
            .map(|c| c.rules.len())
            .sum();
        nft + ipt
    }

    /// Smaller variants of this scenario, for shrinking a failing case: each drops one table,
    /// ruleset, ipset, set, regular chain, rule, a rule's extras (statement, counter,
    /// comment), or turns a drop policy into accept.
    pub fn shrink_candidates(&self) -> Vec<Scenario> {
        let mut out = Vec::new();
        for i in 0..self.nft.len() {
            let mut s = self.clone();
            s.nft.remove(i);
            out.push(s);
        }
        for i in 0..self.ipt.len() {
            let mut s = self.clone();
            s.ipt.remove(i);
            out.push(s);
        }
        for i in 0..self.ipsets.len() {
            let mut s = self.clone();
            s.ipsets.remove(i);
            out.push(s);
        }
        for (ti, t) in self.nft.iter().enumerate() {
            // Sets and regular chains: a candidate that removes one still referenced fails to
            // load and is skipped.
            for si in 0..t.sets.len() {
                let mut s = self.clone();
                s.nft[ti].sets.remove(si);
                out.push(s);
            }
            for (ci, c) in t.chains.iter().enumerate() {
                if c.base.is_none() {
                    let mut s = self.clone();
                    s.nft[ti].chains.remove(ci);
                    out.push(s);
                }
            }
            for (ci, c) in t.chains.iter().enumerate() {
                for ri in 0..c.rules.len() {
                    let mut s = self.clone();
                    s.nft[ti].chains[ci].rules.remove(ri);
                    out.push(s);
                }
                for (ri, r) in c.rules.iter().enumerate() {
                    if r.stmt.is_some() || r.counter || r.comment.is_some() {
                        let mut s = self.clone();
                        let rule = &mut s.nft[ti].chains[ci].rules[ri];
                        rule.stmt = None;
                        rule.counter = false;
                        rule.comment = None;
                        out.push(s);
                    }
                }
                if matches!(c.base, Some((_, _, true))) {
                    let mut s = self.clone();
                    if let Some(b) = s.nft[ti].chains[ci].base.as_mut() {
                        b.2 = false;
                    }
                    out.push(s);
                }
            }
        }
        for (ri, r) in self.ipt.iter().enumerate() {
            for (ti, t) in r.tables.iter().enumerate() {
                for (ci, c) in t.chains.iter().enumerate() {
                    if c.policy.is_none() {
                        let mut s = self.clone();
                        s.ipt[ri].tables[ti].chains.remove(ci);
                        out.push(s);
                    }
                    for (k, rule) in c.rules.iter().enumerate() {
                        if rule.comment.is_some() {
                            let mut s = self.clone();
                            s.ipt[ri].tables[ti].chains[ci].rules[k].comment = None;
                            out.push(s);
                        }
                    }
                    for k in 0..c.rules.len() {
                        let mut s = self.clone();
                        s.ipt[ri].tables[ti].chains[ci].rules.remove(k);
                        out.push(s);
                    }
                    if c.policy == Some(true) {
                        let mut s = self.clone();
                        s.ipt[ri].tables[ti].chains[ci].policy = Some(false);
                        out.push(s);
                    }
                }
            }
        }
        out
    }
}

fn nft_rule(r: &Rule) -> String {
    let mut parts: Vec<String> = Vec::new();
    if !r.matches.is_empty() {
        parts.push(r.matches.clone());
    }
    if r.counter {
        parts.push("counter".into());
    }
    if let Some(st) = &r.stmt {
        parts.push(st.clone());
    }
    match &r.verdict {
        Verdict::None | Verdict::Target(_) => {}
        Verdict::Accept => parts.push("accept".into()),
        Verdict::Drop => parts.push("drop".into()),
        Verdict::Reject(with) if with.is_empty() => parts.push("reject".into()),
        Verdict::Reject(with) => parts.push(format!("reject with {with}")),
        Verdict::Jump(c) => parts.push(format!("jump {c}")),
        Verdict::Goto(c) => parts.push(format!("goto {c}")),
        Verdict::Return => parts.push("return".into()),
        Verdict::Vmap(m) => parts.push(m.clone()),
        Verdict::Nat(nft, _) => parts.push(nft.clone()),
    }
    if let Some(c) = &r.comment {
        parts.push(format!("comment \"{c}\""));
    }
    if parts.is_empty() {
        // An empty rule is not valid nft; a bare counter is.
        parts.push("counter".into());
    }
    parts.join(" ")
}

impl IptRuleset {
    /// The `iptables-restore` text.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for t in &self.tables {
            let _ = writeln!(out, "*{}", t.name);
            for c in &t.chains {
                let policy = match c.policy {
                    Some(true) => "DROP",
                    Some(false) => "ACCEPT",
                    None => "-",
                };
                let _ = writeln!(out, ":{} {policy} [0:0]", c.name);
            }
            for c in &t.chains {
                for r in &c.rules {
                    let _ = writeln!(out, "{}", ipt_rule(&c.name, r));
                }
            }
            let _ = writeln!(out, "COMMIT");
        }
        out
    }
}

fn ipt_rule(chain: &str, r: &Rule) -> String {
    let mut parts = vec![format!("-A {chain}")];
    if !r.matches.is_empty() {
        parts.push(r.matches.clone());
    }
    if let Some(c) = &r.comment {
        parts.push(format!("-m comment --comment \"{c}\""));
    }
    match &r.verdict {
        Verdict::None | Verdict::Vmap(_) => {}
        Verdict::Target(t) | Verdict::Nat(_, t) => parts.push(format!("-j {t}")),
        Verdict::Accept => parts.push("-j ACCEPT".into()),
        Verdict::Drop => parts.push("-j DROP".into()),
        Verdict::Reject(with) if with.is_empty() => parts.push("-j REJECT".into()),
        Verdict::Reject(with) => parts.push(format!("-j REJECT --reject-with {with}")),
        Verdict::Jump(c) => parts.push(format!("-j {c}")),
        Verdict::Goto(c) => parts.push(format!("-g {c}")),
        Verdict::Return => parts.push("-j RETURN".into()),
    }
    parts.join(" ")
}
