//! Criterion benches: parse+index 10,000-rule rulesets; sweep all 65,536 ports.
//!
//! `cargo bench -p portdoctor-firewall --bench firewall`
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use portdoctor_firewall::{
    Backend, IpFamily, Packet, explain, parse_iptables_save, parse_nft_json, sweep,
};
use std::hint::black_box;

mod synth;

const N: usize = 10_000;

fn benches(c: &mut Criterion) {
    let json = synth::nft_json(N);
    let save = synth::iptables_save(N);
    let nft = parse_nft_json(&json).expect("nft");
    let ipt = parse_iptables_save(&save, IpFamily::Ipv4, Backend::IptablesLegacy).expect("ipt");
    assert_eq!(nft.rule_count(), N + 2 + 10);
    let pkt = |p| {
        Packet::tcp_syn(
            "10.3.0.5".parse().unwrap(),
            "198.18.0.1".parse().unwrap(),
            p,
        )
        .with_iif("eth0")
    };
    let mut g = c.benchmark_group("firewall");
    g.sample_size(20);
    g.bench_function("parse_index_nft_json_10k", |b| {
        b.iter(|| {
            let rs = parse_nft_json(black_box(&json)).expect("nft");
            explain(std::slice::from_ref(&rs), &pkt(22))
        })
    });
    g.bench_function("parse_index_iptables_save_10k", |b| {
        b.iter(|| {
            let rs = parse_iptables_save(black_box(&save), IpFamily::Ipv4, Backend::IptablesLegacy)
                .expect("ipt");
            explain(std::slice::from_ref(&rs), &pkt(22))
        })
    });
    // The same ruleset with the hidden `meta nfproto` placeholders resolved as the collector
    // does from `nft --debug=netlink` (none of these rules has one).
    let mut resolved = nft.clone();
    let debug: String = (100..100 + N + 20)
        .map(|h| format!("inet bench input {h}\n"))
        .collect();
    portdoctor_firewall::apply_netlink_debug(&mut resolved, &debug);
    let resolved = [resolved];
    let nfts = [nft];
    let ipts = [ipt];
    g.bench_function("explain_one_packet_nft_10k", |b| {
        b.iter(|| explain(&nfts, black_box(&pkt(5000))))
    });
    g.bench_function("sweep_65536_ports_nft_10k", |b| {
        b.iter(|| sweep(&resolved, black_box(&pkt(0))))
    });
    g.bench_function("sweep_65536_ports_nft_10k_unresolved_tcp_reset", |b| {
        b.iter(|| sweep(&nfts, black_box(&pkt(0))))
    });
    g.bench_function("sweep_65536_ports_iptables_10k", |b| {
        b.iter(|| sweep(&ipts, black_box(&pkt(0))))
    });
    g.finish();
}

criterion_group!(firewall, benches);
criterion_main!(firewall);
