//! NAT statements of `nft -j list ruleset`: `dnat`/`snat` with an address, a range, a map
//! (keyed by packet fields or a number generator) and an optional port; `masquerade`;
//! `numgen … vmap`. What is not understood stays an unmodelled action.

use super::{Ty, conv, key_elems, left_key, ty_of_field};
use crate::model::{Action, Elem, NatTo, Numgen, VerdictMap};
use serde_json::Value;
use std::net::IpAddr;

/// The action of a `dnat` / `snat` statement body.
pub(super) fn nat_action(kind: &str, body: &Value) -> Action {
    match nat_to(body) {
        Ok(to) if kind == "dnat" => Action::Dnat(to),
        Ok(to) => Action::Snat(to),
        Err(why) => Action::Unmodelled(format!("`{kind}`: {why}")),
    }
}

/// The number generator of `{"numgen": {"mode", "mod", "offset"}}`.
pub(super) fn numgen(v: &Value) -> Option<Numgen> {
    let g = v.get("numgen")?;
    Some(Numgen {
        random: g.get("mode").and_then(Value::as_str) == Some("random"),
        modulus: g.get("mod").and_then(Value::as_u64)? as u32,
        offset: g.get("offset").and_then(Value::as_u64).unwrap_or(0) as u32,
    })
}

/// `numgen … vmap { N : verdict, … }`.
pub(super) fn numgen_vmap(g: Numgen, data: &Value) -> Result<Action, String> {
    let map = match data.as_str().and_then(|s| s.strip_prefix('@')) {
        Some(name) => VerdictMap::Named(name.to_string()),
        None => VerdictMap::Inline(entries(&[Ty::Int], data, |v| {
            super::verdict_action(v).ok_or_else(|| format!("map verdict {v} not modelled"))
        })?),
    };
    Ok(Action::NumgenVmap { numgen: g, map })
}

fn nat_to(body: &Value) -> Result<NatTo, String> {
    if body
        .get("flags")
        .is_some_and(|f| f.to_string().contains("netmap"))
        || body.get("type_flags").is_some()
    {
        return Err("prefix mapping (netmap) not modelled".into());
    }
    let port = match body.get("port") {
        None => None,
        Some(p) => Some(port_range(p)?),
    };
    let Some(addr) = body.get("addr") else {
        return match port {
            Some(_) => Ok(NatTo::Fixed { addr: None, port }),
            None => Err("no address or port".into()),
        };
    };
    let Some(m) = addr.get("map") else {
        return Ok(NatTo::Fixed {
            addr: Some(addr_range(addr)?),
            port,
        });
    };
    if port.is_some() {
        return Err("an address map with a separate port is not modelled".into());
    }
    let key = m.get("key").ok_or("map without key")?;
    let data = m.get("data").ok_or("map without data")?;
    let target = |v: &Value| target_of(v).map(Action::Dnat);
    if let Some(g) = numgen(key) {
        let map = VerdictMap::Inline(entries(&[Ty::Int], data, target)?);
        return Ok(NatTo::Numgen { numgen: g, map });
    }
    let (fields, mask, _deps) = left_key(key)?;
    if mask.is_some() {
        return Err("a masked map key is not modelled".into());
    }
    let map = match data.as_str().and_then(|s| s.strip_prefix('@')) {
        Some(name) => VerdictMap::Named(name.to_string()),
        None => {
            let tys: Vec<Ty> = fields.iter().map(|f| ty_of_field(*f)).collect();
            VerdictMap::Inline(entries(&tys, data, target)?)
        }
    };
    Ok(NatTo::Map { key: fields, map })
}

/// The entries of an inline map `{"set": [[key, value], …]}`.
fn entries(
    tys: &[Ty],
    data: &Value,
    value: impl Fn(&Value) -> Result<Action, String>,
) -> Result<Vec<(Vec<Elem>, Action)>, String> {
    let items = data
        .get("set")
        .and_then(Value::as_array)
        .ok_or("map data not understood")?;
    let mut out = vec![];
    for it in items {
        let kv = it
            .as_array()
            .filter(|a| a.len() == 2)
            .ok_or("map entry not understood")?;
        let a = value(&kv[1])?;
        for k in key_elems(tys, &kv[0])? {
            out.push((k, a.clone()));
        }
    }
    Ok(out)
}

/// A map value: an address, or `{"concat": [address, port]}`.
pub(super) fn target_of(v: &Value) -> Result<NatTo, String> {
    if let Some(parts) = v.get("concat").and_then(Value::as_array) {
        return match parts.as_slice() {
            [a, p] => Ok(NatTo::Fixed {
                addr: Some(addr_range(a)?),
                port: Some(port_range(p)?),
            }),
            _ => Err("NAT map value not understood".into()),
        };
    }
    Ok(NatTo::Fixed {
        addr: Some(addr_range(v)?),
        port: None,
    })
}

fn addr_range(v: &Value) -> Result<(IpAddr, IpAddr), String> {
    let one = |x: &Value| -> Result<IpAddr, String> {
        x.as_str()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("NAT address {x} not modelled"))
    };
    match v.get("range").and_then(Value::as_array) {
        Some(r) if r.len() == 2 => Ok((one(&r[0])?, one(&r[1])?)),
        Some(_) => Err("NAT address range not understood".into()),
        None => {
            let a = one(v)?;
            Ok((a, a))
        }
    }
}

fn port_range(v: &Value) -> Result<(u16, u16), String> {
    let mut e = vec![];
    conv(Ty::Port, v, &mut e)?;
    match e.as_slice() {
        [Elem::Range(a, b)] if *b <= 65535 => Ok((*a as u16, *b as u16)),
        _ => Err(format!("NAT port {v} not modelled")),
    }
}
