//! [`FirewallApi`] over COM: `INetFwPolicy2::Rules` (`INetFwRules`: enumerate, `Add`,
//! `Remove`), `INetFwRule` properties and `INetFwPolicy2`'s per-profile
//! `BlockAllInboundTraffic`. The policy object and the enumeration are the
//! firewall crate's live reader's. Each unsafe block is one COM call with its SAFETY note.
#![allow(unsafe_code)]

use super::api::{ApiError, Field, FirewallApi, ProfileSetting, RuleState, is_any};
use portdoctor_firewall::windows::Profile;
use portdoctor_firewall::windows::live::{open_policy, rule_objects};
use windows::Win32::Foundation::VARIANT_BOOL;
use windows::Win32::NetworkManagement::WindowsFirewall::{
    INetFwPolicy2, INetFwRule, INetFwRules, NET_FW_ACTION_ALLOW, NET_FW_ACTION_BLOCK,
    NET_FW_PROFILE_TYPE2, NET_FW_RULE_DIR_IN, NET_FW_RULE_DIR_OUT, NetFwRule,
};
use windows::Win32::System::Com::{CLSCTX_INPROC_SERVER, CoCreateInstance};
use windows::core::BSTR;

/// The live policy through COM.
pub struct Com;

/// A COM result with the call named.
fn call<T>(name: &str, r: windows::core::Result<T>) -> Result<T, ApiError> {
    r.map_err(|e| ApiError::Call {
        call: name.to_string(),
        message: e.to_string(),
    })
}

fn text(name: &str, r: windows::core::Result<BSTR>) -> Result<String, ApiError> {
    call(name, r).map(|b| b.to_string())
}

/// The active policy.
fn policy() -> Result<INetFwPolicy2, ApiError> {
    call("CoCreateInstance(NetFwPolicy2)", open_policy())
}

/// The active policy's rule collection.
fn collection() -> Result<INetFwRules, ApiError> {
    let policy = policy()?;
    // SAFETY: property read on a live interface pointer.
    call("INetFwPolicy2::Rules", unsafe { policy.Rules() })
}

/// `NET_FW_PROFILE2_DOMAIN` / `_PRIVATE` / `_PUBLIC`.
fn profile_type(p: Profile) -> NET_FW_PROFILE_TYPE2 {
    NET_FW_PROFILE_TYPE2(i32::from(p.bit()))
}

/// Every rule object of the active policy.
fn objects() -> Result<Vec<INetFwRule>, ApiError> {
    rule_objects(&collection()?).map_err(|(c, e)| ApiError::Call {
        call: c.to_string(),
        message: e.to_string(),
    })
}

/// A rule's properties; an error names the first property that did not answer.
fn state(r: &INetFwRule) -> Result<RuleState, ApiError> {
    // SAFETY (every unsafe block in this function): one property read on a live INetFwRule.
    Ok(RuleState {
        name: text("INetFwRule::Name", unsafe { r.Name() })?,
        grouping: text("INetFwRule::Grouping", unsafe { r.Grouping() })?,
        enabled: call("INetFwRule::Enabled", unsafe { r.Enabled() })?.as_bool(),
        inbound: call("INetFwRule::Direction", unsafe { r.Direction() })? == NET_FW_RULE_DIR_IN,
        allow: call("INetFwRule::Action", unsafe { r.Action() })? == NET_FW_ACTION_ALLOW,
        protocol: call("INetFwRule::Protocol", unsafe { r.Protocol() })?,
        local_ports: text("INetFwRule::LocalPorts", unsafe { r.LocalPorts() })?,
        remote_ports: text("INetFwRule::RemotePorts", unsafe { r.RemotePorts() })?,
        local_addresses: text("INetFwRule::LocalAddresses", unsafe { r.LocalAddresses() })?,
        remote_addresses: text("INetFwRule::RemoteAddresses", unsafe {
            r.RemoteAddresses()
        })?,
        profiles: call("INetFwRule::Profiles", unsafe { r.Profiles() })?,
        application: text("INetFwRule::ApplicationName", unsafe {
            r.ApplicationName()
        })?,
        service: text("INetFwRule::ServiceName", unsafe { r.ServiceName() })?,
    })
}

/// Writes a text property unless the value means "any" (a new rule's default).
fn put_text(
    name: &str,
    value: &str,
    set: impl FnOnce(&BSTR) -> windows::core::Result<()>,
) -> Result<(), ApiError> {
    if is_any(value) {
        return Ok(());
    }
    call(name, set(&BSTR::from(value)))
}

