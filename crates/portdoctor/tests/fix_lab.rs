//! The fix engine for real: `open`, `close`, `undo`, `history`, `confirm`, `free` and
//! `diagnose --fix` in lab namespaces, on every Linux backend, with the peer's real
//! connections as the judge.

// Lab tests need Linux network namespaces; the Windows build (run under Wine) skips the file.
#![cfg(target_os = "linux")]

mod common;

use common::*;
use portdoctor_lab::managers::start_ufw;
use portdoctor_lab::{Lab, Netns};
use serde_json::Value;
use std::process::Output;

const PORT: u16 = 8080;

/// Runs portdoctor in `ns` with its journal in `state`.
fn pd(ns: &Netns, state: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = ns.command(env!("CARGO_BIN_EXE_portdoctor"));
    c.args(args).env("PORTDOCTOR_STATE_DIR", state);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(o)))
}

/// A listing of the firewall's state, counters and handles aside.
fn listing(ns: &Netns, cmd: &[&str]) -> String {
    let out = ns.run(cmd[0], &cmd[1..]).unwrap_or_default();
    out.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let l = l.split(" [").next().unwrap_or(l);
            l.split(" # handle").next().unwrap_or(l).to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

struct Backend {
    name: &'static str,
    block: fn(&Lab),
    listing: &'static [&'static str],
}

