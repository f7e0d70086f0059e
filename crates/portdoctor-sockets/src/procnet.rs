//! Parser for Linux `/proc/net/{tcp,tcp6,udp,udp6}` text, the fallback when netlink is refused.
//!
//! Platform-free so it is tested (and fuzzed) everywhere. Errors carry line and column.

use crate::model::{Family, Proto, Socket, SocketState};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// A malformed line in a `/proc/net` table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ProcNetError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column of the offending field.
    pub column: usize,
    /// What was wrong.
    pub message: String,
}

/// Parses one table. `family` and `proto` say which file it came from.
pub fn parse(text: &str, proto: Proto, family: Family) -> Result<Vec<Socket>, ProcNetError> {
    let mut sockets = Vec::new();
    for (index, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        sockets.push(parse_line(line, index + 1, proto, family)?);
    }
    Ok(sockets)
}

/// Fields of a line with their 1-based starting column.
fn fields(line: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                out.push((s + 1, &line[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s + 1, &line[s..]));
    }
    out
}

fn parse_line(
    line: &str,
    lineno: usize,
    proto: Proto,
    family: Family,
) -> Result<Socket, ProcNetError> {
    let f = fields(line);
    let err = |column: usize, message: String| ProcNetError {
        line: lineno,
        column,
        message,
    };
    if f.len() < 10 {
        return Err(err(
            line.len().max(1),
            format!("expected at least 10 fields, found {}", f.len()),
        ));
    }
    let (local_addr, local_port) = endpoint(f[1].1, family).map_err(|m| err(f[1].0, m))?;
    let (remote_addr, remote_port) = endpoint(f[2].1, family).map_err(|m| err(f[2].0, m))?;
    let state = u8::from_str_radix(f[3].1, 16)
        .map_err(|_| err(f[3].0, format!("bad state `{}`", f[3].1)))?;
    let uid: u32 = f[7]
        .1
        .parse()
        .map_err(|_| err(f[7].0, format!("bad uid `{}`", f[7].1)))?;
    let inode: u64 = f[9]
        .1
        .parse()
        .map_err(|_| err(f[9].0, format!("bad inode `{}`", f[9].1)))?;
    let state = SocketState::from_linux(proto, state);
    let connected = !remote_addr.is_unspecified() || remote_port != 0;
    Ok(Socket {
        proto,
        family,
        local_addr,
        local_port,
        remote_addr: connected.then_some(remote_addr),
        remote_port: connected.then_some(remote_port),
        state,
        v6only: None,
        bound_interface: None,
        uid: Some(uid),
        user: None,
        inode: (inode != 0).then_some(inode),
        owners: Vec::new(),
        owner_unknown: None,
    })
}

/// Parses `ADDR:PORT` where ADDR is the kernel's hex dump of the address in memory order.
fn endpoint(text: &str, family: Family) -> Result<(IpAddr, u16), String> {
    let (addr, port) = text
        .split_once(':')
        .ok_or_else(|| format!("expected ADDR:PORT, found `{text}`"))?;
    let port = u16::from_str_radix(port, 16).map_err(|_| format!("bad port `{port}`"))?;
    let words = |n: usize| -> Result<Vec<[u8; 4]>, String> {
        if addr.len() != n * 8 || !addr.is_ascii() {
            return Err(format!("expected {} hex digits, found `{addr}`", n * 8));
        }
        (0..n)
            .map(|i| {
                u32::from_str_radix(&addr[i * 8..i * 8 + 8], 16)
                    .map(u32::to_ne_bytes)
                    .map_err(|_| format!("bad address `{addr}`"))
            })
            .collect()
    };
    let ip = match family {
        Family::Ipv4 => IpAddr::V4(Ipv4Addr::from(words(1)?[0])),
        Family::Ipv6 => {
            let mut bytes = [0u8; 16];
            for (i, w) in words(4)?.into_iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
    };
    Ok((ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded on Linux 6.x (x86_64, little-endian).
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 31337 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:C350 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0
";

    #[test]
    fn parses_ipv4_listener_and_time_wait() {
        let s = parse(TCP, Proto::Tcp, Family::Ipv4).unwrap();
        assert_eq!(s.len(), 2);
        if cfg!(target_endian = "little") {
            assert_eq!(s[0].local_addr, "127.0.0.1".parse::<IpAddr>().unwrap());
        }
        assert_eq!(s[0].local_port, 8080);
        assert_eq!(s[0].state, SocketState::Listen);
        assert_eq!(s[0].inode, Some(31337));
        assert_eq!(s[1].state, SocketState::TimeWait);
        assert_eq!(s[1].remote_port, Some(50000));
        assert_eq!(s[1].inode, None);
    }

    #[test]
    fn parses_ipv6_loopback() {
        let s = parse(TCP6, Proto::Tcp, Family::Ipv6).unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(s[0].local_addr, "::1".parse::<IpAddr>().unwrap());
        }
        assert_eq!(s[0].uid, Some(1000));
    }

    #[test]
    fn errors_carry_line_and_column() {
        let bad = "header\n   0: 0100007F:1F90 00000000:0000 ZZ 0 0 0 0 0 0\n";
        let e = parse(bad, Proto::Tcp, Family::Ipv4).unwrap_err();
        assert_eq!((e.line, e.column), (2, 35));
        let short = "header\n 0: x\n";
        assert_eq!(parse(short, Proto::Tcp, Family::Ipv4).unwrap_err().line, 2);
        let multibyte = "h\n 0: é:1 a b c d e f g h i\n";
        assert!(parse(multibyte, Proto::Tcp, Family::Ipv6).is_err());
    }
}
