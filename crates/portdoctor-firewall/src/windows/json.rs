//! PowerShell JSON: the export of `export.ps1` (one object with `rules`, `profiles`,
//! `connections`, `addresses`, `environment`), or the raw cmdlet outputs piped to
//! `ConvertTo-Json` in separate files (`Get-NetFirewallRule`, the filter cmdlets keyed by
//! `InstanceID`, `Get-NetFirewallProfile`, `Get-NetConnectionProfile`).
//!
//! PowerShell 5.1 quirks accepted everywhere: enums as integers, a one-element collection as
//! a bare object, `{"value":[…],"Count":n}` wrappers, `""` for an empty collection, numbers
//! where strings are expected (`"Protocol": 47`).

use super::error::LoadError;
use super::model::{
    Direction, EdgeTraversal, Interface, InterfaceType, Profile, ProfileSettings, Profiles,
    ProtoFilter, Recorded, RuleAction, Setting, Store, WinRule,
};
use super::values;
use crate::addr::IpRange;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// What one JSON file held.
#[derive(Debug, Default)]
pub(crate) struct JsonParts {
    pub rules: Vec<WinRule>,
    /// Filter objects keyed by InstanceID, to join onto rules.
    pub filters: HashMap<String, Vec<Map<String, Value>>>,
    pub profiles: Vec<ProfileSettings>,
    pub interfaces: Vec<Interface>,
    pub addresses: Vec<(String, IpRange)>,
    pub environment: HashMap<String, String>,
    /// Names of rules that carried no filter field (their filters must come joined from
    /// another file, or the export is incomplete).
    pub unfiltered: Vec<String>,
}

/// Fields that only filter objects carry.
const FILTER_KEYS: &[&str] = &[
    "Protocol",
    "LocalPort",
    "RemotePort",
    "LocalAddress",
    "RemoteAddress",
    "Program",
    "Service",
];

/// Whether `text` is JSON (an object or array).
pub fn recognise(text: &str) -> bool {
    let t = text.trim_start_matches('\u{feff}').trim_start();
    t.starts_with('{') || t.starts_with('[')
}

/// Reads one JSON file.
pub(crate) fn parse(file: &str, text: &str) -> Result<JsonParts, LoadError> {
    let t = text.trim_start_matches('\u{feff}');
    let v: Value = serde_json::from_str(t)
        .map_err(|e| LoadError::syntax(file, e.line().max(1), e.column().max(1), e.to_string()))?;
    let mut parts = JsonParts::default();
    let ctx = Ctx { file, text: t };
    match &v {
        Value::Object(o) if o.contains_key("rules") || o.contains_key("profiles") => {
            ctx.export(o, &mut parts)?
        }
        _ => {
            for o in objects(&v) {
                ctx.classify(o, &mut parts)?;
            }
        }
    }
    Ok(parts)
}

/// Objects of a value: a bare object, an array, or a `{"value":[…]}` wrapper.
fn objects(v: &Value) -> Vec<&Map<String, Value>> {
    match unwrap(v) {
        Value::Array(a) => a.iter().filter_map(|x| unwrap(x).as_object()).collect(),
        Value::Object(o) => vec![o],
        _ => vec![],
    }
}

/// Strips a `{"value": …, "Count": n}` wrapper.
fn unwrap(v: &Value) -> &Value {
    match v {
        Value::Object(o) if o.contains_key("value") && o.len() <= 2 => &o["value"],
        _ => v,
    }
}

/// The strings of a value: a string, a number, an array of them, a wrapper; `""` is none.
fn strings(v: Option<&Value>) -> Vec<String> {
    let Some(v) = v.map(unwrap) else {
        return vec![];
    };
    match v {
        Value::Array(a) => a.iter().flat_map(|x| strings(Some(x))).collect(),
        Value::String(s) if s.is_empty() => vec![],
        Value::String(s) => vec![s.clone()],
        Value::Number(n) => vec![n.to_string()],
        Value::Bool(b) => vec![b.to_string()],
        _ => vec![],
    }
}

