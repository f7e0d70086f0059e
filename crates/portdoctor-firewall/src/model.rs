//! Backend-neutral ruleset model: tables, chains, rules, matches, actions; the packet to
//! evaluate; and the verdict with the rule that decided it.
//!
//! Every type serialises with stable snake_case field names (the CLI emits them as `--json`).

use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};

pub use crate::route_table::{Forwarding, Route, RouteTable};

/// Which firewall implementation a ruleset was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    /// Native nftables (`nft -j list ruleset`).
    Nftables,
    /// Legacy x_tables iptables (`iptables-legacy-save`, `ip6tables-legacy-save`).
    IptablesLegacy,
    /// nf_tables-backed iptables (`iptables-nft-save`, `ip6tables-nft-save`).
    IptablesNft,
    /// Windows Defender Firewall (rules named by DisplayName; `table` holds the policy store,
    /// `chain` the rule group).
    WindowsFirewall,
    /// pf (`table` holds the anchor, `position` the rule number, `comment` the label).
    Pf,
}

impl Backend {
    /// Short stable name, as used in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Nftables => "nftables",
            Backend::IptablesLegacy => "iptables_legacy",
            Backend::IptablesNft => "iptables_nft",
            Backend::WindowsFirewall => "windows_firewall",
            Backend::Pf => "pf",
        }
    }

    /// Human name: `nftables`, `iptables (legacy)`, `iptables (nft)`, …
    pub fn label(self) -> &'static str {
        match self {
            Backend::Nftables => "nftables",
            Backend::IptablesLegacy => "iptables (legacy)",
            Backend::IptablesNft => "iptables (nft)",
            Backend::WindowsFirewall => "Windows Defender Firewall",
            Backend::Pf => "pf",
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Backend, String> {
        Ok(match s.replace('-', "_").as_str() {
            "nftables" | "nft" => Backend::Nftables,
            "iptables_legacy" => Backend::IptablesLegacy,
            "iptables_nft" | "iptables" => Backend::IptablesNft,
            "windows_firewall" | "windows" => Backend::WindowsFirewall,
            "pf" => Backend::Pf,
            o => return Err(format!("unknown firewall backend `{o}`")),
        })
    }
}

/// Netfilter family of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// IPv4 only.
    Ip,
    /// IPv6 only.
    Ip6,
    /// IPv4 and IPv6.
    Inet,
    /// ARP (never sees IP packets).
    Arp,
    /// Bridge (bridged frames; not inbound-to-local IP).
    Bridge,
    /// Netdev (ingress/egress on a device; sees every packet of the device).
    Netdev,
}

impl Family {
    /// Parse an nft family name.
    pub fn from_name(s: &str) -> Option<Family> {
        Some(match s {
            "ip" => Family::Ip,
            "ip6" => Family::Ip6,
            "inet" => Family::Inet,
            "arp" => Family::Arp,
            "bridge" => Family::Bridge,
            "netdev" => Family::Netdev,
            _ => return None,
        })
    }

    /// The nft name of the family.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Ip => "ip",
            Family::Ip6 => "ip6",
            Family::Inet => "inet",
            Family::Arp => "arp",
            Family::Bridge => "bridge",
            Family::Netdev => "netdev",
        }
    }

    /// Whether chains of this family see an IP packet of `fam`.
    pub fn sees(self, fam: IpFamily) -> bool {
        matches!(
            (self, fam),
            (Family::Ip, IpFamily::Ipv4)
                | (Family::Ip6, IpFamily::Ipv6)
                | (Family::Inet, _)
                | (Family::Netdev, _)
        )
    }
}

/// IP version of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IpFamily {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

/// Netfilter hook of a base chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hook {
    /// netdev/inet ingress (runs before prerouting).
    Ingress,
    /// Prerouting.
    Prerouting,
    /// Input (packets to a local address).
    Input,
    /// Forward.
    Forward,
    /// Output.
    Output,
    /// Postrouting.
    Postrouting,
    /// Anything else, kept by name.
    Other(String),
}

impl Hook {
    /// Parse an nft hook name.
    pub fn from_name(s: &str) -> Hook {
        match s {
            "ingress" => Hook::Ingress,
            "prerouting" => Hook::Prerouting,
            "input" => Hook::Input,
            "forward" => Hook::Forward,
            "output" => Hook::Output,
            "postrouting" => Hook::Postrouting,
            o => Hook::Other(o.to_string()),
        }
    }

    /// Order of the hook on the inbound-to-local path, `None` when not on it.
    pub fn inbound_stage(&self) -> Option<u8> {
        match self {
            Hook::Ingress => Some(0),
            Hook::Prerouting => Some(1),
            Hook::Input => Some(2),
            _ => None,
        }
    }

