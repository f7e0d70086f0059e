//! A fake Consul agent with state, answering with the documented shapes (see
//! shared field notes §3.1): register (200, empty body; 400 `Invalid service address` for a
//! wildcard, `Missing service name`), services, service by ID, health by ID (the check is
//! really run: a TCP connect, or a GET for an `http://` check), deregister (200, no action
//! when unknown); the catalog as discovery reads it (`/v1/catalog/services`,
//! `/v1/health/service/:name`): this agent's registrations on node `fake-node` (127.0.0.1)
//! plus entries of other nodes added with [`FakeConsul::add_remote`]. Not Consul: no ACLs,
//! anti-entropy or blocking queries.
#![allow(missing_docs)]

use axum::Router;
use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

type Services = Arc<Mutex<BTreeMap<String, Value>>>;
/// Catalog entries of other nodes: `{"Node": {…}, "Service": {…}}`.
type Remote = Arc<Mutex<Vec<Value>>>;

/// This fake agent's node, as the catalog names it.
const NODE: &str = "fake-node";

#[derive(Clone)]
struct Fake {
    services: Services,
    remote: Remote,
}

impl FromRef<Fake> for Services {
    fn from_ref(f: &Fake) -> Services {
        f.services.clone()
    }
}

pub struct FakeConsul {
    pub addr: std::net::SocketAddr,
    pub services: Services,
    remote: Remote,
    _rt: tokio::runtime::Runtime,
}

impl FakeConsul {
    pub fn start() -> FakeConsul {
        let rt = super::rt();
        let services: Services = Arc::default();
        let remote: Remote = Arc::default();
        let app = Router::new()
            .route("/v1/agent/service/register", put(register))
            .route("/v1/agent/service/deregister/{id}", put(deregister))
            .route("/v1/agent/service/{id}", get(service))
            .route("/v1/agent/services", get(list))
            .route("/v1/agent/health/service/id/{id}", get(health))
            .route("/v1/catalog/services", get(catalog_services))
            .route("/v1/health/service/{name}", get(catalog_health))
            .with_state(Fake {
                services: services.clone(),
                remote: remote.clone(),
            });
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move { axum::serve(listener, app).await });
        FakeConsul {
            addr,
            services,
            remote,
            _rt: rt,
        }
    }

    /// Adds an instance registered on another node (only the catalog lists it); an empty
    /// `address` means the node's, as in Consul.
    pub fn add_remote(&self, node_address: &str, name: &str, address: &str, port: u16) {
        let id = format!("{name}-{node_address}-{port}");
        self.remote.lock().unwrap().push(json!({
            "Node": {"Node": format!("node-{node_address}"), "Address": node_address, "Datacenter": "dc1"},
            "Service": {"ID": id, "Service": name, "Address": address, "Port": port, "Tags": []},
            "Checks": [],
        }));
    }

    pub fn get(&self, id: &str) -> Option<Value> {
        self.services.lock().unwrap().get(id).cloned()
    }
}

fn field<'a>(v: &'a Value, camel: &str, snake: &str) -> &'a Value {
    if v[camel].is_null() {
        &v[snake]
    } else {
        &v[camel]
    }
}

async fn register(State(s): State<Services>, body: String) -> Response {
    let Ok(v) = serde_json::from_str::<Value>(&body) else {
        return (
            StatusCode::BAD_REQUEST,
            "Request decode failed: invalid JSON",
        )
            .into_response();
    };
    let Some(name) = field(&v, "Name", "name").as_str().filter(|n| !n.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "Missing service name").into_response();
    };
    let address = field(&v, "Address", "address").as_str().unwrap_or("");
    if matches!(address.parse::<std::net::IpAddr>(), Ok(ip) if ip.is_unspecified()) {
        return (StatusCode::BAD_REQUEST, "Invalid service address").into_response();
    }
    let id = field(&v, "ID", "id").as_str().unwrap_or(name).to_string();
    let port = field(&v, "Port", "port").as_u64().unwrap_or(0);
    let entry = json!({
        "ID": id, "Service": name, "Tags": [], "Meta": field(&v, "Meta", "meta"),
        "Port": port, "Address": address, "Namespace": "default", "Datacenter": "dc1",
        "TaggedAddresses": {"lan": {"address": address, "port": port}},
        "EnableTagOverride": false, "Weights": {"Passing": 1, "Warning": 1},
        "Check": field(&v, "Check", "check"),
    });
    s.lock().unwrap().insert(id, entry);
    StatusCode::OK.into_response()
}

