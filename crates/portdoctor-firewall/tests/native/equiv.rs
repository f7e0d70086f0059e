//! Equivalence of the two nftables readers on one namespace: the native netlink reader
//! against `nft -j list ruleset` (with the `--debug=netlink` and text listings the collector
//! adds). Shared by the differential test and the native-reader tests.
//!
//! Models must be equal field by field, rule texts included. The one exception is counter
//! values (`counter packets N bytes M` in a rule's text): they are live state that traffic
//! in the lab changes between the two reads, so both texts are compared with the numbers
//! taken out.
//!
//! A model read with the rules of iptables-nft's tables left out (`Rules::ExceptIptablesNft`,
//! as `collect` reads) is compared with the full native read: equal but for those rules
//! ([`Equivalence::compare_lean`]).

// Shared by two test crates (differential, native); each uses part of it.
#![allow(dead_code)]

use portdoctor_firewall::backend::nft_netlink::{
    Rules, read_ruleset_in_netns, read_ruleset_in_netns_with,
};
use portdoctor_firewall::collect::{CommandRunner, read_nft_json};
use portdoctor_firewall::{Ruleset, Table};

/// Rules and rulesets compared, and the differences found.
#[derive(Debug, Default, Clone)]
pub struct Equivalence {
    /// Rulesets compared.
    pub rulesets: usize,
    /// Rules compared.
    pub rules: usize,
    /// Differences, one line each.
    pub differences: Vec<String>,
    /// Tables whose rules a lean read left out (they were compared without them).
    pub unread_tables: usize,
}

impl Equivalence {
    /// One line for a summary.
    pub fn summary(&self) -> String {
        format!(
            "native vs nft -j: {} rulesets, {} rules compared, {} differences \
             (lean reads: {} tables' rules left to iptables-nft-save)",
            self.rulesets,
            self.rules,
            self.differences.len(),
            self.unread_tables
        )
    }

    /// Reads namespace `ns` both ways and records every difference; a lean native read
    /// (`Rules::ExceptIptablesNft`) is checked against the full one too.
    pub fn check(&mut self, ns: &str) -> Result<(), String> {
        let native = read_ruleset_in_netns(ns).map_err(|e| format!("native: {e}"))?;
        self.compare(&native, ns)?;
        let lean = read_ruleset_in_netns_with(ns, Rules::ExceptIptablesNft)
            .map_err(|e| format!("native, lean: {e}"))?;
        self.lean_against_full(&lean, &native);
        Ok(())
    }

    /// Compares a natively read model of namespace `ns` with `nft -j list ruleset` there.
    pub fn compare(&mut self, native: &Ruleset, ns: &str) -> Result<(), String> {
        let runner = CommandRunner::with_prefix(["ip", "netns", "exec", ns]);
        let json = read_nft_json(&runner, "nft").map_err(|e| format!("nft -j: {e}"))?;
        self.rulesets += 1;
        self.rules += json.rule_count();
        self.differences.extend(differences(native, &json));
        Ok(())
    }

    /// Compares a model read with some tables' rules left out (`lean`, as
    /// [`portdoctor_firewall::collect::collect`] gives it) with a full native read of
    /// namespace `ns`, and that full read with `nft -j list ruleset`. The lean model must be
    /// the full one with the rules of its `rules_unread` tables removed.
    pub fn compare_lean(&mut self, lean: &Ruleset, ns: &str) -> Result<(), String> {
        let full = read_ruleset_in_netns(ns).map_err(|e| format!("native: {e}"))?;
        self.compare(&full, ns)?;
        self.lean_against_full(lean, &full);
        Ok(())
    }

    /// Records how `lean` differs from `full` with the rules of `lean`'s unread tables out.
    fn lean_against_full(&mut self, lean: &Ruleset, full: &Ruleset) {
        self.unread_tables += lean.tables.iter().filter(|t| t.rules_unread).count();
        self.differences.extend(
            differences(lean, &without_unread_rules(full, lean))
                .into_iter()
                .map(|d| format!("lean read vs full: {d}")),
        );
    }

