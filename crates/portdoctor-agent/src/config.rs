//! The agent's TOML configuration: where to listen, what to probe and how often, and the
//! limits of the HTTP side. Errors carry the line and column the `toml` parser reports.

use crate::client::{Fingerprint, Trust, Url};
use crate::target::{Expect, Target};
use portdoctor_serve::registry::{Endpoint, Kind};
use portdoctor_serve::server::Acceptor;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The default listening address: loopback only (secure default).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9187";

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The agent's name on the status page (default: its listening address).
    #[serde(default)]
    pub name: Option<String>,
    /// Address the HTTP server binds (`127.0.0.1:9187` by default).
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Seconds between the starts of two probe rounds.
    #[serde(default = "default_interval")]
    pub interval_seconds: f64,
    /// Seconds a probe waits for an answer.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: f64,
    /// Probes in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Seconds between two reads of this machine's sockets and firewall (not per scrape).
    #[serde(default = "default_local_refresh")]
    pub local_refresh_seconds: f64,
    /// A file holding the bearer token every HTTP request must carry (none: no token).
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Other agents (`http://ADDR:PORT` or `https://ADDR:PORT`) whose rows the status page
    /// shows.
    #[serde(default)]
    pub peers: Vec<String>,
    /// How `https://` peers are trusted (`[peer_tls]`).
    #[serde(default)]
    pub peer_tls: PeerTls,
    /// The probe-back API.
    #[serde(default)]
    pub probe_back: ProbeBack,
    /// Limits of the HTTP server.
    #[serde(default)]
    pub limits: Limits,
    /// Static targets (`[[target]]`).
    #[serde(default, rename = "target")]
    pub targets: Vec<TargetEntry>,
    /// Targets discovered from registrations (`[[discovery]]`).
    #[serde(default)]
    pub discovery: Vec<DiscoveryEntry>,
    /// HTTPS instead of HTTP (`[tls]`, Linux only).
    #[serde(default)]
    pub tls: Option<TlsFiles>,
}

/// `[tls]`: the server's certificate and key (PEM files, read at start and on reload).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// `[peer_tls]`: how the certificates of `https://` peers are trusted (one of the two).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PeerTls {
    /// Roots (PEM) the peers' certificates are verified against, for their IP addresses.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// The SHA-256 fingerprints of the peers' own certificates (as each agent prints at
    /// start).
    #[serde(default)]
    pub fingerprints: Vec<Fingerprint>,
}

/// Why `[tls]` is refused where TLS is not built in.
pub const TLS_NOT_BUILT_IN: &str =
    "TLS is built on Linux only (ring's C code); terminate TLS in front of the agent here";

/// One `[[discovery]]` table: a registry whose registrations become targets every round.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryEntry {
    /// `etcd` (v3 JSON gateway) or `consul` (its catalog, through an agent's HTTP API).
    pub kind: Kind,
    /// The registry: `http://HOST[:PORT]` or `HOST[:PORT]`.
    pub url: String,
    /// etcd only: the key prefix to list (default `/services/`; `/services/NAME/` for one
    /// service).
    #[serde(default)]
    pub prefix: Option<String>,
    /// Consul only: the service to list (default: every service of the agent).
    #[serde(default)]
    pub service: Option<String>,
    /// What the discovered ports should be: `open` (default) or `closed`.
    #[serde(default)]
    pub expect: Expect,
}

/// The etcd prefix `portdoctor register` writes under.
pub const DEFAULT_PREFIX: &str = "/services/";

impl DiscoveryEntry {
    /// The registry's address.
    pub fn endpoint(&self) -> Result<Endpoint, String> {
        Endpoint::parse_as(self.kind, &self.url).map_err(|e| e.to_string())
    }

    /// The etcd prefix in force.
    pub fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or(DEFAULT_PREFIX)
    }

    /// Why this entry cannot work, if it cannot.
    fn problem(&self) -> Option<String> {
        if let Err(e) = self.endpoint() {
            return Some(e);
        }
        match self.kind {
            Kind::Etcd if self.service.is_some() => {
                Some("`service` is for consul; etcd takes `prefix = \"/services/NAME/\"`".into())
            }
            Kind::Etcd if !self.prefix().starts_with('/') => {
                Some(format!("prefix `{}` must start with `/`", self.prefix()))
            }
            Kind::Consul if self.prefix.is_some() => {
                Some("`prefix` is for etcd; consul takes `service = \"NAME\"`".into())
            }
            _ => None,
        }
    }
}

