//! The comparison: read the host's rulesets back as portdoctor does
//! ([`portdoctor_firewall::collect::collect`] through `ip netns exec HOST`), evaluate the probe's
//! packet with [`portdoctor_firewall::explain`], and compare the decision with what the kernel
//! did.
//!
//! | decision | kernel outcome expected |
//! |---|---|
//! | Accept, listener | TCP connected / UDP answered |
//! | Accept, no listener | TCP RST / ICMP(v6) port unreachable |
//! | Drop | timeout |
//! | Reject(kind) | the RST or the ICMP type/code of that kind for the packet's family |
//! | Unknown(reason) | not compared; counted by reason |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use portdoctor_firewall::backend::nft_netlink::{NetlinkError, Rules};
use portdoctor_firewall::collect::{
    CommandRunner, NFT_NETLINK_TOOL, Programs, RunOutput, Runner, collect,
};
use portdoctor_firewall::{
    Backend, Decision, Packet, Proto as FwProto, RejectKind, Ruleset, Verdict,
};

use super::equiv::Equivalence;

use super::oracle::Oracle;
use super::probe::{Observed, ProbeResult, ProbeSpec, Proto};

/// A [`Runner`] that runs in the host namespace and keeps every output, for failure reports
/// and regression tests.
pub struct Recorder {
    inner: CommandRunner,
    /// (command line, stdout) in call order.
    pub log: Mutex<Vec<(String, String)>>,
    /// The native reader's model against `nft -j`'s for this read.
    pub equivalence: Equivalence,
}

impl Recorder {
    /// Runs programs inside the lab's host namespace.
    pub fn new(oracle: &Oracle) -> Recorder {
        Recorder {
            inner: CommandRunner::with_prefix(["ip", "netns", "exec", oracle.lab.host().name()]),
            log: Mutex::new(Vec::new()),
            equivalence: Equivalence::default(),
        }
    }

    /// The recorded outputs, one section per command.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for (cmd, stdout) in self.log.lock().expect("recorder lock").iter() {
            let _ = writeln!(out, "### {cmd}\n{}", stdout.trim_end());
        }
        out
    }
}

impl Runner for Recorder {
    fn nft_native(&self) -> Option<Result<Ruleset, NetlinkError>> {
        self.inner.nft_native()
    }

    fn nft_native_with(&self, rules: Rules) -> Option<Result<Ruleset, NetlinkError>> {
        self.inner.nft_native_with(rules)
    }

    fn run(&self, program: &str, args: &[&str]) -> std::io::Result<RunOutput> {
        let out = self.inner.run(program, args)?;
        self.log
            .lock()
            .expect("recorder lock")
            .push((format!("{program} {}", args.join(" ")), out.stdout.clone()));
        Ok(out)
    }
}

/// Reads every backend of the host, as `portdoctor explain` does; the recorder keeps the
/// texts. Sources that cannot be read are an error here: in the lab all of them exist.
///
/// nftables is read natively (netlink, inside the namespace), the rules of iptables-nft's
/// tables left to `iptables-nft-save` as `explain` reads them; the ruleset is read again
/// natively in full and through `nft -j list ruleset` and the models are compared
/// ([`Recorder::equivalence`]): the full native one with nft's, the one collect gave with the
/// full one (equal but for the rules it left out).
pub fn read_rulesets(oracle: &Oracle) -> Result<(Vec<Ruleset>, Recorder), String> {
    let mut rec = Recorder::new(oracle);
    let collected = collect(&rec, &Programs::default());
    for s in &collected.sources {
        if let Err(e) = &s.active {
            return Err(format!("{}: {e}", s.tool));
        }
    }
    let nft = collected
        .sources
        .iter()
        .position(|s| s.backend == Some(Backend::Nftables));
    match nft.map(|i| collected.sources[i].tool.as_str()) {
        Some(NFT_NETLINK_TOOL) => {}
        other => return Err(format!("nftables was not read natively (source {other:?})")),
    }
    let native = collected
        .rulesets
        .iter()
        .find(|r| r.backend == Some(Backend::Nftables))
        .ok_or("no nftables ruleset was read")?;
    rec.equivalence
        .compare_lean(native, oracle.lab.host().name())?;
    Ok((collected.rulesets, rec))
}

