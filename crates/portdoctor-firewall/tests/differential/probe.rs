//! Real connection attempts from the peer namespace, classified by what the kernel reports.
//!
//! Every probe is a non-blocking socket with `IP_RECVERR` / `IPV6_RECVERR` set, bound to a
//! chosen source address. The error queue gives the exact ICMP type and code of an error
//! reply: plain `SO_ERROR` is not enough, because on a veth pair the reject's ICMP error is
//! processed while `connect()` still holds the socket lock, and TCP then keeps it only as a
//! "soft" error until the SYN is retransmitted a second later.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Transport protocol of a probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Proto {
    /// A TCP SYN (non-blocking `connect`).
    Tcp,
    /// One UDP datagram, answered by an echo server where one listens.
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// One connection attempt: from `src` (an address of the peer) to `dst` (the host).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProbeSpec {
    /// TCP or UDP.
    pub proto: Proto,
    /// The peer address to bind before connecting.
    pub src: IpAddr,
    /// The host address and port.
    pub dst: SocketAddr,
    /// A packet of a flow opened (and answered) before the ruleset was loaded: conntrack
    /// state established, TCP flags PSH|ACK; not a first packet.
    pub established: bool,
}

impl fmt::Display for ProbeSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let est = if self.established {
            " (established)"
        } else {
            ""
        };
        write!(f, "{} {} -> {}{est}", self.proto, self.src, self.dst)
    }
}

/// What the kernel told the peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Observed {
    /// The TCP handshake completed.
    Connected,
    /// The UDP echo server answered.
    Answered,
    /// A TCP RST (`ECONNREFUSED` without an ICMP error).
    Reset,
    /// An ICMP (v4) or ICMPv6 error with this type and code.
    Icmp {
        /// ICMPv6 rather than ICMP.
        v6: bool,
        /// ICMP type (3 = destination unreachable; ICMPv6: 1).
        ty: u8,
        /// ICMP code.
        code: u8,
    },
    /// Nothing came back before the deadline.
    Timeout,
    /// Something else (an unexpected errno), with the errno.
    Other(i32),
}

impl fmt::Display for Observed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Observed::Connected => f.write_str("connected"),
            Observed::Answered => f.write_str("udp-answered"),
            Observed::Reset => f.write_str("tcp-reset"),
            Observed::Icmp { v6, ty, code } => {
                let name = icmp_name(*v6, *ty, *code).unwrap_or("?");
                let fam = if *v6 { "icmpv6" } else { "icmp" };
                write!(f, "{fam} {ty}/{code} ({name})")
            }
            Observed::Timeout => f.write_str("timeout"),
            Observed::Other(e) => write!(f, "errno {e} ({})", io::Error::from_raw_os_error(*e)),
        }
    }
}

/// The `nft` name of an ICMP destination-unreachable code, for messages.
pub fn icmp_name(v6: bool, ty: u8, code: u8) -> Option<&'static str> {
    match (v6, ty, code) {
        (false, 3, 0) => Some("net-unreachable"),
        (false, 3, 1) => Some("host-unreachable"),
        (false, 3, 2) => Some("prot-unreachable"),
        (false, 3, 3) => Some("port-unreachable"),
        (false, 3, 9) => Some("net-prohibited"),
        (false, 3, 10) => Some("host-prohibited"),
        (false, 3, 13) => Some("admin-prohibited"),
        (true, 1, 0) => Some("no-route"),
        (true, 1, 1) => Some("admin-prohibited"),
        (true, 1, 3) => Some("addr-unreachable"),
        (true, 1, 4) => Some("port-unreachable"),
        (true, 1, 5) => Some("policy-fail"),
        (true, 1, 6) => Some("reject-route"),
        _ => None,
    }
}

/// The result of one probe.
#[derive(Clone, Debug)]
pub struct ProbeResult {
    /// What was attempted.
    pub spec: ProbeSpec,
    /// The source port the kernel chose (0 when the socket could not be set up).
    pub sport: u16,
    /// The classified outcome.
    pub observed: Observed,
    /// The errno the kernel attached (`ee_errno` of an ICMP error, or `SO_ERROR`), if any.
    pub errno: Option<i32>,
}

struct Pending {
    spec: ProbeSpec,
    sock: Socket,
    sport: u16,
    done: Option<(Observed, Option<i32>)>,
}

