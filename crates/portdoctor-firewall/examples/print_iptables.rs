//! Parse iptables-save text and print it back (debugging aid): `print_iptables FILE`.

fn main() {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: print_iptables FILE");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    match portdoctor_firewall::parse_iptables_save(
        &text,
        portdoctor_firewall::IpFamily::Ipv4,
        portdoctor_firewall::Backend::IptablesLegacy,
    ) {
        Ok(rs) => print!("{}", portdoctor_firewall::print_iptables_save(&rs)),
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    }
}
