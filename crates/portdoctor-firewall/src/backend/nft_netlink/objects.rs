//! nf_tables objects of a dump (tables, chains, rules, sets, set elements, flowtables, the
//! generation), decoded from their attributes into plain structs.

use super::attr::{Attrs, Message, attrs};
use super::error::NetlinkError;
use super::expr::{Data, Expr, decode_data, decode_list};

/// `NFT_MSG_NEWTABLE` … message kinds (low byte of `nlmsg_type`).
pub mod msg {
    // The request kinds are sent by the Linux socket code only.
    #![cfg_attr(not(target_os = "linux"), allow(dead_code))]

    /// A table.
    pub const NEWTABLE: u8 = 0;
    /// Request: tables.
    pub const GETTABLE: u8 = 1;
    /// A chain.
    pub const NEWCHAIN: u8 = 3;
    /// Request: chains.
    pub const GETCHAIN: u8 = 4;
    /// A rule.
    pub const NEWRULE: u8 = 6;
    /// Request: rules.
    pub const GETRULE: u8 = 7;
    /// A set.
    pub const NEWSET: u8 = 9;
    /// Request: sets.
    pub const GETSET: u8 = 10;
    /// Set elements.
    pub const NEWSETELEM: u8 = 12;
    /// Request: set elements.
    pub const GETSETELEM: u8 = 13;
    /// The generation.
    pub const NEWGEN: u8 = 15;
    /// Request: the generation.
    pub const GETGEN: u8 = 16;
    /// A flowtable.
    pub const NEWFLOWTABLE: u8 = 22;
    /// Request: flowtables.
    pub const GETFLOWTABLE: u8 = 23;
}

/// A table.
#[derive(Debug, Clone, Default)]
pub struct RawTable {
    /// nfproto family.
    pub family: u8,
    /// Name.
    pub name: String,
    /// Handle.
    pub handle: Option<u64>,
}

/// A chain; `hook` for base chains: (hook number, priority, devices).
#[derive(Debug, Clone, Default)]
pub struct RawChain {
    /// nfproto family.
    pub family: u8,
    /// Table name.
    pub table: String,
    /// Name.
    pub name: String,
    /// Handle.
    pub handle: Option<u64>,
    /// Hook number, priority and devices of a base chain.
    pub hook: Option<(u32, i32, Vec<String>)>,
    /// Policy verdict (1 accept, 0 drop).
    pub policy: Option<u32>,
    /// Chain type (`filter`, `nat`, `route`).
    pub kind: Option<String>,
}

/// A rule with its expressions (its table and chain are read before, see `build`).
#[derive(Debug, Clone, Default)]
pub struct RawRule {
    /// Handle.
    pub handle: Option<u64>,
    /// Expressions in order.
    pub exprs: Vec<Expr>,
    /// The comment from the rule's user data.
    pub comment: Option<String>,
}

/// A set or map.
#[derive(Debug, Clone, Default)]
pub struct RawSet {
    /// nfproto family.
    pub family: u8,
    /// Table name.
    pub table: String,
    /// Name.
    pub name: String,
    /// `NFT_SET_*` flags.
    pub flags: u32,
    /// nft key type id (concatenations: 6 bits per component).
    pub key_type: u32,
    /// Key length in bytes.
    pub key_len: u32,
    /// Data type id of maps (`0xffffff00` for verdicts).
    pub data_type: Option<u32>,
    /// Field lengths of a concatenated key, when the kernel reports them.
    pub field_lens: Vec<u32>,
    /// Handle.
    pub handle: Option<u64>,
}

/// One set element.
#[derive(Debug, Clone, Default)]
pub struct RawElem {
    /// Key bytes.
    pub key: Vec<u8>,
    /// End of the key range (concatenated interval sets).
    pub key_end: Option<Vec<u8>>,
    /// Map data.
    pub data: Option<Data>,
    /// `NFT_SET_ELEM_*` flags (1: interval end, 2: catch-all).
    pub flags: u32,
}

/// Elements of one set, as one message carries them.
#[derive(Debug, Clone, Default)]
pub struct RawElems {
    /// nfproto family.
    pub family: u8,
    /// Table name.
    pub table: String,
    /// Set name.
    pub set: String,
    /// The elements.
    pub elems: Vec<RawElem>,
}

