//! The async runtime the probing parts run on (commands and evidence gathering alike).

use crate::exit::{CliError, environment};

/// Builds a current-thread tokio runtime.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| environment(format!("cannot start the async runtime: {e}")))
}
