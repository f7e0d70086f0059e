//! Rule expressions (`NFTA_RULE_EXPRESSIONS`) decoded from their documented attribute layout
//! (`include/uapi/linux/netfilter/nf_tables.h`) into [`Expr`]. Names the decoder does not know
//! become [`Expr::Other`], keeping the raw name: never a guess.

use super::attr::{Attrs, attrs};
use super::error::NetlinkError;

/// Verdict or value data (`NFTA_DATA_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Data {
    /// `NFTA_DATA_VALUE`: raw bytes.
    Value(Vec<u8>),
    /// `NFTA_DATA_VERDICT`: verdict code and, for jump/goto, the chain.
    Verdict(i32, Option<String>),
}

/// One decoded expression. Registers are normalised to 32-bit register numbers
/// (`NFT_REG_1` = `NFT_REG32_00` = 8); the verdict register is 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// `payload load`: `len` bytes at `offset` of header `base` (0 ll, 1 network, 2 transport).
    Payload {
        dreg: u32,
        base: u32,
        offset: u32,
        len: u32,
    },
    /// `meta load`.
    Meta { dreg: u32, key: u32 },
    /// `meta set`.
    MetaSet { sreg: u32, key: u32 },
    /// `ct load`; `dir` when a direction was given.
    Ct {
        dreg: u32,
        key: u32,
        dir: Option<u8>,
    },
    /// `ct set`.
    CtSet { sreg: u32, key: u32 },
    /// `cmp`: op 0 eq, 1 neq, 2 lt, 3 lte, 4 gt, 5 gte.
    Cmp { sreg: u32, op: u32, data: Vec<u8> },
    /// `bitwise` (mask and xor; `op` 0), or a shift (`op` 1, 2).
    Bitwise {
        sreg: u32,
        dreg: u32,
        op: u32,
        mask: Vec<u8>,
        xor: Vec<u8>,
    },
    /// `byteorder`.
    Byteorder {
        sreg: u32,
        dreg: u32,
        op: u32,
        len: u32,
        size: u32,
    },
    /// `range`: op 0 eq, 1 neq.
    Range {
        sreg: u32,
        op: u32,
        from: Vec<u8>,
        to: Vec<u8>,
    },
    /// `lookup` in a set; `dreg` for maps (0: verdict map); `inv` for `!=`.
    Lookup {
        sreg: u32,
        dreg: Option<u32>,
        set: String,
        inv: bool,
    },
    /// `dynset`: a set update from the packet path, with its stateful expressions decoded.
    Dynset {
        op: u32,
        set: String,
        sreg: u32,
        exprs: Vec<Expr>,
    },
    /// `immediate`: a value into a register, or a verdict.
    Immediate { dreg: u32, data: Data },
    /// `counter`.
    Counter { packets: u64, bytes: u64 },
    /// `log`.
    Log {
        prefix: Option<String>,
        group: Option<u16>,
        level: Option<u32>,
    },
    /// `limit`: rate per `unit` seconds; `bytes` when a byte rate; `inv` for `over`.
    Limit {
        rate: u64,
        unit: u64,
        burst: u32,
        bytes: bool,
        inv: bool,
    },
    /// `reject`: type 0 ICMP(v6) unreachable, 1 TCP reset, 2 ICMPx; its code.
    Reject { ty: u32, code: u8 },
    /// `nat`: 0 snat, 1 dnat; registers of the address and port ranges (0 when absent).
    Nat {
        ty: u32,
        family: u32,
        reg_addr: u32,
        reg_addr_max: u32,
        reg_proto: u32,
        reg_proto_max: u32,
        flags: u32,
    },
    /// `redir`: register of the port (0 when absent).
    Redir { reg_proto: u32, flags: u32 },
    /// `masq`: flags and the registers of a port range (0 when absent).
    Masq {
        flags: u32,
        reg_proto: u32,
        reg_proto_max: u32,
    },
    /// `fib`: result and flags.
    Fib { dreg: u32, result: u32, flags: u32 },
    /// `notrack`.
    Notrack,
    /// `exthdr` load: header kind `op` (0 IPv6, 1 TCP option, 2 IPv4 option …), option
    /// `kind`, `len` bytes at `offset`; `flags` 1 = only whether the option is present.
    Exthdr {
        dreg: u32,
        op: u32,
        kind: u8,
        offset: u32,
        len: u32,
        flags: u32,
    },
    /// `quota`: bytes, `over` when inverted, bytes consumed so far.
    Quota {
        bytes: u64,
        inv: bool,
        consumed: u64,
    },
    /// `numgen`: a number generator (random or incremental) into a register.
    Numgen {
        dreg: u32,
        modulus: u32,
        random: bool,
        offset: u32,
    },
    /// `objref`: a named stateful object (counter 1, quota 2, ct helper 3, limit 4).
    Objref { ty: u32, name: String },
    /// iptables-nft compatibility `match` / `target` by name.
    Xt { target: bool, name: String },
    /// Any other expression: its name and attribute types, for the user to see.
    Other { name: String, detail: String },
}

