//! Parse and index a ruleset file, evaluate one packet and sweep all ports; print timings.
//!
//! `cargo run --release -p portdoctor-firewall --example parse_ruleset -- FILE [nft|iptables|ip6tables] [SRC] [DST] [PORT] [IIF]`

use portdoctor_firewall::{
    Backend, IpFamily, Packet, explain, parse_iptables_save, parse_nft_json, sweep,
};
use std::io::Write;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: parse_ruleset FILE [nft|iptables|ip6tables] [SRC] [DST] [PORT]");
        std::process::exit(2);
    };
    let kind = args.get(2).map_or("nft", String::as_str);
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        eprintln!("{path}: {e}");
        std::process::exit(2)
    });
    let t0 = Instant::now();
    let rs = match kind {
        "nft" => parse_nft_json(&text),
        "iptables" => parse_iptables_save(&text, IpFamily::Ipv4, Backend::IptablesLegacy),
        _ => parse_iptables_save(&text, IpFamily::Ipv6, Backend::IptablesLegacy),
    };
    let rs = match rs {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1)
        }
    };
    let parse = t0.elapsed();
    let src = args
        .get(3)
        .map_or("198.18.0.2", String::as_str)
        .parse()
        .expect("SRC");
    let dst = args
        .get(4)
        .map_or("198.18.0.1", String::as_str)
        .parse()
        .expect("DST");
    let port: u16 = args
        .get(5)
        .map_or("22", String::as_str)
        .parse()
        .expect("PORT");
    let iif = args.get(6).map_or("eth0", String::as_str);
    let rulesets = [rs];
    // PD_EXPLAIN_REPEAT=N repeats the evaluation (for profiling); the time is per evaluation.
    let repeat: u32 = std::env::var("PD_EXPLAIN_REPEAT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1);
    let t1 = Instant::now();
    let mut e = explain(&rulesets, &Packet::tcp_syn(src, dst, port).with_iif(iif));
    for _ in 1..repeat {
        e = explain(&rulesets, &Packet::tcp_syn(src, dst, port).with_iif(iif));
    }
    let eval = t1.elapsed() / repeat;
    let t2 = Instant::now();
    let s = sweep(&rulesets, &Packet::tcp_syn(src, dst, port).with_iif(iif));
    let sw = t2.elapsed();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "rules={} parse_index_ms={:.3} explain_ms={:.3} sweep_ms={:.3} sweep_ranges={}",
        rulesets[0].rule_count(),
        parse.as_secs_f64() * 1e3,
        eval.as_secs_f64() * 1e3,
        sw.as_secs_f64() * 1e3,
        s.ranges.len()
    );
    let _ = writeln!(
        out,
        "{}",
        serde_json::to_string(&e.overall.decision).unwrap_or_default()
    );
    if let Some(r) = &e.overall.decided_by {
        let _ = writeln!(
            out,
            "decided by: {} {} {} #{}: {}",
            r.backend.as_str(),
            r.table,
            r.chain,
            r.position,
            r.text
        );
    }
}
