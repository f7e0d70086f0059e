//! Private mount namespaces for lab hosts: a holder process keeps the namespace alive, and
//! commands join it (and the network namespace) with `nsenter`.

use crate::{LabError, finish};
use std::process::{Child, Command, Stdio};

/// Keeps a private mount namespace alive while the lab host needs it.
#[derive(Debug)]
pub(crate) struct Holder {
    child: Child,
    copies: std::sync::Mutex<Vec<tempfile::TempDir>>,
    pid: u32,
}

impl Holder {
    /// Starts `sleep infinity` in the network namespace `netns` and a new, private mount
    /// namespace.
    pub(crate) fn start(netns: &str) -> Result<Holder, LabError> {
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            netns,
            "unshare",
            "--mount",
            "--propagation",
        ])
        .args(["private", "sleep", "infinity"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        let child = cmd.spawn().map_err(|source| LabError::Spawn {
            program: "unshare".into(),
            source,
        })?;
        let pid = wait_for_sleeper(child.id())?;
        Ok(Holder {
            child,
            copies: std::sync::Mutex::new(vec![]),
            pid,
        })
    }

    /// The holder's mount namespace file (`/proc/PID/ns/mnt`).
    pub(crate) fn mount_ns_path(&self) -> String {
        format!("/proc/{}/ns/mnt", self.pid)
    }

    /// A command that runs `program` in the holder's mount and network namespaces.
    pub(crate) fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &self.pid.to_string(), "--mount", "--net", program]);
        cmd
    }

    /// Runs a program inside; stdout or the error.
    pub(crate) fn run(&self, program: &str, args: &[&str]) -> Result<String, LabError> {
        let mut cmd = self.command(program);
        cmd.args(args);
        finish(cmd, program, args, None)
    }

    /// Copies `path` and bind-mounts the copy over it inside.
    pub(crate) fn bind_copy(&self, path: &str) -> Result<(), LabError> {
        let dir = tempfile::Builder::new()
            .prefix("pd-lab-")
            .tempdir()
            .map_err(|source| LabError::Spawn {
                program: "mkdtemp".into(),
                source,
            })?;
        let copy = dir.path().join("copy");
        let copy = copy.to_string_lossy().into_owned();
        if std::path::Path::new(path).exists() {
            crate::run_host("cp", &["-a", path, &copy])?;
        } else {
            std::fs::create_dir_all(&copy).map_err(|source| LabError::Spawn {
                program: "mkdir".into(),
                source,
            })?;
            self.run("mkdir", &["-p", path])?;
        }
        self.run("mount", &["--bind", &copy, path])?;
        // Removed when the holder stops, after the namespace (and its mounts) are gone.
        self.copies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(dir);
        Ok(())
    }

    /// Ends the holder (the mount namespace goes away with its last process).
    pub(crate) fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.copies
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// The pid of the `sleep` that `ip netns exec … unshare … sleep` ends up as (unshare and ip
/// exec into their successors, so it is usually the child itself).
fn wait_for_sleeper(pid: u32) -> Result<u32, LabError> {
    for _ in 0..200 {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        if comm.trim() == "sleep" {
            return Ok(pid);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Err(LabError::Failed {
        command: "unshare --mount sleep infinity".into(),
        status: "not started".into(),
        stderr: format!("process {pid} never became `sleep`"),
    })
}
