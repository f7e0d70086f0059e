//! Sockets of the *other* network namespaces of the machine (containers, pods), and which
//! container a process belongs to — read-only: `/proc/PID/cgroup` gives the runtime and the
//! container id, the runtime's own state files give the name. No daemon is asked.
//!
//! The Linux reader is in `sys/linux/netns.rs`; this module holds the types and the parsers
//! (platform-free, unit-tested on recorded texts).

use crate::model::Socket;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::path::Path;

/// A network namespace other than the caller's, with what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceSockets {
    /// The namespace, as the kernel names it: `net:[4026532301]`.
    pub id: String,
    /// How it was reached: `/proc/PID/ns/net`, or a bind mount such as `/run/netns/NAME`.
    pub path: String,
    /// Some processes inside it (at most a few).
    pub pids: Vec<u32>,
    /// Its interface addresses.
    pub addresses: Vec<IpAddr>,
    /// Its sockets on the ports asked about (owners attached).
    pub sockets: Vec<Socket>,
    /// The containers of the processes found in it (by pid), when they can be known.
    pub containers: Vec<(u32, Container)>,
    /// Why part of it could not be read, if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl NamespaceSockets {
    /// The container of `pid`, if known.
    pub fn container_of(&self, pid: u32) -> Option<&Container> {
        self.containers
            .iter()
            .find(|(p, _)| *p == pid)
            .map(|(_, c)| c)
    }

    /// Whether `addr` is one of its interface addresses.
    pub fn has_address(&self, addr: IpAddr) -> bool {
        self.addresses.contains(&addr)
    }
}

/// A container, as far as it can be known without asking its runtime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    /// `docker`, `podman`, `containerd`, `cri-o`, `kubernetes`.
    pub runtime: String,
    /// The container id (64 hex digits), as its cgroup names it.
    pub id: String,
    /// The container's name, from the runtime's state files, when readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Kubernetes: the pod, as `namespace/name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
}

impl Container {
    /// `docker container web (3f2a…)`, `kubernetes pod default/web-1, container app`.
    pub fn label(&self) -> String {
        let short = &self.id[..self.id.len().min(12)];
        match (&self.pod, &self.name) {
            (Some(pod), Some(n)) => format!("{} pod {pod}, container {n} ({short})", self.runtime),
            (Some(pod), None) => format!("{} pod {pod} ({short})", self.runtime),
            (None, Some(n)) => format!("{} container {n} ({short})", self.runtime),
            (None, None) => format!("{} container {short}", self.runtime),
        }
    }
}

/// The runtime and container id a `/proc/PID/cgroup` text names (cgroup v1 or v2, systemd
/// or cgroupfs drivers), or `None` for a process in no container.
pub fn container_in_cgroup(text: &str) -> Option<(String, String)> {
    for line in text.lines() {
        let path = line.splitn(3, ':').nth(2).unwrap_or("");
        for part in path.split('/').rev() {
            if let Some(found) = component(part, path) {
                return Some(found);
            }
        }
    }
    None
}

/// One path component: `docker-ID.scope`, `libpod-ID.scope`, `cri-containerd-ID.scope`,
/// `crio-ID.scope`, or a bare 64-hex id under `/docker/` or `/kubepods`.
fn component(part: &str, path: &str) -> Option<(String, String)> {
    let part = part.strip_suffix(".scope").unwrap_or(part);
    let prefixed = [
        ("docker-", "docker"),
        ("libpod-", "podman"),
        ("cri-containerd-", "containerd"),
        ("crio-", "cri-o"),
    ];
    for (prefix, runtime) in prefixed {
        if let Some(id) = part.strip_prefix(prefix) {
            if is_id(id) {
                return Some((runtime.into(), id.into()));
            }
        }
    }
    if !is_id(part) {
        return None;
    }
    let runtime = if path.contains("/kubepods") {
        "kubernetes"
    } else if path.contains("/docker/") {
        "docker"
    } else if path.contains("/libpod") || path.contains("/machine.slice") {
        "podman"
    } else {
        return None;
    };
    Some((runtime.into(), part.into()))
}

fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Names the container `id` of `runtime` from the runtime's state files under `root` (`/` on
/// a live host): Docker's `config.v2.json`, Podman's `containers.json`, the OCI bundle's
/// `config.json` annotations of containerd and CRI-O.
pub fn name_container(root: &Path, runtime: &str, id: &str) -> Container {
    let mut c = Container {
        runtime: runtime.into(),
        id: id.into(),
        name: None,
        pod: None,
    };
    let read = |p: &str| std::fs::read_to_string(root.join(p.trim_start_matches('/'))).ok();
    match runtime {
        "docker" => {
            let text = read(&format!("/var/lib/docker/containers/{id}/config.v2.json"));
            c.name = text.and_then(|t| docker_name(&t));
        }
        "podman" => {
            for f in [
                "/var/lib/containers/storage/overlay-containers/containers.json",
                "/var/lib/containers/storage/vfs-containers/containers.json",
            ] {
                if let Some(n) = read(f).and_then(|t| podman_name(&t, id)) {
                    c.name = Some(n);
                    break;
                }
            }
        }
        _ => {
            let bundles = [
                format!("/run/containerd/io.containerd.runtime.v2.task/k8s.io/{id}/config.json"),
                format!("/run/containers/storage/overlay-containers/{id}/userdata/config.json"),
            ];
            if let Some(t) = bundles.iter().find_map(|b| read(b)) {
                (c.name, c.pod) = kube_names(&t);
            }
        }
    }
    c
}

/// `"Name":"/web"` of Docker's `config.v2.json`.
pub fn docker_name(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let n = v.get("Name")?.as_str()?;
    Some(n.trim_start_matches('/').to_string())
}

/// The first name of container `id` in Podman's `containers.json`.
pub fn podman_name(text: &str, id: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let c = v
        .as_array()?
        .iter()
        .find(|c| c.get("id").and_then(|i| i.as_str()) == Some(id))?;
    Some(c.get("names")?.as_array()?.first()?.as_str()?.to_string())
}

/// (container name, `namespace/pod`) from an OCI `config.json`'s Kubernetes annotations
/// (containerd's `io.kubernetes.cri.*`, CRI-O's `io.kubernetes.*`).
pub fn kube_names(text: &str) -> (Option<String>, Option<String>) {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else {
        return (None, None);
    };
    let a = |k: &str| {
        v.get("annotations")
            .and_then(|x| x.get(k))
            .and_then(|x| x.as_str())
            .map(str::to_string)
    };
    let name = a("io.kubernetes.cri.container-name").or_else(|| a("io.kubernetes.container.name"));
    let pod = a("io.kubernetes.cri.sandbox-name").or_else(|| a("io.kubernetes.pod.name"));
    let ns = a("io.kubernetes.cri.sandbox-namespace").or_else(|| a("io.kubernetes.pod.namespace"));
    let pod = match (ns, pod) {
        (Some(ns), Some(p)) => Some(format!("{ns}/{p}")),
        (None, p) => p,
        (Some(_), None) => None,
    };
    (name, pod)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f2a9c1b0e4d5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c";

    #[test]
    fn cgroup_paths_name_runtime_and_id() {
        let cases = [
            (format!("0::/system.slice/docker-{ID}.scope\n"), "docker"),
            (
                format!("12:memory:/docker/{ID}\n1:name=systemd:/docker/{ID}\n"),
                "docker",
            ),
            (
                format!("0::/machine.slice/libpod-{ID}.scope/container\n"),
                "podman",
            ),
            (
                format!(
                    "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-{ID}.scope\n"
                ),
                "containerd",
            ),
            (
                format!("0::/kubepods.slice/kubepods-pod9.slice/crio-{ID}.scope\n"),
                "cri-o",
            ),
            (
                format!("0::/kubepods/burstable/pod1234/{ID}\n"),
                "kubernetes",
            ),
        ];
        for (text, runtime) in cases {
            assert_eq!(
                container_in_cgroup(&text),
                Some((runtime.to_string(), ID.to_string())),
                "{text}"
            );
        }
        assert_eq!(
            container_in_cgroup("0::/user.slice/session-1.scope\n"),
            None
        );
        assert_eq!(container_in_cgroup("0::/\n"), None);
    }

    #[test]
    fn runtime_state_files_name_the_container() {
        assert_eq!(
            docker_name(r#"{"ID":"x","Name":"/web","State":{}}"#).as_deref(),
            Some("web")
        );
        let podman = format!(r#"[{{"id":"{ID}","names":["db"],"image":"i"}}]"#);
        assert_eq!(podman_name(&podman, ID).as_deref(), Some("db"));
        let oci = r#"{"annotations":{"io.kubernetes.cri.container-name":"app","io.kubernetes.cri.sandbox-name":"web-1","io.kubernetes.cri.sandbox-namespace":"default"}}"#;
        assert_eq!(
            kube_names(oci),
            (Some("app".into()), Some("default/web-1".into()))
        );
        let dir = std::env::temp_dir().join(format!("pd-names-{}", std::process::id()));
        let cfg = dir.join(format!("var/lib/docker/containers/{ID}"));
        std::fs::create_dir_all(&cfg).unwrap();
        std::fs::write(cfg.join("config.v2.json"), r#"{"Name":"/web"}"#).unwrap();
        let c = name_container(&dir, "docker", ID);
        assert_eq!(c.label(), "docker container web (3f2a9c1b0e4d)");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