    /// Order of the hook on the way of an arriving packet: ingress 0, prerouting 1, then
    /// either input 2 (a local address) or forward 3 and postrouting 4 (routed on); `None`
    /// for the hooks of locally sent packets.
    pub fn stage(&self) -> Option<u8> {
        match self {
            Hook::Forward => Some(3),
            Hook::Postrouting => Some(4),
            h => h.inbound_stage(),
        }
    }

    /// The priority at which netfilter's NAT core runs the nat-type chains of this hook
    /// (`nf_nat_ipv4_ops`: dstnat -100 in prerouting and output, srcnat +100 in input and
    /// postrouting): nat chains are called from there, in the order of their own priorities.
    pub fn nat_priority(&self) -> Option<i32> {
        match self {
            Hook::Prerouting | Hook::Output => Some(-100),
            Hook::Input | Hook::Postrouting => Some(100),
            _ => None,
        }
    }

    /// The nft name of the hook.
    pub fn name(&self) -> &str {
        match self {
            Hook::Ingress => "ingress",
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
            Hook::Other(o) => o,
        }
    }
}

/// Policy of a base chain (what happens when a packet falls off its end).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Accept (continue to the next base chain).
    Accept,
    /// Drop.
    Drop,
}

/// A complete ruleset read from one backend (and, for iptables, one IP family).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Ruleset {
    /// Where it was read from; `None` only for an empty default value.
    pub backend: Option<Backend>,
    /// Tables in listing order.
    pub tables: Vec<Table>,
    /// ipset sets (iptables `-m set`); `None` when `ipset save` was not read.
    pub ipsets: Option<Vec<NamedSet>>,
}

impl Ruleset {
    /// A ruleset with no rule and only accept policies: the backend is inactive and accepts.
    pub fn is_inactive(&self) -> bool {
        self.tables.iter().all(Table::is_inactive)
    }

    /// Number of rules in all tables.
    pub fn rule_count(&self) -> usize {
        self.tables
            .iter()
            .map(|t| t.chains.iter().map(|c| c.rules.len()).sum::<usize>())
            .sum()
    }
}

/// A table: chains plus named sets and maps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Family.
    pub family: Family,
    /// Name (`filter`, `nat`, …).
    pub name: String,
    /// nft handle, if any.
    pub handle: Option<u64>,
    /// Set when this nft table is owned by iptables-nft (it is then evaluated from
    /// `iptables-nft-save` output instead, when that is available).
    pub iptables_nft_owned: bool,
    /// Set when the native reader left this table's rules unread: the table is laid out by
    /// iptables-nft and is evaluated from `iptables-nft-save` output instead, so its chains
    /// are here without their rules (see [`crate::collect::collect`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rules_unread: bool,
    /// Chains in listing order.
    pub chains: Vec<Chain>,
    /// Named sets and maps of the table.
    pub sets: Vec<NamedSet>,
}

impl Table {
    /// True when no chain has a rule and every base chain's policy is accept.
    pub fn is_inactive(&self) -> bool {
        self.chains.iter().all(|c| {
            c.rules.is_empty() && c.base.as_ref().is_none_or(|b| b.policy == Policy::Accept)
        })
    }

    /// An empty table (no chains or sets, not owned by iptables-nft).
    pub fn new(family: Family, name: &str, handle: Option<u64>) -> Table {
        Table {
            family,
            name: name.to_string(),
            handle,
            iptables_nft_owned: false,
            rules_unread: false,
            chains: vec![],
            sets: vec![],
        }
    }
}

/// A chain; base chains carry a [`BaseChain`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Chain {
    /// Name.
    pub name: String,
    /// nft handle, if any.
    pub handle: Option<u64>,
    /// Hook, priority and policy when this is a base chain.
    pub base: Option<BaseChain>,
    /// Rules in order.
    pub rules: Vec<Rule>,
}

/// Hook attachment of a base chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseChain {
    /// Hook.
    pub hook: Hook,
    /// Chain type (`filter`, `nat`, `route`).
    pub chain_type: String,
    /// Priority (lower runs first).
    pub priority: i32,
    /// Policy on fall-through.
    pub policy: Policy,
    /// Devices (netdev/ingress chains); empty when not bound to devices.
    pub devices: Vec<String>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    /// Conditions, all of which must hold.
    pub matches: Vec<Match>,
    /// Non-terminal statements executed when the rule matches (counter, log, mark …).
    pub statements: Vec<Statement>,
    /// Statements that nft runs part-way through the rule: `(n, statement)` runs once the
    /// first `n` matches held, before the others — it takes effect even when a later match
    /// fails (e.g. `meta mark set 1 udp dport 53 accept` marks a TCP packet too).
    #[serde(default)]
    pub pre_statements: Vec<(usize, Statement)>,
    /// Final action.
    pub action: Action,
    /// The rule's own text as the backend prints it (nft: rendered from JSON).
    pub text: String,
    /// Comment, if any.
    pub comment: Option<String>,
    /// nft handle.
    pub handle: Option<u64>,
    /// 1-based position in its chain.
    pub position: usize,
}

