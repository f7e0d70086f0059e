//! `portdoctor diagnose`: the main job. Sockets, firewall verdicts and probes joined into
//! ranked findings with evidence and the exact fix.

use crate::commands::peer::AgentPeer;
use crate::exit::{CliError, Exit, usage};
use crate::gather::{self, Request};
use crate::output::Output;
pub use crate::report::render;
use clap::Args;
use portdoctor_diagnose::Outcome;
use portdoctor_diagnose::{Evidence, Finding, Severity, diagnose};
use portdoctor_firewall::collect::CommandRunner;
use portdoctor_sockets::Proto;
use std::net::IpAddr;

/// Arguments of `portdoctor diagnose`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  portdoctor diagnose 8080                     why can't others reach 8080/tcp?
  portdoctor diagnose 53/udp
  portdoctor diagnose 8080 --from 192.0.2.10   ask about that machine: fixes let it in
  portdoctor diagnose 8080 --from 192.0.2.10 --to 198.51.100.1   ... which connects to that
  portdoctor diagnose 8080 --expect myservice  the port should belong to myservice
  portdoctor diagnose 8080 --http /healthz     also check the service answers
  portdoctor diagnose 8080 --peer http://192.0.2.10:9187   a portdoctor agent there probes back
  portdoctor diagnose 8080 --peer https://192.0.2.10:9187 --peer-fingerprint AB:CD:…
                                               ... over HTTPS, its certificate pinned
  portdoctor diagnose 8080 --json | jq '.findings[0]'
  portdoctor diagnose 8080 --ruleset rules.json --program 'C:\\srv\\app.exe'
                                               a Windows export (windows-export), its program

Findings are about the machine you name with --from (and its address family), otherwise
about \"anyone else\" on every address the service listens on. Every firewall fix is checked
before it is printed: the rules are re-evaluated with the fix applied, and the output says
whether that lets the packets in. Nothing is called reachable unless it was checked.
Exit codes: 0 reachable (PD000); 1 an error finding, or reachability could not be
established (unknown rules, nothing listening); 2 bad usage or input (an unknown
--peer-netns); 3 the firewall could not be read (needs root or CAP_NET_ADMIN): the rest is
still shown.
JSON: {port, proto, summary {errors, warnings, infos}, findings[] {code, name, severity,
summary, evidence[], fixes[] {title, backend, operation {kind, ...}, commands[] {argv[],
stdin, shell, display}}}, evidence {...}}: see docs/diagnose-json.md.")]
pub struct DiagnoseArgs {
    /// The port, optionally with its protocol: 8080, 8080/tcp, 53/udp.
    #[arg(value_name = "PORT[/PROTO]", value_parser = parse_port_proto)]
    pub target: (u16, Proto),

    /// The machine that cannot connect: the firewall is evaluated for its address.
    #[arg(long, value_name = "ADDR")]
    pub from: Option<IpAddr>,

    /// The local address the peer connects to (default: this machine's address on the
    /// peer's subnet).
    #[arg(long, value_name = "ADDR", requires = "from")]
    pub to: Option<IpAddr>,

    /// Do not assume a fresh source: rate limits, `recent` lists and connection counts are
    /// then unknown.
    #[arg(long)]
    pub no_assume: bool,

    /// Evaluate these saved rulesets instead of the live firewall (repeatable; recognised by
    /// content as for `explain --ruleset`, Windows and pf exports included); sockets and probes
    /// are still this machine's.
    #[arg(long, value_name = "FILE")]
    pub ruleset: Vec<std::path::PathBuf>,

    /// Apply the top finding's firewall fix through the fix engine (asks first; journaled,
    /// verified, undoable with `portdoctor undo`).
    #[arg(long)]
    pub fix: bool,

    /// With --fix: apply without asking.
    #[arg(long, short, requires = "fix")]
    pub yes: bool,

    /// The program that should own the port (a different owner is reported).
    #[arg(long, value_name = "NAME")]
    pub expect: Option<String>,

    /// Also send `GET PATH` to the port and report HTTP 5xx or failures.
    #[arg(long, value_name = "PATH")]
    pub http: Option<String>,

    /// Linux: probe from inside this network namespace as the peer (needs --from).
    #[arg(long, value_name = "NAME", requires = "from", conflicts_with = "peer")]
    pub peer_netns: Option<String>,

    /// The listening program as the firewall's rules name it (full path), for firewalls that
    /// filter by program (Windows): with --ruleset from another machine, or when the
    /// socket's owner cannot be seen.
    #[arg(long, value_name = "PATH")]
    pub program: Option<String>,

    /// The listening Windows service (short name), for rules limited to a service.
    #[arg(long, value_name = "NAME")]
    pub service: Option<String>,

    /// A `portdoctor agent` on another machine that probes this one back.
    #[command(flatten)]
    pub agent: AgentPeer,
}

