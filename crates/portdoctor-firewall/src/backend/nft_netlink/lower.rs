//! Turns a rule's expressions into the statements nft's JSON shows for it: register contents
//! are followed symbolically, loads and comparisons become matches, dependencies nft adds
//! itself (`meta l4proto tcp` before `tcp dport`, `meta nfproto ipv4` before `ip saddr` in
//! inet tables) are folded into the field names as nft's listing does, prefixes and ranges
//! are recovered, anonymous sets are written inline. Any layout not recognised becomes an
//! `nl_raw` statement naming the raw expression (the evaluator treats it as unmodelled).

use super::expr::{Data, Expr};
use super::fields::{self, Named};
use super::keys::{
    FIB_PRESENT, ct_key, describe, fib_result, hex, icmp_code, icmp6_code, icmpx_code, limit, log,
    meta_key, meta_value, op_name, quota, tcp_option,
};
use super::sets::{SetIndex, inline_set};
use super::stmt::{LeftE, Stmt};
use super::values::{
    self, IfResolver, Ty, is_flags, prefix_len, raw, raw_action, to_json, verdict_json,
};
use serde_json::{Value, json};

/// nfproto family numbers.
pub mod family {
    /// inet.
    pub const INET: u8 = 1;
    /// ip.
    pub const IP: u8 = 2;
    /// arp.
    pub const ARP: u8 = 3;
    /// netdev.
    pub const NETDEV: u8 = 5;
    /// bridge.
    pub const BRIDGE: u8 = 7;
    /// ip6.
    pub const IP6: u8 = 10;
}

const META_PROTOCOL: u32 = 1;
const META_NFPROTO: u32 = 15;
const META_L4PROTO: u32 = 16;

/// Expressions that end the rule's evaluation or send the packet elsewhere: when not
/// decoded they are an unmodelled action (reaching the rule makes the result unknown), never
/// a match that both outcomes could step over.
const DIVERTS: [&str; 4] = ["queue", "tproxy", "fwd", "synproxy"];

/// What a register holds.
#[derive(Debug, Clone)]
enum Sym {
    Payload {
        base: u32,
        off: u32,
        len: u32,
    },
    Meta(u32),
    Ct(u32, Option<u8>),
    Fib(u32, u32),
    Masked(Box<Sym>, Vec<u8>),
    /// `(inner & mask) ^ xor` with a non-zero xor (`mark | 0x4000`).
    Bits(Box<Sym>, Vec<u8>, Vec<u8>),
    /// An expression nft names but the model does not use (`numgen …`), as its JSON.
    Json(Value, Ty),
    Hton(Box<Sym>),
    Imm(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dep {
    L4(u8),
    Nf(u8),
    Eth(u16),
}

/// The left side of a match: what nft names, value type, and the field when it is a prefix
/// load.
struct Left {
    left: LeftE,
    ty: Ty,
    prefix_of: Option<Named>,
}

/// Lowering state of one rule.
struct Lower<'a> {
    family: u8,
    table: &'a str,
    sets: &'a SetIndex,
    ifname: IfResolver<'a>,
    regs: Vec<Option<Sym>>,
    out: Vec<Option<Stmt>>,
    deps: Vec<(usize, Dep)>,
    l4: Option<u8>,
    nf: Option<u8>,
    /// Output index after the last statement that is not a match: a dependency written
    /// before it is shown by nft even when a `reject` needs it.
    barrier: usize,
}

/// The statements of a rule in nft's JSON form, and the nfproto its bytecode compares with
/// (what nft's listing hides before `reject with tcp reset`).
pub fn lower(
    family: u8,
    table: &str,
    exprs: &[Expr],
    sets: &SetIndex,
    ifname: IfResolver<'_>,
) -> (Vec<Stmt>, Option<u8>) {
    let mut l = Lower {
        family,
        table,
        sets,
        ifname,
        regs: vec![None; 24],
        out: Vec::with_capacity(exprs.len()),
        deps: Vec::new(),
        l4: None,
        nf: match family {
            family::IP => Some(2),
            family::IP6 => Some(10),
            _ => None,
        },
        barrier: 0,
    };
    let mut i = 0;
    while i < exprs.len() {
        i += l.step(&exprs[i], exprs.get(i + 1));
    }
    (l.out.into_iter().flatten().collect(), hidden_nfproto(exprs))
}

/// The value of the last `meta nfproto` equality in the bytecode.
fn hidden_nfproto(exprs: &[Expr]) -> Option<u8> {
    let mut reg = None;
    let mut found = None;
    for e in exprs {
        match e {
            Expr::Meta {
                dreg,
                key: META_NFPROTO,
            } => reg = Some(*dreg),
            Expr::Cmp { sreg, op: 0, data } if Some(*sreg) == reg => {
                found = data.first().copied();
                reg = None;
            }
            _ => {}
        }
    }
    found
}

impl Lower<'_> {
    fn sym(&self, r: u32) -> Option<Sym> {
        self.regs.get(r as usize).cloned().flatten()
    }

