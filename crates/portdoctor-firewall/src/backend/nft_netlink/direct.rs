//! The model of a rule built straight from its typed statements, for the common kinds
//! (matches on modelled fields, counters, verdicts, rejects): it skips writing and reading
//! nft's JSON, which dominates decoding time on big rulesets. Every decision is delegated to
//! the JSON reader's own functions (`match_with_key`, `reject_dependency`, `render`), so the
//! result is the one `parse_rule` gives; any statement outside this subset returns `None`
//! and the rule goes through the JSON path.

use super::stmt::{LeftE, Stmt};
use crate::backend::names;
use crate::backend::nft::{
    LeftKey, masked_key, match_with_key, nfproto_dep, reject_dependency, render,
};
use crate::model::{Action, Field, Match, RejectKind, Rule, Statement};

/// The model of a rule, or `None` when a statement needs the JSON path.
pub fn rule(
    family: &str,
    stmts: &[Stmt],
    comment: Option<&str>,
    handle: Option<u64>,
    position: usize,
) -> Option<Rule> {
    let mut matches = Vec::new();
    let mut statements = Vec::new();
    let mut action = Action::Continue;
    let mut text = String::new();
    let mut reject_type = None;
    for s in stmts {
        if !text.is_empty() {
            text.push(' ');
        }
        match s {
            Stmt::Match { op, left, right } => {
                let key = left_key(left)?;
                matches.extend(match_with_key(key, op, right).ok()?);
                match_text(&mut text, op, left, right);
            }
            Stmt::Counter(p, b) => {
                statements.push(Statement::Counter);
                text.push_str(&format!("counter packets {p} bytes {b}"));
            }
            Stmt::Verdict(code, chain) => {
                let (a, t) = verdict(*code, chain.as_deref())?;
                action = a;
                text.push_str(&t);
            }
            Stmt::Reject(ty, expr) => {
                let kind = match (ty, expr) {
                    (&"tcp reset", _) => RejectKind::TcpReset,
                    (_, Some(e)) => names::reject_kind(e.as_str()?),
                    (_, None) => RejectKind::PortUnreachable,
                };
                match expr {
                    None => text.push_str(&format!("reject with {ty}")),
                    Some(e) => text.push_str(&format!("reject with {ty} {}", render(e))),
                }
                reject_type = Some(*ty);
                action = Action::Reject(kind);
            }
            Stmt::Json(_) => return None,
        }
    }
    if let Action::Reject(_) = action {
        reject_dependency(reject_type, Some(family), &mut matches);
    }
    let comment = comment.map(String::from);
    if let Some(c) = &comment {
        text.push_str(&format!(" comment \"{c}\""));
    }
    Some(Rule {
        matches,
        statements,
        pre_statements: Vec::new(),
        action,
        text,
        comment,
        handle,
        position,
    })
}

fn verdict(code: i32, chain: Option<&str>) -> Option<(Action, String)> {
    Some(match (code, chain) {
        (1, _) => (Action::Accept, "accept".into()),
        (0, _) => (Action::Drop, "drop".into()),
        (-1, _) => (Action::Continue, "continue".into()),
        (-5, _) => (Action::Return, "return".into()),
        (-3, Some(c)) => (Action::Jump(c.into()), format!("jump {c}")),
        (-4, Some(c)) => (Action::Goto(c.into()), format!("goto {c}")),
        _ => return None,
    })
}

/// The field a left side reads, as the JSON reader's `left_field` maps it.
fn field(l: &LeftE) -> Option<(Field, Option<Match>)> {
    Some(match l {
        LeftE::Payload(p, f) => match (*p, *f) {
            ("ip", "saddr") => (Field::Saddr4, None),
            ("ip", "daddr") => (Field::Daddr4, None),
            ("ip6", "saddr") => (Field::Saddr6, None),
            ("ip6", "daddr") => (Field::Daddr6, None),
            ("tcp", "sport") => (Field::TcpSport, None),
            ("tcp", "dport") => (Field::TcpDport, None),
            ("tcp", "flags") => (Field::TcpFlags, None),
            ("udp", "sport") => (Field::UdpSport, None),
            ("udp", "dport") => (Field::UdpDport, None),
            ("th", "sport") => (Field::Sport, None),
            ("th", "dport") => (Field::Dport, None),
            ("ip", "protocol") => (Field::L4Proto, Some(nfproto_dep(2))),
            ("ip6", "nexthdr") => (Field::L4Proto, Some(nfproto_dep(10))),
            _ => return None,
        },
        LeftE::Meta(k) => match *k {
            "pkttype" => (Field::PktType, None),
            "protocol" => (Field::EtherType, None),
            "l4proto" => (Field::L4Proto, None),
            "nfproto" => (Field::NfProto, None),
            "iifname" | "iif" => (Field::Iifname, None),
            "mark" => (Field::Mark, None),
            _ => return None,
        },
        LeftE::Ct(k, None) => match *k {
            "state" => (Field::CtState, None),
            "status" => (Field::CtStatus, None),
            "mark" => (Field::CtMark, None),
            _ => return None,
        },
        LeftE::Fib("type", flags) if flags.as_slice() == ["daddr"] => (Field::DaddrType, None),
        _ => return None,
    })
}

fn left_key(l: &LeftE) -> Option<LeftKey> {
    match l {
        LeftE::Concat(parts) => {
            let mut fields = Vec::with_capacity(parts.len());
            let mut deps = Vec::new();
            for p in parts {
                let (f, d) = field(p)?;
                fields.push(f);
                deps.extend(d);
            }
            Some((fields, None, deps))
        }
        LeftE::And(inner, mask) => {
            let (f, d) = field(inner)?;
            let m = masked_key(f, mask).ok()?;
            Some((vec![f], Some(m), d.into_iter().collect()))
        }
        other => {
            let (f, d) = field(other)?;
            Some((vec![f], None, d.into_iter().collect()))
        }
    }
}

/// `render` of a match, as the JSON path writes it.
fn match_text(out: &mut String, op: &str, left: &LeftE, right: &serde_json::Value) {
    left_text(out, left);
    out.push(' ');
    if !matches!(op, "==" | "in") {
        out.push_str(op);
        out.push(' ');
    }
    let quoted = matches!(left, LeftE::Meta("iifname" | "oifname")) && right.is_string();
    if quoted {
        out.push('"');
    }
    out.push_str(&render(right));
    if quoted {
        out.push('"');
    }
}

fn left_text(out: &mut String, l: &LeftE) {
    match l {
        LeftE::Payload(p, f) => {
            out.push_str(p);
            out.push(' ');
            out.push_str(f);
        }
        LeftE::Meta(k @ ("iifname" | "oifname" | "iif" | "oif" | "mark")) => out.push_str(k),
        LeftE::Meta(k) => {
            out.push_str("meta ");
            out.push_str(k);
        }
        LeftE::Ct(k, _) => {
            out.push_str("ct ");
            out.push_str(k);
        }
        LeftE::Fib(r, flags) => out.push_str(&format!("fib {} {r}", flags.join(" . "))),
        LeftE::And(inner, mask) => {
            left_text(out, inner);
            out.push_str(" & ");
            match mask {
                serde_json::Value::Array(f) => {
                    let names: Vec<String> = f.iter().map(render).collect();
                    out.push_str(&format!("({})", names.join("|")));
                }
                m => out.push_str(&render(m)),
            }
        }
        LeftE::Concat(parts) => {
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    out.push_str(" . ");
                }
                left_text(out, p);
            }
        }
        LeftE::Json(v) => out.push_str(&render(v)),
    }
}
