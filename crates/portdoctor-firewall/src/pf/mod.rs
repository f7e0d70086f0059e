//! The pf engine (macOS, FreeBSD, OpenBSD, OPNsense/pfSense): `pfctl -sr`, `-vvsr`,
//! `-a '*' -sr` listings and pf.conf text, tables (`pfctl -t NAME -T show`), `pfctl -s info`,
//! and on macOS the Application Firewall (`socketfilterfw`), reported as a second verdict.
//!
//! [`crate::RuleRef`] mapping: `table` = anchor path (empty for the main ruleset), `chain` =
//! `filter`, `position` = the rule number (`@N` of `pfctl -vvsr` and pflog; pf counts from
//! 0), `text` = the rule, `comment` = its label. Ruleset-wide outcomes (default pass, state,
//! `set skip`, pf disabled) are policies. The Application Firewall's decisions use `table` =
//! `application_firewall` (it has no [`crate::Backend`] of its own: adding one would break
//! exhaustive matches of the binary; they carry `Backend::Pf`).

mod alf;
mod edit;
mod eval;
mod fix;
mod lex;
#[cfg(any(target_os = "macos", target_os = "freebsd", target_os = "openbsd"))]
pub mod live;
pub mod model;
mod parse;
pub mod step;
mod sweep;

use crate::collect::{Runner, SourceReport};
use crate::engine::{Edit, EditError, Engine, EngineKind};
use crate::explain::{BackendVerdict, Explanation};
use crate::model::{Backend, Decision, Packet, Verdict};
use crate::sweep::Sweep;
use std::collections::BTreeMap;
use std::net::IpAddr;
use thiserror::Error;

pub use alf::Alf;
pub use eval::{MAX_PATHS, ROUTABLE, policy_ref, rule_ref};
pub use fix::{ANCHOR, plan_fix};
pub use model::*;

/// Why a pf text could not be read: file, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{file}:{line}:{column}: {message}")]
pub struct LoadError {
    /// File name as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// pf state: the main ruleset, anchors, tables, options, and the macOS Application Firewall.
#[derive(Debug, Clone)]
pub struct PfFirewall {
    /// Rules of the main ruleset.
    pub main: Vec<PfRule>,
    /// Rules of named anchors read separately, by full path (`com.apple/250.ApplicationFirewall`).
    pub anchors: BTreeMap<String, Vec<PfRule>>,
    /// Anchors pf.conf loads from files whose rules were not read (path → file).
    pub loaded_from: BTreeMap<String, String>,
    /// Tables.
    pub tables: BTreeMap<String, PfTable>,
    /// `set block-policy` (default drop).
    pub block_policy: BlockPolicy,
    /// `set skip on` interfaces.
    pub skip: Vec<String>,
    /// Redirections (`rdr`, `binat`, their anchors) read past: not evaluated.
    pub redirects: Vec<String>,
    /// `pfctl -s info`: enabled or not (`None`: not read; pf is disabled by default on macOS).
    pub enabled: Option<bool>,
    /// Interfaces with their addresses and subnets, for `en0`, `(en0)`, `en0:network`, `self`.
    pub interfaces: Vec<(String, Vec<(IpAddr, crate::addr::IpRange)>)>,
    /// The macOS Application Firewall, when read.
    pub alf: Option<Alf>,
    /// Treat anchors whose rules were not read as empty (an assumption stated in verdicts)
    /// instead of making the answer unknown. Off by default.
    pub assume_unread_anchors_empty: bool,
    /// `no-route` / `urpf-failed` do not match (stated as an assumption). On by default.
    pub assume_routable_source: bool,
    /// What was read.
    pub sources: Vec<SourceReport>,
}

impl Default for PfFirewall {
    fn default() -> PfFirewall {
        PfFirewall {
            main: vec![],
            anchors: BTreeMap::new(),
            loaded_from: BTreeMap::new(),
            tables: BTreeMap::new(),
            block_policy: BlockPolicy::Drop,
            skip: vec![],
            redirects: vec![],
            enabled: None,
            interfaces: vec![],
            alf: None,
            assume_unread_anchors_empty: false,
            assume_routable_source: true,
            sources: vec![],
        }
    }
}

/// What a text is, recognised by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Rules: pf.conf or a `pfctl -sr` listing.
    Rules,
    /// `pfctl -t NAME -T show`.
    Table,
    /// `pfctl -s info`.
    Info,
    /// `socketfilterfw` output.
    AppFirewall,
}

