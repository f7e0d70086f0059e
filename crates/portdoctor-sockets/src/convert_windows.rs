//! Windows IP Helper tables → [`Socket`]s, without any Windows API.
//!
//! `GetExtendedTcpTable` / `GetExtendedUdpTable` fill a buffer with a `DWORD dwNumEntries`
//! followed by fixed-size rows (`tcpmib.h` / `udpmib.h`). This module decodes such a buffer
//! byte by byte and turns the rows into sockets, so that all of it is unit-tested on every
//! OS; `sys/windows.rs` only makes the calls. Windows runs little-endian only (x86, x64,
//! ARM64), so every `DWORD` is read with `u32::from_le_bytes`.
//!
//! Byte order, as documented for `MIB_TCPROW_OWNER_PID` and friends:
//! * `dwLocalAddr` / `dwRemoteAddr` hold the IPv4 address in network byte order, i.e. the
//!   four bytes in memory are the address octets in order;
//! * `dwLocalPort` / `dwRemotePort` hold the port in network byte order in the low 16 bits;
//!   the upper 16 bits "may contain uninitialized data";
//! * `ucLocalAddr[16]` / `ucRemoteAddr[16]` are the IPv6 address bytes in order.

use crate::model::{Family, Process, Proto, Socket, SocketState};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Size of `MIB_TCPROW_OWNER_PID`: six `DWORD`s.
pub const TCP4_ROW_LEN: usize = 24;
/// Size of `MIB_TCP6ROW_OWNER_PID`: two 16-byte addresses and six `DWORD`s.
pub const TCP6_ROW_LEN: usize = 56;
/// Size of `MIB_UDPROW_OWNER_PID`: three `DWORD`s.
pub const UDP4_ROW_LEN: usize = 12;
/// Size of `MIB_UDP6ROW_OWNER_PID`: a 16-byte address and three `DWORD`s.
pub const UDP6_ROW_LEN: usize = 28;

/// The image name Windows tools show for pid 4, which owns kernel-mode listeners
/// (SMB on 445, HTTP.sys on 80/443, …).
pub const SYSTEM_PROCESS_NAME: &str = "System";

/// `owner_unknown` text when `OpenProcess` was refused.
pub const DENIED: &str = "owner unknown (needs an elevated prompt)";

/// `owner_unknown` text for pid 0 (the "System Idle Process"), which Windows reports for
/// sockets no process holds any more (TIME_WAIT and the other states after a close).
pub const NO_PROCESS: &str = "no process (kernel-held socket)";

/// `owner_unknown` text for pid 0 on a socket some process must hold (a listener, a live
/// connection, a UDP socket): the table named no owner. Wine, for one, reports pid 0 for
/// every socket.
pub const PID0_UNKNOWN: &str = "owner unknown (the system reported pid 0)";

/// `owner_unknown` text when the process exited between the table read and the lookup.
pub const EXITED: &str = "owner exited before it could be inspected";

/// An address as it sits in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawAddr {
    /// `dwLocalAddr`'s four bytes in memory order (= network order = octet order).
    V4([u8; 4]),
    /// `ucLocalAddr[16]`.
    V6([u8; 16]),
}

impl RawAddr {
    /// The address.
    pub fn ip(self) -> IpAddr {
        match self {
            RawAddr::V4(b) => IpAddr::V4(Ipv4Addr::from(b)),
            RawAddr::V6(b) => IpAddr::V6(Ipv6Addr::from(b)),
        }
    }
}

/// One `MIB_TCPROW_OWNER_PID` or `MIB_TCP6ROW_OWNER_PID`, fields as Windows stores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawTcpRow {
    /// `dwState`: a `MIB_TCP_STATE` number.
    pub state: u32,
    /// Local address.
    pub local_addr: RawAddr,
    /// `dwLocalPort` as the `DWORD` value (port in network order in the low 16 bits).
    pub local_port_dword: u32,
    /// Remote address (meaningless for listeners).
    pub remote_addr: RawAddr,
    /// `dwRemotePort` as the `DWORD` value.
    pub remote_port_dword: u32,
    /// `dwOwningPid`.
    pub pid: u32,
}

/// One `MIB_UDPROW_OWNER_PID` or `MIB_UDP6ROW_OWNER_PID`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawUdpRow {
    /// Local address.
    pub local_addr: RawAddr,
    /// `dwLocalPort` as the `DWORD` value.
    pub local_port_dword: u32,
    /// `dwOwningPid`.
    pub pid: u32,
}