/// Any object of a dump.
#[derive(Debug, Clone)]
pub enum Object {
    /// A table.
    Table(RawTable),
    /// A chain.
    Chain(RawChain),
    /// A rule.
    Rule(RawRule),
    /// A set.
    Set(RawSet),
    /// Set elements.
    Elems(RawElems),
    /// A flowtable: dumped for a complete, consistent snapshot; it is not on the inbound
    /// path (it offloads forwarded flows), so the model has no place for it.
    Flowtable,
    /// The generation id.
    Gen(#[cfg_attr(not(target_os = "linux"), allow(dead_code))] u32),
}

/// Decodes one nf_tables message; `None` for kinds a dump does not carry.
pub fn decode(m: &Message<'_>) -> Result<Option<Object>, NetlinkError> {
    if m.kind >> 8 != super::attr::NFNL_SUBSYS_NFTABLES {
        return Ok(None);
    }
    let a = Attrs::parse(m.payload)?;
    let fam = m.family;
    Ok(Some(match (m.kind & 0xff) as u8 {
        msg::NEWTABLE => Object::Table(RawTable {
            family: fam,
            name: a.str(1).unwrap_or_default(),
            handle: a.be64(4),
        }),
        msg::NEWCHAIN => Object::Chain(chain(fam, &a)?),
        msg::NEWRULE => Object::Rule(RawRule {
            handle: a.be64(3),
            exprs: a.get(4).map(decode_list).transpose()?.unwrap_or_default(),
            comment: a.get(7).and_then(comment),
        }),
        msg::NEWSET => Object::Set(set(fam, &a)?),
        msg::NEWSETELEM => Object::Elems(elems(fam, &a)?),
        msg::NEWFLOWTABLE => Object::Flowtable,
        msg::NEWGEN => Object::Gen(a.be32(1).unwrap_or(0)),
        _ => return Ok(None),
    }))
}

fn chain(family: u8, a: &Attrs<'_>) -> Result<RawChain, NetlinkError> {
    let hook = match a.nested(4)? {
        Some(h) => {
            let mut devs: Vec<String> = h.str(3).into_iter().collect();
            if let Some(list) = h.get(4) {
                for d in attrs(list) {
                    let name = super::attr::cstr(d?.1);
                    if !devs.contains(&name) {
                        devs.push(name);
                    }
                }
            }
            let prio = h.be32(2).unwrap_or(0) as i32;
            Some((h.be32(1).unwrap_or(u32::MAX), prio, devs))
        }
        None => None,
    };
    Ok(RawChain {
        family,
        table: a.str(1).unwrap_or_default(),
        name: a.str(3).unwrap_or_default(),
        handle: a.be64(2),
        hook,
        policy: a.be32(5),
        kind: a.str(7),
    })
}

fn set(family: u8, a: &Attrs<'_>) -> Result<RawSet, NetlinkError> {
    let mut field_lens = Vec::new();
    if let Some(desc) = a.nested(9)? {
        if let Some(concat) = desc.get(2) {
            for f in attrs(concat) {
                let fa = Attrs::parse(f?.1)?;
                field_lens.push(fa.be32(1).unwrap_or(0));
            }
        }
    }
    Ok(RawSet {
        family,
        table: a.str(1).unwrap_or_default(),
        name: a.str(2).unwrap_or_default(),
        flags: a.be32(3).unwrap_or(0),
        key_type: a.be32(4).unwrap_or(0),
        key_len: a.be32(5).unwrap_or(0),
        data_type: a.be32(6),
        field_lens,
        handle: a.be64(16),
    })
}

fn elems(family: u8, a: &Attrs<'_>) -> Result<RawElems, NetlinkError> {
    let mut out = Vec::new();
    if let Some(list) = a.get(3) {
        for e in attrs(list) {
            let ea = Attrs::parse(e?.1)?;
            let key = |k| -> Result<Option<Vec<u8>>, NetlinkError> {
                Ok(match ea.get(k).map(decode_data).transpose()? {
                    Some(Data::Value(v)) => Some(v),
                    _ => None,
                })
            };
            out.push(RawElem {
                key: key(1)?.unwrap_or_default(),
                key_end: key(10)?,
                data: ea.get(2).map(decode_data).transpose()?,
                flags: ea.be32(3).unwrap_or(0),
            });
        }
    }
    Ok(RawElems {
        family,
        table: a.str(1).unwrap_or_default(),
        set: a.str(2).unwrap_or_default(),
        elems: out,
    })
}

/// The comment TLV (type 0, length byte, NUL-terminated text) of nft's rule user data.
fn comment(udata: &[u8]) -> Option<String> {
    let mut rest = udata;
    while rest.len() >= 2 {
        let (ty, len) = (rest[0], rest[1] as usize);
        let v = rest.get(2..2 + len)?;
        if ty == 0 {
            return Some(super::attr::cstr(v));
        }
        rest = &rest[2 + len..];
    }
    None
}
