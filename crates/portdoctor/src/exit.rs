//! Exit codes and the errors that map to them: one table for every command, enforced by
//! `tests/exit_codes.rs`.
//!
//! | command  | 0                           | 1                                              | 2                                  | 3                                   |
//! |----------|-----------------------------|------------------------------------------------|------------------------------------|-------------------------------------|
//! | ports    | sockets listed              | a filter (PORT, --pid, --process) found none   | bad argument                       | socket table unreadable             |
//! | probe    | every target open           | some target not open                           | bad target                         | cannot probe (runtime, limits)      |
//! | scan     | some port open              | nothing open                                   | bad target or port spec            | cannot probe                        |
//! | wait     | ready (or CMD's own code)   | timed out                                      | bad usage                          | cannot probe                        |
//! | explain  | accepted                    | dropped, rejected or unknown                   | bad usage; malformed --ruleset; unknown --netns | rules unreadable (privilege, tools) |
//! | diagnose | reachable (PD000)           | an error finding, or reachability not established | bad usage; unknown --peer-netns | firewall unreadable (needs root)   |
//! | agent    | --check-config: valid; runs until stopped | —                          | bad config (FILE:LINE:COLUMN)      | cannot bind the address             |
//! | demo     | fixed and verified          | not fixed                                      | bad usage                          | cannot build the story (nftables)   |
//! | serve    | stopped on a signal, drained | port in use (holder named), registration or opening failed, drain limit cut requests | bad usage; registry URL; certificate/key unreadable or mismatched | port < 1024 or --open-firewall without root |
//! | register | deregistered on a signal    | registry refused or unreachable; opening failed | bad usage; registry URL            | --open-firewall without root        |
//! | deregister | removed, or nothing there | registry failed; closing the opening failed    | bad usage; registry URL            | closing the opening needs root      |
//!
//! 2 always means the command line (or a file or namespace it names) is wrong; 3 means this
//! machine does not let the command do its job (privilege, a missing tool).

use std::process::ExitCode;

/// How a command ended, as scripts see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: ok, reachable, nothing wrong.
    Ok,
    /// 1: the checked condition failed (blocked, closed, timed out, error findings).
    Failed,
    /// A specific code, e.g. a command run by `wait -- CMD`.
    Code(u8),
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> ExitCode {
        match self {
            Exit::Ok => ExitCode::SUCCESS,
            Exit::Failed => ExitCode::from(1),
            Exit::Code(c) => ExitCode::from(c),
        }
    }
}

/// Exit code 2: bad usage or input.
pub const USAGE: u8 = 2;
/// Exit code 3: the environment (missing privilege or backend tool).
pub const ENVIRONMENT: u8 = 3;

/// Why a command could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad usage or input (exit 2).
    #[error("{0}")]
    Usage(String),
    /// Missing privilege or tool (exit 3).
    #[error("{0}")]
    Environment(String),
    /// The command ran, and what it checks or was asked to do did not happen (exit 1).
    #[error("{0}")]
    Failed(String),
    /// Writing the output failed (a closed pipe ends quietly with 0).
    #[error("cannot write output: {0}")]
    Io(#[from] std::io::Error),
    /// Anything else (exit 3: the environment did not let us finish).
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl CliError {
    /// The exit code for this error.
    pub fn code(&self) -> u8 {
        match self {
            CliError::Usage(_) => USAGE,
            CliError::Failed(_) => 1,
            CliError::Environment(_) | CliError::Other(_) | CliError::Io(_) => ENVIRONMENT,
        }
    }

    /// A closed stdout (`portdoctor ports | head`) is not an error.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, CliError::Io(e) if e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

/// Shorthand for a usage error.
pub fn usage(msg: impl Into<String>) -> CliError {
    CliError::Usage(msg.into())
}

/// Shorthand for an environment error.
pub fn environment(msg: impl Into<String>) -> CliError {
    CliError::Environment(msg.into())
}
