//! What-if edits of the pf state: `InsertText` adds pf.conf rule lines to an anchor (`scope`;
//! empty for the main ruleset), as `pfctl -a ANCHOR -f -` or an edited pf.conf would;
//! `Remove` takes a rule out (found by anchor, number and text); `ModifyText` on an
//! Application Firewall reference takes `allow=PATH`, `block=PATH`, `blockall=off`.

use super::PfFirewall;
use super::eval::rule_ref;
use super::model::PfRule;
use super::parse;
use crate::engine::{Edit, EditError, EngineKind};
use crate::model::RuleRef;

/// Applies `edits` in order.
pub(crate) fn apply_edits(fw: &mut PfFirewall, edits: &[Edit]) -> Result<(), EditError> {
    for e in edits {
        match e {
            Edit::InsertText {
                engine: EngineKind::Pf,
                scope,
                before,
                text,
            } => {
                let p = parse::parse(text)
                    .map_err(|b| EditError::Unsupported(format!("pf rule text: {}", b.msg)))?;
                let rules = ruleset(fw, scope);
                let at = before.map_or(rules.len(), |b| b.saturating_sub(1).min(rules.len()));
                let next = rules.iter().map(|r| r.number + 1).max().unwrap_or(0);
                for (k, mut r) in p.rules.into_iter().enumerate() {
                    r.number = next + k;
                    rules.insert(at + k, r);
                }
            }
            Edit::Remove { rule } if !rule.is_policy => {
                let rules = ruleset(fw, &rule.table);
                let i = find(rules, rule)?;
                rules.remove(i);
            }
            Edit::ModifyText { rule, text } if rule.table == "application_firewall" => {
                alf_edit(fw, text)?
            }
            other => {
                return Err(EditError::Unsupported(format!(
                    "the pf engine does not take {other:?}"
                )));
            }
        }
    }
    Ok(())
}

fn ruleset<'a>(fw: &'a mut PfFirewall, scope: &str) -> &'a mut Vec<PfRule> {
    if scope.is_empty() {
        &mut fw.main
    } else {
        fw.anchors.entry(scope.to_string()).or_default()
    }
}

fn find(rules: &[PfRule], r: &RuleRef) -> Result<usize, EditError> {
    rules
        .iter()
        .position(|x| rule_ref(&r.table, x) == *r)
        .ok_or_else(|| EditError::NoRule {
            chain: r.table.clone(),
            position: r.position,
            text: r.text.clone(),
        })
}

fn alf_edit(fw: &mut PfFirewall, text: &str) -> Result<(), EditError> {
    let a = fw.alf.get_or_insert_with(Default::default);
    let (k, v) = text
        .split_once('=')
        .ok_or_else(|| EditError::Unsupported(format!("`{text}` is not key=value")))?;
    match k {
        "allow" | "block" => {
            a.apps.retain(|(p, _)| p != v);
            a.apps.push((v.to_string(), k == "allow"));
        }
        "blockall" => a.block_all = Some(v == "on"),
        _ => {
            return Err(EditError::Unsupported(format!(
                "Application Firewall setting `{k}`"
            )));
        }
    }
    Ok(())
}
