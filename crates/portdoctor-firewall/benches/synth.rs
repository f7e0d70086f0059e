//! Synthetic rulesets of N rules, shared by the criterion bench and the example generator.
//! Shapes follow real `nft -j list ruleset` and `iptables-save` output.
#![allow(dead_code)]

/// Source address of rule `i` (10.a.b.c).
pub fn addr(i: usize) -> String {
    format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255)
}

/// Port of rule `i`.
pub fn port(i: usize) -> usize {
    1024 + (i * 7) % 60000
}

/// nft text (for `nft -f`) with `n` rules in a default-deny input chain plus sub-chains.
pub fn nft_text(n: usize) -> String {
    let mut s = String::from(
        "table inet bench {\n  set allow { type ipv4_addr; flags interval; elements = { 192.0.2.0/24, 198.51.100.7 } }\n",
    );
    let chains = 10;
    for c in 0..chains {
        s.push_str(&format!("  chain sub{c} {{\n"));
        for i in (0..n / 2).filter(|i| i % chains == c) {
            s.push_str(&format!(
                "    ip saddr {} tcp dport {} accept\n",
                addr(i),
                port(i)
            ));
        }
        s.push_str("  }\n");
    }
    s.push_str("  chain input {\n    type filter hook input priority filter; policy drop;\n");
    s.push_str("    ct state established,related accept\n    iifname \"lo\" accept\n");
    for i in n / 2..n {
        match i % 4 {
            0 => s.push_str(&format!(
                "    tcp dport {} ip saddr @allow accept\n",
                port(i)
            )),
            1 => s.push_str(&format!(
                "    ip saddr {}/32 udp dport {} drop\n",
                addr(i),
                port(i)
            )),
            2 => s.push_str(&format!(
                "    tcp dport {{ {}, {} }} counter reject with tcp reset\n",
                port(i),
                port(i) + 1
            )),
            _ => s.push_str(&format!(
                "    ip saddr {} tcp dport {}-{} accept comment \"r{i}\"\n",
                addr(i),
                port(i),
                port(i) + 3
            )),
        }
    }
    for c in 0..chains {
        s.push_str(&format!("    ip saddr 10.{c}.0.0/16 jump sub{c}\n"));
    }
    s.push_str("  }\n}\n");
    s
}

/// nft JSON as `nft -j list ruleset` prints it, for the same rules as [`nft_text`].
pub fn nft_json(n: usize) -> String {
    let mut items: Vec<String> = vec![
        r#"{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}"#.into(),
        r#"{"table": {"family": "inet", "name": "bench", "handle": 1}}"#.into(),
        r#"{"set": {"family": "inet", "name": "allow", "table": "bench", "type": "ipv4_addr", "handle": 2, "flags": ["interval"], "elem": [{"prefix": {"addr": "192.0.2.0", "len": 24}}, "198.51.100.7"]}}"#.into(),
        r#"{"chain": {"family": "inet", "table": "bench", "name": "input", "handle": 3, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}}"#.into(),
    ];
    let chains = 10;
    for c in 0..chains {
        items.push(format!(r#"{{"chain": {{"family": "inet", "table": "bench", "name": "sub{c}", "handle": {}}}}}"#, 10 + c));
    }
    let mut h = 100;
    let mut rule = |chain: &str, exprs: String, items: &mut Vec<String>| {
        h += 1;
        items.push(format!(r#"{{"rule": {{"family": "inet", "table": "bench", "chain": "{chain}", "handle": {h}, "expr": [{exprs}]}}}}"#));
    };
    let m = |proto: &str, field: &str, right: String| {
        format!(
            r#"{{"match": {{"op": "==", "left": {{"payload": {{"protocol": "{proto}", "field": "{field}"}}}}, "right": {right}}}}}"#
        )
    };
    for c in 0..chains {
        for i in (0..n / 2).filter(|i| i % chains == c) {
            let e = format!(
                "{}, {}, {{\"accept\": null}}",
                m("ip", "saddr", format!("\"{}\"", addr(i))),
                m("tcp", "dport", port(i).to_string())
            );
            rule(&format!("sub{c}"), e, &mut items);
        }
    }
    rule("input", r#"{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}"#.into(), &mut items);
    rule("input", r#"{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "lo"}}, {"accept": null}"#.into(), &mut items);
    for i in n / 2..n {
        let e = match i % 4 {
            0 => format!(
                "{}, {}, {{\"accept\": null}}",
                m("tcp", "dport", port(i).to_string()),
                m("ip", "saddr", "\"@allow\"".into())
            ),
            1 => format!(
                "{}, {}, {{\"drop\": null}}",
                m("ip", "saddr", format!("\"{}\"", addr(i))),
                m("udp", "dport", port(i).to_string())
            ),
            2 => format!(
                "{}, {{\"counter\": {{\"packets\": 0, \"bytes\": 0}}}}, {{\"reject\": {{\"type\": \"tcp reset\"}}}}",
                m(
                    "tcp",
                    "dport",
                    format!("{{\"set\": [{}, {}]}}", port(i), port(i) + 1)
                )
            ),
            _ => format!(
                "{}, {}, {{\"accept\": null}}",
                m("ip", "saddr", format!("\"{}\"", addr(i))),
                m(
                    "tcp",
                    "dport",
                    format!("{{\"range\": [{}, {}]}}", port(i), port(i) + 3)
                )
            ),
        };
        rule("input", e, &mut items);
    }
    for c in 0..chains {
        let e = format!(
            "{}, {{\"jump\": {{\"target\": \"sub{c}\"}}}}",
            m(
                "ip",
                "saddr",
                format!("{{\"prefix\": {{\"addr\": \"10.{c}.0.0\", \"len\": 16}}}}")
            )
        );
        rule("input", e, &mut items);
    }
    format!("{{\"nftables\": [{}]}}", items.join(", "))
}

/// iptables-save text with `n` rules (filter table, default deny, user chains).
pub fn iptables_save(n: usize) -> String {
    let chains = 10;
    let mut s =
        String::from("*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for c in 0..chains {
        s.push_str(&format!(":SUB{c} - [0:0]\n"));
    }
    s.push_str(
        "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A INPUT -i lo -j ACCEPT\n",
    );
    for i in n / 2..n {
        match i % 4 {
            0 => s.push_str(&format!(
                "-A INPUT -p tcp -m tcp --dport {} -m comment --comment \"rule {i}\" -j ACCEPT\n",
                port(i)
            )),
            1 => s.push_str(&format!(
                "-A INPUT -s {}/32 -p udp -m udp --dport {} -j DROP\n",
                addr(i),
                port(i)
            )),
            2 => s.push_str(&format!(
                "-A INPUT -p tcp -m multiport --dports {},{} -j REJECT --reject-with tcp-reset\n",
                port(i),
                port(i) + 1
            )),
            _ => s.push_str(&format!(
                "-A INPUT -s {}/32 -p tcp -m tcp --dport {}:{} -j ACCEPT\n",
                addr(i),
                port(i),
                port(i) + 3
            )),
        }
    }
    for c in 0..chains {
        s.push_str(&format!("-A INPUT -s 10.{c}.0.0/16 -j SUB{c}\n"));
    }
    for c in 0..chains {
        for i in (0..n / 2).filter(|i| i % chains == c) {
            s.push_str(&format!(
                "-A SUB{c} -s {}/32 -p tcp -m tcp --dport {} -j ACCEPT\n",
                addr(i),
                port(i)
            ));
        }
    }
    s.push_str("COMMIT\n");
    s
}
