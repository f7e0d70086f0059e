//! Reading the live rulesets: nftables natively over netlink ([`Runner::nft_native`], with
//! `nft -j list ruleset` as the fallback), and the programs `iptables-legacy-save`,
//! `ip6tables-legacy-save`, `iptables-nft-save`, `ip6tables-nft-save` and `ipset save`
//! (argument vectors, never a shell), through a [`Runner`] so tests can point them at a
//! network namespace (`CommandRunner::with_prefix(["ip", "netns", "exec", "NS"])`).
//!
//! iptables-nft's tables are read once: the native reader leaves their rules out
//! ([`Rules::ExceptIptablesNft`]) because `iptables-nft-save`'s listing of them is what is
//! evaluated; a table it left out that no such listing covers is read again in full.

use crate::backend::nft_netlink::{self, NetlinkError, Rules};
use crate::backend::{ipset::parse_ipset_save, iptables::parse_iptables_save, nft::parse_nft_json};
use crate::error::ParseError;
use crate::explain::covered_tables;
use crate::model::{Backend, Family, IpFamily, NamedSet, Ruleset, Table};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::process::Command;
use thiserror::Error;

/// Output of one program run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutput {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs programs; implement it to fake outputs in tests. `Sync`: [`collect`] runs the
/// programs concurrently.
pub trait Runner: Sync {
    /// Run `program` with `args`. `Err` with `ErrorKind::NotFound` means "not installed".
    fn run(&self, program: &str, args: &[&str]) -> std::io::Result<RunOutput>;

    /// Run `program` with `args`, feeding `stdin` (e.g. `nft -f -`, `iptables-restore`).
    fn run_stdin(&self, program: &str, args: &[&str], stdin: &str) -> std::io::Result<RunOutput> {
        let _ = (program, args, stdin);
        Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "this runner cannot feed standard input",
        ))
    }

    /// Reads nftables natively (netlink) where this runner's programs would run; `None`: not
    /// available here, run `nft` instead (the default, so fake runners never touch the host).
    fn nft_native(&self) -> Option<Result<Ruleset, NetlinkError>> {
        None
    }

    /// As [`Runner::nft_native`], reading the rules `rules` asks for (tables whose rules are
    /// left out are marked [`crate::model::Table::rules_unread`]). The default reads
    /// everything through [`Runner::nft_native`], which is always correct.
    fn nft_native_with(&self, rules: Rules) -> Option<Result<Ruleset, NetlinkError>> {
        let _ = rules;
        self.nft_native()
    }
}

/// Environment variable that turns the native nftables reader off (`json`): `nft -j` is run.
pub const NFT_READER_ENV: &str = "PORTDOCTOR_NFT_READER";

/// Tool name reported for the native reader.
pub const NFT_NETLINK_TOOL: &str = "nft (netlink)";

/// Runs real programs, optionally behind a command prefix (e.g. `ip netns exec NS`).
#[derive(Debug, Clone, Default)]
pub struct CommandRunner {
    /// Prepended to every command line.
    pub prefix: Vec<String>,
}

impl CommandRunner {
    /// Runner with a prefix such as `["ip", "netns", "exec", "pd-1-0"]`.
    pub fn with_prefix<I: IntoIterator<Item = S>, S: Into<String>>(prefix: I) -> CommandRunner {
        CommandRunner {
            prefix: prefix.into_iter().map(Into::into).collect(),
        }
    }
}

impl CommandRunner {
    fn command(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = match self.prefix.split_first() {
            Some((p, rest)) => {
                let mut c = Command::new(p);
                c.args(rest).arg(program);
                c
            }
            None => Command::new(program),
        };
        cmd.args(args);
        cmd
    }
}

