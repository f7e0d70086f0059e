//! The NAT differential: published ports of containers and forwarders. Containers are
//! network namespaces of their own behind a bridge in the lab's host namespace (as Docker,
//! Podman and a CNI plugin build them), with listeners inside; the host forwards
//! (`net.ipv4.ip_forward=1` inside the lab namespace only). The peer connects to the host's
//! published ports with real packets; the evaluator, given the host's rulesets *and* its
//! routing table and forwarding switches as portdoctor reads them, must predict what the
//! kernel did: the container's listener answering, its kernel refusing, a drop or reject in
//! the forward path. Load-balanced services (`-m statistic`, `numgen`) are probed many times:
//! every outcome must be one of the endpoints the evaluator lists, and every endpoint listed
//! must show up.
//!
//! Attribution is checked too: each rule the evaluator names for a block is removed from the
//! kernel (or the chain's policy set to accept), the probes are repeated and re-evaluated on
//! the rules read back; the kernel must change for the cases it decided, and agree with the
//! re-evaluation.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use portdoctor_firewall::collect::CommandRunner;
use portdoctor_firewall::routes::{Routes, read_forwarding};
use portdoctor_firewall::{Backend, Decision, Delivery, Packet, RuleRef, Verdict};
use portdoctor_lab::containers::{self, Container};

use super::compare::{self, CaseResult, Tally};
use super::model::Scenario;
use super::oracle::{Oracle, PROBE_TIMEOUT};
use super::probe::{Observed, ProbeResult, ProbeSpec, Proto};

/// Probes of a load-balanced port, per source.
pub const REPEATS: usize = 12;

/// A container: its address on the bridge and what listens inside.
#[derive(Clone, Debug)]
pub struct Pod {
    /// Its address.
    pub addr: Ipv4Addr,
    /// TCP ports listening on every address.
    pub tcp: Vec<u16>,
    /// TCP ports listening on 127.0.0.1 only.
    pub tcp_loopback: Vec<u16>,
    /// UDP echo ports.
    pub udp: Vec<u16>,
}

/// The containers of one layout, with their bridge.
pub struct Containers {
    /// The pods.
    pub pods: Vec<Pod>,
    nets: Vec<Container>,
    stop: Arc<AtomicBool>,
    server: Option<JoinHandle<()>>,
}

impl Drop for Containers {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.server.take() {
            let _ = h.join();
        }
        self.nets.clear();
    }
}

impl Containers {
    /// Whether something answers at `to` (TCP: listening on its address; UDP: an echo).
    pub fn listening(&self, proto: Proto, to: SocketAddr) -> bool {
        self.pods.iter().any(|p| {
            IpAddr::V4(p.addr) == to.ip()
                && match proto {
                    Proto::Tcp => p.tcp.contains(&to.port()),
                    Proto::Udp => p.udp.contains(&to.port()),
                }
        })
    }
}

/// Builds `bridge` (gateway `gw`/24) in the lab host, one namespace per pod wired to it, the
/// listeners, and turns forwarding on in the lab host.
pub fn set_up(
    o: &Oracle,
    bridge: &str,
    gw: Ipv4Addr,
    pods: Vec<Pod>,
) -> Result<Containers, String> {
    let addrs: Vec<Ipv4Addr> = pods.iter().map(|p| p.addr).collect();
    let nets =
        containers::behind_bridge(o.lab.host(), bridge, gw, &addrs).map_err(|x| x.to_string())?;
    let mut tcp = vec![];
    let mut udp = vec![];
    for (pod, c) in pods.iter().zip(&nets) {
        let (t, u) = c
            .ns()
            .enter(|| listeners(pod))
            .map_err(|x| format!("listeners in {}: {x}", c.ns().name()))?;
        tcp.extend(t);
        udp.extend(u);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    let server = std::thread::spawn(move || super::oracle::serve(&tcp, &udp, &stop2));
    Ok(Containers {
        pods,
        nets,
        stop,
        server: Some(server),
    })
}

fn listeners(pod: &Pod) -> std::io::Result<(Vec<TcpListener>, Vec<UdpSocket>)> {
    let mut tcp = vec![];
    let mut udp = vec![];
    let bind = |a: Ipv4Addr, p: u16| -> std::io::Result<TcpListener> {
        let l = TcpListener::bind((a, p))?;
        l.set_nonblocking(true)?;
        Ok(l)
    };
    for p in &pod.tcp {
        tcp.push(bind(Ipv4Addr::UNSPECIFIED, *p)?);
    }
    for p in &pod.tcp_loopback {
        tcp.push(bind(Ipv4Addr::LOCALHOST, *p)?);
    }
    for p in &pod.udp {
        let u = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, *p))?;
        u.set_nonblocking(true)?;
        udp.push(u);
    }
    Ok((tcp, udp))
}

