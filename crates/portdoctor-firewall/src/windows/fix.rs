//! Fixes phrased for Windows Defender Firewall, each with the edits that model it and checked
//! by re-evaluating the edited state.
//!
//! Block beats allow: when a block rule decides, adding an allow rule changes nothing, so the
//! fix disables (or narrows) the block rule. A rule that is only for another profile is
//! extended to the arriving profile, or a new rule is added for that profile.

use super::WindowsFirewall;
use super::filter::{FilterField, describe_ports};
use super::model::{PortItem, Profile, RuleAction, Store, WinRule};
use crate::addr::PortSpan;
use crate::engine::{Edit, Engine, EngineKind};
use crate::fix::{FixCommand, FixKind, FixOption, FixRequest, Shell};
use crate::model::{Decision, Packet, RuleRef};

/// Group and name prefix of the rules portdoctor adds.
pub const GROUP: &str = "portdoctor";

/// Ways to make `req` reachable for `pkt` (its source, interface, program), best first. Empty
/// when the packet is already accepted. Every option carries its edits and whether
/// re-evaluation with them accepts the packet.
pub fn plan_fix(fw: &WindowsFirewall, pkt: &Packet, req: &FixRequest) -> Vec<FixOption> {
    let mut pkt = pkt.clone();
    pkt.dport = req.port;
    pkt.proto = req.proto;
    let v = fw.evaluate(&pkt);
    if v.decision == Decision::Accept {
        return vec![];
    }
    let (profiles, _) = fw.arriving_profiles(&pkt);
    let mut out = vec![];
    for r in v.deciders.iter().filter(|r| !r.is_policy) {
        let Some(rule) = fw.rules.get(r.position - 1) else {
            continue;
        };
        if rule.action == RuleAction::Block {
            out.push(disable_block(r, rule));
            if let Some(n) = narrow_block(r, rule, req) {
                out.push(n);
            }
        }
    }
    if let Some(p) = v
        .deciders
        .iter()
        .find(|r| r.is_policy && r.text.starts_with("block all"))
    {
        out.push(allow_inbound_rules(p));
    }
    for nm in fw.near_misses(&pkt) {
        if nm.field == FilterField::Profile {
            out.push(extend_profile(fw, &nm.rule, &profiles));
        }
    }
    out.push(add_allow(&pkt, req, &profiles));
    let all = complete_and_verify(fw, &pkt, req, &profiles, out);
    // An option that re-evaluation does not confirm (an allow rule under a winning block) is
    // dropped when another one works.
    if all.iter().any(|o| o.verified) {
        all.into_iter().filter(|o| o.verified).collect()
    } else {
        all
    }
}

/// Each option that alone leaves the packet blocked gets the allow rule added; then every
/// option is re-evaluated.
fn complete_and_verify(
    fw: &WindowsFirewall,
    pkt: &Packet,
    req: &FixRequest,
    profiles: &[Profile],
    opts: Vec<FixOption>,
) -> Vec<FixOption> {
    opts.into_iter()
        .map(|mut o| {
            if !accepts(fw, &o.edits, pkt) && o.kind != FixKind::AddAllow {
                let add = add_allow(pkt, req, profiles);
                o.summary = format!("{}, and {}", o.summary, add.summary);
                o.commands.extend(add.commands);
                o.alternatives.extend(add.alternatives);
                o.edits.extend(add.edits);
            }
            o.verified = accepts(fw, &o.edits, pkt);
            o
        })
        .collect()
}

fn accepts(fw: &WindowsFirewall, edits: &[Edit], pkt: &Packet) -> bool {
    fw.edited(edits)
        .map(|e| e.explain(pkt).overall.decision == Decision::Accept)
        .unwrap_or(false)
}

/// PowerShell single-quoted string.
pub(crate) fn ps_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn ps(line: String) -> FixCommand {
    FixCommand {
        shell: Shell::PowerShell,
        line,
    }
}

fn cmd(line: String) -> FixCommand {
    FixCommand {
        shell: Shell::Cmd,
        line,
    }
}

fn profile_list(ps: &[Profile]) -> String {
    ps.iter().map(|p| p.name()).collect::<Vec<_>>().join(",")
}

/// New allow rule for the request on the arriving profile(s).
fn add_allow(pkt: &Packet, req: &FixRequest, profiles: &[Profile]) -> FixOption {
    let proto = req.proto_name();
    let name = format!("{GROUP}: allow {}/{proto}", req.port);
    let prof = profile_list(profiles);
    let mut line = format!(
        "New-NetFirewallRule -DisplayName {} -Group {GROUP} -Direction Inbound -Action Allow \
         -Protocol {} -LocalPort {} -Profile {prof}",
        ps_quote(&name),
        proto.to_uppercase(),
        req.port
    );
    let mut netsh = format!(
        "netsh advfirewall firewall add rule name=\"{name}\" dir=in action=allow protocol={} \
         localport={} profile={}",
        proto.to_uppercase(),
        req.port,
        prof.to_lowercase()
    );
    let mut text = format!(
        "name=\"{name}\" dir=in action=allow protocol={} localport={} profile={} group={GROUP}",
        proto.to_uppercase(),
        req.port,
        prof.to_lowercase()
    );
    if let Some(src) = &req.source {
        line.push_str(&format!(" -RemoteAddress {src}"));
        netsh.push_str(&format!(" remoteip={src}"));
        text.push_str(&format!(" remoteip={src}"));
    }
    let mut notes = vec![format!(
        "the rule is for the {prof} profile, the one of the network the packet arrives on"
    )];
    if let Some(p) = &pkt.local_program {
        notes.push(format!(
            "to allow only the listener, add -Program {}",
            ps_quote(p)
        ));
    }
    FixOption {
        kind: FixKind::AddAllow,
        summary: format!(
            "add an allow rule for {}/{proto} ({prof} profile)",
            req.port
        ),
        commands: vec![ps(line)],
        alternatives: vec![cmd(netsh)],
        edits: vec![Edit::InsertText {
            engine: EngineKind::Windows,
            scope: "Local".into(),
            before: None,
            text,
        }],
        notes,
        verified: false,
    }
}