/// First string of a field, if any.
fn one(o: &Map<String, Value>, k: &str) -> Option<String> {
    strings(o.get(k)).into_iter().next()
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    /// An error located at the first occurrence of `needle` in the file.
    fn err(&self, needle: &str, msg: String) -> LoadError {
        let at = self.text.find(needle).unwrap_or(0);
        let before = &self.text[..at];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |s| s.chars().count()) + 1;
        LoadError::syntax(self.file, line, col, msg)
    }

    fn export(&self, o: &Map<String, Value>, p: &mut JsonParts) -> Result<(), LoadError> {
        for r in objects(o.get("rules").unwrap_or(&Value::Null)) {
            self.push_rule(r, p)?;
        }
        for x in objects(o.get("profiles").unwrap_or(&Value::Null)) {
            p.profiles.push(self.profile(x)?);
        }
        for x in objects(o.get("connections").unwrap_or(&Value::Null)) {
            p.interfaces.push(self.connection(x)?);
        }
        for x in objects(o.get("addresses").unwrap_or(&Value::Null)) {
            if let Some(a) = address(x) {
                p.addresses.push(a);
            }
        }
        if let Some(Value::Object(env)) = o.get("environment") {
            for (k, v) in env {
                if let Some(s) = v.as_str() {
                    p.environment.insert(k.to_ascii_lowercase(), s.to_string());
                }
            }
        }
        Ok(())
    }

    /// A cmdlet output object, by its fields.
    fn classify(&self, o: &Map<String, Value>, p: &mut JsonParts) -> Result<(), LoadError> {
        if o.contains_key("Direction") && o.contains_key("Action") {
            self.push_rule(o, p)?;
        } else if o.contains_key("DefaultInboundAction") {
            p.profiles.push(self.profile(o)?);
        } else if o.contains_key("NetworkCategory") {
            p.interfaces.push(self.connection(o)?);
        } else if o.contains_key("PrefixLength") && o.contains_key("IPAddress") {
            if let Some(a) = address(o) {
                p.addresses.push(a);
            }
        } else if let Some(id) = one(o, "InstanceID") {
            p.filters.entry(id).or_default().push(o.clone());
        }
        Ok(())
    }

    fn push_rule(&self, o: &Map<String, Value>, p: &mut JsonParts) -> Result<(), LoadError> {
        let (r, has_filters) = self.rule(o)?;
        if !has_filters {
            p.unfiltered.push(r.name.clone());
        }
        p.rules.push(r);
        Ok(())
    }

    fn rule(&self, o: &Map<String, Value>) -> Result<(WinRule, bool), LoadError> {
        let name = one(o, "Name")
            .or_else(|| one(o, "InstanceID"))
            .unwrap_or_default();
        let display = one(o, "DisplayName").unwrap_or_else(|| name.clone());
        let mut r = WinRule::inbound(&display, RuleAction::Allow);
        r.name = name.clone();
        r.group = one(o, "DisplayGroup")
            .or_else(|| one(o, "Group"))
            .unwrap_or_default();
        r.enabled = self.enabled(o, &name)?;
        r.direction = self.direction(o, &name)?;
        r.action = self.action(o, &name)?;
        r.profiles = match one(o, "Profile") {
            None => Profiles::ANY,
            Some(s) => values::profiles(&s).map_err(|m| self.err(&name, m))?,
        };
        r.store = store(o);
        r.edge = edge(one(o, "EdgeTraversalPolicy").as_deref());
        // Filters nested in the export, or flat on the object (Export-FirewallRules style).
        let filters: Vec<&Map<String, Value>> = [
            "PortFilter",
            "AddressFilter",
            "ApplicationFilter",
            "ServiceFilter",
            "InterfaceFilter",
            "InterfaceTypeFilter",
            "SecurityFilter",
        ]
        .iter()
        .filter_map(|k| o.get(*k).and_then(|v| unwrap(v).as_object()))
        .chain(std::iter::once(o))
        .collect();
        let has = filters
            .iter()
            .any(|f| FILTER_KEYS.iter().any(|k| f.contains_key(*k)));
        self.apply_filters(&mut r, &filters)?;
        Ok((r, has))
    }

    /// Sets the rule's filters from filter objects (nested, flat or joined by InstanceID).
    pub(crate) fn apply_filters(
        &self,
        r: &mut WinRule,
        fs: &[&Map<String, Value>],
    ) -> Result<(), LoadError> {
        let name = r.name.clone();
        let get = |k: &str| fs.iter().find_map(|f| f.get(k));
        let err = |m: String| self.err(&name, m);
        if let Some(v) = get("Protocol") {
            r.protocol = match strings(Some(v)).first() {
                None => ProtoFilter::Any,
                Some(s) => values::protocol(s).map_err(err)?,
            };
        }
        let list = |k: &str| strings(get(k));
        if get("LocalPort").is_some() {
            r.local_ports =
                values::ports(list("LocalPort").iter().map(String::as_str)).map_err(err)?;
        }
        if get("RemotePort").is_some() {
            r.remote_ports =
                values::ports(list("RemotePort").iter().map(String::as_str)).map_err(err)?;
        }
        if get("LocalAddress").is_some() {
            r.local_addresses =
                values::addresses(list("LocalAddress").iter().map(String::as_str)).map_err(err)?;
        }
        if get("RemoteAddress").is_some() {
            r.remote_addresses =
                values::addresses(list("RemoteAddress").iter().map(String::as_str)).map_err(err)?;
        }
        if get("Program").is_some() {
            r.program = Recorded::Known(list("Program").into_iter().find(|s| !values::is_any(s)));
        }
        if get("Package").is_some() {
            r.package = Recorded::Known(list("Package").into_iter().find(|s| !values::is_any(s)));
        }
        if get("Service").is_some() {
            r.service = Recorded::Known(
                list("Service")
                    .into_iter()
                    .find(|s| !s.eq_ignore_ascii_case("any") && !s.is_empty()),
            );
        }
        if get("InterfaceAlias").is_some() {
            let a = list("InterfaceAlias");
            r.interfaces = (!a.iter().any(|s| values::is_any(s)) && !a.is_empty()).then_some(a);
        }
        if let Some(v) = get("InterfaceType") {
            r.interface_types = interface_types(v);
        }
        let required = |k: &str| {
            list(k)
                .first()
                .is_some_and(|s| !matches!(s.to_lowercase().as_str(), "notrequired" | "0"))
        };
        r.requires_security = required("Authentication") || required("Encryption");
        if list("OverrideBlockRules")
            .first()
            .is_some_and(|s| s.eq_ignore_ascii_case("true"))
            && r.action == RuleAction::Allow
        {
            r.action = RuleAction::Bypass;
        }
        Ok(())
    }

    fn enabled(&self, o: &Map<String, Value>, name: &str) -> Result<bool, LoadError> {
        match o.get("Enabled").map(unwrap) {
            None => Ok(true),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => match strings(Some(v))
                .first()
                .map(|s| s.to_lowercase())
                .as_deref()
            {
                Some("1" | "true") => Ok(true),
                Some("2" | "false" | "0") => Ok(false),
                other => Err(self.err(name, format!("Enabled `{other:?}` is not True/False"))),
            },
        }
    }

    fn direction(&self, o: &Map<String, Value>, name: &str) -> Result<Direction, LoadError> {
        match one(o, "Direction").map(|s| s.to_lowercase()).as_deref() {
            Some("1" | "inbound" | "in") => Ok(Direction::In),
            Some("2" | "outbound" | "out") => Ok(Direction::Out),
            other => Err(self.err(
                name,
                format!("Direction `{other:?}` is not Inbound/Outbound"),
            )),
        }
    }

    fn action(&self, o: &Map<String, Value>, name: &str) -> Result<RuleAction, LoadError> {
        match one(o, "Action").map(|s| s.to_lowercase()).as_deref() {
            Some("2" | "allow") => Ok(RuleAction::Allow),
            Some("4" | "block") => Ok(RuleAction::Block),
            Some("bypass") => Ok(RuleAction::Bypass),
            other => Err(self.err(name, format!("Action `{other:?}` is not Allow/Block"))),
        }
    }

    fn profile(&self, o: &Map<String, Value>) -> Result<ProfileSettings, LoadError> {
        let name = one(o, "Name")
            .or_else(|| one(o, "Profile"))
            .unwrap_or_default();
        let p = match name.to_lowercase().as_str() {
            "domain" | "1" => Profile::Domain,
            "private" | "2" => Profile::Private,
            "public" | "4" => Profile::Public,
            _ => {
                return Err(self.err(
                    &name,
                    format!("profile `{name}` is not Domain/Private/Public"),
                ));
            }
        };
        let mut s = ProfileSettings::default_for(p);
        s.enabled = gpo(one(o, "Enabled").as_deref());
        s.allow_inbound_rules = gpo(one(o, "AllowInboundRules").as_deref());
        s.allow_local_rules = gpo(one(o, "AllowLocalFirewallRules").as_deref());
        s.default_inbound_block = match one(o, "DefaultInboundAction")
            .map(|x| x.to_lowercase())
            .as_deref()
        {
            Some("4" | "block") => Some(true),
            Some("2" | "allow") => Some(false),
            _ => None,
        };
        Ok(s)
    }

    fn connection(&self, o: &Map<String, Value>) -> Result<Interface, LoadError> {
        let alias = one(o, "InterfaceAlias").unwrap_or_default();
        let cat = one(o, "NetworkCategory").unwrap_or_default();
        let profile = match cat.to_lowercase().as_str() {
            "0" | "public" => Profile::Public,
            "1" | "private" => Profile::Private,
            "2" | "domainauthenticated" | "domain" => Profile::Domain,
            _ => return Err(self.err(&cat, format!("NetworkCategory `{cat}` is not known"))),
        };
        Ok(Interface {
            alias,
            profile,
            kind: None,
            subnets: vec![],
        })
    }
}