fn output(out: std::process::Output) -> RunOutput {
    RunOutput {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl Runner for CommandRunner {
    /// Native for the current namespace (no prefix) and for `ip netns exec NS` (a thread
    /// joins NS); any other prefix runs `nft`. `PORTDOCTOR_NFT_READER=json` turns it off.
    fn nft_native(&self) -> Option<Result<Ruleset, NetlinkError>> {
        self.nft_native_with(Rules::All)
    }

    fn nft_native_with(&self, rules: Rules) -> Option<Result<Ruleset, NetlinkError>> {
        if std::env::var(NFT_READER_ENV).is_ok_and(|v| v == "json") {
            return None;
        }
        match self.prefix.as_slice() {
            [] => Some(nft_netlink::read_ruleset_with(rules)),
            [ip, netns, exec, ns] if ip == "ip" && netns == "netns" && exec == "exec" => {
                Some(nft_netlink::read_ruleset_in_netns_with(ns, rules))
            }
            _ => None,
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> std::io::Result<RunOutput> {
        let mut cmd = self.command(program, args);
        cmd.stdin(std::process::Stdio::null());
        Ok(output(cmd.output()?))
    }

    fn run_stdin(&self, program: &str, args: &[&str], stdin: &str) -> std::io::Result<RunOutput> {
        use std::io::Write;
        use std::process::Stdio;
        let mut child = self
            .command(program, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut pipe = child.stdin.take().expect("stdin was piped");
        let text = stdin.to_string();
        // A writer thread: a program that prints a lot before reading all its input must not
        // deadlock against us.
        let writer = std::thread::spawn(move || pipe.write_all(text.as_bytes()));
        let out = child.wait_with_output()?;
        let _ = writer.join();
        Ok(output(out))
    }
}

/// Why a source could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum CollectError {
    /// The program is not installed.
    #[error("{tool} is not installed")]
    NotInstalled {
        /// Program name.
        tool: String,
    },
    /// Needs root or CAP_NET_ADMIN.
    #[error("{tool} needs root or CAP_NET_ADMIN: {stderr}")]
    PermissionDenied {
        /// Program name.
        tool: String,
        /// Its error output.
        stderr: String,
    },
    /// Failed otherwise.
    #[error("{tool} failed (exit {code:?}): {stderr}")]
    Failed {
        /// Program name.
        tool: String,
        /// Exit code.
        code: Option<i32>,
        /// Its error output.
        stderr: String,
    },
    /// Its output could not be parsed.
    #[error("cannot parse the output of {tool}: {error}")]
    Parse {
        /// Program name.
        tool: String,
        /// The parse error.
        error: String,
    },
}

/// Programs to run (configurable names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Programs {
    /// nft.
    pub nft: String,
    /// iptables-legacy-save.
    pub iptables_legacy_save: String,
    /// ip6tables-legacy-save.
    pub ip6tables_legacy_save: String,
    /// iptables-nft-save.
    pub iptables_nft_save: String,
    /// ip6tables-nft-save.
    pub ip6tables_nft_save: String,
    /// ipset.
    pub ipset: String,
}

impl Default for Programs {
    fn default() -> Programs {
        Programs {
            nft: "nft".into(),
            iptables_legacy_save: "iptables-legacy-save".into(),
            ip6tables_legacy_save: "ip6tables-legacy-save".into(),
            iptables_nft_save: "iptables-nft-save".into(),
            ip6tables_nft_save: "ip6tables-nft-save".into(),
            ipset: "ipset".into(),
        }
    }
}

/// What one source gave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceReport {
    /// Program run.
    pub tool: String,
    /// Backend it reads.
    pub backend: Option<Backend>,
    /// `Ok(true)`: rules present; `Ok(false)`: no rules (inactive: accepts); `Err`: why not read.
    pub active: Result<bool, CollectError>,
}

/// All rulesets read, plus one report per source.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Collected {
    /// Rulesets that were read (active or not), ready for [`crate::explain`].
    pub rulesets: Vec<Ruleset>,
    /// One report per program.
    pub sources: Vec<SourceReport>,
}

fn classify(tool: &str, r: std::io::Result<RunOutput>) -> Result<String, CollectError> {
    let out = match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CollectError::NotInstalled { tool: tool.into() });
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(CollectError::PermissionDenied {
                tool: tool.into(),
                stderr: e.to_string(),
            });
        }
        Err(e) => {
            return Err(CollectError::Failed {
                tool: tool.into(),
                code: None,
                stderr: e.to_string(),
            });
        }
        Ok(o) => o,
    };
    if out.code == Some(0) {
        return Ok(out.stdout);
    }
    let err = out.stderr.trim().to_string();
    let lower = err.to_ascii_lowercase();
    // Through a prefix such as `ip netns exec`, a missing program shows in stderr.
    if out.code == Some(127)
        || (lower.contains("no such file or directory") && lower.contains(tool))
    {
        return Err(CollectError::NotInstalled { tool: tool.into() });
    }
    if lower.contains("permission denied")
        || lower.contains("operation not permitted")
        || lower.contains("must be root")
    {
        return Err(CollectError::PermissionDenied {
            tool: tool.into(),
            stderr: err,
        });
    }
    Err(CollectError::Failed {
        tool: tool.into(),
        code: out.code,
        stderr: err,
    })
}

