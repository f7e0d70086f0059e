//! One probe attempt: a non-blocking connect (TCP) or a datagram and its answer (UDP).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockRef, Socket, Type};
use tokio::io::Interest;

use crate::classify::{Reason, Verdict, classify_error};
use crate::error::ProbeError;
use crate::sys::{self, Errno};
use crate::target::Proto;

/// What one attempt produced.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// An answer (or a definitive local error), with the time it took.
    Answer(Verdict, Duration),
    /// No answer before the timeout.
    Silent,
    /// Out of local resources (descriptors, buffers, ports): try again later.
    Shortage,
}

fn new_socket(addr: SocketAddr, proto: Proto) -> io::Result<Socket> {
    let (ty, p) = match proto {
        Proto::Tcp => (Type::STREAM, Protocol::TCP),
        Proto::Udp => (Type::DGRAM, Protocol::UDP),
    };
    sys::nonblocking_socket(Domain::for_address(addr), ty, p)
}

fn bind_source(s: &Socket, source: Option<IpAddr>, target: SocketAddr) -> Result<(), ProbeError> {
    let Some(src) = source else { return Ok(()) };
    if src.is_ipv4() != target.is_ipv4() {
        return Err(ProbeError::SourceFamily {
            source_addr: src,
            target: target.ip(),
        });
    }
    s.bind(&SocketAddr::new(src, 0).into())
        .map_err(|source| ProbeError::Bind { addr: src, source })
}

fn error_verdict(
    proto: Proto,
    sock: SockRef<'_>,
    err: &io::Error,
    queue: bool,
    now: bool,
) -> Verdict {
    let icmp = if queue {
        sys::read_error_queue(sock)
    } else {
        None
    };
    classify_error(proto, sys::errno_of(err), icmp, queue, now)
}

/// The synchronous start of a TCP attempt: either already decided (loopback answers often
/// are in before `connect()` returns) or a connect in progress.
pub(crate) enum Started {
    /// Decided without waiting.
    Done(Attempt),
    /// Waiting for the handshake.
    Pending(Pending),
}

/// A TCP connect in progress.
pub(crate) struct Pending {
    sock: Socket,
    addr: SocketAddr,
    start: Instant,
    queue: bool,
}

/// A TCP socket whose connect failed and that the kernel has reset to unconnected, kept for
/// the next probe (Linux only: saves creating and destroying a socket per closed port).
pub(crate) struct Spare {
    sock: Socket,
    v6: bool,
    queue: bool,
}

/// A TCP connect attempt. `Err` only for errors that are not about the target.
pub(crate) async fn tcp(
    addr: SocketAddr,
    source: Option<IpAddr>,
    timeout: Duration,
) -> Result<Attempt, ProbeError> {
    match tcp_start(addr, source, &mut None)? {
        Started::Done(a) => Ok(a),
        Started::Pending(p) => tcp_finish(p, timeout).await,
    }
}

/// Creates the socket (or takes `spare`) and starts the connect, without waiting. A socket
/// that failed at once and can be reused is left in `spare`.
pub(crate) fn tcp_start(
    addr: SocketAddr,
    source: Option<IpAddr>,
    spare: &mut Option<Spare>,
) -> Result<Started, ProbeError> {
    let (sock, queue) = match spare.take() {
        Some(s) if s.v6 == addr.is_ipv6() => (s.sock, s.queue),
        _ => {
            let sock = match new_socket(addr, Proto::Tcp) {
                Ok(s) => s,
                Err(e) if sys::errno_of(&e).is_resource_shortage() => {
                    return Ok(Started::Done(Attempt::Shortage));
                }
                Err(e) => return Err(e.into()),
            };
            let queue = sys::enable_error_queue(SockRef::from(&sock), addr.is_ipv6());
            bind_source(&sock, source, addr)?;
            (sock, queue)
        }
    };
    let start = Instant::now();
    let target = addr.into();
    let done = match sock.connect(&target) {
        Ok(()) => connected(&sock, addr, start),
        Err(e) => match sys::errno_of(&e) {
            // On loopback the answer is often in before connect() returns: look before
            // paying for a readiness registration.
            Errno::InProgress => match sys::connect_again(&sock, &target) {
                sys::Again::Failed(e, reusable) => {
                    let v = error_verdict(Proto::Tcp, SockRef::from(&sock), &e, queue, false);
                    if reusable {
                        *spare = Some(Spare {
                            sock,
                            v6: addr.is_ipv6(),
                            queue,
                        });
                    }
                    Attempt::Answer(v, start.elapsed())
                }
                sys::Again::Connected => connected(&sock, addr, start),
                sys::Again::InProgress => {
                    return Ok(Started::Pending(Pending {
                        sock,
                        addr,
                        start,
                        queue,
                    }));
                }
            },
            e2 if e2.is_resource_shortage() => Attempt::Shortage,
            _ => {
                let v = error_verdict(Proto::Tcp, SockRef::from(&sock), &e, queue, true);
                Attempt::Answer(v, start.elapsed())
            }
        },
    };
    Ok(Started::Done(done))
}