    fn set_reg(&mut self, r: u32, s: Option<Sym>) {
        if let Some(slot) = self.regs.get_mut(r as usize) {
            *slot = s;
        }
    }

    fn push(&mut self, v: Stmt) {
        self.out.push(Some(v));
    }

    fn push_json(&mut self, v: Value) {
        self.push(Stmt::Json(v));
    }

    /// Removes the newest unconsumed dependency satisfying `f`.
    /// A dependency written before a statement (counter, log, an iptables-nft extension …)
    /// stays: nft shows it.
    fn consume(&mut self, f: impl Fn(Dep) -> bool) -> bool {
        if let Some(pos) = self.deps.iter().rposition(|(_, d)| f(*d)) {
            if self.deps[pos].0 >= self.barrier {
                let (idx, _) = self.deps.remove(pos);
                self.out[idx] = None;
                return true;
            }
        }
        false
    }

    /// Handles one expression; returns how many expressions it used.
    fn step(&mut self, e: &Expr, next: Option<&Expr>) -> usize {
        match e {
            Expr::Payload {
                dreg,
                base,
                offset,
                len,
            } => self.set_reg(
                *dreg,
                Some(Sym::Payload {
                    base: *base,
                    off: *offset,
                    len: *len,
                }),
            ),
            Expr::Meta { dreg, key } => self.set_reg(*dreg, Some(Sym::Meta(*key))),
            Expr::Ct { dreg, key, dir } => self.set_reg(*dreg, Some(Sym::Ct(*key, *dir))),
            Expr::Fib {
                dreg,
                result,
                flags,
            } => self.set_reg(*dreg, Some(Sym::Fib(*result, *flags))),
            Expr::Bitwise {
                sreg,
                dreg,
                op,
                mask,
                xor,
            } => {
                let s = self.sym(*sreg).filter(|_| *op == 0).map(Box::new);
                let sym = match s {
                    Some(s) if xor.iter().all(|&b| b == 0) => Some(Sym::Masked(s, mask.clone())),
                    Some(s) => Some(Sym::Bits(s, mask.clone(), xor.clone())),
                    None => None,
                };
                self.set_reg(*dreg, sym);
            }
            Expr::Numgen {
                dreg,
                modulus,
                random,
                offset,
            } => {
                let mode = if *random { "random" } else { "inc" };
                let v = json!({"numgen": {"mode": mode, "mod": modulus, "offset": offset}});
                self.set_reg(*dreg, Some(Sym::Json(v, Ty::Int)));
            }
            Expr::Exthdr {
                dreg,
                op,
                kind,
                offset,
                len,
                flags,
            } => {
                let named = tcp_option(*op, *kind, *offset, *len, *flags);
                let sym = named.map(|(name, field)| {
                    Sym::Json(
                        json!({"tcp option": {"name": name, "field": field}}),
                        Ty::IntBe,
                    )
                });
                self.set_reg(*dreg, sym);
            }
            Expr::Byteorder { sreg, dreg, op, .. } => {
                let s = self.sym(*sreg).filter(|_| *op == 1);
                self.set_reg(*dreg, s.map(|s| Sym::Hton(Box::new(s))));
            }
            Expr::Immediate { dreg: 0, data } => {
                let v = match data {
                    Data::Verdict(code @ (1 | 0 | -1 | -5), _) => Stmt::Verdict(*code, None),
                    Data::Verdict(code @ (-3 | -4), Some(c)) => {
                        Stmt::Verdict(*code, Some(c.clone()))
                    }
                    d => Stmt::Json(verdict_json(d)),
                };
                self.push(v);
            }
            Expr::Immediate {
                dreg,
                data: Data::Value(v),
            } => self.set_reg(*dreg, Some(Sym::Imm(v.clone()))),
            Expr::Immediate { .. } => {
                self.push_json(raw("immediate verdict into a data register".into()))
            }
            Expr::Cmp { sreg, op, data } => return self.cmp(*sreg, *op, data, next),
            Expr::Range { sreg, op, from, to } => self.range(*sreg, *op, from, to),
            Expr::Lookup {
                sreg,
                dreg,
                set,
                inv,
            } => self.lookup(*sreg, *dreg, set, *inv),
            _ => self.statement(e),
        }
        1
    }

