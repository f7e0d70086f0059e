//! The Windows Defender Firewall engine: readers for the PowerShell JSON export
//! ([`EXPORT_SCRIPT`]), Export-FirewallRules CSV, `netsh advfirewall` text (English, zh-CN,
//! German) and registry rule strings, all recognised by content; the evaluator in
//! Microsoft's documented order; near misses; fixes with what-if edits; live reading through
//! COM `INetFwPolicy2` on Windows (`live`, `cfg(windows)`).
//!
//! [`crate::RuleRef`] mapping: `table` = policy store (`Local`, `GroupPolicy`, … or
//! `unknown store`), `chain` = rule group, `text` = display name, `comment` = the unique rule
//! name (InstanceID), `position` = 1-based index in the loaded rule list (stable for a load;
//! used to find the rule again in edits). Profile-level decisions are policies
//! (`is_policy`, `table` = `profile`, `chain` = the profile name).

mod csv;
mod edit;
mod error;
mod eval;
mod filter;
mod fix;
mod json;
mod labels;
#[cfg(windows)]
pub mod live;
pub mod model;
mod netsh;
mod registry;
mod sweep;
mod values;

use crate::collect::SourceReport;
use crate::engine::{Edit, EditError, Engine, EngineKind};
use crate::explain::{BackendVerdict, Explanation};
use crate::model::{Backend, Packet};
use crate::sweep::Sweep;
use std::collections::HashMap;

pub use error::LoadError;
pub use eval::{DIRECT, NOT_AUTHENTICATED, NearMiss, profile_ref, rule_ref};
pub use filter::FilterField;
pub use fix::plan_fix;
pub use model::*;

/// The netsh vocabulary the edits are written in (`key=value` arguments, protocol, profile
/// and port values), for appliers that carry the edits out.
pub mod netsh_text {
    pub use super::edit::args;
    pub use super::filter::describe_ports;
    pub use super::values::{profiles, protocol};
}

/// The PowerShell script that writes the export this reader prefers (run as administrator;
/// prints one JSON document). Shipped so the binary can print it.
pub const EXPORT_SCRIPT: &str = include_str!("export.ps1");

/// The Windows firewall state: rules, profile settings, interfaces.
#[derive(Debug, Clone, Default)]
pub struct WindowsFirewall {
    /// Rules in the order read.
    pub rules: Vec<WinRule>,
    /// Profile settings read (profiles not read use Windows' defaults).
    pub profiles: Vec<ProfileSettings>,
    /// Interfaces and their network profiles.
    pub interfaces: Vec<Interface>,
    /// Profiles `netsh advfirewall show currentprofile` listed, when that was read.
    pub current_profiles: Option<Vec<Profile>>,
    /// Environment variables for expanding program paths (lower-case names).
    pub environment: HashMap<String, String>,
    /// What was read.
    pub sources: Vec<SourceReport>,
}

/// Which reader a text is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PowerShell JSON (export or cmdlet output).
    Json,
    /// Export-FirewallRules CSV.
    Csv,
    /// `netsh advfirewall firewall show rule`.
    NetshRules,
    /// `netsh advfirewall show allprofiles|currentprofile`.
    NetshProfiles,
    /// Registry rule strings.
    Registry,
}

/// The format of `text`, recognised by content.
pub fn format_of(text: &str) -> Option<Format> {
    if json::recognise(text) {
        Some(Format::Json)
    } else if csv::recognise(text) {
        Some(Format::Csv)
    } else if netsh::recognise_profiles(text) {
        Some(Format::NetshProfiles)
    } else if netsh::recognise_rules(text) {
        Some(Format::NetshRules)
    } else if registry::recognise(text) {
        Some(Format::Registry)
    } else {
        None
    }
}

/// Whether `text` is a Windows Firewall export one of the readers takes. JSON counts only when
/// it has Windows firewall fields.
pub fn recognise(text: &str) -> bool {
    match format_of(text) {
        Some(Format::Json) => [
            "\"DefaultInboundAction\"",
            "\"Direction\"",
            "\"portdoctor_export\"",
            "\"NetworkCategory\"",
        ]
        .iter()
        .any(|k| text.contains(k)),
        Some(_) => true,
        None => false,
    }
}

/// Loads several named texts (any mix of formats) into one state.
pub fn load(files: &[(String, String)]) -> Result<WindowsFirewall, LoadError> {
    let mut acc = Loading::default();
    for (name, text) in files {
        let format = format_of(text).ok_or_else(|| LoadError::Unrecognised {
            file: name.clone(),
            hint: hint(text),
        })?;
        acc.read(format, name, text)?;
    }
    acc.finish()
}

/// Loads one text with the reader of `format`, without recognising it first (fuzzing, or a
/// format the caller already knows).
pub fn load_as(format: Format, name: &str, text: &str) -> Result<WindowsFirewall, LoadError> {
    let mut acc = Loading::default();
    acc.read(format, name, text)?;
    acc.finish()
}

/// State being loaded from several files, with what is joined at the end.
#[derive(Default)]
struct Loading {
    fw: WindowsFirewall,
    filters: HashMap<String, Vec<serde_json::Map<String, serde_json::Value>>>,
    unfiltered: Vec<(String, String)>,
    addresses: Vec<(String, crate::addr::IpRange)>,
}

