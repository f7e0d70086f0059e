//! Real-world `iptables-save` dumps (`tests/data/realworld/`, from the public Iptables_Semantics
//! corpus; sources in its README): every dump parses, and a fixed grid of packets
//! (`realworld/grid.rs`) through the inbound path gives under 5 % `unknown` in total.
//!
//! `cargo test -p portdoctor-firewall --test realworld_dumps -- --nocapture` prints, per dump
//! and in total, the accept / drop / reject / unknown counts and the unknown reasons. The
//! kernel's agreement with these decisions is checked by `tests/realworld_kernel.rs`.

// Shared with realworld_kernel.rs, which uses more of it.
#[allow(dead_code)]
#[path = "realworld/grid.rs"]
mod grid;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;

use portdoctor_firewall::{Decision, Verdict, evaluate};

/// Unknown decisions allowed, as a fraction of all the grid's packets.
const MAX_UNKNOWN: f64 = 0.05;

/// Counts for one dump (or the total).
#[derive(Default)]
struct Counts {
    packets: usize,
    accept: usize,
    drop: usize,
    reject: usize,
    unknown: usize,
    /// Decided only under the fresh-source assumption (rate limits, `recent` lists).
    assumed: usize,
    reasons: BTreeMap<String, usize>,
}

impl Counts {
    fn add(&mut self, v: &Verdict) {
        self.packets += 1;
        if !v.assumptions.is_empty() {
            self.assumed += 1;
        }
        match &v.decision {
            Decision::Accept => self.accept += 1,
            Decision::Drop => self.drop += 1,
            Decision::Reject(_) => self.reject += 1,
            Decision::Unknown(r) => {
                self.unknown += 1;
                *self.reasons.entry(reason_key(r)).or_default() += 1;
            }
        }
    }

    fn merge(&mut self, o: &Counts) {
        self.packets += o.packets;
        self.accept += o.accept;
        self.drop += o.drop;
        self.reject += o.reject;
        self.unknown += o.unknown;
        self.assumed += o.assumed;
        for (k, n) in &o.reasons {
            *self.reasons.entry(k.clone()).or_default() += n;
        }
    }

    fn rate(&self) -> f64 {
        if self.packets == 0 {
            0.0
        } else {
            self.unknown as f64 / self.packets as f64
        }
    }

    fn row(&self, name: &str, rules: usize) -> String {
        format!(
            "{name:<32} {rules:>5} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6.2}% {:>6}",
            self.packets,
            self.accept,
            self.drop,
            self.reject,
            self.unknown,
            100.0 * self.rate(),
            self.assumed
        )
    }
}

/// The kind of an unknown reason: the evaluator's reasons read "<where> `<rule>`:
/// <expression>: <why>", joined by "; ", then " (possible outcomes: …)"; each part is cut to
/// the rule and the why.
fn reason_key(reason: &str) -> String {
    reason_parts(reason).join(" | ").chars().take(220).collect()
}

/// The parts of an unknown reason, each cut to "`<rule>`: <why>", sorted, without repeats.
fn reason_parts(reason: &str) -> Vec<String> {
    let head = reason.split(" (possible outcomes").next().unwrap_or(reason);
    // A part starts at "; " followed by a rule reference (one reason may contain "; ").
    let mut pieces: Vec<String> = vec![];
    for piece in head.split("; ") {
        match pieces.last_mut() {
            Some(last) if !piece.contains('`') => *last = format!("{last}; {piece}"),
            _ => pieces.push(piece.to_string()),
        }
    }
    let mut parts: Vec<String> = pieces
        .iter()
        .map(|r| {
            let why = r.rsplit(": ").next().unwrap_or(r);
            match r.split('`').nth(1) {
                Some(rule) => format!("`{rule}`: {why}"),
                None => why.to_string(),
            }
        })
        .collect();
    parts.sort();
    parts.dedup();
    parts
}

