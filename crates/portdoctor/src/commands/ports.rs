//! `portdoctor ports`: sockets with owners, who listens where, conflicts, TIME_WAIT/CLOSE_WAIT.

use crate::exit::{CliError, Exit, environment};
use crate::output::{Output, note};
use clap::Args;
use portdoctor_sockets::query::{self, Filter, PortReport};
use portdoctor_sockets::{Reach, Snapshot, SnapshotOptions, Socket, SocketState, Source};
use serde::Serialize;
use std::net::SocketAddr;

/// Arguments of `portdoctor ports`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  portdoctor ports                  listeners, with TIME_WAIT/CLOSE_WAIT counts per port
  portdoctor ports 8080             who uses port 8080 (exit 1 if nobody)
  portdoctor ports --all            every socket, like `ss -tanup`
  portdoctor ports --state close-wait --process java
  portdoctor ports --json | jq '.sockets[] | select(.reach == \"loopback-only\")'

Without root, sockets of other users' processes are listed with \"owner unknown (needs root)\".
JSON fields: source, notes[], sockets[] {proto, family, local_addr, local_port, remote_addr,
remote_port, state, v6only, bound_interface, uid, user, inode, owners[] {pid, name, cmdline[], uid,
user}, owner_unknown, reach}, port_states[] {proto, port, established, time_wait, close_wait,
syn_recv}, conflicts[] {proto, port, kind, bindings[] {addr, pids[], names[]}}.")]
pub struct PortsArgs {
    /// Only sockets whose local or remote port is PORT (1-65535).
    #[arg(value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,

    /// Only sockets held by this process id.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub pid: Option<u32>,

    /// Only sockets held by a process whose name contains NAME.
    #[arg(long, value_name = "NAME")]
    pub process: Option<String>,

    /// Only sockets in this state (repeatable): listen, established, time-wait, close-wait,
    /// syn-sent, syn-recv, fin-wait-1, fin-wait-2, last-ack, closing, close, unconn.
    #[arg(long, value_name = "S", value_parser = parse_state)]
    pub state: Vec<SocketState>,

    /// Every socket, not only listeners.
    #[arg(short, long)]
    pub all: bool,

    /// Only TCP.
    #[arg(short, long, conflicts_with = "udp")]
    pub tcp: bool,

    /// Only UDP.
    #[arg(short, long)]
    pub udp: bool,
}

fn parse_state(text: &str) -> Result<SocketState, String> {
    SocketState::parse(text).ok_or_else(|| {
        let names: Vec<&str> = SocketState::ALL.iter().map(|s| s.name()).collect();
        format!("unknown state `{text}` (one of: {})", names.join(", "))
    })
}

/// The JSON document of `ports`.
#[derive(Debug, Serialize)]
struct PortsJson<'a> {
    source: &'a Source,
    notes: &'a [String],
    sockets: Vec<SocketJson<'a>>,
    port_states: &'a [query::PortStateCounts],
    conflicts: &'a [query::Conflict],
}

#[derive(Debug, Serialize)]
struct SocketJson<'a> {
    #[serde(flatten)]
    socket: &'a Socket,
    reach: Option<Reach>,
}

/// Runs `ports`.
pub fn run(args: &PortsArgs, out: &Output) -> Result<Exit, CliError> {
    let opts = SnapshotOptions {
        tcp: !args.udp,
        udp: !args.tcp,
        owners: true,
    };
    let snapshot = portdoctor_sockets::snapshot(&opts)
        .map_err(|e| environment(format!("cannot read the socket table: {e}")))?;
    let filter = Filter {
        port: args.port,
        pid: args.pid,
        process: args.process.clone(),
        states: args.state.clone(),
        all: args.all,
    };
    let start = std::time::Instant::now();
    let report = query::report(&snapshot, &filter);
    tracing::debug!(ms = start.elapsed().as_secs_f64() * 1000.0, "report built");
    let start = std::time::Instant::now();
    if out.json {
        render_json(&snapshot, &report, out)?;
    } else {
        render_table(&snapshot, &report, &filter, out)?;
    }
    tracing::debug!(ms = start.elapsed().as_secs_f64() * 1000.0, "rendered");
    let nothing_found = report.sockets.is_empty()
        && (args.port.is_some() || args.pid.is_some() || args.process.is_some());
    Ok(if nothing_found {
        Exit::Failed
    } else {
        Exit::Ok
    })
}