impl Loading {
    fn read(&mut self, format: Format, name: &str, text: &str) -> Result<(), LoadError> {
        let fw = &mut self.fw;
        let before = fw.rules.len();
        match format {
            Format::Json => {
                let p = json::parse(name, text)?;
                fw.rules.extend(p.rules);
                fw.profiles.extend(p.profiles);
                fw.interfaces.extend(p.interfaces);
                fw.environment.extend(p.environment);
                self.addresses.extend(p.addresses);
                self.unfiltered
                    .extend(p.unfiltered.into_iter().map(|r| (name.to_string(), r)));
                for (k, v) in p.filters {
                    self.filters.entry(k).or_default().extend(v);
                }
            }
            Format::Csv => fw.rules.extend(csv::parse(name, text)?),
            Format::NetshRules => fw.rules.extend(netsh::parse_rules(name, text)?),
            Format::NetshProfiles => {
                let ps = netsh::parse_profiles(name, text)?;
                fw.current_profiles = netsh::current_profiles(&ps);
                fw.profiles.extend(ps);
            }
            Format::Registry => fw.rules.extend(registry::parse(name, text)?),
        }
        fw.sources.push(SourceReport {
            tool: name.to_string(),
            backend: Some(Backend::WindowsFirewall),
            active: Ok(fw.rules.len() > before || !fw.profiles.is_empty()),
        });
        Ok(())
    }

    fn finish(mut self) -> Result<WindowsFirewall, LoadError> {
        let fw = &mut self.fw;
        json::join_filters("", &mut fw.rules, &self.filters)?;
        if let Some((file, rule)) = self
            .unfiltered
            .iter()
            .find(|(_, r)| !self.filters.contains_key(r))
        {
            return Err(LoadError::Unrecognised {
                file: file.clone(),
                hint: format!(
                    "rule `{rule}` has no port, address or program filter: give the filter \
                     cmdlets' output too (export.ps1 joins them)"
                ),
            });
        }
        for (alias, subnet) in self.addresses {
            if let Some(i) = fw.interfaces.iter_mut().find(|i| i.alias == alias) {
                i.subnets.push(subnet);
            }
        }
        Ok(self.fw)
    }
}

/// What an unrecognised text looks like, for the error.
fn hint(text: &str) -> String {
    let first = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    let short: String = first.chars().take(60).collect();
    format!("it starts with `{short}`")
}

impl WindowsFirewall {
    /// The explanation shape shared by all engines (one backend).
    pub fn explanation(&self, pkt: &Packet) -> Explanation {
        let verdict = self.evaluate(pkt);
        Explanation {
            overall: verdict.clone(),
            backends: vec![BackendVerdict {
                backend: Backend::WindowsFirewall,
                active: self.active(),
                verdict,
            }],
            skipped_tables: vec![],
        }
    }

    /// Whether the firewall is on for any profile.
    pub fn active(&self) -> bool {
        Profile::ALL
            .iter()
            .any(|p| self.settings(*p).enabled != Setting::Off)
    }
}

impl Engine for WindowsFirewall {
    fn kind(&self) -> EngineKind {
        EngineKind::Windows
    }

    fn as_windows(&self) -> Option<&WindowsFirewall> {
        Some(self)
    }

    fn sources(&self) -> &[SourceReport] {
        &self.sources
    }

    fn unread(&self) -> bool {
        self.rules.is_empty() && self.profiles.is_empty()
    }

    fn explain(&self, packet: &Packet) -> Explanation {
        self.explanation(packet)
    }

    fn sweep(&self, packet: &Packet) -> Sweep {
        sweep::sweep(self, packet)
    }

    fn edited(&self, edits: &[Edit]) -> Result<Box<dyn Engine>, EditError> {
        let mut copy = self.clone();
        edit::apply_edits(&mut copy, edits)?;
        Ok(Box::new(copy))
    }

    fn fix_options(
        &self,
        packet: &Packet,
        req: &crate::manager::OpenRequest,
    ) -> Vec<crate::fix::FixOption> {
        fix::plan_fix(self, packet, &crate::fix::FixRequest::from_open(req))
    }

    /// Near misses worth a finding: a rule for the wrong profile or interface type, or one
    /// that names this port and misses on program, service or addresses. A rule open on every
    /// port for another program (Remote Desktop, the print spooler) is not a near miss of
    /// this service.
    fn near_misses(&self, packet: &Packet) -> Vec<(crate::model::RuleRef, String, String)> {
        WindowsFirewall::near_misses(self, packet)
            .into_iter()
            .filter(|n| {
                let field = format!("{:?}", n.field).to_lowercase();
                let names_port = n
                    .rule
                    .position
                    .checked_sub(1)
                    .and_then(|i| self.rules.get(i))
                    .is_some_and(|r| r.local_ports.is_some());
                field.contains("profile") || field.contains("interface") || names_port
            })
            .map(|n| (n.rule, format!("{:?}", n.field).to_lowercase(), n.mismatch))
            .collect()
    }
}