/// The packet the evaluator gets for a probe arriving on `iif`.
pub fn packet_for(r: &ProbeResult, iif: &str) -> Packet {
    let proto = match r.spec.proto {
        Proto::Tcp => FwProto::Tcp,
        Proto::Udp => FwProto::Udp,
    };
    let mut p = Packet::new(proto, r.spec.src, r.spec.dst.ip(), r.spec.dst.port()).with_iif(iif);
    p.sport = r.sport;
    // Probes repeat from the same source: traffic-history matches stay unknown here.
    p.assume_fresh_source = false;
    if r.spec.established {
        p.ct_state = portdoctor_firewall::CtState::Established;
        p.tcp_flags = 0x18; // PSH|ACK
    }
    p
}

/// The outcome the kernel should show for `verdict`; `None` for `Unknown`, and `Err` when a
/// reject kind has no known wire form for the packet's family. An accept that a `redirect`
/// sent to another local port reaches that port's listener (or its absence).
pub fn expected(verdict: &Verdict, spec: &ProbeSpec) -> Result<Option<Observed>, String> {
    let decision = &verdict.decision;
    let v6 = spec.dst.is_ipv6();
    let mut target = *spec;
    if let Some(port) = verdict.redirected_to {
        target.dst.set_port(port);
    }
    let listening = Oracle::listening(&target);
    let icmp = |v4code: u8, v6code: u8| Observed::Icmp {
        v6,
        ty: if v6 { 1 } else { 3 },
        code: if v6 { v6code } else { v4code },
    };
    let port_unreachable = icmp(3, 4);
    if matches!(decision, Decision::Unknown(_)) {
        return Ok(None);
    }
    if spec.established {
        return expected_established(decision, spec, v6).map(Some);
    }
    Ok(Some(match decision {
        Decision::Unknown(_) => return Ok(None),
        Decision::Drop => Observed::Timeout,
        Decision::Accept => match (spec.proto, listening) {
            (Proto::Tcp, true) => Observed::Connected,
            (Proto::Tcp, false) => Observed::Reset,
            (Proto::Udp, true) => Observed::Answered,
            (Proto::Udp, false) => port_unreachable,
        },
        Decision::Reject(kind) => match kind {
            RejectKind::TcpReset => Observed::Reset,
            RejectKind::PortUnreachable => port_unreachable,
            RejectKind::AdminProhibited => icmp(13, 1),
            // icmpx host-unreachable is ICMPv6 address unreachable.
            RejectKind::HostUnreachable | RejectKind::AddrUnreachable => icmp(1, 3),
            // icmpx no-route is ICMP net unreachable.
            RejectKind::NetUnreachable | RejectKind::NoRoute => icmp(0, 0),
            RejectKind::ProtoUnreachable if !v6 => icmp(2, 2),
            RejectKind::HostProhibited if !v6 => icmp(10, 10),
            RejectKind::NetProhibited if !v6 => icmp(9, 9),
            RejectKind::Other(name) if v6 && name.contains("policy-fail") => icmp(0, 5),
            RejectKind::Other(name) if v6 && name.contains("reject-route") => icmp(0, 6),
            other => {
                return Err(format!(
                    "reject kind {other:?} has no known form for an IPv{} packet",
                    if v6 { 6 } else { 4 }
                ));
            }
        },
    }))
}

/// The outcome for a packet of an established flow (always to a listening port): the echo,
/// a reset, an ICMP error (UDP: from the error queue; TCP: only the errno it sets), nothing.
fn expected_established(
    decision: &Decision,
    spec: &ProbeSpec,
    v6: bool,
) -> Result<Observed, String> {
    let kind = match decision {
        Decision::Unknown(_) => unreachable!("handled by the caller"),
        Decision::Accept => return Ok(Observed::Answered),
        Decision::Drop => return Ok(Observed::Timeout),
        Decision::Reject(RejectKind::TcpReset) => return Ok(Observed::Reset),
        Decision::Reject(kind) => kind,
    };
    if spec.proto == Proto::Udp {
        let first = ProbeSpec {
            established: false,
            ..*spec
        };
        let v = Verdict {
            decision: decision.clone(),
            ..Verdict::unknown("")
        };
        return expected(&v, &first).map(|o| o.unwrap_or(Observed::Timeout));
    }
    let errno = match (kind, v6) {
        (RejectKind::PortUnreachable, _) => libc::ECONNREFUSED,
        (RejectKind::AdminProhibited, true) => libc::EACCES,
        (RejectKind::AdminProhibited, false)
        | (RejectKind::HostUnreachable | RejectKind::AddrUnreachable, _)
        | (RejectKind::HostProhibited, false) => libc::EHOSTUNREACH,
        (RejectKind::NetUnreachable | RejectKind::NoRoute, _)
        | (RejectKind::NetProhibited, false) => libc::ENETUNREACH,
        (RejectKind::ProtoUnreachable, false) => libc::ENOPROTOOPT,
        (RejectKind::Other(name), true)
            if name.contains("policy-fail") || name.contains("reject-route") =>
        {
            libc::EACCES
        }
        (other, _) => {
            return Err(format!(
                "reject kind {other:?} has no known errno for an established IPv{} flow",
                if v6 { 6 } else { 4 }
            ));
        }
    };
    Ok(Observed::Other(errno))
}

