//! The few Windows Defender Firewall operations the applier needs, behind a trait: COM
//! `INetFwPolicy2` on Windows (`com.rs`), an in-memory fake in tests, and a stand-in that
//! refuses everywhere else.

use crate::FixError;
use portdoctor_firewall::windows::Profile;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// `INetFwRule::Protocol` for "any protocol".
pub const ANY_PROTOCOL: i32 = 256;
/// `INetFwRule::Profiles` for every profile (`NET_FW_PROFILE2_ALL`).
pub const ALL_PROFILES: i32 = 0x7fff_ffff;

/// A rule as `INetFwRule` shows it: the properties portdoctor sets, and those that tell one
/// rule from another (COM has no rule id: rules are found by these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleState {
    /// `Name` (what netsh and the MMC call the rule name; PowerShell's DisplayName).
    pub name: String,
    /// `Grouping`.
    pub grouping: String,
    /// `Enabled`.
    pub enabled: bool,
    /// `Direction` is inbound.
    pub inbound: bool,
    /// `Action` is allow (else block).
    pub allow: bool,
    /// `Protocol` (6 TCP, 17 UDP, [`ANY_PROTOCOL`]).
    pub protocol: i32,
    /// `LocalPorts` (`*` or empty: any).
    pub local_ports: String,
    /// `RemotePorts`.
    pub remote_ports: String,
    /// `LocalAddresses`.
    pub local_addresses: String,
    /// `RemoteAddresses` (`*`: any).
    pub remote_addresses: String,
    /// `Profiles` bit mask (1 Domain, 2 Private, 4 Public; [`ALL_PROFILES`]).
    pub profiles: i32,
    /// `ApplicationName` (empty: any program).
    pub application: String,
    /// `ServiceName` (empty: any).
    pub service: String,
}

impl RuleState {
    /// A new enabled inbound rule with every filter at "any".
    pub fn inbound(name: &str) -> RuleState {
        RuleState {
            name: name.to_string(),
            grouping: String::new(),
            enabled: true,
            inbound: true,
            allow: true,
            protocol: ANY_PROTOCOL,
            local_ports: "*".into(),
            remote_ports: "*".into(),
            local_addresses: "*".into(),
            remote_addresses: "*".into(),
            profiles: ALL_PROFILES,
            application: String::new(),
            service: String::new(),
        }
    }

    /// Whether `other` is this rule, allowing for the spellings Windows normalises (an
    /// address `a.b.c.d` is read back as `a.b.c.d/255.255.255.255`, "any" as `*`, program
    /// paths in any case).
    pub fn same(&self, other: &RuleState) -> bool {
        let text = |a: &str, b: &str| any_norm(a).eq_ignore_ascii_case(&any_norm(b));
        self.name == other.name
            && self.grouping == other.grouping
            && self.enabled == other.enabled
            && self.inbound == other.inbound
            && self.allow == other.allow
            && self.protocol == other.protocol
            && self.profiles & 7 == other.profiles & 7
            && text(&self.local_ports, &other.local_ports)
            && text(&self.remote_ports, &other.remote_ports)
            && addresses(&self.local_addresses) == addresses(&other.local_addresses)
            && addresses(&self.remote_addresses) == addresses(&other.remote_addresses)
            && text(&self.application, &other.application)
            && text(&self.service, &other.service)
    }
}

/// Whether a property's text means "any" (empty, `*`, `any`).
pub fn is_any(s: &str) -> bool {
    any_norm(s) == "*"
}

/// `*` for the spellings of "any" (empty, `any`, `*`).
fn any_norm(s: &str) -> String {
    let t = s.trim();
    if t.is_empty() || t == "*" || t.eq_ignore_ascii_case("any") {
        "*".into()
    } else {
        t.replace(' ', "")
    }
}

/// An address list in one spelling: host masks dropped, lower case, sorted.
fn addresses(s: &str) -> Vec<String> {
    let mut out: Vec<String> = any_norm(s)
        .split(',')
        .map(|a| {
            let a = a.to_ascii_lowercase();
            a.strip_suffix("/255.255.255.255")
                .or_else(|| a.strip_suffix("/32"))
                .or_else(|| a.strip_suffix("/128"))
                .unwrap_or(&a)
                .to_string()
        })
        .collect();
    out.sort();
    out
}

/// One property portdoctor changes on an existing rule, with its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "field", content = "value")]
pub enum Field {
    /// `Enabled`.
    Enabled(bool),
    /// `Profiles`.
    Profiles(i32),
    /// `LocalPorts`.
    LocalPorts(String),
    /// `RemoteAddresses`.
    RemoteAddresses(String),
}

