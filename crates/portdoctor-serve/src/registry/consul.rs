//! The Consul agent HTTP API: `PUT /v1/agent/service/register` (200, empty body; 400 with a
//! plain-text reason such as `Invalid service address` for 0.0.0.0), `GET
//! /v1/agent/service/:id`, `PUT /v1/agent/service/deregister/:id`; for discovery, the catalog:
//! `GET /v1/catalog/services` and `GET /v1/health/service/:name`.

use super::http::{Reply, send};
use super::{BoxFuture, Check, Instance, Registration, Registry, Removed, Service, failed};
use crate::error::ServeError;
use hyper::{Method, StatusCode};
use serde_json::{Value, json};

/// The meta key that records the firewall change made for the service.
pub const CHANGE_META: &str = "portdoctor_change";

/// A Consul agent.
pub struct Consul {
    authority: String,
}

impl Consul {
    /// The agent at `authority` (`host:port`).
    pub fn new(authority: String) -> Consul {
        Consul { authority }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Reply, ServeError> {
        let body = body.map(|b| b.to_string().into_bytes());
        send(&self.authority, method, path, body)
            .await
            .map_err(|why| failed(&self.describe(), why))
    }
}

impl Consul {
    /// The instances of service `name` (every service when `None`) in the whole catalog, not
    /// only those registered with this agent: `GET /v1/catalog/services` for the names, then
    /// `GET /v1/health/service/NAME` for each (every node's instances, failing ones too: an
    /// instance whose check fails is still a target). An instance without its own `Address`
    /// is at its node's address, as Consul means it.
    pub async fn instances(&self, name: Option<&str>) -> Result<Vec<Instance>, ServeError> {
        let names = match name {
            Some(n) => vec![n.to_string()],
            None => self.service_names().await?,
        };
        let mut out = vec![];
        for n in names {
            let v = self
                .get_json(&format!("/v1/health/service/{}", path_segment(&n)))
                .await?;
            out.extend(v.as_array().into_iter().flatten().filter_map(health_entry));
        }
        Ok(out)
    }

    /// Every service name in the catalog but Consul's own.
    async fn service_names(&self) -> Result<Vec<String>, ServeError> {
        let v = self.get_json("/v1/catalog/services").await?;
        Ok(v.as_object()
            .into_iter()
            .flat_map(|m| m.keys())
            .filter(|n| *n != "consul")
            .cloned()
            .collect())
    }

    async fn get_json(&self, path: &str) -> Result<Value, ServeError> {
        let r = self.call(Method::GET, path, None).await?;
        if r.status != StatusCode::OK {
            return Err(failed(
                &self.describe(),
                format!("GET {path} refused ({}): {}", r.status, r.text()),
            ));
        }
        serde_json::from_slice(&r.body)
            .map_err(|e| failed(&self.describe(), format!("GET {path}: {e}")))
    }
}

/// The instance one entry of `/v1/health/service/NAME` describes (`Node` and `Service`).
fn health_entry(v: &Value) -> Option<Instance> {
    let svc = &v["Service"];
    let own = svc["Address"].as_str().filter(|a| !a.is_empty());
    let address = own.map_or(v["Node"]["Address"].clone(), |a| json!(a));
    Instance::from_json(&svc["Service"], &svc["ID"], &address, &svc["Port"])
}

/// `name` as one URL path segment (percent-encoded but for unreserved characters).
fn path_segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The registration payload (the documented CamelCase form).
pub fn payload(s: &Service) -> Value {
    let check = match s.check {
        Check::Tcp => json!({"TCP": std::net::SocketAddr::new(s.address, s.port).to_string()}),
        Check::Http => json!({"HTTP": s.health_url(), "TLSSkipVerify": s.tls}),
    };
    let mut check = check;
    check["Interval"] = json!("10s");
    check["Timeout"] = json!("5s");
    check["DeregisterCriticalServiceAfter"] = json!("10m");
    let mut meta = json!({"scheme": if s.tls { "https" } else { "http" }});
    if let Some(c) = &s.firewall_change {
        meta[CHANGE_META] = json!(c);
    }
    json!({
        "ID": s.id,
        "Name": s.name,
        "Address": s.address.to_string(),
        "Port": s.port,
        "Meta": meta,
        "Check": check,
    })
}

fn id_path(prefix: &str, id: &str) -> String {
    let escaped: String = id
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect();
    format!("{prefix}{escaped}")
}

impl Registry for Consul {
    fn describe(&self) -> String {
        format!("consul at {}", self.authority)
    }

    fn register<'a>(&'a self, s: &'a Service) -> BoxFuture<'a, Result<Registration, ServeError>> {
        Box::pin(async move {
            let r = self
                .call(Method::PUT, "/v1/agent/service/register", Some(payload(s)))
                .await?;
            if r.status != StatusCode::OK {
                return Err(failed(
                    &self.describe(),
                    format!("registration refused ({}): {}", r.status, r.text()),
                ));
            }
            Ok(Registration {
                registry: self.describe(),
                key: s.id.clone(),
                lease: None,
            })
        })
    }

    fn keep_alive<'a>(&'a self, reg: &'a Registration) -> BoxFuture<'a, Result<bool, ServeError>> {
        Box::pin(async move {
            let r = self
                .call(Method::GET, &id_path("/v1/agent/service/", &reg.key), None)
                .await?;
            Ok(r.status != StatusCode::NOT_FOUND)
        })
    }

    fn deregister<'a>(
        &'a self,
        _name: &'a str,
        id: &'a str,
    ) -> BoxFuture<'a, Result<Removed, ServeError>> {
        Box::pin(async move {
            let found = self
                .call(Method::GET, &id_path("/v1/agent/service/", id), None)
                .await?;
            let existed = found.status == StatusCode::OK;
            let firewall_change = serde_json::from_slice::<Value>(&found.body)
                .ok()
                .and_then(|v| v["Meta"][CHANGE_META].as_str().map(str::to_string));
            let r = self
                .call(
                    Method::PUT,
                    &id_path("/v1/agent/service/deregister/", id),
                    None,
                )
                .await?;
            if r.status != StatusCode::OK && r.status != StatusCode::NOT_FOUND {
                return Err(failed(
                    &self.describe(),
                    format!("deregistration refused ({}): {}", r.status, r.text()),
                ));
            }
            Ok(Removed {
                existed,
                firewall_change,
            })
        })
    }
}