/// A NAT layout: the rulesets, the published ports to probe (and how often), its pods.
pub struct Layout {
    /// The rulesets.
    pub scenario: Scenario,
    /// (protocol, port, repeats per source).
    pub probes: Vec<(Proto, u16, usize)>,
}

/// Every probe of a layout: each port from every IPv4 source of the peer on both links.
pub fn specs(o: &Oracle, l: &Layout) -> Vec<ProbeSpec> {
    let env = &o.env;
    let mut srcs: Vec<(IpAddr, IpAddr)> = env
        .peers_v4
        .iter()
        .map(|a| (IpAddr::V4(*a), IpAddr::V4(env.host_v4)))
        .collect();
    srcs.push((IpAddr::V4(env.peer2_v4), IpAddr::V4(env.host2_v4)));
    let mut out = vec![];
    for (src, dst) in srcs {
        for (proto, port, n) in &l.probes {
            for _ in 0..*n {
                out.push(ProbeSpec {
                    proto: *proto,
                    src,
                    dst: SocketAddr::new(dst, *port),
                    established: false,
                });
            }
        }
    }
    out
}

/// What the kernel should show for one decision with its delivery; `None`: not comparable.
fn expect_one(
    decision: &Decision,
    delivery: Option<&Delivery>,
    spec: &ProbeSpec,
    c: &Containers,
) -> Option<Observed> {
    let icmp_port = Observed::Icmp {
        v6: false,
        ty: 3,
        code: 3,
    };
    match (decision, delivery) {
        (Decision::Accept, Some(d)) => {
            let to = d.socket()?;
            Some(match (spec.proto, c.listening(spec.proto, to)) {
                (Proto::Tcp, true) => Observed::Connected,
                (Proto::Tcp, false) => Observed::Reset,
                (Proto::Udp, true) => Observed::Answered,
                (Proto::Udp, false) => icmp_port,
            })
        }
        (Decision::Unknown(_), _) => None,
        (d, _) => {
            let v = Verdict {
                decision: d.clone(),
                ..Verdict::unknown("")
            };
            compare::expected(&v, spec).ok().flatten()
        }
    }
}

/// The outcomes the verdict allows (one per endpoint), or `None` when it promises nothing.
pub fn expected(v: &Verdict, spec: &ProbeSpec, c: &Containers) -> Option<Vec<Observed>> {
    if v.endpoints.is_empty() {
        return expect_one(&v.decision, v.delivery.as_ref(), spec, c).map(|o| vec![o]);
    }
    v.endpoints
        .iter()
        .map(|e| expect_one(&e.decision, e.delivery.as_ref(), spec, c))
        .collect()
}

/// The host's routing table and forwarding switches, read as portdoctor reads them.
pub fn routing(o: &Oracle) -> Arc<portdoctor_firewall::RouteTable> {
    let runner = CommandRunner::with_prefix(["ip", "netns", "exec", o.lab.host().name()]);
    let routes = Routes::read(&runner).expect("ip route in the lab host");
    let f = read_forwarding(&runner, &routes.devices());
    Arc::new(routes.table(f))
}

/// One evaluated probe.
pub struct NatCase {
    /// The kernel's answer.
    pub result: ProbeResult,
    /// The evaluator's verdict.
    pub verdict: Verdict,
    /// Their comparison.
    pub outcome: CaseResult,
}

/// Probes `specs`, reads the rules back and compares.
pub fn run(
    o: &Oracle,
    c: &Containers,
    specs: &[ProbeSpec],
) -> Result<(Vec<NatCase>, compare::Recorder), String> {
    let results = o
        .lab
        .peer()
        .enter(|| super::probe::run_batch(specs, PROBE_TIMEOUT));
    let (rulesets, rec) = compare::read_rulesets(o)?;
    let table = routing(o);
    let cases = results
        .into_iter()
        .map(|result| {
            let mut packet: Packet = compare::packet_for(&result, o.iif_for(&result.spec));
            packet.routing = Some(Arc::clone(&table));
            let verdict = portdoctor_firewall::explain(&rulesets, &packet).overall;
            let outcome = match expected(&verdict, &result.spec, c) {
                Some(wants) if wants.contains(&result.observed) => CaseResult::Agree,
                Some(wants) => CaseResult::Disagree(format!(
                    "evaluator {:?} (delivery {:?}, endpoints {}) allows {wants:?}; kernel: {}",
                    verdict.decision,
                    verdict.delivery.as_ref().map(Delivery::target_text),
                    verdict.endpoints.len(),
                    result.observed
                )),
                None => CaseResult::Unknown(
                    match &verdict.decision {
                        Decision::Unknown(r) => r.clone(),
                        d => format!("{d:?} to an unknown port"),
                    },
                    false,
                ),
            };
            NatCase {
                result,
                verdict,
                outcome,
            }
        })
        .collect();
    Ok((cases, rec))
}

