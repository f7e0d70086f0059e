//! etcd v3 through its JSON gateway: a lease (`/v3/lease/grant`) kept alive
//! (`/v3/lease/keepalive`), the key `/services/NAME/ID` put with it (`/v3/kv/put`) holding the
//! service as JSON. The gateway's quirks: keys and values are base64, 64-bit numbers are JSON
//! strings, and zero values are left out (`TTL` missing means the lease is gone).

use super::http::send;
use super::{BoxFuture, Instance, Registration, Registry, Removed, Service, failed};
use crate::error::ServeError;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

/// etcd through its JSON gateway.
pub struct Etcd {
    authority: String,
    ttl: u64,
}

/// `/services/NAME/ID`.
pub fn key(name: &str, id: &str) -> String {
    format!("/services/{name}/{id}")
}

/// A 64-bit number the gateway sent as a string (or, leniently, as a number); 0 when omitted.
pub fn int64(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

impl Etcd {
    /// The gateway at `authority`; leases last `ttl` seconds.
    pub fn new(authority: String, ttl: u64) -> Etcd {
        Etcd { authority, ttl }
    }

    /// POSTs `body` to the gateway's `path`; the JSON answer, or its `message` as the error.
    async fn call(&self, path: &str, body: Value) -> Result<Value, ServeError> {
        let r = send(
            &self.authority,
            Method::POST,
            path,
            Some(body.to_string().into_bytes()),
        )
        .await
        .map_err(|why| failed(&self.describe(), why))?;
        let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        if r.status != StatusCode::OK {
            let why = v["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| r.text());
            return Err(failed(
                &self.describe(),
                format!("{path}: {} {why}", r.status),
            ));
        }
        Ok(v)
    }

    /// The value at `key`, when there is one.
    async fn get(&self, key: &str) -> Result<Option<Value>, ServeError> {
        let v = self
            .call("/v3/kv/range", json!({"key": B64.encode(key)}))
            .await?;
        let Some(kv) = v["kvs"].get(0) else {
            return Ok(None);
        };
        let raw = B64
            .decode(kv["value"].as_str().unwrap_or(""))
            .unwrap_or_default();
        Ok(Some(serde_json::from_slice(&raw).unwrap_or(Value::Null)))
    }
}

impl Registry for Etcd {
    fn describe(&self) -> String {
        format!("etcd at {}", self.authority)
    }

    fn register<'a>(&'a self, s: &'a Service) -> BoxFuture<'a, Result<Registration, ServeError>> {
        Box::pin(async move {
            let grant = self
                .call("/v3/lease/grant", json!({"TTL": self.ttl}))
                .await?;
            let lease = grant["ID"].as_str().unwrap_or("").to_string();
            if int64(&grant["ID"]) == 0 {
                return Err(failed(
                    &self.describe(),
                    format!("lease grant gave no ID: {grant}"),
                ));
            }
            let k = key(&s.name, &s.id);
            let value = serde_json::to_vec(s).map_err(|e| ServeError::Io(e.into()))?;
            let put = json!({"key": B64.encode(&k), "value": B64.encode(value), "lease": lease});
            if let Err(e) = self.call("/v3/kv/put", put).await {
                // Leave nothing behind: the lease would only expire.
                let _ = self.call("/v3/lease/revoke", json!({"ID": lease})).await;
                return Err(e);
            }
            Ok(Registration {
                registry: self.describe(),
                key: k,
                lease: Some((lease, self.ttl)),
            })
        })
    }

    fn keep_alive<'a>(&'a self, reg: &'a Registration) -> BoxFuture<'a, Result<bool, ServeError>> {
        Box::pin(async move {
            let Some((lease, _)) = &reg.lease else {
                return Ok(true);
            };
            let v = self
                .call("/v3/lease/keepalive", json!({"ID": lease}))
                .await?;
            // Streaming wrapper `result`; TTL omitted (0) when the lease is gone.
            Ok(int64(&v["result"]["TTL"]) > 0)
        })
    }

    fn deregister<'a>(
        &'a self,
        name: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Removed, ServeError>> {
        Box::pin(async move {
            let k = key(name, id);
            let v = self
                .call("/v3/kv/range", json!({"key": B64.encode(&k)}))
                .await?;
            let Some(kv) = v["kvs"].get(0) else {
                return Ok(Removed::default());
            };
            let raw = B64
                .decode(kv["value"].as_str().unwrap_or(""))
                .unwrap_or_default();
            let value: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
            if int64(&kv["lease"]) != 0 {
                self.call("/v3/lease/revoke", json!({"ID": kv["lease"]}))
                    .await?;
            }
            self.call("/v3/kv/deleterange", json!({"key": B64.encode(&k)}))
                .await?;
            Ok(Removed {
                existed: true,
                firewall_change: value["firewall_change"].as_str().map(str::to_string),
            })
        })
    }
}

impl Etcd {
    /// The service stored at `/services/NAME/ID` (for tests and `--json` output).
    pub async fn lookup(&self, name: &str, id: &str) -> Result<Option<Value>, ServeError> {
        self.get(&key(name, id)).await
    }

    /// Every instance registered under `prefix` (`/services/` or `/services/NAME/`): one
    /// range request; values that are not a service with a literal address are skipped.
    pub async fn instances(&self, prefix: &str) -> Result<Vec<Instance>, ServeError> {
        let body = json!({"key": B64.encode(prefix), "range_end": B64.encode(range_end(prefix))});
        let v = self.call("/v3/kv/range", body).await?;
        let kvs = v["kvs"].as_array().map(Vec::as_slice).unwrap_or_default();
        Ok(kvs.iter().filter_map(instance).collect())
    }
}

/// The end of the range holding every key that starts with `prefix`: the prefix with its last
/// byte below 0xff incremented (etcd's `--prefix`); `\0` (every key) when there is none.
pub fn range_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// The instance a range result's key-value holds (the JSON `register` writes).
fn instance(kv: &Value) -> Option<Instance> {
    let raw = B64.decode(kv["value"].as_str()?).ok()?;
    let v: Value = serde_json::from_slice(&raw).ok()?;
    Instance::from_json(&v["name"], &v["id"], &v["address"], &v["port"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_ends_cover_the_prefix() {
        assert_eq!(range_end("/services/"), b"/services0");
        assert_eq!(range_end("a"), b"b");
        assert_eq!(range_end(""), [0]);
    }

    #[test]
    fn instances_decode_what_register_writes() {
        let value = r#"{"name":"web","id":"w1","address":"2001:db8::1","port":80}"#;
        let kv = json!({"key": "", "value": B64.encode(value)});
        let i = instance(&kv).unwrap();
        assert_eq!(
            (i.name.as_str(), i.addr.to_string()),
            ("web", "[2001:db8::1]:80".into())
        );
        assert!(instance(&json!({"value": B64.encode("{}")})).is_none());
    }
}