fn parse_err(tool: &str, e: ParseError) -> CollectError {
    CollectError::Parse {
        tool: tool.into(),
        error: e.to_string(),
    }
}

/// The iptables programs: (program, family, backend).
fn iptables_programs(progs: &Programs) -> [(&String, IpFamily, Backend); 4] {
    [
        (
            &progs.iptables_legacy_save,
            IpFamily::Ipv4,
            Backend::IptablesLegacy,
        ),
        (
            &progs.ip6tables_legacy_save,
            IpFamily::Ipv6,
            Backend::IptablesLegacy,
        ),
        (
            &progs.iptables_nft_save,
            IpFamily::Ipv4,
            Backend::IptablesNft,
        ),
        (
            &progs.ip6tables_nft_save,
            IpFamily::Ipv6,
            Backend::IptablesNft,
        ),
    ]
}

/// nftables as read: the tool that read it and its model.
type NftRead = (String, Result<Ruleset, CollectError>);

/// Read every backend. Sources that fail are reported, not fatal. ipset contents are
/// attached to the iptables rulesets (when `ipset save` fails they stay unknown).
///
/// The native reader leaves out the rules of the tables laid out by iptables-nft, whose
/// `iptables-nft-save` listing is evaluated instead ([`crate::explain()`]); when no listing
/// covers such a table (the program is absent or failed, or did not list it), nftables is
/// read again in full, so that table is evaluated from the kernel's rules as before.
pub fn collect(runner: &dyn Runner, progs: &Programs) -> Collected {
    let mut c = Collected::default();
    let ipt = iptables_programs(progs);
    // The native reader (netlink) runs first, beside the other programs; `nft` runs only
    // when it is unavailable or fails.
    let (ipset_out, nft_read, ipt_outs) = std::thread::scope(|s| {
        let ipset = s.spawn(|| runner.run(&progs.ipset, &["save"]));
        let ipts: Vec<_> = ipt
            .iter()
            .map(|(tool, _, _)| s.spawn(move || runner.run(tool, &[])))
            .collect();
        let nft_read = native_or_json(runner, &progs.nft, Rules::ExceptIptablesNft);
        let join = |h: std::thread::ScopedJoinHandle<'_, std::io::Result<RunOutput>>| {
            h.join()
                .unwrap_or_else(|_| Err(std::io::Error::other("runner thread panicked")))
        };
        (
            join(ipset),
            nft_read,
            ipts.into_iter().map(join).collect::<Vec<_>>(),
        )
    });
    let ipset_result = classify(&progs.ipset, ipset_out);
    let ipsets = match &ipset_result {
        Ok(text) => parse_ipset_save(text).ok(),
        Err(_) => None,
    };
    let ipt_results: Vec<_> = ipt
        .into_iter()
        .zip(ipt_outs)
        .map(|((tool, fam, backend), out)| {
            let r = parse_iptables(tool, fam, backend, out, &ipsets);
            (tool, backend, r)
        })
        .collect();
    let listed: Vec<&Ruleset> = ipt_results
        .iter()
        .filter_map(|(_, _, r)| r.as_ref().ok())
        .collect();
    let (tool, nft) = complete_native(
        runner,
        &progs.nft,
        nft_read,
        &covered_tables(listed.iter().copied()),
    );
    let active = nft
        .as_ref()
        .map(|rs| nft_active(rs, &listed))
        .map_err(Clone::clone);
    report(&mut c, &tool, Some(Backend::Nftables), nft, active);
    for (tool, backend, r) in ipt_results {
        push(&mut c, tool, Some(backend), r);
    }
    c.sources.push(SourceReport {
        tool: progs.ipset.clone(),
        backend: None,
        active: match (&ipsets, ipset_result) {
            (Some(s), _) => Ok(!s.is_empty()),
            (None, r) => r.map(|_| false),
        },
    });
    c
}

/// One iptables program's output as a ruleset, with the ipset contents attached.
fn parse_iptables(
    tool: &str,
    fam: IpFamily,
    backend: Backend,
    out: std::io::Result<RunOutput>,
    ipsets: &Option<Vec<NamedSet>>,
) -> Result<Ruleset, CollectError> {
    classify(tool, out).and_then(|t| {
        parse_iptables_save(&t, fam, backend)
            .map(|mut rs| {
                rs.ipsets = ipsets.clone();
                rs
            })
            .map_err(|e| parse_err(tool, e))
    })
}