fn render_json(snapshot: &Snapshot, report: &PortReport<'_>, out: &Output) -> Result<(), CliError> {
    let doc = PortsJson {
        source: &snapshot.source,
        notes: &snapshot.notes,
        sockets: report
            .sockets
            .iter()
            .map(|s| SocketJson {
                socket: s,
                reach: query::is_listener(s).then(|| s.reach()),
            })
            .collect(),
        port_states: &report.port_states,
        conflicts: &report.conflicts,
    };
    Ok(out.json(&doc)?)
}

fn render_table(
    snapshot: &Snapshot,
    report: &PortReport<'_>,
    filter: &Filter,
    out: &Output,
) -> Result<(), CliError> {
    let connections = filter.all || !filter.states.is_empty();
    if report.sockets.is_empty() {
        out.line("no matching sockets")?;
    } else if connections {
        let mut rows = Vec::with_capacity(report.sockets.len());
        for s in &report.sockets {
            rows.push(vec![
                s.proto.to_string(),
                SocketAddr::new(s.local_addr, s.local_port).to_string(),
                match (s.remote_addr, s.remote_port) {
                    (Some(a), Some(p)) => SocketAddr::new(a, p).to_string(),
                    _ => "*".into(),
                },
                s.state.to_string(),
                owner(s),
                user(s),
            ]);
        }
        out.grid(
            &["PROTO", "LOCAL", "REMOTE", "STATE", "PROGRAM", "USER"],
            &rows,
        )?;
    } else {
        let header = [
            "PROTO",
            "ADDRESS",
            "PORT",
            "REACH",
            "PROGRAM",
            "USER",
            "TIME_WAIT",
            "CLOSE_WAIT",
        ];
        let mut rows = Vec::with_capacity(report.sockets.len());
        for s in &report.sockets {
            let counts = report
                .port_states
                .iter()
                .find(|c| c.port == s.local_port && s.proto == portdoctor_sockets::Proto::Tcp);
            let reach_text = s.reach().label().to_string();
            rows.push(vec![
                s.proto.to_string(),
                s.local_addr.to_string(),
                s.local_port.to_string(),
                reach_text,
                owner(s),
                user(s),
                counts.map_or("-".into(), |c| c.time_wait.to_string()),
                counts.map_or("-".into(), |c| c.close_wait.to_string()),
            ]);
        }
        out.grid(&header, &rows)?;
    }
    for c in &report.conflicts {
        let who: Vec<String> = c
            .bindings
            .iter()
            .map(|b| format!("{} ({})", b.addr, pid_names(&b.pids, &b.names)))
            .collect();
        out.line(&format!(
            "{} {}/{} is held by several programs ({}): {}",
            out.warn("conflict:"),
            c.port,
            c.proto,
            serde_json::to_value(c.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            who.join(", ")
        ))?;
    }
    for n in &snapshot.notes {
        note(n);
    }
    Ok(())
}

fn owner(s: &Socket) -> String {
    if s.owners.is_empty() {
        return s.owner_unknown.clone().unwrap_or_else(|| "-".into());
    }
    let pids: Vec<u32> = s.owners.iter().map(|p| p.pid).collect();
    let names: Vec<String> = s.owners.iter().map(|p| p.name.clone()).collect();
    pid_names(&pids, &names)
}

fn pid_names(pids: &[u32], names: &[String]) -> String {
    pids.iter()
        .zip(names)
        .map(|(p, n)| format!("{p}/{n}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn user(s: &Socket) -> String {
    s.owners
        .first()
        .and_then(|p| p.user.clone())
        .or_else(|| s.user.clone())
        .or_else(|| s.uid.map(|u| u.to_string()))
        .unwrap_or_else(|| "-".into())
}
