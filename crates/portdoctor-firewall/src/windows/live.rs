//! Live reading on Windows through COM `INetFwPolicy2` (the API behind the firewall MMC):
//! every rule of the active policy with its filters, each profile's switches and the current
//! profile types. Interface-to-profile mapping (`Get-NetConnectionProfile`) is not in this
//! API: the packet's profile is then taken from `CurrentProfileTypes` when only one profile is
//! active. The unsafe COM calls are each in a one-line wrapper with its SAFETY note.
#![allow(unsafe_code)]

use super::model::{
    Direction, EdgeTraversal, Profile, ProfileSettings, Profiles, Recorded, RuleAction, Setting,
    Store, WinRule,
};
use super::{WindowsFirewall, netsh, values};
use thiserror::Error;
use windows::Win32::Foundation::VARIANT_BOOL;
use windows::Win32::NetworkManagement::WindowsFirewall::{
    INetFwPolicy2, INetFwRule, NET_FW_ACTION_ALLOW, NET_FW_PROFILE_TYPE2, NET_FW_PROFILE2_DOMAIN,
    NET_FW_PROFILE2_PRIVATE, NET_FW_PROFILE2_PUBLIC, NET_FW_RULE_DIR_IN, NetFwPolicy2,
};
use windows::Win32::System::Com::{
    CLSCTX_INPROC_SERVER, COINIT_MULTITHREADED, CoCreateInstance, CoInitializeEx, IDispatch,
};
use windows::Win32::System::Ole::IEnumVARIANT;
use windows::Win32::System::Variant::{VARIANT, VT_DISPATCH};
use windows::core::{BSTR, Interface};

/// Why the live policy could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LiveError {
    /// A COM call failed (HRESULT and message).
    #[error("Windows Firewall COM call {call} failed: {message}")]
    Com {
        /// Which call.
        call: &'static str,
        /// The error.
        message: String,
    },
}

fn com(call: &'static str) -> impl Fn(windows::core::Error) -> LiveError {
    move |e| LiveError::Com {
        call,
        message: e.to_string(),
    }
}

fn on(b: VARIANT_BOOL) -> bool {
    b.as_bool()
}

/// Reads the live policy.
pub fn read_live() -> Result<WindowsFirewall, LiveError> {
    // SAFETY: initialises COM for this thread; a second call or another apartment model only
    // returns a status, which is ignored (the objects used are free-threaded).
    let _ = unsafe { CoInitializeEx(None, COINIT_MULTITHREADED) };
    // SAFETY: creates the in-process firewall policy object by its documented CLSID.
    let policy: INetFwPolicy2 =
        unsafe { CoCreateInstance(&NetFwPolicy2, None, CLSCTX_INPROC_SERVER) }
            .map_err(com("CoCreateInstance(NetFwPolicy2)"))?;
    let mut fw = WindowsFirewall::default();
    for (p, t) in [
        (Profile::Domain, NET_FW_PROFILE2_DOMAIN),
        (Profile::Private, NET_FW_PROFILE2_PRIVATE),
        (Profile::Public, NET_FW_PROFILE2_PUBLIC),
    ] {
        fw.profiles.push(profile(&policy, p, t)?);
    }
    // SAFETY: plain property read on a live interface pointer.
    let current = unsafe { policy.CurrentProfileTypes() }.map_err(com("CurrentProfileTypes"))?;
    fw.current_profiles = Some(
        Profile::ALL
            .into_iter()
            .filter(|p| current & i32::from(p.bit()) != 0)
            .collect(),
    );
    fw.rules = rules(&policy)?;
    Ok(fw)
}

fn profile(
    policy: &INetFwPolicy2,
    p: Profile,
    t: NET_FW_PROFILE_TYPE2,
) -> Result<ProfileSettings, LiveError> {
    // SAFETY: property reads on a live interface pointer with a valid profile type.
    let enabled = unsafe { policy.get_FirewallEnabled(t) }.map_err(com("FirewallEnabled"))?;
    // SAFETY: as above.
    let block_all =
        unsafe { policy.get_BlockAllInboundTraffic(t) }.map_err(com("BlockAllInboundTraffic"))?;
    // SAFETY: as above.
    let action =
        unsafe { policy.get_DefaultInboundAction(t) }.map_err(com("DefaultInboundAction"))?;
    let mut s = ProfileSettings::default_for(p);
    s.enabled = if on(enabled) {
        Setting::On
    } else {
        Setting::Off
    };
    s.allow_inbound_rules = if on(block_all) {
        Setting::Off
    } else {
        Setting::On
    };
    s.default_inbound_block = Some(action != NET_FW_ACTION_ALLOW);
    Ok(s)
}

