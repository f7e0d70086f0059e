//! The exit-code table of `src/exit.rs`, checked command by command on the error paths.

#[cfg(target_os = "linux")]
mod common;

use std::process::Command;

fn code(args: &[&str]) -> i32 {
    Command::new(env!("CARGO_BIN_EXE_portdoctor"))
        .args(args)
        .output()
        .unwrap()
        .status
        .code()
        .unwrap_or(-1)
}

#[test]
fn usage_errors_exit_2_on_every_command() {
    for args in [
        &["ports", "70000"][..],
        &["probe", "nohost:"],
        &["scan", "127.0.0.1", "-p", "70000"],
        &["wait", "127.0.0.1:99999"],
        &["explain", "0"],
        &["explain", "80", "--netns", "pd-no-such-namespace"],
        &["explain", "80", "--ruleset", "/no/such/file"],
        &["diagnose", "80/sctp"],
        &[
            "diagnose",
            "80",
            "--from",
            "192.0.2.1",
            "--peer-netns",
            "pd-no-such-namespace",
        ],
        &[
            "diagnose",
            "80",
            "--from",
            "192.0.2.1",
            "--to",
            "2001:db8::1",
        ],
        &["demo", "--port", "0"],
        &["serve", "--register", "redis://host"],
        &["serve", "--cert", "c.pem"],
        &["register", "--etcd", "etcd://host:99999", "--port", "80"],
        &["register", "--port", "80"],
        &["deregister", "--consul", "http://host/v1", "--port", "80"],
    ] {
        assert_eq!(code(args), 2, "{args:?}");
    }
}

/// The fix commands: bad input exits 2 with one line; a damaged journal is reported (exit
/// 3, with its line), never overwritten.
#[test]
fn fix_commands_refuse_bad_input_and_a_damaged_journal() {
    let state = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_portdoctor"))
            .args(args)
            .env("PORTDOCTOR_STATE_DIR", state.path())
            .output()
            .unwrap()
    };
    for args in [
        &["open", "8080", "--backend", "iptablez"][..],
        &["open", "0"],
        &["open", "70000"],
        &["open", "8080", "--from", "10.0.0.0/33"],
        &["close", "8080", "--ttl", "soon"],
    ] {
        let o = run(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
    }
    std::fs::write(state.path().join("journal.jsonl"), "not json\n").unwrap();
    let o = run(&["history"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("line 1"));
    assert_eq!(
        std::fs::read_to_string(state.path().join("journal.jsonl")).unwrap(),
        "not json\n"
    );
}

/// The error paths that need a lab (a fresh namespace, an unprivileged user): Linux only.
#[cfg(target_os = "linux")]
mod lab {
    use super::common::*;
    use portdoctor_lab::Lab;

    /// Runs portdoctor as `nobody` inside `ns`; returns its exit code and stderr.
    fn portdoctor_as_nobody(lab: &Lab, args: &[&str]) -> (i32, String) {
        let out = as_nobody(lab.host(), env!("CARGO_BIN_EXE_portdoctor"))
            .args(args)
            .output()
            .expect("setpriv is part of util-linux");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[test]
    fn failed_condition_exits_1() {
        let Some(lab) = Lab::for_test("failed_condition_exits_1") else {
            return;
        };
        let h = lab.host();
        let run = |args: &[&str]| {
            h.command(env!("CARGO_BIN_EXE_portdoctor"))
                .args(args)
                .output()
                .unwrap()
                .status
                .code()
        };
        // Nothing listens on 127.0.0.1:9 in the fresh namespace.
        assert_eq!(run(&["probe", "127.0.0.1:9"]), Some(1));
        assert_eq!(run(&["scan", "127.0.0.1", "-p", "9"]), Some(1));
        assert_eq!(run(&["wait", "127.0.0.1:9", "--timeout", "200ms"]), Some(1));
        assert_eq!(run(&["ports", "9"]), Some(1));
        assert_eq!(run(&["diagnose", "9"]), Some(1));
        nft(
            h,
            "table inet t {\n chain i { type filter hook input priority 0; policy drop; }\n}\n",
        );
        assert_eq!(run(&["explain", "9"]), Some(1));
    }

    #[test]
    fn unreadable_firewall_exits_3_and_says_what_is_needed() {
        let Some(lab) = Lab::for_test("unreadable_firewall_exits_3") else {
            return;
        };
        let _svc = Service::start(lab.host(), "0.0.0.0", 8080, "-", "hold");
        let (code, err) = portdoctor_as_nobody(&lab, &["explain", "8080"]);
        assert_eq!(code, 3, "{err}");
        assert!(err.contains("root"), "{err}");
        // diagnose still shows the rest, but claims nothing about other machines: exit 3.
        let (code, _) = portdoctor_as_nobody(&lab, &["diagnose", "8080"]);
        assert_eq!(code, 3);
    }
}
