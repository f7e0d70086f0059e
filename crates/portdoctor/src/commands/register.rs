//! `portdoctor register` and `deregister`: a service in Consul or etcd, its port opened
//! through the fix engine on request, nothing left half-done; and the pieces `serve
//! --register` shares with them.

use crate::commands::fix::{FixEngineFirewall, parse_duration, require_root};
use crate::exit::{CliError, Exit, usage};
use crate::output::{Output, note};
use clap::{ArgGroup, Args};
use portdoctor_serve::ServeError;
use portdoctor_serve::advertise::{self, Addresses};
use portdoctor_serve::app::Readiness;
use portdoctor_serve::lifecycle::{self, Firewall, Plan, Report, Step};
use portdoctor_serve::registry::{self, Check, Endpoint, Kind, Service};
use portdoctor_serve::signal::Shutdown;
use serde::Serialize;
use std::net::IpAddr;
use std::sync::Arc;

/// Which instance (shared by `serve`, `register`, `deregister`).
#[derive(Debug, Args)]
pub struct IdentityArgs {
    /// Service name (the etcd key is /services/NAME/ID).
    #[arg(long, value_name = "NAME", default_value = "portdoctor")]
    pub name: String,

    /// The address to register (default: the address a peer would use; a wildcard such as
    /// 0.0.0.0 is replaced by one, and the reason is printed).
    #[arg(long, value_name = "ADDR")]
    pub address: Option<IpAddr>,

    /// Instance ID (default: NAME-ADDRESS-PORT).
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
}

impl IdentityArgs {
    /// The address to register and the instance ID, for a service bound to `bound`.
    fn resolve(
        &self,
        endpoint: Option<&Endpoint>,
        bound: IpAddr,
        port: u16,
    ) -> (String, advertise::Advertised) {
        let addrs = Addresses::read(endpoint.map(Endpoint::authority).as_deref());
        let chosen = advertise::choose(self.address, bound, &addrs);
        let id = self
            .id
            .clone()
            .unwrap_or_else(|| Service::default_id(&self.name, chosen.address, port));
        (id, chosen)
    }
}

/// How the instance is named and registered (shared by `serve` and `register`).
#[derive(Debug, Args)]
pub struct InstanceArgs {
    /// Which instance.
    #[command(flatten)]
    pub identity: IdentityArgs,

    /// The registry's health check: a TCP connect, or GET /healthz.
    #[arg(long, value_name = "KIND", value_parser = ["tcp", "http"], default_value = "http")]
    pub check: String,

    /// etcd lease TTL, kept alive at a third of it (e.g. 10s, 1m).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "10s")]
    pub ttl: u64,
}

/// The registry to talk to, as `register` and `deregister` take it.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("registry").required(true).args(["consul", "etcd"])))]
pub struct RegistryArgs {
    /// A Consul agent: http://HOST[:8500] (or HOST[:PORT]).
    #[arg(long, value_name = "URL")]
    pub consul: Option<String>,

    /// etcd's v3 JSON gateway: http://HOST[:2379] (or HOST[:PORT]).
    #[arg(long, value_name = "URL")]
    pub etcd: Option<String>,
}

impl RegistryArgs {
    fn endpoint(&self) -> Result<Endpoint, CliError> {
        let parsed = match (&self.consul, &self.etcd) {
            (Some(u), _) => Endpoint::parse_as(Kind::Consul, u),
            (None, Some(u)) => Endpoint::parse_as(Kind::Etcd, u),
            (None, None) => return Err(usage("name a registry: --consul URL or --etcd URL")),
        };
        parsed.map_err(|e| usage(e.to_string()))
    }
}

/// Arguments of `portdoctor register`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  portdoctor register --etcd http://127.0.0.1:2379 --name web --port 8080
  portdoctor register --consul http://127.0.0.1:8500 --name web --port 8080 --check tcp
  sudo portdoctor register --etcd 10.0.0.5:2379 --name web --port 8080 --open-firewall

