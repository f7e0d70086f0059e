//! Readers (and a printer) for each firewall backend's own text format.

pub mod ipset;
pub mod iptables;
pub mod iptables_print;
mod iptables_rate;
pub mod names;
pub mod nft;
pub mod nft_netlink;
pub mod nft_render;