fn disable_block(r: &RuleRef, rule: &WinRule) -> FixOption {
    let mut notes = vec![
        "block rules beat allow rules: an allow rule cannot open this port while this rule is \
         enabled"
            .to_string(),
    ];
    if rule.is_query_user() {
        notes.push(format!(
            "`{}` is a Query User rule: Windows created it when someone cancelled the firewall \
             prompt for this program",
            rule.name
        ));
    }
    if rule.store == Store::GroupPolicy {
        notes.push(
            "the rule comes from Group Policy: change it in the GPO (gpmc.msc / \
             -PolicyStore DOMAIN\\GPO), a local change is overwritten"
                .into(),
        );
    }
    let by_name = rule.name != rule.display_name || rule.is_query_user();
    let line = if by_name {
        format!("Disable-NetFirewallRule -Name {}", ps_quote(&rule.name))
    } else {
        format!(
            "Disable-NetFirewallRule -DisplayName {}",
            ps_quote(&rule.display_name)
        )
    };
    notes.push("netsh names rules by display name: every rule with this name is changed".into());
    FixOption {
        kind: FixKind::DisableBlock,
        summary: format!("disable the block rule `{}`", rule.display_name),
        commands: vec![ps(line)],
        alternatives: vec![cmd(format!(
            "netsh advfirewall firewall set rule name=\"{}\" new enable=no",
            rule.display_name
        ))],
        edits: vec![Edit::Remove { rule: r.clone() }],
        notes,
        verified: false,
    }
}

/// Narrow a block rule with an explicit local-port list so it no longer covers the port.
fn narrow_block(r: &RuleRef, rule: &WinRule, req: &FixRequest) -> Option<FixOption> {
    let items = rule.local_ports.as_ref()?;
    let mut rest: Vec<PortItem> = vec![];
    for it in items {
        match it {
            PortItem::Span(s) if s.contains(req.port) => {
                if s.lo < req.port {
                    rest.push(PortItem::Span(PortSpan {
                        lo: s.lo,
                        hi: req.port - 1,
                    }));
                }
                if s.hi > req.port {
                    rest.push(PortItem::Span(PortSpan {
                        lo: req.port + 1,
                        hi: s.hi,
                    }));
                }
            }
            other => rest.push(other.clone()),
        }
    }
    if rest.is_empty() || rest.len() == items.len() && rest == *items {
        return None;
    }
    let ports = describe_ports(&rest).replace(' ', "");
    Some(FixOption {
        kind: FixKind::NarrowBlock,
        summary: format!(
            "take port {} out of the block rule `{}`",
            req.port, rule.display_name
        ),
        commands: vec![ps(format!(
            "Set-NetFirewallRule -Name {} -LocalPort {ports}",
            ps_quote(&rule.name)
        ))],
        alternatives: vec![cmd(format!(
            "netsh advfirewall firewall set rule name=\"{}\" new localport={ports}",
            rule.display_name
        ))],
        edits: vec![Edit::ModifyText {
            rule: r.clone(),
            text: format!("localport={ports}"),
        }],
        notes: vec![],
        verified: false,
    })
}

fn allow_inbound_rules(p: &RuleRef) -> FixOption {
    FixOption {
        kind: FixKind::Settings,
        summary: format!(
            "let inbound allow rules count again on the {} profile",
            p.chain
        ),
        commands: vec![ps(format!(
            "Set-NetFirewallProfile -Profile {} -AllowInboundRules True",
            p.chain
        ))],
        alternatives: vec![cmd(format!(
            "netsh advfirewall set {}profile firewallpolicy blockinbound,allowoutbound",
            p.chain.to_lowercase()
        ))],
        edits: vec![Edit::ModifyText {
            rule: p.clone(),
            text: "allowinboundrules=true".into(),
        }],
        notes: vec!["\"Block all incoming connections\" ignores every allow rule".into()],
        verified: false,
    }
}

fn extend_profile(fw: &WindowsFirewall, r: &RuleRef, profiles: &[Profile]) -> FixOption {
    let rule = &fw.rules[r.position - 1];
    let mut all: Vec<Profile> = Profile::ALL
        .into_iter()
        .filter(|p| rule.profiles.has(*p) || profiles.contains(p))
        .collect();
    all.dedup();
    let list = profile_list(&all);
    FixOption {
        kind: FixKind::ExtendAllow,
        summary: format!(
            "extend the allow rule `{}` to the {} profile",
            rule.display_name,
            profile_list(profiles)
        ),
        commands: vec![ps(format!(
            "Set-NetFirewallRule -Name {} -Profile {list}",
            ps_quote(&rule.name)
        ))],
        alternatives: vec![cmd(format!(
            "netsh advfirewall firewall set rule name=\"{}\" new profile={}",
            rule.display_name,
            list.to_lowercase()
        ))],
        edits: vec![Edit::ModifyText {
            rule: r.clone(),
            text: format!("profile={}", list.to_lowercase()),
        }],
        notes: vec![format!(
            "the rule is for {} only; a Public network is usually the café or guest Wi-Fi: \
             changing the network to Private (Set-NetConnectionProfile) is the other way",
            rule.profiles.describe()
        )],
        verified: false,
    }
}
