//! Safe firewall changes for portdoctor: a change is planned by the firewall library's planner
//! (the same one `diagnose` prints fixes from), checked against the lock-out guard, written to
//! a journal with the old state before anything is applied, applied atomically where the
//! backend allows (an `nft -f` batch, `iptables-restore --noflush`), verified on the re-read
//! rules, and undoable: only the change's own tagged rules are touched. Also: freeing a port
//! held by a stale process.
//!
//! One applier per kind of firewall ([`applier::Applier`]); the binary only parses and
//! renders.

pub mod applier;
pub mod change;
mod error;
pub mod flow;
pub mod free;
pub mod guard;
pub mod journal;
pub mod targets;
#[cfg(windows)]
mod windows;

pub use change::Change;
pub use error::FixError;
pub use flow::{Applied, Fixer, Prepared, Request};
pub use journal::{Journal, Status, state_dir};

/// Whether this process may change the firewall: root on Unix. On Windows this is not
/// checked here (the commands fail with "access denied" when not elevated).
pub fn is_root() -> bool {
    #[cfg(unix)]
    {
        rustix::process::geteuid().is_root()
    }
    #[cfg(not(unix))]
    {
        true
    }
}
