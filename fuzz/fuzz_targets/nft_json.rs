//! Fuzz the nft JSON reader (and the text-listing helpers), then evaluate and sweep what it
//! returns: nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portdoctor_firewall::{
    Packet, Proto, apply_netlink_debug, apply_text_devices, explain, parse_nft_json, sweep,
};

/// A small ruleset with an ingress chain and a `reject with tcp reset` rule, to which the
/// fuzz input is applied as `nft list ruleset` and `nft --debug=netlink` text.
const BASE: &str = r#"{"nftables": [{"table": {"family": "inet", "name": "t", "handle": 1}}, {"chain": {"family": "inet", "table": "t", "name": "ing", "handle": 1, "type": "filter", "hook": "ingress", "prio": 0, "policy": "drop"}}, {"chain": {"family": "inet", "table": "t", "name": "in", "handle": 2, "type": "filter", "hook": "input", "prio": 0, "policy": "accept"}}, {"rule": {"family": "inet", "table": "t", "chain": "in", "handle": 3, "expr": [{"reject": {"type": "tcp reset"}}]}}]}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let v4 = |proto, port| {
        Packet::new(
            proto,
            "10.1.2.3".parse().unwrap(),
            "10.0.0.1".parse().unwrap(),
            port,
        )
        .with_iif("eth0")
    };
    if let Ok(mut base) = parse_nft_json(BASE) {
        apply_text_devices(&mut base, text);
        apply_netlink_debug(&mut base, text);
        let _ = explain(&[base], &v4(Proto::Tcp, 22));
    }
    if let Ok(rs) = parse_nft_json(text) {
        let rulesets = [rs];
        for (proto, port) in [(Proto::Tcp, 22u16), (Proto::Udp, 53)] {
            let _ = explain(&rulesets, &v4(proto, port));
        }
        let p6 = Packet::new(
            Proto::Tcp,
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
            80,
        );
        let _ = explain(&rulesets, &p6);
        if data.len() < 2048 {
            let _ = sweep(&rulesets, &v4(Proto::Tcp, 0));
        }
    }
});
