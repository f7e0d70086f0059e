//! What a Windows step asks for, read from its edits alone (platform-free): a rule to add
//! (`Edit::InsertText`, the arguments of `netsh advfirewall firewall add rule`), a rule to
//! disable (`Edit::Remove`: the engine models disabling as removal), a property to change
//! (`Edit::ModifyText`, the arguments after `new` of `netsh advfirewall firewall set rule`),
//! a profile setting to change (`Edit::ModifyText` on the profile: `allowinboundrules=true`).

use super::api::{ALL_PROFILES, ANY_PROTOCOL, Field, ProfileSetting, RuleState};
use super::target::Target;
use crate::FixError;
use portdoctor_firewall::engine::{Edit, Engine, EngineKind};
use portdoctor_firewall::manager::PlanStep;
use portdoctor_firewall::model::RuleRef;
use portdoctor_firewall::plan::TAG;
use portdoctor_firewall::windows::netsh_text::{args, profiles, protocol};
use portdoctor_firewall::windows::{Profile, Profiles, ProtoFilter};

/// One thing a step does, before the live rules are looked at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Intent {
    /// Add this rule (named with the change's tag, in group `portdoctor`).
    AddRule(RuleState),
    /// Set a property of an existing rule; disabling a block rule is `Enabled(false)`.
    Set {
        /// The rule.
        target: Target,
        /// Its new value.
        to: Field,
    },
    /// Change a profile's setting ("Block all incoming connections" off).
    SetProfile {
        /// The profile.
        profile: Profile,
        /// The setting's new value.
        to: ProfileSetting,
    },
}

/// The intents of a Windows step planned on `engine`, in order. `tag` (`portdoctor:<id>`)
/// prefixes the names of added rules, so undo and `present` find exactly the change's own
/// rules.
pub fn intents(step: &PlanStep, tag: &str, engine: &dyn Engine) -> Result<Vec<Intent>, FixError> {
    let mut out = vec![];
    for e in &step.edits {
        match e {
            Edit::InsertText {
                engine: EngineKind::Windows,
                text,
                ..
            } => out.push(Intent::AddRule(added(text, tag)?)),
            Edit::Remove { rule } if !rule.is_policy => out.push(Intent::Set {
                target: Target::of(rule, engine),
                to: Field::Enabled(false),
            }),
            Edit::ModifyText { rule, text } if !rule.is_policy => {
                for to in fields(text)? {
                    out.push(Intent::Set {
                        target: Target::of(rule, engine),
                        to,
                    });
                }
            }
            Edit::ModifyText { rule, text } => {
                let profile = profile_of(rule)?;
                for to in settings(text)? {
                    out.push(Intent::SetProfile { profile, to });
                }
            }
            other => {
                return Err(FixError::Refused(format!(
                    "a Windows Defender Firewall step cannot carry out {other:?}"
                )));
            }
        }
    }
    Ok(out)
}

/// The profile a profile-level edit is about (the engine names it in `chain`).
fn profile_of(rule: &RuleRef) -> Result<Profile, FixError> {
    Profile::ALL
        .into_iter()
        .find(|p| p.name() == rule.chain)
        .ok_or_else(|| {
            FixError::Refused(format!(
                "no profile `{}` ({}); run the printed command by hand",
                rule.chain, rule.text
            ))
        })
}

/// The profile settings `allowinboundrules=…` (the engine's profile edit) changes; the
/// other profile settings (`state=`, `defaultinbound=`) portdoctor leaves to the printed
/// command.
fn settings(text: &str) -> Result<Vec<ProfileSetting>, FixError> {
    let mut out = vec![];
    for (k, v) in args(text).map_err(|e| FixError::Refused(e.to_string()))? {
        let on = match v.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" => true,
            "false" | "no" | "off" => false,
            _ => return Err(refused(&k, &v, "not a yes or no")),
        };
        match k.as_str() {
            "allowinboundrules" => out.push(ProfileSetting::BlockAllInbound(!on)),
            _ => {
                return Err(refused(
                    &k,
                    &v,
                    "portdoctor changes rules and \"Block all incoming connections\" only; \
                     run the printed command by hand",
                ));
            }
        }
    }
    Ok(out)
}

