//! The kernel oracle: one lab reused for many cases.
//!
//! Set-up (once): a second veth link, extra peer source addresses, permanent neighbour
//! entries both ways (so a
//! drop policy cannot starve IPv6 neighbour discovery and turn an accept into a timeout),
//! ICMP rate limits off in the host (every reject must answer), TCP listeners and UDP echo
//! servers on the host that a background thread serves.
//!
//! Per case: [`Oracle::reset`] (flush nft, legacy iptables, ipsets, conntrack),
//! [`Oracle::load`], [`Oracle::probe`]; the comparison reads the rulesets back.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use portdoctor_lab::Lab;

use super::model::Scenario;
use super::probe::{self, ProbeResult, ProbeSpec, Proto};
use super::rulegen::{Env, TCP_CLOSED, TCP_OPEN, UDP_CLOSED, UDP_OPEN};

/// How long a probe waits for an answer: everything is one veth hop away.
pub const PROBE_TIMEOUT: Duration = Duration::from_millis(300);
/// How long a packet of an established TCP flow waits: an ICMP error that TCP first keeps
/// as a soft error comes back with the retransmission, after the minimum RTO (200 ms).
pub const EST_TIMEOUT: Duration = Duration::from_millis(800);

/// The lab's conntrack switch: see [`Oracle::track_connections`].
const CONNTRACK_ON: &str = "table inet pd_lab_conntrack {\n\tchain out {\n\t\ttype filter hook output priority 0; policy accept;\n\t\tct state new counter\n\t}\n}\n";

/// The lab with its listeners.
pub struct Oracle {
    /// The lab (host and peer namespaces).
    pub lab: Lab,
    /// Addresses and names the generator uses.
    pub env: Env,
    stop: Arc<AtomicBool>,
    server: Option<JoinHandle<()>>,
    legacy_used: bool,
}

impl Drop for Oracle {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.server.take() {
            let _ = h.join();
        }
    }
}

fn subnet_of(v4: Ipv4Addr) -> u8 {
    v4.octets()[2]
}

impl Oracle {
    /// Builds the lab per the lab policy; `None` (after printing why) when it cannot be built
    /// and `PORTDOCTOR_LAB` is unset.
    pub fn new(test: &str) -> Option<Oracle> {
        let lab = Lab::for_test(test)?;
        match Oracle::set_up(lab) {
            Ok(o) => Some(o),
            Err(e) if portdoctor_lab::lab_required() => {
                panic!("{test}: PORTDOCTOR_LAB=1 but the lab set-up failed: {e}")
            }
            Err(e) => {
                eprintln!("SKIP {test}: the lab set-up failed ({e})");
                None
            }
        }
    }

