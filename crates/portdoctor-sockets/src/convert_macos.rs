//! macOS libproc socket records → [`Socket`]s, without any macOS API.
//!
//! `sys/macos` walks every process with `proc_pidinfo(PROC_PIDLISTFDS)` and reads each
//! socket descriptor with `proc_pidfdinfo(PROC_PIDFDSOCKETINFO)` into a `socket_fdinfo`
//! (xnu `bsd/sys/proc_info.h`). It copies the few fields that matter into a
//! [`RawInSocket`]; everything from there on — byte order, address unions, state numbers,
//! merging descriptors that share one socket — lives here and is unit-tested on every OS.
//!
//! Facts from xnu (`bsd/sys/proc_info.h`, `bsd/kern/socket_info.c`, `bsd/netinet/in_pcb.h`):
//! * `insi_lport` / `insi_fport` are `int`s assigned from the `u_short` `inp_lport` /
//!   `inp_fport`, which are in network byte order; macOS runs little-endian only (x86_64,
//!   arm64), so the port is the low 16 bits byte-swapped;
//! * `insi_laddr` / `insi_faddr` are unions of `in4in6_addr` (12 pad bytes, then the IPv4
//!   address) and `in6_addr`, both 16 bytes;
//! * `insi_vflag` has `INI_IPV4` (1) and/or `INI_IPV6` (2); a dual-stack `::` socket has both;
//! * `insi_flags` is `inp_flags`, where `IN6P_IPV6_V6ONLY` is `0x8000`;
//! * `tcpsi_state` holds `TSI_S_*` numbers and is only filled when `soi_kind` is
//!   `SOCKINFO_TCP`.

use crate::model::{Family, Process, Proto, Socket, SocketState};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `insi_vflag` bit: IPv4.
pub const INI_IPV4: u8 = 0x1;
/// `insi_vflag` bit: IPv6.
pub const INI_IPV6: u8 = 0x2;
/// `inp_flags` bit: IPV6_V6ONLY is set.
pub const IN6P_IPV6_V6ONLY: u32 = 0x0000_8000;
/// `soi_kind`: an IPv4/IPv6 socket that is not TCP (UDP).
pub const SOCKINFO_IN: i32 = 1;
/// `soi_kind`: a TCP socket (`tcp_sockinfo` filled).
pub const SOCKINFO_TCP: i32 = 2;
/// `soi_protocol` for TCP.
pub const IPPROTO_TCP: i32 = 6;
/// `soi_protocol` for UDP.
pub const IPPROTO_UDP: i32 = 17;

/// `owner_unknown` text when the owning process was visible but not readable.
pub const DENIED: &str = "owner unknown (needs root)";

/// The fields of one `socket_fdinfo` that portdoctor uses, as the kernel filled them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RawInSocket {
    /// `soi_so`: opaque, stable handle of the socket (the same for every descriptor of it).
    pub handle: u64,
    /// `soi_kind`: [`SOCKINFO_IN`] or [`SOCKINFO_TCP`] (others are not internet sockets).
    pub kind: i32,
    /// `soi_protocol`: [`IPPROTO_TCP`] or [`IPPROTO_UDP`].
    pub protocol: i32,
    /// `soi_stat.vst_uid`: the uid of the socket's credentials.
    pub uid: u32,
    /// `insi_vflag`.
    pub vflag: u8,
    /// `insi_flags`.
    pub flags: u32,
    /// `insi_lport` (network byte order in the low 16 bits).
    pub lport: i32,
    /// `insi_fport`.
    pub fport: i32,
    /// `insi_laddr`, its 16 bytes.
    pub laddr: [u8; 16],
    /// `insi_faddr`, its 16 bytes.
    pub faddr: [u8; 16],
    /// `tcpsi_state` (`TSI_S_*`); meaningful when `kind` is [`SOCKINFO_TCP`].
    pub tcp_state: i32,
}

/// Who holds a descriptor, as far as could be found out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holder {
    /// Owners were not asked for.
    NotRequested,
    /// The process.
    Process(Process),
    /// The process could be walked but not named (permission).
    Denied,
}

