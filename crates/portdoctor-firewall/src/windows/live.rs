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
    INetFwPolicy2, INetFwRule, INetFwRules, NET_FW_ACTION_ALLOW, NET_FW_PROFILE_TYPE2,
    NET_FW_PROFILE2_DOMAIN, NET_FW_PROFILE2_PRIVATE, NET_FW_PROFILE2_PUBLIC, NET_FW_RULE_DIR_IN,
    NetFwPolicy2,
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
    /// The policy object could not be created (HRESULT and message).
    #[error("INetFwPolicy2 cannot be created: {message}")]
    Create {
        /// The error.
        message: String,
    },
    /// Calls that did not answer, each with its error (Wine, for one, answers several with
    /// E_NOTIMPL). Without their answers no verdict would be certain, so nothing is
    /// evaluated; `answered` lists what did answer.
    #[error("{}", unanswered_text(.failed, .answered))]
    Unanswered {
        /// (call, error) for each call that failed, in the order asked.
        failed: Vec<(String, String)>,
        /// The calls that answered (the rule count with `Rules`).
        answered: Vec<String>,
    },
}

/// "INetFwPolicy2 did not answer A, B (error); C (other error); it answered D".
fn unanswered_text(failed: &[(String, String)], answered: &[String]) -> String {
    let mut groups: Vec<(Vec<&str>, &str)> = vec![];
    for (call, message) in failed {
        match groups.iter_mut().find(|(_, m)| *m == message.as_str()) {
            Some((calls, _)) => calls.push(call),
            None => groups.push((vec![call], message)),
        }
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|(calls, m)| format!("{} ({m})", calls.join(", ")))
        .collect();
    let mut text = format!("INetFwPolicy2 did not answer {}", parts.join("; "));
    if !answered.is_empty() {
        text.push_str(&format!("; it answered {}", answered.join(", ")));
    }
    text
}

/// The policy-level calls made, and what each gave.
#[derive(Default)]
struct Calls {
    failed: Vec<(String, String)>,
    answered: Vec<String>,
}

impl Calls {
    /// Records `call`'s outcome; its value when it answered.
    fn get<T>(&mut self, call: &str, result: windows::core::Result<T>) -> Option<T> {
        let value = self.quiet(call, result)?;
        self.answered(call.to_string());
        Some(value)
    }

    /// Like [`Calls::get`], but an answer is not listed (steps of a larger read).
    fn quiet<T>(&mut self, call: &str, result: windows::core::Result<T>) -> Option<T> {
        result
            .map_err(|e| {
                let failure = (call.to_string(), e.to_string());
                if !self.failed.contains(&failure) {
                    self.failed.push(failure);
                }
            })
            .ok()
    }

    fn answered(&mut self, call: String) {
        if !self.answered.contains(&call) {
            self.answered.push(call);
        }
    }

    /// The firewall when every call answered, else which did not.
    fn finish(self, fw: WindowsFirewall) -> Result<WindowsFirewall, LiveError> {
        if self.failed.is_empty() {
            Ok(fw)
        } else {
            Err(LiveError::Unanswered {
                failed: self.failed,
                answered: self.answered,
            })
        }
    }
}

fn on(b: VARIANT_BOOL) -> bool {
    b.as_bool()
}

/// Reads the live policy: each profile's switches, the current profile types and every rule.
/// Every call is made even when one fails, so the error names all that did not answer.
pub fn read_live() -> Result<WindowsFirewall, LiveError> {
    let policy = open_policy().map_err(|e| LiveError::Create {
        message: e.to_string(),
    })?;
    let mut calls = Calls::default();
    let mut fw = WindowsFirewall::default();
    for (p, t) in [
        (Profile::Domain, NET_FW_PROFILE2_DOMAIN),
        (Profile::Private, NET_FW_PROFILE2_PRIVATE),
        (Profile::Public, NET_FW_PROFILE2_PUBLIC),
    ] {
        fw.profiles.extend(profile(&policy, p, t, &mut calls));
    }
    // SAFETY: plain property read on a live interface pointer.
    let current = calls.get("CurrentProfileTypes", unsafe {
        policy.CurrentProfileTypes()
    });
    fw.current_profiles = current.map(|bits| {
        Profile::ALL
            .into_iter()
            .filter(|p| bits & i32::from(p.bit()) != 0)
            .collect()
    });
    if let Some(rules) = rules(&policy, &mut calls) {
        calls.answered(format!("Rules ({} rules)", rules.len()));
        fw.rules = rules;
    }
    calls.finish(fw)
}

