//! The dump over a `NETLINK_NETFILTER` socket (netlink-sys): the generation id, then every
//! object kind, then the generation again; retried when it changed in between.

use super::attr::{NFNL_SUBSYS_NFTABLES, NLMSG_DONE, NLMSG_ERROR, align4, messages};
use super::build::{Rules, TableKey, iptables_nft_layouts, is_rule, rule_place};
use super::error::NetlinkError;
use super::objects::{Object, decode, msg};
use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_NETFILTER};
use std::os::fd::AsFd;

const NLM_F_REQUEST: u16 = 1;
const NLM_F_DUMP: u16 = 0x300;
const NFTA_SET_ELEM_LIST_TABLE: u16 = 1;
const NFTA_SET_ELEM_LIST_SET: u16 = 2;
const NFTA_RULE_TABLE: u16 = 1;
/// Dump attempts before giving up on a ruleset that keeps changing.
const ATTEMPTS: usize = 5;
/// Room made before each `recv`: a dump datagram is at most 32 KiB.
const RECV_BUFFER: usize = 64 * 1024;

struct Conn {
    sock: Socket,
    seq: u32,
}

impl Conn {
    fn open() -> Result<Conn, NetlinkError> {
        let mut sock = Socket::new(NETLINK_NETFILTER)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        let _ = sock.set_rx_buf_sz(4 * RECV_BUFFER);
        Ok(Conn { sock, seq: 1 })
    }

    /// Sends one request: `nlmsghdr`, `nfgenmsg`, attributes.
    fn request(
        &mut self,
        kind: u8,
        flags: u16,
        family: u8,
        attrs: &[(u16, &str)],
    ) -> Result<(), NetlinkError> {
        let mut body = vec![family, 0, 0, 0];
        for (k, v) in attrs {
            let len = 4 + v.len() + 1;
            body.extend_from_slice(&(len as u16).to_ne_bytes());
            body.extend_from_slice(&k.to_ne_bytes());
            body.extend_from_slice(v.as_bytes());
            body.push(0);
            body.resize(align4(body.len()), 0);
        }
        let mut m = Vec::with_capacity(16 + body.len());
        m.extend_from_slice(&((16 + body.len()) as u32).to_ne_bytes());
        m.extend_from_slice(&((NFNL_SUBSYS_NFTABLES << 8) | kind as u16).to_ne_bytes());
        m.extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
        m.extend_from_slice(&self.seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&body);
        self.seq += 1;
        self.sock.send(&m, 0)?;
        Ok(())
    }

    /// Receives until `NLMSG_DONE` (dumps) or one reply (`until_done` false), appending the
    /// messages to `out`. `ENOENT`/`EOPNOTSUPP` answers (object gone, kind unsupported) end
    /// the reply quietly.
    fn receive(&mut self, out: &mut Vec<u8>, until_done: bool) -> Result<(), NetlinkError> {
        loop {
            // Straight into `out`: big dumps are megabytes, copied once.
            out.reserve(RECV_BUFFER);
            let start = out.len();
            let n = self.sock.recv(out, 0)?;
            if n > out.len() - start {
                return Err(NetlinkError::Malformed("netlink datagram truncated".into()));
            }
            let chunk = &out[start..];
            let mut done = !until_done;
            for m in messages(chunk) {
                let m = m?;
                if m.kind == NLMSG_DONE {
                    done = true;
                } else if m.kind == NLMSG_ERROR {
                    let code = m
                        .payload
                        .get(..4)
                        .map_or(0, |b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]));
                    match code.saturating_neg() {
                        0 | 2 | 95 => done = true,
                        e => return Err(NetlinkError::Kernel(e)),
                    }
                }
            }
            if done {
                return Ok(());
            }
        }
    }

    fn generation(&mut self) -> Result<u32, NetlinkError> {
        self.request(msg::GETGEN, 0, 0, &[])?;
        let mut out = Vec::new();
        self.receive(&mut out, false)?;
        for m in messages(&out) {
            if let Some(Object::Gen(g)) = decode(&m?)? {
                return Ok(g);
            }
        }
        Err(NetlinkError::Malformed(
            "no generation in the GETGEN reply".into(),
        ))
    }

    fn dump_kind(&mut self, kind: u8, out: &mut Vec<u8>) -> Result<(), NetlinkError> {
        self.request(kind, NLM_F_DUMP, 0, &[])?;
        self.receive(out, true)
    }

    /// The rules of `tables` (`None`: of every table), appended to `out`. Each table is asked
    /// for on its own (the kernel filters a rule dump by family and table); should a kernel
    /// answer with another table's rules, every rule is dumped instead.
    fn dump_rules(
        &mut self,
        tables: Option<&[TableKey]>,
        out: &mut Vec<u8>,
    ) -> Result<(), NetlinkError> {
        let Some(tables) = tables else {
            return self.dump_kind(msg::GETRULE, out);
        };
        let start = out.len();
        for (family, table) in tables {
            let from = out.len();
            self.request(
                msg::GETRULE,
                NLM_F_DUMP,
                *family,
                &[(NFTA_RULE_TABLE, table)],
            )?;
            self.receive(out, true)?;
            if !only_rules_of(&out[from..], *family, table)? {
                out.truncate(start);
                return self.dump_kind(msg::GETRULE, out);
            }
        }
        Ok(())
    }
}

