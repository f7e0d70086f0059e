//! The command line's contract: help snapshots, usage errors, exit codes, broken pipes.

use clap::CommandFactory;
use portdoctor::cli::Cli;
use std::process::{Command, Stdio};

fn portdoctor(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_portdoctor"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// Every command's `--help` is a reviewed snapshot: a change in the CLI shows up in review.
#[test]
fn help_snapshots() {
    let mut cmd = Cli::command().term_width(100);
    cmd.build();
    insta::assert_snapshot!("help", cmd.render_long_help().to_string());
    let names: Vec<String> = cmd
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        let sub = cmd.find_subcommand_mut(&name).unwrap();
        insta::assert_snapshot!(format!("help_{name}"), sub.render_long_help().to_string());
    }
}

#[test]
fn bad_input_exits_2_with_one_line_naming_the_value() {
    for (args, bad) in [
        (&["ports", "70000"][..], "70000"),
        (&["ports", "abc"], "abc"),
        (&["ports", "--pid", "-1"], "-1"),
        (&["ports", "--state", "sleepy"], "sleepy"),
    ] {
        let out = portdoctor(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(bad), "{args:?}: {err}");
    }
}

#[test]
fn help_and_version_exit_0_and_no_command_exits_2() {
    assert_eq!(portdoctor(&["--help"]).status.code(), Some(0));
    assert_eq!(portdoctor(&["--version"]).status.code(), Some(0));
    assert_eq!(portdoctor(&[]).status.code(), Some(2));
}

#[test]
fn version_names_commit_target_and_only_this_platforms_live_engine() {
    let text = String::from_utf8_lossy(&portdoctor(&["--version"]).stdout).to_string();
    let target = if cfg!(windows) {
        "windows"
    } else {
        std::env::consts::ARCH
    };
    assert!(text.starts_with("portdoctor 0."), "{text}");
    assert!(text.contains(target), "{text}");
    let out = portdoctor(&["version", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["commit"].as_str().is_some_and(|c| !c.is_empty()), "{v}");
    assert!(text.contains(v["commit"].as_str().unwrap()), "{text}");
    let live = if cfg!(target_os = "linux") {
        "netfilter"
    } else if cfg!(windows) {
        "windows"
    } else {
        "pf"
    };
    assert_eq!(v["live_engine"]["kind"], live, "{v}");
    assert_eq!(v["offline"].as_array().map(Vec::len), Some(3), "{v}");
}

#[test]
fn completions_and_man_render() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = portdoctor(&["completions", shell]);
        assert!(out.status.success());
        assert!(!out.stdout.is_empty());
    }
    let man = portdoctor(&["man"]);
    assert!(man.status.success());
    assert!(String::from_utf8_lossy(&man.stdout).contains(".TH portdoctor"));
}

#[test]
fn closed_stdout_ends_quietly_with_0() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_portdoctor"))
        .args(["completions", "bash"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away before the writer starts
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn ports_json_is_valid_without_a_lab() {
    let out = portdoctor(&["ports", "--all", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["sockets"].is_array());
    assert!(doc["notes"].is_array());
}

#[test]
fn malformed_saved_rulesets_exit_2_with_their_position() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "rules.save",
            "*filter\n:INPUT DROP [0:0]\n-A INPUT -m comment --comment \"open -j ACCEPT\nCOMMIT\n",
            "line 3, column 31",
        ),
        (
            "rules.json",
            "{\"nftables\": [{\"metainfo\": {\"json_schema_version\": 1}}, {\"chain\": ",
            "line 1, column",
        ),
    ];
    for (name, text, position) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = portdoctor(&[
            "explain",
            "8080",
            "--from",
            "192.0.2.10",
            "--to",
            "198.51.100.1",
            "--ruleset",
            path.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(position), "{err}");
    }
}

#[test]
fn saved_ruleset_is_evaluated_offline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rules.save");
    std::fs::write(
        &path,
        "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n",
    )
    .unwrap();
    let file = path.to_str().unwrap();
    let args = |port| {
        vec![
            "explain",
            port,
            "--from",
            "192.0.2.10",
            "--to",
            "198.51.100.1",
            "--iface",
            "eth0",
            "--ruleset",
            file,
            "--json",
        ]
    };
    let ssh = portdoctor(&args("22"));
    assert_eq!(ssh.status.code(), Some(0));
    let web = portdoctor(&args("8080"));
    assert_eq!(web.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&web.stdout).unwrap();
    assert_eq!(doc["overall"]["decision"], "drop");
    assert_eq!(doc["overall"]["rule"]["is_policy"], true);
}

/// Windows Defender Firewall and pf exports are recognised by content and explained offline
/// (real recorded outputs; see crates/portdoctor-firewall/tests/data/*/README.md).
#[test]
fn windows_and_pf_exports_are_explained_offline() {
    let data = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../portdoctor-firewall/tests/data"
    );
    let explain = |files: &[&str], extra: &[&str]| {
        let mut args = vec![
            "explain",
            "8080",
            "--from",
            "192.0.2.10",
            "--to",
            "192.0.2.5",
            "--json",
        ];
        args.extend_from_slice(extra);
        let paths: Vec<String> = files.iter().map(|f| format!("{data}/{f}")).collect();
        for p in &paths {
            args.push("--ruleset");
            args.push(p);
        }
        let out = portdoctor(&args);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code(), doc)
    };
    // The seed's case: an Export-FirewallRules CSV and a zh-CN `show currentprofile`: no
    // allow rule for 8080, the Public profile's default inbound action blocks.
    let (code, doc) = explain(
        &[
            "windows/w2_export_firewallrules_excerpt.csv",
            "windows/zh_cn_currentprofile.txt",
        ],
        &["--program", r"C:\srv\app.exe"],
    );
    assert_eq!(code, Some(1), "{doc:#}");
    assert_eq!(doc["overall"]["backend"], "windows_firewall");
    assert_eq!(doc["overall"]["decision"], "drop");
    assert_eq!(doc["overall"]["rule"]["is_policy"], true, "{doc:#}");
    // netsh rules with every profile off (English): accepted.
    let (code, doc) = explain(
        &[
            "windows/w1_netsh_rules_en_excerpt.txt",
            "windows/en_allprofiles_off.txt",
        ],
        &[],
    );
    assert_eq!(code, Some(0), "{doc:#}");
    // pf: an OPNsense appliance's rules, named by their label.
    let (code, doc) = explain(
        &["pf/opnsense_core_2866_pfctl_sa.txt"],
        &["--iface", "igb3"],
    );
    assert!(code.is_some(), "{doc:#}");
    assert_eq!(doc["overall"]["backend"], "pf", "{doc:#}");
}
