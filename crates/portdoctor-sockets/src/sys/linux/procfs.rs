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

/// Walks `/proc/*/fd` once, spreading the work over the available cores.
pub(crate) fn inode_owners() -> InodeOwners {
    let pids: Vec<u32> = fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let chunk = pids.len().div_ceil(threads).max(1);
    let parts: Vec<(Vec<(u64, u32)>, usize)> = std::thread::scope(|scope| {
        let handles: Vec<_> = pids
            .chunks(chunk)
            .map(|slice| scope.spawn(move || scan_pids(slice)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut owners: HashMap<u64, Vec<u32>> = HashMap::new();
    let mut denied = 0;
    for (pairs, d) in parts {
        denied += d;
        for (inode, pid) in pairs {
            let list = owners.entry(inode).or_default();
            if !list.contains(&pid) {
                list.push(pid);
            }
        }
    }
    InodeOwners { owners, denied }
}

fn scan_pids(pids: &[u32]) -> (Vec<(u64, u32)>, usize) {
    let mut pairs = Vec::new();
    let mut denied = 0;
    let mut path = String::with_capacity(32);
    for &pid in pids {
        let dir = format!("/proc/{pid}/fd");
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                denied += 1;
                continue;
            }
            Err(_) => continue, // exited meanwhile
        };
        for entry in entries.flatten() {
            path.clear();
            path.push_str(&dir);
            path.push('/');
            path.push_str(&entry.file_name().to_string_lossy());
            let Ok(target) = fs::read_link(&path) else {
                continue;
            };
            if let Some(inode) = socket_inode(target.as_os_str().as_encoded_bytes()) {
                pairs.push((inode, pid));
            }
        }
    }
    (pairs, denied)
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
