//! The `/metrics` exposition (prometheus-client, OpenMetrics text). Every metric's name, help
//! and labels are in [`TABLE`]; nothing else in the crate names a metric.
//!
//! Cardinality: per-target series are bounded by the configured targets; `class` and `reason`
//! come from fixed sets (see [`crate::outcome`]); TCP state counts are kept for listening
//! ports only.

use crate::local::LocalView;
use crate::outcome::Observation;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

/// One metric: its registered name (counters gain `_total`, info metrics `_info` in the
/// exposition), help text, and label names.
#[derive(Debug, Clone, Copy)]
pub struct Def {
    /// Registered name.
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// Label names, in order.
    pub labels: &'static [&'static str],
}

/// 1 when the last probe met the target's expectation, else 0.
pub const PROBE_SUCCESS: Def = Def {
    name: "portdoctor_agent_probe_success",
    help: "1 when the last probe met the target's expectation (open or closed), else 0",
    labels: &["target", "name", "expect"],
};
/// The last probe's port state, as a label (value 1).
pub const PROBE_STATE: Def = Def {
    name: "portdoctor_agent_probe_state",
    help: "The last probe's port state as the state label (open, closed, filtered, unreachable, error); value 1",
    labels: &["target", "name", "state"],
};
/// Present (value 1) only for failing targets: why.
pub const PROBE_FAILURE: Def = Def {
    name: "portdoctor_agent_probe_failure",
    help: "Present for failing targets only: the failure class (closed, filtered, unreachable, open, error) and the reason (reset, no-response, admin-prohibited, expected-closed, ...)",
    labels: &["target", "name", "class", "reason"],
};
/// Probe durations.
pub const PROBE_DURATION: Def = Def {
    name: "portdoctor_agent_probe_duration_seconds",
    help: "How long probes took (the timeout when nothing answered)",
    labels: &["target", "name"],
};
/// Completed probe rounds.
pub const ROUNDS: Def = Def {
    name: "portdoctor_agent_rounds",
    help: "Probe rounds completed",
    labels: &[],
};
/// Rounds that were still running when the next one was due (skipped, not queued).
pub const ROUNDS_SKIPPED: Def = Def {
    name: "portdoctor_agent_rounds_overrun",
    help: "Probe rounds that took longer than the interval (the missed ticks are skipped)",
    labels: &[],
};
/// How long the last round took.
pub const ROUND_SECONDS: Def = Def {
    name: "portdoctor_agent_round_duration_seconds",
    help: "How long the last probe round took",
    labels: &[],
};
/// This machine's listening TCP ports.
pub const LISTENING: Def = Def {
    name: "portdoctor_agent_listening",
    help: "This machine's listening TCP sockets, with the owning program; value 1",
    labels: &["port", "address", "program"],
};
/// TCP sockets per listening port and state.
pub const TCP_SOCKETS: Def = Def {
    name: "portdoctor_agent_tcp_sockets",
    help: "TCP sockets on this machine's listening ports, by port and state",
    labels: &["port", "state"],
};
/// The local firewall's verdict for anyone else.
pub const FIREWALL_VERDICT: Def = Def {
    name: "portdoctor_agent_firewall_verdict",
    help: "The local firewall's verdict for anyone else connecting to a listening port on one address, with the deciding rule; value 1",
    labels: &["port", "address", "verdict", "rule"],
};
/// Whether the local firewall and sockets could be read.
pub const LOCAL_READ_OK: Def = Def {
    name: "portdoctor_agent_local_read_ok",
    help: "1 when the last read of this machine's sockets and firewall succeeded",
    labels: &[],
};
/// Probe-back requests by result.
pub const PROBE_BACK: Def = Def {
    name: "portdoctor_agent_probe_back_requests",
    help: "Probe-back requests by result (ok, refused, rate_limited, unauthorized, bad_request)",
    labels: &["result"],
};
/// Failed listings of a discovery source (its last known targets are kept).
pub const DISCOVERY_FAILURES: Def = Def {
    name: "portdoctor_agent_discovery_failures",
    help: "Rounds in which a target source could not list its targets (etcd, consul); its last known targets were probed",
    labels: &["source"],
};
/// Build information.
pub const BUILD: Def = Def {
    name: "portdoctor_agent_build",
    help: "Build information",
    labels: &["version"],
};

/// Every metric, for documentation and tests.
pub const TABLE: &[Def] = &[
    PROBE_SUCCESS,
    PROBE_STATE,
    PROBE_FAILURE,
    PROBE_DURATION,
    ROUNDS,
    ROUNDS_SKIPPED,
    ROUND_SECONDS,
    LISTENING,
    TCP_SOCKETS,
    FIREWALL_VERDICT,
    LOCAL_READ_OK,
    PROBE_BACK,
    DISCOVERY_FAILURES,
    BUILD,
];

