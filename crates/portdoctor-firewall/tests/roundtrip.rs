//! Property test: iptables-save text → model → printed text → model gives the same model, and
//! printing is stable. Plus syntax errors with line and column.

use portdoctor_firewall::{
    Backend, IpFamily, ParseError, Ruleset, parse_iptables_save, print_iptables_save,
};
use proptest::prelude::*;

fn strip_text(mut rs: Ruleset) -> Ruleset {
    for t in &mut rs.tables {
        for c in &mut t.chains {
            for r in &mut c.rules {
                r.text.clear();
            }
        }
    }
    rs
}

fn v4addr() -> impl Strategy<Value = String> {
    (any::<[u8; 4]>(), 0u8..=32)
        .prop_map(|(a, l)| format!("{}.{}.{}.{}/{}", a[0], a[1], a[2], a[3], l))
}

fn port() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u16>().prop_map(|p| p.to_string()),
        (any::<u16>(), any::<u16>()).prop_map(|(a, b)| format!("{}:{}", a.min(b), a.max(b))),
    ]
}

fn neg() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just(""), Just("! ")]
}

fn comment() -> impl Strategy<Value = String> {
    "[a-z \"\\\\/:.-]{0,20}".prop_map(|s| {
        let mut o = String::from("\"");
        for c in s.chars() {
            if c == '"' || c == '\\' {
                o.push('\\');
            }
            o.push(c);
        }
        o.push('"');
        o
    })
}

fn opt() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            neg(),
            prop_oneof![Just("tcp"), Just("udp"), Just("icmp"), Just("47")]
        )
            .prop_map(|(n, p)| format!("{n}-p {p}")),
        (neg(), v4addr()).prop_map(|(n, a)| format!("{n}-s {a}")),
        (neg(), v4addr()).prop_map(|(n, a)| format!("{n}-d {a}")),
        (
            neg(),
            prop_oneof![Just("eth0"), Just("eth+"), Just("lo"), Just("docker0")]
        )
            .prop_map(|(n, i)| format!("{n}-i {i}")),
        (neg(), port()).prop_map(|(n, p)| format!("-p tcp -m tcp {n}--dport {p}")),
        (neg(), port()).prop_map(|(n, p)| format!("-p udp -m udp {n}--sport {p}")),
        (neg(), prop::collection::vec(port(), 1..5))
            .prop_map(|(n, p)| format!("-p tcp -m multiport {n}--dports {}", p.join(","))),
        (
            neg(),
            prop::sample::subsequence(
                vec!["NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED"],
                1..4
            )
        )
            .prop_map(|(n, s)| format!("-m conntrack {n}--ctstate {}", s.join(","))),
        prop::sample::subsequence(vec!["NEW", "ESTABLISHED", "RELATED"], 1..3)
            .prop_map(|s| format!("-m state --state {}", s.join(","))),
        comment().prop_map(|c| format!("-m comment --comment {c}")),
        (neg(), any::<[u8; 2]>()).prop_map(|(n, a)| format!(
            "-m iprange {n}--src-range 10.0.{}.1-10.0.{}.9",
            a[0].min(a[1]),
            a[0].max(a[1])
        )),
        (
            neg(),
            prop_oneof![Just("LOCAL"), Just("UNICAST"), Just("BROADCAST,MULTICAST")]
        )
            .prop_map(|(n, t)| format!("-m addrtype {n}--dst-type {t}")),
        (neg(), prop_oneof![Just("src"), Just("dst")])
            .prop_map(|(n, d)| format!("-m set {n}--match-set allow {d}")),
        (neg(), any::<u32>(), any::<u32>())
            .prop_map(|(n, v, m)| format!("-m mark {n}--mark {:#x}/{m:#x}", v & m)),
        (
            neg(),
            prop_oneof![Just("unicast"), Just("broadcast"), Just("multicast")]
        )
            .prop_map(|(n, t)| format!("-m pkttype {n}--pkt-type {t}")),
        (
            neg(),
            prop_oneof![
                Just("NONE"),
                Just("ASSURED"),
                Just("EXPECTED,SEEN_REPLY"),
                Just("CONFIRMED")
            ]
        )
            .prop_map(|(n, t)| format!("-m conntrack {n}--ctstatus {t}")),
        (neg(), any::<u32>(), any::<u32>())
            .prop_map(|(n, v, m)| format!("-m connmark {n}--mark {:#x}/{m:#x}", v & m)),
        Just("-m limit --limit 3/min --limit-burst 10".to_string()),
        Just("-m recent --name ssh --rcheck --seconds 60".to_string()),
        Just("-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN".to_string()),
        Just("-p tcp -m tcp --syn".to_string()),
    ]
}

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("-j ACCEPT".to_string()),
        Just("-j DROP".to_string()),
        Just("-j RETURN".to_string()),
        Just("-j REJECT --reject-with icmp-port-unreachable".to_string()),
        Just("-j REJECT --reject-with tcp-reset".to_string()),
        Just("-j REJECT --reject-with icmp-admin-prohibited".to_string()),
        Just("-j USER1".to_string()),
        Just("-g USER2".to_string()),
        Just("-j LOG --log-prefix \"in: \"".to_string()),
        Just("-j MARK --set-xmark 0x4000/0x4000".to_string()),
        Just("-j CONNMARK --restore-mark".to_string()),
        Just("-j CONNMARK --save-mark --nfmask 0xffffffff --ctmask 0xffffffff".to_string()),
        Just("-j CONNMARK --set-xmark 0x10/0xff".to_string()),
        Just("-j CONNMARK --set-mark 0x1".to_string()),
        Just("-j NFQUEUE --queue-num 1".to_string()),
        Just(String::new()),
    ]
}

