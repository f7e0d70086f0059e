//! The lock-out guard: before a change, the firewall library's "what if" query checks what it
//! would do to the SSH session this command runs in, and to new connections to sshd's
//! listeners. A change that would cut either is refused unless forced.

use portdoctor_firewall::engine::{Edit, Engine};
use portdoctor_firewall::{CtState, Decision, Packet, Proto};
use std::net::IpAddr;

/// The SSH connection this process runs in (`SSH_CONNECTION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SshSession {
    /// The client.
    pub client: IpAddr,
    /// The client's port.
    pub client_port: u16,
    /// This machine's address.
    pub server: IpAddr,
    /// sshd's port.
    pub server_port: u16,
}

impl SshSession {
    /// Parses `SSH_CONNECTION` ("client_ip client_port server_ip server_port").
    pub fn parse(text: &str) -> Option<SshSession> {
        let w: Vec<&str> = text.split_whitespace().collect();
        let [c, cp, s, sp] = w.as_slice() else {
            return None;
        };
        Some(SshSession {
            client: c.parse().ok()?,
            client_port: cp.parse().ok()?,
            server: s.parse().ok()?,
            server_port: sp.parse().ok()?,
        })
    }

    /// The session of this process, if it runs over SSH.
    pub fn current() -> Option<SshSession> {
        SshSession::parse(&std::env::var("SSH_CONNECTION").ok()?)
    }
}

/// A new connection that must stay possible (to sshd's port from anyone, on an interface).
#[derive(Debug, Clone)]
pub struct Protected {
    /// Why it matters, for the message.
    pub what: String,
    /// The packet.
    pub packet: Packet,
}

/// The packets to protect: the SSH session's own (established and new), and a new connection
/// to each sshd port on each given (address, interface).
pub fn protected(
    ssh: Option<&SshSession>,
    sshd_ports: &[u16],
    addrs: &[(IpAddr, String)],
) -> Vec<Protected> {
    let mut out = vec![];
    if let Some(s) = ssh {
        for ct in [CtState::Established, CtState::New] {
            let mut p = Packet::new(Proto::Tcp, s.client, s.server, s.server_port);
            p.sport = s.client_port;
            p.ct_state = ct;
            if ct == CtState::Established {
                p.tcp_flags = 0x10;
            }
            out.push(Protected {
                what: format!(
                    "the SSH session this command runs in ({}:{} -> {}:{})",
                    s.client, s.client_port, s.server, s.server_port
                ),
                packet: p,
            });
        }
    }
    for port in sshd_ports {
        for (addr, iface) in addrs {
            let src = portdoctor_firewall::viewpoint::outside_for(*addr);
            let p = Packet::new(Proto::Tcp, src, *addr, *port).with_iif(iface);
            out.push(Protected {
                what: format!("new SSH connections to sshd on {addr} port {port}"),
                packet: p,
            });
        }
    }
    out
}

/// Refuses (with the reason) a change whose `edits` would block a protected packet that gets
/// in today.
pub fn check(engine: &dyn Engine, edits: &[Edit], protected: &[Protected]) -> Result<(), String> {
    if protected.is_empty() || edits.is_empty() {
        return Ok(());
    }
    let after = engine
        .edited(edits)
        .map_err(|e| format!("the change cannot be checked against the SSH session: {e}"))?;
    for p in protected {
        let before = engine.explain(&p.packet).overall.decision;
        let now = after.explain(&p.packet).overall.decision;
        if before == Decision::Accept && now != Decision::Accept {
            return Err(format!("this change would cut {}", p.what));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_connection_parses() {
        let s = SshSession::parse("198.18.0.2 51000 198.18.0.1 22").unwrap();
        assert_eq!(s.server_port, 22);
        assert!(SshSession::parse("garbage").is_none());
    }
}
