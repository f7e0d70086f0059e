//! The command line: global flags and one subcommand per job.

use crate::commands;
use clap::{Parser, Subcommand};

/// Why can't anyone else reach my port? Sockets, firewall rules, probes, diagnosis, safe fixes.
#[derive(Debug, Parser)]
#[command(
    name = "portdoctor",
    version = commands::version::LONG_VERSION,
    about,
    long_about = "portdoctor answers \"my service runs fine locally, so why can't anyone else \
reach its port?\" It shows who listens where, explains what the host's firewall does with an \
inbound connection, probes ports, and fixes the cause safely.",
    after_help = "Exit codes: 0 ok; 1 the checked condition failed (blocked, closed, timed out); \
2 bad usage or input; 3 environment (missing privilege or tool).",
    propagate_version = true
)]
pub struct Cli {
    /// Print machine-readable JSON (stable field names) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    /// Never use colour (also honoured: the NO_COLOR environment variable).
    #[arg(long, global = true)]
    pub no_color: bool,

    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sockets with state and owning process: who listens where, conflicts, TIME_WAIT/CLOSE_WAIT.
    Ports(commands::ports::PortsArgs),
    /// Connect probes: each HOST:PORT classified open / closed / filtered / unreachable.
    Probe(commands::probe::ProbeArgs),
    /// Scan ports of a host or CIDR range (nmap-style port specs).
    Scan(commands::scan::ScanArgs),
    /// Wait until ports accept (optionally HTTP 2xx), then run a command.
    Wait(commands::wait::WaitArgs),
    /// Which firewall rule decides an inbound connection to PORT, with the trace.
    Explain(commands::explain::ExplainArgs),
    /// The main job: why can't others reach PORT? Ranked causes, evidence, the exact fix.
    Diagnose(commands::diagnose::DiagnoseArgs),
    /// The seed's story end to end in throwaway namespaces: blocked, diagnosed, fixed, verified.
    Demo(commands::demo::DemoArgs),
    /// Let PORT in: through the firewall in charge, journaled, verified, undoable.
    Open(commands::fix::ChangeArgs),
    /// Keep PORT out: through the firewall in charge, journaled, verified, undoable.
    Close(commands::fix::ChangeArgs),
    /// Undo a change made by open, close or diagnose --fix (only its own rules).
    Undo(commands::fix::UndoArgs),
    /// The changes portdoctor made, with their status.
    History(commands::fix::HistoryArgs),
    /// Keep a change applied with --confirm.
    Confirm(commands::fix::ConfirmArgs),
    /// Stop the process that holds PORT (SIGTERM, then SIGKILL with --force).
    Free(commands::free::FreeArgs),
    /// The firewall-friendly reference service: HTTP/HTTPS, health checks, graceful shutdown.
    Serve(commands::serve::ServeArgs),
    /// Register a service in Consul or etcd (port opened on request); deregistered on exit.
    Register(commands::register::RegisterArgs),
    /// Remove a registration (and close the firewall opening recorded with it).
    Deregister(commands::register::DeregisterArgs),
    /// Fleet reachability: probe targets on a schedule, export Prometheus metrics, probe back.
    Agent(commands::agent::AgentArgs),
    /// Internal: the timer that undoes changes when their --ttl or --confirm falls due.
    #[command(hide = true)]
    Expire(commands::fix::ExpireArgs),
    /// Print the PowerShell script that exports Windows Defender Firewall for `--ruleset`.
    WindowsExport(commands::meta::WindowsExportArgs),
    /// Print a shell completion script.
    Completions(commands::meta::CompletionsArgs),
    /// Print the man page (roff) to stdout.
    Man(commands::meta::ManArgs),
    /// Version, git commit, target, and the firewall engines this build reads.
    Version(commands::version::VersionArgs),
}
