//! Linux: `IP_RECVERR` / `IPV6_RECVERR` so the exact ICMP error behind an errno can be read
//! from the socket's error queue.

use std::mem::MaybeUninit;

use socket2::{Domain, MaybeUninitSlice, MsgHdrMut, Protocol, SockRef, Socket, Type};

use crate::icmp::{Icmp, parse_error_queue};

/// Asks the kernel to queue ICMP errors on this socket. Returns whether it worked.
pub fn enable_error_queue(sock: SockRef<'_>, v6: bool) -> bool {
    use std::os::fd::AsRawFd;
    let (level, name) = if v6 {
        (libc::SOL_IPV6, libc::IPV6_RECVERR)
    } else {
        (libc::SOL_IP, libc::IP_RECVERR)
    };
    let one: libc::c_int = 1;
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a valid pointer to `one`;
    // the descriptor is borrowed from a live socket.
    #[allow(unsafe_code)]
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    rc == 0
}

/// Reads one entry of the socket's error queue, if it holds an ICMP error.
pub fn read_error_queue(sock: SockRef<'_>) -> Option<Icmp> {
    let mut data = [MaybeUninit::new(0u8); 64];
    let mut control = [MaybeUninit::new(0u8); 256];
    let mut bufs = [MaybeUninitSlice::new(&mut data)];
    let mut msg = MsgHdrMut::new()
        .with_buffers(&mut bufs)
        .with_control(&mut control);
    sock.recvmsg(&mut msg, libc::MSG_ERRQUEUE | libc::MSG_DONTWAIT)
        .ok()?;
    let len = msg.control_len().min(control.len());
    // SAFETY: every byte of `control` was initialised (to 0) above, and the kernel only
    // overwrote some of them.
    #[allow(unsafe_code)]
    let bytes: Vec<u8> = control[..len]
        .iter()
        .map(|b| unsafe { b.assume_init() })
        .collect();
    parse_error_queue(&bytes, std::mem::size_of::<usize>())
}

/// A non-blocking socket in one system call (`SOCK_NONBLOCK`).
pub fn nonblocking_socket(domain: Domain, ty: Type, proto: Protocol) -> std::io::Result<Socket> {
    Socket::new(domain, ty.nonblocking(), Some(proto))
}

/// Looks at a connect in progress by calling `connect()` again: `EALREADY` = in progress,
/// `EISCONN` = connected, any other error is the connect's own (its `sk_err`). After that
/// error Linux resets the socket to unconnected (`tcp_disconnect`), so it can be reused.
pub fn connect_again(sock: &Socket, addr: &socket2::SockAddr) -> super::Again {
    match sock.connect(addr) {
        Ok(()) => super::Again::Connected,
        Err(e) => match e.raw_os_error() {
            Some(libc::EALREADY) | Some(libc::EINPROGRESS) => super::Again::InProgress,
            Some(libc::EISCONN) => super::Again::Connected,
            _ => super::Again::Failed(e, true),
        },
    }
}
