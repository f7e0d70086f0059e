//! `portdoctor agent`: the fleet reachability agent (clap and rendering; the agent itself is
//! `portdoctor-agent`).

use crate::exit::{CliError, Exit, environment, usage};
use crate::output::Output;
use clap::Args;
use portdoctor_agent::Config;
use portdoctor_agent::metrics::TABLE;
use std::path::PathBuf;

/// Arguments of `portdoctor agent`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  portdoctor agent --config /etc/portdoctor/agent.toml
  portdoctor agent --config agent.toml --check-config          check it, print the targets
  portdoctor agent --config agent.toml --check-config --json   the configuration with defaults
  portdoctor agent --list-metrics                              every metric name and its labels
  curl -s localhost:9187/metrics                                what Prometheus scrapes
  kill -HUP $(pidof portdoctor)                                 reload the configuration

A minimal agent.toml:
  listen = \"127.0.0.1:9187\"       # the default: loopback only
  interval_seconds = 15
  [[target]]
  address = \"192.0.2.10:443\"
  [[target]]
  address = \"[2001:db8::10]:22\"
  expect = \"closed\"               # must not be reachable
  [[discovery]]                     # targets from registrations, every round
  kind = \"etcd\"                   # or \"consul\" (with service = \"NAME\")
  url = \"http://127.0.0.1:2379\"
  prefix = \"/services/\"
  [tls]                             # HTTPS (Linux builds); prints its SHA-256 at start
  cert = \"/etc/portdoctor/agent.crt\"
  key = \"/etc/portdoctor/agent.key\"
  [peer_tls]                        # trusting https:// peers: their SHA-256 ...
  fingerprints = [\"AB:CD:…\"]        # ... or ca = \"FILE\"

Endpoints: / (reachability matrix of this agent and its `peers`), /metrics (OpenMetrics),
/api/status (JSON), POST /api/probe-back {\"ports\": [..]} (probes the asker's own address
only; rate-limited). With token_file set, every request needs `Authorization: Bearer TOKEN`.
Exit codes: runs until stopped; 0 for --check-config on a valid file; 2 a bad configuration
(reported as FILE:LINE:COLUMN); 3 the address cannot be bound.")]
pub struct AgentArgs {
    /// The configuration file (TOML).
    #[arg(long, value_name = "FILE", required_unless_present = "list_metrics")]
    pub config: Option<PathBuf>,

    /// Check the configuration, print what the agent would do, and exit.
    #[arg(long)]
    pub check_config: bool,

    /// Print the metrics the agent exports (name, labels, help) and exit.
    #[arg(long)]
    pub list_metrics: bool,
}

/// Runs `agent`.
pub fn run(args: &AgentArgs, out: &Output) -> Result<Exit, CliError> {
    if args.list_metrics {
        return list_metrics(out);
    }
    let path = args
        .config
        .clone()
        .ok_or_else(|| usage("--config FILE is required"))?;
    let config = Config::load(&path).map_err(|e| usage(e.to_string()))?;
    config.token().map_err(|e| usage(e.to_string()))?;
    config.tls().map_err(|e| usage(e.to_string()))?;
    let fingerprint = config.tls_fingerprint().map_err(|e| usage(e.to_string()))?;
    if args.check_config {
        return check(&config, fingerprint.as_deref(), out);
    }
    let rt = crate::runtime::runtime()?;
    let json = out.json;
    let summary = summary(&config);
    rt.block_on(portdoctor_agent::run(path, config, |addr| {
        if !json {
            let at = listening_on(addr, fingerprint.as_deref());
            println!("portdoctor agent: listening on {at}; {summary}");
        }
    }))
    .map_err(|e| match e {
        portdoctor_agent::AgentError::Config(c) => usage(c.to_string()),
        other => environment(other.to_string()),
    })?;
    Ok(Exit::Ok)
}

/// `http://ADDR`, or `https://ADDR` with the certificate's fingerprint (what peers pin).
fn listening_on(addr: std::net::SocketAddr, fingerprint: Option<&str>) -> String {
    match fingerprint {
        Some(f) => format!("https://{addr} (certificate SHA-256 fingerprint {f})"),
        None => format!("http://{addr}"),
    }
}

fn summary(c: &Config) -> String {
    format!(
        "{} target(s) and {} discovery source(s) every {} s, timeout {} s, {} peer(s)",
        c.targets.len(),
        c.discovery.len(),
        c.interval_seconds,
        c.timeout_seconds,
        c.peers.len()
    )
}

fn check(c: &Config, fingerprint: Option<&str>, out: &Output) -> Result<Exit, CliError> {
    if out.json {
        out.json(c)?;
        return Ok(Exit::Ok);
    }
    out.line(&format!(
        "configuration ok: listen {}; {}",
        c.listen,
        summary(c)
    ))?;
    for t in c.static_targets() {
        out.line(&format!(
            "  {:<28} expect {:<6} {}",
            t.addr.to_string(),
            t.expect.as_str(),
            t.name
        ))?;
    }
    for d in &c.discovery {
        let what = match d.kind {
            portdoctor_serve::registry::Kind::Etcd => d.prefix(),
            portdoctor_serve::registry::Kind::Consul => d.service.as_deref().unwrap_or("*"),
        };
        out.line(&format!(
            "  discovered from {} {} {what}, expect {}",
            d.kind,
            d.url,
            d.expect.as_str()
        ))?;
    }
    if let (Some(t), Some(f)) = (&c.tls, fingerprint) {
        out.line(&format!(
            "  HTTPS with {} (SHA-256 fingerprint {f})",
            t.cert.display()
        ))?;
    }
    Ok(Exit::Ok)
}

fn list_metrics(out: &Output) -> Result<Exit, CliError> {
    if out.json {
        let rows: Vec<serde_json::Value> = TABLE
            .iter()
            .map(|d| serde_json::json!({"name": d.name, "labels": d.labels, "help": d.help}))
            .collect();
        out.json(&rows)?;
        return Ok(Exit::Ok);
    }
    for d in TABLE {
        out.line(&format!(
            "{} {{{}}}\n    {}",
            d.name,
            d.labels.join(","),
            d.help
        ))?;
    }
    Ok(Exit::Ok)
}
