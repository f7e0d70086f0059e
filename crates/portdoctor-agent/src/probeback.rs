//! Probe-back: a peer asks "can you reach me on these ports?" and the agent probes the
//! asker's own source address, never another one. The request may name an address only to
//! have the refusal said out loud.

use crate::client::{self, ClientError, Connector, Url};
use crate::outcome::{Observation, now};
use crate::state::Settings;
use crate::target::{Expect, Target};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// The endpoint's path.
pub const PATH: &str = "/api/probe-back";

/// What a peer asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ask {
    /// TCP ports to probe on the asker's address.
    pub ports: Vec<u16>,
    /// Must be absent or the asker's own address; anything else is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<IpAddr>,
}

/// One port's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortResult {
    /// The port.
    pub port: u16,
    /// `open`, `closed`, `filtered`, `unreachable`, `error`.
    pub state: String,
    /// How it was learnt.
    pub reason: String,
    /// Seconds the probe took.
    pub seconds: f64,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reply {
    /// The agent that probed.
    pub agent: String,
    /// The address probed: the asker's, as the agent saw it.
    pub source: IpAddr,
    /// Unix time of the probes.
    pub at: u64,
    /// One entry per port asked.
    pub results: Vec<PortResult>,
}

/// Why a probe-back request is not served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The request names another address.
    #[error("refused: probe-back only probes the asker's own address ({asker}), not {asked}")]
    OtherAddress {
        /// The asker.
        asker: IpAddr,
        /// What it asked for.
        asked: IpAddr,
    },
    /// Too many or invalid ports.
    #[error("bad request: {0}")]
    BadRequest(String),
}

/// Checks a request against the asker's address and the limits.
pub fn check(ask: &Ask, asker: IpAddr, max_ports: usize) -> Result<(), Refusal> {
    if let Some(asked) = ask.address.map(|a| a.to_canonical()) {
        if asked != asker {
            return Err(Refusal::OtherAddress { asker, asked });
        }
    }
    if ask.ports.is_empty() || ask.ports.len() > max_ports {
        return Err(Refusal::BadRequest(format!(
            "ask for 1 to {max_ports} ports"
        )));
    }
    if ask.ports.contains(&0) {
        return Err(Refusal::BadRequest("port 0".into()));
    }
    Ok(())
}

/// Probes `asker` on the asked ports (after [`check`]).
pub async fn serve(ask: &Ask, asker: IpAddr, settings: &Settings) -> Reply {
    let targets: Vec<Target> = ask
        .ports
        .iter()
        .map(|p| Target {
            name: format!("probe-back:{p}"),
            addr: SocketAddr::new(asker, *p),
            expect: Expect::Open,
        })
        .collect();
    let observations = crate::scheduler::probe_all(&targets, settings).await;
    Reply {
        agent: settings.config.display_name(),
        source: asker,
        at: now(),
        results: observations.iter().map(port_result).collect(),
    }
}

fn port_result(o: &Observation) -> PortResult {
    PortResult {
        port: o.target.addr.port(),
        state: o.state.clone(),
        reason: o.reason.clone(),
        seconds: o.seconds,
    }
}

/// Why asking a peer failed.
#[derive(Debug, thiserror::Error)]
pub enum AskError {
    /// The request did not complete.
    #[error("cannot ask {url}: {source}")]
    Client {
        /// The peer.
        url: String,
        /// Why.
        source: ClientError,
    },
    /// The peer answered with an error.
    #[error("{url} answered {status}: {body}")]
    Status {
        /// The peer.
        url: String,
        /// HTTP status.
        status: u16,
        /// Its explanation.
        body: String,
    },
    /// The answer is not a probe-back reply.
    #[error("{url}: unexpected answer: {source}")]
    Decode {
        /// The peer.
        url: String,
        /// The decoder's message.
        #[source]
        source: serde_json::Error,
    },
}

/// Asks the agent at `url` to probe us back on `ports` (an `https://` agent is trusted as
/// `connector` says).
pub async fn ask(
    url: &str,
    ports: &[u16],
    token: Option<&str>,
    connector: &Connector,
) -> Result<Reply, AskError> {
    let client_err = |source| AskError::Client {
        url: url.to_string(),
        source,
    };
    let parsed = Url::parse(url).map_err(client_err)?;
    let body = serde_json::to_string(&Ask {
        ports: ports.to_vec(),
        address: None,
    })
    .unwrap_or_default();
    let req = client::Request {
        method: "POST",
        path: PATH,
        body: Some(&body),
        token,
    };
    let (status, text) = client::send(&parsed, &req, connector, Duration::from_secs(15))
        .await
        .map_err(client_err)?;
    if status != 200 {
        return Err(AskError::Status {
            url: url.to_string(),
            status,
            body: text.trim().to_string(),
        });
    }
    serde_json::from_str(&text).map_err(|source| AskError::Decode {
        url: url.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(address: Option<&str>, ports: Vec<u16>) -> Ask {
        Ask {
            ports,
            address: address.map(|a| a.parse().unwrap()),
        }
    }

    #[test]
    fn another_address_is_refused() {
        let me: IpAddr = "198.51.100.1".parse().unwrap();
        let e = check(&ask(Some("198.51.100.2"), vec![80]), me, 16).unwrap_err();
        assert!(matches!(e, Refusal::OtherAddress { .. }));
        assert!(check(&ask(Some("198.51.100.1"), vec![80]), me, 16).is_ok());
        assert!(check(&ask(Some("::ffff:198.51.100.1"), vec![80]), me, 16).is_ok());
        assert!(check(&ask(None, vec![80]), me, 16).is_ok());
    }

    #[test]
    fn port_count_is_bounded() {
        let me: IpAddr = "198.51.100.1".parse().unwrap();
        assert!(check(&ask(None, vec![]), me, 2).is_err());
        assert!(check(&ask(None, vec![1, 2, 3]), me, 2).is_err());
        assert!(check(&ask(None, vec![0]), me, 2).is_err());
    }
}
