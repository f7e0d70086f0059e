//! Listening sockets: dual-stack by default, SO_REUSEADDR, and an "address in use" error that
//! names the process holding the port.

use crate::error::ServeError;
use socket2::{Domain, Protocol, Socket, Type};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Where to listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bind {
    /// Every address, IPv6 and IPv4 on one socket (`[::]` with `IPV6_V6ONLY` off); IPv4 only
    /// when the machine has no IPv6.
    DualStack,
    /// This address only.
    Addr(IpAddr),
}

/// Binds a TCP listener on `port` (0: any free port).
pub fn listen(bind: Bind, port: u16) -> Result<std::net::TcpListener, ServeError> {
    match bind {
        Bind::Addr(ip) => socket(SocketAddr::new(ip, port), false),
        Bind::DualStack => {
            let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port);
            match socket(v6, true) {
                Err(ServeError::Bind { source, .. }) if no_ipv6(&source) => socket(
                    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
                    false,
                ),
                other => other,
            }
        }
    }
}

fn no_ipv6(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::Unsupported | std::io::ErrorKind::AddrNotAvailable
    ) || e.raw_os_error() == Some(libc_eafnosupport())
}

/// EAFNOSUPPORT on the platforms we build for (97 on Linux, 47 on macOS, WSAEAFNOSUPPORT).
fn libc_eafnosupport() -> i32 {
    if cfg!(target_os = "linux") {
        97
    } else if cfg!(windows) {
        10047
    } else {
        47
    }
}

fn socket(addr: SocketAddr, dual: bool) -> Result<std::net::TcpListener, ServeError> {
    let err = |source: std::io::Error| classify(addr, source);
    let s =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(err)?;
    if addr.is_ipv6() {
        s.set_only_v6(!dual).map_err(err)?;
    }
    // Windows' SO_REUSEADDR lets another socket steal a bound port: not wanted there.
    if cfg!(unix) {
        s.set_reuse_address(true).map_err(err)?;
    }
    s.bind(&addr.into()).map_err(err)?;
    s.listen(1024).map_err(err)?;
    s.set_nonblocking(true).map_err(err)?;
    Ok(s.into())
}

fn classify(addr: SocketAddr, source: std::io::Error) -> ServeError {
    if source.kind() == std::io::ErrorKind::AddrInUse {
        ServeError::AddrInUse {
            addr,
            holder: holder(addr.port()),
        }
    } else {
        ServeError::Bind { addr, source }
    }
}

/// The process listening on TCP `port`, from the socket table: `nginx (pid 812)`.
pub fn holder(port: u16) -> Option<String> {
    let opts = portdoctor_sockets::SnapshotOptions {
        tcp: true,
        udp: false,
        owners: true,
    };
    let snap = portdoctor_sockets::snapshot(&opts).ok()?;
    let listener = snap
        .sockets
        .iter()
        .filter(|s| portdoctor_sockets::query::is_listener(s) && s.local_port == port)
        .find(|s| !s.owners.is_empty());
    match listener {
        Some(s) => Some(
            s.owners
                .iter()
                .map(|o| format!("{} (pid {})", o.name, o.pid))
                .collect::<Vec<_>>()
                .join(", "),
        ),
        None => snap
            .sockets
            .iter()
            .any(|s| portdoctor_sockets::query::is_listener(s) && s.local_port == port)
            .then(|| "a process whose owner cannot be read (needs root)".to_string()),
    }
}

/// Whether every address `addr` accepts on is a loopback address.
pub fn loopback_only(addr: SocketAddr) -> bool {
    addr.ip().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dual_stack_accepts_v4_and_v6() {
        let l = listen(Bind::DualStack, 0).unwrap();
        let port = l.local_addr().unwrap().port();
        std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        if l.local_addr().unwrap().is_ipv6() {
            std::net::TcpStream::connect(("::1", port)).unwrap();
        }
    }

    #[test]
    fn address_in_use_is_classified() {
        let l = listen(Bind::Addr("127.0.0.1".parse().unwrap()), 0).unwrap();
        let port = l.local_addr().unwrap().port();
        let e = listen(Bind::Addr("127.0.0.1".parse().unwrap()), port).unwrap_err();
        assert!(matches!(e, ServeError::AddrInUse { .. }), "{e}");
        assert!(e.to_string().contains("already in use"), "{e}");
    }
}
