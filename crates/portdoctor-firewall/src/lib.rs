//! Firewall evaluation for portdoctor: which rule decides an inbound connection, exactly as the
//! Linux kernel would, or an honest `Unknown` with the reason.
//!
//! # API summary
//!
//! - Read nftables from the kernel (netlink, no `nft` needed):
//!   [`backend::nft_netlink::read_ruleset`], [`backend::nft_netlink::read_ruleset_in_netns`]
//!   (and their `_with` forms, which can leave iptables-nft's rules out:
//!   [`backend::nft_netlink::Rules`]), and the pure [`backend::nft_netlink::decode_dump`] over
//!   raw dump bytes.
//! - Read rulesets:
//!   [`parse_nft_json`]`(&str) -> Result<Ruleset, ParseError>` (output of `nft -j list ruleset`),
//!   [`parse_iptables_save`]`(&str, IpFamily, Backend) -> Result<Ruleset, ParseError>`
//!   (output of `iptables-save` / `ip6tables-save`, legacy or nft-backed),
//!   [`parse_ipset_save`]`(&str) -> Result<Vec<NamedSet>, ParseError>` (attach to
//!   [`Ruleset::ipsets`] of iptables rulesets),
//!   [`apply_netlink_debug`]`(&mut Ruleset, &str)` (output of
//!   `nft --debug=netlink list ruleset`: resolves the `meta nfproto` matches nft listings hide
//!   before `reject with tcp reset`), [`apply_text_devices`]`(&mut Ruleset, &str)` (output of
//!   `nft list ruleset`: the devices of ingress chains, missing from the JSON).
//! - Print: [`print_iptables_save`]`(&Ruleset) -> String`.
//! - Evaluate one packet: [`evaluate`]`(&Ruleset, &Packet) -> Verdict` for one ruleset, or
//!   [`explain`]`(&[Ruleset], &Packet) -> Explanation` for every active backend together (the
//!   packet passes all of them) plus one verdict per backend.
//! - Sweep all ports: [`sweep()`]`(&[Ruleset], &Packet) -> Sweep` — decisions for dport
//!   0..=65535 as compressed ranges (the packet's `dport` is ignored).
//! - Read the live rulesets: [`collect::collect`] with a [`collect::Runner`].
//! - Other engines behind [`Engine`]: [`windows`] (Windows Defender Firewall: PowerShell JSON
//!   export, Export-FirewallRules CSV, netsh text, registry rule strings, COM on Windows;
//!   near misses; fixes) and [`pf`] (pf.conf, `pfctl` listings and tables, the macOS
//!   Application Firewall; fixes). Fix shapes shared by both are in [`fix`].
//!
//! Model types are in [`model`]: [`Packet`], [`Verdict`], [`Decision`], [`RuleRef`], [`Step`].
//! All are serde-serialisable with snake_case field names.
//!
//! ```
//! use portdoctor_firewall::{Backend, Decision, IpFamily, Packet, evaluate, parse_iptables_save};
//! let rules = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT\nCOMMIT\n";
//! let rs = parse_iptables_save(rules, IpFamily::Ipv4, Backend::IptablesLegacy).unwrap();
//! let syn = |port| Packet::tcp_syn("192.0.2.7".parse().unwrap(), "198.18.0.1".parse().unwrap(), port);
//! assert_eq!(evaluate(&rs, &syn(22)).decision, Decision::Accept);
//! let v = evaluate(&rs, &syn(80));
//! assert_eq!(v.decision, Decision::Drop);
//! assert!(v.decided_by.unwrap().is_policy);
//! ```
//!
//! # Assumptions (documented, not guessed)
//!
//! The packet is inbound to a local unicast address (`fib daddr type local` holds). Base chains
//! on equal priorities run in the order of the rulesets given, then table listing order.
//! Everything the evaluator does not model is an explicit [`Match::Unmodelled`] or
//! [`Action::Unmodelled`]; it makes the result [`Decision::Unknown`] only when it can change
//! the decision. See the crate README for the full list.

pub mod addr;
pub mod attribution;
pub mod backend;
pub mod collect;
pub mod engine;
mod error;
pub mod eval;
mod explain;
pub mod fix;
pub mod host;
mod index;
pub mod manager;
pub mod model;
pub mod netfilter;
pub mod pf;
pub mod plan;
pub mod route_table;
pub mod routes;
pub mod saved;
pub mod sweep;
pub mod viewpoint;
pub mod windows;

pub use backend::ipset::parse_ipset_save;
pub use backend::iptables::parse_iptables_save;
pub use backend::iptables_print::print_iptables_save;
pub use backend::nft::{apply_netlink_debug, apply_text_devices, parse_nft_json};
pub use engine::{Edit, EditError, Engine, EngineKind, Place};
pub use error::ParseError;
pub use explain::{BackendVerdict, Explanation, evaluate, explain};
pub use model::*;
pub use netfilter::Netfilter;
pub use pf::PfFirewall;
pub use sweep::{PortRange, Sweep, sweep};
pub use windows::WindowsFirewall;