/// `PolicyStoreSourceType` (or `PolicyStoreSource`) to a store.
fn store(o: &Map<String, Value>) -> Store {
    match one(o, "PolicyStoreSourceType")
        .map(|s| s.to_lowercase())
        .as_deref()
    {
        Some("1" | "local") => Store::Local,
        Some("2" | "grouppolicy") => Store::GroupPolicy,
        Some("3" | "dynamic") => Store::Dynamic,
        Some("4" | "generated") => Store::Generated,
        Some("5" | "hardcoded") => Store::Hardcoded,
        _ => match one(o, "PolicyStoreSource").map(|s| s.to_lowercase()) {
            Some(s) if s == "persistentstore" || s == "localhost" => Store::Local,
            Some(s) if s.contains('\\') || s == "rsop" => Store::GroupPolicy,
            _ => Store::Unknown,
        },
    }
}

fn edge(v: Option<&str>) -> EdgeTraversal {
    match v.map(str::to_lowercase).as_deref() {
        Some("1" | "allow") => EdgeTraversal::Allow,
        Some("2" | "defertouser") => EdgeTraversal::DeferToUser,
        Some("3" | "defertoapp") => EdgeTraversal::DeferToApp,
        _ => EdgeTraversal::Block,
    }
}

/// `GpoBoolean`: False=0, True=1, NotConfigured=2.
fn gpo(v: Option<&str>) -> Setting {
    match v.map(str::to_lowercase).as_deref() {
        Some("1" | "true") => Setting::On,
        Some("0" | "false") => Setting::Off,
        _ => Setting::NotConfigured,
    }
}