impl Field {
    /// The same property's value in `rule`.
    pub fn of(&self, rule: &RuleState) -> Field {
        match self {
            Field::Enabled(_) => Field::Enabled(rule.enabled),
            Field::Profiles(_) => Field::Profiles(rule.profiles),
            Field::LocalPorts(_) => Field::LocalPorts(rule.local_ports.clone()),
            Field::RemoteAddresses(_) => Field::RemoteAddresses(rule.remote_addresses.clone()),
        }
    }

    /// `rule` with this value set.
    pub fn set_in(&self, rule: &RuleState) -> RuleState {
        let mut r = rule.clone();
        match self {
            Field::Enabled(v) => r.enabled = *v,
            Field::Profiles(v) => r.profiles = *v,
            Field::LocalPorts(v) => r.local_ports.clone_from(v),
            Field::RemoteAddresses(v) => r.remote_addresses.clone_from(v),
        }
        r
    }
}

/// One profile setting portdoctor changes (`INetFwPolicy2`, per profile), with its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "setting", content = "value")]
pub enum ProfileSetting {
    /// `BlockAllInboundTraffic`: "Block all incoming connections", every allow rule ignored
    /// (PowerShell's `AllowInboundRules` False).
    BlockAllInbound(bool),
}

impl ProfileSetting {
    /// Whether `other` is a value of the same setting.
    pub fn same_setting(self, other: ProfileSetting) -> bool {
        std::mem::discriminant(&self) == std::mem::discriminant(&other)
    }
}

/// Why a firewall call did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ApiError {
    /// Not on Windows: there is no Windows Defender Firewall to change.
    #[error("Windows Defender Firewall changes can only be applied on Windows")]
    NotWindows,
    /// A COM call failed (the call and its HRESULT message; Wine answers several with
    /// E_NOTIMPL).
    #[error("{call} failed: {message}")]
    Call {
        /// The interface method (`INetFwRules::Add`).
        call: String,
        /// The error.
        message: String,
    },
    /// The rule to change is not there, or not only once; or a setting is not as recorded.
    #[error("{0}")]
    NotFound(String),
}

impl From<ApiError> for FixError {
    fn from(e: ApiError) -> FixError {
        match e {
            ApiError::Call { call, message } => FixError::Command {
                command: call,
                stderr: message,
            },
            other => FixError::Refused(other.to_string()),
        }
    }
}

/// The operations on the active policy (`INetFwPolicy2::Rules`).
pub trait FirewallApi {
    /// Every rule of the policy.
    fn rules(&self) -> Result<Vec<RuleState>, ApiError>;
    /// Adds `rule`.
    fn add(&self, rule: &RuleState) -> Result<(), ApiError>;
    /// Sets one property of the one rule that is `rule` ([`RuleState::same`]).
    fn set(&self, rule: &RuleState, value: &Field) -> Result<(), ApiError>;
    /// Removes the rule named `rule.name`; the caller checked it is the only one so named.
    fn remove(&self, rule: &RuleState) -> Result<(), ApiError>;
    /// The value `profile` has for the setting `of` is a value of.
    fn profile_setting(
        &self,
        profile: Profile,
        of: ProfileSetting,
    ) -> Result<ProfileSetting, ApiError>;
    /// Gives `profile` the setting's value `to` (the caller compared the old value first).
    fn put_profile_setting(&self, profile: Profile, to: ProfileSetting) -> Result<(), ApiError>;
}

/// The rules named `name`.
pub fn named(api: &dyn FirewallApi, name: &str) -> Result<Vec<RuleState>, ApiError> {
    Ok(api
        .rules()?
        .into_iter()
        .filter(|r| r.name == name)
        .collect())
}

/// The rules in group `grouping`.
pub fn grouped(api: &dyn FirewallApi, grouping: &str) -> Result<Vec<RuleState>, ApiError> {
    Ok(api
        .rules()?
        .into_iter()
        .filter(|r| r.grouping == grouping)
        .collect())
}

/// Where there is no Windows Defender Firewall: every call says so.
pub struct NotWindows;

impl FirewallApi for NotWindows {
    fn rules(&self) -> Result<Vec<RuleState>, ApiError> {
        Err(ApiError::NotWindows)
    }
    fn add(&self, _: &RuleState) -> Result<(), ApiError> {
        Err(ApiError::NotWindows)
    }
    fn set(&self, _: &RuleState, _: &Field) -> Result<(), ApiError> {
        Err(ApiError::NotWindows)
    }
    fn remove(&self, _: &RuleState) -> Result<(), ApiError> {
        Err(ApiError::NotWindows)
    }
    fn profile_setting(&self, _: Profile, _: ProfileSetting) -> Result<ProfileSetting, ApiError> {
        Err(ApiError::NotWindows)
    }
    fn put_profile_setting(&self, _: Profile, _: ProfileSetting) -> Result<(), ApiError> {
        Err(ApiError::NotWindows)
    }
}