    fn statement(&mut self, e: &Expr) {
        let v = match e {
            Expr::Counter { packets, bytes } => Stmt::Counter(*packets, *bytes),
            Expr::Reject { ty, code } => self.reject(*ty, *code),
            _ => Stmt::Json(self.statement_json(e)),
        };
        self.barrier = self.out.len() + 1;
        self.push(v);
    }

    fn statement_json(&mut self, e: &Expr) -> Value {
        match e {
            Expr::Log {
                prefix,
                group,
                level,
            } => log(prefix, group, level),
            Expr::Limit {
                rate,
                unit,
                burst,
                bytes,
                inv,
            } => limit(*rate, *unit, *burst, *bytes, *inv),
            Expr::Nat {
                ty,
                family,
                reg_addr,
                reg_addr_max,
                reg_proto,
                reg_proto_max,
                flags,
            } => self.nat(
                *ty,
                *family,
                (*reg_addr, *reg_addr_max),
                (*reg_proto, *reg_proto_max),
                *flags,
            ),
            Expr::Redir { reg_proto, flags } => self.redir(*reg_proto, *flags),
            Expr::Masq {
                flags,
                reg_proto,
                reg_proto_max,
            } => self.masq(*flags, (*reg_proto, *reg_proto_max)),
            Expr::MetaSet { sreg, key } if *key != 3 => self.meta_set(*sreg, *key),
            Expr::MetaSet { sreg, key } => self.mangle(
                *sreg,
                json!({"meta": {"key": meta_key(*key).map_or("?", |k| k.0)}}),
                *key == 3,
            ),
            Expr::CtSet { sreg, key } => self.mangle(
                *sreg,
                json!({"ct": {"key": ct_key(*key).map_or("?", |k| k.0)}}),
                *key == 3,
            ),
            Expr::Notrack => json!({"notrack": null}),
            Expr::Quota {
                bytes,
                inv,
                consumed,
            } => quota(*bytes, *inv, *consumed),
            Expr::Objref { ty, name } => match ty {
                1 => json!({"counter": name}),
                2 => json!({"quota": name}),
                3 => json!({"ct helper": name}),
                4 => json!({"limit": name}),
                t => raw(format!("objref type {t} \"{name}\"")),
            },
            Expr::Xt { target, name } => {
                json!({"xt": {"type": if *target { "target" } else { "match" }, "name": name}})
            }
            Expr::Dynset {
                op,
                set,
                sreg,
                exprs,
            } => self.dynset(*op, set, *sreg, exprs),
            Expr::Other { name, .. } => {
                // Its registers are not known: nothing loaded before may be trusted after it.
                self.regs.iter_mut().for_each(|r| *r = None);
                if DIVERTS.contains(&name.as_str()) {
                    raw_action(describe(e))
                } else {
                    raw(describe(e))
                }
            }
            other => raw(describe(other)),
        }
    }

