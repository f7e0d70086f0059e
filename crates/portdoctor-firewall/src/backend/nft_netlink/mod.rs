//! Native nftables reader: dumps tables, chains, rules, sets, set elements and flowtables
//! straight from the kernel over `NETLINK_NETFILTER` (`NFT_MSG_GET*`), consistent under one
//! generation id, and decodes them into the crate's model without the `nft` binary.
//!
//! Layers, each its own module (no cycles; each uses only those listed before it):
//! - `error`: [`NetlinkError`].
//! - `attr`: netlink message framing and attribute walking (pure, checked).
//! - `expr`: rule expressions from their attribute layout (`nf_tables.h`).
//! - `objects`: tables, chains, rules, sets, elements.
//! - `values`, `fields`: data types, byte orders, verdicts, header fields.
//! - `sets`, `keys`, `stmt`, `lower`: elements and rule expressions written as the
//!   statements nft's JSON shows (dependencies folded into field names as nft lists them).
//! - `build`: the [`Ruleset`], through the same code that reads `nft -j list ruleset`;
//!   `direct` builds the common rules without writing their JSON (same functions, faster).
//! - `socket` (Linux): the dump itself, optionally inside a named network namespace.
//!
//! An expression or layout the decoder does not recognise becomes an unmodelled match
//! naming the raw expression (so `unknown` where it matters): never a guess, never a panic.

mod attr;
mod build;
mod direct;
mod error;
mod expr;
mod fields;
mod keys;
mod lower;
mod objects;
mod sets;
#[cfg(target_os = "linux")]
mod socket;
mod stmt;
mod values;

use crate::model::Ruleset;
pub use build::Rules;
pub use error::NetlinkError;

/// Decodes a byte stream of nf_tables dump messages (as the kernel sends them, any order of
/// tables, chains, sets, elements, rules) into a [`Ruleset`]. Interface indexes stay numbers.
pub fn decode_dump(messages: &[u8]) -> Result<Ruleset, NetlinkError> {
    build::decode(messages, &|_| None)
}

/// As [`decode_dump`], naming interface indexes (`meta iif`) with `ifname`.
pub fn decode_dump_with(
    messages: &[u8],
    ifname: &(dyn Fn(u32) -> Option<String> + Sync),
) -> Result<Ruleset, NetlinkError> {
    build::decode(messages, ifname)
}

/// Reads the nftables ruleset of the current network namespace from the kernel.
pub fn read_ruleset() -> Result<Ruleset, NetlinkError> {
    read_ruleset_with(Rules::All)
}

/// As [`read_ruleset`], reading the rules `rules` asks for: with
/// [`Rules::ExceptIptablesNft`] the rules of tables laid out by iptables-nft are neither
/// dumped nor decoded (for a caller that evaluates `iptables-nft-save` instead).
pub fn read_ruleset_with(rules: Rules) -> Result<Ruleset, NetlinkError> {
    #[cfg(target_os = "linux")]
    {
        socket::read_current(rules)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = rules;
        Err(NetlinkError::Unsupported)
    }
}

/// Reads the ruleset of the named network namespace (`/run/netns/NAME`, as `ip netns`
/// creates them) from a thread that entered it; the caller's thread stays where it is.
pub fn read_ruleset_in_netns(name: &str) -> Result<Ruleset, NetlinkError> {
    read_ruleset_in_netns_with(name, Rules::All)
}

/// As [`read_ruleset_in_netns`], reading the rules `rules` asks for (see
/// [`read_ruleset_with`]).
pub fn read_ruleset_in_netns_with(name: &str, rules: Rules) -> Result<Ruleset, NetlinkError> {
    #[cfg(target_os = "linux")]
    {
        socket::read_in_netns(name, rules)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (name, rules);
        Err(NetlinkError::Unsupported)
    }
}

/// The raw dump of the current namespace (messages as received), for tests and fuzz seeds.
pub fn dump_raw() -> Result<Vec<u8>, NetlinkError> {
    #[cfg(target_os = "linux")]
    {
        socket::dump()
    }
    #[cfg(not(target_os = "linux"))]
    {
        Err(NetlinkError::Unsupported)
    }
}

/// For fuzzing and its regression tests: a dump of table `t` (inet), base chain `c` (input,
/// policy drop), an anonymous interval set `__set0` of ports (22, 80-90) and one rule in `c`
/// whose `NFTA_RULE_EXPRESSIONS` payload is `exprs`, so that arbitrary bytes reach the
/// expression decoder.
#[doc(hidden)]
pub fn wrap_rule_expressions(exprs: &[u8]) -> Vec<u8> {
    fn attr(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut a = Vec::with_capacity(value.len() + 8);
        a.extend_from_slice(&((4 + value.len()).min(u16::MAX as usize) as u16).to_ne_bytes());
        a.extend_from_slice(&kind.to_ne_bytes());
        a.extend_from_slice(value);
        a.resize(attr::align4(a.len()), 0);
        a
    }
    fn msg(kind: u8, attrs: &[u8]) -> Vec<u8> {
        let mut m = Vec::with_capacity(attrs.len() + 20);
        m.extend_from_slice(&((20 + attrs.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&((attr::NFNL_SUBSYS_NFTABLES << 8) | kind as u16).to_ne_bytes());
        m.extend_from_slice(&[0; 10]);
        m.extend_from_slice(&[1, 0, 0, 0]);
        m.extend_from_slice(attrs);
        m
    }
    let mut out = msg(0, &attr(1, b"t\0"));
    let hook = [attr(1, &1u32.to_be_bytes()), attr(2, &0u32.to_be_bytes())].concat();
    let chain = [
        attr(1, b"t\0"),
        attr(3, b"c\0"),
        attr(4, &hook),
        attr(5, &0u32.to_be_bytes()),
        attr(7, b"filter\0"),
    ]
    .concat();
    out.extend(msg(3, &chain));
    let set = [
        attr(1, b"t\0"),
        attr(2, b"__set0\0"),
        attr(3, &7u32.to_be_bytes()),
        attr(4, &13u32.to_be_bytes()),
        attr(5, &2u32.to_be_bytes()),
    ]
    .concat();
    out.extend(msg(9, &set));
    let elem = |key: u16, flags: u32| {
        let k = attr(1, &attr(1, &key.to_be_bytes()));
        attr(1, &[k, attr(3, &flags.to_be_bytes())].concat())
    };
    let elems = [elem(22, 0), elem(23, 1), elem(80, 0), elem(91, 1)].concat();
    let list = [attr(1, b"t\0"), attr(2, b"__set0\0"), attr(3, &elems)].concat();
    out.extend(msg(12, &list));
    let rule = [
        attr(1, b"t\0"),
        attr(2, b"c\0"),
        attr(3, &1u64.to_be_bytes()),
        attr(4, exprs),
    ]
    .concat();
    out.extend(msg(6, &rule));
    out
}
