//! Windows Defender Firewall state: rules with their filters, profile settings and the
//! profile of each interface. Every reader (PowerShell JSON, Export-FirewallRules CSV,
//! `netsh` text, registry rule strings, COM) produces these types.

use crate::addr::{IpRange, PortSpan};
use serde::{Deserialize, Serialize};

/// A network profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// Domain (the interface authenticated to a domain controller).
    Domain,
    /// Private.
    Private,
    /// Public.
    Public,
}

impl Profile {
    /// All three, in Windows' order.
    pub const ALL: [Profile; 3] = [Profile::Domain, Profile::Private, Profile::Public];

    /// The flag bit (Domain=1, Private=2, Public=4).
    pub fn bit(self) -> u8 {
        match self {
            Profile::Domain => 1,
            Profile::Private => 2,
            Profile::Public => 4,
        }
    }

    /// English name as PowerShell prints it.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Domain => "Domain",
            Profile::Private => "Private",
            Profile::Public => "Public",
        }
    }
}

/// A set of profiles (flags; 0 or 7 = any).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Profiles(pub u8);

impl Profiles {
    /// Every profile.
    pub const ANY: Profiles = Profiles(7);

    /// Whether the set holds `p` (an empty set means any, as PowerShell's `Any` = 0).
    pub fn has(self, p: Profile) -> bool {
        self.0 == 0 || self.0 & p.bit() != 0
    }

    /// `Domain, Private` style list, or `Any`.
    pub fn describe(self) -> String {
        if self.0 == 0 || self.0 & 7 == 7 {
            return "Any".into();
        }
        let names: Vec<&str> = Profile::ALL
            .iter()
            .filter(|p| self.0 & p.bit() != 0)
            .map(|p| p.name())
            .collect();
        names.join(", ")
    }
}

/// Rule action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleAction {
    /// Allow.
    Allow,
    /// Block.
    Block,
    /// Allow even over block rules (authenticated bypass; needs IPsec-authenticated peers).
    Bypass,
}

/// Rule direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Inbound.
    In,
    /// Outbound.
    Out,
}

/// Policy store a rule comes from (PowerShell `PolicyStoreSourceType`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Store {
    /// The local (persistent) store.
    Local,
    /// A Group Policy object (local or domain GPO).
    GroupPolicy,
    /// Dynamic (added at run time, not persisted).
    Dynamic,
    /// Generated (e.g. by Windows Service Hardening).
    Generated,
    /// Hard-coded.
    Hardcoded,
    /// Not recorded by the source (e.g. non-verbose `netsh`, Export-FirewallRules CSV).
    Unknown,
}

impl Store {
    /// Name used in [`crate::RuleRef::table`].
    pub fn label(&self) -> &'static str {
        match self {
            Store::Local => "Local",
            Store::GroupPolicy => "GroupPolicy",
            Store::Dynamic => "Dynamic",
            Store::Generated => "Generated",
            Store::Hardcoded => "Hardcoded",
            Store::Unknown => "unknown store",
        }
    }
}

/// A filter value that a source did not record (so it cannot be decided offline).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Recorded<T> {
    /// The value.
    Known(T),
    /// Not in the source; the reason.
    Missing(String),
}

/// Transport protocol filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProtoFilter {
    /// Any protocol.
    Any,
    /// One IP protocol number (TCP 6, UDP 17, ICMPv4 1, ICMPv6 58, …).
    Number(u8),
}

/// One element of a port filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortItem {
    /// A port or a range.
    Span(PortSpan),
    /// A keyword whose ports are decided at run time (`RPC`, `RPCEPMap`, `IPHTTPS`,
    /// `Teredo`, `PlayToDiscovery`, `mDNS`…), by name.
    Keyword(String),
}

/// A port filter: `None` = any.
pub type PortFilter = Option<Vec<PortItem>>;

/// One element of an address filter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddrItem {
    /// An address, prefix or range.
    Range(IpRange),
    /// A keyword (`LocalSubnet`, `LocalSubnet4`, `LocalSubnet6`, `Internet`, `Intranet`,
    /// `DNS`, `DHCP`, `WINS`, `DefaultGateway`, …), by its canonical name.
    Keyword(String),
}

/// An address filter: `None` = any.
pub type AddrFilter = Option<Vec<AddrItem>>;

/// Edge traversal policy (inbound rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EdgeTraversal {
    /// Block (default).
    Block,
    /// Allow.
    Allow,
    /// Defer to the user.
    DeferToUser,
    /// Defer to the application.
    DeferToApp,
}

/// Interface type filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InterfaceType {
    /// Wired (LAN).
    Wired,
    /// Wireless.
    Wireless,
    /// Remote access (VPN, dial-up).
    RemoteAccess,
}