    /// Adds another count to this one.
    pub fn merge(&mut self, other: &Equivalence) {
        self.rulesets += other.rulesets;
        self.rules += other.rules;
        self.differences.extend(other.differences.iter().cloned());
        self.unread_tables += other.unread_tables;
    }
}

/// `full` with the rules of the tables `lean` left unread taken out (and those tables marked
/// so): what a lean read of the same ruleset must give.
pub fn without_unread_rules(full: &Ruleset, lean: &Ruleset) -> Ruleset {
    let mut out = full.clone();
    for t in &mut out.tables {
        let unread = lean
            .tables
            .iter()
            .any(|l| l.rules_unread && l.family == t.family && l.name == t.name);
        if unread {
            t.rules_unread = true;
            t.chains.iter_mut().for_each(|c| c.rules.clear());
        }
    }
    out
}

/// Differences between two models of one ruleset, by table, set, chain and rule.
pub fn differences(native: &Ruleset, json: &Ruleset) -> Vec<String> {
    let mut out = Vec::new();
    if native.backend != json.backend {
        out.push(format!(
            "backend {:?} vs {:?}",
            native.backend, json.backend
        ));
    }
    let names = |r: &Ruleset| -> Vec<String> {
        r.tables
            .iter()
            .map(|t| format!("{} {}", t.family.as_str(), t.name))
            .collect()
    };
    if names(native) != names(json) {
        out.push(format!("tables {:?} vs {:?}", names(native), names(json)));
        return out;
    }
    for (a, b) in native.tables.iter().zip(&json.tables) {
        table_differences(a, b, &mut out);
    }
    out
}

fn table_differences(a: &Table, b: &Table, out: &mut Vec<String>) {
    let t = format!("{} {}", a.family.as_str(), a.name);
    if a.handle != b.handle
        || a.iptables_nft_owned != b.iptables_nft_owned
        || a.rules_unread != b.rules_unread
    {
        out.push(format!(
            "{t}: handle/owner/unread {:?}/{}/{} vs {:?}/{}/{}",
            a.handle,
            a.iptables_nft_owned,
            a.rules_unread,
            b.handle,
            b.iptables_nft_owned,
            b.rules_unread
        ));
    }
    if a.sets != b.sets {
        for (x, y) in a.sets.iter().zip(&b.sets) {
            if x != y {
                out.push(format!(
                    "{t}: set {}:\n  native {x:?}\n  json   {y:?}",
                    x.name
                ));
            }
        }
        if a.sets.len() != b.sets.len() {
            out.push(format!("{t}: {} sets vs {}", a.sets.len(), b.sets.len()));
        }
    }
    if a.chains.len() != b.chains.len() {
        out.push(format!(
            "{t}: {} chains vs {}",
            a.chains.len(),
            b.chains.len()
        ));
        return;
    }
    for (x, y) in a.chains.iter().zip(&b.chains) {
        if x.name != y.name || x.handle != y.handle || x.base != y.base {
            out.push(format!(
                "{t}: chain {}:\n  native {:?} {:?}\n  json   {:?} {:?}",
                x.name, x.handle, x.base, y.handle, y.base
            ));
        }
        if x.rules.len() != y.rules.len() {
            out.push(format!(
                "{t} {}: {} rules vs {}",
                x.name,
                x.rules.len(),
                y.rules.len()
            ));
            continue;
        }
        for (r, s) in x.rules.iter().zip(&y.rules) {
            let (mut r2, mut s2) = (r.clone(), s.clone());
            r2.text = without_counts(&r.text);
            s2.text = without_counts(&s.text);
            if r2 != s2 {
                out.push(format!(
                    "{t} {} handle {:?}:\n  native {r:?}\n  json   {s:?}",
                    x.name, r.handle
                ));
            }
        }
    }
}

/// `counter packets N bytes M` → `counter packets _ bytes _`.
fn without_counts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("counter packets ") {
        out.push_str(&rest[..i + "counter packets ".len()]);
        rest = &rest[i + "counter packets ".len()..];
        rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
        out.push('_');
        if let Some(r) = rest.strip_prefix(" bytes ") {
            out.push_str(" bytes _");
            rest = r.trim_start_matches(|c: char| c.is_ascii_digit());
        }
    }
    out.push_str(rest);
    out
}
