//! Platforms without a backend: a clear error instead of an empty table.

use crate::{Snapshot, SnapshotOptions, SocketsError};

pub(crate) fn snapshot(_opts: &SnapshotOptions) -> Result<Snapshot, SocketsError> {
    Err(SocketsError::Unsupported(std::env::consts::OS))
}
