//! Fuzz the iptables-save and ipset readers and the printer, then evaluate: nothing may panic,
//! and printing a parsed ruleset must parse again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use portdoctor_firewall::{
    Backend, IpFamily, Packet, explain, parse_ipset_save, parse_iptables_save, print_iptables_save,
};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = parse_ipset_save(text);
    for fam in [IpFamily::Ipv4, IpFamily::Ipv6] {
        if let Ok(rs) = parse_iptables_save(text, fam, Backend::IptablesLegacy) {
            let printed = print_iptables_save(&rs);
            assert!(
                parse_iptables_save(&printed, fam, Backend::IptablesLegacy).is_ok(),
                "printed ruleset does not parse:\n{printed}"
            );
            let (src, dst) = match fam {
                IpFamily::Ipv4 => ("10.1.2.3", "10.0.0.1"),
                IpFamily::Ipv6 => ("2001:db8::1", "2001:db8::2"),
            };
            let p =
                Packet::tcp_syn(src.parse().unwrap(), dst.parse().unwrap(), 22).with_iif("eth0");
            let _ = explain(&[rs], &p);
        }
    }
});