fn report(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

#[test]
fn every_dump_parses() {
    let mut failures = vec![];
    for (name, _) in grid::DUMPS {
        match grid::parse_dump(name) {
            Ok(rs) => assert!(rs.rule_count() > 0, "{name}: no rule parsed"),
            Err(e) => failures.push(e),
        }
    }
    assert!(
        failures.is_empty(),
        "dumps that do not parse:\n{}",
        failures.join("\n")
    );
}

/// Whether an unknown reason is only about the route back to the source (reverse-path
/// filters, source address types): facts a saved dump does not have.
fn needs_routes(reason: &str) -> bool {
    reason_parts(reason)
        .iter()
        .all(|part| part.contains("the route back to the source is not known"))
}

#[test]
fn unknown_rate_is_under_five_percent() {
    let mut total = Counts::default();
    let mut offline_total = Counts::default();
    let header = format!(
        "{:<32} {:>5} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7} {:>6}",
        "dump", "rules", "pkts", "accept", "drop", "reject", "unknwn", "rate", "assumd"
    );
    let (mut table, mut offline_table) = (header.clone(), header);
    let (mut reasons, mut offline_reasons) = (String::new(), String::new());
    let mut not_routing = vec![];
    for (name, _) in grid::DUMPS {
        let rs = grid::parse_dump(name).unwrap_or_else(|e| panic!("{e}"));
        if std::env::var_os("PORTDOCTOR_DUMPS_VERBOSE").is_some() {
            report(&format!("{name}: {:?}", grid::axes(&rs)));
        }
        let (mut c, mut off) = (Counts::default(), Counts::default());
        for ((routed, _), (bare, _)) in grid::grid(&rs, true).iter().zip(grid::grid(&rs, false)) {
            let v = evaluate(&rs, routed);
            let w = evaluate(&rs, &bare);
            // The routing facts change nothing that did not need them.
            match (&v.decision, &w.decision) {
                (_, Decision::Unknown(_)) if matches!(v.decision, Decision::Unknown(_)) => {}
                (_, Decision::Unknown(r)) => {
                    if !needs_routes(r) {
                        not_routing.push(format!("{name}: {r}"));
                    }
                }
                (d, e) => assert_eq!(d, e, "{name}: {bare:?}"),
            }
            c.add(&v);
            off.add(&w);
        }
        let _ = write!(table, "\n{}", c.row(name, rs.rule_count()));
        let _ = write!(offline_table, "\n{}", off.row(name, rs.rule_count()));
        for (k, n) in &c.reasons {
            let _ = write!(reasons, "\n  {name:<32} {n:>5}  {k}");
        }
        for (k, n) in &off.reasons {
            let _ = write!(offline_reasons, "\n  {name:<32} {n:>5}  {k}");
        }
        total.merge(&c);
        offline_total.merge(&off);
    }
    let _ = write!(table, "\n{}", total.row("TOTAL", 0));
    let _ = write!(offline_table, "\n{}", offline_total.row("TOTAL", 0));
    report(&format!(
        "realworld dumps, with the routing facts of a live host: unknown {}/{} = {:.2} % (limit {:.0} %)\n{table}\nunknown reasons:{reasons}\n\n\
         realworld dumps, offline (no routing table): unknown {}/{} = {:.2} %\n{offline_table}\nunknown reasons:{offline_reasons}",
        total.unknown,
        total.packets,
        100.0 * total.rate(),
        100.0 * MAX_UNKNOWN,
        offline_total.unknown,
        offline_total.packets,
        100.0 * offline_total.rate(),
    ));
    assert!(
        not_routing.is_empty(),
        "routing facts decided {} unknowns that did not need them, e.g.:\n{}",
        not_routing.len(),
        not_routing[..not_routing.len().min(5)].join("\n")
    );
    assert!(
        total.rate() < MAX_UNKNOWN,
        "unknown {:.2} % of {} packets exceeds {:.0} %",
        100.0 * total.rate(),
        total.packets,
        100.0 * MAX_UNKNOWN
    );
}
