//! Systems without network namespaces.

use super::BoxedPeerProbe;
use portdoctor_sockets::Proto;

/// Network namespaces are a Linux feature.
pub fn peer_probe_in_netns(_name: &str, _proto: Proto) -> Result<BoxedPeerProbe, String> {
    Err("--peer-netns needs Linux network namespaces".into())
}

/// Network namespaces are a Linux feature.
pub fn check_netns(_name: &str) -> Result<(), String> {
    Err("--netns needs Linux network namespaces".into())
}

/// The namespace demo needs Linux; `None` makes `demo` fall back to loopback.
pub fn lab_demo(
    _port: u16,
    _out: &crate::output::Output,
) -> Option<Result<crate::exit::Exit, crate::exit::CliError>> {
    None
}

/// Why `demo` runs on loopback here, and what the full story needs.
pub const LOOPBACK_DEMO_WHY: (&str, &str) = (
    "On this system the demo runs on loopback only",
    "(the full story, with throwaway network namespaces, a real default-deny firewall, a probe from a second machine and the fix applied and verified, needs Linux and root)",
);
