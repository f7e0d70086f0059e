//! `portdoctor probe HOST:PORT...`: concurrent connect probes, each classified open / closed /
//! filtered / unreachable from what the kernel reports, with latency. Also the helpers that
//! `scan` and `wait` share (durations, runtime, rendering, error mapping).

use std::net::IpAddr;
use std::time::Duration;

use clap::Args;
use portdoctor_probe::engine::{self, ProbeResult};
use portdoctor_probe::{PortState, ProbeConfig, ProbeError, Reason};
use serde::Serialize;

use crate::exit::{CliError, Exit, environment, usage};
use crate::output::{Output, note};

/// Arguments of `portdoctor probe`.
#[derive(Debug, Args)]
#[command(after_help = "\
States: open (handshake completed / UDP reply), closed (TCP RST; UDP ICMP port-unreachable),
filtered (no answer: dropped), open|filtered (UDP, no answer), unreachable (an ICMP error or a
local error; the kind says which: admin-prohibited, host-unreachable, net-unreachable,
port-unreachable (a firewall reject), no-route (local routing table), ...). On Linux the exact
ICMP type/code is read from the socket's error queue; elsewhere only the errno is known and an
ambiguous errno is reported as such.

Examples:
  portdoctor probe 127.0.0.1:8080 [::1]:8080 db.internal:5432
  portdoctor probe 198.18.0.1:53/udp --timeout 500ms
  portdoctor probe example.test:443 --source 198.18.0.2 --json

A host name is probed on every address it resolves to (one row each); the target counts as
open when one of them is.

Exit codes: 0 every target open; 1 some target not open; 2 bad input (target syntax,
unresolvable host, bad --source); 3 environment.
JSON fields: results[] {host, addr, port, proto, state, reason, unreachable, errno,
icmp {family, type, code, name, from}, ambiguous, latency_ms, attempts}, elapsed_ms,
concurrency, nofile_limit.")]
pub struct ProbeArgs {
    /// Targets: HOST:PORT, [IPV6]:PORT, with an optional /udp (or /tcp) suffix.
    #[arg(required = true, value_name = "HOST:PORT")]
    pub targets: Vec<String>,

    /// Timeouts, retries, concurrency, source address.
    #[command(flatten)]
    pub net: NetArgs,
}

/// Options shared by `probe` and `scan`.
#[derive(Debug, Args)]
pub struct NetArgs {
    /// Longest wait for an answer per attempt (e.g. 500ms, 2s); adaptive timeouts from
    /// measured round trips stay below it.
    #[arg(long, value_name = "D", default_value = "1s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Extra attempts for probes that got no answer.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub retries: u32,

    /// Probes in flight at once (default: from the open-files limit, raised to its hard limit).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: Option<u32>,

    /// Local address to send from (bound before connecting).
    #[arg(long, value_name = "ADDR")]
    pub source: Option<IpAddr>,
}

impl NetArgs {
    /// The engine configuration these options describe.
    pub fn config(&self) -> ProbeConfig {
        ProbeConfig {
            timeout: self.timeout,
            retries: self.retries,
            concurrency: self.concurrency.map(|c| c as usize),
            source: self.source,
            ..ProbeConfig::default()
        }
    }
}

/// Parses `250ms`, `2s`, `1.5s`, `3m`, `1h`; a bare number means seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. 500ms, 2s, 1m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unknown unit in `{text}` (ms, s, m, h)")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{text}` is out of range"))
}

pub use crate::runtime::runtime;

/// Maps a library error to an exit code: input problems are 2, local failures 3.
pub fn map_err(e: ProbeError) -> CliError {
    match e {
        ProbeError::Io(_) => environment(e.to_string()),
        _ => usage(e.to_string()),
    }
}

/// Parses `HOST:PORT[/PROTO]` targets; the first bad one is the error.
pub fn parse_endpoints(targets: &[String]) -> Result<Vec<portdoctor_probe::Endpoint>, CliError> {
    targets
        .iter()
        .map(|t| portdoctor_probe::parse_endpoint(t))
        .collect::<Result<Vec<_>, _>>()
        .map_err(map_err)
}

