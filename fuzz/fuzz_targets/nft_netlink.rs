//! Fuzz the native nftables decoder with raw netlink bytes, then evaluate what it returns:
//! nothing may panic. The first byte picks the mode: even, the input is a whole dump (a
//! stream of nf_tables messages); odd, the rest is the expression list of one rule, wrapped
//! in a table, a base chain and an anonymous set so that deep expression decoding is reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portdoctor_firewall::backend::nft_netlink::{decode_dump, wrap_rule_expressions};
use portdoctor_firewall::{Packet, Proto, explain};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode % 2 == 0 {
        rest.to_vec()
    } else {
        wrap_rule_expressions(rest)
    };
    let Ok(rs) = decode_dump(&bytes) else {
        return;
    };
    let p = |proto, port| {
        Packet::new(proto, "10.1.2.3".parse().unwrap(), "10.0.0.1".parse().unwrap(), port)
            .with_iif("eth0")
    };
    let rulesets = [rs];
    for (proto, port) in [(Proto::Tcp, 22u16), (Proto::Udp, 85)] {
        let _ = explain(&rulesets, &p(proto, port));
    }
});