/// A table buffer shorter than its `dwNumEntries` says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{table} table truncated: {entries} entries need {needed} bytes, got {got}")]
pub struct TableError {
    /// Which table (`tcp`, `tcp6`, `udp`, `udp6`).
    pub table: &'static str,
    /// `dwNumEntries`.
    pub entries: usize,
    /// Bytes the rows need, header included.
    pub needed: usize,
    /// Bytes there are.
    pub got: usize,
}

/// Extracts the port from a `dwLocalPort` / `dwRemotePort` value: network byte order in the
/// low 16 bits, whatever the high 16 bits hold.
pub fn port_from_dword(dword: u32) -> u16 {
    let [b0, b1, _, _] = dword.to_le_bytes();
    u16::from_be_bytes([b0, b1])
}

/// Maps a `MIB_TCP_STATE` number (`tcpmib.h`) to a [`SocketState`].
pub fn state_from_windows(state: u32) -> SocketState {
    match state {
        1 => SocketState::Close,
        2 => SocketState::Listen,
        3 => SocketState::SynSent,
        4 => SocketState::SynRecv,
        5 => SocketState::Established,
        6 => SocketState::FinWait1,
        7 => SocketState::FinWait2,
        8 => SocketState::CloseWait,
        9 => SocketState::Closing,
        10 => SocketState::LastAck,
        11 => SocketState::TimeWait,
        12 => SocketState::Close, // MIB_TCP_STATE_DELETE_TCB: being torn down
        _ => SocketState::Unknown,
    }
}

/// Decodes a `MIB_TCPTABLE_OWNER_PID` (IPv4) or `MIB_TCP6TABLE_OWNER_PID` (IPv6) buffer.
pub fn parse_tcp_table(buf: &[u8], family: Family) -> Result<Vec<RawTcpRow>, TableError> {
    let (table, len) = match family {
        Family::Ipv4 => ("tcp", TCP4_ROW_LEN),
        Family::Ipv6 => ("tcp6", TCP6_ROW_LEN),
    };
    let rows = split_rows(buf, table, len)?;
    Ok(rows
        .map(|r| match family {
            Family::Ipv4 => tcp4_row(r),
            Family::Ipv6 => tcp6_row(r),
        })
        .collect())
}

/// Decodes a `MIB_UDPTABLE_OWNER_PID` (IPv4) or `MIB_UDP6TABLE_OWNER_PID` (IPv6) buffer.
pub fn parse_udp_table(buf: &[u8], family: Family) -> Result<Vec<RawUdpRow>, TableError> {
    let (table, len) = match family {
        Family::Ipv4 => ("udp", UDP4_ROW_LEN),
        Family::Ipv6 => ("udp6", UDP6_ROW_LEN),
    };
    let rows = split_rows(buf, table, len)?;
    Ok(rows
        .map(|r| match family {
            Family::Ipv4 => RawUdpRow {
                local_addr: RawAddr::V4(bytes4(r, 0)),
                local_port_dword: dword(r, 4),
                pid: dword(r, 8),
            },
            Family::Ipv6 => RawUdpRow {
                local_addr: RawAddr::V6(bytes16(r, 0)),
                local_port_dword: dword(r, 20),
                pid: dword(r, 24),
            },
        })
        .collect())
}

/// Checks the header against the buffer and yields the rows.
fn split_rows<'a>(
    buf: &'a [u8],
    table: &'static str,
    row_len: usize,
) -> Result<impl Iterator<Item = &'a [u8]>, TableError> {
    let entries = if buf.len() >= 4 {
        dword(buf, 0) as usize
    } else {
        0
    };
    let needed = entries
        .checked_mul(row_len)
        .and_then(|n| n.checked_add(4))
        .unwrap_or(usize::MAX);
    if buf.len() < needed.max(4) {
        return Err(TableError {
            table,
            entries,
            needed: needed.max(4),
            got: buf.len(),
        });
    }
    Ok(buf[4..needed].chunks_exact(row_len))
}