fn rule() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("INPUT"), Just("USER1"), Just("USER2")],
        prop::collection::vec(opt(), 0..5),
        target(),
    )
        .prop_map(|(c, o, t)| format!("-A {c} {} {t}", o.join(" ")).trim_end().to_string())
}

fn save_text() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("ACCEPT"), Just("DROP")],
        prop::collection::vec(rule(), 0..12),
    )
        .prop_map(|(pol, rules)| {
            format!(
                "*filter\n:INPUT {pol} [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:USER1 - [0:0]\n:USER2 - [0:0]\n{}\nCOMMIT\n",
                rules.join("\n")
            )
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn parse_print_parse(text in save_text()) {
        let a = parse_iptables_save(&text, IpFamily::Ipv4, Backend::IptablesLegacy)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let printed = print_iptables_save(&a);
        let b = parse_iptables_save(&printed, IpFamily::Ipv4, Backend::IptablesLegacy)
            .map_err(|e| TestCaseError::fail(format!("{e}\n{printed}")))?;
        prop_assert_eq!(strip_text(a.clone()), strip_text(b.clone()), "printed:\n{}", printed);
        prop_assert_eq!(print_iptables_save(&b), printed);
    }

    #[test]
    fn never_panics_on_garbage(text in "(\\*filter\n|:INPUT ACCEPT\n|-A INPUT |! |-p |tcp |-m |--dport |\"|\\\\|[ -~]{0,8}|\n|COMMIT\n){0,40}") {
        for fam in [IpFamily::Ipv4, IpFamily::Ipv6] {
            let _ = parse_iptables_save(&text, fam, Backend::IptablesNft);
        }
    }
}

#[test]
fn ipv6_round_trip() {
    let text = "*filter\n:INPUT DROP [0:0]\n-A INPUT -s 2001:db8::/32 -p tcp -m tcp --dport 22 -j ACCEPT\n-A INPUT -p tcp -j REJECT --reject-with tcp-reset\n-A INPUT -m iprange --src-range 2001:db8::1-2001:db8::9 -j REJECT --reject-with icmp6-adm-prohibited\nCOMMIT\n";
    let a = parse_iptables_save(text, IpFamily::Ipv6, Backend::IptablesLegacy).unwrap();
    let p = print_iptables_save(&a);
    let b = parse_iptables_save(&p, IpFamily::Ipv6, Backend::IptablesLegacy).unwrap();
    assert_eq!(strip_text(a), strip_text(b));
    assert!(p.contains("-s 2001:db8::/32"), "{p}");
}

fn err(text: &str) -> ParseError {
    parse_iptables_save(text, IpFamily::Ipv4, Backend::IptablesLegacy).unwrap_err()
}

#[test]
fn syntax_errors_have_line_and_column() {
    let e = err("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -s 10.0.0.300 -j ACCEPT\nCOMMIT\n");
    assert_eq!((e.line, e.column), (3, 13), "{e}");
    let e = err("*filter\n-A INPUT -m comment --comment \"open\n");
    assert_eq!((e.line, e.column), (2, 31), "{e}");
    let e = err("-A INPUT -j ACCEPT\n");
    assert_eq!((e.line, e.column), (1, 1));
    let e = err("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport\n");
    assert_eq!(e.line, 3);
    assert!(e.message.contains("--dport"), "{e}");
    let e = err("*filter\n:INPUT MAYBE [0:0]\n");
    assert_eq!((e.line, e.column), (2, 8), "{e}");
    let e = err("*filter\nbogus line\n");
    assert_eq!((e.line, e.column), (2, 1), "{e}");
}

#[test]
fn comment_escapes_and_counters() {
    let text = "*filter\n:INPUT ACCEPT [0:0]\n[3:180] -A INPUT -p tcp -m tcp --dport 22 -m comment --comment \"say \\\"hi\\\" \\\\ there\" -j ACCEPT\nCOMMIT\n";
    let rs = parse_iptables_save(text, IpFamily::Ipv4, Backend::IptablesLegacy).unwrap();
    let r = &rs.tables[0].chains[0].rules[0];
    assert_eq!(r.comment.as_deref(), Some("say \"hi\" \\ there"));
    let p = print_iptables_save(&rs);
    assert!(p.contains(r#"--comment "say \"hi\" \\ there""#), "{p}");
}