/// Every endpoint a load-balanced verdict lists must show up among the repeats of its
/// probe: (probe without repeats, the outcomes listed but never seen).
pub fn unseen_endpoints(cases: &[NatCase], c: &Containers) -> Vec<String> {
    let mut seen: BTreeMap<String, (Vec<Observed>, Vec<Observed>)> = BTreeMap::new();
    for case in cases.iter().filter(|k| k.verdict.endpoints.len() > 1) {
        let key = case.result.spec.to_string();
        let e = seen.entry(key).or_default();
        e.0.push(case.result.observed);
        if e.1.is_empty() {
            e.1 = expected(&case.verdict, &case.result.spec, c).unwrap_or_default();
        }
    }
    seen.into_iter()
        .filter_map(|(k, (got, want))| {
            let missing: Vec<&Observed> = want.iter().filter(|w| !got.contains(w)).collect();
            (!missing.is_empty()).then(|| {
                format!(
                    "{k}: listed {want:?}, never seen {missing:?} in {} tries",
                    got.len()
                )
            })
        })
        .collect()
}

/// The rules (and policies) named for blocked cases, each once, with the cases they decided.
pub fn blockers(cases: &[NatCase]) -> Vec<(RuleRef, Vec<ProbeSpec>)> {
    let mut out: Vec<(RuleRef, Vec<ProbeSpec>)> = vec![];
    for c in cases {
        let mut rules: Vec<&RuleRef> = vec![];
        if let (Decision::Drop | Decision::Reject(_), Some(r)) =
            (&c.verdict.decision, &c.verdict.decided_by)
        {
            rules.push(r);
        }
        for e in &c.verdict.endpoints {
            if let (Decision::Drop | Decision::Reject(_), Some(r)) = (&e.decision, &e.decided_by) {
                rules.push(r);
            }
        }
        for r in rules {
            match out.iter_mut().find(|(x, _)| x == r) {
                Some((_, specs)) => specs.push(c.result.spec),
                None => out.push((r.clone(), vec![c.result.spec])),
            }
        }
    }
    out
}

/// Removes `rule` from the lab host's kernel (a policy is set to accept).
pub fn remove(o: &Oracle, rule: &RuleRef) -> Result<(), String> {
    let h = o.lab.host();
    let e = |x: portdoctor_lab::LabError| x.to_string();
    let fam = rule.family.as_str();
    match rule.backend {
        Backend::Nftables if rule.is_policy => h
            .run(
                "nft",
                &["chain", fam, &rule.table, &rule.chain, "{ policy accept; }"],
            )
            .map(|_| ()),
        Backend::Nftables => {
            let handle = rule.handle.ok_or("an nft rule without handle")?.to_string();
            h.run(
                "nft",
                &[
                    "delete",
                    "rule",
                    fam,
                    &rule.table,
                    &rule.chain,
                    "handle",
                    &handle,
                ],
            )
            .map(|_| ())
        }
        b => {
            let flavour = if b == Backend::IptablesLegacy {
                "legacy"
            } else {
                "nft"
            };
            let prog = format!("iptables-{flavour}");
            let pos = rule.position.to_string();
            let args: Vec<&str> = if rule.is_policy {
                vec!["-t", &rule.table, "-P", &rule.chain, "ACCEPT"]
            } else {
                vec!["-t", &rule.table, "-D", &rule.chain, &pos]
            };
            h.run(&prog, &args).map(|_| ())
        }
    }
    .map_err(e)
}

/// Loads a layout (after a reset).
pub fn load(o: &mut Oracle, l: &Layout) -> Result<(), String> {
    o.reset()?;
    o.load(&l.scenario)
}

/// Tallies cases; the disagreement lines.
pub fn tally(t: &mut Tally, cases: &[NatCase]) -> Vec<String> {
    let mut bad = vec![];
    for c in cases {
        t.add(&c.result, &c.outcome);
        if let CaseResult::Disagree(m) = &c.outcome {
            bad.push(format!(
                "{}: {m}\ntrace: {:#?}",
                c.result.spec, c.verdict.trace
            ));
        }
    }
    bad
}

/// Waits a moment for conntrack entries of the previous round to matter no more.
pub fn settle(o: &Oracle) {
    let _ = o.lab.host().run("conntrack", &["-F"]);
    std::thread::sleep(Duration::from_millis(50));
}