const STATEMENTS: &[&str] = &[
    "pass",
    "block",
    "match",
    "anchor",
    "set",
    "table",
    "scrub",
    "nat",
    "rdr",
    "binat",
    "load",
    "nat-anchor",
    "rdr-anchor",
    "scrub-anchor",
    "dummynet-anchor",
    "binat-anchor",
    "antispoof",
    "altq",
    "queue",
    "no",
];

/// The format of `text`, recognised by content.
pub fn format_of(text: &str) -> Option<Format> {
    if alf::recognise(text) {
        return Some(Format::AppFirewall);
    }
    if text.lines().any(|l| {
        let l = l.trim();
        l == "Status: Enabled"
            || l.starts_with("Status: Enabled ")
            || l.starts_with("Status: Disabled")
    }) {
        return Some(Format::Info);
    }
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return None;
    }
    let table = lines
        .iter()
        .all(|l| crate::addr::IpRange::parse(l.trim_start_matches('!').trim()).is_some());
    if table {
        return Some(Format::Table);
    }
    let first = lines
        .iter()
        .find(|l| !l.starts_with('[') && !l.starts_with("No ALTQ") && !l.starts_with("ALTQ"))?;
    let word = first.split_whitespace().next().unwrap_or("");
    let word = if word.starts_with('@') {
        first.split_whitespace().nth(1).unwrap_or("")
    } else {
        word
    };
    let macro_def = lex::macro_def(first).is_some();
    // nft's `table inet filter {` is not pf's `table <name> …`.
    let nft_table = word == "table"
        && !first
            .split_whitespace()
            .nth(1)
            .is_some_and(|w| w.starts_with('<'));
    ((STATEMENTS.contains(&word) && !nft_table) || macro_def).then_some(Format::Rules)
}

/// Whether `text` is pf (or Application Firewall) input.
pub fn recognise(text: &str) -> bool {
    format_of(text).is_some()
}

/// Options of [`load_with`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Macros defined as with `pfctl -D name=value`.
    pub defines: Vec<(String, String)>,
}

/// Loads named texts. Names decide where rules go: `anchor:PATH` (e.g. `anchor:com.apple`)
/// puts a listing into that anchor; a table listing takes the name's stem (`bruteforce.txt`
/// or `table:bruteforce` → `<bruteforce>`); other rules are the main ruleset.
pub fn load(files: &[(String, String)]) -> Result<PfFirewall, LoadError> {
    load_with(files, &LoadOptions::default())
}

/// [`load`] with options.
pub fn load_with(files: &[(String, String)], opts: &LoadOptions) -> Result<PfFirewall, LoadError> {
    let mut fw = PfFirewall::default();
    for (name, text) in files {
        let format = format_of(text).ok_or_else(|| LoadError {
            file: name.clone(),
            line: 1,
            column: 1,
            message: "not pf rules, a table listing, pfctl -s info or socketfilterfw output".into(),
        })?;
        fw.read(format, name, text, opts)?;
    }
    Ok(fw)
}

/// Loads one text with the reader of `format`, without recognising it (fuzzing).
pub fn load_as(format: Format, name: &str, text: &str) -> Result<PfFirewall, LoadError> {
    let mut fw = PfFirewall::default();
    fw.read(format, name, text, &LoadOptions::default())?;
    Ok(fw)
}

fn err(file: &str, b: parse::Bad) -> LoadError {
    LoadError {
        file: file.to_string(),
        line: b.line,
        column: b.col,
        message: b.msg,
    }
}

