//! The registries against a real etcd (Debian's etcd-server, started here on loopback) and
//! against the in-repo fake Consul agent; and the lifecycle's promise that a failed
//! registration leaves the firewall closed.

#![cfg(target_os = "linux")]

use portdoctor_serve::app::Readiness;
use portdoctor_serve::lifecycle::{self, Firewall, Plan, Step};
use portdoctor_serve::registry::{self, Endpoint, Kind, Registry, Service};
use portdoctor_serve::testkit::{self as common, consul::FakeConsul, etcd::Etcd, service};
use std::sync::{Arc, Mutex};

#[test]
fn etcd_register_is_a_leased_key_idempotent_and_removable() {
    let Some(etcd) = Etcd::start_or_skip() else {
        return;
    };
    let rt = common::rt();
    let ep = Endpoint::parse_as(Kind::Etcd, &etcd.client).unwrap();
    let reg = registry::connect(&ep, 5);
    let s = service("web", 8080, "198.18.0.1");
    let key = format!("/services/web/{}", s.id);
    let first = rt.block_on(reg.register(&s)).unwrap();
    assert_eq!(first.key, key);
    let kv = etcd.get(&key).expect("the key is there");
    let (lease, ttl) = first.lease.clone().unwrap();
    assert_eq!(kv["lease"].as_str(), Some(lease.as_str()));
    assert_eq!(ttl, 5);
    let ttl_left = etcd.json(
        "/v3/lease/timetolive",
        &format!("{{\"ID\":\"{lease}\",\"keys\":true}}"),
    );
    assert!(
        ttl_left["TTL"].as_str().unwrap().parse::<i64>().unwrap() > 0,
        "{ttl_left}"
    );
    assert!(rt.block_on(reg.keep_alive(&first)).unwrap());
    // Registering again: still one key for this instance.
    let second = rt.block_on(reg.register(&s)).unwrap();
    assert_eq!(second.key, key);
    let all = etcd.json(
        "/v3/kv/range",
        r#"{"key":"L3NlcnZpY2VzLw==","range_end":"L3NlcnZpY2VzMA=="}"#,
    );
    assert_eq!(all["count"].as_str(), Some("1"), "{all}");
    let value: serde_json::Value = {
        use base64::Engine;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(etcd.get(&key).unwrap()["value"].as_str().unwrap())
            .unwrap();
        serde_json::from_slice(&raw).unwrap()
    };
    assert_eq!(value["address"], "198.18.0.1");
    assert_eq!(value["port"], 8080);
    let removed = rt.block_on(reg.deregister("web", &s.id)).unwrap();
    assert!(removed.existed);
    assert!(etcd.get(&key).is_none());
    // The lease is revoked too: keep-alive says it is gone.
    assert!(!rt.block_on(reg.keep_alive(&second)).unwrap());
    // Deregistering what is not there is fine.
    assert!(!rt.block_on(reg.deregister("web", &s.id)).unwrap().existed);
}

#[test]
fn consul_fake_register_health_deregister() {
    let consul = FakeConsul::start();
    let rt = common::rt();
    let ep: Endpoint = format!("consul://{}", consul.addr).parse().unwrap();
    let reg = registry::connect(&ep, 10);
    // A service to check: a tiny HTTP server answering /healthz.
    let app = portdoctor_serve::app::router("hi\n".into(), Arc::new(Readiness::default()));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let _running = rt.block_on(async {
        portdoctor_serve::server::start(listener, None, app, std::time::Duration::from_secs(1))
    });
    let s = service("api", port, "127.0.0.1");
    rt.block_on(reg.register(&s)).unwrap();
    rt.block_on(reg.register(&s)).unwrap();
    assert_eq!(
        consul.services.lock().unwrap().len(),
        1,
        "registering twice is idempotent"
    );
    let stored = consul.get(&s.id).unwrap();
    assert_eq!(stored["Address"], "127.0.0.1");
    assert_eq!(
        stored["Check"]["HTTP"],
        format!("http://127.0.0.1:{port}/healthz")
    );
    let health = rt.block_on(raw(
        consul.addr,
        &format!("/v1/agent/health/service/id/{}", s.id),
    ));
    assert!(
        health.starts_with("HTTP/1.1 200") && health.contains("\"passing\""),
        "{health}"
    );
    assert!(rt.block_on(reg.keep_alive(&registration(&s))).unwrap());
    assert!(rt.block_on(reg.deregister("api", &s.id)).unwrap().existed);
    assert!(consul.get(&s.id).is_none());
    assert!(!rt.block_on(reg.keep_alive(&registration(&s))).unwrap());
}

#[test]
fn consul_refuses_a_wildcard_and_the_chosen_address_is_concrete() {
    let consul = FakeConsul::start();
    let rt = common::rt();
    let ep: Endpoint = format!("consul://{}", consul.addr).parse().unwrap();
    let reg = registry::connect(&ep, 10);
    let wild = service("db", 5432, "0.0.0.0");
    let e = rt.block_on(reg.register(&wild)).unwrap_err().to_string();
    assert!(e.contains("Invalid service address"), "{e}");
    let addrs = portdoctor_serve::advertise::Addresses::read(Some(&ep.authority()));
    let chosen = portdoctor_serve::advertise::choose(
        Some("0.0.0.0".parse().unwrap()),
        "::".parse().unwrap(),
        &addrs,
    );
    assert!(!chosen.address.is_unspecified());
    assert!(chosen.why.contains("wildcard"), "{}", chosen.why);
    rt.block_on(reg.register(&service("db", 5432, &chosen.address.to_string())))
        .unwrap();
}

#[test]
fn a_failed_registration_closes_the_firewall_again() {
    let rt = common::rt();
    let dead = format!("etcd://127.0.0.1:{}", common::free_port());
    let reg: Arc<dyn Registry> = registry::connect(&dead.parse().unwrap(), 5).into();
    let fw = Arc::new(Recording::default());
    let steps = Arc::new(Mutex::new(Vec::<String>::new()));
    let seen = steps.clone();
    let plan = Plan {
        service: service("web", 8080, "198.18.0.1"),
        registry: Some(reg),
        firewall: Some(fw.clone()),
        readiness: Arc::new(Readiness::default()),
        report: Arc::new(move |s: &Step| seen.lock().unwrap().push(s.to_string())),
    };
    let e = rt
        .block_on(lifecycle::bring_up(plan))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("cannot connect"), "{e}");
    assert_eq!(*fw.calls.lock().unwrap(), ["open 8080", "close c1"]);
    let steps = steps.lock().unwrap();
    assert!(
        steps[0].contains("opened") && steps[1].contains("closed"),
        "{steps:?}"
    );
}

#[derive(Default)]
struct Recording {
    calls: Mutex<Vec<String>>,
}

impl Firewall for Recording {
    fn open(&self, port: u16) -> Result<Option<String>, String> {
        self.calls.lock().unwrap().push(format!("open {port}"));
        Ok(Some("c1".into()))
    }
    fn close(&self, id: &str) -> Result<(), String> {
        self.calls.lock().unwrap().push(format!("close {id}"));
        Ok(())
    }
}

fn registration(s: &Service) -> registry::Registration {
    registry::Registration {
        registry: "consul".into(),
        key: s.id.clone(),
        lease: None,
    }
}

async fn raw(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}