/// A packet field a match can test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// `meta nfproto`: 2 = ipv4, 10 = ipv6.
    NfProto,
    /// `meta l4proto` / `-p`: IP protocol number.
    L4Proto,
    /// IPv4 source address (implies IPv4).
    Saddr4,
    /// IPv4 destination address (implies IPv4).
    Daddr4,
    /// IPv6 source address (implies IPv6).
    Saddr6,
    /// IPv6 destination address (implies IPv6).
    Daddr6,
    /// Source port of any port-carrying transport protocol (`th sport`).
    Sport,
    /// Destination port of any port-carrying transport (`th dport`).
    Dport,
    /// TCP source port (implies TCP).
    TcpSport,
    /// TCP destination port (implies TCP).
    TcpDport,
    /// UDP source port (implies UDP).
    UdpSport,
    /// UDP destination port (implies UDP).
    UdpDport,
    /// Input interface name (`iifname`, `-i`; `iif` is compared by name too).
    Iifname,
    /// Conntrack state as a bit: invalid 1, established 2, related 4, new 8, untracked 64.
    CtState,
    /// Routing type of the destination address (`fib daddr type`, `-m addrtype --dst-type`):
    /// unicast 1, local 2, broadcast 3, anycast 4, multicast 5, blackhole 6, unreachable 7,
    /// prohibit 8.
    DaddrType,
    /// `-m addrtype --dst-type` of iptables: the values are the requested types. For IPv4 it
    /// holds when the destination's route type is one of them (LOCAL for this packet); for
    /// IPv6 the kernel mixes address classes and route types: UNICAST holds for a local
    /// unicast address, MULTICAST/UNSPEC do not, and when LOCAL/ANYCAST/BLACKHOLE/UNREACHABLE
    /// is requested the route type (LOCAL) decides.
    DaddrTypeXt,
    /// TCP flags byte (implies TCP).
    TcpFlags,
    /// Packet mark.
    Mark,
    /// Link-layer packet type (`meta pkttype`, `-m pkttype`): host/unicast 0, broadcast 1,
    /// multicast 2, other 3. The evaluated packet is unicast to this host.
    PktType,
    /// Conntrack mark (`ct mark`, `-m connmark`): 0 for a new connection unless a rule set it;
    /// unknown for an existing one.
    CtMark,
    /// Link-layer protocol (`meta protocol`): 0x0800 for IPv4, 0x86dd for IPv6.
    EtherType,
    /// Reverse-path check, strict (`fib saddr . iif oif`, `-m rpfilter`): 1 when a route back
    /// to the source leaves through the input interface, 0 when it is missing.
    RpfStrict,
    /// Reverse-path check, loose (`fib saddr oif`, `-m rpfilter --loose`): 1 when any route
    /// back to the source exists.
    RpfLoose,
    /// Routing type of the source address (`fib saddr type`, `-m addrtype --src-type`), as
    /// [`Field::DaddrType`] numbers them.
    SaddrType,
    /// Conntrack status bits (`ct status`): expected 1, seen-reply 2, assured 4,
    /// confirmed 8, snat 16, dnat 32, dying 512. A first packet has none (expected when
    /// related); later packets' status is unknown.
    CtStatus,
    /// Output interface name (`oifname`, `-o`): empty in prerouting and on the way to a local
    /// socket (there is no output device yet); the route's device on the forward path.
    Oifname,
    /// Layer-4 protocol of the packet's connection (`-m conntrack --ctproto`): the packet's own
    /// protocol, except for an ICMP error related to a connection (that connection's, unknown
    /// here). Absent when the packet has no connection (invalid, untracked, before conntrack).
    CtProto,
    /// Source port of the connection's original direction (`--ctorigsrcport`): the packet's
    /// for a first packet; unknown for an established connection (the packet may be a reply)
    /// and for protocols without ports. Absent without a connection, as [`Field::CtProto`].
    CtOrigSport,
    /// Destination port of the connection's original direction (`--ctorigdstport`): the port
    /// the first packet arrived with (before any redirect); otherwise as
    /// [`Field::CtOrigSport`].
    CtOrigDport,
}

