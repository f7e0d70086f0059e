//! `completions` and `man`: generated from the clap definitions.

use crate::cli::Cli;
use crate::exit::{CliError, Exit};
use clap::{Args, CommandFactory};
use clap_complete::Shell;

/// Arguments of `portdoctor completions`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  portdoctor completions bash > /etc/bash_completion.d/portdoctor\n  portdoctor completions zsh > \"${fpath[1]}/_portdoctor\""
)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Arguments of `portdoctor man`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  portdoctor man | man -l -")]
pub struct ManArgs {}

/// Prints the completion script.
pub fn completions(args: &CompletionsArgs) -> Result<Exit, CliError> {
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut Cli::command(), "portdoctor", &mut out);
    std::io::Write::write_all(&mut std::io::stdout().lock(), &out)?;
    Ok(Exit::Ok)
}

/// Prints the man page.
pub fn man(_args: &ManArgs) -> Result<Exit, CliError> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    std::io::Write::write_all(&mut std::io::stdout().lock(), &out)?;
    Ok(Exit::Ok)
}
