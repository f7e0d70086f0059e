//! Minimal cases where the evaluator disagreed with the kernel, found by the differential
//! test and shrunk; each is a plain unit test (no lab): the ruleset text exactly as portdoctor
//! read it back in the lab, the packet, and the decision the kernel made.

use std::net::IpAddr;

use portdoctor_firewall::{
    Backend, Decision, IpFamily, Packet, Proto, Ruleset, explain, parse_iptables_save,
    parse_nft_json,
};

/// Evaluates `packet` through an nft JSON listing and iptables-save texts together, as
/// `portdoctor explain` does.
#[allow(dead_code)]
fn decide(nft_json: Option<&str>, ipt: &[(&str, IpFamily, Backend)], packet: &Packet) -> Decision {
    let mut rulesets: Vec<Ruleset> = Vec::new();
    if let Some(j) = nft_json {
        rulesets.push(parse_nft_json(j).expect("nft JSON parses"));
    }
    for (text, fam, backend) in ipt {
        rulesets.push(parse_iptables_save(text, *fam, *backend).expect("iptables-save parses"));
    }
    explain(&rulesets, packet).overall.decision
}

/// A first TCP SYN from the lab's peer to the lab's host on `veth-h`.
#[allow(dead_code)]
fn syn(src: &str, dst: &str, dport: u16) -> Packet {
    let src: IpAddr = src.parse().expect("address");
    let dst: IpAddr = dst.parse().expect("address");
    Packet::new(Proto::Tcp, src, dst, dport).with_iif("veth-h")
}