    fn set_up(lab: Lab) -> Result<Oracle, String> {
        let n = subnet_of(lab.host_v4());
        let v6 = |net: u16, i: u16| Ipv6Addr::new(0x2001, 2, 0, net, 0, 0, 0, i);
        let n2 = u16::from(n) + 0x100;
        let env = Env {
            subnet: n,
            host_v4: lab.host_v4(),
            host_v6: lab.host_v6(),
            peers_v4: (2..=4).map(|i| Ipv4Addr::new(198, 18, n, i)).collect(),
            peers_v6: (2..=4).map(|i| v6(n.into(), i)).collect(),
            iif: lab.host_if().to_string(),
            host2_v4: Ipv4Addr::new(198, 19, n, 1),
            host2_v6: v6(n2, 1),
            peer2_v4: Ipv4Addr::new(198, 19, n, 2),
            peer2_v6: v6(n2, 2),
            iif2: IIF2.to_string(),
        };
        let e = |x: portdoctor_lab::LabError| x.to_string();
        let (h, p) = (lab.host(), lab.peer());
        // The second link: veth-h2 (host) <-> veth-p2 (peer), 198.19.N.0/24 and
        // 2001:2:0:(N+0x100)::/64, so rules on interfaces and other networks meet real traffic.
        h.add_veth(IIF2, p, PEER_IF2).map_err(e)?;
        let mut addrs: Vec<(&portdoctor_lab::Netns, &str, String)> = vec![
            (h, IIF2, format!("{}/24", env.host2_v4)),
            (h, IIF2, format!("{}/64", env.host2_v6)),
            (p, PEER_IF2, format!("{}/24", env.peer2_v4)),
            (p, PEER_IF2, format!("{}/64", env.peer2_v6)),
        ];
        for a in &env.peers_v4[1..] {
            addrs.push((p, lab.peer_if(), format!("{a}/24")));
        }
        for a in &env.peers_v6[1..] {
            addrs.push((p, lab.peer_if(), format!("{a}/64")));
        }
        for (ns, dev, addr) in &addrs {
            let mut args = vec!["addr", "add", addr.as_str(), "dev", dev];
            if addr.contains(':') {
                args.insert(0, "-6");
                args.push("nodad");
            }
            ns.run("ip", &args).map_err(e)?;
        }
        h.run("ip", &["link", "set", IIF2, "up"]).map_err(e)?;
        p.run("ip", &["link", "set", PEER_IF2, "up"]).map_err(e)?;
        let mac = |ns: &portdoctor_lab::Netns, dev: &str| {
            ns.run("cat", &[&format!("/sys/class/net/{dev}/address")])
                .map(|s| s.trim().to_string())
        };
        let (hmac, pmac) = (
            mac(h, lab.host_if()).map_err(e)?,
            mac(p, lab.peer_if()).map_err(e)?,
        );
        let (hmac2, pmac2) = (mac(h, IIF2).map_err(e)?, mac(p, PEER_IF2).map_err(e)?);
        // Permanent neighbour entries both ways: no neighbour discovery through the rules.
        let mut neigh: Vec<(&portdoctor_lab::Netns, IpAddr, &str, &str)> = Vec::new();
        for a in env
            .peers_v4
            .iter()
            .map(|a| IpAddr::V4(*a))
            .chain(env.peers_v6.iter().map(|a| IpAddr::V6(*a)))
        {
            neigh.push((h, a, pmac.as_str(), lab.host_if()));
        }
        neigh.push((h, IpAddr::V4(env.peer2_v4), pmac2.as_str(), IIF2));
        neigh.push((h, IpAddr::V6(env.peer2_v6), pmac2.as_str(), IIF2));
        neigh.push((p, IpAddr::V4(env.host_v4), hmac.as_str(), lab.peer_if()));
        neigh.push((p, IpAddr::V6(env.host_v6), hmac.as_str(), lab.peer_if()));
        neigh.push((p, IpAddr::V4(env.host2_v4), hmac2.as_str(), PEER_IF2));
        neigh.push((p, IpAddr::V6(env.host2_v6), hmac2.as_str(), PEER_IF2));
        for (ns, addr, mac, dev) in neigh {
            ns.run(
                "ip",
                &[
                    "neigh",
                    "replace",
                    &addr.to_string(),
                    "lladdr",
                    mac,
                    "dev",
                    dev,
                    "nud",
                    "permanent",
                ],
            )
            .map_err(e)?;
        }
        h.run(
            "sysctl",
            &[
                "-q",
                "-w",
                "net.ipv4.icmp_ratelimit=0",
                "net.ipv6.icmp.ratelimit=0",
                "net.ipv4.icmp_msgs_per_sec=1000000",
                "net.ipv4.icmp_msgs_burst=1000000",
            ],
        )
        .map_err(e)?;
        // Listeners, created inside the host namespace, served from a plain thread.
        let host_addrs = [
            IpAddr::V4(env.host_v4),
            IpAddr::V6(env.host_v6),
            IpAddr::V4(env.host2_v4),
            IpAddr::V6(env.host2_v6),
        ];
        let (tcp, udp) = h
            .enter(|| -> std::io::Result<(Vec<TcpListener>, Vec<UdpSocket>)> {
                let mut tcp = Vec::new();
                let mut udp = Vec::new();
                for ip in host_addrs {
                    for port in TCP_OPEN {
                        let l = TcpListener::bind(SocketAddr::new(ip, port))?;
                        l.set_nonblocking(true)?;
                        tcp.push(l);
                    }
                    for port in UDP_OPEN {
                        let u = UdpSocket::bind(SocketAddr::new(ip, port))?;
                        u.set_nonblocking(true)?;
                        udp.push(u);
                    }
                }
                Ok((tcp, udp))
            })
            .map_err(|x| format!("listeners: {x}"))?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let server = std::thread::spawn(move || serve(&tcp, &udp, &stop2));
        Ok(Oracle {
            lab,
            env,
            stop,
            server: Some(server),
            legacy_used: false,
        })
    }