/// `dwState, dwLocalAddr, dwLocalPort, dwRemoteAddr, dwRemotePort, dwOwningPid`.
fn tcp4_row(r: &[u8]) -> RawTcpRow {
    RawTcpRow {
        state: dword(r, 0),
        local_addr: RawAddr::V4(bytes4(r, 4)),
        local_port_dword: dword(r, 8),
        remote_addr: RawAddr::V4(bytes4(r, 12)),
        remote_port_dword: dword(r, 16),
        pid: dword(r, 20),
    }
}

/// `ucLocalAddr[16], dwLocalScopeId, dwLocalPort, ucRemoteAddr[16], dwRemoteScopeId,
/// dwRemotePort, dwState, dwOwningPid`.
fn tcp6_row(r: &[u8]) -> RawTcpRow {
    RawTcpRow {
        local_addr: RawAddr::V6(bytes16(r, 0)),
        local_port_dword: dword(r, 20),
        remote_addr: RawAddr::V6(bytes16(r, 24)),
        remote_port_dword: dword(r, 44),
        state: dword(r, 48),
        pid: dword(r, 52),
    }
}

fn dword(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes4(b, at))
}

fn bytes4(b: &[u8], at: usize) -> [u8; 4] {
    let mut out = [0; 4];
    out.copy_from_slice(&b[at..at + 4]);
    out
}

fn bytes16(b: &[u8], at: usize) -> [u8; 16] {
    let mut out = [0; 16];
    out.copy_from_slice(&b[at..at + 16]);
    out
}

/// What is known about the process behind a row's `dwOwningPid`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerLookup {
    /// Owners were not asked for.
    NotRequested,
    /// The process, with its image name.
    Found(Process),
    /// pid 0: no process holds the socket.
    NoProcess,
    /// `OpenProcess` was refused.
    Denied,
    /// The process is gone (or its image name could not be read).
    Exited,
}

/// Converts a TCP row; `owner` is the lookup result for `row.pid`.
pub fn tcp_socket(row: &RawTcpRow, owner: &OwnerLookup) -> Socket {
    let state = state_from_windows(row.state);
    let remote_ip = row.remote_addr.ip();
    let remote_port = port_from_dword(row.remote_port_dword);
    let connected =
        state != SocketState::Listen && (!remote_ip.is_unspecified() || remote_port != 0);
    let mut s = base_socket(
        Proto::Tcp,
        row.local_addr,
        row.local_port_dword,
        state,
        owner,
    );
    s.remote_addr = connected.then_some(remote_ip);
    s.remote_port = connected.then_some(remote_port);
    s
}

/// Converts a UDP row. The UDP tables carry no remote end, so every UDP socket is `unconn`.
pub fn udp_socket(row: &RawUdpRow, owner: &OwnerLookup) -> Socket {
    base_socket(
        Proto::Udp,
        row.local_addr,
        row.local_port_dword,
        SocketState::Unconn,
        owner,
    )
}

fn base_socket(
    proto: Proto,
    addr: RawAddr,
    port_dword: u32,
    state: SocketState,
    owner: &OwnerLookup,
) -> Socket {
    let family = match addr {
        RawAddr::V4(_) => Family::Ipv4,
        RawAddr::V6(_) => Family::Ipv6,
    };
    let (owners, owner_unknown) = owner_fields(owner, state);
    Socket {
        proto,
        family,
        local_addr: addr.ip(),
        local_port: port_from_dword(port_dword),
        remote_addr: None,
        remote_port: None,
        state,
        v6only: None, // IP Helper does not report IPV6_V6ONLY
        bound_interface: None,
        uid: None,
        user: None,
        inode: None,
        owners,
        owner_unknown,
    }
}

fn owner_fields(owner: &OwnerLookup, state: SocketState) -> (Vec<Process>, Option<String>) {
    match owner {
        OwnerLookup::NotRequested => (Vec::new(), None),
        OwnerLookup::Found(p) => (vec![p.clone()], None),
        OwnerLookup::NoProcess if outlives_its_process(state) => {
            (Vec::new(), Some(NO_PROCESS.into()))
        }
        OwnerLookup::NoProcess => (Vec::new(), Some(PID0_UNKNOWN.into())),
        OwnerLookup::Denied => (Vec::new(), Some(DENIED.into())),
        OwnerLookup::Exited => (Vec::new(), Some(EXITED.into())),
    }
}