/// A new rule object with `spec`'s properties (protocol before ports, as the API requires).
fn new_rule(spec: &RuleState) -> Result<INetFwRule, ApiError> {
    // SAFETY: creates an in-process rule object by its documented CLSID.
    let r: INetFwRule = call("CoCreateInstance(NetFwRule)", unsafe {
        CoCreateInstance(&NetFwRule, None, CLSCTX_INPROC_SERVER)
    })?;
    // SAFETY (every unsafe block below): one property write on the live rule object, which is
    // not in any policy yet.
    call("INetFwRule::put_Name", unsafe {
        r.SetName(&BSTR::from(spec.name.as_str()))
    })?;
    let group = BSTR::from(spec.grouping.as_str());
    call("INetFwRule::put_Grouping", unsafe { r.SetGrouping(&group) })?;
    let dir = if spec.inbound {
        NET_FW_RULE_DIR_IN
    } else {
        NET_FW_RULE_DIR_OUT
    };
    call("INetFwRule::put_Direction", unsafe { r.SetDirection(dir) })?;
    let action = if spec.allow {
        NET_FW_ACTION_ALLOW
    } else {
        NET_FW_ACTION_BLOCK
    };
    call("INetFwRule::put_Action", unsafe { r.SetAction(action) })?;
    call("INetFwRule::put_Protocol", unsafe {
        r.SetProtocol(spec.protocol)
    })?;
    put_text(
        "INetFwRule::put_LocalPorts",
        &spec.local_ports,
        |b| unsafe { r.SetLocalPorts(b) },
    )?;
    put_text(
        "INetFwRule::put_RemotePorts",
        &spec.remote_ports,
        |b| unsafe { r.SetRemotePorts(b) },
    )?;
    put_text(
        "INetFwRule::put_LocalAddresses",
        &spec.local_addresses,
        |b| unsafe { r.SetLocalAddresses(b) },
    )?;
    put_text(
        "INetFwRule::put_RemoteAddresses",
        &spec.remote_addresses,
        |b| unsafe { r.SetRemoteAddresses(b) },
    )?;
    put_text(
        "INetFwRule::put_ApplicationName",
        &spec.application,
        |b| unsafe { r.SetApplicationName(b) },
    )?;
    put_text("INetFwRule::put_ServiceName", &spec.service, |b| unsafe {
        r.SetServiceName(b)
    })?;
    call("INetFwRule::put_Profiles", unsafe {
        r.SetProfiles(spec.profiles)
    })?;
    let on = VARIANT_BOOL::from(spec.enabled);
    call("INetFwRule::put_Enabled", unsafe { r.SetEnabled(on) })?;
    Ok(r)
}

/// Writes one property of a rule in the policy.
fn put_field(r: &INetFwRule, value: &Field) -> Result<(), ApiError> {
    // SAFETY (every unsafe block below): one property write on a live INetFwRule.
    match value {
        Field::Enabled(v) => call("INetFwRule::put_Enabled", unsafe {
            r.SetEnabled(VARIANT_BOOL::from(*v))
        }),
        Field::Profiles(v) => call("INetFwRule::put_Profiles", unsafe { r.SetProfiles(*v) }),
        Field::LocalPorts(v) => call("INetFwRule::put_LocalPorts", unsafe {
            r.SetLocalPorts(&BSTR::from(v.as_str()))
        }),
        Field::RemoteAddresses(v) => call("INetFwRule::put_RemoteAddresses", unsafe {
            r.SetRemoteAddresses(&BSTR::from(v.as_str()))
        }),
    }
}

impl FirewallApi for Com {
    fn rules(&self) -> Result<Vec<RuleState>, ApiError> {
        objects()?.iter().map(state).collect()
    }

    fn add(&self, rule: &RuleState) -> Result<(), ApiError> {
        let r = new_rule(rule)?;
        let rules = collection()?;
        // SAFETY: adds a complete rule object to the live collection.
        call("INetFwRules::Add", unsafe { rules.Add(&r) })
    }

    fn set(&self, rule: &RuleState, value: &Field) -> Result<(), ApiError> {
        let mut found = vec![];
        for o in objects()? {
            if state(&o)?.same(rule) {
                found.push(o);
            }
        }
        match found.as_slice() {
            [one] => put_field(one, value),
            _ => Err(ApiError::NotFound(format!(
                "{} rules are `{}` as recorded; nothing was changed",
                found.len(),
                rule.name
            ))),
        }
    }

    fn remove(&self, rule: &RuleState) -> Result<(), ApiError> {
        let rules = collection()?;
        let name = BSTR::from(rule.name.as_str());
        // SAFETY: removes by name from the live collection (the caller checked the name is
        // the rule's alone).
        call("INetFwRules::Remove", unsafe { rules.Remove(&name) })
    }

    fn profile_setting(&self, p: Profile, of: ProfileSetting) -> Result<ProfileSetting, ApiError> {
        let policy = policy()?;
        match of {
            ProfileSetting::BlockAllInbound(_) => {
                // SAFETY: property read on a live interface pointer with a valid profile type.
                let on = unsafe { policy.get_BlockAllInboundTraffic(profile_type(p)) };
                call("INetFwPolicy2::get_BlockAllInboundTraffic", on)
                    .map(|v| ProfileSetting::BlockAllInbound(v.as_bool()))
            }
        }
    }

    fn put_profile_setting(&self, p: Profile, to: ProfileSetting) -> Result<(), ApiError> {
        let policy = policy()?;
        match to {
            ProfileSetting::BlockAllInbound(on) => {
                let v = VARIANT_BOOL::from(on);
                // SAFETY: property write on a live interface pointer with a valid profile type.
                let done = unsafe { policy.put_BlockAllInboundTraffic(profile_type(p), v) };
                call("INetFwPolicy2::put_BlockAllInboundTraffic", done)
            }
        }
    }
}
