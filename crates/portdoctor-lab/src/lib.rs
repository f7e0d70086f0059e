//! A network-namespace lab for portdoctor's tests and benchmarks (dev-only).
//!
//! A [`Lab`] is two network namespaces, a *host* and a *peer*, joined by a veth pair, with
//! addresses from the benchmarking ranges 198.18.0.0/15 and 2001:2::/48 (traffic never leaves
//! the namespaces) and loopback up in both. Everything is removed when the [`Lab`] is dropped,
//! also while a test panics; namespaces left behind by a dead process are swept on the next
//! start. Nothing here touches the host's own ruleset, addresses or routes.
//!
//! ```no_run
//! # fn main() {
//! let Some(lab) = portdoctor_lab::Lab::for_test("my_test") else { return };
//! lab.host().run("nft", &["add", "table", "inet", "t"]).unwrap();
//! let listener = lab.host().enter(|| std::net::TcpListener::bind((lab.host_v4(), 8080)));
//! # drop(listener);
//! # }
//! ```
//!
//! Policy: with `PORTDOCTOR_LAB=1` (CI, as root) a lab that cannot be built is a test failure;
//! otherwise [`Lab::for_test`] prints why and returns `None`, so the test skips.

pub mod containers;
pub mod managers;
mod mounts;

use std::fs::File;
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Prefix of every namespace the lab creates: `pd-<pid>-<n>-<role>`.
pub const NAME_PREFIX: &str = "pd-";

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// What can go wrong while building or using the lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    /// A program could not be started at all (usually: not installed).
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A program ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command line, for the message only.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed on stderr.
        stderr: String,
    },
    /// Joining a namespace failed.
    #[error("cannot enter namespace {name}: {source}")]
    Enter {
        /// The namespace.
        name: String,
        /// The OS error.
        source: std::io::Error,
    },
}

/// One network namespace owned by the lab; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
    owned: bool,
    /// A private mount namespace joined with this network namespace, once asked for
    /// ([`Netns::private_mounts`]): commands then run in both.
    mounts: std::sync::OnceLock<mounts::Holder>,
}

impl Netns {
    /// Creates a fresh namespace named `pd-<pid>-<n>-<role>` with loopback up.
    pub fn create(role: &str) -> Result<Netns, LabError> {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("{NAME_PREFIX}{}-{n}-{role}", std::process::id());
        run_host("ip", &["netns", "add", &name])?;
        let ns = Netns {
            name,
            owned: true,
            mounts: std::sync::OnceLock::new(),
        };
        ns.run("ip", &["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A handle on an existing namespace (`ip netns` name), which is left alone on drop.
    pub fn existing(name: &str) -> Result<Netns, LabError> {
        let path = format!("/run/netns/{name}");
        if !std::path::Path::new(&path).exists() {
            return Err(LabError::Enter {
                name: name.to_string(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such namespace"),
            });
        }
        Ok(Netns {
            name: name.to_string(),
            owned: false,
            mounts: std::sync::OnceLock::new(),
        })
    }

    /// The namespace's name, as `ip netns` knows it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A `Command` that runs `program` inside this namespace (`ip netns exec NAME program`,
    /// or `nsenter` into the namespace and its private mounts once they exist).
    pub fn command(&self, program: &str) -> Command {
        if let Some(m) = self.mounts.get() {
            return m.command(program);
        }
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name, program]);
        cmd
    }

    /// Runs `program args…` inside the namespace; returns stdout, or an error with stderr.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<String, LabError> {
        let mut cmd = self.command(program);
        cmd.args(args);
        finish(cmd, program, args, None)
    }

    /// Like [`Netns::run`], feeding `stdin` to the program (e.g. `nft -f -`).
    pub fn run_stdin(&self, program: &str, args: &[&str], stdin: &str) -> Result<String, LabError> {
        let mut cmd = self.command(program);
        cmd.args(args);
        finish(cmd, program, args, Some(stdin))
    }

    /// Runs `f` on a fresh thread that has joined this namespace and returns its result.
    ///
    /// Sockets created inside `f` belong to this namespace and stay there after `f` returns.
    /// Panics in `f` are propagated; failing to join the namespace panics too (tests); product
    /// code uses [`Netns::try_enter`].
    pub fn enter<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.try_enter(f)
            .unwrap_or_else(|e| panic!("cannot enter namespace {}: {e}", self.name))
    }