/// One element of a value set: an inclusive range of numbers, or an interface name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Elem {
    /// Inclusive numeric range (addresses, ports, protocol numbers, bits).
    Range(u128, u128),
    /// Interface name; `wildcard` means "any name starting with `name`".
    Iface {
        /// The name or prefix.
        name: String,
        /// Prefix match (`eth*` in nft, `eth+` in iptables).
        wildcard: bool,
    },
}

impl Elem {
    /// A single number.
    pub fn val(v: u128) -> Elem {
        Elem::Range(v, v)
    }
}

/// Where the values of a comparison come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Values {
    /// Inline values; each entry has one element per key component (concatenations).
    Inline(Vec<Vec<Elem>>),
    /// A named set of the rule's table (nft `@name`).
    Named(String),
    /// An ipset (iptables `-m set --match-set NAME`).
    Ipset(String),
}

/// A condition of a rule. Three-valued when evaluated: true, false or unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Match {
    /// `key [& mask] (==|!=) values`: the key (one field, or a concatenation) is (not) in the
    /// set of values. A field's dependency (e.g. TCP for `tcp dport`, IPv4 for `ip saddr`)
    /// failing makes the match false regardless of `negated`.
    Cmp {
        /// Fields concatenated to form the key.
        key: Vec<Field>,
        /// Optional bit mask applied to a single-field key before comparing.
        mask: Option<u128>,
        /// `!=` / `!`.
        negated: bool,
        /// The values.
        values: Values,
    },
    /// A condition on traffic history (a rate limit, a `recent` list, a connection count)
    /// decided under a stated assumption: the packet is the first connection from a source
    /// that has not exceeded any rate and is in no list. With
    /// [`Packet::assume_fresh_source`] off it is unknown instead.
    Assumed {
        /// Whether the match holds under the assumption.
        holds: bool,
        /// The assumption, in words (e.g. "fewer than 3/minute from this source").
        assumption: String,
        /// The expression's own text.
        text: String,
    },
    /// Matches a header the evaluated packet does not carry (IPv6 extension headers such as
    /// the routing header of `-m rt`): false for the plain TCP/UDP packets asked about.
    Absent {
        /// The header.
        header: String,
        /// The expression's own text.
        text: String,
    },
    /// A random choice made per connection (`-m statistic`, `numgen … == N`): it holds for
    /// some connections and not for others. Both are followed as alternatives and reported
    /// as such (one of N endpoints), never guessed.
    Chance {
        /// The expression's own text.
        text: String,
    },
    /// Something this crate does not model; never guessed.
    Unmodelled {
        /// Why it is not modelled.
        reason: String,
        /// The expression's own text.
        text: String,
    },
}

/// Non-terminal statements of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Statement {
    /// Counter (kept, ignored).
    Counter,
    /// Log (kept, ignored); the text of its options.
    Log(String),
    /// Sets the packet mark: `mark = (mark & !mask) ^ value`.
    SetMark {
        /// Value XORed in.
        value: u32,
        /// Bits cleared first.
        mask: u32,
    },
    /// Changes the packet mark to something not modelled (e.g. restored from conntrack).
    MarkUnknown(String),
    /// Sets the conntrack mark: `ctmark = (ctmark & !mask) ^ value`.
    SetCtMark {
        /// Value XORed in.
        value: u32,
        /// Bits cleared first.
        mask: u32,
    },
    /// Copies packet mark bits to the conntrack mark (`ct mark set mark`, `--save-mark`).
    SaveMark {
        /// Bits copied.
        mask: u32,
    },
    /// Copies conntrack mark bits to the packet mark (`meta mark set ct mark`,
    /// `--restore-mark`).
    RestoreMark {
        /// Bits copied.
        mask: u32,
    },
    /// Changes the conntrack mark in a way that is not modelled.
    CtMarkUnknown(String),
    /// Marks the connection untracked (`notrack`, `-j CT --notrack`): ct state becomes untracked.
    Notrack,
    /// Any other statement without effect on the filtering decision (kept, ignored).
    Other(String),
}

/// Kind of reject.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectKind {
    /// TCP RST.
    TcpReset,
    /// ICMP/ICMPv6 port unreachable (the default).
    PortUnreachable,
    /// ICMP admin prohibited.
    AdminProhibited,
    /// ICMP host unreachable.
    HostUnreachable,
    /// ICMP net unreachable.
    NetUnreachable,
    /// ICMP protocol unreachable.
    ProtoUnreachable,
    /// ICMP host prohibited.
    HostProhibited,
    /// ICMP net prohibited.
    NetProhibited,
    /// ICMPv6 no route.
    NoRoute,
    /// ICMPv6 address unreachable.
    AddrUnreachable,
    /// Anything else, by name.
    Other(String),
}

