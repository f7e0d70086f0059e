//! Fuzz the native nftables decoder with raw netlink bytes, then evaluate what it returns:
//! nothing may panic. The first byte picks the mode: even, the input is a whole dump (a
//! stream of nf_tables messages); odd, the rest is the expression list of one rule, wrapped
//! in a table, a base chain and an anonymous set so that deep expression decoding is reached.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portdoctor_firewall::backend::nft_netlink::decode_dump;
use portdoctor_firewall::{Packet, Proto, explain};

fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
    let mut a = Vec::new();
    a.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
    a.extend_from_slice(&kind.to_ne_bytes());
    a.extend_from_slice(value);
    while a.len() % 4 != 0 {
        a.push(0);
    }
    a
}

fn msg(kind: u8, family: u8, attrs: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&((20 + attrs.len()) as u32).to_ne_bytes());
    m.extend_from_slice(&((10u16 << 8) | kind as u16).to_ne_bytes());
    m.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&[family, 0, 0, 0]);
    m.extend_from_slice(attrs);
    m
}

/// Table `t`, base chain `c` (input, policy drop), anonymous interval set `__set0` of
/// ports with elements 22 and 80-90, then one rule in `c` with `exprs` as its expressions.
fn wrapped(exprs: &[u8]) -> Vec<u8> {
    let inet = 1;
    let mut out = msg(0, inet, &attr(1, b"t\0"));
    let hook = [attr(1, &1u32.to_be_bytes()), attr(2, &0u32.to_be_bytes())].concat();
    let chain = [
        attr(1, b"t\0"),
        attr(3, b"c\0"),
        attr(4, &hook),
        attr(5, &0u32.to_be_bytes()),
        attr(7, b"filter\0"),
    ]
    .concat();
    out.extend(msg(3, inet, &chain));
    let set = [
        attr(1, b"t\0"),
        attr(2, b"__set0\0"),
        attr(3, &(1u32 | 2 | 4).to_be_bytes()),
        attr(4, &13u32.to_be_bytes()),
        attr(5, &2u32.to_be_bytes()),
    ]
    .concat();
    out.extend(msg(9, inet, &set));
    let elem = |key: u16, flags: u32| {
        let k = attr(1, &attr(1, &key.to_be_bytes()));
        attr(1, &[k, attr(3, &flags.to_be_bytes())].concat())
    };
    let elems = [elem(22, 0), elem(23, 1), elem(80, 0), elem(91, 1)].concat();
    let list = [attr(1, b"t\0"), attr(2, b"__set0\0"), attr(3, &elems)].concat();
    out.extend(msg(12, inet, &list));
    let rule = [
        attr(1, b"t\0"),
        attr(2, b"c\0"),
        attr(3, &1u64.to_be_bytes()),
        attr(4, exprs),
    ]
    .concat();
    out.extend(msg(6, inet, &rule));
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let bytes = if mode % 2 == 0 { rest.to_vec() } else { wrapped(rest) };
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