/// Histogram bounds: few, one per decade, because there is one histogram per target (with
/// 10,000 targets every bucket is 10,000 lines per scrape).
const BUCKETS: [f64; 5] = [0.001, 0.01, 0.1, 1.0, 5.0];

type Labels = Vec<(&'static str, String)>;

fn new_histogram() -> Histogram {
    Histogram::new(BUCKETS)
}

/// The registry and handles on every metric.
pub struct Metrics {
    registry: Registry,
    success: Family<Labels, Gauge>,
    state: Family<Labels, Gauge>,
    failure: Family<Labels, Gauge>,
    duration: Family<Labels, Histogram, fn() -> Histogram>,
    /// The histograms' label sets of the last round: series of targets that are gone (after
    /// a reload) are removed, not kept forever.
    duration_keys: std::sync::Mutex<std::collections::HashSet<Labels>>,
    rounds: Counter,
    overrun: Counter,
    round_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    listening: Family<Labels, Gauge>,
    tcp: Family<Labels, Gauge>,
    firewall: Family<Labels, Gauge>,
    local_ok: Gauge,
    probe_back: Family<Labels, Counter>,
    discovery_failures: Family<Labels, Counter>,
    /// The exposition, gzip-compressed, re-encoded after every change (a round, a local
    /// read, a probe-back request): a scrape sends it as is (Prometheus asks for gzip) or
    /// inflates it, instead of encoding; kept compressed, it costs ≈ 1/15 of the text.
    gzipped: std::sync::Mutex<axum::body::Bytes>,
}

fn labels(def: Def, values: &[&str]) -> Labels {
    def.labels
        .iter()
        .zip(values)
        .map(|(k, v)| (*k, (*v).to_string()))
        .collect()
}

fn reg(r: &mut Registry, d: Def, metric: impl prometheus_client::registry::Metric) {
    r.register(d.name, d.help, metric);
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric of [`TABLE`].
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let m = Metrics {
            success: Family::default(),
            state: Family::default(),
            failure: Family::default(),
            duration: Family::new_with_constructor(new_histogram as fn() -> Histogram),
            duration_keys: Default::default(),
            rounds: Counter::default(),
            overrun: Counter::default(),
            round_seconds: Gauge::default(),
            listening: Family::default(),
            tcp: Family::default(),
            firewall: Family::default(),
            local_ok: Gauge::default(),
            probe_back: Family::default(),
            discovery_failures: Family::default(),
            registry: Registry::default(),
            gzipped: Default::default(),
        };
        reg(&mut registry, PROBE_SUCCESS, m.success.clone());
        reg(&mut registry, PROBE_STATE, m.state.clone());
        reg(&mut registry, PROBE_FAILURE, m.failure.clone());
        reg(&mut registry, PROBE_DURATION, m.duration.clone());
        reg(&mut registry, ROUNDS, m.rounds.clone());
        reg(&mut registry, ROUNDS_SKIPPED, m.overrun.clone());
        reg(&mut registry, ROUND_SECONDS, m.round_seconds.clone());
        reg(&mut registry, LISTENING, m.listening.clone());
        reg(&mut registry, TCP_SOCKETS, m.tcp.clone());
        reg(&mut registry, FIREWALL_VERDICT, m.firewall.clone());
        reg(&mut registry, LOCAL_READ_OK, m.local_ok.clone());
        reg(&mut registry, PROBE_BACK, m.probe_back.clone());
        reg(
            &mut registry,
            DISCOVERY_FAILURES,
            m.discovery_failures.clone(),
        );
        let build = Info::new(labels(BUILD, &[env!("CARGO_PKG_VERSION")]));
        reg(&mut registry, BUILD, build);
        let m = Metrics { registry, ..m };
        m.refresh();
        m
    }

    /// Records a finished round: replaces every per-target series, adds to the histograms.
    pub fn record_round(&self, observations: &[Observation], seconds: f64, overrun: bool) {
        self.success.clear();
        self.state.clear();
        self.failure.clear();
        let mut keys = std::collections::HashSet::new();
        for o in observations {
            let t = o.target.addr.to_string();
            // An unnamed target's name is its address: an empty label (which Prometheus
            // drops) instead of the address twice in every line.
            let n = if o.target.name == t {
                ""
            } else {
                o.target.name.as_str()
            };
            let s = labels(PROBE_SUCCESS, &[&t, n, o.target.expect.as_str()]);
            self.success.get_or_create(&s).set(i64::from(o.success));
            self.state
                .get_or_create(&labels(PROBE_STATE, &[&t, n, &o.state]))
                .set(1);
            if let Some(class) = &o.class {
                let f = labels(PROBE_FAILURE, &[&t, n, class, &o.reason]);
                self.failure.get_or_create(&f).set(1);
            }
            let d = labels(PROBE_DURATION, &[&t, n]);
            self.duration.get_or_create(&d).observe(o.seconds);
            keys.insert(d);
        }
        let mut last = self.duration_keys.lock().unwrap_or_else(|p| p.into_inner());
        for gone in last.difference(&keys) {
            self.duration.remove(gone);
        }
        *last = keys;
        drop(last);
        self.refresh();
        self.rounds.inc();
        if overrun {
            self.overrun.inc();
        }
        self.round_seconds.set(seconds);
    }

    /// Replaces the series about this machine.
    pub fn record_local(&self, view: &LocalView) {
        self.listening.clear();
        self.tcp.clear();
        self.firewall.clear();
        for l in &view.listening {
            let v = [l.port.to_string(), l.address.to_string()];
            let k = labels(LISTENING, &[&v[0], &v[1], &l.program]);
            self.listening.get_or_create(&k).set(1);
        }
        for (port, states) in &view.tcp_states {
            for (state, n) in states {
                let k = labels(TCP_SOCKETS, &[&port.to_string(), state]);
                self.tcp
                    .get_or_create(&k)
                    .set(i64::try_from(*n).unwrap_or(i64::MAX));
            }
        }
        for f in view.firewall.iter().filter(|f| f.from == "anyone") {
            let v = [f.port.to_string(), f.address.to_string()];
            let k = labels(FIREWALL_VERDICT, &[&v[0], &v[1], &f.verdict, &f.rule]);
            self.firewall.get_or_create(&k).set(1);
        }
        self.local_ok.set(i64::from(view.problems.is_empty()));
        self.refresh();
    }

    /// Counts one probe-back request.
    pub fn probe_back(&self, result: &str) {
        self.probe_back
            .get_or_create(&labels(PROBE_BACK, &[result]))
            .inc();
        self.refresh();
    }

    /// Counts one failed listing of a source of `kind` (the round's record refreshes the
    /// exposition).
    pub fn source_failed(&self, kind: &str) {
        self.discovery_failures
            .get_or_create(&labels(DISCOVERY_FAILURES, &[kind]))
            .inc();
    }

    /// The OpenMetrics text exposition as of the last change.
    pub fn encode(&self) -> axum::body::Bytes {
        let mut text = Vec::new();
        // Inflating what we deflated ourselves cannot fail; an empty body would be a bug.
        let _ = std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&self.encode_gzip()[..]),
            &mut text,
        );
        axum::body::Bytes::from(text)
    }

    /// The exposition as of the last change, gzip-compressed (a cheap reference).
    pub fn encode_gzip(&self) -> axum::body::Bytes {
        self.gzipped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Encodes and compresses the registry. Encoders are serialised by holding the lock on
    /// the stored copy; scrapes wait at most one encoding.
    fn refresh(&self) {
        let mut stored = self.gzipped.lock().unwrap_or_else(|p| p.into_inner());
        let mut text = String::with_capacity(stored.len() * 16 + 4096);
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        let mut gz = flate2::write::GzEncoder::new(
            Vec::with_capacity(text.len() / 10),
            flate2::Compression::fast(),
        );
        let _ = std::io::Write::write_all(&mut gz, text.as_bytes());
        drop(text);
        *stored = axum::body::Bytes::from(gz.finish().unwrap_or_default());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for d in TABLE {
            assert!(d.name.starts_with("portdoctor_agent_"), "{}", d.name);
            assert!(
                !d.name.ends_with("_total"),
                "counters get _total from the encoder"
            );
            assert!(d.name.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
            assert!(seen.insert(d.name), "duplicate {}", d.name);
        }
    }

    #[test]
    fn exposition_has_every_family_and_eof() {
        let m = Metrics::new();
        let target = crate::target::Target {
            name: "web".into(),
            addr: "192.0.2.1:80".parse().unwrap(),
            expect: crate::target::Expect::Open,
        };
        let o = Observation::error(&target, "probe-engine");
        m.source_failed("etcd");
        m.record_round(&[o], 0.1, false);
        let addr = "192.0.2.9".parse().unwrap();
        let view = LocalView {
            listening: vec![crate::local::Listening {
                port: 22,
                address: addr,
                program: "sshd".into(),
            }],
            tcp_states: [(22, [("LISTEN".to_string(), 1)].into())].into(),
            firewall: vec![crate::local::FirewallVerdict {
                port: 22,
                address: addr,
                from: "anyone".into(),
                verdict: "accept".into(),
                rule: "none".into(),
            }],
            ..LocalView::default()
        };
        m.record_local(&view);
        m.probe_back("ok");
        let text = String::from_utf8(m.encode().to_vec()).unwrap();
        for d in TABLE {
            assert!(text.contains(&format!("# HELP {}", d.name)), "{}", d.name);
        }
        assert!(text.contains("portdoctor_agent_build_info{version="));
        assert!(text.trim_end().ends_with("# EOF"));
        assert!(
            text.contains("class=\"error\",reason=\"probe-engine\""),
            "{text}"
        );
    }
}
