//! Linux: every other network namespace, entered on a thread of its own (setns through
//! rustix), its sockets dumped with NETLINK_SOCK_DIAG and its addresses listed there; owners
//! and containers from /proc, which is global.

use super::{attach_owners, netlink};
use crate::model::{SnapshotOptions, Socket};
use crate::namespaces::{NamespaceSockets, container_in_cgroup, name_container};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

/// Namespaces read at the same time.
const PARALLEL: usize = 8;
/// Pids remembered per namespace.
const PIDS_KEPT: usize = 16;

/// One namespace to visit: its id, a path that opens it, some pids inside.
struct Found {
    id: String,
    path: String,
    pids: Vec<u32>,
}

/// Sockets on `ports` (all ports when empty) in every network namespace but the caller's.
pub(crate) fn other_namespaces(ports: &[u16], opts: &SnapshotOptions) -> Vec<NamespaceSockets> {
    let own = std::fs::read_link("/proc/thread-self/ns/net")
        .or_else(|_| std::fs::read_link("/proc/self/ns/net"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let found: Vec<Found> = enumerate().into_iter().filter(|f| f.id != own).collect();
    let mut out: Vec<NamespaceSockets> = vec![];
    for chunk in found.chunks(PARALLEL) {
        let read: Vec<NamespaceSockets> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|f| s.spawn(move || visit(f, ports, opts)))
                .collect();
            handles.into_iter().filter_map(|h| h.join().ok()).collect()
        });
        out.extend(read);
    }
    if opts.owners {
        owners(&mut out);
    }
    out
}

/// Attaches owners (one walk over /proc for all namespaces: inodes are global) and the
/// containers of the owners.
fn owners(out: &mut [NamespaceSockets]) {
    let counts: Vec<usize> = out.iter().map(|n| n.sockets.len()).collect();
    let mut all: Vec<Socket> = out
        .iter_mut()
        .flat_map(|n| std::mem::take(&mut n.sockets))
        .collect();
    attach_owners(&mut all, &mut vec![]);
    let mut it = all.into_iter();
    for (n, c) in out.iter_mut().zip(counts) {
        n.sockets = it.by_ref().take(c).collect();
        let mut pids: Vec<u32> = n.sockets.iter().flat_map(|s| s.pids()).collect();
        pids.retain(|p| n.container_of(*p).is_none());
        pids.sort_unstable();
        pids.dedup();
        n.containers.extend(containers(&pids));
    }
}

/// Every network namespace the processes are in (`/proc/*/ns/net`) and the bind-mounted ones
/// (`/run/netns/*`, Docker's `/run/docker/netns/*`), once each.
fn enumerate() -> Vec<Found> {
    let mut by_id: BTreeMap<String, Found> = BTreeMap::new();
    let pids = std::fs::read_dir("/proc").into_iter().flatten().flatten();
    for pid in pids.filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()) {
        let path = format!("/proc/{pid}/ns/net");
        let Ok(link) = std::fs::read_link(&path) else {
            continue;
        };
        let id = link.to_string_lossy().into_owned();
        let f = by_id.entry(id.clone()).or_insert(Found {
            id,
            path,
            pids: vec![],
        });
        if f.pids.len() < PIDS_KEPT {
            f.pids.push(pid);
        }
    }
    for dir in ["/run/netns", "/run/docker/netns"] {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = e.path();
            let Some(id) = ns_id(&path) else { continue };
            by_id.entry(id.clone()).or_insert(Found {
                id,
                path: path.to_string_lossy().into_owned(),
                pids: vec![],
            });
        }
    }
    by_id.into_values().collect()
}

/// `net:[INODE]` of a bind-mounted namespace file.
fn ns_id(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some(format!("net:[{}]", m.ino()))
}

/// Reads one namespace on this (fresh) thread.
fn visit(f: &Found, ports: &[u16], opts: &SnapshotOptions) -> NamespaceSockets {
    let mut n = NamespaceSockets {
        id: f.id.clone(),
        path: f.path.clone(),
        pids: f.pids.clone(),
        addresses: vec![],
        sockets: vec![],
        containers: containers(&f.pids),
        problem: None,
    };
    if let Err(e) = enter(&f.path) {
        n.problem = Some(format!("cannot enter {}: {e}", f.path));
        return n;
    }
    match netlink::dump(opts) {
        Ok(s) => {
            n.sockets = s
                .into_iter()
                .filter(|s| ports.is_empty() || ports.contains(&s.local_port))
                .collect()
        }
        Err(e) => n.problem = Some(format!("sock_diag refused: {e}")),
    }
    n.addresses = addresses();
    n
}

/// Moves this thread into the network namespace at `path`.
fn enter(path: &str) -> std::io::Result<()> {
    use rustix::fd::AsFd;
    use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};
    let f = std::fs::File::open(path)?;
    move_into_link_name_space(f.as_fd(), Some(LinkNameSpaceType::Network))?;
    Ok(())
}

/// The interface addresses of the thread's namespace.
fn addresses() -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|l| l.into_iter().map(|i| i.ip()).collect())
        .unwrap_or_default();
    v.sort();
    v.dedup();
    v
}

/// The containers of `pids`, from their cgroups and the runtimes' state files.
fn containers(pids: &[u32]) -> Vec<(u32, crate::namespaces::Container)> {
    pids.iter()
        .filter_map(|&pid| {
            let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
            let (runtime, id) = container_in_cgroup(&text)?;
            Some((pid, name_container(Path::new("/"), &runtime, &id)))
        })
        .collect()
}
