//! Applying [`Edit`]s to netfilter rulesets: the "what if" copies that verify a fix before it
//! is printed, and that tell whether a block shadows an allow.

use crate::engine::{Edit, EditError, Place};
use crate::model::{Backend, Chain, Family, RuleRef, Ruleset};

/// Applies `edits` in order. Positions are renumbered after each one, as the kernel would
/// number the rules afterwards (nft handles of new rules stay `None`).
pub fn apply_edits(rulesets: &mut [Ruleset], edits: &[Edit]) -> Result<(), EditError> {
    for e in edits {
        apply(rulesets, e)?;
    }
    Ok(())
}

fn apply(rulesets: &mut [Ruleset], e: &Edit) -> Result<(), EditError> {
    match e {
        Edit::Remove { rule } => {
            let c = chain_of(
                rulesets,
                rule.backend,
                rule.family,
                &rule.table,
                &rule.chain,
            )?;
            let i = find(c, rule)?;
            c.rules.remove(i);
            renumber(c);
        }
        Edit::SetAction { rule, action } => {
            let c = chain_of(
                rulesets,
                rule.backend,
                rule.family,
                &rule.table,
                &rule.chain,
            )?;
            let i = find(c, rule)?;
            c.rules[i].action = action.clone();
        }
        Edit::AddBaseChain {
            backend,
            family,
            table,
            chain,
        } => add_base_chain(rulesets, *backend, *family, table, chain),
        Edit::Insert { place, rule } => {
            let c = chain_at(rulesets, place)?;
            let at = place
                .before
                .map_or(c.rules.len(), |p| p.saturating_sub(1).min(c.rules.len()));
            c.rules.insert(at, rule.clone());
            renumber(c);
        }
        Edit::InsertText { .. } | Edit::ModifyText { .. } => {
            return Err(EditError::Unsupported(
                "netfilter takes structured edits (insert, remove, set action), not rule text"
                    .into(),
            ));
        }
    }
    Ok(())
}

fn add_base_chain(
    rulesets: &mut [Ruleset],
    backend: Backend,
    family: Family,
    table: &str,
    chain: &Chain,
) {
    let Some(rs) = rulesets
        .iter_mut()
        .find(|r| r.backend.unwrap_or(Backend::Nftables) == backend)
    else {
        return;
    };
    let t = match rs
        .tables
        .iter()
        .position(|t| t.family == family && t.name == table)
    {
        Some(i) => &mut rs.tables[i],
        None => {
            rs.tables
                .push(crate::model::Table::new(family, table, None));
            rs.tables.last_mut().expect("just pushed")
        }
    };
    if !t.chains.iter().any(|c| c.name == chain.name) {
        let mut c = chain.clone();
        c.rules.clear();
        t.chains.push(c);
    }
}

fn chain_at<'r>(rulesets: &'r mut [Ruleset], p: &Place) -> Result<&'r mut Chain, EditError> {
    chain_of(rulesets, p.backend, p.family, &p.table, &p.chain)
}

fn chain_of<'r>(
    rulesets: &'r mut [Ruleset],
    backend: Backend,
    family: Family,
    table: &str,
    chain: &str,
) -> Result<&'r mut Chain, EditError> {
    rulesets
        .iter_mut()
        .filter(|r| r.backend.unwrap_or(Backend::Nftables) == backend)
        .flat_map(|r| r.tables.iter_mut())
        .filter(|t| t.family == family && t.name == table)
        .flat_map(|t| t.chains.iter_mut())
        .find(|c| c.name == chain)
        .ok_or_else(|| EditError::NoChain {
            backend: backend.as_str().into(),
            family: family.as_str().into(),
            table: table.into(),
            chain: chain.into(),
        })
}

/// Index of `rule` in `c`: by position, checked against its text.
fn find(c: &Chain, rule: &RuleRef) -> Result<usize, EditError> {
    let i = rule.position.checked_sub(1);
    match i.and_then(|i| c.rules.get(i).map(|r| (i, r))) {
        Some((i, r)) if r.text == rule.text => Ok(i),
        _ => Err(EditError::NoRule {
            chain: c.name.clone(),
            position: rule.position,
            text: rule.text.clone(),
        }),
    }
}

fn renumber(c: &mut Chain) {
    for (i, r) in c.rules.iter_mut().enumerate() {
        r.position = i + 1;
    }
}