/// Runs `probe`.
pub fn run(args: &ProbeArgs, out: &Output) -> Result<Exit, CliError> {
    let endpoints = parse_endpoints(&args.targets)?;
    let cfg = args.net.config();
    let (per_endpoint, report) = runtime()?
        .block_on(async {
            let groups = portdoctor_probe::scan::plan_endpoints_all(&endpoints).await?;
            let sizes: Vec<usize> = groups.iter().map(Vec::len).collect();
            let jobs = groups.into_iter().flatten().collect();
            Ok::<_, ProbeError>((sizes, engine::run(jobs, &cfg, |_| {}).await?))
        })
        .map_err(map_err)?;
    if out.json {
        out.json(&report)?;
    } else {
        render_table(&report.results, out)?;
        ambiguity_notes(&report.results);
    }
    // A target is open when one of its addresses is (a name may resolve to A and AAAA).
    let mut rest = report.results.as_slice();
    let mut all_open = true;
    for n in per_endpoint {
        let (mine, tail) = rest.split_at(n.min(rest.len()));
        all_open &= mine.iter().any(|r| r.state == PortState::Open);
        rest = tail;
    }
    Ok(if all_open { Exit::Ok } else { Exit::Failed })
}

/// `host:port` as users write it (IPv6 in brackets).
pub fn endpoint_text(r: &ProbeResult) -> String {
    let host = if r.host.contains(':') {
        format!("[{}]", r.host)
    } else {
        r.host.clone()
    };
    let mut s = format!("{host}:{}", r.port);
    if r.host != r.addr.to_string() {
        s.push_str(&format!(" ({})", r.addr));
    }
    s
}

/// The state as shown in tables (plain: the grid aligns by characters, so no colour codes).
pub fn state_text(r: &ProbeResult) -> String {
    r.state.as_str().to_string()
}

/// A short human explanation of how the state was learnt.
pub fn reason_text(r: &ProbeResult) -> String {
    let kind = r
        .unreachable
        .and_then(|k| serde_json::to_value(k).ok())
        .and_then(|v| v.as_str().map(str::to_string));
    let mut s = match r.reason {
        Reason::SynAck => "syn-ack".to_string(),
        Reason::Reset => "reset".to_string(),
        Reason::ConnRefused => "connection refused".to_string(),
        Reason::UdpResponse => "udp reply".to_string(),
        Reason::NoResponse => format!("no response ({} attempts)", r.attempts),
        Reason::Icmp => match &r.icmp {
            Some(i) => match i.from {
                Some(from) => format!("{} {} from {from}", i.family, i.name),
                None => format!("{} {}", i.family, i.name),
            },
            None => "icmp".to_string(),
        },
        Reason::Local => format!("{} (local)", kind.clone().unwrap_or_default()),
        Reason::Errno => kind.clone().unwrap_or_default(),
    };
    if let Some(e) = r.errno {
        if r.state != PortState::Open {
            s.push_str(&format!(" [{e}]"));
        }
    }
    s
}

/// Latency in milliseconds, or `-`.
pub fn latency_text(r: &ProbeResult) -> String {
    r.latency_ms
        .map(|ms| {
            if ms < 1.0 {
                format!("{ms:.3} ms")
            } else if ms < 10.0 {
                format!("{ms:.2} ms")
            } else {
                format!("{ms:.0} ms")
            }
        })
        .unwrap_or_else(|| "-".into())
}

/// The human table of results.
pub fn render_table(results: &[ProbeResult], out: &Output) -> Result<(), CliError> {
    let rows: Vec<Vec<String>> = results
        .iter()
        .map(|r| {
            vec![
                endpoint_text(r),
                r.proto.to_string(),
                state_text(r),
                reason_text(r),
                latency_text(r),
            ]
        })
        .collect();
    out.grid(&["TARGET", "PROTO", "STATE", "REASON", "LATENCY"], &rows)?;
    Ok(())
}

/// One note per distinct ambiguity, on stderr.
pub fn ambiguity_notes(results: &[ProbeResult]) {
    let mut seen: Vec<&str> = Vec::new();
    for r in results {
        if let Some(a) = r.ambiguous {
            if !seen.contains(&a) {
                seen.push(a);
                note(a);
            }
        }
    }
}

/// Counts per state, for summaries.
#[derive(Debug, Default, Serialize)]
pub struct Counts {
    /// Open ports.
    pub open: usize,
    /// Closed ports.
    pub closed: usize,
    /// Filtered ports.
    pub filtered: usize,
    /// UDP ports without an answer.
    pub open_filtered: usize,
    /// Unreachable ports.
    pub unreachable: usize,
}

impl Counts {
    /// Counts the states of `results`.
    pub fn of(results: &[ProbeResult]) -> Self {
        let mut c = Counts::default();
        for r in results {
            match r.state {
                PortState::Open => c.open += 1,
                PortState::Closed => c.closed += 1,
                PortState::Filtered => c.filtered += 1,
                PortState::OpenFiltered => c.open_filtered += 1,
                PortState::Unreachable => c.unreachable += 1,
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("5d").is_err());
        assert!(parse_duration("").is_err());
    }
}