    /// The JSON of a register's contents as the left side of a match.
    fn left(&mut self, s: &Sym) -> Option<Left> {
        Some(match s {
            Sym::Payload { base, off, len } => {
                let n = self.name_payload(*base, *off, *len)?;
                let prefix_of = (n.len != *len).then_some(n);
                Left {
                    left: LeftE::Payload(n.proto, n.field),
                    ty: n.ty,
                    prefix_of,
                }
            }
            Sym::Meta(k) => {
                let (name, ty) = meta_key(*k)?;
                Left {
                    left: LeftE::Meta(name),
                    ty,
                    prefix_of: None,
                }
            }
            Sym::Ct(k, dir) => {
                let (name, ty) = ct_key(*k)?;
                let dir = dir.map(|d| if d == 0 { "original" } else { "reply" });
                Left {
                    left: LeftE::Ct(name, dir),
                    ty,
                    prefix_of: None,
                }
            }
            Sym::Fib(result, flags) => {
                let mut f = vec![];
                for (bit, name) in [
                    (1, "saddr"),
                    (2, "daddr"),
                    (4, "mark"),
                    (8, "iif"),
                    (16, "oif"),
                ] {
                    if flags & bit != 0 {
                        f.push(name);
                    }
                }
                let (name, ty) = match result {
                    _ if flags & FIB_PRESENT != 0 => (fib_result(*result)?, Ty::Bool),
                    1 => ("oif", Ty::IfIndex),
                    2 => ("oifname", Ty::Iface),
                    3 => ("type", Ty::AddrType),
                    _ => return None,
                };
                Left {
                    left: LeftE::Fib(name, f),
                    ty,
                    prefix_of: None,
                }
            }
            Sym::Json(v, ty) => Left {
                left: LeftE::Json(v.clone()),
                ty: *ty,
                prefix_of: None,
            },
            Sym::Hton(inner) => {
                let l = self.left(inner)?;
                let ty = if l.ty == Ty::Int {
                    Ty::IntBe
                } else {
                    return None;
                };
                Left { ty, ..l }
            }
            _ => return None,
        })
    }

    /// Names a payload load from the protocol context, consuming the dependency nft added.
    fn name_payload(&mut self, base: u32, off: u32, len: u32) -> Option<Named> {
        match base {
            1 => {
                let (proto, table) = fields::network(self.nf?)?;
                let n = fields::lookup(proto, table, off, len)?;
                let nf = self.nf;
                if self.family != family::IP && self.family != family::IP6 {
                    self.consume(|d| Some(d) == nf.map(Dep::Nf));
                    let eth = if nf == Some(2) { 0x0800 } else { 0x86dd };
                    self.consume(|d| d == Dep::Eth(eth));
                }
                Some(n)
            }
            2 => {
                let found = self
                    .l4
                    .and_then(fields::transport)
                    .and_then(|(p, t)| fields::lookup(p, t, off, len));
                let Some(n) = found else {
                    return fields::th(off, len);
                };
                let l4 = self.l4;
                self.consume(|d| Some(d) == l4.map(Dep::L4));
                match n.proto {
                    "icmp" => {
                        self.consume(|d| d == Dep::Nf(2));
                    }
                    "icmpv6" => {
                        self.consume(|d| d == Dep::Nf(10));
                    }
                    _ => {}
                }
                Some(n)
            }
            _ => None,
        }
    }

    /// One load compared with one value across several adjacent fields (iptables-nft loads
    /// `--sport 67 --dport 68` as four bytes): one match per field, as nft lists it.
    fn split_payload(&mut self, base: u32, off: u32, len: u32, data: &[u8]) -> Option<Vec<Stmt>> {
        let (proto, table) = match base {
            1 => fields::network(self.nf?)?,
            2 => fields::transport(self.l4?)?,
            _ => return None,
        };
        if fields::lookup(proto, table, off, len).is_some() || data.len() < len as usize {
            return None;
        }
        // Header fields lie within the first 40 bytes; anything further is not a split load.
        let end = off.checked_add(len).filter(|e| *e <= 64)?;
        let mut pieces = Vec::new();
        let mut o = off;
        while o < end {
            let &(_, fl, _, _) = table.iter().find(|f| f.0 == o && o + f.1 <= end)?;
            pieces.push((o, fl));
            o += fl;
        }
        let mut out = Vec::with_capacity(pieces.len());
        for (o, fl) in pieces {
            let n = self.name_payload(base, o, fl)?;
            let b = &data[(o - off) as usize..(o - off + fl) as usize];
            let right = self.value(n.ty, b)?;
            out.push(Stmt::Match {
                op: "==",
                left: LeftE::Payload(n.proto, n.field),
                right,
            });
        }
        Some(out)
    }

