//! Systems without network namespaces.

use super::BoxedPeerProbe;
use portdoctor_sockets::Proto;

/// Network namespaces are a Linux feature.
pub fn peer_probe_in_netns(_name: &str, _proto: Proto) -> Result<BoxedPeerProbe, String> {
    Err("--peer-netns needs Linux network namespaces".into())
}