/// Extracts a port from `insi_lport` / `insi_fport`.
pub fn port_from_insi(port: i32) -> u16 {
    // The low 16 bits hold the network-order u16 as a little-endian machine reads it.
    (port as u16).swap_bytes()
}

/// Maps a `TSI_S_*` number to a [`SocketState`].
pub fn state_from_tsi(state: i32) -> SocketState {
    match state {
        0 => SocketState::Close,
        1 => SocketState::Listen,
        2 => SocketState::SynSent,
        3 => SocketState::SynRecv,
        4 => SocketState::Established,
        5 => SocketState::CloseWait,
        6 => SocketState::FinWait1,
        7 => SocketState::Closing,
        8 => SocketState::LastAck,
        9 => SocketState::FinWait2,
        10 => SocketState::TimeWait,
        _ => SocketState::Unknown,
    }
}

/// The family and address of one `insi_laddr` / `insi_faddr` union under `vflag`;
/// `None` when `vflag` names neither family.
fn family_and_addr(vflag: u8, bytes: [u8; 16]) -> Option<(Family, IpAddr)> {
    if vflag & INI_IPV6 != 0 {
        Some((Family::Ipv6, IpAddr::V6(Ipv6Addr::from(bytes))))
    } else if vflag & INI_IPV4 != 0 {
        let [.., a, b, c, d] = bytes; // in4in6_addr: i46a_pad32[3], then i46a_addr4
        Some((Family::Ipv4, IpAddr::V4(Ipv4Addr::new(a, b, c, d))))
    } else {
        None
    }
}

/// Converts one record into a socket without owners; `None` for non-internet kinds,
/// protocols other than TCP and UDP, or an unset `vflag`.
pub fn socket_from_raw(raw: &RawInSocket) -> Option<Socket> {
    if raw.kind != SOCKINFO_IN && raw.kind != SOCKINFO_TCP {
        return None;
    }
    let proto = match raw.protocol {
        IPPROTO_TCP => Proto::Tcp,
        IPPROTO_UDP => Proto::Udp,
        _ => return None,
    };
    let (family, local_addr) = family_and_addr(raw.vflag, raw.laddr)?;
    let (_, remote_ip) = family_and_addr(raw.vflag, raw.faddr)?;
    let remote_port = port_from_insi(raw.fport);
    let connected = !remote_ip.is_unspecified() || remote_port != 0;
    let state = match (proto, raw.kind) {
        (Proto::Tcp, SOCKINFO_TCP) => state_from_tsi(raw.tcp_state),
        (Proto::Tcp, _) => SocketState::Close, // no TCP control block (any more)
        (Proto::Udp, _) if connected => SocketState::Established,
        (Proto::Udp, _) => SocketState::Unconn,
    };
    let listening = state == SocketState::Listen;
    Some(Socket {
        proto,
        family,
        local_addr,
        local_port: port_from_insi(raw.lport),
        remote_addr: (connected && !listening).then_some(remote_ip),
        remote_port: (connected && !listening).then_some(remote_port),
        state,
        v6only: (family == Family::Ipv6).then_some(raw.flags & IN6P_IPV6_V6ONLY != 0),
        bound_interface: None,
        uid: Some(raw.uid),
        user: None,
        inode: None,
        owners: Vec::new(),
        owner_unknown: None,
    })
}

/// Builds the socket table from every (record, holder) pair the process walk found.
///
/// A socket shared by several descriptors or processes (after `fork` or `dup`) has one
/// `handle`; it becomes one [`Socket`] listing every distinct holder. The order of first
/// appearance is kept.
pub fn build_sockets(records: &[(RawInSocket, Holder)]) -> Vec<Socket> {
    let mut out: Vec<Socket> = Vec::new();
    let mut index: HashMap<u64, usize> = HashMap::new();
    for (raw, holder) in records {
        let i = match index.get(&raw.handle) {
            Some(&i) => i,
            None => {
                let Some(s) = socket_from_raw(raw) else {
                    continue;
                };
                out.push(s);
                index.insert(raw.handle, out.len() - 1);
                out.len() - 1
            }
        };
        add_holder(&mut out[i], holder);
    }
    out
}