/// States a TCP socket can be in after its process closed it (or exited): only there does
/// pid 0 mean that no process holds it.
fn outlives_its_process(state: SocketState) -> bool {
    matches!(
        state,
        SocketState::TimeWait
            | SocketState::FinWait1
            | SocketState::FinWait2
            | SocketState::Closing
            | SocketState::LastAck
            | SocketState::Close
    )
}

/// A process from its pid and `QueryFullProcessImageNameW` path: the name is the path's
/// file name (`C:\Windows\System32\svchost.exe` → `svchost.exe`).
pub fn process_from_image(pid: u32, image_path: &str) -> Process {
    let name = image_path
        .rsplit(['\\', '/'])
        .next()
        .unwrap_or(image_path)
        .to_string();
    Process {
        pid,
        name,
        cmdline: Vec::new(),
        uid: None,
        user: None,
    }
}

/// The lookup result for pids that cannot (and need not) be opened: 0 and 4.
pub fn well_known_owner(pid: u32) -> Option<OwnerLookup> {
    match pid {
        0 => Some(OwnerLookup::NoProcess),
        4 => Some(OwnerLookup::Found(Process {
            pid,
            name: SYSTEM_PROCESS_NAME.into(),
            cmdline: Vec::new(),
            uid: None,
            user: None,
        })),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a table buffer the way Windows lays it out: `dwNumEntries`, then the rows,
    /// every `DWORD` little-endian.
    fn table(rows: &[Vec<u8>]) -> Vec<u8> {
        let mut buf = (rows.len() as u32).to_le_bytes().to_vec();
        for r in rows {
            buf.extend_from_slice(r);
        }
        buf
    }

    fn dw(v: u32) -> [u8; 4] {
        v.to_le_bytes()
    }

    /// A `DWORD` port as Windows fills it: network order in the low 16 bits (on a
    /// little-endian machine the value is byte-swapped), junk allowed above.
    fn port_dword(port: u16, junk: u16) -> u32 {
        u32::from(port.swap_bytes()) | (u32::from(junk) << 16)
    }

    fn tcp4(
        state: u32,
        local: [u8; 4],
        lport: u32,
        remote: [u8; 4],
        rport: u32,
        pid: u32,
    ) -> Vec<u8> {
        [dw(state), local, dw(lport), remote, dw(rport), dw(pid)].concat()
    }

    fn found(pid: u32, name: &str) -> OwnerLookup {
        OwnerLookup::Found(process_from_image(pid, name))
    }

    #[test]
    fn port_dword_examples_from_the_documented_byte_order() {
        // Port 135 (0x0087) in network order is bytes 00 87; as a little-endian DWORD
        // that is 0x00008700. Port 445 (0x01BD) → 0x0000BD01. Port 80 → 0x00005000.
        assert_eq!(port_from_dword(0x0000_8700), 135);
        assert_eq!(port_from_dword(0x0000_BD01), 445);
        assert_eq!(port_from_dword(0x0000_5000), 80);
        // "The upper 16 bits may contain uninitialized data."
        assert_eq!(port_from_dword(0xDEAD_5000), 80);
        assert_eq!(port_from_dword(port_dword(49_670, 0xffff)), 49_670);
    }

    #[test]
    fn mib_tcp_state_numbers() {
        let expect = [
            (1, SocketState::Close),
            (2, SocketState::Listen),
            (3, SocketState::SynSent),
            (4, SocketState::SynRecv),
            (5, SocketState::Established),
            (6, SocketState::FinWait1),
            (7, SocketState::FinWait2),
            (8, SocketState::CloseWait),
            (9, SocketState::Closing),
            (10, SocketState::LastAck),
            (11, SocketState::TimeWait),
            (12, SocketState::Close),
            (100, SocketState::Unknown),
        ];
        for (n, s) in expect {
            assert_eq!(state_from_windows(n), s, "state {n}");
        }
    }

    /// The rows `netstat -ano` prints on a stock Windows machine:
    /// `TCP 0.0.0.0:135 0.0.0.0:0 LISTENING 1052`, `TCP 0.0.0.0:445 0.0.0.0:0 LISTENING 4`,
    /// `TCP 127.0.0.1:49670 127.0.0.1:49671 ESTABLISHED 3120`,
    /// `TCP 192.168.1.20:50123 13.107.42.14:443 TIME_WAIT 0`.
    #[test]
    fn ipv4_tcp_table_with_netstat_rows() {
        let buf = table(&[
            tcp4(2, [0; 4], 0x8700, [0; 4], 0, 1052),
            tcp4(2, [0; 4], port_dword(445, 0x1234), [0; 4], 0x0000_3412, 4),
            tcp4(
                5,
                [127, 0, 0, 1],
                port_dword(49_670, 0),
                [127, 0, 0, 1],
                port_dword(49_671, 0),
                3120,
            ),
            tcp4(
                11,
                [192, 168, 1, 20],
                port_dword(50_123, 0),
                [13, 107, 42, 14],
                0x0000_BB01,
                0,
            ),
        ]);
        let rows = parse_tcp_table(&buf, Family::Ipv4).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].local_addr, RawAddr::V4([0, 0, 0, 0]));

        let rpc = tcp_socket(&rows[0], &found(1052, r"C:\Windows\System32\svchost.exe"));
        assert_eq!(
            (rpc.local_addr.to_string().as_str(), rpc.local_port),
            ("0.0.0.0", 135)
        );
        assert_eq!(rpc.state, SocketState::Listen);
        assert_eq!((rpc.remote_addr, rpc.remote_port), (None, None));
        assert_eq!(rpc.owners[0].name, "svchost.exe");
        assert_eq!(rpc.pids(), vec![1052]);

        let smb = tcp_socket(&rows[1], &well_known_owner(4).unwrap());
        assert_eq!(smb.local_port, 445);
        assert_eq!(smb.owners[0].name, "System");

        let est = tcp_socket(&rows[2], &OwnerLookup::Denied);
        assert_eq!(est.local_addr, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(est.local_port, 49_670);
        assert_eq!(est.remote_addr, Some(IpAddr::from([127, 0, 0, 1])));
        assert_eq!(est.remote_port, Some(49_671));
        assert!(est.owners.is_empty());
        assert_eq!(est.owner_unknown.as_deref(), Some(DENIED));

        let tw = tcp_socket(&rows[3], &well_known_owner(0).unwrap());
        assert_eq!(tw.state, SocketState::TimeWait);
        assert_eq!(tw.remote_addr, Some(IpAddr::from([13, 107, 42, 14])));
        assert_eq!(tw.remote_port, Some(443));
        assert_eq!(tw.owner_unknown.as_deref(), Some(NO_PROCESS));
        assert_eq!(tw.family, Family::Ipv4);
        assert_eq!(tw.v6only, None);
    }

    /// `TCP [::]:135 [::]:0 LISTENING 1052` and
    /// `TCP [::1]:5432 [::1]:50000 ESTABLISHED 2200` (scope ids 0).
    #[test]
    fn ipv6_tcp_table() {
        let loopback = Ipv6Addr::LOCALHOST.octets();
        let rows = [
            [
                &[0u8; 16][..],
                &dw(0),
                &dw(0x8700),
                &[0; 16],
                &dw(0),
                &dw(0),
                &dw(2),
                &dw(1052),
            ]
            .concat(),
            [
                &loopback[..],
                &dw(0),
                &dw(port_dword(5432, 0)),
                &loopback,
                &dw(0),
                &dw(port_dword(50_000, 0)),
                &dw(5),
                &dw(2200),
            ]
            .concat(),
        ];
        assert!(rows.iter().all(|r| r.len() == TCP6_ROW_LEN));
        let parsed = parse_tcp_table(&table(&rows), Family::Ipv6).unwrap();
        let any = tcp_socket(&parsed[0], &OwnerLookup::NotRequested);
        assert_eq!(any.local_addr, IpAddr::V6(Ipv6Addr::UNSPECIFIED));
        assert_eq!(any.local_port, 135);
        assert_eq!(any.family, Family::Ipv6);
        assert_eq!(any.v6only, None);
        assert_eq!(any.reach(), crate::Reach::AllIpv6);
        assert!(any.owners.is_empty() && any.owner_unknown.is_none());

        let pg = tcp_socket(
            &parsed[1],
            &found(2200, r"C:\Program Files\PostgreSQL\16\bin\postgres.exe"),
        );
        assert_eq!(pg.local_addr, IpAddr::V6(Ipv6Addr::LOCALHOST));
        assert_eq!((pg.local_port, pg.remote_port), (5432, Some(50_000)));
        assert_eq!(pg.state, SocketState::Established);
        assert_eq!(pg.owners[0].name, "postgres.exe");
    }

    /// `UDP 0.0.0.0:5353 *:* 2344` and `UDP [fe80::1%12]:546 *:* 1400`.
    #[test]
    fn udp_tables() {
        let v4 = table(&[[[0u8; 4], dw(port_dword(5353, 0xabcd)), dw(2344)].concat()]);
        let rows = parse_udp_table(&v4, Family::Ipv4).unwrap();
        let mdns = udp_socket(&rows[0], &found(2344, "svchost.exe"));
        assert_eq!((mdns.proto, mdns.local_port), (Proto::Udp, 5353));
        assert_eq!(mdns.state, SocketState::Unconn);
        assert_eq!(mdns.remote_addr, None);

        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        let v6 = table(&[[
            &ll.octets()[..],
            &dw(12),
            &dw(port_dword(546, 0)),
            &dw(1400),
        ]
        .concat()]);
        let rows = parse_udp_table(&v6, Family::Ipv6).unwrap();
        let dhcp6 = udp_socket(&rows[0], &OwnerLookup::Exited);
        assert_eq!(dhcp6.local_addr, IpAddr::V6(ll));
        assert_eq!(dhcp6.local_port, 546);
        assert_eq!(dhcp6.owner_unknown.as_deref(), Some(EXITED));
    }

    /// pid 0 means "no process" only for a socket its process may have left behind; on a
    /// listener, a live connection or a UDP socket (Wine reports pid 0 for all of them) the
    /// owner is unknown, not absent.
    #[test]
    fn pid_0_is_no_process_only_after_a_close() {
        let no_owner = well_known_owner(0).unwrap();
        let buf = table(&[
            tcp4(2, [127, 0, 0, 1], port_dword(8080, 0), [0; 4], 0, 0),
            tcp4(
                5,
                [127, 0, 0, 1],
                port_dword(8080, 0),
                [127, 0, 0, 1],
                0x3412,
                0,
            ),
            tcp4(
                7,
                [127, 0, 0, 1],
                port_dword(8080, 0),
                [127, 0, 0, 1],
                0x3512,
                0,
            ),
            tcp4(
                11,
                [127, 0, 0, 1],
                port_dword(8080, 0),
                [127, 0, 0, 1],
                0x3612,
                0,
            ),
        ]);
        let owners: Vec<Option<String>> = parse_tcp_table(&buf, Family::Ipv4)
            .unwrap()
            .iter()
            .map(|r| tcp_socket(r, &no_owner).owner_unknown)
            .collect();
        assert_eq!(
            owners,
            [PID0_UNKNOWN, PID0_UNKNOWN, NO_PROCESS, NO_PROCESS].map(|s| Some(s.to_string()))
        );
        let udp = table(&[[[0u8; 4], dw(port_dword(53, 0)), dw(0)].concat()]);
        let rows = parse_udp_table(&udp, Family::Ipv4).unwrap();
        let dns = udp_socket(&rows[0], &no_owner);
        assert_eq!(dns.owner_unknown.as_deref(), Some(PID0_UNKNOWN));
    }

    #[test]
    fn truncated_or_empty_tables() {
        assert_eq!(parse_tcp_table(&table(&[]), Family::Ipv4).unwrap(), vec![]);
        let mut buf = table(&[tcp4(2, [0; 4], 0, [0; 4], 0, 1)]);
        buf.pop();
        let err = parse_tcp_table(&buf, Family::Ipv4).unwrap_err();
        assert_eq!((err.entries, err.needed, err.got), (1, 28, 27));
        assert!(parse_udp_table(&[1, 0], Family::Ipv6).is_err());
        // A lying header must not overflow or panic.
        assert!(parse_tcp_table(&dw(u32::MAX), Family::Ipv6).is_err());
        // Extra trailing bytes (Windows rounds the buffer up) are ignored.
        let mut buf = table(&[[[0u8; 4], dw(0), dw(1)].concat()]);
        buf.extend_from_slice(&[0xcc; 8]);
        assert_eq!(parse_udp_table(&buf, Family::Ipv4).unwrap().len(), 1);
    }

    #[test]
    fn image_names() {
        assert_eq!(
            process_from_image(7, r"C:\Windows\System32\svchost.exe").name,
            "svchost.exe"
        );
        assert_eq!(process_from_image(7, "nginx.exe").name, "nginx.exe");
        assert_eq!(well_known_owner(1234), None);
    }
}
