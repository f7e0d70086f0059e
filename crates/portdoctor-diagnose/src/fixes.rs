//! Fixes: firewall fixes come planned and checked from the firewall library
//! (`portdoctor_firewall::plan`); this module turns them into [`Fix`]es, and phrases the
//! fixes that are changes in the service or the process table.

use crate::evidence::{FixScope, Os, PlannedFix, Verification};
use crate::finding::{Fix, FixCommand, Operation};
use std::net::IpAddr;

/// The tag every rule portdoctor adds carries, so `close`/`undo` can find it.
pub const TAG: &str = portdoctor_firewall::plan::TAG;

/// A planned firewall fix as a [`Fix`]: every step's commands in order.
pub fn from_plan(p: &PlannedFix) -> Fix {
    let plan = &p.plan;
    let titles: Vec<&str> = plan.steps.iter().map(|s| s.step.title.as_str()).collect();
    let mut owners: Vec<&str> = plan.steps.iter().map(|s| s.owner.label()).collect();
    owners.dedup();
    let commands = plan
        .steps
        .iter()
        .flat_map(|s| {
            s.step
                .commands
                .iter()
                .enumerate()
                .map(move |(i, a)| match (&s.step.stdin, i) {
                    (Some(text), 0) => FixCommand::posix_with_stdin(a.0.clone(), text),
                    _ => command(&a.0),
                })
        })
        .collect();
    let from = match p.scope {
        FixScope::Peer { addr } => Some(addr.to_string()),
        FixScope::Everyone => None,
    };
    let title = if titles.is_empty() {
        match &plan.verification {
            Verification::NotVerified(why) => format!("No command found: {why}"),
            _ => "Nothing to change".to_string(),
        }
    } else {
        titles.join("; then ")
    };
    Fix {
        title,
        backend: (!owners.is_empty()).then(|| owners.join(" + ")),
        operation: Operation::OpenPort {
            port: plan.request.port,
            proto: plan.request.proto.clone(),
            from,
        },
        commands,
        verification: Some(plan.verification.clone()),
    }
}

/// A planned argument vector as the user types it: PowerShell and cmd lines in their own
/// shells, the rest as POSIX commands.
fn command(argv: &[String]) -> FixCommand {
    match argv {
        [p, np, c, line] if p == "powershell" && np == "-NoProfile" && c == "-Command" => {
            FixCommand::powershell(line.clone())
        }
        [c, s, line] if c == "cmd" && s == "/C" => {
            let mut f = FixCommand::cmd(argv.to_vec());
            f.display = line.clone();
            f
        }
        _ => FixCommand::posix(argv.to_vec()),
    }
}

/// The fix for a service bound to the wrong address: a change in the service itself.
pub fn change_bind(current: IpAddr, to_addr: Option<IpAddr>, port: u16, cmdline: &[String]) -> Fix {
    let wildcard = if current.is_ipv6() { "::" } else { "0.0.0.0" };
    let target = to_addr.map_or(wildcard.to_string(), |a| a.to_string());
    let to = match to_addr {
        Some(IpAddr::V6(a)) => format!("[{a}]:{port}"),
        Some(a) => format!("{a}:{port}"),
        None if current.is_ipv6() => format!("[::]:{port}"),
        None => format!("0.0.0.0:{port}"),
    };
    let from = match current {
        IpAddr::V6(a) => format!("[{a}]:{port}"),
        a => format!("{a}:{port}"),
    };
    let current_text = current.to_string();
    let bind_arg = cmdline.iter().skip(1).find(|a| {
        a.contains(current_text.as_str())
            || (current.is_loopback() && (a.contains("localhost") || *a == "::1"))
    });
    let title = match bind_arg {
        Some(arg) => format!(
            "Start the service listening on {to} instead of {from}: its command line passes `{arg}`; replace that address with {target}"
        ),
        None => format!(
            "Make the service listen on {to} instead of {from} (e.g. Go `http.ListenAndServe(\":{port}\", …)`, Python `host=\"0.0.0.0\"`, Node `listen({port})` without a host, Spring `server.address=0.0.0.0`)"
        ),
    };
    Fix::plain(title, Operation::ChangeBind { from, to }, Vec::new())
}

/// The fix for a process that should not hold the port, in the words of `os`'s shell
/// (`kill -TERM`; PowerShell `Stop-Process` on Windows, which has no signals).
pub fn stop_process(pid: u32, name: &str, os: Os) -> Fix {
    let command = match os {
        Os::Windows => FixCommand::powershell(format!("Stop-Process -Id {pid}")),
        Os::Linux | Os::Macos | Os::Other => {
            FixCommand::posix(["kill".to_string(), "-TERM".into(), pid.to_string()])
        }
    };
    Fix::plain(
        format!("Stop {name} (pid {pid}), which holds the port"),
        Operation::StopProcess {
            pid,
            name: name.to_string(),
        },
        vec![command],
    )
}

/// A fix that is something to look at, not a command.
pub fn investigate(title: impl Into<String>, hint: impl Into<String>) -> Fix {
    Fix::plain(
        title,
        Operation::Investigate { hint: hint.into() },
        Vec::new(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_fix_points_at_the_command_line() {
        let f = change_bind(
            "127.0.0.1".parse().unwrap(),
            None,
            8080,
            &[
                "python3".into(),
                "-m".into(),
                "http.server".into(),
                "--bind".into(),
                "127.0.0.1".into(),
            ],
        );
        assert!(f.title.contains("`127.0.0.1`"), "{}", f.title);
        assert_eq!(
            f.operation,
            Operation::ChangeBind {
                from: "127.0.0.1:8080".into(),
                to: "0.0.0.0:8080".into()
            }
        );
    }
}
