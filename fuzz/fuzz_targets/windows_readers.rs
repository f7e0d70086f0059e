//! Fuzz every Windows Firewall reader (the first byte picks the reader, the rest is the text),
//! then evaluate, sweep, look for near misses and plan fixes on what loads: nothing may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portdoctor_firewall::fix::FixRequest;
use portdoctor_firewall::windows::{self, Format};
use portdoctor_firewall::{Engine, Packet, Proto};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let format = match sel % 6 {
        0 => Format::Json,
        1 => Format::Csv,
        2 => Format::NetshRules,
        3 => Format::NetshProfiles,
        4 => Format::Registry,
        _ => match windows::format_of(text) {
            Some(f) => f,
            None => return,
        },
    };
    let _ = windows::recognise(text);
    let Ok(fw) = windows::load_as(format, "fuzz", text) else {
        return;
    };
    let mut p = Packet::tcp_syn(
        "192.0.2.7".parse().unwrap(),
        "192.0.2.1".parse().unwrap(),
        8080,
    )
    .with_iif("Ethernet");
    p.local_program = Some(r"C:\Windows\System32\svchost.exe".into());
    let _ = fw.explain(&p);
    let _ = fw.near_misses(&p);
    let req = FixRequest { port: 8080, proto: Proto::Tcp, source: Some("192.0.2.0/24".into()) };
    let _ = windows::plan_fix(&fw, &p, &req);
    if fw.rules.len() < 64 {
        let _ = fw.sweep(&p);
    }
});