/// One `[[target]]` table.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TargetEntry {
    /// `ADDR:PORT` or `[ADDR6]:PORT`: literal addresses only, so the agent never probes an
    /// address a resolver chose.
    pub address: SocketAddr,
    /// A short name (default: the address).
    #[serde(default)]
    pub name: Option<String>,
    /// `open` (default) or `closed`.
    #[serde(default)]
    pub expect: Expect,
}

/// `[probe_back]`: peers asking "can you reach me?".
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeBack {
    /// Whether the endpoint answers at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Requests per minute allowed from one source address.
    #[serde(default = "default_probe_back_rate")]
    pub per_minute: u32,
    /// Ports one request may ask about.
    #[serde(default = "default_max_ports")]
    pub max_ports: usize,
}

/// `[limits]`: the HTTP server's limits.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest request body accepted, in bytes.
    #[serde(default = "default_body")]
    pub max_body_bytes: usize,
    /// Requests per second the whole server accepts (all sources together).
    #[serde(default = "default_rps")]
    pub requests_per_second: u32,
}

impl Default for ProbeBack {
    fn default() -> Self {
        Self {
            enabled: true,
            per_minute: default_probe_back_rate(),
            max_ports: default_max_ports(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_body_bytes: default_body(),
            requests_per_second: default_rps(),
        }
    }
}

fn default_listen() -> SocketAddr {
    DEFAULT_LISTEN.parse().expect("valid constant")
}
fn default_interval() -> f64 {
    15.0
}
fn default_timeout() -> f64 {
    2.0
}
fn default_concurrency() -> usize {
    256
}
fn default_local_refresh() -> f64 {
    30.0
}
fn yes() -> bool {
    true
}
fn default_probe_back_rate() -> u32 {
    6
}
fn default_max_ports() -> usize {
    16
}
fn default_body() -> usize {
    4096
}
fn default_rps() -> u32 {
    100
}

/// A configuration that cannot be used, with where in the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TOML is malformed, or a value is invalid.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// 1-based line (0: the file as a whole).
        line: usize,
        /// 1-based column (0: the file as a whole).
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// The `[tls]` certificate or key cannot be used.
    #[error("{0}")]
    Tls(String),
}

