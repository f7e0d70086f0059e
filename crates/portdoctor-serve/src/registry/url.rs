//! Registry URLs: `consul://HOST[:PORT]`, `etcd://HOST[:PORT]`, or with `--consul` /
//! `--etcd` also `http://HOST[:PORT]` and `HOST[:PORT]`.

use crate::error::ServeError;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// Which registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A Consul agent (HTTP API, default port 8500).
    Consul,
    /// etcd v3 through its JSON gateway (default port 2379).
    Etcd,
}

impl Kind {
    fn default_port(self) -> u16 {
        match self {
            Kind::Consul => 8500,
            Kind::Etcd => 2379,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Kind::Consul => "consul",
            Kind::Etcd => "etcd",
        })
    }
}

/// A registry's address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    /// Which registry.
    pub kind: Kind,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl Endpoint {
    /// Parses `URL` for a registry of `kind` (`http://`, `KIND://` or no scheme).
    pub fn parse_as(kind: Kind, text: &str) -> Result<Endpoint, ServeError> {
        let bad = |why: &str| ServeError::BadUrl {
            url: text.to_string(),
            why: why.to_string(),
        };
        let rest = match text.split_once("://") {
            Some(("http", rest)) => rest,
            Some((s, rest)) if s == kind.to_string() => rest,
            Some(("https", _)) => return Err(bad("HTTPS to the registry is not supported")),
            Some((s, _)) => return Err(bad(&format!("unknown scheme `{s}`"))),
            None => text,
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@', ' ']) {
            return Err(bad("expected HOST[:PORT] with no path"));
        }
        let (host, port) = split_host_port(rest).ok_or_else(|| bad("expected HOST[:PORT]"))?;
        let port = match port {
            None => kind.default_port(),
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err(bad(&format!("`{p}` is not a port"))),
            },
        };
        Ok(Endpoint {
            kind,
            host: host.to_string(),
            port,
        })
    }

    /// `host:port` (IPv6 in brackets), for connecting and the Host header.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// `consul://…` or `etcd://…` (the form `serve --register` takes).
impl FromStr for Endpoint {
    type Err = ServeError;

    fn from_str(text: &str) -> Result<Endpoint, ServeError> {
        match text.split_once("://") {
            Some(("consul", _)) => Endpoint::parse_as(Kind::Consul, text),
            Some(("etcd", _)) => Endpoint::parse_as(Kind::Etcd, text),
            _ => Err(ServeError::BadUrl {
                url: text.to_string(),
                why: "expected consul://HOST[:PORT] or etcd://HOST[:PORT]".into(),
            }),
        }
    }
}

fn split_host_port(text: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        return match after {
            "" => Some((host, None)),
            p => Some((host, Some(p.strip_prefix(':')?))),
        };
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((h, _)) if h.contains(':') => (text, None),
        Some((h, p)) => (h, Some(p)),
        None => (text, None),
    };
    (!host.is_empty()).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let e: Endpoint = "etcd://127.0.0.1:23790".parse().unwrap();
        assert_eq!(
            (e.kind, e.authority().as_str()),
            (Kind::Etcd, "127.0.0.1:23790")
        );
        let c: Endpoint = "consul://[::1]".parse().unwrap();
        assert_eq!(c.authority(), "[::1]:8500");
        let h = Endpoint::parse_as(Kind::Etcd, "http://localhost/").unwrap();
        assert_eq!(h.authority(), "localhost:2379");
        assert_eq!(
            Endpoint::parse_as(Kind::Consul, "::1").unwrap().authority(),
            "[::1]:8500"
        );
    }

    #[test]
    fn bad_urls_say_why() {
        for (text, why) in [
            ("etcd://host:99999", "99999"),
            ("redis://x", "consul://"),
            ("consul://x/v1/agent", "no path"),
            ("etcd://", "HOST"),
        ] {
            let e = text.parse::<Endpoint>().unwrap_err().to_string();
            assert!(e.contains(text) && e.contains(why), "{text}: {e}");
        }
    }
}
