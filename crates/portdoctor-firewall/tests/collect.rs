//! Collection: typed errors with a fake runner, and the real programs in a lab namespace.

use portdoctor_firewall::backend::nft_netlink::{NetlinkError, Rules};
use portdoctor_firewall::collect::{
    CollectError, CommandRunner, NFT_NETLINK_TOOL, Programs, RunOutput, Runner, collect,
};
use portdoctor_firewall::{Backend, Decision, Packet, Ruleset, explain};
use std::collections::HashMap;
use std::sync::Mutex;

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

/// A native reader that records what it was asked for: read in full, `ip filter` is iptables'
/// INPUT chain with one rule; read without iptables-nft's rules, the same chain without it,
/// the table marked unread.
struct Native {
    programs: Fake,
    asked: Mutex<Vec<Rules>>,
}

impl Native {
    fn new(iptables_nft_save: Option<&str>) -> Native {
        let mut programs = HashMap::from([("iptables-nft-save", None)]);
        if let Some(text) = iptables_nft_save {
            programs.insert("iptables-nft-save", out(0, text, ""));
        }
        Native {
            programs: Fake(programs),
            asked: Mutex::new(vec![]),
        }
    }

    fn asked(&self) -> Vec<Rules> {
        self.asked.lock().unwrap().clone()
    }
}

impl Runner for Native {
    fn run(&self, program: &str, args: &[&str]) -> std::io::Result<RunOutput> {
        self.programs.run(program, args)
    }

    fn nft_native(&self) -> Option<Result<Ruleset, NetlinkError>> {
        self.nft_native_with(Rules::All)
    }