/// One firewall rule with its six filters joined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WinRule {
    /// Unique name (`Name` / InstanceID; `TCP Query User{GUID}path` for prompt rules).
    /// Non-verbose `netsh` does not show it: then the display name is used.
    pub name: String,
    /// Display name (what `netsh` calls "Rule Name").
    pub display_name: String,
    /// Group (`Group`/`DisplayGroup`; `netsh` "Grouping"); empty when none.
    pub group: String,
    /// Policy store.
    pub store: Store,
    /// Enabled.
    pub enabled: bool,
    /// Direction.
    pub direction: Direction,
    /// Action.
    pub action: RuleAction,
    /// Profiles.
    pub profiles: Profiles,
    /// Protocol.
    pub protocol: ProtoFilter,
    /// Local ports (`None` = any).
    pub local_ports: PortFilter,
    /// Remote ports (`None` = any).
    pub remote_ports: PortFilter,
    /// Local addresses (`None` = any).
    pub local_addresses: AddrFilter,
    /// Remote addresses (`None` = any).
    pub remote_addresses: AddrFilter,
    /// Program (`None` = any; `System` for kernel listeners), as written (variables kept).
    pub program: Recorded<Option<String>>,
    /// Service short name (`None` = any; `*` = any service).
    pub service: Recorded<Option<String>>,
    /// AppContainer package SID (`None` = not limited to a package).
    pub package: Recorded<Option<String>>,
    /// Interface aliases (`None` = any).
    pub interfaces: Option<Vec<String>>,
    /// Interface types (`None` = any).
    pub interface_types: Option<Vec<InterfaceType>>,
    /// Edge traversal.
    pub edge: EdgeTraversal,
    /// Requires IPsec authentication or encryption (security filter other than NotRequired).
    pub requires_security: bool,
}

impl WinRule {
    /// A new inbound allow rule with every filter at "any" (local store, enabled).
    pub fn inbound(display_name: &str, action: RuleAction) -> WinRule {
        WinRule {
            name: display_name.to_string(),
            display_name: display_name.to_string(),
            group: String::new(),
            store: Store::Local,
            enabled: true,
            direction: Direction::In,
            action,
            profiles: Profiles::ANY,
            protocol: ProtoFilter::Any,
            local_ports: None,
            remote_ports: None,
            local_addresses: None,
            remote_addresses: None,
            program: Recorded::Known(None),
            service: Recorded::Known(None),
            package: Recorded::Known(None),
            interfaces: None,
            interface_types: None,
            edge: EdgeTraversal::Block,
            requires_security: false,
        }
    }

    /// Whether Windows created this rule when someone cancelled (block) or accepted (allow)
    /// the "allow access" prompt: its name is `TCP Query User{GUID}path` / `UDP Query User…`.
    pub fn is_query_user(&self) -> bool {
        let n = self.name.trim_start();
        n.starts_with("TCP Query User{") || n.starts_with("UDP Query User{")
    }
}

/// A three-valued setting (PowerShell `GpoBoolean`: False=0, True=1, NotConfigured=2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Setting {
    /// True / on.
    On,
    /// False / off.
    Off,
    /// Not configured in this store (Windows then uses the default).
    NotConfigured,
}

/// Settings of one profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfileSettings {
    /// Which profile.
    pub profile: Profile,
    /// Firewall on for this profile (NotConfigured counts as on: Windows' default).
    pub enabled: Setting,
    /// Default inbound action (`None`: not recorded; Windows' default is block).
    pub default_inbound_block: Option<bool>,
    /// Inbound rules honoured (`AllowInboundRules`); Off = "block all incoming connections".
    pub allow_inbound_rules: Setting,
    /// Local-store rules merged (`AllowLocalFirewallRules`, a GPO setting).
    pub allow_local_rules: Setting,
}

impl ProfileSettings {
    /// Windows' defaults: on, block inbound, rules honoured, local rules merged.
    pub fn default_for(profile: Profile) -> ProfileSettings {
        ProfileSettings {
            profile,
            enabled: Setting::NotConfigured,
            default_inbound_block: None,
            allow_inbound_rules: Setting::NotConfigured,
            allow_local_rules: Setting::NotConfigured,
        }
    }
}

/// An interface and the profile of the network it is connected to (`Get-NetConnectionProfile`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// Interface alias (`Ethernet`, `Wi-Fi`), matched against [`crate::Packet::iif`].
    pub alias: String,
    /// Profile of its network (`NetworkCategory`: DomainAuthenticated → Domain).
    pub profile: Profile,
    /// Its type, when known.
    pub kind: Option<InterfaceType>,
    /// Its addresses with prefix lengths (for `LocalSubnet`), when known.
    pub subnets: Vec<IpRange>,
}