/// InterfaceType flags (Any=0, Wired=1, Wireless=2, RemoteAccess=4) or names.
fn interface_types(v: &Value) -> Option<Vec<InterfaceType>> {
    let mut out = vec![];
    for s in strings(Some(v)) {
        if let Ok(n) = s.parse::<u8>() {
            if n == 0 {
                return None;
            }
            for (bit, t) in [
                (1, InterfaceType::Wired),
                (2, InterfaceType::Wireless),
                (4, InterfaceType::RemoteAccess),
            ] {
                if n & bit != 0 {
                    out.push(t);
                }
            }
        } else if let Some(ts) = super::netsh::interface_types(&s) {
            out.extend(ts);
        } else {
            return None;
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `Get-NetIPAddress` row: (alias, subnet).
fn address(o: &Map<String, Value>) -> Option<(String, IpRange)> {
    let alias = one(o, "InterfaceAlias")?;
    let addr = one(o, "IPAddress")?.split('%').next()?.parse().ok()?;
    let len: u8 = one(o, "PrefixLength")?.parse().ok()?;
    Some((alias, IpRange::prefix(addr, len)?))
}

/// Joins filter objects (separate-file layout) onto the rules with the same InstanceID.
pub(crate) fn join_filters(
    file: &str,
    rules: &mut [WinRule],
    filters: &HashMap<String, Vec<Map<String, Value>>>,
) -> Result<(), LoadError> {
    let ctx = Ctx { file, text: "" };
    for r in rules.iter_mut() {
        if let Some(fs) = filters.get(&r.name) {
            let refs: Vec<&Map<String, Value>> = fs.iter().collect();
            ctx.apply_filters(r, &refs)?;
        }
    }
    Ok(())
}