/// Parses `8080`, `8080/tcp`, `53/udp`.
pub fn parse_port_proto(text: &str) -> Result<(u16, Proto), String> {
    let (port, proto) = match text.split_once('/') {
        Some((p, "tcp")) => (p, Proto::Tcp),
        Some((p, "udp")) => (p, Proto::Udp),
        Some((_, other)) => return Err(format!("unknown protocol `{other}` (tcp or udp)")),
        None => (text, Proto::Tcp),
    };
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("`{port}` is not a port (1-65535)")),
        Ok(p) => Ok((p, proto)),
    }
}

/// Runs `diagnose`.
pub fn run(args: &DiagnoseArgs, out: &Output) -> Result<Exit, CliError> {
    let (port, proto) = args.target;
    let (peer_probe, agent_addr) = match (&args.peer_netns, &args.agent.peer) {
        (Some(ns), _) => (
            Some(crate::sys::peer_probe_in_netns(ns, proto).map_err(usage)?),
            None,
        ),
        (None, Some(_)) => {
            let (probe, addr) = args.agent.probe(proto)?;
            (Some(probe), Some(addr))
        }
        (None, None) => (None, None),
    };
    if let (Some(f), Some(t)) = (args.from, args.to) {
        if f.is_ipv4() != t.is_ipv4() {
            return Err(usage("--from and --to must be of the same IP family"));
        }
    }
    let req = Request {
        port,
        proto,
        peer: args.from.or(agent_addr),
        to: args.to,
        expected_program: args.expect.clone(),
        http_path: args.http.clone(),
        runner: CommandRunner::default(),
        peer_probe: peer_probe.as_deref(),
        assume_fresh_source: !args.no_assume,
        saved: read_files(&args.ruleset)?,
        program: args.program.clone(),
        service: args.service.clone(),
    };
    if let Some(files) = &req.saved {
        portdoctor_firewall::host::Host::from_saved(files).map_err(|e| usage(e.to_string()))?;
    }
    let evidence = gather::gather(&req);
    let findings = diagnose(&evidence);
    render(&evidence, &findings, out)?;
    if args.fix {
        let exit = apply_top_fix(args, &findings, out)?;
        return reprobe(&req, &evidence, exit, out);
    }
    Ok(exit_for(&findings))
}

/// `--fix`: the top error finding's firewall fix, through the fix engine.
fn apply_top_fix(
    args: &DiagnoseArgs,
    findings: &[Finding],
    out: &Output,
) -> Result<Exit, CliError> {
    let fix = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .flat_map(|f| f.fixes.iter())
        .find(|f| f.backend.is_some());
    let Some(portdoctor_diagnose::Fix {
        operation: portdoctor_diagnose::Operation::OpenPort { port, proto, from },
        ..
    }) = fix
    else {
        out.line("--fix: no firewall fix to apply (the top finding is not the firewall's)")?;
        return Ok(exit_for(findings));
    };
    let change = crate::commands::fix::ChangeArgs {
        target: parse_port_proto(&format!("{port}/{proto}")).map_err(usage)?,
        from: from.clone(),
        iface: None,
        ttl: None,
        confirm: None,
        backend: None,
        dry_run: false,
        yes: args.yes,
        force: false,
        agent: AgentPeer::default(),
    };
    crate::commands::fix::run_change(&change, portdoctor_firewall::plan::Goal::Open, out)
}

/// After `--fix`, with a peer to probe from (`--peer-netns`): a real connection settles it.
fn reprobe(req: &Request<'_>, ev: &Evidence, exit: Exit, out: &Output) -> Result<Exit, CliError> {
    let (Some(probe), Some(dst)) = (req.peer_probe, ev.peer_dst) else {
        return Ok(exit);
    };
    let (outcome, _) = probe(dst, req.port);
    let open = outcome == portdoctor_diagnose::ProbeOutcome::Open;
    if !out.json {
        out.line(&format!(
            "probe from the peer to {}: {}",
            std::net::SocketAddr::new(dst, req.port),
            if open { "open" } else { "still not open" }
        ))?;
    }
    Ok(if open { exit } else { Exit::Failed })
}

/// The texts of `--ruleset` files; `None` when none were given.
fn read_files(paths: &[std::path::PathBuf]) -> Result<Option<Vec<(String, String)>>, CliError> {
    if paths.is_empty() {
        return Ok(None);
    }
    paths
        .iter()
        .map(|p| {
            std::fs::read_to_string(p)
                .map(|t| (p.display().to_string(), t))
                .map_err(|e| usage(format!("cannot read {}: {e}", p.display())))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The exit code of a diagnosis (see the exit-code table in `exit.rs`).
pub fn exit_for(findings: &[Finding]) -> Exit {
    match portdoctor_diagnose::outcome(findings) {
        Outcome::Reachable => Exit::Ok,
        Outcome::Failed => Exit::Failed,
        Outcome::Unchecked => Exit::Code(crate::exit::ENVIRONMENT),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_proto_parsing() {
        assert_eq!(parse_port_proto("8080"), Ok((8080, Proto::Tcp)));
        assert_eq!(parse_port_proto("53/udp"), Ok((53, Proto::Udp)));
        assert!(parse_port_proto("0").is_err());
        assert!(parse_port_proto("70000").unwrap_err().contains("70000"));
        assert!(parse_port_proto("80/sctp").unwrap_err().contains("sctp"));
    }
}