    fn value(&self, ty: Ty, b: &[u8]) -> Option<Value> {
        to_json(ty, b, self.ifname)
    }

    fn cmp(&mut self, sreg: u32, op: u32, data: &[u8], next: Option<&Expr>) -> usize {
        let Some(s) = self.sym(sreg) else {
            self.push_json(raw(format!("cmp on register {sreg} not decoded")));
            return 1;
        };
        if let Some(v) = self.dependency(&s, op, data) {
            return v;
        }
        if let (
            5,
            Some(Expr::Cmp {
                sreg: r2,
                op: 3,
                data: to,
            }),
        ) = (op, next)
        {
            if *r2 == sreg {
                self.range(sreg, 0, data, to);
                return 2;
            }
        }
        if let (Sym::Payload { base, off, len }, 0) = (&s, op) {
            if let Some(ms) = self.split_payload(*base, *off, *len, data) {
                ms.into_iter().for_each(|m| self.push(m));
                return 1;
            }
        }
        let m = match &s {
            Sym::Masked(inner, mask) => self.masked(inner, mask, op, data),
            _ => self.plain(&s, op, data),
        };
        let m = m.unwrap_or_else(|| Stmt::Json(raw(format!("cmp {} {} on {s:?}", op, hex(data)))));
        self.push(m);
        1
    }

    /// A protocol comparison that may be a dependency of a later load: recorded.
    fn dependency(&mut self, s: &Sym, op: u32, data: &[u8]) -> Option<usize> {
        if op != 0 {
            return None;
        }
        let dep = match s {
            Sym::Meta(META_L4PROTO) if data.len() == 1 => Dep::L4(data[0]),
            Sym::Meta(META_NFPROTO) if data.len() == 1 => Dep::Nf(data[0]),
            Sym::Meta(META_PROTOCOL) if data.len() == 2 => {
                Dep::Eth(u16::from_be_bytes([data[0], data[1]]))
            }
            _ => return None,
        };
        let m = self.plain(s, op, data)?;
        match dep {
            Dep::L4(p) => self.l4 = Some(p),
            Dep::Nf(n) if self.family != family::IP && self.family != family::IP6 => {
                self.nf = Some(n)
            }
            Dep::Eth(0x0800) if self.family == family::IP => return Some(1),
            Dep::Eth(0x86dd) if self.family == family::IP6 => return Some(1),
            Dep::Eth(0x0800) if matches!(self.family, family::NETDEV | family::BRIDGE) => {
                self.nf = Some(2)
            }
            Dep::Eth(0x86dd) if matches!(self.family, family::NETDEV | family::BRIDGE) => {
                self.nf = Some(10)
            }
            _ => {}
        }
        self.deps.push((self.out.len(), dep));
        self.push(m);
        Some(1)
    }

    fn plain(&mut self, s: &Sym, op: u32, data: &[u8]) -> Option<Stmt> {
        let l = self.left(s)?;
        let opn = op_name(op)?;
        if let Some(n) = l.prefix_of {
            if op > 1 {
                return None;
            }
            let mut full = data.to_vec();
            let bits = data.len() as u32 * 8;
            full.resize(n.len as usize, 0);
            let addr = self.value(n.ty, &full)?;
            return Some(Stmt::Match {
                op: opn,
                left: l.left,
                right: json!({"prefix": {"addr": addr, "len": bits}}),
            });
        }
        let right = self.value(l.ty, data)?;
        Some(Stmt::Match {
            op: opn,
            left: l.left,
            right,
        })
    }

