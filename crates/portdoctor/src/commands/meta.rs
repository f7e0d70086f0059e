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

/// Arguments of `portdoctor windows-export`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples (on the Windows machine, in an elevated PowerShell):
  portdoctor windows-export > export.ps1
  powershell -ExecutionPolicy Bypass -File export.ps1 > firewall.json
Then, anywhere: portdoctor explain 8080 --ruleset firewall.json --program 'C:\\srv\\app.exe'")]
pub struct WindowsExportArgs {}

/// Prints the PowerShell script that exports Windows Defender Firewall (rules with their
/// filters, profiles and each network's profile, from the ActiveStore) as JSON.
pub fn windows_export(_args: &WindowsExportArgs) -> Result<Exit, CliError> {
    std::io::Write::write_all(
        &mut std::io::stdout().lock(),
        portdoctor_firewall::windows::EXPORT_SCRIPT.as_bytes(),
    )?;
    Ok(Exit::Ok)
}
