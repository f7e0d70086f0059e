//! `portdoctor free`: stop the process that holds a port, safely.

use crate::commands::diagnose::parse_port_proto;
use crate::commands::fix::{fix_error, parse_duration};
use crate::exit::{CliError, Exit};
use crate::output::Output;
use clap::Args;
use portdoctor_sockets::Proto;
use std::time::Duration;

/// Arguments of `portdoctor free`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  portdoctor free 8080                 SIGTERM whoever listens on 8080/tcp, wait 10 s
  sudo portdoctor free 53/udp --force  SIGKILL if SIGTERM was not enough

Refuses pid 1, portdoctor itself, and other users' processes without root. If only TIME_WAIT
sockets remain, no process holds the port: a new listener with SO_REUSEADDR can bind it now.
Exit codes: 0 the port is free; 1 it is still held; 2 bad usage; 3 cannot signal.")]
pub struct FreeArgs {
    /// The port, optionally with its protocol: 8080, 8080/tcp, 53/udp.
    #[arg(value_name = "PORT[/PROTO]", value_parser = parse_port_proto)]
    pub target: (u16, Proto),

    /// How long to wait after SIGTERM.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub timeout: u64,

    /// Send SIGKILL to what SIGTERM did not stop.
    #[arg(long)]
    pub force: bool,
}

/// Runs `free`.
pub fn run(args: &FreeArgs, out: &Output) -> Result<Exit, CliError> {
    let (port, proto) = args.target;
    let freed =
        portdoctor_fix::free::free(port, proto, Duration::from_secs(args.timeout), args.force)
            .map_err(fix_error)?;
    if out.json {
        out.json(&freed)?;
    } else {
        for (pid, name, how) in &freed.stopped {
            out.line(&format!("stopped {name} (pid {pid}) with {how}"))?;
        }
        for (pid, name, why) in &freed.refused {
            out.line(&format!("left {name} (pid {pid}) alone: {why}"))?;
        }
        if freed.stopped.is_empty() && freed.refused.is_empty() {
            out.line(&format!("no process holds {port}/{proto}"))?;
        }
        if freed.time_wait > 0 {
            out.line(&format!(
                "{} socket(s) in TIME_WAIT on the port belong to no process; a listener that sets SO_REUSEADDR can bind it now",
                freed.time_wait
            ))?;
        }
    }
    Ok(if freed.free { Exit::Ok } else { Exit::Failed })
}
