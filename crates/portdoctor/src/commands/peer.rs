//! `--peer URL`: a `portdoctor agent` on another machine probes this one back, so "reachable
//! from the peer" comes from a real connection. Shared by `diagnose` and `open`/`close`.

use crate::exit::{CliError, environment, usage};
use clap::Args;
use portdoctor_agent::client::{Connector, Fingerprint, TLS_NOT_BUILT_IN, Trust, Url};
use portdoctor_diagnose::ProbeOutcome;
use portdoctor_sockets::Proto;
use std::net::IpAddr;

/// The agent that probes this machine back, and how to talk to it.
#[derive(Debug, Clone, Default, Args)]
pub struct AgentPeer {
    /// A `portdoctor agent` on another machine (http://ADDR:PORT or https://ADDR:PORT)
    /// probes this machine back: its answer is the probe from the peer at ADDR.
    #[arg(long, value_name = "URL")]
    pub peer: Option<String>,

    /// With --peer: a file holding the agent's bearer token.
    #[arg(long, value_name = "FILE", requires = "peer")]
    pub peer_token_file: Option<std::path::PathBuf>,

    /// With --peer https://…: trust the agent's certificate if it chains to these roots (PEM)
    /// and names ADDR (an IP address subjectAltName).
    #[arg(
        long,
        value_name = "FILE",
        requires = "peer",
        conflicts_with = "peer_fingerprint"
    )]
    pub peer_ca: Option<std::path::PathBuf>,

    /// With --peer https://…: accept exactly the certificate with this SHA-256 (hex, colons
    /// allowed), as the agent prints it at start.
    #[arg(long, value_name = "SHA256", requires = "peer")]
    pub peer_fingerprint: Option<Fingerprint>,
}

impl AgentPeer {
    /// The probe through the agent, and the agent's address (the peer). The agent probes the
    /// address it sees this machine connect from, whatever `dst` says: it never probes another.
    pub fn probe(&self, proto: Proto) -> Result<(crate::sys::BoxedPeerProbe, IpAddr), CliError> {
        let Some(url) = &self.peer else {
            return Err(usage("--peer is needed"));
        };
        if proto != Proto::Tcp {
            return Err(usage("--peer: agents probe back TCP ports only"));
        }
        let parsed = Url::parse(url).map_err(|e| usage(format!("--peer: {e}")))?;
        let addr = parsed.addr.ip();
        let connector = self.connector(&parsed)?;
        let token = self.token()?;
        let url = url.to_string();
        let probe = move |_dst: IpAddr, port: u16| {
            let rt = match crate::runtime::runtime() {
                Ok(rt) => rt,
                Err(e) => return (ProbeOutcome::Error(e.to_string()), None),
            };
            let reply = rt.block_on(portdoctor_agent::probeback::ask(
                &url,
                &[port],
                token.as_deref(),
                &connector,
            ));
            match reply.map(|r| r.results.into_iter().next()) {
                Ok(Some(r)) => (outcome(&r.state, &r.reason), Some(r.seconds * 1000.0)),
                Ok(None) => (
                    ProbeOutcome::Error("the agent answered no result".into()),
                    None,
                ),
                Err(e) => (ProbeOutcome::Error(e.to_string()), None),
            }
        };
        Ok((Box::new(probe), addr))
    }

    /// `--peer-token-file`'s token.
    fn token(&self) -> Result<Option<String>, CliError> {
        let Some(p) = &self.peer_token_file else {
            return Ok(None);
        };
        std::fs::read_to_string(p)
            .map(|t| Some(t.trim().to_string()))
            .map_err(|e| usage(format!("cannot read {}: {e}", p.display())))
    }

    /// How the agent's certificate is trusted: `--peer-ca` or `--peer-fingerprint`, needed
    /// for https:// and only for it.
    fn connector(&self, url: &Url) -> Result<Connector, CliError> {
        let trust = Trust {
            ca: self.peer_ca.clone(),
            fingerprints: self.peer_fingerprint.into_iter().collect(),
        };
        if !url.https && !trust.is_empty() {
            return Err(usage(
                "--peer-ca and --peer-fingerprint are for an https:// --peer",
            ));
        }
        if url.https && !portdoctor_serve::TLS_BUILT_IN {
            return Err(environment(format!("--peer: {TLS_NOT_BUILT_IN}")));
        }
        if url.https && trust.is_empty() {
            return Err(usage(
                "--peer https://…: pass --peer-fingerprint SHA256 (the agent prints its \
certificate's fingerprint at start) or --peer-ca FILE (roots its certificate chains to)",
            ));
        }
        Connector::new(&trust).map_err(|e| usage(format!("--peer: {e}")))
    }
}

/// An agent's port state as a probe outcome.
fn outcome(state: &str, reason: &str) -> ProbeOutcome {
    match state {
        "open" => ProbeOutcome::Open,
        "closed" => ProbeOutcome::Closed,
        "filtered" => ProbeOutcome::Filtered,
        "unreachable" => ProbeOutcome::Unreachable(reason.to_string()),
        other => ProbeOutcome::Error(format!("{other}: {reason}")),
    }
}