fn refused(k: &str, v: &str, why: &str) -> FixError {
    FixError::Refused(format!("netsh argument {k}={v}: {why}"))
}

/// The rule `netsh advfirewall firewall add rule <text>` adds, named with `tag`.
fn added(text: &str, tag: &str) -> Result<RuleState, FixError> {
    let mut r = RuleState::inbound("");
    r.grouping = TAG.to_string();
    for (k, v) in args(text).map_err(|e| FixError::Refused(e.to_string()))? {
        match k.as_str() {
            "name" => r.name = tagged(&v, tag),
            "group" => r.grouping = v,
            "dir" => r.inbound = v.eq_ignore_ascii_case("in"),
            "action" if v.eq_ignore_ascii_case("allow") => r.allow = true,
            "action" if v.eq_ignore_ascii_case("block") => r.allow = false,
            "protocol" => r.protocol = proto(&v).map_err(|e| refused(&k, &v, &e))?,
            "program" => r.application = v,
            "service" => r.service = v,
            _ => match field(&k, &v)? {
                Some(f) => r = f.set_in(&r),
                None => return Err(refused(&k, &v, "not understood")),
            },
        }
    }
    if r.name.is_empty() {
        return Err(FixError::Refused(format!("no name= in `{text}`")));
    }
    Ok(r)
}

/// `portdoctor: allow 8080/tcp` → `portdoctor:<id> allow 8080/tcp`.
fn tagged(name: &str, tag: &str) -> String {
    let rest = name
        .strip_prefix(TAG)
        .map_or(name, |r| r.trim_start_matches(':'))
        .trim();
    format!("{tag} {rest}")
}

/// The properties `set rule … new <text>` changes.
fn fields(text: &str) -> Result<Vec<Field>, FixError> {
    let mut out = vec![];
    for (k, v) in args(text).map_err(|e| FixError::Refused(e.to_string()))? {
        out.push(field(&k, &v)?.ok_or_else(|| refused(&k, &v, "not changed by portdoctor"))?);
    }
    Ok(out)
}

/// One changeable property from its netsh argument; `None` for other keys.
fn field(k: &str, v: &str) -> Result<Option<Field>, FixError> {
    let any = |s: &str| {
        if s.eq_ignore_ascii_case("any") {
            "*".to_string()
        } else {
            s.to_string()
        }
    };
    Ok(Some(match k {
        "enable" => Field::Enabled(v.eq_ignore_ascii_case("yes")),
        "profile" => Field::Profiles(mask(v).map_err(|e| refused(k, v, &e))?),
        "localport" => Field::LocalPorts(any(v)),
        "remoteip" => Field::RemoteAddresses(any(v)),
        _ => return Ok(None),
    }))
}

/// A netsh profile list as `INetFwRule::Profiles`.
fn mask(v: &str) -> Result<i32, String> {
    profiles(v).map(profile_mask)
}

/// A netsh protocol as `INetFwRule::Protocol`.
fn proto(v: &str) -> Result<i32, String> {
    protocol(v).map(protocol_number)
}

/// Profiles as `INetFwRule::Profiles` (all three, or none named: [`ALL_PROFILES`]).
pub fn profile_mask(p: Profiles) -> i32 {
    if p.0 == 0 || p.0 & 7 == 7 {
        ALL_PROFILES
    } else {
        i32::from(p.0)
    }
}

/// A protocol as `INetFwRule::Protocol`.
pub fn protocol_number(p: ProtoFilter) -> i32 {
    match p {
        ProtoFilter::Any => ANY_PROTOCOL,
        ProtoFilter::Number(n) => i32::from(n),
    }
}
