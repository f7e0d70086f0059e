//! Read the current network namespace's nftables ruleset natively (netlink), index it and
//! evaluate one packet; print the timings of each phase.
//!
//! `ip netns exec NS cargo run --release -p portdoctor-firewall --example read_native -- [RUNS] [SRC] [DST] [PORT] [IIF]`
//!
//! `RUNS` = 0: one read + index + evaluation and nothing else (to time the whole process).
//!
//! Prints one line per run: the phases apart (`dump_ms`, `decode_ms`), then the path
//! `collect` takes: `read_ms` (`read_ruleset`: dump + decode), `index_explain_ms` (index +
//! one evaluation) and `total_ms` (their sum); then the best total of all runs.

use portdoctor_firewall::backend::nft_netlink::{decode_dump, dump_raw, read_ruleset};
use portdoctor_firewall::{Packet, explain};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: &str| args.get(i).cloned().unwrap_or_else(|| d.to_string());
    let runs: usize = arg(1, "5").parse().expect("RUNS");
    let src = arg(2, "10.3.0.5").parse().expect("SRC");
    let dst = arg(3, "198.18.0.1").parse().expect("DST");
    let port: u16 = arg(4, "22").parse().expect("PORT");
    let iif = arg(5, "eth0");
    if runs == 0 {
        // One shot, the path `collect` takes, for timing the whole process from outside.
        let rs = read_ruleset().unwrap_or_else(|e| {
            eprintln!("netlink: {e}");
            std::process::exit(1)
        });
        let e = explain(&[rs], &Packet::tcp_syn(src, dst, port).with_iif(&iif));
        println!("decision={:?}", e.overall.decision);
        return;
    }
    let mut best = f64::MAX;
    for _ in 0..runs {
        // The phases apart (dump, then decode of one buffer) …
        let t0 = Instant::now();
        let bytes = dump_raw().unwrap_or_else(|e| {
            eprintln!("netlink: {e}");
            std::process::exit(1)
        });
        let t1 = Instant::now();
        let decoded = decode_dump(&bytes).map(|r| r.rule_count());
        let t2 = Instant::now();
        // … and the path `collect` takes: read (dump + decode), then index + evaluate.
        let t3 = Instant::now();
        let rs = read_ruleset().unwrap_or_else(|e| {
            eprintln!("netlink: {e}");
            std::process::exit(1)
        });
        let t4 = Instant::now();
        let rulesets = [rs];
        let e = explain(&rulesets, &Packet::tcp_syn(src, dst, port).with_iif(&iif));
        let t5 = Instant::now();
        let ms = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e3;
        let total = ms(t3, t5);
        best = best.min(total);
        println!(
            "rules={} bytes={} dump_ms={:.2} decode_ms={:.2} read_ms={:.2} index_explain_ms={:.2} total_ms={:.2} decision={:?}",
            decoded.unwrap_or(0),
            bytes.len(),
            ms(t0, t1),
            ms(t1, t2),
            ms(t3, t4),
            ms(t4, t5),
            total,
            e.overall.decision
        );
    }
    println!("best_total_ms={best:.2}");
}
