//! Fuzz the nft JSON reader, then evaluate and sweep what it returns: nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portdoctor_firewall::{Packet, Proto, explain, parse_nft_json, sweep};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(rs) = parse_nft_json(text) {
        let rulesets = [rs];
        for (proto, port) in [(Proto::Tcp, 22u16), (Proto::Udp, 53)] {
            let p = Packet::new(
                proto,
                "10.1.2.3".parse().unwrap(),
                "10.0.0.1".parse().unwrap(),
                port,
            )
            .with_iif("eth0");
            let _ = explain(&rulesets, &p);
        }
        let p6 = Packet::new(
            Proto::Tcp,
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
            80,
        );
        let _ = explain(&rulesets, &p6);
        if data.len() < 2048 {
            let _ = sweep(
                &rulesets,
                &Packet::tcp_syn("10.1.2.3".parse().unwrap(), "10.0.0.1".parse().unwrap(), 0),
            );
        }
    }
});