    fn masked(&mut self, inner: &Sym, mask: &[u8], op: u32, data: &[u8]) -> Option<Stmt> {
        let l = self.left(inner)?;
        let opn = op_name(op)?;
        if is_flags(l.ty) && op == 1 && data.iter().all(|&b| b == 0) {
            let bits = values::flags_json(l.ty, values::int(l.ty, mask));
            return Some(Stmt::Match {
                op: "in",
                left: l.left,
                right: bits,
            });
        }
        let field = l.prefix_of.map(|n| (n.ty, n.len as usize));
        let addr_ty = field
            .map(|f| f.0)
            .or(matches!(l.ty, Ty::Ip4 | Ty::Ip6).then_some(l.ty));
        if let (Some(ty), Some(p), true) = (addr_ty, prefix_len(mask), op <= 1) {
            let mut full = data.to_vec();
            full.resize(values::width(ty).unwrap_or(data.len()), 0);
            let addr = self.value(ty, &full)?;
            return Some(Stmt::Match {
                op: opn,
                left: l.left,
                right: json!({"prefix": {"addr": addr, "len": p}}),
            });
        }
        if l.prefix_of.is_some() {
            return None;
        }
        let m = if is_flags(l.ty) {
            values::flags_json(l.ty, values::int(l.ty, mask))
        } else {
            self.value(l.ty, mask)?
        };
        let right = self.value(l.ty, data)?;
        Some(Stmt::Match {
            op: opn,
            left: LeftE::And(Box::new(l.left), m),
            right,
        })
    }

    fn range(&mut self, sreg: u32, op: u32, from: &[u8], to: &[u8]) {
        let m = self.sym(sreg).and_then(|s| {
            let l = self.left(&s)?;
            if l.prefix_of.is_some() || op > 1 {
                return None;
            }
            let (a, b) = (self.value(l.ty, from)?, self.value(l.ty, to)?);
            Some(Stmt::Match {
                op: op_name(op)?,
                left: l.left,
                right: json!({"range": [a, b]}),
            })
        });
        let m =
            m.unwrap_or_else(|| Stmt::Json(raw(format!("range {op} {} {}", hex(from), hex(to)))));
        self.push(m);
    }

    /// The key of a lookup: one register, or a concatenation over following registers.
    fn key(&mut self, sreg: u32, tys: usize) -> Option<(LeftE, Vec<Ty>)> {
        let mut parts = Vec::new();
        let mut r = sreg;
        for _ in 0..tys.max(1) {
            let s = self.sym(r)?;
            let width = match &s {
                Sym::Payload { len, .. } => *len as usize,
                Sym::Meta(k) => meta_key(*k)
                    .and_then(|(_, t)| values::width(t))
                    .unwrap_or(4),
                Sym::Ct(k, _) => ct_key(*k).and_then(|(_, t)| values::width(t)).unwrap_or(4),
                _ => 4,
            };
            let l = self.left(&s)?;
            if l.prefix_of.is_some() {
                return None;
            }
            parts.push(l);
            r = r.saturating_add(u32::try_from(width.div_ceil(4)).unwrap_or(u32::MAX));
        }
        let tys = parts.iter().map(|p| p.ty).collect();
        if parts.len() == 1 {
            return Some((parts.remove(0).left, tys));
        }
        let ls: Vec<LeftE> = parts.into_iter().map(|p| p.left).collect();
        Some((LeftE::Concat(ls), tys))
    }

    fn lookup(&mut self, sreg: u32, dreg: Option<u32>, name: &str, inv: bool) {
        let set = self.sets.get_in(self.family, self.table, name);
        let n = set.map_or(1, |s| s.key_types().len().max(1));
        let v = self.key(sreg, n).and_then(|(key, tys)| {
            let set = set?;
            let right = if set.is_anonymous() {
                inline_set(set, &tys, self.ifname).ok()?
            } else {
                json!(format!("@{name}"))
            };
            match dreg {
                Some(0) => Some(Stmt::Json(
                    json!({"vmap": {"key": key.to_json(), "data": right}}),
                )),
                Some(_) => None,
                None => Some(Stmt::Match {
                    op: if inv { "!=" } else { "==" },
                    left: key,
                    right,
                }),
            }
        });
        if let Some(d) = dreg {
            self.set_reg(d, None);
        }
        let v = v.unwrap_or_else(|| {
            let text = format!("lookup in set {name} not decoded");
            Stmt::Json(if dreg == Some(0) {
                raw_action(text)
            } else {
                raw(text)
            })
        });
        self.push(v);
    }