impl RejectKind {
    /// The nft name of the reject: `tcp reset`, `icmp port-unreachable`, …
    pub fn label(&self) -> String {
        match self {
            RejectKind::TcpReset => "tcp reset".into(),
            RejectKind::PortUnreachable => "icmp port-unreachable".into(),
            RejectKind::AdminProhibited => "icmp admin-prohibited".into(),
            RejectKind::HostUnreachable => "icmp host-unreachable".into(),
            RejectKind::NetUnreachable => "icmp net-unreachable".into(),
            RejectKind::ProtoUnreachable => "icmp protocol-unreachable".into(),
            RejectKind::HostProhibited => "icmp host-prohibited".into(),
            RejectKind::NetProhibited => "icmp net-prohibited".into(),
            RejectKind::NoRoute => "icmpv6 no-route".into(),
            RejectKind::AddrUnreachable => "icmpv6 addr-unreachable".into(),
            RejectKind::Other(o) => o.clone(),
        }
    }
}

impl Decision {
    /// `accept`, `drop`, `reject (tcp reset)`, `unknown`.
    pub fn label(&self) -> String {
        match self {
            Decision::Accept => "accept".into(),
            Decision::Drop => "drop".into(),
            Decision::Reject(k) => format!("reject ({})", k.label()),
            Decision::Unknown(_) => "unknown".into(),
        }
    }
}

/// Final action of a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Accept: ends the current base chain only.
    Accept,
    /// Drop: final.
    Drop,
    /// Reject: final.
    Reject(RejectKind),
    /// Jump to a chain; continue after it on return.
    Jump(String),
    /// Goto a chain; on its return, return from the current chain.
    Goto(String),
    /// Return to the calling chain (in a base chain: apply its policy).
    Return,
    /// No verdict: continue with the next rule (counter/log-only rules).
    Continue,
    /// Verdict map: look the key up, apply the verdict found; no entry: next rule.
    Vmap {
        /// Key fields.
        key: Vec<Field>,
        /// The map.
        map: VerdictMap,
    },
    /// `redirect` / `-j REDIRECT`: the packet is delivered to this host, to the given port
    /// (`None`: the same port); ends the base chain like accept. Later address matches on
    /// the destination are unknown (it becomes the incoming interface's primary address).
    Redirect(Option<u16>),
    /// `dnat to …` / `-j DNAT --to-destination …`: the destination is rewritten (in a nat
    /// chain, for the first packet); ends the base chain like accept, and the later nat chains
    /// of the hook do not run. The routing decision then uses the new address.
    Dnat(NatTo),
    /// `snat to …` / `-j SNAT --to-source …`: the source is rewritten (postrouting, input).
    Snat(NatTo),
    /// `masquerade` / `-j MASQUERADE`: the source becomes the output interface's address.
    Masquerade,
    /// `numgen … vmap { … }`: a verdict chosen per connection by a number generator; every
    /// value is followed as an alternative.
    NumgenVmap {
        /// The generator.
        numgen: Numgen,
        /// Value → verdict.
        map: VerdictMap,
    },
    /// A verdict or packet rewrite that is not modelled (queue, tproxy, …): reaching it makes
    /// the result unknown.
    Unmodelled(String),
}

/// A number generator (`numgen random|inc mod N offset K`): one of N values per connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Numgen {
    /// `random` (else `inc`, round robin).
    pub random: bool,
    /// Number of values.
    pub modulus: u32,
    /// First value.
    pub offset: u32,
}

/// Where a NAT statement sends the packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NatTo {
    /// A fixed target: an inclusive address range (`None`: the address is kept) and an
    /// inclusive port range (`None`: the port is kept).
    Fixed {
        /// Addresses.
        addr: Option<(IpAddr, IpAddr)>,
        /// Ports.
        port: Option<(u16, u16)>,
    },
    /// Looked up by packet fields (`dnat to ip daddr map { … }`); each entry's action is a
    /// `Dnat`/`Snat` with a fixed target; no entry: the rule does nothing.
    Map {
        /// Key fields.
        key: Vec<Field>,
        /// Entries.
        map: VerdictMap,
    },
    /// Chosen per connection by a number generator (`dnat to numgen inc mod 2 map { … }`).
    Numgen {
        /// The generator.
        numgen: Numgen,
        /// Value → fixed target (as a `Dnat`/`Snat` action).
        map: VerdictMap,
    },
}

/// The entries of a verdict map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictMap {
    /// Inline entries (key elements, verdict).
    Inline(Vec<(Vec<Elem>, Action)>),
    /// A named map of the table.
    Named(String),
}

