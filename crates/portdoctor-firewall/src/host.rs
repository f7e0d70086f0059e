//! The host's firewall as a whole: the engine this platform runs, plus the managers in charge
//! of its rules. What `explain`, `diagnose` and the fix engine read.

use crate::attribution::{Attributed, attribute};
use crate::collect::Runner;
use crate::engine::Engine;
use crate::explain::Explanation;
use crate::manager::{self, ConfigRoot, Manager};
use crate::model::Packet;

/// A firewall engine with its managers.
pub struct Host {
    /// The engine (netfilter on Linux).
    pub engine: Box<dyn Engine>,
    /// Managers in charge of part of its rules.
    pub managers: Vec<Box<dyn Manager>>,
    /// The live routing table (reverse-path checks need it); `None` for saved rulesets.
    pub routes: Option<crate::routes::Routes>,
    /// The routes with the forwarding switches, for connections NAT sends elsewhere; `None`
    /// for saved rulesets.
    pub routing: Option<std::sync::Arc<crate::route_table::RouteTable>>,
}

impl Host {
    /// Reads this machine's firewall through `runner` (Linux: netfilter, with ufw and
    /// firewalld detected on top). `Err` says why nothing could be read.
    #[cfg(target_os = "linux")]
    pub fn read_live(runner: &dyn Runner) -> Result<Host, String> {
        // The managers' own tools (Python programs, slow to start) and the routing table are
        // asked at the same time as the rulesets are read; detection then finds the answers.
        let (nf, cached, routes) = std::thread::scope(|s| {
            let early: Vec<_> = PREFETCH
                .iter()
                .filter(|(prog, _)| worth_prefetching(prog))
                .map(|(prog, args)| s.spawn(move || ((*prog, *args), runner.run(prog, args))))
                .collect();
            let routes = s.spawn(|| {
                let r = crate::routes::Routes::read(runner)?;
                let f = crate::routes::read_forwarding(runner, &r.devices());
                Some((r, f))
            });
            let nf = crate::netfilter::Netfilter::read_live(runner);
            let cached: Vec<_> = early.into_iter().filter_map(|h| h.join().ok()).collect();
            (nf, cached, routes.join().ok().flatten())
        });
        if let Some(reason) = nf.unread_reason() {
            return Err(reason);
        }
        let runner = Cached {
            inner: runner,
            cached,
        };
        let managers = manager::detect(&nf, &runner, &ConfigRoot::default());
        let routing = routes
            .as_ref()
            .map(|(r, f)| std::sync::Arc::new(r.table(f.clone())));
        Ok(Host {
            engine: Box::new(nf),
            managers,
            routes: routes.map(|(r, _)| r),
            routing,
        })
    }

    /// Reads this machine's firewall: Windows Defender Firewall through COM
    /// `INetFwPolicy2`.
    #[cfg(windows)]
    pub fn read_live(_runner: &dyn Runner) -> Result<Host, String> {
        let fw = crate::windows::live::read_live().map_err(|e| {
            format!("Windows Defender Firewall cannot be read ({e}); `portdoctor windows-export` makes an export that --ruleset reads")
        })?;
        Ok(Host {
            engine: Box::new(fw),
            managers: vec![],
            routes: None,
            routing: None,
        })
    }

    /// Reads this machine's firewall: pf (with the macOS Application Firewall) through
    /// `pfctl` and `socketfilterfw`.
    #[cfg(any(target_os = "macos", target_os = "freebsd", target_os = "openbsd"))]
    pub fn read_live(runner: &dyn Runner) -> Result<Host, String> {
        let pf = crate::pf::collect(runner);
        if pf.unread() {
            let why: Vec<String> = pf
                .sources()
                .iter()
                .filter_map(|s| s.active.as_ref().err().map(|e| e.to_string()))
                .collect();
            return Err(format!(
                "pf cannot be read: {} (pfctl needs root)",
                why.join("; ")
            ));
        }
        Ok(Host {
            engine: Box::new(pf),
            managers: vec![],
            routes: None,
            routing: None,
        })
    }

