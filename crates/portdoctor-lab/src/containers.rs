//! Containers behind a bridge in a lab namespace, wired the way Docker, Podman and CNI
//! plugins wire them: a bridge holding the gateway address in the lab host, one network
//! namespace per container joined to it by a veth pair (`eth0` inside), and a default route
//! through the gateway.
//!
//! Everything is made inside namespaces the lab owns: the bridge goes away with the lab host,
//! and each container's namespace (with its veth pair) when its [`Container`] or [`Netns`] is
//! dropped. Forwarding is turned on inside the lab host only.

use crate::{LabError, Netns};
use std::net::Ipv4Addr;

/// A container: a network namespace of its own, wired to a bridge of the lab host.
#[derive(Debug)]
pub struct Container {
    ns: Netns,
    addr: Ipv4Addr,
}

impl Container {
    /// The container's namespace (run its services here).
    pub fn ns(&self) -> &Netns {
        &self.ns
    }

    /// The container's address on the bridge (on its `eth0`).
    pub fn addr(&self) -> Ipv4Addr {
        self.addr
    }
}

/// Adds the bridge `name` to `ns` with the address `addr/prefix`, up.
pub fn add_bridge(ns: &Netns, name: &str, addr: Ipv4Addr, prefix: u8) -> Result<(), LabError> {
    ns.run("ip", &["link", "add", name, "type", "bridge"])?;
    ns.run(
        "ip",
        &["addr", "add", &format!("{addr}/{prefix}"), "dev", name],
    )?;
    ns.run("ip", &["link", "set", name, "up"])?;
    Ok(())
}

/// Creates a namespace for `role` ([`Netns::create`]) and plugs it into `bridge` of `host`:
/// a veth pair with `host_end` on the bridge and `eth0` inside, which gets `addr/prefix`.
/// Both ends are up; no route is added.
pub fn attach(
    host: &Netns,
    bridge: &str,
    host_end: &str,
    role: &str,
    addr: Ipv4Addr,
    prefix: u8,
) -> Result<Netns, LabError> {
    let ns = Netns::create(role)?;
    host.add_veth(host_end, &ns, "eth0")?;
    host.run("ip", &["link", "set", host_end, "master", bridge])?;
    host.run("ip", &["link", "set", host_end, "up"])?;
    ns.run(
        "ip",
        &["addr", "add", &format!("{addr}/{prefix}"), "dev", "eth0"],
    )?;
    ns.run("ip", &["link", "set", "eth0", "up"])?;
    Ok(ns)
}

/// Builds `bridge` with the gateway address `gw`/24 in `host`, turns IPv4 forwarding on
/// inside `host`, and puts one container per address behind it: namespace `c<i>`, host end
/// `<bridge>-v<i>`, address `addrs[i]`/24 and a default route via `gw`.
pub fn behind_bridge(
    host: &Netns,
    bridge: &str,
    gw: Ipv4Addr,
    addrs: &[Ipv4Addr],
) -> Result<Vec<Container>, LabError> {
    add_bridge(host, bridge, gw, 24)?;
    host.run("sysctl", &["-q", "-w", "net.ipv4.ip_forward=1"])?;
    addrs
        .iter()
        .enumerate()
        .map(|(i, &addr)| {
            let ns = attach(
                host,
                bridge,
                &format!("{bridge}-v{i}"),
                &format!("c{i}"),
                addr,
                24,
            )?;
            ns.run("ip", &["route", "add", "default", "via", &gw.to_string()])?;
            Ok(Container { ns, addr })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Lab;

    #[test]
    fn containers_behind_a_bridge_reach_the_host_and_go_away() {
        let Some(lab) = Lab::for_test("containers_behind_a_bridge") else {
            return;
        };
        let n = lab.host_v4().octets()[2];
        let gw = Ipv4Addr::new(172, 17, n, 1);
        let addrs = [Ipv4Addr::new(172, 17, n, 2), Ipv4Addr::new(172, 17, n, 3)];
        let cs = behind_bridge(lab.host(), "br-test", gw, &addrs).unwrap();
        assert_eq!(cs.len(), 2);
        let listener = cs[1]
            .ns()
            .enter(|| std::net::TcpListener::bind((cs[1].addr(), 0)))
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        // From the other container, across the bridge; the lab host forwards.
        assert!(
            cs[0]
                .ns()
                .enter(|| std::net::TcpStream::connect((addrs[1], port)))
                .is_ok()
        );
        let forwarding = lab
            .host()
            .run("sysctl", &["-n", "net.ipv4.ip_forward"])
            .unwrap();
        assert_eq!(forwarding.trim(), "1");
        let names: Vec<String> = cs.iter().map(|c| c.ns().name().to_string()).collect();
        drop(listener);
        drop(cs);
        for name in names {
            assert!(!std::path::Path::new(&format!("/run/netns/{name}")).exists());
        }
    }
}