/// A named set or map (nft) or an ipset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedSet {
    /// Name.
    pub name: String,
    /// Key type names as the backend prints them (e.g. `ipv4_addr`, `inet_service`, `hash:ip`).
    pub key_types: Vec<String>,
    /// Elements; `None` when they could not be read (unknown contents).
    pub elements: Option<Vec<Vec<Elem>>>,
    /// For verdict maps, the verdict of each element (same order as `elements`).
    pub verdicts: Option<Vec<Action>>,
    /// Why the contents are unknown, if they are.
    pub unknown_reason: Option<String>,
}

/// Conntrack state of the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CtState {
    /// First packet of a connection (e.g. a SYN).
    New,
    /// Part of an established connection.
    Established,
    /// Related to an existing connection.
    Related,
    /// Invalid.
    Invalid,
    /// Not tracked.
    Untracked,
}

impl CtState {
    /// The conntrack state bit used by [`Field::CtState`].
    pub fn bit(self) -> u128 {
        match self {
            CtState::Invalid => 1,
            CtState::Established => 2,
            CtState::Related => 4,
            CtState::New => 8,
            CtState::Untracked => 64,
        }
    }
}

/// Transport protocol of the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Proto {
    /// TCP (6).
    Tcp,
    /// UDP (17).
    Udp,
    /// SCTP (132).
    Sctp,
    /// ICMP (1).
    Icmp,
    /// ICMPv6 (58).
    Icmpv6,
    /// Any other IP protocol number.
    Other(u8),
}

impl Proto {
    /// IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
            Proto::Sctp => 132,
            Proto::Icmp => 1,
            Proto::Icmpv6 => 58,
            Proto::Other(n) => n,
        }
    }

    /// Whether the protocol carries ports (TCP, UDP, SCTP, UDP-Lite, DCCP).
    pub fn has_ports(self) -> bool {
        matches!(self.number(), 6 | 17 | 132 | 136 | 33)
    }
}

/// The inbound packet to evaluate (first packet of a connection by default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Packet {
    /// IP version; must agree with `src` and `dst`.
    pub family: IpFamily,
    /// Transport protocol.
    pub proto: Proto,
    /// Source address.
    pub src: IpAddr,
    /// Destination address (assumed to be a local address of the host: `fib daddr type`
    /// and `-m addrtype --dst-type` evaluate it as LOCAL).
    pub dst: IpAddr,
    /// Source port (0 when the protocol has none).
    pub sport: u16,
    /// Destination port (0 when the protocol has none).
    pub dport: u16,
    /// Input interface name; `None` = unknown (interface matches are then unknown).
    pub iif: Option<String>,
    /// Conntrack state; `new` for a first SYN.
    pub ct_state: CtState,
    /// TCP flags byte (default SYN = 0x02); ignored for non-TCP packets.
    #[serde(default = "default_tcp_flags")]
    pub tcp_flags: u8,
    /// Packet mark on arrival (`None` = unknown; default 0).
    #[serde(default = "default_mark")]
    pub mark: Option<u32>,
    /// Decide rate limits, `recent` lists and connection counts as for a first connection
    /// from a source that has exceeded nothing ([`Match::Assumed`]); the assumptions used
    /// are reported in [`Verdict::assumptions`]. Off: such matches are unknown.
    #[serde(default = "default_true")]
    pub assume_fresh_source: bool,
    /// The program that owns the listening socket (full image path on Windows), when known:
    /// Windows Firewall rules can be limited to a program.
    #[serde(default)]
    pub local_program: Option<String>,
    /// The service (Windows service short name) that owns the listening socket, when known.
    #[serde(default)]
    pub local_service: Option<String>,
    /// The route back to the source, from the live routing table (reverse-path filters and
    /// source address types need it); `None`: not known (saved rulesets).
    #[serde(default)]
    pub reverse_path: Option<ReversePath>,
    /// The host's routes and forwarding switches (live hosts): where a connection goes once
    /// NAT rewrote its destination. `None` for saved rulesets (then that is unknown).
    #[serde(skip)]
    pub routing: Option<std::sync::Arc<RouteTable>>,
    /// Evaluate as if no DNAT or redirect applied: what the way to a local socket alone
    /// decides (e.g. whether a ufw rule would block a port that NAT sends elsewhere).
    #[serde(default)]
    pub ignore_nat: bool,
}

/// What the routing table says about a packet's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReversePath {
    /// A route back to the source leaves through the input interface (strict check passes).
    pub strict: bool,
    /// Some route back to the source exists (loose check passes).
    pub loose: bool,
    /// The routing type of the source address (1 unicast, 2 local, 3 broadcast, …).
    pub src_type: u8,
}

fn default_true() -> bool {
    true
}