Registers the service and stays in the foreground keeping the registration alive (etcd: a
lease with keep-alive; Consul: re-registered when the agent forgot it). SIGTERM or Ctrl-C
deregisters and closes the firewall opening it made. Killed with SIGKILL, the etcd key goes
when its lease expires; `portdoctor deregister` removes it at once (and closes the opening).
The address registered is concrete: Consul refuses 0.0.0.0 (\"Invalid service address\").
With --open-firewall the port is opened first (`portdoctor history` shows it); when the
registration then fails, the opening is closed again before exiting.
Exit codes: 0 registered, then deregistered on a signal; 1 the registry refused or cannot be
reached, or the firewall could not be opened; 2 bad usage (a URL that does not parse); 3 needs
root for --open-firewall.")]
pub struct RegisterArgs {
    /// Where to register.
    #[command(flatten)]
    pub registry: RegistryArgs,

    /// The service's TCP port.
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,

    /// The service speaks HTTPS (for the HTTP check's URL).
    #[arg(long)]
    pub tls: bool,

    /// Open the port in the local firewall through the fix engine first; closed on exit.
    #[arg(long)]
    pub open_firewall: bool,

    /// Naming and registration.
    #[command(flatten)]
    pub instance: InstanceArgs,
}

/// Arguments of `portdoctor deregister`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  portdoctor deregister --etcd http://127.0.0.1:2379 --name web --port 8080
  portdoctor deregister --consul 127.0.0.1:8500 --name web --id web-10.0.0.7-8080

Removes the instance (etcd: its key, and its lease is revoked). When the registration records
a firewall opening made by `register --open-firewall` or `serve --open-firewall`, it is
closed too (needs root; --keep-firewall leaves it). Nothing registered is not an error.
Exit codes: 0 removed or nothing there; 1 the registry failed; 2 bad usage.")]
pub struct DeregisterArgs {
    /// Where to deregister from.
    #[command(flatten)]
    pub registry: RegistryArgs,

    /// The service's port (to compute the default ID).
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..), required_unless_present = "id")]
    pub port: Option<u16>,

    /// Which instance (the address and ID are worked out as `register` does).
    #[command(flatten)]
    pub identity: IdentityArgs,

    /// Leave the firewall opening recorded with the registration open.
    #[arg(long)]
    pub keep_firewall: bool,
}

/// The service to register for `port`, with the address choice explained.
pub fn service(
    inst: &InstanceArgs,
    endpoint: Option<&Endpoint>,
    bound: IpAddr,
    port: u16,
    tls: bool,
) -> (Service, advertise::Advertised) {
    let (id, chosen) = inst.identity.resolve(endpoint, bound, port);
    let service = Service {
        name: inst.identity.name.clone(),
        id,
        address: chosen.address,
        port,
        tls,
        check: if inst.check == "tcp" {
            Check::Tcp
        } else {
            Check::Http
        },
        firewall_change: None,
    };
    (service, chosen)
}

/// One printed event: a lifecycle step, or one of serve's own.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Event<'a> {
    /// A lifecycle step.
    Step(&'a Step),
    /// Anything else, already shaped.
    Other(serde_json::Value),
}

/// Prints events: a line each, or a JSON document each with `--json`.
pub fn reporter(out: Output) -> Report {
    Arc::new(move |s: &Step| emit(out, &Event::Step(s), &s.to_string()))
}

/// Prints one event.
pub fn emit(out: Output, event: &Event<'_>, text: &str) {
    let _ = if out.json {
        out.json(event)
    } else {
        out.line(text)
    };
}

/// The plan for the lifecycle.
pub fn plan(
    service: Service,
    endpoint: Option<&Endpoint>,
    ttl: u64,
    open_firewall: bool,
    readiness: Arc<Readiness>,
    out: Output,
) -> Plan {
    Plan {
        service,
        registry: endpoint.map(|e| Arc::from(registry::connect(e, ttl))),
        firewall: open_firewall.then(|| Arc::new(FixEngineFirewall) as Arc<dyn Firewall>),
        readiness,
        report: reporter(out),
    }
}

