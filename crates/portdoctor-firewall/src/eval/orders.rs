//! The orders in which base chains may run. Netfilter runs the hooks of one stage by
//! priority; equal priorities of different tables (or backends) run in an order no listing
//! shows, so every order is tried. nat-type chains are not hooks of their own: netfilter's NAT
//! core runs them from its hook (prerouting -100, postrouting +100, …) in the order of their
//! own priorities.

use super::has_effect;
use super::run::device_ok;
use crate::index::Index;
use crate::model::{Action, Packet, Policy, VerdictMap};

/// Most orders of equal-priority base chains of different tables tried.
pub const MAX_ORDERS: usize = 120;

/// Every order in which the applicable base chains may run: the canonical order with each
/// group of equal (hook, priority) chains permuted by unit (see [`units`]). `Err` when there
/// are more than [`MAX_ORDERS`].
pub(crate) fn base_orders(ix: &Index, pkt: &Packet) -> Result<Vec<Vec<usize>>, String> {
    let applicable: Vec<usize> = (0..ix.base.len())
        .filter(|&i| {
            let b = &ix.base[i];
            let t = ix.table(b.table);
            // Forward and postrouting chains matter only to a connection a DNAT sends on.
            let on_way = b.stage <= 2 || (ix.has_dnat && !pkt.ignore_nat);
            on_way
                && b.sees_iif(pkt.iif.as_deref())
                && t.family.sees(pkt.family)
                && device_ok(&t.chains[b.chain], pkt)
        })
        .collect();
    let mut orders: Vec<Vec<usize>> = vec![vec![]];
    let mut i = 0;
    while i < applicable.len() {
        let key = |j: usize| {
            (
                ix.base[applicable[j]].stage,
                ix.base[applicable[j]].priority,
            )
        };
        let mut j = i;
        while j < applicable.len() && key(j) == key(i) {
            j += 1;
        }
        let subs = units(ix, &applicable[i..j]);
        // Tables that can neither end the traversal nor change the packet run in any order
        // without consequence: only the others are permuted.
        let (neutral, subs): (Vec<Vec<usize>>, Vec<Vec<usize>>) = subs
            .into_iter()
            .partition(|sub| sub.iter().all(|&b| order_neutral(ix, b)));
        let neutral: Vec<usize> = neutral.into_iter().flatten().collect();
        // k! orders for k tables: refuse before computing them.
        let count = (1..=subs.len()).try_fold(orders.len(), |acc, k| {
            acc.checked_mul(k).filter(|n| *n <= MAX_ORDERS)
        });
        if count.is_none() {
            return Err(format!(
                "more than {MAX_ORDERS} possible orders of equal-priority base chains"
            ));
        }
        let perms = permutations(subs.len());
        if orders.len() * perms.len() > MAX_ORDERS {
            return Err(format!(
                "more than {MAX_ORDERS} possible orders of equal-priority base chains"
            ));
        }
        let mut next = Vec::with_capacity(orders.len() * perms.len());
        for o in &orders {
            for perm in &perms {
                let mut n = o.clone();
                for &k in perm {
                    n.extend_from_slice(&subs[k]);
                }
                n.extend_from_slice(&neutral);
                next.push(n);
            }
        }
        orders = next;
        i = j;
    }
    Ok(orders)
}

/// Whether base chain `b` (with everything it jumps to) can only accept or fall through to an
/// accepting policy, without changing the packet: its place among equal-priority chains
/// then cannot matter.
fn order_neutral(ix: &Index, b: usize) -> bool {
    let e = &ix.base[b];
    let t = ix.table(e.table);
    let tix = &ix.tables[e.table.0][e.table.1];
    if t.chains[e.chain]
        .base
        .as_ref()
        .is_some_and(|x| x.policy == Policy::Drop)
    {
        return false;
    }
    let mut seen = vec![false; t.chains.len()];
    let mut stack = vec![e.chain];
    let neutral_action = |a: &Action, stack: &mut Vec<usize>| -> bool {
        match a {
            Action::Accept | Action::Continue | Action::Return => true,
            Action::Jump(c) | Action::Goto(c) => match tix.chains.get(c) {
                Some(&ci) if t.chains[ci].base.is_none() => {
                    stack.push(ci);
                    true
                }
                _ => false,
            },
            _ => false,
        }
    };
    while let Some(ci) = stack.pop() {
        if std::mem::replace(&mut seen[ci], true) {
            // Reached twice (a shared chain, or a loop): do not try to tell them apart.
            return false;
        }
        for r in &t.chains[ci].rules {
            if !r.pre_statements.is_empty() || r.statements.iter().any(has_effect) {
                return false;
            }
            let ok = match &r.action {
                Action::Vmap { map, .. } => {
                    let entries: Vec<Action> = match map {
                        VerdictMap::Inline(e) => e.iter().map(|(_, a)| a.clone()).collect(),
                        VerdictMap::Named(n) => match tix.vmaps.get(n) {
                            Some(e) => e.iter().map(|(_, a)| a.clone()).collect(),
                            None => return false,
                        },
                    };
                    entries.iter().all(|a| neutral_action(a, &mut stack))
                }
                a => neutral_action(a, &mut stack),
            };
            if !ok {
                return false;
            }
        }
    }
    true
}

/// All permutations of 0..n, the identity first.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n <= 1 {
        return vec![(0..n).collect()];
    }
    let mut out = vec![];
    for p in permutations(n - 1) {
        for pos in (0..=p.len()).rev() {
            let mut q = p.clone();
            q.insert(pos, n - 1);
            out.push(q);
        }
    }
    out
}

/// The entries of one group in units whose internal order is known: the chains of one table
/// (newest first), and the nat chains as one unit in the order of their own priorities —
/// unless nat chains of different tables share an own priority, which no listing orders:
/// then one unit per table, so every order is tried (more orders than the kernel can take,
/// never fewer).
fn units(ix: &Index, group: &[usize]) -> Vec<Vec<usize>> {
    let (nat, other): (Vec<usize>, Vec<usize>) = group.iter().partition(|&&b| ix.base[b].nat);
    let mut subs = by_table(ix, &other);
    let tie = nat.windows(2).any(|w| {
        let (a, b) = (&ix.base[w[0]], &ix.base[w[1]]);
        a.own == b.own && a.table != b.table
    });
    if tie {
        subs.extend(by_table(ix, &nat));
    } else if !nat.is_empty() {
        subs.push(nat);
    }
    subs
}

/// Entries split by table, each table's entries in their given order.
fn by_table(ix: &Index, entries: &[usize]) -> Vec<Vec<usize>> {
    let mut subs: Vec<Vec<usize>> = vec![];
    for &b in entries {
        match subs
            .iter_mut()
            .find(|s| ix.base[s[0]].table == ix.base[b].table)
        {
            Some(s) => s.push(b),
            None => subs.push(vec![b]),
        }
    }
    subs
}