fn default_tcp_flags() -> u8 {
    0x02
}

fn default_mark() -> Option<u32> {
    Some(0)
}

impl Packet {
    /// A first TCP SYN from `src` to `dst:dport`, source port 40000, unknown interface.
    pub fn tcp_syn(src: IpAddr, dst: IpAddr, dport: u16) -> Packet {
        Packet::new(Proto::Tcp, src, dst, dport)
    }

    /// A first packet (ct state new) of `proto` from `src` to `dst:dport`; source port 40000,
    /// interface unknown, TCP flags SYN, mark 0.
    pub fn new(proto: Proto, src: IpAddr, dst: IpAddr, dport: u16) -> Packet {
        let family = if src.is_ipv4() {
            IpFamily::Ipv4
        } else {
            IpFamily::Ipv6
        };
        Packet {
            family,
            proto,
            src,
            dst,
            sport: 40000,
            dport,
            iif: None,
            ct_state: CtState::New,
            tcp_flags: 0x02,
            mark: Some(0),
            assume_fresh_source: true,
            local_program: None,
            local_service: None,
            reverse_path: None,
            routing: None,
            ignore_nat: false,
        }
    }

    /// Builder: set the input interface.
    pub fn with_iif(mut self, iif: &str) -> Packet {
        self.iif = Some(iif.to_string());
        self
    }
}

/// The final decision for a packet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The packet reaches the local socket layer.
    Accept,
    /// Silently dropped.
    Drop,
    /// Rejected with an error sent back.
    Reject(RejectKind),
    /// Cannot be known from the ruleset; the reason says why.
    Unknown(String),
}

/// Names the rule (or chain policy) that decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRef {
    /// Backend.
    pub backend: Backend,
    /// Table family.
    pub family: Family,
    /// Table name.
    pub table: String,
    /// Chain name.
    pub chain: String,
    /// nft rule handle.
    pub handle: Option<u64>,
    /// 1-based position in the chain (0 for a chain policy).
    pub position: usize,
    /// Rule text (for a policy: `policy drop`).
    pub text: String,
    /// Rule comment.
    pub comment: Option<String>,
    /// True when the chain's policy decided, not a rule.
    pub is_policy: bool,
}

/// What happened at one step of the evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// Entered a base chain.
    EnterBaseChain,
    /// A rule matched and its action was taken.
    Matched,
    /// A rule's match could not be decided; both outcomes were followed.
    Undecided,
    /// Jumped to / went to a chain.
    Jump,
    /// Returned from a chain.
    Return,
    /// The chain's policy applied.
    Policy,
    /// A statement changed the packet state (mark, notrack).
    StateChange,
    /// The final decision for this path.
    Decided,
    /// A note (e.g. an unmodelled effect).
    Note,
    /// NAT rewrote the destination or the source.
    Nat,
    /// The routing decision: local delivery or forwarding, and out of which interface.
    Route,
    /// One of several alternatives chosen per connection (`numgen`, `-m statistic`).
    Choice,
}

impl StepKind {
    /// Words for the step: `enter base chain`, `matched`, …
    pub fn label(&self) -> &'static str {
        match self {
            StepKind::EnterBaseChain => "enter base chain",
            StepKind::Matched => "matched",
            StepKind::Undecided => "undecided",
            StepKind::Jump => "jump",
            StepKind::Return => "return",
            StepKind::Policy => "policy",
            StepKind::StateChange => "state change",
            StepKind::Decided => "decided",
            StepKind::Note => "note",
            StepKind::Nat => "nat",
            StepKind::Route => "route",
            StepKind::Choice => "choice",
        }
    }
}

/// One step of the trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What happened.
    pub kind: StepKind,
    /// Backend of the chain.
    pub backend: Backend,
    /// Table.
    pub table: String,
    /// Chain.
    pub chain: String,
    /// 1-based rule position (0 for chain-level steps).
    pub position: usize,
    /// nft handle of the rule.
    pub handle: Option<u64>,
    /// Human-readable detail.
    pub detail: String,
}

