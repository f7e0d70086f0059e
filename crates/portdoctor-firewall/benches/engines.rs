//! Criterion benches of the Windows and pf engines on real rulesets: parse, sweep all 65,536
//! ports (compressed), and evaluate all 65,536 ports one by one.
//!
//! `PORTDOCTOR_BENCH_NETSH=/path/to/firewall_rules.txt cargo bench -p portdoctor-firewall --bench engines`
//!
//! The largest real Windows export (`logancave/some-bat-files : firewall_rules.txt`, 330,995
//! bytes, 504 rules of `netsh advfirewall firewall show rule name=all`) is not committed (see
//! BENCHMARKS.md); without the variable the committed 12-rule excerpt is used.
#![allow(missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use portdoctor_firewall::addr::IpRange;
use portdoctor_firewall::pf::{self, LoadOptions};
use portdoctor_firewall::windows::{self, Interface, Profile};
use portdoctor_firewall::{Engine, Packet, Proto};
use std::hint::black_box;

fn data(path: &str) -> String {
    let p = format!("{}/tests/data/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn netsh() -> (String, String) {
    match std::env::var("PORTDOCTOR_BENCH_NETSH") {
        Ok(p) => (
            "w1".into(),
            std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}")),
        ),
        Err(_) => {
            eprintln!("PORTDOCTOR_BENCH_NETSH unset: benching the 12-rule excerpt");
            ("w1".into(), data("windows/w1_netsh_rules_en_excerpt.txt"))
        }
    }
}

fn pkt(port: u16) -> Packet {
    let mut p = Packet::new(
        Proto::Tcp,
        "192.168.1.7".parse().unwrap(),
        "192.168.1.20".parse().unwrap(),
        port,
    )
    .with_iif("Ethernet");
    p.local_program = Some(r"C:\srv\goapp\goapp.exe".into());
    p
}

fn windows_benches(c: &mut Criterion) {
    let w1 = netsh();
    let prof = ("p".to_string(), data("windows/zh_cn_allprofiles.txt"));
    let files = vec![w1.clone(), prof];
    let mut fw = windows::load(&files).expect("load");
    fw.interfaces.push(Interface {
        alias: "Ethernet".into(),
        profile: Profile::Public,
        kind: None,
        subnets: IpRange::parse("192.168.1.0/24").into_iter().collect(),
    });
    eprintln!("netsh text: {} bytes, {} rules", w1.1.len(), fw.rules.len());
    let mut g = c.benchmark_group("windows");
    g.sample_size(10);
    g.bench_function("parse_netsh", |b| {
        b.iter(|| windows::load(black_box(&files)).expect("load"))
    });
    g.bench_function("sweep_65536_ports", |b| {
        b.iter(|| fw.sweep(black_box(&pkt(0))))
    });
    g.bench_function("each_of_65536_ports", |b| {
        b.iter(|| {
            let mut p = pkt(0);
            (0..=u16::MAX)
                .filter(|port| {
                    p.dport = *port;
                    matches!(
                        fw.evaluate(&p).decision,
                        portdoctor_firewall::Decision::Accept
                    )
                })
                .count()
        })
    });
    g.finish();
}

fn pf_benches(c: &mut Criterion) {
    let conf = vec![("pf.conf".to_string(), data("pf/macos_fortress_pf.conf"))];
    let opts = LoadOptions {
        defines: vec![("vpn_net".into(), "10.8.0/24".into())],
    };
    let mut fw = pf::load_with(&conf, &opts).expect("pf");
    fw.assume_unread_anchors_empty = true;
    let a = "192.168.1.20".parse().unwrap();
    fw.interfaces.push((
        "en0".into(),
        vec![(a, IpRange::parse("192.168.1.0/24").unwrap())],
    ));
    let p = |port| Packet::tcp_syn("203.0.113.5".parse().unwrap(), a, port).with_iif("en0");
    let mut g = c.benchmark_group("pf");
    g.sample_size(10);
    g.bench_function("parse_pf_conf", |b| {
        b.iter(|| pf::load_with(black_box(&conf), &opts).expect("pf"))
    });
    g.bench_function("sweep_65536_ports", |b| {
        b.iter(|| fw.sweep(black_box(&p(0))))
    });
    g.bench_function("each_of_65536_ports", |b| {
        b.iter(|| {
            (0..=u16::MAX)
                .filter(|port| {
                    fw.evaluate_pf(&p(*port)).decision == portdoctor_firewall::Decision::Accept
                })
                .count()
        })
    });
    g.finish();
}

criterion_group!(engines, windows_benches, pf_benches);
criterion_main!(engines);