    /// A `reject`: nft hides the newest `meta nfproto` (and, before a TCP reset, the newest
    /// `meta l4proto tcp`) when only matches stand between it and the reject.
    fn reject(&mut self, ty: u32, code: u8) -> Stmt {
        if ty <= 1 {
            self.consume(|d| matches!(d, Dep::Nf(_)));
        }
        if ty == 1 {
            self.consume(|d| d == Dep::L4(6));
            return Stmt::Reject("tcp reset", None);
        }
        let v6 = ty == 0
            && (self.family == family::IP6 || (self.family != family::IP && self.nf == Some(10)));
        let (kind, name) = match ty {
            0 if v6 => ("icmpv6", icmp6_code(code)),
            0 => ("icmp", icmp_code(code)),
            2 => ("icmpx", icmpx_code(code)),
            _ => return Stmt::Json(raw(format!("reject type {ty} code {code}"))),
        };
        match name {
            Some(n) => Stmt::Reject(kind, Some(json!(n))),
            None => Stmt::Reject(kind, Some(json!(code))),
        }
    }

    fn imm(&self, r: u32) -> Option<Vec<u8>> {
        match self.sym(r)? {
            Sym::Imm(v) => Some(v),
            _ => None,
        }
    }

    /// A value or `{"range": [min, max]}` from a register pair (max 0 or equal: one value).
    fn reg_range(&self, (min, max): (u32, u32), ty: Ty) -> Option<Option<Value>> {
        if min == 0 {
            return Some(None);
        }
        let lo = self.value(ty, &self.imm(min)?)?;
        if max == 0 || max == min {
            return Some(Some(lo));
        }
        let hi = self.value(ty, &self.imm(max)?)?;
        Some(Some(if lo == hi {
            lo
        } else {
            json!({"range": [lo, hi]})
        }))
    }

    fn nat(&mut self, ty: u32, fam: u32, addr: (u32, u32), proto: (u32, u32), flags: u32) -> Value {
        let kind = if ty == 1 { "dnat" } else { "snat" };
        let addr_ty = if fam == 10 { Ty::Ip6 } else { Ty::Ip4 };
        let (Some(addr), Some(port)) = (
            self.reg_range(addr, addr_ty),
            self.reg_range(proto, Ty::Port),
        ) else {
            return raw_action(format!("{kind} with registers not decoded"));
        };
        let (addr, port) = (addr.map(Some), port.map(Some));
        if flags & !0x3 != 0 {
            return raw_action(format!("{kind} with flags {flags:#x} not decoded"));
        }
        let mut body = serde_json::Map::new();
        if self.family == family::INET {
            body.insert("family".into(), json!(if fam == 10 { "ip6" } else { "ip" }));
        }
        if let Some(Some(a)) = addr {
            body.insert("addr".into(), a);
        }
        if let Some(Some(p)) = port {
            body.insert("port".into(), p);
        }
        json!({ kind: body })
    }

    /// `masquerade [to :PORTS] [random,fully-random,persistent]`, as nft lists it.
    fn masq(&mut self, flags: u32, proto: (u32, u32)) -> Value {
        let names: Vec<&str> = [(4, "random"), (16, "fully-random"), (8, "persistent")]
            .into_iter()
            .filter(|(b, _)| flags & b != 0)
            .map(|(_, n)| n)
            .collect();
        if flags & !(0x2 | 0x4 | 0x8 | 0x10) != 0 {
            return raw_action(format!("masq flags {flags:#x}"));
        }
        let Some(port) = self.reg_range(proto, Ty::Port) else {
            return raw_action("masquerade to a port not decoded".into());
        };
        let mut body = serde_json::Map::new();
        if let Some(p) = port {
            body.insert("port".into(), p);
        }
        match names.as_slice() {
            [] => {}
            [one] => {
                body.insert("flags".into(), json!(one));
            }
            many => {
                body.insert("flags".into(), json!(many));
            }
        }
        if body.is_empty() {
            json!({"masquerade": null})
        } else {
            json!({ "masquerade": body })
        }
    }