/// Normalises a register number to the 32-bit register space.
pub fn reg(r: u32) -> u32 {
    match r {
        1..=4 => 8 + (r - 1) * 4,
        _ => r,
    }
}

/// Decodes the nested `NFTA_RULE_EXPRESSIONS` list.
pub fn decode_list(bytes: &[u8]) -> Result<Vec<Expr>, NetlinkError> {
    let mut out = Vec::new();
    for a in attrs(bytes) {
        let (_, elem) = a?;
        let e = Attrs::parse(elem)?;
        let name = e.str(1).unwrap_or_default();
        let data = e.get(2).unwrap_or(&[]);
        out.push(decode(&name, data)?);
    }
    Ok(out)
}

/// Decodes `NFTA_DATA_*` (value or verdict).
pub fn decode_data(bytes: &[u8]) -> Result<Data, NetlinkError> {
    let a = Attrs::parse(bytes)?;
    if let Some(v) = a.get(1) {
        return Ok(Data::Value(v.to_vec()));
    }
    if let Some(v) = a.nested(2)? {
        let code = v.be32(1).unwrap_or(0) as i32;
        return Ok(Data::Verdict(code, v.str(2)));
    }
    Err(NetlinkError::Malformed(
        "data without value or verdict".into(),
    ))
}

fn value(a: &Attrs<'_>, k: u16) -> Result<Vec<u8>, NetlinkError> {
    match a.get(k).map(decode_data).transpose()? {
        Some(Data::Value(v)) => Ok(v),
        _ => Ok(Vec::new()),
    }
}

fn r32(a: &Attrs<'_>, k: u16) -> u32 {
    a.be32(k).unwrap_or(0)
}

fn rg(a: &Attrs<'_>, k: u16) -> u32 {
    reg(r32(a, k))
}