    /// Like [`Netns::enter`], with an error when the namespace cannot be joined.
    pub fn try_enter<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Result<R, LabError> {
        let path = format!("/run/netns/{}", self.name);
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    join_netns(&path).map_err(|source| LabError::Enter {
                        name: self.name.clone(),
                        source,
                    })?;
                    Ok(f())
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Runs `f` on a thread that has joined this namespace *and* its private mount namespace
    /// (when there is one): files read and programs run inside `f` see the lab host's copies
    /// of /etc/ufw, /etc/firewalld, … Panics when the namespaces cannot be joined (tests).
    pub fn enter_all<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        let net = format!("/run/netns/{}", self.name);
        let mnt = self.mounts.get().map(|m| m.mount_ns_path());
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    if let Some(mnt) = &mnt {
                        join_mount_ns(mnt).unwrap_or_else(|e| {
                            panic!("cannot enter the mounts of {}: {e}", self.name)
                        });
                    }
                    join_netns(&net)
                        .unwrap_or_else(|e| panic!("cannot enter namespace {}: {e}", self.name));
                    f()
                })
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        })
    }

    /// Gives this namespace a private mount namespace (once): from then on every command run
    /// through [`Netns::command`] sees the mounts made with [`Netns::bind_copy`] and
    /// [`Netns::mount_tmpfs`], and the host's files stay untouched. Needed by firewall
    /// managers that keep state in /etc (ufw, firewalld).
    pub fn private_mounts(&self) -> Result<(), LabError> {
        if self.mounts.get().is_some() {
            return Ok(());
        }
        let holder = mounts::Holder::start(&self.name)?;
        let _ = self.mounts.set(holder);
        Ok(())
    }

    /// Copies the host's `path` (a directory) to a temporary directory and bind-mounts the
    /// copy over `path` inside the private mount namespace: changes stay in the copy.
    pub fn bind_copy(&self, path: &str) -> Result<(), LabError> {
        self.private_mounts()?;
        self.mounts.get().expect("set above").bind_copy(path)
    }

    /// Mounts an empty tmpfs over `path` inside the private mount namespace.
    pub fn mount_tmpfs(&self, path: &str) -> Result<(), LabError> {
        self.private_mounts()?;
        let m = self.mounts.get().expect("set above");
        m.run("mount", &["-t", "tmpfs", "tmpfs", path])?;
        Ok(())
    }

    /// Adds a veth pair: `name` in this namespace and `peer_name` in `peer`, both down and
    /// without addresses. The pair goes away with either namespace.
    pub fn add_veth(&self, name: &str, peer: &Netns, peer_name: &str) -> Result<(), LabError> {
        self.run(
            "ip",
            &[
                "link",
                "add",
                name,
                "type",
                "veth",
                "peer",
                "name",
                peer_name,
                "netns",
                peer.name(),
            ],
        )?;
        Ok(())
    }

    /// Path of the namespace file, for tools that take one (`nsenter --net=PATH`).
    pub fn path(&self) -> String {
        format!("/run/netns/{}", self.name)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Some(m) = self.mounts.take() {
            m.stop();
        }
        if self.owned {
            kill_processes_in(&self.name);
            let _ = run_host("ip", &["netns", "del", &self.name]);
        }
    }
}

/// Two namespaces, *host* and *peer*, joined by a veth pair.
///
/// Host side: `veth-h` with 198.18.N.1/24 and 2001:2:0:N::1/64; peer side: `veth-p` with
/// 198.18.N.2/24 and 2001:2:0:N::2/64, where N is unique per lab in this process.
#[derive(Debug)]
pub struct Lab {
    // Field order matters: the peer goes first so the veth pair disappears with it.
    peer: Netns,
    host: Netns,
    subnet: u8,
}

impl Lab {
    /// Builds a lab (needs root or CAP_SYS_ADMIN + CAP_NET_ADMIN), sweeping stale namespaces.
    pub fn new() -> Result<Lab, LabError> {
        sweep_stale();
        let host = Netns::create("h")?;
        let peer = Netns::create("p")?;
        let subnet = (COUNTER.fetch_add(1, Ordering::Relaxed) % 250) as u8 + 1;
        let lab = Lab { peer, host, subnet };
        lab.wire()?;
        Ok(lab)
    }