    fn redir(&mut self, reg_proto: u32, flags: u32) -> Value {
        if flags & !0x2 != 0 {
            return raw_action(format!("redirect flags {flags:#x}"));
        }
        if reg_proto == 0 {
            return json!({"redirect": null});
        }
        match self.imm(reg_proto).and_then(|b| self.value(Ty::Port, &b)) {
            Some(p) => json!({"redirect": {"port": p}}),
            None => raw_action("redirect to a port not decoded".into()),
        }
    }

    /// `meta KEY set VALUE` for keys other than the mark (no effect on the model).
    fn meta_set(&mut self, sreg: u32, key: u32) -> Value {
        let name = meta_key(key).map(|k| k.0);
        let value = match self.sym(sreg) {
            Some(Sym::Imm(v)) => meta_value(key, &v),
            _ => None,
        };
        match (name, value) {
            (Some(k), Some(v)) => json!({"mangle": {"key": {"meta": {"key": k}}, "value": v}}),
            _ => raw(format!("meta set {key} from register {sreg} not decoded")),
        }
    }

    fn mangle(&mut self, sreg: u32, key: Value, is_mark: bool) -> Value {
        let value = match self.sym(sreg) {
            Some(Sym::Imm(v)) if is_mark && v.len() == 4 => {
                Some(json!(values::int(Ty::Int, &v) as u64))
            }
            Some(Sym::Meta(3)) => Some(json!({"meta": {"key": "mark"}})),
            Some(Sym::Ct(3, None)) => Some(json!({"ct": {"key": "mark"}})),
            Some(Sym::Masked(inner, mask)) if mask.len() == 4 => self
                .mark_source(&inner)
                .map(|m| json!({"&": [m, values::int(Ty::Int, &mask) as u64]})),
            Some(Sym::Bits(inner, mask, xor)) if is_mark && mask.len() == 4 && xor.len() == 4 => {
                let (m, x) = (values::int(Ty::Int, &mask), values::int(Ty::Int, &xor));
                let op = if m == !x & 0xffff_ffff {
                    Some("|")
                } else if m == 0xffff_ffff {
                    Some("^")
                } else {
                    None
                };
                self.mark_source(&inner)
                    .zip(op)
                    .map(|(src, op)| json!({ op: [src, x as u64] }))
                    .or(Some(json!({"nl_raw": "mark arithmetic"})))
            }
            _ => None,
        };
        match value {
            Some(v) => json!({"mangle": {"key": key, "value": v}}),
            None => raw(format!("set {key} from register {sreg} not decoded")),
        }
    }

    /// `mark` or `ct mark` as the source of a mark arithmetic.
    fn mark_source(&self, s: &Sym) -> Option<Value> {
        match s {
            Sym::Meta(3) => Some(json!({"meta": {"key": "mark"}})),
            Sym::Ct(3, None) => Some(json!({"ct": {"key": "mark"}})),
            _ => None,
        }
    }

    fn dynset(&mut self, op: u32, set: &str, sreg: u32, exprs: &[Expr]) -> Value {
        let n = self
            .sets
            .get_in(self.family, self.table, set)
            .map_or(1, |s| s.key_types().len().max(1));
        let Some((key, _)) = self.key(sreg, n) else {
            return raw(format!("dynset on @{set} not decoded"));
        };
        let key = key.to_json();
        let op = match op {
            0 => "add",
            1 => "update",
            _ => "delete",
        };
        let stmt: Vec<Value> = exprs.iter().map(|e| self.statement_json(e)).collect();
        json!({"set": {"op": op, "elem": key, "set": format!("@{set}"), "stmt": stmt}})
    }
}