    /// Reads this machine's firewall: no engine for this system.
    #[cfg(not(any(
        target_os = "linux",
        windows,
        target_os = "macos",
        target_os = "freebsd",
        target_os = "openbsd"
    )))]
    pub fn read_live(_runner: &dyn Runner) -> Result<Host, String> {
        Err(format!(
            "no firewall engine for {}; export the rules and use --ruleset",
            std::env::consts::OS
        ))
    }

    /// Saved files (name, text), recognised by content; no managers (their files are not
    /// part of a saved ruleset).
    pub fn from_saved(files: &[(String, String)]) -> Result<Host, crate::saved::LoadError> {
        let mut engines = crate::saved::load(files)?;
        Ok(Host {
            engine: engines.remove(0),
            managers: vec![],
            routes: None,
            routing: None,
        })
    }

    /// Wraps an engine (tests, saved files) with managers detected on it.
    pub fn with_managers(engine: Box<dyn Engine>, runner: &dyn Runner, root: &ConfigRoot) -> Host {
        let managers = manager::detect(engine.as_ref(), runner, root);
        Host {
            engine,
            managers,
            routes: None,
            routing: None,
        }
    }

    /// Fills in what the live routing table says about the packet's source (a no-op for
    /// saved rulesets, or when the packet already carries it).
    pub fn complete(&self, packet: &mut Packet) {
        if let (Some(r), None) = (&self.routes, &packet.reverse_path) {
            packet.reverse_path = Some(r.reverse_path(packet.src, packet.iif.as_deref()));
        }
        if packet.routing.is_none() {
            packet.routing = self.routing.clone();
        }
    }

    /// The source that stands for "anyone else" reaching `addr` on `iface` (see
    /// [`crate::routes::Routes::stranger`]; the documentation address without a routing
    /// table).
    pub fn stranger(&self, addr: std::net::IpAddr, iface: &str) -> std::net::IpAddr {
        match &self.routes {
            Some(r) => r.stranger(addr, iface),
            None => crate::viewpoint::outside_for(addr),
        }
    }

    /// Evaluates `packet` (completed from the routing table) and attributes every decision to
    /// whoever is in charge.
    pub fn explain(&self, packet: &Packet) -> (Explanation, Attributed) {
        let mut p = packet.clone();
        self.complete(&mut p);
        let e = self.engine.explain(&p);
        let a = attribute(&e, &p, &self.managers);
        (e, a)
    }
}

/// What the managers ask their own tools, started early (see [`Host::read_live`]).
#[cfg(target_os = "linux")]
const PREFETCH: [(&str, &[&str]); 2] = [
    ("ufw", &["status", "numbered"]),
    ("firewall-cmd", &["--list-all-zones"]),
];

/// Whether the manager behind `prog` shows signs of life cheap to see (ufw enabled in its
/// config, a firewalld process running). Only a hint: what is not prefetched is asked later
/// if the rules show the manager, so a wrong hint costs time, never truth.
#[cfg(target_os = "linux")]
fn worth_prefetching(prog: &str) -> bool {
    match prog {
        "ufw" => std::fs::read_to_string("/etc/ufw/ufw.conf")
            .map(|t| t.lines().any(|l| l.trim() == "ENABLED=yes"))
            .unwrap_or(true),
        "firewall-cmd" => process_running("firewalld"),
        _ => true,
    }
}

/// Whether a process whose name (or script name) is `name` runs; `true` when /proc cannot
/// be read.
#[cfg(target_os = "linux")]
fn process_running(name: &str) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return true;
    };
    dir.flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .any(|e| {
            let cmdline = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
            cmdline
                .split(|b| *b == 0)
                .take(2)
                .any(|arg| arg.rsplit(|b| *b == b'/').next() == Some(name.as_bytes()))
        })
}

/// A prefetched command line and what it gave.
#[cfg(target_os = "linux")]
type Answer = (
    (&'static str, &'static [&'static str]),
    std::io::Result<crate::collect::RunOutput>,
);

/// A runner that answers prefetched commands from memory.
#[cfg(target_os = "linux")]
struct Cached<'r> {
    inner: &'r dyn Runner,
    cached: Vec<Answer>,
}

#[cfg(target_os = "linux")]
impl Runner for Cached<'_> {
    fn run(&self, program: &str, args: &[&str]) -> std::io::Result<crate::collect::RunOutput> {
        let hit = self
            .cached
            .iter()
            .find(|((p, a), _)| *p == program && *a == args);
        match hit {
            Some((_, Ok(out))) => Ok(out.clone()),
            Some((_, Err(e))) => Err(std::io::Error::new(e.kind(), e.to_string())),
            None => self.inner.run(program, args),
        }
    }
}