    fn wire(&self) -> Result<(), LabError> {
        let (h, p) = (&self.host, &self.peer);
        h.add_veth("veth-h", p, "veth-p")?;
        let n = self.subnet;
        for (ns, dev, v4, v6) in [
            (
                h,
                "veth-h",
                format!("198.18.{n}.1/24"),
                format!("2001:2:0:{n:x}::1/64"),
            ),
            (
                p,
                "veth-p",
                format!("198.18.{n}.2/24"),
                format!("2001:2:0:{n:x}::2/64"),
            ),
        ] {
            ns.run("ip", &["addr", "add", &v4, "dev", dev])?;
            ns.run("ip", &["-6", "addr", "add", &v6, "dev", dev, "nodad"])?;
            ns.run("ip", &["link", "set", dev, "up"])?;
        }
        Ok(())
    }

    /// Builds a lab for a test, honouring `PORTDOCTOR_LAB`.
    ///
    /// Returns `None` after printing the reason when the lab cannot be built and
    /// `PORTDOCTOR_LAB` is not `1`; panics with the reason when it is.
    pub fn for_test(test: &str) -> Option<Lab> {
        match Lab::new() {
            Ok(lab) => Some(lab),
            Err(e) if lab_required() => {
                panic!("{test}: PORTDOCTOR_LAB=1 but the lab cannot be built: {e}")
            }
            Err(e) => {
                eprintln!(
                    "SKIP {test}: the network-namespace lab cannot be built ({e}); run as root with PORTDOCTOR_LAB=1 to require it"
                );
                None
            }
        }
    }

    /// The namespace playing the server whose port is diagnosed.
    pub fn host(&self) -> &Netns {
        &self.host
    }

    /// The namespace playing "someone else" trying to reach the host.
    pub fn peer(&self) -> &Netns {
        &self.peer
    }

    /// The host's IPv4 address on the veth link.
    pub fn host_v4(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.subnet, 1)
    }

    /// The peer's IPv4 address on the veth link.
    pub fn peer_v4(&self) -> Ipv4Addr {
        Ipv4Addr::new(198, 18, self.subnet, 2)
    }

    /// The host's IPv6 address on the veth link.
    pub fn host_v6(&self) -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 2, 0, self.subnet.into(), 0, 0, 0, 1)
    }

    /// The peer's IPv6 address on the veth link.
    pub fn peer_v6(&self) -> Ipv6Addr {
        Ipv6Addr::new(0x2001, 2, 0, self.subnet.into(), 0, 0, 0, 2)
    }

    /// The host's interface name toward the peer.
    pub fn host_if(&self) -> &str {
        "veth-h"
    }

    /// The peer's interface name toward the host.
    pub fn peer_if(&self) -> &str {
        "veth-p"
    }
}

/// True when `PORTDOCTOR_LAB=1`: lab tests must run, not skip.
pub fn lab_required() -> bool {
    std::env::var("PORTDOCTOR_LAB").is_ok_and(|v| v == "1")
}

/// Deletes `pd-<pid>-…` namespaces whose creating process no longer exists.
pub fn sweep_stale() {
    let Ok(entries) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = stale_owner(&name) else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            kill_processes_in(&name);
            let _ = run_host("ip", &["netns", "del", &name]);
        }
    }
}

/// The creator pid encoded in a lab namespace name, if the name is one of ours.
fn stale_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(NAME_PREFIX)?;
    let (pid, tail) = rest.split_once('-')?;
    let (n, _role) = tail.split_once('-')?;
    n.parse::<u32>().ok()?;
    pid.parse().ok()
}

/// Kills processes still running inside the namespace so it can really go away.
fn kill_processes_in(name: &str) {
    if let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() {
        for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
            let _ = Command::new("kill")
                .args(["-9", pid])
                .stderr(Stdio::null())
                .status();
        }
    }
}

pub(crate) fn run_host(program: &str, args: &[&str]) -> Result<String, LabError> {
    let mut cmd = Command::new(program);
    cmd.args(args);
    finish(cmd, program, args, None)
}