/// Library errors as exit codes: bad input 2, address in use and registry failures 1.
pub fn serve_error(e: ServeError) -> CliError {
    match e {
        ServeError::BadUrl { .. } | ServeError::Tls(_) => usage(e.to_string()),
        ServeError::Bind { ref source, .. }
            if source.kind() == std::io::ErrorKind::PermissionDenied =>
        {
            crate::exit::environment(format!("{e} (ports below 1024 need root)"))
        }
        _ => CliError::Failed(e.to_string()),
    }
}

/// Announces the chosen address.
pub fn announce_address(out: Output, chosen: &advertise::Advertised) {
    let text = format!("registering address {}: {}", chosen.address, chosen.why);
    emit(
        out,
        &Event::Other(
            serde_json::json!({"event": "address", "address": chosen.address, "why": chosen.why}),
        ),
        &text,
    );
}

/// Runs `register`.
pub fn run_register(args: &RegisterArgs, out: &Output) -> Result<Exit, CliError> {
    let endpoint = args.registry.endpoint()?;
    if args.open_firewall {
        require_root()?;
    }
    let unspecified = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);
    let (svc, chosen) = service(
        &args.instance,
        Some(&endpoint),
        unspecified,
        args.port,
        args.tls,
    );
    announce_address(*out, &chosen);
    let out = *out;
    crate::runtime::runtime()?.block_on(async move {
        let mut shutdown = Shutdown::install()?;
        let plan = plan(
            svc,
            Some(&endpoint),
            args.instance.ttl,
            args.open_firewall,
            Arc::default(),
            out,
        );
        let up = lifecycle::bring_up(plan).await.map_err(serve_error)?;
        let signal = shutdown.wait().await;
        note(&format!("{signal}: deregistering"));
        lifecycle::take_down(up).await;
        Ok(Exit::Ok)
    })
}

/// Runs `deregister`.
pub fn run_deregister(args: &DeregisterArgs, out: &Output) -> Result<Exit, CliError> {
    let endpoint = args.registry.endpoint()?;
    let unspecified = IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED);
    let id = match (&args.identity.id, args.port) {
        (Some(id), _) => id.clone(),
        (None, Some(port)) => args.identity.resolve(Some(&endpoint), unspecified, port).0,
        (None, None) => return Err(usage("give --port or --id")),
    };
    let reg = registry::connect(&endpoint, 10);
    let removed = crate::runtime::runtime()?
        .block_on(reg.deregister(&args.identity.name, &id))
        .map_err(serve_error)?;
    let text = if removed.existed {
        format!("deregistered {id} from {}", reg.describe())
    } else {
        format!(
            "{id} was not registered with {}: nothing to do",
            reg.describe()
        )
    };
    let event = serde_json::json!({"event": "deregistered", "id": id, "existed": removed.existed,
        "registry": reg.describe(), "firewall_change": removed.firewall_change});
    emit(*out, &Event::Other(event), &text);
    match removed.firewall_change {
        Some(change) if !args.keep_firewall => close_recorded(&change, *out),
        _ => Ok(Exit::Ok),
    }
}

/// Closes the firewall opening recorded with a registration.
fn close_recorded(change: &str, out: Output) -> Result<Exit, CliError> {
    require_root()?;
    let step = match FixEngineFirewall.close(change) {
        Ok(()) => Step::FirewallClosed {
            change: change.into(),
        },
        Err(why) => Step::FirewallCloseFailed {
            change: change.into(),
            why,
        },
    };
    emit(out, &Event::Step(&step), &step.to_string());
    Ok(match step {
        Step::FirewallClosed { .. } => Exit::Ok,
        _ => Exit::Failed,
    })
}