/// Runs all probes concurrently and waits at most `timeout` for the slowest.
///
/// Call it on a thread that is inside the peer namespace (`Netns::enter`).
pub fn run_batch(specs: &[ProbeSpec], timeout: Duration) -> Vec<ProbeResult> {
    let mut pending: Vec<Pending> = specs.iter().map(|spec| start(*spec)).collect();
    let deadline = Instant::now() + timeout;
    loop {
        let mut open = 0;
        for p in pending.iter_mut().filter(|p| p.done.is_none()) {
            p.done = check(p);
            open += usize::from(p.done.is_none());
        }
        if open == 0 || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    pending
        .into_iter()
        .map(|p| {
            let (observed, errno) = p.done.unwrap_or((Observed::Timeout, None));
            ProbeResult {
                spec: p.spec,
                sport: p.sport,
                observed,
                errno,
            }
        })
        .collect()
}

fn start(spec: ProbeSpec) -> Pending {
    match open_socket(spec) {
        Ok((sock, sport, immediate)) => Pending {
            spec,
            sock,
            sport,
            done: immediate,
        },
        Err(e) => {
            // Keep a placeholder socket so the vector stays aligned; the outcome is the error.
            let sock = Socket::new(Domain::IPV4, Type::DGRAM, None).expect("placeholder socket");
            Pending {
                spec,
                sock,
                sport: 0,
                done: Some((Observed::Other(e.raw_os_error().unwrap_or(-1)), None)),
            }
        }
    }
}

type Opened = (Socket, u16, Option<(Observed, Option<i32>)>);

fn open_socket(spec: ProbeSpec) -> io::Result<Opened> {
    let domain = if spec.dst.is_ipv6() {
        Domain::IPV6
    } else {
        Domain::IPV4
    };
    let (ty, proto) = match spec.proto {
        Proto::Tcp => (Type::STREAM, Protocol::TCP),
        Proto::Udp => (Type::DGRAM, Protocol::UDP),
    };
    let sock = Socket::new(domain, ty, Some(proto))?;
    sock.set_nonblocking(true)?;
    let (level, name) = if spec.dst.is_ipv6() {
        (libc::IPPROTO_IPV6, libc::IPV6_RECVERR)
    } else {
        (libc::IPPROTO_IP, libc::IP_RECVERR)
    };
    ffi::set_int_option(sock.as_raw_fd(), level, name, 1)?;
    sock.bind(&SockAddr::from(SocketAddr::new(spec.src, 0)))?;
    let sport = sock
        .local_addr()?
        .as_socket()
        .map(|a| a.port())
        .unwrap_or(0);
    let mut immediate = None;
    match sock.connect(&SockAddr::from(spec.dst)) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => immediate = Some(classify_error(&sock, e.raw_os_error().unwrap_or(-1))),
    }
    if spec.proto == Proto::Udp && immediate.is_none() {
        if let Err(e) = sock.send(b"portdoctor-differential") {
            immediate = Some(classify_error(&sock, e.raw_os_error().unwrap_or(-1)));
        }
    }
    // The connecting thread runs the whole veth round trip itself: the first checks often see
    // the answer already.
    let sport = if sport == 0 {
        sock.local_addr()?
            .as_socket()
            .map(|a| a.port())
            .unwrap_or(0)
    } else {
        sport
    };
    Ok((sock, sport, immediate))
}

fn check(p: &Pending) -> Option<(Observed, Option<i32>)> {
    if let Some(icmp) = error_queue(&p.sock) {
        return Some(icmp);
    }
    // A SYN-ACK counts even when the rest of the handshake is then refused (a rule that
    // rejects `ct state established` answers the final ACK with an error; that is not the
    // SYN's verdict).
    if p.spec.proto == Proto::Tcp && ffi::handshake_done(p.sock.as_raw_fd()) {
        return Some((Observed::Connected, None));
    }
    match p.sock.take_error() {
        Ok(Some(e)) => return Some(classify_error(&p.sock, e.raw_os_error().unwrap_or(-1))),
        Ok(None) => {}
        Err(e) => return Some((Observed::Other(e.raw_os_error().unwrap_or(-1)), None)),
    }
    match p.spec.proto {
        Proto::Tcp => p.sock.peer_addr().ok().map(|_| (Observed::Connected, None)),
        Proto::Udp => {
            let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 64];
            match p.sock.recv(&mut buf) {
                Ok(_) => Some((Observed::Answered, None)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
                Err(e) => Some(classify_error(&p.sock, e.raw_os_error().unwrap_or(-1))),
            }
        }
    }
}

