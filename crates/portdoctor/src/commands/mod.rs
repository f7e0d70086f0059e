//! One module per subcommand; `run` dispatches.

pub mod agent;
pub mod demo;
pub mod diagnose;
pub mod explain;
pub mod fix;
pub mod free;
pub mod meta;
pub mod peer;
pub mod ports;
pub mod probe;
pub mod register;
pub mod scan;
pub mod serve;
pub mod version;
pub mod wait;

use crate::cli::Command;
use crate::exit::{CliError, Exit};
use crate::output::Output;

/// Runs the chosen subcommand.
pub fn run(command: &Command, out: &Output) -> Result<Exit, CliError> {
    match command {
        Command::Ports(args) => ports::run(args, out),
        Command::Probe(args) => probe::run(args, out),
        Command::Scan(args) => scan::run(args, out),
        Command::Wait(args) => wait::run(args, out),
        Command::Demo(args) => demo::run(args, out),
        Command::Explain(args) => explain::run(args, out),
        Command::Diagnose(args) => diagnose::run(args, out),
        Command::Open(args) => fix::run_change(args, portdoctor_firewall::plan::Goal::Open, out),
        Command::Close(args) => fix::run_change(args, portdoctor_firewall::plan::Goal::Close, out),
        Command::Undo(args) => fix::run_undo(args, out),
        Command::History(args) => fix::run_history(args, out),
        Command::Confirm(args) => fix::run_confirm(args, out),
        Command::Free(args) => free::run(args, out),
        Command::Serve(args) => serve::run(args, out),
        Command::Register(args) => register::run_register(args, out),
        Command::Deregister(args) => register::run_deregister(args, out),
        Command::Agent(args) => agent::run(args, out),
        Command::Expire(args) => fix::run_expire(args),
        Command::Completions(args) => meta::completions(args),
        Command::WindowsExport(args) => meta::windows_export(args),
        Command::Man(args) => meta::man(args),
        Command::Version(args) => version::run(args, out),
    }
}