    /// Removes every rule, chain, table and set the previous case loaded, and the conntrack
    /// entries its probes made.
    pub fn reset(&mut self) -> Result<(), String> {
        let h = self.lab.host();
        let e = |x: portdoctor_lab::LabError| x.to_string();
        h.run("nft", &["flush", "ruleset"]).map_err(e)?;
        if self.legacy_used {
            for prog in ["iptables-legacy-restore", "ip6tables-legacy-restore"] {
                h.run_stdin(prog, &[], EMPTY_TABLES).map_err(e)?;
            }
            self.legacy_used = false;
        }
        h.run("ipset", &["destroy"]).map_err(e)?;
        // conntrack -F exits 0 also when the table is empty; a missing tool is tolerated.
        let _ = h.run("conntrack", &["-F"]);
        Ok(())
    }

    /// Makes conntrack track the host's flows before any rule needs it (an output-hook chain
    /// with a `ct` expression registers the conntrack hooks), so flows opened before the
    /// ruleset is loaded are `established`, not picked up mid-stream as `new`. The table is
    /// read back with the rest; an output chain plays no part in inbound evaluation.
    pub fn track_connections(&self) -> Result<(), String> {
        self.lab
            .host()
            .run_stdin("nft", &["-f", "-"], CONNTRACK_ON)
            .map(|_| ())
            .map_err(|x| x.to_string())
    }

    /// Flows to open before loading: TCP and UDP to every listening port, from the first
    /// source of each family on both links.
    pub fn established_probes(&self) -> Vec<ProbeSpec> {
        let env = &self.env;
        let pairs = [
            (IpAddr::V4(env.peers_v4[0]), IpAddr::V4(env.host_v4)),
            (IpAddr::V6(env.peers_v6[0]), IpAddr::V6(env.host_v6)),
            (IpAddr::V4(env.peer2_v4), IpAddr::V4(env.host2_v4)),
            (IpAddr::V6(env.peer2_v6), IpAddr::V6(env.host2_v6)),
        ];
        let mut out = Vec::new();
        for (src, dst) in pairs {
            for (proto, ports) in [(Proto::Tcp, &TCP_OPEN[..]), (Proto::Udp, &UDP_OPEN[..])] {
                for port in ports {
                    out.push(ProbeSpec {
                        proto,
                        src,
                        dst: SocketAddr::new(dst, *port),
                        established: true,
                    });
                }
            }
        }
        out
    }

    /// Opens the established flows (call with the host's ruleset empty).
    pub fn open_established(&self, specs: &[ProbeSpec]) -> Vec<probe::Established> {
        self.lab
            .peer()
            .enter(|| probe::open_established(specs, Duration::from_secs(1)))
    }

    /// Sends first packets and packets of established flows from the peer, concurrently.
    pub fn probe_all(&self, specs: &[ProbeSpec], flows: &[probe::Established]) -> Vec<ProbeResult> {
        let peer = self.lab.peer();
        std::thread::scope(|scope| {
            let est = scope.spawn(|| peer.enter(|| probe::run_established(flows, EST_TIMEOUT)));
            let mut out = peer.enter(|| probe::run_batch(specs, PROBE_TIMEOUT));
            out.extend(est.join().expect("established probes"));
            out
        })
    }