impl PfFirewall {
    fn read(
        &mut self,
        format: Format,
        name: &str,
        text: &str,
        opts: &LoadOptions,
    ) -> Result<(), LoadError> {
        match format {
            Format::AppFirewall => alf::parse(text, self.alf.get_or_insert_with(Alf::default)),
            Format::Info => {
                self.enabled = Some(
                    text.lines()
                        .any(|l| l.trim().starts_with("Status: Enabled")),
                )
            }
            Format::Table => {
                let t = parse::table_listing(text).map_err(|b| err(name, b))?;
                self.tables.insert(table_name(name), t);
            }
            Format::Rules => {
                let mut src = String::new();
                for (k, v) in &opts.defines {
                    src.push_str(&format!("{k} = \"{v}\"\n"));
                }
                let offset = opts.defines.len();
                src.push_str(text);
                let p = parse::parse(&src).map_err(|mut b| {
                    b.line = b.line.saturating_sub(offset);
                    err(name, b)
                })?;
                match name.strip_prefix("anchor:") {
                    Some(path) => self
                        .anchors
                        .entry(path.to_string())
                        .or_default()
                        .extend(p.rules),
                    None => self.main.extend(p.rules),
                }
                self.loaded_from.extend(p.loaded);
                self.tables.extend(p.tables);
                if let Some(bp) = p.block_policy {
                    self.block_policy = bp;
                }
                self.skip.extend(p.skip);
                self.redirects.extend(p.redirects);
            }
        }
        self.sources.push(SourceReport {
            tool: name.to_string(),
            backend: Some(Backend::Pf),
            active: Ok(!self.main.is_empty() || !self.anchors.is_empty()),
        });
        Ok(())
    }

    /// The Application Firewall's verdict, when it was read.
    pub fn alf_verdict(&self, pkt: &Packet) -> Option<Verdict> {
        self.alf.as_ref().map(|a| alf::evaluate(a, pkt))
    }

    /// pf and, on macOS, the Application Firewall: the packet passes both.
    pub fn explanation(&self, pkt: &Packet) -> Explanation {
        let pf = self.evaluate_pf(pkt);
        let mut backends = vec![BackendVerdict {
            backend: Backend::Pf,
            active: self.enabled != Some(false),
            verdict: pf.clone(),
        }];
        let overall = match self.alf_verdict(pkt) {
            None => pf,
            Some(a) => {
                backends.push(BackendVerdict {
                    backend: Backend::Pf,
                    active: self.alf.as_ref().and_then(|x| x.enabled) != Some(false),
                    verdict: a.clone(),
                });
                combine(pf, a)
            }
        };
        Explanation {
            overall,
            backends,
            skipped_tables: vec![],
        }
    }
}

/// The packet passes pf, then the Application Firewall.
fn combine(pf: Verdict, alf: Verdict) -> Verdict {
    let blocks = |v: &Verdict| matches!(v.decision, Decision::Drop | Decision::Reject(_));
    if blocks(&pf) {
        return pf;
    }
    if blocks(&alf) {
        return alf;
    }
    if pf.decision == Decision::Accept && alf.decision == Decision::Accept {
        let mut v = pf;
        v.deciders.extend(alf.deciders);
        return v;
    }
    if let Decision::Unknown(_) = pf.decision {
        pf
    } else {
        alf
    }
}

/// A reference to the Application Firewall, for edits of its settings.
pub(crate) fn alf_ref_for_edit() -> crate::model::RuleRef {
    let mut r = policy_ref("Application Firewall");
    r.table = "application_firewall".into();
    r.chain = "socketfilterfw".into();
    r
}

/// `<name>` of a table file: `table:NAME`, else the file name's stem.
fn table_name(file: &str) -> String {
    if let Some(n) = file.strip_prefix("table:") {
        return n.to_string();
    }
    let base = file.rsplit(['/', '\\']).next().unwrap_or(file);
    base.split('.').next().unwrap_or(base).to_string()
}

