//! Socket owners from /proc: the fd→inode map and process details.

use crate::model::Process;
use std::collections::HashMap;
use std::fs;

/// Which processes hold which socket inodes.
pub(crate) struct InodeOwners {
    /// inode → pids holding it (a socket may be shared after fork).
    pub owners: HashMap<u64, Vec<u32>>,
    /// Processes whose descriptors could not be read (permission).
    pub denied: usize,
}

/// Walks `/proc/*/fd` once, spreading the `readlink` calls over the available cores.
///
/// The work is split by descriptor, not by process: one server often holds most sockets.
pub(crate) fn inode_owners() -> InodeOwners {
    let mut denied = 0;
    let mut fds: Vec<(u32, String)> = Vec::new();
    let pids = fs::read_dir("/proc").into_iter().flatten().flatten();
    for pid in pids.filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()) {
        match fs::read_dir(format!("/proc/{pid}/fd")) {
            Ok(entries) => fds.extend(
                entries
                    .flatten()
                    .filter_map(|e| Some((pid, e.file_name().into_string().ok()?))),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => denied += 1,
            Err(_) => {} // exited meanwhile
        }
    }
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    // Threads only pay off on big tables.
    let threads = if fds.len() < 4096 { 1 } else { threads };
    let chunk = fds.len().div_ceil(threads).max(1);
    let parts: Vec<Vec<(u64, u32)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = fds
            .chunks(chunk)
            .map(|slice| scope.spawn(move || resolve(slice)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut owners: HashMap<u64, Vec<u32>> = HashMap::with_capacity(fds.len());
    for (inode, pid) in parts.into_iter().flatten() {
        let list = owners.entry(inode).or_default();
        if !list.contains(&pid) {
            list.push(pid);
        }
    }
    InodeOwners { owners, denied }
}

/// Reads the link of each `/proc/PID/fd/N` and keeps the sockets.
///
/// `readlinkat` relative to an open `/proc/PID/fd` directory: procfs then resolves one name
/// per call instead of a four-component path (`fds` is grouped by pid).
fn resolve(fds: &[(u32, String)]) -> Vec<(u64, u32)> {
    use rustix::fs::{Mode, OFlags};
    let mut pairs = Vec::new();
    let mut dir: Option<(u32, Option<rustix::fd::OwnedFd>)> = None;
    let mut buf = Vec::with_capacity(64);
    for (pid, fd) in fds {
        if dir.as_ref().is_none_or(|(p, _)| p != pid) {
            let path = format!("/proc/{pid}/fd");
            let opened = rustix::fs::open(
                path.as_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .ok();
            dir = Some((*pid, opened));
        }
        let Some((_, Some(dirfd))) = &dir else {
            continue; // exited meanwhile
        };
        let Ok(target) = rustix::fs::readlinkat(dirfd, fd.as_str(), std::mem::take(&mut buf))
        else {
            continue;
        };
        if let Some(inode) = socket_inode(target.as_bytes()) {
            pairs.push((inode, *pid));
        }
        buf = target.into_bytes();
    }
    pairs
}

/// Parses `socket:[12345]`.
fn socket_inode(link: &[u8]) -> Option<u64> {
    let digits = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Process details, read once per pid.
#[derive(Default)]
pub(crate) struct ProcessCache {
    procs: HashMap<u32, Option<Process>>,
    users: Option<HashMap<u32, String>>,
}

impl ProcessCache {
    /// Details of `pid`, or `None` when it exited meanwhile.
    pub fn get(&mut self, pid: u32) -> Option<Process> {
        if !self.procs.contains_key(&pid) {
            let p = self.read(pid);
            self.procs.insert(pid, p);
        }
        self.procs[&pid].clone()
    }

    fn read(&mut self, pid: u32) -> Option<Process> {
        let name = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        let cmdline = fs::read(format!("/proc/{pid}/cmdline"))
            .map(|raw| {
                raw.split(|&b| b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let uid = fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|s| real_uid(&s));
        let user = uid.and_then(|u| self.users().get(&u).cloned());
        Some(Process {
            pid,
            name: name.trim_end().to_string(),
            cmdline,
            uid,
            user,
        })
    }

    /// The user name of `uid`, from /etc/passwd.
    pub fn user_name(&mut self, uid: u32) -> Option<String> {
        self.users().get(&uid).cloned()
    }

    fn users(&mut self) -> &HashMap<u32, String> {
        self.users.get_or_insert_with(|| {
            fs::read_to_string("/etc/passwd")
                .map(|t| parse_passwd(&t))
                .unwrap_or_default()
        })
    }
}

fn real_uid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn parse_passwd(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            Some((uid, name.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_socket_links_status_and_passwd() {
        assert_eq!(socket_inode(b"socket:[42]"), Some(42));
        assert_eq!(socket_inode(b"pipe:[42]"), None);
        assert_eq!(socket_inode(b"socket:[x]"), None);
        assert_eq!(
            real_uid("Name:\tx\nUid:\t1000\t1000\t1000\t1000\n"),
            Some(1000)
        );
        let users = parse_passwd("root:x:0:0:root:/root:/bin/bash\nbad\n");
        assert_eq!(users[&0], "root");
    }

    #[test]
    fn finds_own_socket() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let map = inode_owners();
        let me = std::process::id();
        assert!(map.owners.values().any(|pids| pids.contains(&me)));
        drop(l);
    }
}
