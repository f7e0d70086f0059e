//! The error of the native reader.

use thiserror::Error;

/// Why the kernel's ruleset could not be read natively.
#[derive(Debug, Error)]
pub enum NetlinkError {
    /// The socket could not be opened or used (not Linux, no permission, no nf_tables).
    #[error("netlink socket: {0}")]
    Io(#[from] std::io::Error),
    /// The kernel answered a request with an error (negative errno, made positive).
    #[error("nf_tables answered errno {0}")]
    Kernel(i32),
    /// The ruleset kept changing while it was dumped.
    #[error("the ruleset changed during every one of {0} dump attempts")]
    GenerationChanged(usize),
    /// A message or attribute is truncated or inconsistent.
    #[error("malformed nf_tables message: {0}")]
    Malformed(String),
    /// The named network namespace could not be entered.
    #[error("cannot enter network namespace {name}: {error}")]
    Netns {
        /// Namespace name (`ip netns` name).
        name: String,
        /// What failed.
        error: String,
    },
    /// Native reading is not available on this platform.
    #[error("native nftables reading needs Linux")]
    Unsupported,
}
