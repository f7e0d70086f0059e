//! Real firewall managers (ufw, firewalld) running inside a lab host: their state in /etc,
//! /var and /run lives in copies and tmpfs mounts of the host's private mount namespace, so
//! the machine's own configuration and ruleset are never touched.

use crate::{LabError, Netns};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// Enables the real ufw inside `ns` (with copies of /etc/ufw, /lib/ufw and /etc/default/ufw,
/// which `ufw default …` edits).
pub fn start_ufw(ns: &Netns) -> Result<(), LabError> {
    ns.bind_copy("/etc/ufw")?;
    ns.bind_copy("/lib/ufw")?;
    ns.bind_copy("/etc/default/ufw")?;
    ns.run("ufw", &["--force", "enable"])?;
    Ok(())
}

/// A running firewalld (and its private system bus) inside a lab host; stopped on drop.
#[derive(Debug)]
pub struct Firewalld {
    child: Child,
}

impl Firewalld {
    /// Starts dbus-daemon and firewalld inside `ns` and waits until firewalld answers.
    /// /etc/firewalld and /var/lib/firewalld are copies; /run/dbus, /run/firewalld and
    /// /var/log are tmpfs (the rest of /run stays visible: the lab's namespaces live there).
    pub fn start(ns: &Netns) -> Result<Firewalld, LabError> {
        ns.bind_copy("/etc/firewalld")?;
        ns.bind_copy("/var/lib/firewalld")?;
        ns.mount_tmpfs("/var/log")?;
        for dir in ["/run/dbus", "/run/firewalld"] {
            ns.run("mkdir", &["-p", dir])?;
            ns.mount_tmpfs(dir)?;
        }
        ns.run("dbus-daemon", &["--system", "--fork"])?;
        let child = ns
            .command("firewalld")
            .args(["--nofork", "--nopid"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| LabError::Spawn {
                program: "firewalld".into(),
                source,
            })?;
        let fw = Firewalld { child };
        wait_running(ns)?;
        Ok(fw)
    }
}

impl Drop for Firewalld {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_running(ns: &Netns) -> Result<(), LabError> {
    let start = Instant::now();
    let mut last = String::new();
    while start.elapsed() < Duration::from_secs(60) {
        match ns.run("firewall-cmd", &["--state"]) {
            Ok(out) if out.trim() == "running" => return Ok(()),
            Ok(out) => last = out,
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(LabError::Failed {
        command: "firewall-cmd --state".into(),
        status: "firewalld did not start within 60 s".into(),
        stderr: last,
    })
}
