//! A rule's statements as `lower` writes them: the common kinds typed (the `direct` model
//! builder reads them), everything else as nft's JSON; and their JSON for the JSON reader.

use super::values::verdict;
use serde_json::{Value, json};

/// The left side of a match as nft names it.
#[derive(Debug, Clone, PartialEq)]
pub enum LeftE {
    /// `PROTO FIELD` (`tcp dport`).
    Payload(&'static str, &'static str),
    /// `meta KEY`.
    Meta(&'static str),
    /// `ct KEY`, with a direction when one was given.
    Ct(&'static str, Option<&'static str>),
    /// `fib FLAGS RESULT`.
    Fib(&'static str, Vec<&'static str>),
    /// `LEFT & MASK` (the mask as nft's JSON writes it).
    And(Box<LeftE>, Value),
    /// `A . B`.
    Concat(Vec<LeftE>),
    /// Any other expression, as its JSON (`numgen …`).
    Json(Value),
}

impl LeftE {
    /// nft's JSON for it.
    pub fn to_json(&self) -> Value {
        match self {
            LeftE::Payload(p, f) => json!({"payload": {"protocol": p, "field": f}}),
            LeftE::Meta(k) => json!({"meta": {"key": k}}),
            LeftE::Ct(k, None) => json!({"ct": {"key": k}}),
            LeftE::Ct(k, Some(d)) => json!({"ct": {"key": k, "dir": d}}),
            LeftE::Fib(r, f) => json!({"fib": {"result": r, "flags": f}}),
            LeftE::And(l, m) => json!({"&": [l.to_json(), m]}),
            LeftE::Concat(v) => json!({"concat": v.iter().map(LeftE::to_json).collect::<Vec<_>>()}),
            LeftE::Json(v) => v.clone(),
        }
    }
}

/// One statement of a rule: the common kinds typed (the direct model builder reads them),
/// everything else as nft's JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// `LEFT OP RIGHT`; the right side as nft's JSON writes it.
    Match {
        /// `==`, `!=`, `in`, `<` …
        op: &'static str,
        /// The left side.
        left: LeftE,
        /// The right side.
        right: Value,
    },
    /// `counter packets P bytes B`.
    Counter(u64, u64),
    /// A verdict: code (`NF_ACCEPT` 1, `NF_DROP` 0, `NFT_CONTINUE` -1, `NFT_RETURN` -5,
    /// `NFT_JUMP` -3, `NFT_GOTO` -4) and the chain of a jump or goto.
    Verdict(i32, Option<String>),
    /// `reject with TYPE EXPR` (`tcp reset` has no expression).
    Reject(&'static str, Option<Value>),
    /// Anything else.
    Json(Value),
}

impl Stmt {
    /// nft's JSON for it.
    pub fn into_json(self) -> Value {
        match self {
            Stmt::Match { op, left, right } => {
                json!({"match": {"op": op, "left": left.to_json(), "right": right}})
            }
            Stmt::Counter(p, b) => json!({"counter": {"packets": p, "bytes": b}}),
            Stmt::Verdict(code, chain) => verdict(code, chain.as_deref()),
            Stmt::Reject(ty, None) => json!({"reject": {"type": ty}}),
            Stmt::Reject(ty, Some(e)) => json!({"reject": {"type": ty, "expr": e}}),
            Stmt::Json(v) => v,
        }
    }
}