pub(crate) fn finish(
    mut cmd: Command,
    program: &str,
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String, LabError> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    let spawn_err = |source| LabError::Spawn {
        program: program.to_string(),
        source,
    };
    let mut child = cmd.spawn().map_err(spawn_err)?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A writer thread avoids a pipe deadlock when the program prints a lot.
        let text = text.to_string();
        std::thread::spawn(move || pipe.write_all(text.as_bytes()));
    }
    let out: Output = child.wait_with_output().map_err(spawn_err)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(LabError::Failed {
            command: format!("{program} {}", args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Moves the calling thread into the network namespace at `path`.
#[cfg(target_os = "linux")]
fn join_netns(path: &str) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let file = File::open(path)?;
    // SAFETY: setns only reads the descriptor, which stays open for the call's duration; it
    // affects the calling thread alone, which the lab created for this purpose.
    #[allow(unsafe_code)]
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Moves the calling thread into the mount namespace at `path` (after giving it its own
/// filesystem attributes, which setns into a mount namespace requires of one thread).
#[cfg(target_os = "linux")]
fn join_mount_ns(path: &str) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let file = File::open(path)?;
    // SAFETY: unshare(CLONE_FS) only detaches this thread's cwd/root/umask from the other
    // threads; setns reads the descriptor, open for the call. Both affect this thread alone.
    #[allow(unsafe_code)]
    let rc = unsafe {
        if libc::unshare(libc::CLONE_FS) != 0 {
            -1
        } else {
            libc::setns(file.as_raw_fd(), libc::CLONE_NEWNS)
        }
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Mount namespaces are Linux-only.
#[cfg(not(target_os = "linux"))]
fn join_mount_ns(path: &str) -> std::io::Result<()> {
    let _ = File::open(path)?;
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "mount namespaces need Linux",
    ))
}

/// Network namespaces are Linux-only; elsewhere the lab cannot be built (tests skip).
#[cfg(not(target_os = "linux"))]
fn join_netns(path: &str) -> std::io::Result<()> {
    let _ = File::open(path)?;
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "network namespaces need Linux",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_names_are_recognised() {
        assert_eq!(stale_owner("pd-123-4-h"), Some(123));
        assert_eq!(stale_owner("pd-bench-1"), None);
        assert_eq!(stale_owner("other"), None);
    }

    #[test]
    fn lab_connects_host_and_peer() {
        let Some(lab) = Lab::for_test("lab_connects_host_and_peer") else {
            return;
        };
        let listener = lab
            .host()
            .enter(|| std::net::TcpListener::bind((lab.host_v4(), 0)))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let connected = lab
            .peer()
            .enter(|| std::net::TcpStream::connect((lab.host_v4(), port)))
            .is_ok();
        assert!(connected);
        let v6 = lab
            .host()
            .enter(|| std::net::TcpListener::bind((lab.host_v6(), 0)))
            .unwrap();
        let port6 = v6.local_addr().unwrap().port();
        assert!(
            lab.peer()
                .enter(|| std::net::TcpStream::connect((lab.host_v6(), port6)))
                .is_ok()
        );
        let name = lab.host().name().to_string();
        drop(lab);
        assert!(!std::path::Path::new(&format!("/run/netns/{name}")).exists());
    }

    #[test]
    fn lab_is_removed_on_panic() {
        let names = std::sync::Mutex::new(None);
        let result = std::panic::catch_unwind(|| {
            let Some(lab) = Lab::for_test("lab_is_removed_on_panic") else {
                return;
            };
            *names.lock().unwrap() = Some(lab.peer().name().to_string());
            panic!("boom");
        });
        if let Some(name) = names.lock().unwrap().take() {
            assert!(result.is_err());
            assert!(!std::path::Path::new(&format!("/run/netns/{name}")).exists());
        }
    }
}

#[cfg(test)]
mod manager_tests {
    use super::*;

    #[test]
    fn ufw_runs_in_private_mounts() {
        let Some(lab) = Lab::for_test("ufw_runs_in_private_mounts") else {
            return;
        };
        managers::start_ufw(lab.host()).unwrap();
        lab.host().run("ufw", &["deny", "8080/tcp"]).unwrap();
        let status = lab.host().run("ufw", &["status", "numbered"]).unwrap();
        assert!(status.contains("8080/tcp"), "{status}");
        // The host's own ufw configuration is untouched.
        let own = std::fs::read_to_string("/etc/ufw/user.rules").unwrap_or_default();
        assert!(!own.contains("8080"), "host /etc/ufw/user.rules changed");
    }

    #[test]
    fn firewalld_runs_in_private_mounts() {
        let Some(lab) = Lab::for_test("firewalld_runs_in_private_mounts") else {
            return;
        };
        let _fw = managers::Firewalld::start(lab.host()).unwrap();
        let zone = lab
            .host()
            .run("firewall-cmd", &["--get-default-zone"])
            .unwrap();
        assert_eq!(zone.trim(), "public");
        let rules = lab.host().run("nft", &["list", "tables"]).unwrap();
        assert!(rules.contains("firewalld"), "{rules}");
    }
}
