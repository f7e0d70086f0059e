//! List what a ruleset contains that the evaluator does not model (debugging aid):
//! `unmodelled FILE [nft|iptables|ip6tables]`.

use portdoctor_firewall::{Action, Backend, IpFamily, Match, parse_iptables_save, parse_nft_json};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: unmodelled FILE [nft|iptables|ip6tables]");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let rs = match args.get(2).map_or("nft", String::as_str) {
        "nft" => parse_nft_json(&text),
        "iptables" => parse_iptables_save(&text, IpFamily::Ipv4, Backend::IptablesLegacy),
        _ => parse_iptables_save(&text, IpFamily::Ipv6, Backend::IptablesLegacy),
    };
    let rs = match rs {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    for t in &rs.tables {
        for c in &t.chains {
            for r in &c.rules {
                for m in &r.matches {
                    if let Match::Unmodelled { reason, text } = m {
                        println!(
                            "{} {} {} #{}: match `{text}`: {reason}",
                            t.family.as_str(),
                            t.name,
                            c.name,
                            r.position
                        );
                    }
                }
                if let Action::Unmodelled(reason) = &r.action {
                    println!(
                        "{} {} {} #{}: action: {reason}",
                        t.family.as_str(),
                        t.name,
                        c.name,
                        r.position
                    );
                }
            }
        }
    }
}
