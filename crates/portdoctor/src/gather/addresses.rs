//! This machine's interfaces and addresses.

use portdoctor_diagnose::LocalAddress;

/// Every address of every interface, loopback included.
pub fn local_addresses() -> Result<Vec<LocalAddress>, String> {
    let list = if_addrs::get_if_addrs().map_err(|e| format!("cannot list addresses: {e}"))?;
    let mut out: Vec<LocalAddress> = list
        .into_iter()
        .map(|i| LocalAddress {
            addr: i.ip(),
            iface: i.name,
        })
        .collect();
    out.sort_by_key(|a| (a.addr.is_loopback(), a.addr.is_ipv6(), a.addr));
    out.dedup();
    Ok(out)
}
