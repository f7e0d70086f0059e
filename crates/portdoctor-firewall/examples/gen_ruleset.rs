//! Print a synthetic ruleset of N rules: `gen_ruleset (nft|nft-json|iptables) N`.
//! Used by `bench/firewall_parse.sh` and the criterion benches (same generator).

#[path = "../benches/synth.rs"]
mod synth;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let kind = args.get(1).map_or("nft", String::as_str);
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let text = match kind {
        "nft" => synth::nft_text(n),
        "nft-json" => synth::nft_json(n),
        "iptables" => synth::iptables_save(n),
        _ => {
            eprintln!("usage: gen_ruleset (nft|nft-json|iptables) N");
            std::process::exit(2);
        }
    };
    print!("{text}");
}