/// The policy object, COM initialised for this thread (also used by the fix engine's
/// Windows applier).
pub fn open_policy() -> windows::core::Result<INetFwPolicy2> {
    // SAFETY: initialises COM for this thread; a second call or another apartment model only
    // returns a status, which is ignored (the objects used are free-threaded).
    let _ = unsafe { CoInitializeEx(None, COINIT_MULTITHREADED) };
    // SAFETY: creates the in-process firewall policy object by its documented CLSID.
    unsafe { CoCreateInstance(&NetFwPolicy2, None, CLSCTX_INPROC_SERVER) }
}

/// One profile's settings, when all three of its calls answered.
fn profile(
    policy: &INetFwPolicy2,
    p: Profile,
    t: NET_FW_PROFILE_TYPE2,
    calls: &mut Calls,
) -> Option<ProfileSettings> {
    // SAFETY: property reads on a live interface pointer with a valid profile type.
    let enabled = calls.get("FirewallEnabled", unsafe { policy.get_FirewallEnabled(t) });
    // SAFETY: as above.
    let block_all = calls.get("BlockAllInboundTraffic", unsafe {
        policy.get_BlockAllInboundTraffic(t)
    });
    // SAFETY: as above.
    let action = calls.get("DefaultInboundAction", unsafe {
        policy.get_DefaultInboundAction(t)
    });
    let (enabled, block_all, action) = (enabled?, block_all?, action?);
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
    Some(s)
}

/// Every rule of the policy, when the collection and its enumerator answered.
fn rules(policy: &INetFwPolicy2, calls: &mut Calls) -> Option<Vec<WinRule>> {
    // SAFETY: property read on a live interface pointer.
    let rules = calls.quiet("Rules", unsafe { policy.Rules() })?;
    match rule_objects(&rules) {
        Ok(objects) => Some(objects.iter().map(rule_of).collect()),
        Err((call, e)) => calls.quiet(call, Err(e)),
    }
}

/// Every rule object of a rule collection through its enumerator; else the call that failed
/// and its error.
pub fn rule_objects(
    rules: &INetFwRules,
) -> Result<Vec<INetFwRule>, (&'static str, windows::core::Error)> {
    // SAFETY: the enumerator is the collection's documented IEnumVARIANT.
    let unknown = unsafe { rules._NewEnum() }.map_err(|e| ("Rules._NewEnum", e))?;
    let en: IEnumVARIANT = unknown
        .cast()
        .map_err(|e| ("Rules._NewEnum (IEnumVARIANT)", e))?;
    let mut out = vec![];
    loop {
        let mut item = [VARIANT::default()];
        let mut fetched = 0u32;
        // SAFETY: `item` has room for the one element asked for; `fetched` is a valid out
        // pointer for the call's duration.
        let hr = unsafe { en.Next(&mut item, &mut fetched) };
        hr.ok()
            .map_err(|e| ("Rules enumeration (IEnumVARIANT.Next)", e))?;
        if fetched == 0 {
            return Ok(out);
        }
        if let Some(rule) = dispatch(&item[0]).and_then(|d| d.cast::<INetFwRule>().ok()) {
            out.push(rule);
        }
    }
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

fn rule_of(r: &INetFwRule) -> WinRule {
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
    w
}
