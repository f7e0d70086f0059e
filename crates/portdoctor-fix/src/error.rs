//! Why a change could not be made.

use thiserror::Error;

/// What can go wrong while changing a firewall or freeing a port.
#[derive(Debug, Error)]
pub enum FixError {
    /// The journal directory or a file in it could not be used.
    #[error("journal {path}: {source}")]
    Journal {
        /// The file or directory.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A journal line does not parse: it is reported, never overwritten.
    #[error(
        "the journal {path} is damaged at line {line} ({message}); it was left as it is: move it away to start a new one"
    )]
    CorruptJournal {
        /// The journal file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// No change with this id.
    #[error("no change {0} in the journal (see `portdoctor history`)")]
    UnknownChange(String),
    /// A command failed.
    #[error("`{command}` failed: {stderr}")]
    Command {
        /// The command line, for the message.
        command: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// The rules portdoctor added were changed by someone else since.
    #[error("{0}")]
    ChangedSince(String),
    /// The lock-out guard refused the change.
    #[error("refused: {0} (use --force to do it anyway)")]
    LockOut(String),
    /// The change cannot be planned or checked.
    #[error("{0}")]
    Refused(String),
    /// Needs privileges this process does not have.
    #[error("{0}")]
    Privilege(String),
    /// A process could not be signalled.
    #[error("cannot signal pid {pid}: {message}")]
    Signal {
        /// The process.
        pid: u32,
        /// Why.
        message: String,
    },
}

impl FixError {
    /// A failed command from its argument vector and output.
    pub fn command(argv: &[String], stderr: &str) -> FixError {
        FixError::Command {
            command: argv.join(" "),
            stderr: stderr.trim().to_string(),
        }
    }
}
