//! Collection: typed errors with a fake runner, and the real programs in a lab namespace.

use portdoctor_firewall::collect::{
    CollectError, CommandRunner, Programs, RunOutput, Runner, collect,
};
use portdoctor_firewall::{Decision, Packet, explain};
use std::collections::HashMap;

/// Answers from a table: program name → output (or "not found").
struct Fake(HashMap<&'static str, Option<RunOutput>>);

impl Runner for Fake {
    fn run(&self, program: &str, _args: &[&str]) -> std::io::Result<RunOutput> {
        match self.0.get(program) {
            Some(Some(o)) => Ok(o.clone()),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "not found",
            )),
        }
    }
}

fn out(code: i32, stdout: &str, stderr: &str) -> Option<RunOutput> {
    Some(RunOutput {
        code: Some(code),
        stdout: stdout.into(),
        stderr: stderr.into(),
    })
}

#[test]
fn typed_errors_and_inactive_backends() {
    let fake = Fake(HashMap::from([
        (
            "nft",
            out(
                1,
                "",
                "netlink: Error: cache initialization failed: Operation not permitted",
            ),
        ),
        (
            "iptables-legacy-save",
            out(
                1,
                "",
                "iptables-legacy-save v1.8.9 (legacy): Cannot initialize: Permission denied (you must be root)",
            ),
        ),
        ("ip6tables-legacy-save", out(0, "", "")),
        (
            "iptables-nft-save",
            out(
                0,
                "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n",
                "",
            ),
        ),
        (
            "ip6tables-nft-save",
            out(0, "*filter\n-A INPUT -s 1.2.3.400 -j DROP\nCOMMIT\n", ""),
        ),
        ("ipset", None),
    ]));
    let c = collect(&fake, &Programs::default());
    let by_tool: HashMap<&str, _> = c
        .sources
        .iter()
        .map(|s| (s.tool.as_str(), &s.active))
        .collect();
    assert!(matches!(
        by_tool["nft"],
        Err(CollectError::PermissionDenied { .. })
    ));
    assert!(matches!(
        by_tool["iptables-legacy-save"],
        Err(CollectError::PermissionDenied { .. })
    ));
    assert_eq!(by_tool["ip6tables-legacy-save"], &Ok(false));
    assert_eq!(by_tool["iptables-nft-save"], &Ok(false));
    assert!(matches!(
        by_tool["ip6tables-nft-save"],
        Err(CollectError::Parse { .. })
    ));
    assert!(matches!(
        by_tool["ipset"],
        Err(CollectError::NotInstalled { .. })
    ));
    // Inactive backends accept.
    let e = explain(
        &c.rulesets,
        &Packet::tcp_syn(
            "198.18.0.2".parse().unwrap(),
            "198.18.0.1".parse().unwrap(),
            22,
        ),
    );
    assert_eq!(e.overall.decision, Decision::Accept);
    assert!(e.overall.decided_by.is_none());
    assert!(e.backends.iter().all(|b| !b.active));
}

#[test]
fn missing_program_through_a_prefix_is_not_installed() {
    let progs = Programs {
        nft: "pd-no-such-nft".into(),
        iptables_legacy_save: "pd-no-such-1".into(),
        ip6tables_legacy_save: "pd-no-such-2".into(),
        iptables_nft_save: "pd-no-such-3".into(),
        ip6tables_nft_save: "pd-no-such-4".into(),
        ipset: "pd-no-such-5".into(),
    };
    // `env` stands in for `ip netns exec NS`: it reports a missing program on stderr.
    let c = collect(&CommandRunner::with_prefix(["env"]), &progs);
    for s in &c.sources {
        assert!(
            matches!(s.active, Err(CollectError::NotInstalled { .. })),
            "{s:?}"
        );
    }
    assert!(c.rulesets.is_empty());
}

/// The real programs in a lab namespace: Linux only.
#[cfg(target_os = "linux")]
mod lab {
    use portdoctor_firewall::collect::{
        CommandRunner, NFT_NETLINK_TOOL, Programs, RunOutput, Runner, collect,
    };
    use portdoctor_firewall::{Backend, Decision, Packet, explain};
    use std::collections::HashMap;