/// An errno reported by the socket: an ICMP error if the error queue holds one (it is queued
/// before the errno is set), else a TCP reset for `ECONNREFUSED`.
fn classify_error(sock: &Socket, errno: i32) -> (Observed, Option<i32>) {
    if let Some(icmp) = error_queue(sock) {
        return icmp;
    }
    if errno == libc::ECONNREFUSED {
        (Observed::Reset, Some(errno))
    } else {
        (Observed::Other(errno), Some(errno))
    }
}

fn error_queue(sock: &Socket) -> Option<(Observed, Option<i32>)> {
    let ee = ffi::recv_extended_error(sock.as_raw_fd()).ok().flatten()?;
    let observed = match ee.origin {
        ffi::SO_EE_ORIGIN_ICMP => Observed::Icmp {
            v6: false,
            ty: ee.ty,
            code: ee.code,
        },
        ffi::SO_EE_ORIGIN_ICMP6 => Observed::Icmp {
            v6: true,
            ty: ee.ty,
            code: ee.code,
        },
        _ => Observed::Other(ee.errno as i32),
    };
    Some((observed, Some(ee.errno as i32)))
}

/// A flow opened before the ruleset was loaded: TCP connected, or UDP answered once.
pub struct Established {
    /// What it is.
    pub spec: ProbeSpec,
    sock: Socket,
    /// Its source port.
    pub sport: u16,
}