/// One compared case.
#[derive(Debug, Clone)]
pub enum CaseResult {
    /// Kernel and evaluator agree.
    Agree,
    /// The evaluator said Unknown with this reason. `checked`: it listed only definite
    /// possible outcomes and one of them explains the kernel's (an unchecked Unknown promises
    /// nothing that could be compared).
    Unknown(String, bool),
    /// A disagreement that agreed when re-probed with a long timeout (a slow answer).
    Flaky,
    /// They disagree; the message says how.
    Disagree(String),
}

/// Compares one probe with the evaluator's overall verdict. `may_redirect`: the ruleset has a
/// redirect or DNAT, so a possible accept (which names no port) may reach another port.
pub fn compare(r: &ProbeResult, verdict: &Verdict, may_redirect: bool) -> CaseResult {
    match expected(verdict, &r.spec) {
        Ok(None) => {
            let reason = match &verdict.decision {
                Decision::Unknown(reason) => reason.clone(),
                _ => unreachable!("only Unknown has no expectation"),
            };
            // An Unknown that lists only definite possibilities still promises one of them.
            let definite = !verdict.possible.is_empty()
                && verdict
                    .possible
                    .iter()
                    .all(|d| !matches!(d, Decision::Unknown(_)));
            if definite {
                let mut wants: Vec<Observed> = verdict
                    .possible
                    .iter()
                    .filter_map(|d| {
                        let v = Verdict {
                            decision: d.clone(),
                            ..verdict.clone()
                        };
                        expected(&v, &r.spec).ok().flatten()
                    })
                    .collect();
                // A possible accept on a path through a redirect reaches a port the verdict
                // does not name: any "accepted" outcome fits it.
                if (may_redirect || reason.contains("redirect"))
                    && verdict.possible.contains(&Decision::Accept)
                {
                    let v6 = r.spec.dst.is_ipv6();
                    wants.extend([
                        Observed::Connected,
                        Observed::Reset,
                        Observed::Answered,
                        Observed::Icmp {
                            v6,
                            ty: if v6 { 1 } else { 3 },
                            code: if v6 { 4 } else { 3 },
                        },
                    ]);
                }
                if !wants.contains(&r.observed) {
                    return CaseResult::Disagree(format!(
                        "evaluator: Unknown ({reason}), possible {:?}, none of which explains the kernel's {} (errno {:?})",
                        verdict.possible, r.observed, r.errno
                    ));
                }
            }
            CaseResult::Unknown(reason, definite)
        }
        Ok(Some(want)) if want == r.observed => CaseResult::Agree,
        Ok(Some(want)) => CaseResult::Disagree(format!(
            "evaluator: {:?}{} (so the kernel should show {want}); kernel: {} (errno {:?})",
            verdict.decision,
            verdict
                .redirected_to
                .map(|p| format!(" redirected to {p}"))
                .unwrap_or_default(),
            r.observed,
            r.errno
        )),
        Err(e) => CaseResult::Disagree(format!("{e}; kernel: {}", r.observed)),
    }
}

/// Shortens an Unknown reason to its kind, for counting: the evaluator's reasons read
/// "<where> `<rule>`: <expression>: <why> (possible outcomes: …)"; the why is kept, with
/// digits masked (set names, numbers vary per case).
pub fn reason_key(reason: &str) -> String {
    let head = reason.split(" (possible outcomes").next().unwrap_or(reason);
    let why = head.rsplit(": ").next().unwrap_or(head);
    why.chars()
        .take(100)
        .map(|c| if c.is_ascii_digit() { '#' } else { c })
        .collect()
}

