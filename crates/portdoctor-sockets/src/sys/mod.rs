//! The platform boundary: one backend per OS, each exporting `snapshot`.

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub(crate) use linux::snapshot;

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