    /// Loads a scenario; an error names the loader and carries its message.
    pub fn load(&mut self, s: &Scenario) -> Result<(), String> {
        let h = self.lab.host();
        let ipsets = s.ipset_text();
        if !ipsets.is_empty() {
            h.run_stdin("ipset", &["restore"], &ipsets)
                .map_err(|x| x.to_string())?;
        }
        let nft = s.nft_text();
        if !nft.is_empty() {
            h.run_stdin("nft", &["-f", "-"], &nft)
                .map_err(|x| x.to_string())?;
        }
        for r in &s.ipt {
            if r.backend == super::model::IptBackend::Legacy {
                self.legacy_used = true;
            }
            h.run_stdin(r.restore_program(), &[], &r.text())
                .map_err(|x| x.to_string())?;
        }
        for (prog, args, text) in &s.raw {
            if prog.contains("legacy") {
                self.legacy_used = true;
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            h.run_stdin(prog, &args, text).map_err(|x| x.to_string())?;
        }
        Ok(())
    }

    /// The host interface a probe arrives on.
    pub fn iif_for(&self, spec: &ProbeSpec) -> &str {
        let dst = spec.dst.ip();
        if dst == IpAddr::V4(self.env.host2_v4) || dst == IpAddr::V6(self.env.host2_v6) {
            &self.env.iif2
        } else {
            &self.env.iif
        }
    }

    /// Every probe the oracle can make: both families, every peer source on both links,
    /// every port.
    pub fn all_probes(&self) -> Vec<ProbeSpec> {
        let mut out = Vec::new();
        let env = &self.env;
        let srcs: Vec<(IpAddr, IpAddr)> = env
            .peers_v4
            .iter()
            .map(|a| (IpAddr::V4(*a), IpAddr::V4(env.host_v4)))
            .chain(
                env.peers_v6
                    .iter()
                    .map(|a| (IpAddr::V6(*a), IpAddr::V6(env.host_v6))),
            )
            .chain([
                (IpAddr::V4(env.peer2_v4), IpAddr::V4(env.host2_v4)),
                (IpAddr::V6(env.peer2_v6), IpAddr::V6(env.host2_v6)),
            ])
            .collect();
        for (src, dst) in srcs {
            for port in TCP_OPEN.iter().chain(&TCP_CLOSED) {
                out.push(ProbeSpec {
                    proto: Proto::Tcp,
                    src,
                    dst: SocketAddr::new(dst, *port),
                    established: false,
                });
            }
            for port in UDP_OPEN.iter().chain(&UDP_CLOSED) {
                out.push(ProbeSpec {
                    proto: Proto::Udp,
                    src,
                    dst: SocketAddr::new(dst, *port),
                    established: false,
                });
            }
        }
        out
    }

    /// Whether the host has a listener for this probe.
    pub fn listening(spec: &ProbeSpec) -> bool {
        match spec.proto {
            Proto::Tcp => TCP_OPEN.contains(&spec.dst.port()),
            Proto::Udp => UDP_OPEN.contains(&spec.dst.port()),
        }
    }
}

/// The host's second interface (toward the peer's `veth-p2`).
pub const IIF2: &str = "veth-h2";
/// The peer's second interface.
const PEER_IF2: &str = "veth-p2";

/// What `*-restore` needs to empty every table and set the builtin policies back to ACCEPT.
const EMPTY_TABLES: &str = "*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n\
*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n\
:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\nCOMMIT\n\
*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n\
:POSTROUTING ACCEPT [0:0]\nCOMMIT\n\
*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n";

/// Accepts TCP connections and echoes what they send until they close, echoes UDP
/// datagrams, until `stop`.
pub fn serve(tcp: &[TcpListener], udp: &[UdpSocket], stop: &AtomicBool) {
    use std::io::{Read, Write};
    let mut buf = [0u8; 512];
    let mut conns: Vec<std::net::TcpStream> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let mut busy = false;
        for l in tcp {
            while let Ok((conn, _)) = l.accept() {
                if conn.set_nonblocking(true).is_ok() {
                    conns.push(conn);
                }
                busy = true;
            }
        }
        conns.retain_mut(|c| match c.read(&mut buf) {
            Ok(0) => false,
            Ok(n) => {
                busy = true;
                c.write_all(&buf[..n]).is_ok()
            }
            Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
        });
        for u in udp {
            while let Ok((n, from)) = u.recv_from(&mut buf) {
                let _ = u.send_to(&buf[..n], from);
                busy = true;
            }
        }
        if !busy {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}
