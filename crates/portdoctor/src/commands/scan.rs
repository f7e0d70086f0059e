//! `portdoctor scan HOST[/CIDR] -p SPEC`: many probes at once, with a progress bar.

use std::io::IsTerminal;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use portdoctor_probe::engine::{self, ProbeResult};
use portdoctor_probe::target::MAX_RANGE_HOSTS;
use portdoctor_probe::{PortSet, PortState, Proto, parse_ports, parse_scan_target};
use serde::Serialize;

use super::probe::{Counts, NetArgs, ambiguity_notes, map_err, render_table, runtime};
use crate::exit::{CliError, Exit, usage};
use crate::output::Output;

/// Arguments of `portdoctor scan`.
#[derive(Debug, Args)]
#[command(after_help = "\
Port specs are nmap's: 22,80,8000-8100 ; -p- (1-65535) ; -1024 ; 60000- . Without -p the
1000 most frequently open TCP ports (nmap's table) are scanned. A bad spec names the column and
token. CIDR ranges are capped at 4096 addresses (--max-hosts).

Examples:
  portdoctor scan 127.0.0.1 -p-
  portdoctor scan 198.18.0.0/28 -p 22,80,443 --open
  portdoctor scan db.internal --top-ports 100 --json
  portdoctor scan 198.18.0.1 -p 53,123 --udp --timeout 500ms

Exit codes: 0 at least one port open; 1 none open; 2 bad input; 3 environment.
JSON fields: target, proto, ports_scanned, hosts, counts {open, closed, filtered,
open_filtered, unreachable}, results[] (as in `probe --json`; every port, or only open ones with
--open), elapsed_ms, concurrency, nofile_limit.")]
pub struct ScanArgs {
    /// HOST, ADDRESS or ADDRESS/PREFIX (IPv4 or IPv6).
    #[arg(value_name = "HOST[/CIDR]")]
    pub target: String,

    /// Ports: 22,80,8000-8100 ; `-p-` for all.
    #[arg(
        short = 'p',
        long = "ports",
        value_name = "SPEC",
        allow_hyphen_values = true
    )]
    pub ports: Option<String>,

    /// The N most frequently open TCP ports (1-1000), in nmap's order.
    #[arg(long, value_name = "N", conflicts_with = "ports")]
    pub top_ports: Option<usize>,

    /// UDP probes instead of TCP.
    #[arg(short = 'u', long)]
    pub udp: bool,

    /// Show only open ports.
    #[arg(long)]
    pub open: bool,

    /// Largest number of addresses a CIDR range may hold.
    #[arg(long, value_name = "N", default_value_t = MAX_RANGE_HOSTS as u64)]
    pub max_hosts: u64,

    /// Timeouts, retries, concurrency, source address.
    #[command(flatten)]
    pub net: NetArgs,
}

#[derive(Debug, Serialize)]
struct ScanJson<'a> {
    target: &'a str,
    proto: Proto,
    ports_scanned: usize,
    hosts: usize,
    counts: Counts,
    results: Vec<&'a ProbeResult>,
    elapsed_ms: f64,
    concurrency: usize,
    nofile_limit: Option<u64>,
}

/// Scans above this many probes get a progress bar (on a terminal, without --json).
const PROGRESS_MIN: usize = 200;

/// Runs `scan`.
pub fn run(args: &ScanArgs, out: &Output) -> Result<Exit, CliError> {
    let target = parse_scan_target(&args.target, u128::from(args.max_hosts)).map_err(map_err)?;
    let ports = match (&args.ports, args.top_ports) {
        (Some(spec), _) => parse_ports(spec).map_err(|e| usage(e.to_string()))?,
        (None, Some(n)) => PortSet::top(n).map_err(|e| usage(e.to_string()))?,
        (None, None) if args.udp => {
            return Err(usage(
                "--udp needs -p SPEC (the built-in --top-ports table is nmap's TCP one)",
            ));
        }
        (None, None) => PortSet::top(1000).map_err(|e| usage(e.to_string()))?,
    };
    let proto = if args.udp { Proto::Udp } else { Proto::Tcp };
    let cfg = args.net.config();
    let rt = runtime()?;
    let jobs = rt
        .block_on(portdoctor_probe::scan::plan_scan(&target, &ports, proto))
        .map_err(map_err)?;
    let total = jobs.len();
    let hosts = total / ports.len().max(1);
    let bar = progress_bar(total, out);
    let report = rt
        .block_on(engine::run(jobs, &cfg, |p| {
            if let Some(b) = &bar {
                b.set_position(p.done as u64);
                if p.open > 0 {
                    b.set_message(format!("{} open", p.open));
                }
            }
        }))
        .map_err(map_err)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let counts = Counts::of(&report.results);
    // Exit 1 when nothing was found open, as for every command ("nothing found").
    let found = report.results.iter().any(|r| r.state == PortState::Open);
    let exit = if found { Exit::Ok } else { Exit::Failed };
    let shown: Vec<&ProbeResult> = report
        .results
        .iter()
        .filter(|r| !args.open || r.state == PortState::Open)
        .collect();
    if out.json {
        out.json(&ScanJson {
            target: &args.target,
            proto,
            ports_scanned: ports.len(),
            hosts,
            counts,
            results: shown,
            elapsed_ms: report.elapsed_ms,
            concurrency: report.concurrency,
            nofile_limit: report.nofile_limit,
        })?;
        return Ok(exit);
    }
    render_human(&shown, &counts, args.open, report.elapsed_ms, out)?;
    ambiguity_notes(&report.results);
    Ok(exit)
}

fn progress_bar(total: usize, out: &Output) -> Option<ProgressBar> {
    if out.json || total < PROGRESS_MIN || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{bar:40} {pos}/{len} probes {msg} ({eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    Some(bar)
}

/// Like nmap: when many ports share one uninteresting state, list the others and count it.
fn render_human(
    shown: &[&ProbeResult],
    counts: &Counts,
    only_open: bool,
    elapsed_ms: f64,
    out: &Output,
) -> Result<(), CliError> {
    let hide = if only_open || shown.len() <= 25 {
        None
    } else {
        [
            (PortState::Closed, counts.closed),
            (PortState::Filtered, counts.filtered),
            (PortState::OpenFiltered, counts.open_filtered),
        ]
        .into_iter()
        .max_by_key(|(_, n)| *n)
        .filter(|(_, n)| *n > 0)
    };
    let rows: Vec<ProbeResult> = shown
        .iter()
        .filter(|r| hide.is_none_or(|(s, _)| r.state != s))
        .map(|r| (*r).clone())
        .collect();
    if rows.is_empty() {
        out.line("no ports to show")?;
    } else {
        render_table(&rows, out)?;
    }
    let mut summary = format!(
        "{} open, {} closed, {} filtered",
        counts.open, counts.closed, counts.filtered
    );
    if counts.open_filtered > 0 {
        summary.push_str(&format!(", {} open|filtered", counts.open_filtered));
    }
    if counts.unreachable > 0 {
        summary.push_str(&format!(", {} unreachable", counts.unreachable));
    }
    if let Some((state, n)) = hide {
        summary.push_str(&format!(" (not shown: {n} {})", state.as_str()));
    }
    out.line(&format!("{summary}; {:.2} s", elapsed_ms / 1000.0))?;
    Ok(())
}