fn roundtrip(b: &Backend, lab: &Lab) {
    let h = lab.host();
    let state = tempfile::tempdir().unwrap();
    let _svc = Service::start(h, "0.0.0.0", PORT, "-", "hold");
    (b.block)(lab);
    let dst = lab.host_v4().into();
    assert!(
        !peer_connects(lab, dst, PORT),
        "{}: not filtered to begin with",
        b.name
    );
    let before = listing(h, b.listing);
    let o = pd(h, state.path(), &["open", "8080", "--yes"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}: {}", b.name, text(&o));
    assert!(
        peer_connects(lab, dst, PORT),
        "{}: open did not let the peer in: {}",
        b.name,
        text(&o)
    );
    let again = pd(h, state.path(), &["open", "8080", "--yes"], &[]);
    assert!(
        text(&again).contains("nothing changed"),
        "{}: {}",
        b.name,
        text(&again)
    );
    let hist = json(&pd(h, state.path(), &["history", "--json"], &[]));
    assert_eq!(hist.as_array().unwrap().len(), 1, "{}: {hist:#}", b.name);
    let u = pd(h, state.path(), &["undo"], &[]);
    assert_eq!(u.status.code(), Some(0), "{}: {}", b.name, text(&u));
    assert_eq!(
        listing(h, b.listing),
        before,
        "{}: undo did not restore the rules",
        b.name
    );
    assert!(
        !peer_connects(lab, dst, PORT),
        "{}: the peer gets in after undo",
        b.name
    );
}

macro_rules! backend_test {
    ($name:ident, $block:expr, $listing:expr) => {
        #[test]
        fn $name() {
            let Some(lab) = Lab::for_test(stringify!($name)) else {
                return;
            };
            let b = Backend {
                name: stringify!($name),
                block: $block,
                listing: $listing,
            };
            roundtrip(&b, &lab);
        }
    };
}

backend_test!(
    open_undo_nftables,
    |lab| nft(
        lab.host(),
        "table inet fw {\n chain in { type filter hook input priority 0; policy drop;\n  ct state established,related accept\n }\n}\n"
    ),
    &["nft", "list", "ruleset"]
);
backend_test!(
    open_undo_iptables_legacy,
    |lab| {
        lab.host()
            .run(
                "iptables-legacy",
                &["-A", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "DROP"],
            )
            .unwrap();
    },
    &["iptables-legacy-save"]
);
backend_test!(
    open_undo_iptables_nft,
    |lab| {
        lab.host()
            .run("iptables-nft", &["-P", "INPUT", "DROP"])
            .unwrap();
    },
    &["iptables-nft-save"]
);
backend_test!(
    open_undo_ufw,
    |lab| {
        start_ufw(lab.host()).unwrap();
        lab.host().run("ufw", &["deny", "8080/tcp"]).unwrap();
    },
    &["ufw", "status", "numbered"]
);

/// `close` through ufw: an allow rule for the port becomes a deny in place (`ufw deny
/// 8080/tcp`), the peer is filtered, and undo turns it back into the allow; a port only the
/// default policy lets in gets `ufw deny` appended.
#[test]
fn close_undo_ufw() {
    let Some(lab) = Lab::for_test("close_undo_ufw") else {
        return;
    };
    let h = lab.host();
    let state = tempfile::tempdir().unwrap();
    let _svc = Service::start(h, "0.0.0.0", PORT, "-", "hold");
    start_ufw(h).unwrap();
    h.run("ufw", &["allow", "8080/tcp"]).unwrap();
    let dst = lab.host_v4().into();
    assert!(peer_connects(&lab, dst, PORT), "not open to begin with");
    let before = listing(h, &["ufw", "status", "numbered"]);
    let o = pd(h, state.path(), &["close", "8080", "--yes"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        !peer_connects(&lab, dst, PORT),
        "close let the peer in: {}",
        text(&o)
    );
    let status = listing(h, &["ufw", "status", "numbered"]);
    assert!(
        status.contains("8080/tcp") && status.contains("DENY IN"),
        "{status}"
    );
    assert!(!status.contains("ALLOW IN"), "{status}");
    let u = pd(h, state.path(), &["undo"], &[]);
    assert_eq!(u.status.code(), Some(0), "{}", text(&u));
    assert_eq!(listing(h, &["ufw", "status", "numbered"]), before);
    assert!(peer_connects(&lab, dst, PORT), "undo did not reopen");
    // Default allow, no rule for the port: the deny is appended, undo deletes it.
    h.run("ufw", &["delete", "allow", "8080/tcp"]).unwrap();
    h.run("ufw", &["default", "allow", "incoming"]).unwrap();
    let o = pd(h, state.path(), &["close", "8080", "--yes"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!peer_connects(&lab, dst, PORT), "{}", text(&o));
    let u = pd(h, state.path(), &["undo"], &[]);
    assert_eq!(u.status.code(), Some(0), "{}", text(&u));
    assert!(peer_connects(&lab, dst, PORT), "undo did not reopen");
}

#[test]
fn open_undo_firewalld() {
    let Some((lab, _fw)) = firewalld_lab("open_undo_firewalld") else {
        return;
    };
    let b = Backend {
        name: "open_undo_firewalld",
        block: |_| {},
        listing: &["firewall-cmd", "--list-all-zones"],
    };
    roundtrip(&b, &lab);
    let permanent = listing(
        lab.host(),
        &["firewall-cmd", "--permanent", "--list-all-zones"],
    );
    assert!(!permanent.contains("8080"), "{permanent}");
}

#[test]
fn a_crash_mid_apply_leaves_old_or_new_and_is_repaired() {
    let Some(lab) = Lab::for_test("crash_mid_apply") else {
        return;
    };
    let h = lab.host();
    let state = tempfile::tempdir().unwrap();
    let _svc = Service::start(h, "0.0.0.0", PORT, "-", "hold");
    // Two backends block: the change has two steps; the crash comes between them.
    nft(
        h,
        "table inet fw {\n chain in { type filter hook input priority 0; policy accept;\n  tcp dport 8080 drop\n }\n}\n",
    );
    h.run(
        "iptables-legacy",
        &["-A", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "DROP"],
    )
    .unwrap();
    let before = (
        listing(h, &["nft", "list", "ruleset"]),
        listing(h, &["iptables-legacy-save"]),
    );
    let o = pd(
        h,
        state.path(),
        &["open", "8080", "--yes"],
        &[("PORTDOCTOR_FIX_CRASH", "mid-apply")],
    );
    assert_ne!(o.status.code(), Some(0), "{}", text(&o));
    // The next run reports the interrupted change and rolls the half of it back.
    let o = pd(h, state.path(), &["history"], &[]);
    let o2 = pd(h, state.path(), &["open", "8080", "--dry-run"], &[]);
    assert!(
        text(&o2).contains("interrupted"),
        "{}\n{}",
        text(&o),
        text(&o2)
    );
    let after = (
        listing(h, &["nft", "list", "ruleset"]),
        listing(h, &["iptables-legacy-save"]),
    );
    assert_eq!(after, before, "a mix of old and new was left");
    let hist = json(&pd(h, state.path(), &["history", "--json"], &[]));
    assert_eq!(hist[0]["status"], "failed", "{hist:#}");
    // A crash right after the journal, before anything applied: nothing to undo.
    let o = pd(
        h,
        state.path(),
        &["open", "8080", "--yes"],
        &[("PORTDOCTOR_FIX_CRASH", "after-journal")],
    );
    assert_ne!(o.status.code(), Some(0));
    let _ = pd(h, state.path(), &["history"], &[]);
    assert_eq!(
        (
            listing(h, &["nft", "list", "ruleset"]),
            listing(h, &["iptables-legacy-save"])
        ),
        before
    );
}

#[test]
fn the_guard_refuses_to_cut_the_ssh_session() {
    let Some(lab) = Lab::for_test("guard_ssh") else {
        return;
    };
    let h = lab.host();
    let state = tempfile::tempdir().unwrap();
    let ssh = format!("{} 50022 {} 22", lab.peer_v4(), lab.host_v4());
    let o = pd(
        h,
        state.path(),
        &["close", "22", "--yes"],
        &[("SSH_CONNECTION", &ssh)],
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("SSH session"), "{}", text(&o));
    // Closing another port is fine.
    let o = pd(
        h,
        state.path(),
        &["close", "8080", "--yes"],
        &[("SSH_CONNECTION", &ssh)],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
}

#[test]
fn confirm_rolls_back_unless_confirmed_and_ttl_closes_again() {
    let Some(lab) = Lab::for_test("confirm_and_ttl") else {
        return;
    };
    let h = lab.host();
    let state = tempfile::tempdir().unwrap();
    let _svc = Service::start(h, "0.0.0.0", PORT, "-", "hold");
    nft(
        h,
        "table inet fw {\n chain in { type filter hook input priority 0; policy drop;\n  ct state established,related accept\n }\n}\n",
    );
    let dst = lab.host_v4().into();
    let o = pd(
        h,
        state.path(),
        &["open", "8080", "--confirm", "2s", "--yes"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(peer_connects(&lab, dst, PORT));
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert!(
        !peer_connects(&lab, dst, PORT),
        "not rolled back: {}",
        text(&pd(h, state.path(), &["history"], &[]))
    );
    let o = pd(
        h,
        state.path(),
        &["open", "8080", "--ttl", "2s", "--yes", "--json"],
        &[],
    );
    let id = json(&o)["id"].as_str().unwrap().to_string();
    assert!(peer_connects(&lab, dst, PORT));
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert!(!peer_connects(&lab, dst, PORT), "ttl did not close it");
    let hist = json(&pd(h, state.path(), &["history", "--json"], &[]));
    let row = hist
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id.as_str())
        .unwrap();
    assert_eq!(row["status"], "undone", "{hist:#}");
    // A confirmed change stays.
    let o = pd(
        h,
        state.path(),
        &["open", "8080", "--confirm", "3s", "--yes", "--json"],
        &[],
    );
    let id = json(&o)["id"].as_str().unwrap().to_string();
    let c = pd(h, state.path(), &["confirm", &id], &[]);
    assert_eq!(c.status.code(), Some(0), "{}", text(&c));
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert!(peer_connects(&lab, dst, PORT));
}

#[test]
fn free_stops_the_holder_and_the_port_binds_again() {
    let Some(lab) = Lab::for_test("free_port") else {
        return;
    };
    let h = lab.host();
    let state = tempfile::tempdir().unwrap();
    let mut svc = Service::start(h, "0.0.0.0", PORT, "-", "hold");
    let o = pd(h, state.path(), &["free", "8080"], &[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("pid {}", svc.pid())),
        "{}",
        text(&o)
    );
    let _ = svc.0.wait();
    let _again = Service::start(h, "0.0.0.0", PORT, "-", "hold");
}

#[test]
fn diagnose_fix_on_the_seed_story_and_undo_brings_the_block_back() {
    let Some(lab) = Lab::for_test("diagnose_fix_seed") else {
        return;
    };
    let h = lab.host();
    let state = tempfile::tempdir().unwrap();
    let _svc = Service::start(h, "0.0.0.0", PORT, "-", "hold");
    h.run(
        "iptables-legacy",
        &["-A", "INPUT", "-p", "tcp", "--dport", "8080", "-j", "DROP"],
    )
    .unwrap();
    let dst = lab.host_v4().into();
    let peer = lab.peer_v4().to_string();
    let o = pd(
        h,
        state.path(),
        &["diagnose", "8080", "--from", &peer, "--fix", "--yes"],
        &[],
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(peer_connects(&lab, dst, PORT), "{}", text(&o));
    let u = pd(h, state.path(), &["undo"], &[]);
    assert_eq!(u.status.code(), Some(0), "{}", text(&u));
    assert!(!peer_connects(&lab, dst, PORT));
}

/// Bad input and a damaged journal are checked on every platform in `exit_codes.rs`.
#[test]
fn missing_privilege_exits_3_saying_what_is_needed() {
    let Some(lab) = Lab::for_test("fix_without_root") else {
        return;
    };
    let o = as_nobody(lab.host(), env!("CARGO_BIN_EXE_portdoctor"))
        .args(["open", "8080", "--yes"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&o.stderr).contains("root"));
}