fn decode(name: &str, data: &[u8]) -> Result<Expr, NetlinkError> {
    let a = Attrs::parse(data)?;
    Ok(match name {
        "payload" if a.get(5).is_none() => Expr::Payload {
            dreg: rg(&a, 1),
            base: r32(&a, 2),
            offset: r32(&a, 3),
            len: r32(&a, 4),
        },
        "meta" if a.get(1).is_some() => Expr::Meta {
            dreg: rg(&a, 1),
            key: r32(&a, 2),
        },
        "meta" => Expr::MetaSet {
            sreg: rg(&a, 3),
            key: r32(&a, 2),
        },
        "ct" if a.get(1).is_some() => Expr::Ct {
            dreg: rg(&a, 1),
            key: r32(&a, 2),
            dir: a.get(3).and_then(|v| v.first().copied()),
        },
        "ct" if a.get(3).is_none() => Expr::CtSet {
            sreg: rg(&a, 4),
            key: r32(&a, 2),
        },
        "cmp" => Expr::Cmp {
            sreg: rg(&a, 1),
            op: r32(&a, 2),
            data: value(&a, 3)?,
        },
        "bitwise" => Expr::Bitwise {
            sreg: rg(&a, 1),
            dreg: rg(&a, 2),
            op: r32(&a, 6),
            mask: value(&a, 4)?,
            xor: value(&a, 5)?,
        },
        "byteorder" => Expr::Byteorder {
            sreg: rg(&a, 1),
            dreg: rg(&a, 2),
            op: r32(&a, 3),
            len: r32(&a, 4),
            size: r32(&a, 5),
        },
        "range" => Expr::Range {
            sreg: rg(&a, 1),
            op: r32(&a, 2),
            from: value(&a, 3)?,
            to: value(&a, 4)?,
        },
        "lookup" => Expr::Lookup {
            sreg: rg(&a, 2),
            dreg: a.be32(3).map(reg),
            set: a.str(1).unwrap_or_default(),
            inv: r32(&a, 5) & 1 != 0,
        },
        "dynset" => Expr::Dynset {
            op: r32(&a, 3),
            set: a.str(1).unwrap_or_default(),
            sreg: rg(&a, 4),
            exprs: dynset_exprs(&a)?,
        },
        "immediate" => Expr::Immediate {
            dreg: rg(&a, 1),
            data: a
                .get(2)
                .map(decode_data)
                .transpose()?
                .unwrap_or(Data::Value(vec![])),
        },
        "counter" => Expr::Counter {
            packets: a.be64(2).unwrap_or(0),
            bytes: a.be64(1).unwrap_or(0),
        },
        "log" => Expr::Log {
            prefix: a.str(2),
            group: a
                .get(1)
                .and_then(|v| Some(u16::from_be_bytes(v.get(..2)?.try_into().ok()?))),
            level: a.be32(5),
        },
        "limit" => Expr::Limit {
            rate: a.be64(1).unwrap_or(0),
            unit: a.be64(2).unwrap_or(1),
            burst: r32(&a, 3),
            bytes: r32(&a, 4) == 1,
            inv: r32(&a, 5) & 1 != 0,
        },
        "reject" => Expr::Reject {
            ty: r32(&a, 1),
            code: a.get(2).and_then(|v| v.first().copied()).unwrap_or(0),
        },
        "nat" => Expr::Nat {
            ty: r32(&a, 1),
            family: r32(&a, 2),
            reg_addr: rg(&a, 3),
            reg_addr_max: rg(&a, 4),
            reg_proto: rg(&a, 5),
            reg_proto_max: rg(&a, 6),
            flags: r32(&a, 7),
        },
        "redir" => Expr::Redir {
            reg_proto: rg(&a, 1),
            flags: r32(&a, 3),
        },
        "masq" => Expr::Masq {
            flags: r32(&a, 1),
            reg_proto: rg(&a, 2),
            reg_proto_max: rg(&a, 3),
        },
        "fib" => Expr::Fib {
            dreg: rg(&a, 1),
            result: r32(&a, 2),
            flags: r32(&a, 3),
        },
        "notrack" => Expr::Notrack,
        "numgen" => Expr::Numgen {
            dreg: rg(&a, 1),
            modulus: r32(&a, 2),
            random: r32(&a, 3) == 1,
            offset: r32(&a, 4),
        },
        "exthdr" if a.get(1).is_some() => Expr::Exthdr {
            dreg: rg(&a, 1),
            op: r32(&a, 6),
            kind: a.get(2).and_then(|v| v.first().copied()).unwrap_or(0),
            offset: r32(&a, 3),
            len: r32(&a, 4),
            flags: r32(&a, 5),
        },
        "quota" => Expr::Quota {
            bytes: a.be64(1).unwrap_or(0),
            inv: r32(&a, 2) & 1 != 0,
            consumed: a.be64(4).unwrap_or(0),
        },
        "objref" if a.get(2).is_some() => Expr::Objref {
            ty: r32(&a, 1),
            name: a.str(2).unwrap_or_default(),
        },
        "match" | "target" => Expr::Xt {
            target: name == "target",
            name: a.str(1).unwrap_or_default(),
        },
        _ => Expr::Other {
            name: name.to_string(),
            detail: describe(data)?,
        },
    })
}

/// The stateful expressions attached to a dynset (`NFTA_DYNSET_EXPR`, or the list
/// `NFTA_DYNSET_EXPRESSIONS`), decoded like a rule's expressions.
fn dynset_exprs(a: &Attrs<'_>) -> Result<Vec<Expr>, NetlinkError> {
    let mut out = Vec::new();
    let mut one = |e: Attrs<'_>| -> Result<(), NetlinkError> {
        let name = e.str(1).unwrap_or_default();
        out.push(decode(&name, e.get(2).unwrap_or(&[]))?);
        Ok(())
    };
    if let Some(e) = a.nested(7)? {
        one(e)?;
    }
    if let Some(list) = a.get(10) {
        for e in attrs(list) {
            let (_, v) = e?;
            one(Attrs::parse(v)?)?;
        }
    }
    Ok(out)
}

/// A short description of raw attributes: `attr N = hex` for each.
fn describe(data: &[u8]) -> Result<String, NetlinkError> {
    let mut parts = Vec::new();
    for a in attrs(data) {
        let (k, v) = a?;
        let hex: String = v.iter().take(16).map(|b| format!("{b:02x}")).collect();
        parts.push(format!("{k}={hex}"));
    }
    Ok(parts.join(" "))
}