/// Whether every rule message in `bytes` belongs to `table` of `family`.
fn only_rules_of(bytes: &[u8], family: u8, table: &str) -> Result<bool, NetlinkError> {
    for m in messages(bytes) {
        let m = m?;
        if is_rule(&m) && (m.family != family || rule_place(&m)?.0 != table) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The tables whose rules a dump asks for, given its tables and chains (`skeleton`): `None`
/// for all of them (also when `rules` leaves none out).
fn tables_to_read(skeleton: &[u8], rules: Rules) -> Result<Option<Vec<TableKey>>, NetlinkError> {
    if rules == Rules::All {
        return Ok(None);
    }
    let (mut tables, mut chains) = (Vec::new(), Vec::new());
    for m in messages(skeleton) {
        match decode(&m?)? {
            Some(Object::Table(t)) => tables.push(t),
            Some(Object::Chain(c)) => chains.push(c),
            _ => {}
        }
    }
    let unread = iptables_nft_layouts(&tables, &chains);
    if unread.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        tables
            .into_iter()
            .map(|t| (t.family, t.name))
            .filter(|k| !unread.contains(k))
            .collect(),
    ))
}

/// Sets named in a dump: (family, table, name).
fn sets_of(bytes: &[u8]) -> Result<Vec<(u8, String, String)>, NetlinkError> {
    let mut out = Vec::new();
    for m in messages(bytes) {
        if let Some(Object::Set(s)) = decode(&m?)? {
            out.push((s.family, s.table, s.name));
        }
    }
    Ok(out)
}

/// One consistent dump of the current namespace: every message as received, in one buffer.
pub fn dump() -> Result<Vec<u8>, NetlinkError> {
    Ok(dump_parts(Rules::All)?.concat())
}

/// One consistent dump of the current namespace, as received: several buffers (objects, set
/// elements, rules) that together hold every message.
///
/// Tables, chains and sets come first (the element requests need the sets); then the rules
/// are dumped on this socket while the elements of the sets are fetched on others, one
/// request per set, from two threads (the kernel work runs on several cores). The generation
/// id is read before and after; a change means a concurrent update, and the dump is retried.
/// `which` says whose rules are dumped: with [`Rules::ExceptIptablesNft`] the tables laid out
/// by iptables-nft (known from the tables and chains) are left out of the rule dump.
pub fn dump_parts(which: Rules) -> Result<Vec<Vec<u8>>, NetlinkError> {
    let mut c = Conn::open()?;
    for _ in 0..ATTEMPTS {
        let before = c.generation()?;
        let mut out = Vec::new();
        for kind in [msg::GETTABLE, msg::GETCHAIN, msg::GETSET] {
            c.dump_kind(kind, &mut out)?;
        }
        let sets = sets_of(&out)?;
        let wanted = tables_to_read(&out, which)?;
        let half = sets.len().div_ceil(2);
        let (rules, elems) = std::thread::scope(|s| {
            let workers: Vec<_> = sets
                .chunks(half.max(1))
                .map(|part| s.spawn(move || elements(part)))
                .collect();
            let mut rules = Vec::new();
            let r = c
                .dump_rules(wanted.as_deref(), &mut rules)
                .and_then(|_| c.dump_kind(msg::GETFLOWTABLE, &mut rules))
                .map(|_| rules);
            let mut elems = Vec::new();
            for w in workers {
                match w.join() {
                    Ok(Ok(e)) if elems.is_empty() => elems = e,
                    Ok(Ok(e)) => elems.extend(e),
                    Ok(Err(e)) => return (r, Err(e)),
                    Err(_) => {
                        return (
                            r,
                            Err(NetlinkError::Malformed("element thread panicked".into())),
                        );
                    }
                }
            }
            (r, Ok(elems))
        });
        let parts = vec![out, elems?, rules?];
        if c.generation()? == before {
            return Ok(parts);
        }
    }
    Err(NetlinkError::GenerationChanged(ATTEMPTS))
}

/// The elements of `sets`, on a socket of their own.
fn elements(sets: &[(u8, String, String)]) -> Result<Vec<u8>, NetlinkError> {
    let mut c = Conn::open()?;
    let mut out = Vec::new();
    for (family, table, name) in sets {
        c.request(
            msg::GETSETELEM,
            NLM_F_DUMP,
            *family,
            &[
                (NFTA_SET_ELEM_LIST_TABLE, table),
                (NFTA_SET_ELEM_LIST_SET, name),
            ],
        )?;
        c.receive(&mut out, true)?;
    }
    Ok(out)
}

/// Names an interface index in the calling thread's namespace.
fn resolver() -> impl Fn(u32) -> Option<String> {
    use rustix::net::{AddressFamily, SocketType, socket};
    let sock = socket(AddressFamily::INET, SocketType::DGRAM, None).ok();
    move |index| rustix::net::netdevice::index_to_name(sock.as_ref()?.as_fd(), index).ok()
}

/// Reads and decodes the current namespace's ruleset (the rules `rules` asks for).
pub fn read_current(rules: Rules) -> Result<crate::model::Ruleset, NetlinkError> {
    let parts = dump_parts(rules)?;
    let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    super::build::decode_parts(&parts, &resolver(), rules)
}

/// Reads the ruleset of `/run/netns/NAME` from a thread that joined that namespace.
pub fn read_in_netns(name: &str, rules: Rules) -> Result<crate::model::Ruleset, NetlinkError> {
    let err = |e: String| NetlinkError::Netns {
        name: name.to_string(),
        error: e,
    };
    if name.contains('/') || name.is_empty() {
        return Err(err("not a namespace name".into()));
    }
    let f = std::fs::File::open(format!("/run/netns/{name}")).map_err(|e| err(e.to_string()))?;
    std::thread::scope(|s| {
        s.spawn(|| {
            use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};
            move_into_link_name_space(f.as_fd(), Some(LinkNameSpaceType::Network))
                .map_err(|e| err(e.to_string()))?;
            read_current(rules)
        })
        .join()
        .unwrap_or_else(|_| Err(err("reader thread panicked".into())))
    })
}