/// Opens the established flows for `specs` (with the host's ruleset empty) and checks that
/// each echoes one byte; flows that do not are left out.
pub fn open_established(specs: &[ProbeSpec], timeout: Duration) -> Vec<Established> {
    let mut pending: Vec<Pending> = specs
        .iter()
        .map(|s| {
            start(ProbeSpec {
                established: false,
                ..*s
            })
        })
        .collect();
    let deadline = Instant::now() + timeout;
    // TCP: wait for the handshake, then send a byte; UDP: the datagram is already sent.
    let mut sent = vec![false; pending.len()];
    let mut ok = vec![false; pending.len()];
    while Instant::now() < deadline && ok.iter().any(|o| !o) {
        for (i, p) in pending.iter_mut().enumerate() {
            if ok[i] {
                continue;
            }
            if p.spec.proto == Proto::Tcp && !sent[i] {
                if p.sock.peer_addr().is_ok() && p.sock.send(b"e").is_ok() {
                    sent[i] = true;
                }
                continue;
            }
            let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 64];
            if let Ok(n) = p.sock.recv(&mut buf) {
                ok[i] = n > 0;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    pending
        .into_iter()
        .zip(ok)
        .filter(|(_, ok)| *ok)
        .map(|(p, _)| Established {
            spec: ProbeSpec {
                established: true,
                ..p.spec
            },
            sport: p.sport,
            sock: p.sock,
        })
        .collect()
}

/// Sends one more byte on every established flow and classifies what comes back: the echo
/// (`Answered`), a reset, an ICMP error (UDP: type and code from the error queue; TCP: the
/// errno, `Other`), or nothing. TCP keeps an ICMP error that arrives while `send` holds the
/// socket as a soft error until the retransmission (≥ 200 ms later) draws it again, so the
/// timeout should be longer than for first packets.
pub fn run_established(flows: &[Established], timeout: Duration) -> Vec<ProbeResult> {
    for f in flows {
        let _ = f.sock.send(b"d");
    }
    let deadline = Instant::now() + timeout;
    let mut done: Vec<Option<(Observed, Option<i32>)>> = vec![None; flows.len()];
    loop {
        for (i, f) in flows.iter().enumerate() {
            if done[i].is_some() {
                continue;
            }
            if let Some(icmp) = error_queue(&f.sock) {
                done[i] = Some(icmp);
                continue;
            }
            let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 64];
            done[i] = match f.sock.recv(&mut buf) {
                Ok(0) => Some((Observed::Other(0), None)),
                Ok(_) => Some((Observed::Answered, None)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
                Err(e) => {
                    let errno = e.raw_os_error().unwrap_or(-1);
                    // An established TCP socket: a reset is ECONNRESET; ECONNREFUSED is
                    // then an ICMP port unreachable, which leaves no error-queue entry.
                    Some(match (f.spec.proto, errno) {
                        (Proto::Tcp, libc::ECONNRESET) => (Observed::Reset, Some(errno)),
                        (Proto::Tcp, _) => {
                            error_queue(&f.sock).unwrap_or((Observed::Other(errno), Some(errno)))
                        }
                        _ => classify_error(&f.sock, errno),
                    })
                }
            };
        }
        if done.iter().all(Option::is_some) || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    flows
        .iter()
        .zip(done)
        .map(|(f, d)| {
            let (observed, errno) = d.unwrap_or((Observed::Timeout, None));
            ProbeResult {
                spec: f.spec,
                sport: f.sport,
                observed,
                errno,
            }
        })
        .collect()
}

/// The two system calls socket2 has no safe wrapper for.
mod ffi {
    use std::io;
    use std::os::fd::RawFd;

    /// `ee_origin` of an error that came from an ICMP message.
    pub const SO_EE_ORIGIN_ICMP: u8 = 2;
    /// `ee_origin` of an error that came from an ICMPv6 message.
    pub const SO_EE_ORIGIN_ICMP6: u8 = 3;

    /// The fields of `struct sock_extended_err` the differential test uses.
    #[derive(Debug)]
    pub struct ExtendedError {
        pub errno: u32,
        pub origin: u8,
        pub ty: u8,
        pub code: u8,
    }

    /// `setsockopt(fd, level, name, &value, sizeof(int))`.
    // FFI: the pointer and length describe a local `c_int` that outlives the call.
    #[allow(unsafe_code)]
    pub fn set_int_option(fd: RawFd, level: i32, name: i32, value: i32) -> io::Result<()> {
        let value: libc::c_int = value;
        let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `value` is a live c_int and `len` is its size; the kernel only reads it.
        let rc = unsafe { libc::setsockopt(fd, level, name, (&raw const value).cast(), len) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Whether a TCP socket has received the SYN-ACK: `tcpi_bytes_acked` counts the SYN's
    /// sequence number once it is acknowledged, and a reset never sets it.
    // FFI: the pointer and length describe a local `tcp_info` that outlives the call.
    #[allow(unsafe_code)]
    pub fn handshake_done(fd: RawFd) -> bool {
        // SAFETY: tcp_info is plain old data; all-zero is a valid value.
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: `info` is a live, writable tcp_info and `len` its size.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&raw mut info).cast(),
                &raw mut len,
            )
        };
        rc == 0 && info.tcpi_bytes_acked >= 1
    }

    /// One message of the socket's error queue (`recvmsg(MSG_ERRQUEUE | MSG_DONTWAIT)`), or
    /// `None` when it is empty.
    // FFI: every pointer in `msghdr` points into locals that outlive the call.
    #[allow(unsafe_code)]
    pub fn recv_extended_error(fd: RawFd) -> io::Result<Option<ExtendedError>> {
        let mut data = [0u8; 256];
        let mut control = [0u64; 64]; // u64 for cmsghdr alignment
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        // SAFETY: msghdr is plain old data; all-zero is a valid value for every field.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: `msg` describes the local buffers above, with their true lengths.
        let rc =
            unsafe { libc::recvmsg(fd, &raw mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) => Ok(None),
                _ => Err(e),
            };
        }
        let used = (msg.msg_controllen as usize).min(std::mem::size_of_val(&control));
        let bytes: Vec<u8> = control
            .iter()
            .flat_map(|w| w.to_ne_bytes())
            .take(used)
            .collect();
        Ok(parse_control(&bytes))
    }

    /// Finds the `IP_RECVERR` / `IPV6_RECVERR` message in a control buffer.
    fn parse_control(bytes: &[u8]) -> Option<ExtendedError> {
        let word = std::mem::size_of::<usize>();
        let header = std::mem::size_of::<libc::cmsghdr>();
        let align = |n: usize| n.div_ceil(word) * word;
        let mut at = 0;
        while at + header <= bytes.len() {
            let len = usize::from_ne_bytes(bytes[at..at + word].try_into().ok()?);
            let level = i32::from_ne_bytes(bytes[at + word..at + word + 4].try_into().ok()?);
            let ty = i32::from_ne_bytes(bytes[at + word + 4..at + word + 8].try_into().ok()?);
            if len < header || at + len > bytes.len() {
                return None;
            }
            let body = &bytes[at + align(header)..at + len];
            let is_err = (level == libc::IPPROTO_IP && ty == libc::IP_RECVERR)
                || (level == libc::IPPROTO_IPV6 && ty == libc::IPV6_RECVERR);
            if is_err && body.len() >= 8 {
                return Some(ExtendedError {
                    errno: u32::from_ne_bytes(body[0..4].try_into().ok()?),
                    origin: body[4],
                    ty: body[5],
                    code: body[6],
                });
            }
            at += align(len);
        }
        None
    }
}
