//! Linux: NETLINK_SOCK_DIAG for the table, /proc for owners; /proc/net text as a fallback.

mod netlink;
mod netns;
mod procfs;

pub(crate) use netns::other_namespaces;

use crate::model::{Family, Proto, Snapshot, SnapshotOptions, Socket, Source};
use crate::{SocketsError, procnet};

pub(crate) fn snapshot(opts: &SnapshotOptions) -> Result<Snapshot, SocketsError> {
    let mut notes = Vec::new();
    // `PORTDOCTOR_SOCKETS=procnet` takes the fallback path on purpose (tests, comparisons).
    let forced = std::env::var("PORTDOCTOR_SOCKETS").is_ok_and(|v| v == "procnet");
    let start = std::time::Instant::now();
    let dumped = if forced {
        Err(std::io::Error::other("PORTDOCTOR_SOCKETS=procnet"))
    } else {
        netlink::dump(opts)
    };
    let (mut sockets, source) = match dumped {
        Ok(s) => (s, Source::Netlink),
        Err(e) => {
            notes.push(format!(
                "netlink sock_diag refused ({e}); read /proc/net instead (no v6only flag)"
            ));
            (read_proc_net(opts)?, Source::ProcNet)
        }
    };
    tracing::debug!(sockets = sockets.len(), ms = ms(start), "socket table read");
    if opts.owners {
        let start = std::time::Instant::now();
        attach_owners(&mut sockets, &mut notes);
        tracing::debug!(ms = ms(start), "owners attached");
    }
    Ok(Snapshot {
        source,
        notes,
        sockets,
    })
}

fn ms(since: std::time::Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

fn read_proc_net(opts: &SnapshotOptions) -> Result<Vec<Socket>, SocketsError> {
    let mut out = Vec::new();
    let tables = [
        ("tcp", Proto::Tcp, Family::Ipv4),
        ("tcp6", Proto::Tcp, Family::Ipv6),
        ("udp", Proto::Udp, Family::Ipv4),
        ("udp6", Proto::Udp, Family::Ipv6),
    ];
    for (file, proto, family) in tables {
        if (proto == Proto::Tcp && !opts.tcp) || (proto == Proto::Udp && !opts.udp) {
            continue;
        }
        let path = format!("/proc/net/{file}");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            // A kernel without IPv6 has no tcp6/udp6.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(SocketsError::Read { path, source }),
        };
        let parsed =
            procnet::parse(&text, proto, family).map_err(|e| SocketsError::Parse { path, e })?;
        out.extend(parsed);
    }
    Ok(out)
}

/// Fills `owners` from the inode→pid map; marks what could not be resolved, and why.
pub(crate) fn attach_owners(sockets: &mut [Socket], notes: &mut Vec<String>) {
    let map = procfs::inode_owners();
    let mut cache = procfs::ProcessCache::default();
    let mut unknown = 0usize;
    for s in sockets.iter_mut() {
        s.user = s.uid.and_then(|u| cache.user_name(u));
        let pids = s.inode.and_then(|i| map.owners.get(&i));
        match pids {
            Some(pids) => s.owners = pids.iter().filter_map(|&p| cache.get(p)).collect(),
            None if s.inode.is_none() => {
                // TIME_WAIT and other kernel-only sockets belong to no process.
                s.owner_unknown = Some("no process (kernel-held socket)".into());
            }
            None => {
                unknown += 1;
                s.owner_unknown = Some(if map.denied > 0 {
                    "owner unknown (needs root)".into()
                } else {
                    "owner not found in /proc (exited, or in another PID namespace)".into()
                });
            }
        }
    }
    if unknown > 0 && map.denied > 0 {
        notes.push(format!(
            "the owners of {unknown} socket(s) are unknown: {} process(es) could not be inspected; run as root (or with CAP_SYS_PTRACE) to see them",
            map.denied
        ));
    }
}
