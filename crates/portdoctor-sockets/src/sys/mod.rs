//! The platform boundary: one backend per OS, each exporting `snapshot`.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::{other_namespaces, snapshot};

/// Other network namespaces exist on Linux only.
#[cfg(not(target_os = "linux"))]
pub(crate) fn other_namespaces(
    _ports: &[u16],
    _opts: &crate::model::SnapshotOptions,
) -> Vec<crate::namespaces::NamespaceSockets> {
    vec![]
}

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::snapshot;

#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "macos")]
pub(crate) use macos::snapshot;

#[cfg(not(any(target_os = "linux", windows, target_os = "macos")))]
mod unsupported;
#[cfg(not(any(target_os = "linux", windows, target_os = "macos")))]
pub(crate) use unsupported::snapshot;