/// Most flaky cases (as a fraction of all cases) a run tolerates.
pub const MAX_FLAKY: f64 = 0.005;

impl Tally {
    /// Why the run fails on flakes or load failures, if it does.
    pub fn problems(&self) -> Vec<String> {
        let mut out = vec![];
        if self.cases > 0 && self.flaky as f64 > MAX_FLAKY * self.cases as f64 {
            out.push(format!(
                "{} flaky cases of {} exceed {:.1} %",
                self.flaky,
                self.cases,
                MAX_FLAKY * 100.0
            ));
        }
        if self.load_failures > 0 {
            out.push(format!(
                "{} scenario(s) could not be loaded",
                self.load_failures
            ));
        }
        out
    }
}

/// Tally of a run.
#[derive(Debug, Default)]
pub struct Tally {
    /// Cases compared (one ruleset x one packet).
    pub cases: usize,
    /// Kernel and evaluator agree.
    pub agree: usize,
    /// Disagreements.
    pub disagree: usize,
    /// Unknown decisions by reason.
    pub unknown: BTreeMap<String, usize>,
    /// Unknown decisions whose possible outcomes were all definite and one matched.
    pub unknown_checked: usize,
    /// Unknown decisions that promise nothing comparable (an undecided path).
    pub unknown_unchecked: usize,
    /// Disagreements that agreed on a second, slower probe.
    pub flaky: usize,
    /// One full Unknown reason per key, for the report.
    pub unknown_example: BTreeMap<String, String>,
    /// Kernel outcomes seen.
    pub observed: BTreeMap<String, usize>,
    /// Scenarios that could not be loaded (generator produced something the kernel refuses).
    pub load_failures: usize,
    /// Scenarios run.
    pub scenarios: usize,
    /// Native reader against `nft -j`, over every ruleset read.
    pub equivalence: Equivalence,
    /// Cases whose port the sweep (`--all-ports`) was checked at, against the evaluator.
    pub sweep_checked: usize,
}

impl Tally {
    /// Adds one compared case.
    pub fn add(&mut self, r: &ProbeResult, result: &CaseResult) {
        self.cases += 1;
        *self.observed.entry(r.observed.to_string()).or_default() += 1;
        match result {
            CaseResult::Agree => self.agree += 1,
            CaseResult::Flaky => self.flaky += 1,
            CaseResult::Unknown(reason, checked) => {
                if *checked {
                    self.unknown_checked += 1;
                } else {
                    self.unknown_unchecked += 1;
                }
                let key = reason_key(reason);
                self.unknown_example
                    .entry(key.clone())
                    .or_insert_with(|| reason.clone());
                *self.unknown.entry(key).or_default() += 1;
            }
            CaseResult::Disagree(_) => self.disagree += 1,
        }
    }

    /// The one-line summary plus the breakdowns.
    pub fn summary(&self, seed: u64) -> String {
        let unknown: usize = self.unknown.values().sum();
        let mut out = format!(
            "differential: cases={} agreements={} disagreements={} unknowns={} (checked={} unchecked={}) flaky={} scenarios={} load_failures={} seed={seed}",
            self.cases,
            self.agree,
            self.disagree,
            unknown,
            self.unknown_checked,
            self.unknown_unchecked,
            self.flaky,
            self.scenarios,
            self.load_failures
        );
        let _ = write!(out, "\n  {}", self.equivalence.summary());
        if self.sweep_checked > 0 {
            let _ = write!(
                out,
                "\n  sweep (--all-ports) checked against the evaluator at {} probed ports",
                self.sweep_checked
            );
        }
        for (reason, n) in &self.unknown {
            let _ = write!(out, "\n  unknown {n:>5}  {reason}");
            if std::env::var_os("PORTDOCTOR_DIFF_VERBOSE").is_some() {
                let _ = write!(
                    out,
                    "\n                 e.g. {}",
                    self.unknown_example[reason]
                );
            }
        }
        for (o, n) in &self.observed {
            let _ = write!(out, "\n  kernel  {n:>5}  {o}");
        }
        out
    }
}
