//! Discovery against a real etcd (Debian's etcd-server, started on loopback by
//! portdoctor-serve's testkit) and serve's fake Consul agent: services registered with serve's
//! registry code come back as the agent's targets; a registry that goes away keeps its last
//! known targets and is counted.
#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used)]

use portdoctor_agent::discovery::Registered;
use portdoctor_agent::target::{Expect, TargetSource};
use portdoctor_agent::{Config, Settings, Shared};
use portdoctor_serve::registry::{self, Endpoint, Kind, Service};
use portdoctor_serve::testkit::{self, consul::FakeConsul, etcd::Etcd, service};

/// Registers `services` in the registry at `endpoint` with serve's registry code.
fn register(endpoint: &Endpoint, services: &[Service]) {
    let rt = testkit::rt();
    let reg = registry::connect(endpoint, 60);
    for s in services {
        rt.block_on(reg.register(s)).unwrap();
    }
}

fn config(toml: &str) -> Config {
    Config::parse(toml, "test.toml").unwrap()
}

/// `(name, address, expect)` of a source's targets, sorted.
fn listed(source: &dyn TargetSource) -> Vec<(String, String, Expect)> {
    let mut t: Vec<_> = source
        .targets()
        .unwrap()
        .into_iter()
        .map(|t| (t.name, t.addr.to_string(), t.expect))
        .collect();
    t.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    t
}

#[test]
fn etcd_registrations_are_targets_and_survive_the_registry_going_away() {
    let Some(etcd) = Etcd::start_or_skip() else {
        return;
    };
    let ep = Endpoint::parse_as(Kind::Etcd, &etcd.client).unwrap();
    register(
        &ep,
        &[
            service("web", 8080, "198.18.0.1"),
            service("db", 5432, "2001:db8::5"),
        ],
    );
    let cfg = config(&format!(
        "[[discovery]]\nkind = \"etcd\"\nurl = \"http://{}\"\n[[discovery]]\nkind = \"etcd\"\nurl = \"{}\"\nprefix = \"/services/db/\"\nexpect = \"closed\"\n",
        etcd.client, etcd.client
    ));
    let all = Registered::new(cfg.discovery[0].clone()).unwrap();
    assert_eq!(
        listed(&all),
        [
            ("db".into(), "[2001:db8::5]:5432".into(), Expect::Open),
            ("web".into(), "198.18.0.1:8080".into(), Expect::Open),
        ]
    );
    let db = Registered::new(cfg.discovery[1].clone()).unwrap();
    assert_eq!(
        listed(&db),
        [("db".into(), "[2001:db8::5]:5432".into(), Expect::Closed)]
    );
    // Through the shared state, as the scheduler asks: remembered, then kept when etcd is gone.
    let shared = Shared::new(Settings::new(cfg).unwrap());
    assert_eq!(shared.targets_of(&all).len(), 2);
    drop(etcd);
    assert!(all.targets().is_err());
    assert_eq!(shared.targets_of(&all).len(), 2, "the last known targets");
    shared.metrics.record_round(&[], 0.0, false);
    let text = String::from_utf8(shared.metrics.encode().to_vec()).unwrap();
    assert!(
        text.contains("portdoctor_agent_discovery_failures_total{source=\"etcd\"} 1"),
        "{text}"
    );
}

#[test]
fn consul_registrations_are_targets_filtered_by_service() {
    let consul = FakeConsul::start();
    let ep: Endpoint = format!("consul://{}", consul.addr).parse().unwrap();
    register(
        &ep,
        &[
            service("web", 8080, "198.18.0.1"),
            service("web", 8080, "198.18.0.2"),
            service("db", 5432, "198.18.0.3"),
        ],
    );
    let cfg = config(&format!(
        "[[discovery]]\nkind = \"consul\"\nurl = \"{}\"\nservice = \"web\"\n[[discovery]]\nkind = \"consul\"\nurl = \"{}\"\n",
        consul.addr, consul.addr
    ));
    let web = Registered::new(cfg.discovery[0].clone()).unwrap();
    assert_eq!(
        listed(&web),
        [
            ("web".into(), "198.18.0.1:8080".into(), Expect::Open),
            ("web".into(), "198.18.0.2:8080".into(), Expect::Open),
        ]
    );
    let every = Registered::new(cfg.discovery[1].clone()).unwrap();
    assert_eq!(listed(&every).len(), 3);
}

/// Discovery reads Consul's catalog: instances registered with other nodes' agents are
/// targets too, and one without its own address is at its node's address.
#[test]
fn consul_discovery_lists_every_node_of_the_catalog() {
    let consul = FakeConsul::start();
    let ep: Endpoint = format!("consul://{}", consul.addr).parse().unwrap();
    register(&ep, &[service("web", 8080, "198.18.0.1")]);
    consul.add_remote("198.18.0.7", "web", "", 8080);
    consul.add_remote("198.18.0.8", "web", "198.18.1.8", 8443);
    consul.add_remote("198.18.0.9", "db", "", 5432);
    let cfg = config(&format!(
        "[[discovery]]\nkind = \"consul\"\nurl = \"{}\"\nservice = \"web\"\n[[discovery]]\nkind = \"consul\"\nurl = \"{}\"\n",
        consul.addr, consul.addr
    ));
    let web = Registered::new(cfg.discovery[0].clone()).unwrap();
    assert_eq!(
        listed(&web),
        [
            ("web".into(), "198.18.0.1:8080".into(), Expect::Open),
            ("web".into(), "198.18.0.7:8080".into(), Expect::Open),
            ("web".into(), "198.18.1.8:8443".into(), Expect::Open),
        ]
    );
    let every = Registered::new(cfg.discovery[1].clone()).unwrap();
    let all = listed(&every);
    assert_eq!(all.len(), 4, "{all:?}");
    assert!(all.contains(&("db".into(), "198.18.0.9:5432".into(), Expect::Open)));
}

#[test]
fn a_round_probes_the_discovered_targets_merged_with_the_static_list() {
    let consul = FakeConsul::start();
    let ep: Endpoint = format!("consul://{}", consul.addr).parse().unwrap();
    let (open, closed) = (
        std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        testkit::free_port(),
    );
    let open_port = open.local_addr().unwrap().port();
    register(
        &ep,
        &[
            service("up", open_port, "127.0.0.1"),
            service("down", closed, "127.0.0.1"),
        ],
    );
    // The static list names the open port too: it is probed once, under its static name.
    let cfg = config(&format!(
        "[[target]]\naddress = \"127.0.0.1:{open_port}\"\nname = \"static\"\n[[discovery]]\nkind = \"consul\"\nurl = \"{}\"\n",
        consul.addr
    ));
    let shared = std::sync::Arc::new(Shared::new(Settings::new(cfg).unwrap()));
    let settings = shared.settings();
    // A current-thread runtime, as the binary runs the agent on: the source's blocking call
    // must not starve the runtime driving its I/O.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(portdoctor_agent::scheduler::round(&shared, &settings));
    let mut seen: Vec<_> = shared
        .status()
        .observations
        .iter()
        .map(|o| (o.target.name.clone(), o.success))
        .collect();
    seen.sort();
    assert_eq!(seen, [("down".into(), false), ("static".into(), true)]);
}
