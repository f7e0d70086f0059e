//! Fuzz the pf readers (pf.conf / pfctl listings, table listings, `pfctl -s info`,
//! socketfilterfw; the first byte picks the reader), then evaluate, sweep, apply edits and
//! plan fixes on what loads: nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portdoctor_firewall::fix::FixRequest;
use portdoctor_firewall::pf::{self, Format};
use portdoctor_firewall::{Engine, Packet, Proto};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let format = match sel % 5 {
        0 => Format::Rules,
        1 => Format::Table,
        2 => Format::AppFirewall,
        3 => Format::Info,
        _ => match pf::format_of(text) {
            Some(f) => f,
            None => return,
        },
    };
    let Ok(mut fw) = pf::load_as(format, "fuzz", text) else {
        return;
    };
    fw.assume_unread_anchors_empty = sel & 0x80 != 0;
    let mut p = Packet::tcp_syn("192.0.2.7".parse().unwrap(), "192.0.2.1".parse().unwrap(), 8080)
        .with_iif("en0");
    p.local_program = Some("/usr/local/bin/app".into());
    let _ = fw.explain(&p);
    let req = FixRequest { port: 8080, proto: Proto::Tcp, source: None };
    let _ = pf::plan_fix(&fw, &p, &req);
    if fw.main.len() < 64 {
        let _ = fw.sweep(&p);
    }
});
