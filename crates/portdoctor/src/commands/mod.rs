//! One module per subcommand; `run` dispatches.

pub mod meta;
pub mod ports;

use crate::cli::Command;
use crate::exit::{CliError, Exit};
use crate::output::Output;

/// Runs the chosen subcommand.
pub fn run(command: &Command, out: &Output) -> Result<Exit, CliError> {
    match command {
        Command::Ports(args) => ports::run(args, out),
        Command::Completions(args) => meta::completions(args),
        Command::Man(args) => meta::man(args),
    }
}