impl Config {
    /// Reads and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses and checks `text` (`origin` names it in errors).
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((0, 0), |s| line_col(text, s.start));
            invalid(origin, line, column, e.message().trim())
        })?;
        cfg.check().map_err(|(key, message)| {
            let (line, column) = key_position(text, key);
            invalid(origin, line, column, &format!("{key}: {message}"))
        })?;
        Ok(cfg)
    }

    /// Values that parse but cannot work; `Err((key, message))`.
    fn check(&self) -> Result<(), (&'static str, String)> {
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(self.interval_seconds) {
            return Err(("interval_seconds", "must be a positive number".into()));
        }
        if !positive(self.timeout_seconds) || self.timeout_seconds >= self.interval_seconds {
            return Err((
                "timeout_seconds",
                "must be positive and shorter than interval_seconds".into(),
            ));
        }
        if !positive(self.local_refresh_seconds) {
            return Err(("local_refresh_seconds", "must be a positive number".into()));
        }
        if self.concurrency == 0 {
            return Err(("concurrency", "must be at least 1".into()));
        }
        if self.probe_back.per_minute == 0 || self.probe_back.max_ports == 0 {
            return Err((
                "probe_back",
                "per_minute and max_ports must be at least 1".into(),
            ));
        }
        self.check_peers()?;
        if let Some(p) = self.discovery.iter().find_map(DiscoveryEntry::problem) {
            return Err(("discovery", p));
        }
        if self.tls.is_some() && !portdoctor_serve::TLS_BUILT_IN {
            return Err(("tls", TLS_NOT_BUILT_IN.into()));
        }
        Ok(())
    }

    /// Peers' URLs and how the `https://` ones are trusted; `Err((key, message))`.
    fn check_peers(&self) -> Result<(), (&'static str, String)> {
        let mut https = false;
        for p in &self.peers {
            let url = Url::parse(p).map_err(|_| {
                (
                    "peers",
                    format!("`{p}` is not http://ADDR:PORT or https://ADDR:PORT"),
                )
            })?;
            https |= url.https;
        }
        let trust = self.peer_trust();
        trust.check().map_err(|e| ("peer_tls", e.to_string()))?;
        if !trust.is_empty() && !portdoctor_serve::TLS_BUILT_IN {
            return Err(("peer_tls", crate::client::TLS_NOT_BUILT_IN.into()));
        }
        if https && trust.is_empty() {
            return Err((
                "peers",
                "https:// peers need [peer_tls] with `ca = \"FILE\"` or `fingerprints = \
[\"SHA-256\", …]` (each agent prints its certificate's fingerprint at start)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// How `https://` peers are trusted, from `[peer_tls]`.
    pub fn peer_trust(&self) -> Trust {
        Trust {
            ca: self.peer_tls.ca.clone(),
            fingerprints: self.peer_tls.fingerprints.clone(),
        }
    }

    /// Seconds between rounds, as a duration.
    pub fn interval(&self) -> Duration {
        Duration::from_secs_f64(self.interval_seconds)
    }

    /// The probe timeout, as a duration.
    pub fn timeout(&self) -> Duration {
        Duration::from_secs_f64(self.timeout_seconds)
    }

    /// How often local sockets and the firewall are re-read.
    pub fn local_refresh(&self) -> Duration {
        Duration::from_secs_f64(self.local_refresh_seconds)
    }

    /// The agent's display name.
    pub fn display_name(&self) -> String {
        self.name.clone().unwrap_or_else(|| self.listen.to_string())
    }

    /// The configured static targets.
    pub fn static_targets(&self) -> Vec<Target> {
        self.targets
            .iter()
            .map(|t| Target {
                name: t.name.clone().unwrap_or_else(|| t.address.to_string()),
                addr: t.address,
                expect: t.expect,
            })
            .collect()
    }

    /// The TLS acceptor for `[tls]` (reads the certificate and key; they must belong
    /// together); none without `[tls]`.
    pub fn tls(&self) -> Result<Option<Acceptor>, ConfigError> {
        self.tls.as_ref().map(load_tls).transpose()
    }

    /// The SHA-256 fingerprint of the `[tls]` certificate (what peers pin with
    /// `--peer-fingerprint` or `[peer_tls] fingerprints`); none without `[tls]`.
    pub fn tls_fingerprint(&self) -> Result<Option<String>, ConfigError> {
        self.tls.as_ref().map(fingerprint).transpose()
    }

    /// Reads the token file, if one is configured (trailing whitespace is dropped).
    pub fn token(&self) -> Result<Option<String>, ConfigError> {
        let Some(path) = &self.token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Some(text.trim().to_string()).filter(|t| !t.is_empty()))
    }
}

#[cfg(target_os = "linux")]
fn load_tls(files: &TlsFiles) -> Result<Acceptor, ConfigError> {
    portdoctor_serve::tls::load(&files.cert, &files.key)
        .map(|t| t.acceptor())
        .map_err(|e| ConfigError::Tls(e.to_string()))
}

#[cfg(target_os = "linux")]
fn fingerprint(files: &TlsFiles) -> Result<String, ConfigError> {
    portdoctor_serve::tls::load(&files.cert, &files.key)
        .map(|t| t.fingerprint)
        .map_err(|e| ConfigError::Tls(e.to_string()))
}

#[cfg(not(target_os = "linux"))]
fn fingerprint(_files: &TlsFiles) -> Result<String, ConfigError> {
    Err(ConfigError::Tls(TLS_NOT_BUILT_IN.into()))
}

#[cfg(not(target_os = "linux"))]
fn load_tls(_files: &TlsFiles) -> Result<Acceptor, ConfigError> {
    Err(ConfigError::Tls(TLS_NOT_BUILT_IN.into()))
}

fn invalid(origin: &str, line: usize, column: usize, message: &str) -> ConfigError {
    ConfigError::Invalid {
        path: origin.to_string(),
        line,
        column,
        message: message.to_string(),
    }
}

/// 1-based line and column of byte `offset` in `text`.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Where `key` is set (`key =`, `[key]` or `[[key]]` at a line start); (0, 0) when it is not
/// written.
fn key_position(text: &str, key: &str) -> (usize, usize) {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
                || l.starts_with(&format!("[{key}]"))
                || l.starts_with(&format!("[[{key}]]"))
        })
        .map_or((0, 0), |i| (i + 1, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_secure() {
        let c = Config::parse("", "t").unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert!(c.targets.is_empty());
        assert_eq!(c.probe_back.per_minute, 6);
    }

    #[test]
    fn targets_v4_v6_and_expectations() {
        let c = Config::parse(
            "[[target]]\naddress = \"192.0.2.1:80\"\n[[target]]\naddress = \"[2001:db8::1]:22\"\nexpect = \"closed\"\nname = \"ssh\"\n",
            "t",
        )
        .unwrap();
        let t = c.static_targets();
        assert_eq!(t[0].expect, Expect::Open);
        assert_eq!(t[1].expect, Expect::Closed);
        assert_eq!(t[1].name, "ssh");
        assert!(t[1].addr.is_ipv6());
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let e = Config::parse(
            "interval_seconds = 5\n[[target]]\naddress = \"nope:80\"\n",
            "a.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("a.toml:3:11:"), "{e}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = Config::parse("intervall = 5\n", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("a.toml:1:1:"), "{e}");
    }

    #[test]
    fn discovery_entries_default_and_check() {
        let c = Config::parse(
            "[[discovery]]\nkind = \"etcd\"\nurl = \"http://127.0.0.1:2379\"\n[[discovery]]\nkind = \"consul\"\nurl = \"127.0.0.1\"\nservice = \"web\"\nexpect = \"closed\"\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.discovery[0].prefix(), "/services/");
        assert_eq!(c.discovery[0].expect, Expect::Open);
        assert_eq!(
            c.discovery[1].endpoint().unwrap().authority(),
            "127.0.0.1:8500"
        );
        let e = Config::parse(
            "interval_seconds = 5\n[[discovery]]\nkind = \"etcd\"\nurl = \"https://x\"\n",
            "a.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("a.toml:2:1: discovery") && e.contains("HTTPS"),
            "{e}"
        );
        let e = Config::parse("[[discovery]]\nkind = \"zk\"\nurl = \"x\"\n", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("a.toml:2:8:"), "{e}");
    }

    #[test]
    fn tls_needs_both_files_and_a_build_with_tls() {
        let e = Config::parse("[tls]\ncert = \"c.pem\"\n", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("key"), "{e}");
        let parsed = Config::parse("[tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n", "a.toml");
        if portdoctor_serve::TLS_BUILT_IN {
            let e = parsed.unwrap().tls().err().unwrap().to_string();
            assert!(e.starts_with("TLS: cannot read certificate c.pem"), "{e}");
        } else {
            let e = parsed.unwrap_err().to_string();
            assert!(
                e.starts_with("a.toml:1:1: tls: TLS is built on Linux only"),
                "{e}"
            );
        }
    }

    #[test]
    fn https_peers_need_a_way_to_trust_them() {
        let peer = "peers = [\"https://192.0.2.7:9187\"]\n";
        let e = Config::parse(peer, "a.toml").unwrap_err().to_string();
        assert!(
            e.starts_with("a.toml:1:1: peers: https:// peers need [peer_tls]"),
            "{e}"
        );
        let hex = "AB".repeat(32);
        let pinned = format!("{peer}[peer_tls]\nfingerprints = [\"{hex}\"]\n");
        let parsed = Config::parse(&pinned, "a.toml");
        if portdoctor_serve::TLS_BUILT_IN {
            assert_eq!(parsed.unwrap().peer_trust().fingerprints.len(), 1);
        } else {
            assert!(parsed.unwrap_err().to_string().contains("not built"));
        }
        let bad = format!("{peer}[peer_tls]\nfingerprints = [\"AB:CD\"]\n");
        let e = Config::parse(&bad, "a.toml").unwrap_err().to_string();
        assert!(e.starts_with("a.toml:3:") && e.contains("SHA-256"), "{e}");
        let both = format!("{pinned}ca = \"ca.pem\"\n");
        let e = Config::parse(&both, "a.toml").unwrap_err().to_string();
        assert!(e.contains("peer_tls") && e.contains("not both"), "{e}");
    }

    #[test]
    fn semantic_errors_point_at_the_key() {
        let e = Config::parse("interval_seconds = 5\ntimeout_seconds = 9\n", "a.toml")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("a.toml:2:1: timeout_seconds"), "{e}");
    }
}