/// Waits up to `timeout` for a started connect to complete or fail.
pub(crate) async fn tcp_finish(p: Pending, timeout: Duration) -> Result<Attempt, ProbeError> {
    let Pending {
        sock,
        addr,
        start,
        queue,
    } = p;
    let stream = tokio::net::TcpStream::from_std(std::net::TcpStream::from(sock))?;
    let wait = async {
        loop {
            stream.writable().await?;
            if let Some(e) = stream.take_error()? {
                return Ok::<_, io::Error>(Err(e));
            }
            match stream.peer_addr() {
                Ok(_) => return Ok(Ok(())),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    // Spurious wake-up: clear readiness and wait again.
                    let _ = stream.try_io(Interest::WRITABLE, || {
                        Err::<(), _>(io::ErrorKind::WouldBlock.into())
                    });
                }
                Err(e) => return Ok(Err(e)),
            }
        }
    };
    match tokio::time::timeout(timeout, wait).await {
        Err(_) => Ok(Attempt::Silent),
        Ok(Err(e)) => Err(e.into()),
        Ok(Ok(Ok(()))) => Ok(connected(&SockRef::from(&stream), addr, start)),
        Ok(Ok(Err(e))) => {
            let v = error_verdict(Proto::Tcp, SockRef::from(&stream), &e, queue, false);
            Ok(Attempt::Answer(v, start.elapsed()))
        }
    }
}

/// A completed handshake, unless it was a TCP self-connect (source port == target port on
/// the same address), which means nothing listens there.
fn connected(sock: &Socket, addr: SocketAddr, start: Instant) -> Attempt {
    let rtt = start.elapsed();
    // Close with RST: a scan must leave no TIME_WAIT pile behind.
    let _ = sock.set_linger(Some(Duration::ZERO));
    let own = sock.local_addr().ok().and_then(|a| a.as_socket());
    if own == Some(addr) {
        let mut v = classify_error(Proto::Tcp, Errno::ConnRefused, None, true, true);
        v.ambiguous = Some("TCP self-connect: nothing listens, the kernel joined our own SYNs");
        return Attempt::Answer(v, rtt);
    }
    Attempt::Answer(Verdict::open(Reason::SynAck), rtt)
}

/// A UDP attempt: send `payload` on a connected socket and wait for a datagram or an error.
pub(crate) async fn udp(
    addr: SocketAddr,
    source: Option<IpAddr>,
    timeout: Duration,
    payload: &[u8],
) -> Result<Attempt, ProbeError> {
    let sock = match new_socket(addr, Proto::Udp) {
        Ok(s) => s,
        Err(e) if sys::errno_of(&e).is_resource_shortage() => return Ok(Attempt::Shortage),
        Err(e) => return Err(e.into()),
    };
    let queue = sys::enable_error_queue(SockRef::from(&sock), addr.is_ipv6());
    bind_source(&sock, source, addr)?;
    let start = Instant::now();
    if let Err(e) = sock.connect(&addr.into()) {
        let v = error_verdict(Proto::Udp, SockRef::from(&sock), &e, queue, true);
        return Ok(Attempt::Answer(v, start.elapsed()));
    }
    let udp = tokio::net::UdpSocket::from_std(std::net::UdpSocket::from(sock))?;
    if let Err(e) = udp.send(payload).await {
        if sys::errno_of(&e).is_resource_shortage() {
            return Ok(Attempt::Shortage);
        }
        let v = error_verdict(Proto::Udp, SockRef::from(&udp), &e, queue, true);
        return Ok(Attempt::Answer(v, start.elapsed()));
    }
    let mut buf = [0u8; 1500];
    match tokio::time::timeout(timeout, udp.recv(&mut buf)).await {
        Err(_) => Ok(Attempt::Silent),
        Ok(Ok(_)) => Ok(Attempt::Answer(
            Verdict::open(Reason::UdpResponse),
            start.elapsed(),
        )),
        Ok(Err(e)) => {
            let v = error_verdict(Proto::Udp, SockRef::from(&udp), &e, queue, false);
            Ok(Attempt::Answer(v, start.elapsed()))
        }
    }
}