async fn deregister(State(s): State<Services>, Path(id): Path<String>) -> StatusCode {
    s.lock().unwrap().remove(&id);
    StatusCode::OK
}

async fn service(State(s): State<Services>, Path(id): Path<String>) -> Response {
    match s.lock().unwrap().get(&id) {
        Some(v) => json_reply(StatusCode::OK, v),
        None => (StatusCode::NOT_FOUND, format!("unknown service ID: {id}")).into_response(),
    }
}

async fn list(State(s): State<Services>) -> Response {
    json_reply(StatusCode::OK, &json!(s.lock().unwrap().clone()))
}

fn json_reply(code: StatusCode, v: &Value) -> Response {
    let ct = [(axum::http::header::CONTENT_TYPE, "application/json")];
    (code, ct, v.to_string()).into_response()
}

async fn health(State(s): State<Services>, Path(id): Path<String>) -> Response {
    let Some(svc) = s.lock().unwrap().get(&id).cloned() else {
        return (StatusCode::NOT_FOUND, format!("ServiceId {id} not found")).into_response();
    };
    let (status, output) = run_check(&svc["Check"]).await;
    let code = if status == "passing" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!([{
        "AggregatedStatus": status,
        "Service": svc,
        "Checks": [{"CheckID": format!("service:{id}"), "Status": status, "Output": output}],
    }]);
    json_reply(code, &body)
}

/// Runs a check: TCP connect to `TCP`, or a GET of an `HTTP` URL (https: TCP connect only).
async fn run_check(check: &Value) -> (&'static str, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (target, path) = if let Some(t) = check["TCP"].as_str() {
        (t.to_string(), None)
    } else if let Some(u) = check["HTTP"].as_str() {
        let plain = u.strip_prefix("http://");
        let rest = plain.or_else(|| u.strip_prefix("https://")).unwrap_or(u);
        let (hp, p) = rest.split_once('/').unwrap_or((rest, ""));
        (hp.to_string(), plain.map(|_| format!("/{p}")))
    } else {
        return ("critical", "no check".into());
    };
    let Ok(mut s) = tokio::net::TcpStream::connect(&target).await else {
        return (
            "critical",
            format!("dial tcp {target}: connect: connection refused"),
        );
    };
    let Some(path) = path else {
        return ("passing", format!("TCP connect {target}: Success"));
    };
    let req = format!("GET {path} HTTP/1.1\r\nHost: {target}\r\nConnection: close\r\n\r\n");
    let _ = s.write_all(req.as_bytes()).await;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out).await;
    if out.starts_with("HTTP/1.1 2") {
        ("passing", format!("HTTP GET {target}{path}: 200 OK"))
    } else {
        (
            "critical",
            format!(
                "HTTP GET {target}{path}: {}",
                out.lines().next().unwrap_or("")
            ),
        )
    }
}

/// Every catalog entry: this agent's registrations on its node, then the other nodes'.
fn catalog(f: &Fake) -> Vec<Value> {
    let node = json!({"Node": NODE, "Address": "127.0.0.1", "Datacenter": "dc1"});
    let own = f
        .services
        .lock()
        .unwrap()
        .values()
        .map(|svc| {
            let mut svc = svc.clone();
            svc.as_object_mut().map(|o| o.remove("Check"));
            json!({"Node": node, "Service": svc, "Checks": []})
        })
        .collect::<Vec<_>>();
    own.into_iter()
        .chain(f.remote.lock().unwrap().iter().cloned())
        .collect()
}

async fn catalog_services(State(f): State<Fake>) -> Response {
    let mut names = serde_json::Map::new();
    names.insert("consul".into(), json!([]));
    for e in catalog(&f) {
        if let Some(n) = e["Service"]["Service"].as_str() {
            names.insert(n.to_string(), json!([]));
        }
    }
    json_reply(StatusCode::OK, &Value::Object(names))
}

async fn catalog_health(State(f): State<Fake>, Path(name): Path<String>) -> Response {
    let found: Vec<Value> = catalog(&f)
        .into_iter()
        .filter(|e| e["Service"]["Service"] == name.as_str())
        .collect();
    json_reply(StatusCode::OK, &json!(found))
}
