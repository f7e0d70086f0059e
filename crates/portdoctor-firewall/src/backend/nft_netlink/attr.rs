//! Netlink framing: message headers (`nlmsghdr` + `nfgenmsg`) and attribute (TLV) walking.
//! Pure byte parsing; every length is checked, nothing panics on short input.

use super::error::NetlinkError;

/// `NLMSG_ERROR`.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`.
pub const NLMSG_DONE: u16 = 3;
/// `NFNL_SUBSYS_NFTABLES`, the high byte of every nf_tables message type.
pub const NFNL_SUBSYS_NFTABLES: u16 = 10;
/// `NLA_F_NESTED` | `NLA_F_NET_BYTEORDER`: flag bits of an attribute type.
const NLA_TYPE_MASK: u16 = 0x3fff;

/// One netlink message of a dump.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// `nlmsg_type`.
    pub kind: u16,
    /// `nfgen_family` of the `nfgenmsg` header (0 when the message has none).
    pub family: u8,
    /// The attributes after the `nfgenmsg` header (or the raw payload of control messages).
    pub payload: &'a [u8],
}

/// Splits a byte stream of netlink messages. A message that claims more bytes than remain,
/// or fewer than a header, is an error.
pub fn messages(mut bytes: &[u8]) -> impl Iterator<Item = Result<Message<'_>, NetlinkError>> {
    std::iter::from_fn(move || {
        if bytes.is_empty() {
            return None;
        }
        let r = next_message(bytes);
        match r {
            Ok((m, rest)) => {
                bytes = rest;
                Some(Ok(m))
            }
            Err(e) => {
                bytes = &[];
                Some(Err(e))
            }
        }
    })
}

fn next_message(bytes: &[u8]) -> Result<(Message<'_>, &[u8]), NetlinkError> {
    let malformed = |what: &str| NetlinkError::Malformed(format!("netlink message: {what}"));
    if bytes.len() < 16 {
        return Err(malformed("shorter than its header"));
    }
    let len = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let kind = u16::from_ne_bytes([bytes[4], bytes[5]]);
    if len < 16 || len > bytes.len() {
        return Err(malformed("length out of bounds"));
    }
    let body = &bytes[16..len];
    let rest = &bytes[align4(len).min(bytes.len())..];
    if kind == NLMSG_ERROR || kind == NLMSG_DONE || kind >> 8 != NFNL_SUBSYS_NFTABLES {
        let m = Message {
            kind,
            family: 0,
            payload: body,
        };
        return Ok((m, rest));
    }
    if body.len() < 4 {
        return Err(malformed("no nfgenmsg header"));
    }
    let m = Message {
        kind,
        family: body[0],
        payload: &body[4..],
    };
    Ok((m, rest))
}

/// Rounds up to the netlink alignment (4 bytes).
pub fn align4(n: usize) -> usize {
    n.saturating_add(3) & !3
}

/// Walks the attributes of `bytes`: `(type without flag bits, value)`.
pub fn attrs(mut bytes: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), NetlinkError>> {
    std::iter::from_fn(move || {
        if bytes.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([bytes[0], bytes[1]]) as usize;
        let kind = u16::from_ne_bytes([bytes[2], bytes[3]]) & NLA_TYPE_MASK;
        if len < 4 || len > bytes.len() {
            bytes = &[];
            return Some(Err(NetlinkError::Malformed(
                "attribute length out of bounds".into(),
            )));
        }
        let value = &bytes[4..len];
        bytes = &bytes[align4(len).min(bytes.len())..];
        Some(Ok((kind, value)))
    })
}

/// Highest attribute type any decoded object uses (`NFTA_SET_HANDLE`).
const MAX_TYPE: usize = 16;

/// Attributes indexed by type (the last one wins); types above [`MAX_TYPE`] are ignored.
/// Kept small: one is built for every expression of every rule.
pub struct Attrs<'a> {
    slots: [Option<&'a [u8]>; MAX_TYPE + 1],
}

impl<'a> Attrs<'a> {
    /// Parses one level of attributes.
    pub fn parse(bytes: &'a [u8]) -> Result<Attrs<'a>, NetlinkError> {
        let mut slots = [None; MAX_TYPE + 1];
        for a in attrs(bytes) {
            let (k, v) = a?;
            if let Some(s) = slots.get_mut(k as usize) {
                *s = Some(v);
            }
        }
        Ok(Attrs { slots })
    }

    /// The raw value of attribute `k`.
    pub fn get(&self, k: u16) -> Option<&'a [u8]> {
        self.slots.get(k as usize).copied().flatten()
    }

    /// A NUL-terminated string attribute.
    pub fn str(&self, k: u16) -> Option<String> {
        self.get(k).map(cstr)
    }

    /// A big-endian u32 attribute (`NLA_BE32`, as nf_tables sends them).
    pub fn be32(&self, k: u16) -> Option<u32> {
        self.get(k).and_then(be32)
    }

    /// A big-endian u64 attribute.
    pub fn be64(&self, k: u16) -> Option<u64> {
        let v = self.get(k)?;
        Some(u64::from_be_bytes(v.get(..8)?.try_into().ok()?))
    }

    /// A nested attribute, parsed.
    pub fn nested(&self, k: u16) -> Result<Option<Attrs<'a>>, NetlinkError> {
        self.get(k).map(Attrs::parse).transpose()
    }
}

/// Big-endian u32 of the first four bytes.
pub fn be32(v: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(v.get(..4)?.try_into().ok()?))
}

/// Text up to the first NUL (lossy UTF-8).
pub fn cstr(v: &[u8]) -> String {
    let end = v.iter().position(|&b| b == 0).unwrap_or(v.len());
    String::from_utf8_lossy(&v[..end]).into_owned()
}
