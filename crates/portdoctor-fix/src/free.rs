//! Freeing a port: find the processes that hold it, refuse the ones that must not be stopped,
//! send SIGTERM and wait; SIGKILL only when forced. Windows has no signals: there both are
//! `TerminateProcess`, and the names reported say so.

use crate::FixError;
use portdoctor_sockets::{Proto, SnapshotOptions, Socket, SocketState, query};
use serde::Serialize;
use std::time::{Duration, Instant};

/// What `free` did.
#[derive(Debug, Clone, Serialize)]
pub struct Freed {
    /// Processes stopped: (pid, name, how: `SIGTERM` or `SIGKILL`; `TerminateProcess` on
    /// Windows).
    pub stopped: Vec<(u32, String, String)>,
    /// Processes left alone, with why.
    pub refused: Vec<(u32, String, String)>,
    /// Sockets in TIME_WAIT on the port (no process holds them).
    pub time_wait: usize,
    /// Whether the port is free now.
    pub free: bool,
}

/// The listeners on `port`/`proto`.
fn holders(port: u16, proto: Proto) -> Result<Vec<Socket>, FixError> {
    let snap = portdoctor_sockets::snapshot(&SnapshotOptions {
        tcp: proto == Proto::Tcp,
        udp: proto == Proto::Udp,
        owners: true,
    })
    .map_err(|e| FixError::Refused(e.to_string()))?;
    Ok(snap
        .sockets
        .into_iter()
        .filter(|s| s.local_port == port)
        .collect())
}

/// How a process is asked to stop, and how it is made to.
#[cfg(not(windows))]
const STOP: (&str, &str) = ("SIGTERM", "SIGKILL");
#[cfg(windows)]
const STOP: (&str, &str) = ("TerminateProcess", "TerminateProcess");

/// The system's own processes, which are never stopped.
#[cfg(not(windows))]
fn protected(pid: u32) -> Option<&'static str> {
    (pid == 1).then_some("pid 1 is the init system")
}

#[cfg(windows)]
fn protected(pid: u32) -> Option<&'static str> {
    match pid {
        0 => Some("pid 0 is the System Idle Process"),
        4 => Some("pid 4 is System, the Windows kernel"),
        _ => None,
    }
}

/// Why a process must not be stopped, or `None`.
fn refusal(pid: u32, uid: Option<u32>) -> Option<String> {
    if let Some(why) = protected(pid) {
        return Some(why.into());
    }
    if pid == std::process::id() {
        return Some("that is portdoctor itself".into());
    }
    let me = current_uid();
    match (me, uid) {
        (Some(0), _) => None,
        (Some(me), Some(owner)) if me != owner => {
            Some(format!("it belongs to uid {owner}; stopping it needs root"))
        }
        _ => None,
    }
}

/// Stops the processes holding `port`: SIGTERM, then wait up to `timeout`; SIGKILL if
/// `force` and they are still there.
pub fn free(port: u16, proto: Proto, timeout: Duration, force: bool) -> Result<Freed, FixError> {
    let sockets = holders(port, proto)?;
    let time_wait = sockets
        .iter()
        .filter(|s| s.state == SocketState::TimeWait)
        .count();
    let mut targets: Vec<(u32, String, Option<u32>)> = vec![];
    for s in sockets
        .iter()
        .filter(|s| query::is_listener(s) || s.state == SocketState::Established)
    {
        for p in &s.owners {
            if !targets.iter().any(|t| t.0 == p.pid) {
                targets.push((p.pid, p.name.clone(), p.uid));
            }
        }
    }
    let mut freed = Freed {
        stopped: vec![],
        refused: vec![],
        time_wait,
        free: false,
    };
    for (pid, name, uid) in targets {
        if let Some(why) = refusal(pid, uid) {
            freed.refused.push((pid, name, why));
            continue;
        }
        terminate(pid, false)?;
        if wait_gone(pid, timeout) {
            freed.stopped.push((pid, name, STOP.0.into()));
        } else if force {
            terminate(pid, true)?;
            wait_gone(pid, Duration::from_secs(2));
            freed.stopped.push((pid, name, STOP.1.into()));
        } else {
            freed.refused.push((
                pid,
                name,
                format!(
                    "still running {} s after {}; --force sends {}",
                    timeout.as_secs(),
                    STOP.0,
                    STOP.1
                ),
            ));
        }
    }
    freed.free = holders(port, proto)?.iter().all(|s| !query::is_listener(s));
    Ok(freed)
}

fn wait_gone(pid: u32, timeout: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !alive(pid)
}

#[cfg(unix)]
fn current_uid() -> Option<u32> {
    Some(rustix::process::getuid().as_raw())
}

#[cfg(not(unix))]
fn current_uid() -> Option<u32> {
    None
}

#[cfg(unix)]
fn alive(pid: u32) -> bool {
    // A zombie child has exited: its pid lingers until reaped, but it holds no socket.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = stat
        .rsplit(')')
        .next()
        .is_some_and(|r| r.trim_start().starts_with('Z'));
    let pid = rustix::process::Pid::from_raw(pid as i32);
    !zombie && pid.is_some_and(|p| rustix::process::test_kill_process(p).is_ok())
}

#[cfg(unix)]
fn terminate(pid: u32, kill: bool) -> Result<(), FixError> {
    let signal = if kill {
        rustix::process::Signal::KILL
    } else {
        rustix::process::Signal::TERM
    };
    let p = rustix::process::Pid::from_raw(pid as i32).ok_or(FixError::Signal {
        pid,
        message: "not a pid".into(),
    })?;
    rustix::process::kill_process(p, signal).map_err(|e| FixError::Signal {
        pid,
        message: e.to_string(),
    })
}

#[cfg(windows)]
fn alive(pid: u32) -> bool {
    crate::windows::alive(pid)
}

#[cfg(windows)]
fn terminate(pid: u32, _kill: bool) -> Result<(), FixError> {
    crate::windows::terminate(pid).map_err(|message| FixError::Signal { pid, message })
}

#[cfg(not(any(unix, windows)))]
fn alive(_pid: u32) -> bool {
    false
}

#[cfg(not(any(unix, windows)))]
fn terminate(pid: u32, _kill: bool) -> Result<(), FixError> {
    Err(FixError::Signal {
        pid,
        message: "not supported on this system".into(),
    })
}
