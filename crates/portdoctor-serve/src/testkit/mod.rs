//! Test helpers (feature `testkit`, Linux): a real etcd started on loopback with random ports
//! and a temporary data directory, a fake Consul agent with state, and certificate files.

pub mod consul;
pub mod etcd;

/// A free TCP port on 127.0.0.1 (bound and released; good enough for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A service to register: `NAME` at `address:port`, its default ID, an HTTP check.
pub fn service(name: &str, port: u16, address: &str) -> crate::registry::Service {
    let address: std::net::IpAddr = address.parse().expect("a literal address");
    crate::registry::Service {
        name: name.into(),
        id: crate::registry::Service::default_id(name, address, port),
        address,
        port,
        tls: false,
        check: crate::registry::Check::Http,
        firewall_change: None,
    }
}

/// A multi-threaded runtime for driving async code from tests.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Writes `cert.pem` and `key.pem` into `dir`: a self-signed certificate for `localhost` and
/// `127.0.0.1` (an IP address SAN, as the agent's client checks); with `matching` false the
/// key belongs to another certificate. Returns their paths.
pub fn cert_files(
    dir: &std::path::Path,
    matching: bool,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let make = |names: &[&str]| {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        rcgen::generate_simple_self_signed(names).expect("rcgen")
    };
    let a = make(&["localhost", "127.0.0.1"]);
    let key = if matching {
        a.signing_key.serialize_pem()
    } else {
        make(&["other"]).signing_key.serialize_pem()
    };
    let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&c, a.cert.pem()).expect("write cert");
    std::fs::write(&k, key).expect("write key");
    (c, k)
}