    #[test]
    fn live_rulesets_in_a_lab_namespace() {
        let Some(lab) = portdoctor_lab::Lab::for_test("live_rulesets_in_a_lab_namespace") else {
            return;
        };
        let host = lab.host();
        let data = |f: &str| {
            std::fs::read_to_string(format!("{}/tests/data/{f}", env!("CARGO_MANIFEST_DIR")))
                .unwrap()
        };
        host.run_stdin("nft", &["-f", "-"], &data("reject_family.nft"))
            .unwrap();
        host.run_stdin("iptables-legacy-restore", &[], &data("docker.rules"))
            .unwrap();
        host.run("ipset", &["create", "pd_blocked", "hash:ip"])
            .unwrap();
        host.run("ipset", &["add", "pd_blocked", "198.18.77.7"])
            .unwrap();
        host.run(
            "iptables-legacy",
            &[
                "-I",
                "INPUT",
                "-m",
                "set",
                "--match-set",
                "pd_blocked",
                "src",
                "-j",
                "DROP",
            ],
        )
        .unwrap();
        let runner = CommandRunner::with_prefix(["ip", "netns", "exec", host.name()]);
        // nftables natively (netlink, inside the namespace), then through `nft -j`: the same
        // decisions either way.
        let native = collect(&runner, &Programs::default());
        let json = collect(&ProgramsOnly(runner), &Programs::default());
        for (c, nft_tool) in [(native, NFT_NETLINK_TOOL), (json, "nft")] {
            check_live(c, nft_tool);
        }
    }

    /// Runs the programs only: nftables is read through `nft -j list ruleset`.
    struct ProgramsOnly(CommandRunner);

    impl Runner for ProgramsOnly {
        fn run(&self, program: &str, args: &[&str]) -> std::io::Result<RunOutput> {
            self.0.run(program, args)
        }
    }

    fn check_live(c: portdoctor_firewall::collect::Collected, nft_tool: &str) {
        let active: HashMap<&str, _> = c
            .sources
            .iter()
            .map(|s| (s.tool.as_str(), &s.active))
            .collect();
        assert_eq!(active[nft_tool], &Ok(true), "{:?}", c.sources);
        assert_eq!(active["iptables-legacy-save"], &Ok(true));
        assert_eq!(active["ipset"], &Ok(true));
        let pkt = |src: &str, port| {
            let dst = if src.contains(':') {
                "2001:db8::1"
            } else {
                "198.18.0.1"
            };
            Packet::tcp_syn(src.parse().unwrap(), dst.parse().unwrap(), port).with_iif("eth0")
        };
        // The hidden nfproto was resolved (natively from the bytecode, or from
        // `nft --debug=netlink`): IPv6 port 9000 passes nft;
        // ip6tables has no rules, so it is accepted.
        let e = explain(&c.rulesets, &pkt("2001:db8::2", 9000));
        assert_eq!(e.overall.decision, Decision::Accept, "{e:#?}");
        // IPv4 port 22: nft's last rule rejects every IPv4 packet (icmpx admin-prohibited).
        let e = explain(&c.rulesets, &pkt("198.18.0.2", 22));
        assert!(matches!(e.overall.decision, Decision::Reject(_)), "{e:#?}");
        // The legacy ipset drop and nft's reject sit on the same hook and priority: the kernel's
        // order between the two backends is not knowable, so drop-or-reject is unknown, but both
        // possible outcomes block.
        let e = explain(&c.rulesets, &pkt("198.18.77.7", 22));
        assert!(matches!(e.overall.decision, Decision::Unknown(_)), "{e:#?}");
        assert_eq!(e.overall.possible.len(), 2, "{e:#?}");
        assert!(
            e.overall
                .possible
                .iter()
                .all(|d| matches!(d, Decision::Drop | Decision::Reject(_)))
        );
        assert!(
            e.backends
                .iter()
                .any(|b| b.backend == Backend::IptablesLegacy
                    && b.verdict.decision == Decision::Drop)
        );
    }
}