/// nftables read natively (the rules `rules` asks for), else through `nft -j`.
fn native_or_json(runner: &dyn Runner, nft: &str, rules: Rules) -> NftRead {
    match runner.nft_native_with(rules) {
        Some(Ok(rs)) => (NFT_NETLINK_TOOL.to_string(), Ok(rs)),
        _ => (nft.to_string(), read_nft_json(runner, nft)),
    }
}

/// `read` where every table whose rules the native reader left out is covered by an
/// iptables-nft listing (`covered`: (family, table) pairs, as [`crate::explain()`] sees
/// them); otherwise nftables read again, in full.
fn complete_native(
    runner: &dyn Runner,
    nft: &str,
    read: NftRead,
    covered: &HashSet<(Family, String)>,
) -> NftRead {
    let uncovered = |rs: &Ruleset| {
        rs.tables
            .iter()
            .any(|t| t.rules_unread && !covered.contains(&(t.family, t.name.clone())))
    };
    match &read.1 {
        Ok(rs) if uncovered(rs) => native_or_json(runner, nft, Rules::All),
        _ => read,
    }
}

/// Reads nftables through the `nft` program: `nft -j list ruleset`, plus
/// `nft list ruleset` when an ingress chain's device is missing from the JSON and
/// `nft --debug=netlink list ruleset` (started beside the JSON listing, as it usually is
/// needed on big rulesets) when a `reject with tcp reset` hides its nfproto.
pub fn read_nft_json(runner: &dyn Runner, nft: &str) -> Result<Ruleset, CollectError> {
    let (json, debug) = std::thread::scope(|s| {
        let debug = s.spawn(|| runner.run(nft, &["--debug=netlink", "list", "ruleset"]));
        let json = runner.run(nft, &["-j", "list", "ruleset"]);
        let debug = debug
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("runner thread panicked")));
        (json, debug)
    });
    let mut rs = classify(nft, json).and_then(|t| {
        if t.trim().is_empty() {
            Ok(Ruleset {
                backend: Some(Backend::Nftables),
                ..Ruleset::default()
            })
        } else {
            parse_nft_json(&t).map_err(|e| parse_err(nft, e))
        }
    })?;
    if crate::backend::nft::has_unknown_devices(&rs) {
        if let Ok(text) = classify(nft, runner.run(nft, &["list", "ruleset"])) {
            crate::backend::nft::apply_text_devices(&mut rs, &text);
        }
    }
    if has_hidden_nfproto(&rs) {
        if let Ok(text) = classify(nft, debug) {
            crate::backend::nft::apply_netlink_debug(&mut rs, &text);
        }
    }
    Ok(rs)
}

fn has_hidden_nfproto(rs: &Ruleset) -> bool {
    rs.tables
        .iter()
        .flat_map(|t| &t.chains)
        .flat_map(|c| &c.rules)
        .any(|r| {
            r.matches.iter().any(|m| {
                matches!(m, crate::model::Match::Unmodelled { reason, .. }
                if reason == crate::backend::nft::HIDDEN_NFPROTO)
            })
        })
}

/// Whether nftables has a rule or a drop policy: in the tables it read, or — for a table whose
/// rules it left unread — in the iptables-nft listing of that table (the same kernel table).
fn nft_active(rs: &Ruleset, listed: &[&Ruleset]) -> bool {
    let listing_active = |t: &Table| {
        listed
            .iter()
            .flat_map(|l| &l.tables)
            .any(|l| l.family == t.family && l.name == t.name && !l.is_inactive())
    };
    rs.tables
        .iter()
        .any(|t| !t.is_inactive() || (t.rules_unread && listing_active(t)))
}

fn push(c: &mut Collected, tool: &str, backend: Option<Backend>, r: Result<Ruleset, CollectError>) {
    let active = r.as_ref().map(|rs| !rs.is_inactive()).map_err(Clone::clone);
    report(c, tool, backend, r, active);
}

/// Keeps a source's ruleset (when read) and its report.
fn report(
    c: &mut Collected,
    tool: &str,
    backend: Option<Backend>,
    r: Result<Ruleset, CollectError>,
    active: Result<bool, CollectError>,
) {
    if let Ok(rs) = r {
        c.rulesets.push(rs);
    }
    c.sources.push(SourceReport {
        tool: tool.into(),
        backend,
        active,
    });
}
