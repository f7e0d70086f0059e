//! `portdoctor wait HOST:PORT... [-- CMD ARGS]`: wait until ports accept (and optionally an
//! HTTP path answers 2xx), with exponential backoff and jitter, then run CMD.

use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

use clap::Args;
use portdoctor_probe::wait::{WaitConfig, WaitEvent, wait_all};

use super::probe::{map_err, parse_duration, runtime};
use crate::exit::{CliError, Exit, environment};
use crate::output::Output;

/// Arguments of `portdoctor wait`.
#[derive(Debug, Args)]
#[command(after_help = "\
Waits until every HOST:PORT accepts a TCP connection (with --http: until GET PATH answers 2xx),
then runs CMD if one is given after `--` and exits with CMD's exit code. Checks back off
exponentially with jitter from 10 ms up to --interval (default: 10 ms for loopback targets,
where a refused connect costs microseconds; 1 s for anything else). Host names are resolved
again on each check (DNS may come up late too); a target is ready when any of its addresses
accepts.

Exit codes: 0 ready (or, with CMD, CMD's own exit code); 1 timed out; 2 bad usage (target
syntax, UDP target); 3 environment (CMD cannot be started, local socket failure).

Examples:
  portdoctor wait 127.0.0.1:5432 -- ./migrate --all
  portdoctor wait db:5432 cache:6379 --timeout 60s
  portdoctor wait 127.0.0.1:8080 --http /healthz --timeout 30s -- curl -s localhost:8080/
  portdoctor wait [::1]:9000 --interval 250ms --json

JSON fields (stdout): ready, elapsed_ms, targets[] {target, addr, ready, attempts,
ready_after_ms, last}. Progress lines go to stderr.")]
pub struct WaitArgs {
    /// Targets: HOST:PORT or [IPV6]:PORT (TCP).
    #[arg(required = true, value_name = "HOST:PORT")]
    pub targets: Vec<String>,

    /// Give up after this long (e.g. 30s, 2m).
    #[arg(long, value_name = "D", default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Ready only when `GET PATH` over HTTP/1.1 answers 2xx.
    #[arg(long, value_name = "PATH")]
    pub http: Option<String>,

    /// Longest pause between checks (the backoff cap).
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    pub interval: Option<Duration>,

    /// Local address to connect from.
    #[arg(long, value_name = "ADDR")]
    pub source: Option<IpAddr>,

    /// No progress lines on stderr.
    #[arg(short, long)]
    pub quiet: bool,

    /// Command to run once ready, with its arguments (after `--`).
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// Runs `wait`.
pub fn run(args: &WaitArgs, out: &Output) -> Result<Exit, CliError> {
    let endpoints = super::probe::parse_endpoints(&args.targets)?;
    let cfg = WaitConfig {
        timeout: args.timeout,
        interval: args.interval,
        http_path: args.http.clone(),
        source: args.source,
        attempt_timeout: args.timeout.min(Duration::from_secs(1)),
        ..WaitConfig::default()
    };
    let names: Vec<String> = endpoints.iter().map(|e| e.to_string()).collect();
    let verbose = !args.quiet && !out.json;
    let report = runtime()?
        .block_on(wait_all(&endpoints, &cfg, move |ev: WaitEvent| {
            if verbose && (ev.ready || ev.attempt == 1) {
                let what = if ev.ready { "ready" } else { "waiting" };
                let _ = writeln!(
                    std::io::stderr(),
                    "wait: {} {what} ({})",
                    names[ev.index],
                    ev.seen
                );
            }
        }))
        .map_err(map_err)?;
    if out.json {
        out.json(&report)?;
    } else if !args.quiet {
        for t in report.targets.iter().filter(|t| !t.ready) {
            let _ = writeln!(
                std::io::stderr(),
                "wait: {} not ready after {:.1} s, {} attempts (last: {})",
                t.target,
                report.elapsed_ms / 1000.0,
                t.attempts,
                t.last
            );
        }
    }
    if !report.ready {
        return Ok(Exit::Failed);
    }
    let Some((prog, rest)) = args.command.split_first() else {
        return Ok(Exit::Ok);
    };
    let status = std::process::Command::new(prog)
        .args(rest)
        .status()
        .map_err(|e| environment(format!("cannot run {prog:?}: {e}")))?;
    // A command killed by a signal has no exit code: report failure (1).
    let code = status.code().unwrap_or(1);
    Ok(Exit::Code(u8::try_from(code & 0xff).unwrap_or(1)))
}