fn add_holder(s: &mut Socket, holder: &Holder) {
    match holder {
        Holder::NotRequested => {}
        Holder::Process(p) => {
            if !s.owners.iter().any(|o| o.pid == p.pid) {
                s.owners.push(p.clone());
            }
            s.owner_unknown = None;
        }
        Holder::Denied if s.owners.is_empty() => s.owner_unknown = Some(DENIED.into()),
        Holder::Denied => {}
    }
}

/// The note for processes whose descriptors could not be listed: their sockets are
/// missing from the table altogether, since libproc reaches sockets only through processes.
pub fn hidden_processes_note(denied: usize) -> Option<String> {
    (denied > 0).then(|| {
        format!(
            "{denied} process(es) could not be inspected; their sockets are missing from this table (run with sudo to see them)"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `in4in6_addr` bytes for an IPv4 address: 12 pad bytes, then the address.
    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut b = [0; 16];
        b[12..].copy_from_slice(&a);
        b
    }

    /// `insi_lport` as the kernel fills it on a little-endian Mac: `htons(port)` widened.
    fn insi_port(port: u16) -> i32 {
        i32::from(port.swap_bytes())
    }

    fn proc(pid: u32, name: &str) -> Holder {
        Holder::Process(Process {
            pid,
            name: name.into(),
            cmdline: vec![],
            uid: Some(501),
            user: None,
        })
    }

    /// A TCP listener as `netstat -an` shows `tcp4 0 0 127.0.0.1.5432 *.* LISTEN`.
    fn pg_listener() -> RawInSocket {
        RawInSocket {
            handle: 0xffff_ff80_1234_5678,
            kind: SOCKINFO_TCP,
            protocol: IPPROTO_TCP,
            uid: 501,
            vflag: INI_IPV4,
            flags: 0,
            lport: 0x3815, // 5432 = 0x1538, network order bytes 15 38 read little-endian
            fport: 0,
            laddr: v4([127, 0, 0, 1]),
            faddr: [0; 16],
            tcp_state: 1,
        }
    }

    #[test]
    fn ports_are_network_order_in_the_low_bits() {
        assert_eq!(port_from_insi(0x3815), 5432);
        assert_eq!(port_from_insi(0x5000), 80);
        assert_eq!(port_from_insi(insi_port(49_152)), 49_152);
    }

    #[test]
    fn tsi_state_numbers() {
        let expect = [
            (0, SocketState::Close),
            (1, SocketState::Listen),
            (2, SocketState::SynSent),
            (3, SocketState::SynRecv),
            (4, SocketState::Established),
            (5, SocketState::CloseWait),
            (6, SocketState::FinWait1),
            (7, SocketState::Closing),
            (8, SocketState::LastAck),
            (9, SocketState::FinWait2),
            (10, SocketState::TimeWait),
            (11, SocketState::Unknown), // TSI_S_RESERVED
        ];
        for (n, s) in expect {
            assert_eq!(state_from_tsi(n), s, "state {n}");
        }
    }

    #[test]
    fn ipv4_listener() {
        let s = socket_from_raw(&pg_listener()).unwrap();
        assert_eq!((s.proto, s.family), (Proto::Tcp, Family::Ipv4));
        assert_eq!(s.local_addr, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(s.local_port, 5432);
        assert_eq!(s.state, SocketState::Listen);
        assert_eq!((s.remote_addr, s.remote_port), (None, None));
        assert_eq!((s.v6only, s.uid), (None, Some(501)));
    }

    /// `tcp46 0 0 *.80 *.* LISTEN` (dual-stack) vs `tcp6 0 0 *.443 *.* LISTEN` (v6only).
    #[test]
    fn ipv6_wildcards_and_v6only() {
        let dual = RawInSocket {
            vflag: INI_IPV4 | INI_IPV6,
            lport: 0x5000,
            laddr: [0; 16],
            ..pg_listener()
        };
        let s = socket_from_raw(&dual).unwrap();
        assert_eq!(s.family, Family::Ipv6);
        assert_eq!(s.local_addr, IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        assert_eq!(s.v6only, Some(false));
        assert_eq!(s.reach(), crate::Reach::AllDualStack);

        let only = RawInSocket {
            vflag: INI_IPV6,
            flags: IN6P_IPV6_V6ONLY | 0x0100,
            lport: 0xBB01,
            laddr: [0; 16],
            ..pg_listener()
        };
        let s = socket_from_raw(&only).unwrap();
        assert_eq!((s.local_port, s.v6only), (443, Some(true)));
        assert_eq!(s.reach(), crate::Reach::AllIpv6Only);
    }

    #[test]
    fn established_tcp_and_udp() {
        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        let est = RawInSocket {
            vflag: INI_IPV6,
            laddr: Ipv6Addr::LOCALHOST.octets(),
            faddr: Ipv6Addr::LOCALHOST.octets(),
            lport: 0x3815,
            fport: insi_port(50_000),
            tcp_state: 4,
            ..pg_listener()
        };
        let s = socket_from_raw(&est).unwrap();
        assert_eq!(s.state, SocketState::Established);
        assert_eq!(s.remote_addr, Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert_eq!(s.remote_port, Some(50_000));

        // `udp4 0 0 *.5353 *.*` and a connect()ed `udp6 fe80::1.546 -> fe80::2.547`.
        let mdns = RawInSocket {
            kind: SOCKINFO_IN,
            protocol: IPPROTO_UDP,
            vflag: INI_IPV4,
            lport: insi_port(5353),
            laddr: v4([0; 4]),
            tcp_state: 0,
            ..pg_listener()
        };
        let s = socket_from_raw(&mdns).unwrap();
        assert_eq!(
            (s.proto, s.local_port, s.state),
            (Proto::Udp, 5353, SocketState::Unconn)
        );
        let peer: Ipv6Addr = "fe80::2".parse().unwrap();
        let conn = RawInSocket {
            vflag: INI_IPV6,
            laddr: ll.octets(),
            faddr: peer.octets(),
            lport: insi_port(546),
            fport: insi_port(547),
            ..mdns
        };
        let s = socket_from_raw(&conn).unwrap();
        assert_eq!(s.state, SocketState::Established);
        assert_eq!(
            (s.remote_addr, s.remote_port),
            (Some(IpAddr::V6(peer)), Some(547))
        );
    }

    #[test]
    fn other_kinds_are_skipped() {
        let unix = RawInSocket {
            kind: 3,
            ..pg_listener()
        }; // SOCKINFO_UN
        assert!(socket_from_raw(&unix).is_none());
        let raw_icmp = RawInSocket {
            kind: SOCKINFO_IN,
            protocol: 1,
            ..pg_listener()
        };
        assert!(socket_from_raw(&raw_icmp).is_none());
        let no_family = RawInSocket {
            vflag: 0,
            ..pg_listener()
        };
        assert!(socket_from_raw(&no_family).is_none());
        let tcp_without_pcb = RawInSocket {
            kind: SOCKINFO_IN,
            ..pg_listener()
        };
        assert_eq!(
            socket_from_raw(&tcp_without_pcb).unwrap().state,
            SocketState::Close
        );
    }

    #[test]
    fn shared_sockets_merge_their_holders() {
        let other = RawInSocket {
            handle: 7,
            lport: 0x5000,
            ..pg_listener()
        };
        let records = vec![
            (pg_listener(), proc(100, "postgres")),
            (other, Holder::Denied),
            (pg_listener(), proc(101, "postgres")),
            (pg_listener(), proc(100, "postgres")), // a dup()ed descriptor
        ];
        let table = build_sockets(&records);
        assert_eq!(table.len(), 2);
        assert_eq!(table[0].pids(), vec![100, 101]);
        assert_eq!(table[0].owner_unknown, None);
        assert!(table[1].owners.is_empty());
        assert_eq!(table[1].owner_unknown.as_deref(), Some(DENIED));
        let quiet = build_sockets(&[(pg_listener(), Holder::NotRequested)]);
        assert!(quiet[0].owners.is_empty() && quiet[0].owner_unknown.is_none());
    }

    #[test]
    fn note_counts_hidden_processes() {
        assert_eq!(hidden_processes_note(0), None);
        assert!(
            hidden_processes_note(3)
                .unwrap()
                .starts_with("3 process(es)")
        );
    }
}
