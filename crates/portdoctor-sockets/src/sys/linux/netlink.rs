//! NETLINK_SOCK_DIAG dump of TCP and UDP sockets, IPv4 and IPv6, every state.

use crate::model::{Family, Proto, SnapshotOptions, Socket, SocketState};
use netlink_packet_core::{
    NLM_F_DUMP, NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload,
};
use netlink_packet_sock_diag::{
    SockDiagMessage,
    constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP},
    inet::{ExtensionFlags, InetRequest, InetResponse, SocketId, StateFlags, nlas::Nla},
};
use netlink_sys::{Socket as NlSocket, SocketAddr, protocols::NETLINK_SOCK_DIAG};
use std::io;

/// Receive buffer for one `recv`: the kernel fills up to this many bytes per datagram batch.
const RECV_BUFFER: usize = 1 << 20;

/// Dumps every requested socket.
pub(crate) fn dump(opts: &SnapshotOptions) -> io::Result<Vec<Socket>> {
    let mut socket = NlSocket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    // Best effort: a larger kernel buffer means fewer round trips on big tables.
    let _ = socket.set_rx_buf_sz(4 * RECV_BUFFER);
    let mut buf = vec![0u8; RECV_BUFFER];
    let mut out = Vec::new();
    for (proto, ipproto) in [(Proto::Tcp, IPPROTO_TCP), (Proto::Udp, IPPROTO_UDP)] {
        if (proto == Proto::Tcp && !opts.tcp) || (proto == Proto::Udp && !opts.udp) {
            continue;
        }
        for (family, af) in [(Family::Ipv4, AF_INET), (Family::Ipv6, AF_INET6)] {
            request(&socket, af, ipproto)?;
            receive(&socket, &mut buf, proto, family, &mut out)?;
        }
    }
    Ok(out)
}

fn request(socket: &NlSocket, af: u8, ipproto: u8) -> io::Result<()> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let socket_id = if af == AF_INET {
        SocketId::new_v4()
    } else {
        SocketId::new_v6()
    };
    let mut packet = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family: af,
            protocol: ipproto,
            extensions: ExtensionFlags::empty(),
            states: StateFlags::all(),
            socket_id,
        })
        .into(),
    );
    packet.finalize();
    let mut bytes = vec![0u8; packet.buffer_len()];
    packet.serialize(&mut bytes);
    socket.send(&bytes, 0)?;
    Ok(())
}

fn receive(
    socket: &NlSocket,
    buf: &mut [u8],
    proto: Proto,
    family: Family,
    out: &mut Vec<Socket>,
) -> io::Result<()> {
    loop {
        let size = socket.recv(&mut &mut buf[..], 0)?;
        let mut offset = 0;
        while offset < size {
            let msg = <NetlinkMessage<SockDiagMessage>>::deserialize(&buf[offset..size])
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
            let len = msg.header.length as usize;
            match msg.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                    out.push(convert(&r, proto, family));
                }
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(e) => {
                    return Err(e.to_io());
                }
                _ => {}
            }
            if len == 0 {
                break;
            }
            offset += nlmsg_align(len);
        }
    }
}

fn nlmsg_align(len: usize) -> usize {
    (len + 3) & !3
}

fn convert(r: &InetResponse, proto: Proto, family: Family) -> Socket {
    let h = &r.header;
    let id = &h.socket_id;
    let state = SocketState::from_linux(proto, h.state);
    let connected = !id.destination_address.is_unspecified() || id.destination_port != 0;
    let v6only = r.nlas.iter().find_map(|n| match n {
        Nla::SkV6Only(v) => Some(*v),
        _ => None,
    });
    Socket {
        proto,
        family,
        local_addr: id.source_address,
        local_port: id.source_port,
        remote_addr: connected.then_some(id.destination_address),
        remote_port: connected.then_some(id.destination_port),
        state,
        v6only: if family == Family::Ipv6 { v6only } else { None },
        bound_interface: (id.interface_id != 0).then_some(id.interface_id),
        uid: Some(h.uid),
        user: None,
        inode: (h.inode != 0).then_some(u64::from(h.inode)),
        owners: Vec::new(),
        owner_unknown: None,
    }
}