    fn nft_native_with(&self, rules: Rules) -> Option<Result<Ruleset, NetlinkError>> {
        self.asked.lock().unwrap().push(rules);
        let lean = rules == Rules::ExceptIptablesNft;
        let rule = r#",{"rule": {"family": "ip", "table": "filter", "chain": "INPUT", "handle": 3,
            "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}},
            "right": 22}}, {"accept": null}]}}"#;
        let json = format!(
            r#"{{"nftables": [{{"table": {{"family": "ip", "name": "filter", "handle": 1}}}},
            {{"chain": {{"family": "ip", "table": "filter", "name": "INPUT", "handle": 2,
            "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}}}{}]}}"#,
            if lean { "" } else { rule }
        );
        let mut rs = portdoctor_firewall::parse_nft_json(&json).expect("test JSON");
        rs.tables[0].rules_unread = lean;
        Some(Ok(rs))
    }
}

/// The native model collect keeps (the nftables ruleset).
fn native_of(c: &portdoctor_firewall::collect::Collected) -> &Ruleset {
    let tool = c
        .sources
        .iter()
        .find(|s| s.backend == Some(Backend::Nftables))
        .map(|s| s.tool.as_str());
    assert_eq!(tool, Some(NFT_NETLINK_TOOL));
    c.rulesets
        .iter()
        .find(|r| r.backend == Some(Backend::Nftables))
        .expect("an nftables ruleset")
}

#[test]
fn iptables_nft_tables_are_left_to_iptables_nft_save_when_it_lists_them() {
    let native = Native::new(Some(
        "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n",
    ));
    let c = collect(&native, &Programs::default());
    assert_eq!(native.asked(), [Rules::ExceptIptablesNft]);
    let t = &native_of(&c).tables[0];
    assert!(t.iptables_nft_owned && t.rules_unread, "{t:?}");
    assert!(t.chains[0].rules.is_empty());
    // nftables is active, as a full read says: the listing of the table it left has a rule.
    let nft = c
        .sources
        .iter()
        .find(|s| s.backend == Some(Backend::Nftables));
    assert_eq!(nft.map(|s| &s.active), Some(&Ok(true)));
}

#[test]
fn iptables_nft_tables_are_read_natively_when_iptables_nft_save_does_not_list_them() {
    // Not installed, failing, or listing other tables only: nftables is read again, in full.
    for save in [None, Some("*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n")] {
        let native = Native::new(save);
        let c = collect(&native, &Programs::default());
        assert_eq!(
            native.asked(),
            [Rules::ExceptIptablesNft, Rules::All],
            "{save:?}"
        );
        let t = &native_of(&c).tables[0];
        assert!(!t.rules_unread && t.chains[0].rules.len() == 1, "{save:?}");
    }
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
    use portdoctor_firewall::{Backend, Decision, Explanation, Family, Packet, Ruleset, explain};
    use std::collections::HashMap;

    /// iptables-nft's tables are read once: the native reader keeps their chains but leaves
    /// their rules to `iptables-nft-save`, whose listing is evaluated; a native nft table
    /// beside them is read and evaluated natively. Without `iptables-nft-save`, the same
    /// tables are read natively in full and evaluated from the kernel's rules.
    #[test]
    fn iptables_nft_tables_are_read_once() {
        let Some(lab) = portdoctor_lab::Lab::for_test("iptables_nft_tables_are_read_once") else {
            return;
        };
        let host = lab.host();
        let rules = std::fs::read_to_string(format!(
            "{}/tests/data/docker.rules",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        host.run_stdin("iptables-nft-restore", &[], &rules).unwrap();
        // Runs before iptables' filter INPUT (priority 0): port 80, which iptables accepts,
        // is dropped here.
        host.run_stdin(
            "nft",
            &["-f", "-"],
            "table inet pd_native {\n  chain input {\n    type filter hook input priority -10; policy accept;\n    tcp dport 80 drop\n  }\n}\n",
        )
        .unwrap();
        let runner = CommandRunner::with_prefix(["ip", "netns", "exec", host.name()]);
        let pkt = |port| {
            Packet::tcp_syn(lab.peer_v4().into(), lab.host_v4().into(), port)
                .with_iif(lab.host_if())
        };

        let c = collect(&runner, &Programs::default());
        let nft = nft_of(&c.rulesets);
        for name in ["filter", "nat"] {
            let t = table(nft, Family::Ip, name);
            assert!(t.iptables_nft_owned && t.rules_unread, "{t:?}");
            assert!(
                t.chains
                    .iter()
                    .any(|c| c.name == "INPUT" && c.base.is_some())
            );
            assert!(t.chains.iter().any(|c| c.name == "DOCKER"));
            assert!(t.chains.iter().all(|c| c.rules.is_empty()), "{t:?}");
        }
        let own = table(nft, Family::Inet, "pd_native");
        assert!(!own.rules_unread && !own.iptables_nft_owned);
        assert_eq!(own.chains[0].rules.len(), 1);
        let ipt = c
            .rulesets
            .iter()
            .find(|r| r.backend == Some(Backend::IptablesNft) && !r.tables.is_empty())
            .expect("iptables-nft-save's listing");
        assert!(table(ipt, Family::Ip, "filter").chains[0].rules.len() >= 4);
        // Port 22: iptables-nft's own rule (from iptables-nft-save) accepts; the nft view of
        // the same tables is not evaluated.
        let e = explain(&c.rulesets, &pkt(22));
        assert_eq!(e.overall.decision, Decision::Accept, "{e:#?}");
        assert_eq!(decider(&e), (Backend::IptablesNft, "filter", Some("ssh")));
        assert_eq!(e.skipped_tables.len(), 2, "{:?}", e.skipped_tables);
        // Port 80: the native table's rule drops first.
        let e = explain(&c.rulesets, &pkt(80));
        assert_eq!(e.overall.decision, Decision::Drop, "{e:#?}");
        assert_eq!(decider(&e), (Backend::Nftables, "pd_native", None));

        // Without iptables-nft-save the nft view is read in full and evaluated, as before:
        // its `xt` matches (conntrack, comment) are not modelled, so the answer is unknown,
        // naming the nft view's rules.
        let progs = Programs {
            iptables_nft_save: "pd-no-such-iptables-nft-save".into(),
            ip6tables_nft_save: "pd-no-such-ip6tables-nft-save".into(),
            ..Programs::default()
        };
        let c = collect(&runner, &progs);
        let nft = nft_of(&c.rulesets);
        let filter = table(nft, Family::Ip, "filter");
        assert!(filter.iptables_nft_owned && !filter.rules_unread);
        assert!(filter.chains.iter().any(|c| !c.rules.is_empty()));
        let e = explain(&c.rulesets, &pkt(22));
        assert!(
            matches!(&e.overall.decision, Decision::Unknown(why)
                if why.contains("nftables filter INPUT rule 3") && why.contains("xt match comment")),
            "{e:#?}"
        );
        assert!(e.skipped_tables.is_empty(), "{:?}", e.skipped_tables);
    }

    /// Backend, table and comment of the rule that decided.
    fn decider(e: &Explanation) -> (Backend, &str, Option<&str>) {
        let by = e.overall.decided_by.as_ref().expect("a rule decided");
        (by.backend, by.table.as_str(), by.comment.as_deref())
    }

    fn nft_of(rulesets: &[Ruleset]) -> &Ruleset {
        rulesets
            .iter()
            .find(|r| r.backend == Some(Backend::Nftables))
            .expect("nftables was read")
    }

    fn table<'r>(rs: &'r Ruleset, family: Family, name: &str) -> &'r portdoctor_firewall::Table {
        rs.tables
            .iter()
            .find(|t| t.family == family && t.name == name)
            .unwrap_or_else(|| panic!("no table {name} in {rs:?}"))
    }

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