/// The evaluation result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    /// Accept / drop / reject / unknown.
    pub decision: Decision,
    /// The rule (or policy) that decided; `None` when no rule decided (empty or inactive
    /// rulesets accept by default) or when several paths agree on the decision but not
    /// on the rule.
    pub decided_by: Option<RuleRef>,
    /// The path taken (the first one when undecided matches forked the evaluation).
    pub trace: Vec<Step>,
    /// Set when a `redirect` sent the packet to another local port: the connection reaches
    /// that port, not the one asked about.
    #[serde(default)]
    pub redirected_to: Option<u16>,
    /// When the decision is unknown: the distinct decisions the possible evaluation paths
    /// reached (e.g. `[drop, reject]`: blocked either way); `unknown` when a path could not be
    /// decided at all. Empty when the decision is definite.
    #[serde(default)]
    pub possible: Vec<Decision>,
    /// Every rule (or policy) that decides on some evaluation path, in path order, without
    /// repeats: one entry when [`Verdict::decided_by`] is set; several when undecided matches
    /// lead to the same decision by different rules, or to different decisions.
    #[serde(default)]
    pub deciders: Vec<RuleRef>,
    /// Assumptions the decision rests on (see [`Match::Assumed`]), e.g. "fewer than
    /// 3/minute from this source".
    #[serde(default)]
    pub assumptions: Vec<String>,
    /// Set when a DNAT rewrote the destination: where the connection goes and how the
    /// routing table sends it there — for a blocked connection, where it was going.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery: Option<Delivery>,
    /// When one of several endpoints is chosen per connection (`numgen`, `-m statistic`):
    /// each of them with its own decision. Empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub endpoints: Vec<Endpoint>,
    /// The hook of the base chain that decided (`forward` for a drop after a DNAT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Hook>,
}

/// What the routing table does with a connection whose destination NAT rewrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteKind {
    /// The new destination is one of this host's addresses: input chains, local socket.
    Local,
    /// Routed on: forward and postrouting chains, then out of `Delivery::oif`.
    Forwarded,
    /// It would be routed on, but forwarding is off (`net.ipv4.ip_forward` /
    /// `net.ipv6.conf.all.forwarding` = 0): the kernel drops it.
    ForwardingOff,
    /// No route to the new destination (the kernel answers network unreachable, rate
    /// limited).
    NoRoute,
    /// A blackhole, unreachable or prohibit route (its type, as `Field::DaddrType` numbers it).
    Unroutable(u8),
    /// Not known; why.
    Unknown(String),
}

/// Where NAT sends a connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The translated destination address.
    pub addr: IpAddr,
    /// The translated port; `None` when the kernel picks one from a range.
    pub port: Option<u16>,
    /// What the routing table does with it.
    pub route: RouteKind,
    /// The output interface, when forwarded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oif: Option<String>,
    /// The rule that rewrote the destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nat_rule: Option<RuleRef>,
}

impl Delivery {
    /// `addr:port` when the port is known.
    pub fn socket(&self) -> Option<SocketAddr> {
        self.port.map(|p| SocketAddr::new(self.addr, p))
    }

    /// Whether the connection is routed on (forward hook) rather than delivered here.
    pub fn forwarded(&self) -> bool {
        self.route == RouteKind::Forwarded
    }

    /// `172.17.0.2:80` or `172.17.0.2 (a port of 80-90)`.
    pub fn target_text(&self) -> String {
        match self.port {
            Some(p) => SocketAddr::new(self.addr, p).to_string(),
            None => format!("{} (a port the kernel picks)", self.addr),
        }
    }
}

/// One of the endpoints a load-balanced connection may be sent to, with its decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Where this alternative sends the connection (`None`: not rewritten).
    pub delivery: Option<Delivery>,
    /// Its decision.
    pub decision: Decision,
    /// The deciding rule, as [`Verdict::decided_by`].
    pub decided_by: Option<RuleRef>,
    /// The hook of the deciding base chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<Hook>,
    /// For an unknown decision: the decisions its paths reach.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub possible: Vec<Decision>,
    /// The choices that lead here, in order.
    pub via: Vec<String>,
    /// The path taken.
    pub trace: Vec<Step>,
}

impl Verdict {
    /// An unknown verdict with its reason and nothing else.
    pub fn unknown(reason: impl Into<String>) -> Verdict {
        Verdict {
            decision: Decision::Unknown(reason.into()),
            decided_by: None,
            trace: vec![],
            redirected_to: None,
            possible: vec![],
            deciders: vec![],
            assumptions: vec![],
            delivery: None,
            endpoints: vec![],
            decided_at: None,
        }
    }

    /// A verdict decided by one rule (or policy) `r` of a single-step engine (Windows, pf),
    /// with the one trace step that says so.
    pub fn decided(
        decision: Decision,
        r: RuleRef,
        detail: String,
        assumptions: Vec<String>,
    ) -> Verdict {
        let step = Step {
            kind: StepKind::Decided,
            backend: r.backend,
            table: r.table.clone(),
            chain: r.chain.clone(),
            position: r.position,
            handle: None,
            detail,
        };
        Verdict {
            trace: vec![step],
            decision,
            decided_by: Some(r.clone()),
            deciders: vec![r],
            assumptions,
            ..Verdict::unknown("")
        }
    }
}