fn rules(policy: &INetFwPolicy2) -> Result<Vec<WinRule>, LiveError> {
    // SAFETY: property read on a live interface pointer.
    let rules = unsafe { policy.Rules() }.map_err(com("Rules"))?;
    // SAFETY: as above; the enumerator is the collection's documented IEnumVARIANT.
    let unknown = unsafe { rules._NewEnum() }.map_err(com("_NewEnum"))?;
    let en: IEnumVARIANT = unknown.cast().map_err(com("IEnumVARIANT"))?;
    let mut out = vec![];
    loop {
        let mut item = [VARIANT::default()];
        let mut fetched = 0u32;
        // SAFETY: `item` has room for the one element asked for; `fetched` is a valid out
        // pointer for the call's duration.
        let hr = unsafe { en.Next(&mut item, &mut fetched) };
        if hr.is_err() || fetched == 0 {
            break;
        }
        if let Some(rule) = dispatch(&item[0]).and_then(|d| d.cast::<INetFwRule>().ok()) {
            out.push(rule_of(&rule)?);
        }
    }
    Ok(out)
}

/// The IDispatch inside a VARIANT of type VT_DISPATCH.
fn dispatch(v: &VARIANT) -> Option<IDispatch> {
    // SAFETY: the union is read only after its tag says it holds an IDispatch pointer, and
    // the pointer is cloned (AddRef) before the VARIANT is dropped.
    unsafe {
        let inner = &v.Anonymous.Anonymous;
        (inner.vt == VT_DISPATCH).then(|| (*inner.Anonymous.pdispVal).clone())?
    }
}

fn text(r: Result<BSTR, windows::core::Error>) -> String {
    r.map(|b| b.to_string()).unwrap_or_default()
}

fn rule_of(r: &INetFwRule) -> Result<WinRule, LiveError> {
    // SAFETY (every call below): property reads on a live INetFwRule pointer.
    let name = text(unsafe { r.Name() });
    let mut w = WinRule::inbound(&name, RuleAction::Allow);
    w.store = Store::Unknown;
    w.group = text(unsafe { r.Grouping() });
    w.enabled = unsafe { r.Enabled() }.map(on).unwrap_or(false);
    w.direction = match unsafe { r.Direction() } {
        Ok(d) if d == NET_FW_RULE_DIR_IN => Direction::In,
        _ => Direction::Out,
    };
    w.action = match unsafe { r.Action() } {
        Ok(a) if a == NET_FW_ACTION_ALLOW => RuleAction::Allow,
        _ => RuleAction::Block,
    };
    let mask = unsafe { r.Profiles() }.unwrap_or(0x7fff_ffff);
    w.profiles = Profiles((mask & 7) as u8);
    let proto = unsafe { r.Protocol() }.unwrap_or(256);
    w.protocol = values::protocol(&proto.to_string()).unwrap_or(super::model::ProtoFilter::Any);
    w.local_ports = values::ports(values::items(&text(unsafe { r.LocalPorts() }))).unwrap_or(None);
    w.remote_ports =
        values::ports(values::items(&text(unsafe { r.RemotePorts() }))).unwrap_or(None);
    w.local_addresses =
        values::addresses(values::items(&text(unsafe { r.LocalAddresses() }))).unwrap_or(None);
    w.remote_addresses =
        values::addresses(values::items(&text(unsafe { r.RemoteAddresses() }))).unwrap_or(None);
    let app = text(unsafe { r.ApplicationName() });
    w.program = Recorded::Known((!app.is_empty()).then_some(app));
    let svc = text(unsafe { r.ServiceName() });
    w.service = Recorded::Known((!svc.is_empty()).then_some(svc));
    w.package = Recorded::Missing("not read through INetFwRule (INetFwRule3)".into());
    w.interface_types = netsh::interface_types(&text(unsafe { r.InterfaceTypes() }));
    w.edge = if unsafe { r.EdgeTraversal() }.map(on).unwrap_or(false) {
        EdgeTraversal::Allow
    } else {
        EdgeTraversal::Block
    };
    Ok(w)
}