/// Reads the live state with `pfctl` (and `socketfilterfw` when present) through `runner`:
/// `pfctl -s info`, `pfctl -a '*' -sr`, and each table named by the rules
/// (`pfctl -t NAME -T show`). Sources that fail are reported, not fatal.
pub fn collect(runner: &dyn Runner) -> PfFirewall {
    let mut fw = PfFirewall::default();
    let run = |prog: &str, args: &[&str]| {
        runner
            .run(prog, args)
            .ok()
            .filter(|o| o.code == Some(0))
            .map(|o| o.stdout)
    };
    let report = |fw: &mut PfFirewall, tool: String, ok: Result<bool, String>| {
        fw.sources.push(SourceReport {
            tool,
            backend: Some(Backend::Pf),
            active: ok.map_err(|e| crate::collect::CollectError::Failed {
                tool: "pfctl".into(),
                code: None,
                stderr: e,
            }),
        });
    };
    if let Some(info) = run("pfctl", &["-s", "info"]) {
        fw.enabled = Some(
            info.lines()
                .any(|l| l.trim().starts_with("Status: Enabled")),
        );
    }
    match run("pfctl", &["-a", "*", "-sr"]) {
        Some(rules) => match parse::parse(&rules) {
            Ok(p) => {
                fw.main = p.rules;
                let active = !fw.main.is_empty();
                report(&mut fw, "pfctl -a * -sr".into(), Ok(active));
            }
            Err(b) => report(
                &mut fw,
                "pfctl -a * -sr".into(),
                Err(err("pfctl -a * -sr", b).to_string()),
            ),
        },
        None => report(
            &mut fw,
            "pfctl -a * -sr".into(),
            Err("pfctl failed (needs root)".into()),
        ),
    }
    for name in table_names(&fw.main) {
        if let Some(t) =
            run("pfctl", &["-t", &name, "-T", "show"]).and_then(|t| parse::table_listing(&t).ok())
        {
            fw.tables.insert(name, t);
        }
    }
    let alf_tool = "/usr/libexec/ApplicationFirewall/socketfilterfw";
    let mut alf_text = String::new();
    for a in [
        "--getglobalstate",
        "--getblockall",
        "--getstealthmode",
        "--getallowsigned",
        "--listapps",
    ] {
        if let Some(o) = run(alf_tool, &[a]) {
            alf_text.push_str(&o);
        }
    }
    if !alf_text.is_empty() {
        let mut a = Alf::default();
        alf::parse(&alf_text, &mut a);
        fw.alf = Some(a);
    }
    fw
}

/// Tables the rules refer to (anchors' inline rules included).
fn table_names(rules: &[PfRule]) -> Vec<String> {
    let mut out = vec![];
    for r in rules {
        for h in r.from.hosts.iter().chain(&r.to.hosts) {
            if let Host::Table(t) = &h.host {
                if !out.contains(t) {
                    out.push(t.clone());
                }
            }
        }
        if let PfAction::Anchor {
            inline: Some(rs), ..
        } = &r.action
        {
            for t in table_names(rs) {
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
    }
    out
}

impl Engine for PfFirewall {
    fn kind(&self) -> EngineKind {
        EngineKind::Pf
    }

    fn sources(&self) -> &[SourceReport] {
        &self.sources
    }

    fn unread(&self) -> bool {
        self.main.is_empty()
            && self.anchors.is_empty()
            && self.alf.is_none()
            && self.enabled.is_none()
    }

    fn explain(&self, packet: &Packet) -> Explanation {
        self.explanation(packet)
    }

    fn sweep(&self, packet: &Packet) -> Sweep {
        sweep::sweep(self, packet)
    }

    fn edited(&self, edits: &[Edit]) -> Result<Box<dyn Engine>, EditError> {
        let mut copy = self.clone();
        edit::apply_edits(&mut copy, edits)?;
        Ok(Box::new(copy))
    }

    fn fix_options(
        &self,
        packet: &Packet,
        req: &crate::manager::OpenRequest,
    ) -> Vec<crate::fix::FixOption> {
        fix::plan_fix(self, packet, &crate::fix::FixRequest::from_open(req))
    }

    fn fix_step(
        &self,
        option: &crate::fix::FixOption,
        req: &crate::manager::OpenRequest,
    ) -> Option<crate::manager::PlanStep> {
        Some(step::plan_step(self, option, req))
    }
}
