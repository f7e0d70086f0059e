//! `portdoctor agent` for real: three agents in three lab namespaces on one bridge probe each
//! other; one namespace drops the agent port for one peer only; Debian's Prometheus, started
//! here on the hub namespace's loopback, scrapes all three and its query API must return
//! exactly that cell failing with class `filtered`. The status page of a real agent is
//! rendered by Debian's headless Chromium (DOM checked, screenshot kept). Probe-back refuses
//! any address but the asker's and rate-limits, and `diagnose --peer` uses it. An `expect =
//! "closed"` target that opens fails.
#![cfg(target_os = "linux")]

use portdoctor_lab::containers::{add_bridge, attach};
use portdoctor_lab::{Lab, Netns, lab_required};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_portdoctor");
const AGENT_PORT: u16 = 9187;

/// Three agent namespaces on a bridge in a hub namespace: 198.19.0.{1,2,3}, hub .254.
struct Fleet {
    agents: Vec<Netns>,
    hub: Netns,
}

impl Fleet {
    fn new() -> Fleet {
        let hub = Netns::create("hub").expect("hub namespace");
        add_bridge(&hub, "br0", Ipv4Addr::new(198, 19, 0, 254), 24).expect("bridge");
        let agents = (1..=3)
            .map(|i| {
                let addr = Ipv4Addr::new(198, 19, 0, i);
                attach(&hub, "br0", &format!("vh{i}"), &format!("a{i}"), addr, 24)
                    .expect("agent namespace on the bridge")
            })
            .collect();
        Fleet { agents, hub }
    }

    fn addr(i: usize) -> String {
        format!("198.19.0.{}", i + 1)
    }
}

/// A running process, killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `portdoctor agent` with `toml` in `ns` (or here) and waits for its ready line.
fn start_agent(
    ns: Option<&Netns>,
    dir: &std::path::Path,
    name: &str,
    toml: &str,
) -> (Running, SocketAddr) {
    let (agent, addr, _line) = start_agent_line(ns, dir, name, toml);
    (agent, addr)
}

/// [`start_agent`], also returning the line it printed at start.
fn start_agent_line(
    ns: Option<&Netns>,
    dir: &std::path::Path,
    name: &str,
    toml: &str,
) -> (Running, SocketAddr, String) {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, toml).unwrap();
    let mut cmd = match ns {
        Some(ns) => ns.command(BIN),
        None => Command::new(BIN),
    };
    cmd.args(["agent", "--config"]).arg(&path);
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = started_at(&line).unwrap_or_else(|| panic!("agent {name} did not start: {line:?}"));
    (Running(child), addr, line)
}

/// The address in the agent's start line: `listening on http://ADDR;` or `on https://ADDR
/// (certificate SHA-256 fingerprint F);`.
fn started_at(line: &str) -> Option<SocketAddr> {
    let rest = line.split("://").nth(1)?;
    rest.split([';', ' ']).next()?.parse().ok()
}

/// A blocking HTTP request (from the calling thread's namespace); status and body.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    try_http(addr, method, path, body).unwrap_or_else(|e| panic!("{method} {addr}{path}: {e}"))
}

fn try_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
    s.set_read_timeout(Some(Duration::from_secs(20)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut raw = String::new();
    s.read_to_string(&mut raw)?;
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((code, body.to_string()))
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An instant query against Prometheus in the hub; the result vector.
fn query(hub: &Netns, q: &str) -> Vec<Value> {
    let path = format!("/api/v1/query?query={}", encode(q));
    let Ok((200, body)) =
        hub.enter(|| try_http("127.0.0.1:9090".parse().unwrap(), "GET", &path, ""))
    else {
        return vec![];
    };
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn agent_toml(i: usize) -> String {
    let me = Fleet::addr(i);
    let others: Vec<String> = (0..3).filter(|j| *j != i).map(Fleet::addr).collect();
    let mut t = format!(
        "name = \"agent-{}\"\nlisten = \"{me}:{AGENT_PORT}\"\ninterval_seconds = 1\ntimeout_seconds = 0.5\nlocal_refresh_seconds = 1\npeers = [{}]\n",
        i + 1,
        others
            .iter()
            .map(|o| format!("\"http://{o}:{AGENT_PORT}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for o in &others {
        t.push_str(&format!("[[target]]\naddress = \"{o}:{AGENT_PORT}\"\n"));
    }
    t
}

const PROMETHEUS_YML: &str = "global:
  scrape_interval: 1s
  scrape_timeout: 900ms
scrape_configs:
  - job_name: portdoctor-agent
    static_configs:
      - targets: ['198.19.0.1:9187', '198.19.0.2:9187', '198.19.0.3:9187']
";

fn start_prometheus(hub: &Netns, dir: &std::path::Path) -> Running {
    std::fs::write(dir.join("prometheus.yml"), PROMETHEUS_YML).unwrap();
    let mut cmd = hub.command("prometheus");
    cmd.arg(format!(
        "--config.file={}",
        dir.join("prometheus.yml").display()
    ))
    .arg(format!(
        "--storage.tsdb.path={}",
        dir.join("tsdb").display()
    ))
    .arg("--web.listen-address=127.0.0.1:9090")
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    Running(
        cmd.spawn()
            .expect("prometheus (apt-get install prometheus)"),
    )
}

/// Polls `check` until it returns true or `secs` pass.
fn eventually(secs: u64, mut check: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if check() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    false
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

fn lab_ok(test: &str) -> bool {
    let root = rustix_is_root();
    if !root || !have("prometheus") || !have("chromium") {
        assert!(
            !lab_required(),
            "{test}: PORTDOCTOR_LAB=1 needs root, prometheus and chromium"
        );
        eprintln!(
            "SKIP {test}: needs root, prometheus and chromium (PORTDOCTOR_LAB=1 requires them)"
        );
        return false;
    }
    true
}

fn rustix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[test]
fn prometheus_sees_exactly_the_dropped_cell_as_filtered_and_chromium_renders_the_matrix() {
    if !lab_ok("agent fleet") {
        return;
    }
    let fleet = Fleet::new();
    // agent-2 drops its agent port for agent-1 only.
    fleet.agents[1]
        .run_stdin(
            "nft",
            &["-f", "-"],
            "table inet fleet { chain input { type filter hook input priority 0; policy accept; ip saddr 198.19.0.1 tcp dport 9187 drop; }; }\n",
        )
        .expect("nft");
    let dir = tempfile::tempdir().unwrap();
    let _agents: Vec<Running> = (0..3)
        .map(|i| {
            start_agent(
                Some(&fleet.agents[i]),
                dir.path(),
                &format!("agent-{}", i + 1),
                &agent_toml(i),
            )
            .0
        })
        .collect();
    let _prom = start_prometheus(&fleet.hub, dir.path());
    let failing = "portdoctor_agent_probe_failure";
    let ok = eventually(60, || {
        query(&fleet.hub, "count(portdoctor_agent_probe_success == 1)")
            .first()
            .is_some_and(|r| r["value"][1] == "5")
            && query(&fleet.hub, failing).len() == 1
    });
    let failures = query(&fleet.hub, failing);
    assert!(
        ok,
        "Prometheus never saw 5 cells up and 1 failing: {failures:?}"
    );
    let m = &failures[0]["metric"];
    assert_eq!(m["instance"], "198.19.0.1:9187", "{m}");
    assert_eq!(m["target"], "198.19.0.2:9187", "{m}");
    assert_eq!(m["class"], "filtered", "{m}");
    assert_eq!(m["reason"], "no-response", "{m}");
    let down = query(&fleet.hub, "portdoctor_agent_probe_success == 0");
    assert_eq!(down.len(), 1, "{down:?}");
    // The firewall verdict metric names the rule on agent-2 (for anyone else: accepted).
    let fw = query(
        &fleet.hub,
        "portdoctor_agent_firewall_verdict{instance=\"198.19.0.2:9187\",port=\"9187\"}",
    );
    assert!(!fw.is_empty(), "no firewall verdict from agent-2");
    chromium_renders_matrix(&fleet);
}

/// agent-2's page (agent-1 cannot fetch agent-2's row: it is the one dropped).
fn chromium_renders_matrix(fleet: &Fleet) {
    let url = format!("http://198.19.0.2:{AGENT_PORT}/");
    // Wait until the page has agent-2's firewall verdicts for agent-1 (local refresh 1 s).
    assert!(eventually(20, || {
        fleet
            .hub
            .enter(|| {
                http(
                    format!("198.19.0.2:{AGENT_PORT}").parse().unwrap(),
                    "GET",
                    "/",
                    "",
                )
            })
            .1
            .contains("target firewall: drop")
    }));
    let profile = tempfile::tempdir().unwrap();
    let chromium = |extra: &[&str]| {
        let mut cmd = fleet.hub.command("chromium");
        cmd.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1100,500",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(extra)
        .arg(&url)
        .stderr(Stdio::null());
        cmd.output().expect("chromium (apt-get install chromium)")
    };
    let dom = String::from_utf8_lossy(&chromium(&["--dump-dom"]).stdout).to_string();
    assert!(dom.contains("<table id=\"matrix\">"), "{dom}");
    let rows = dom.matches("<tr data-agent=").count();
    assert_eq!(rows, 3, "{dom}");
    let fails: Vec<&str> = dom
        .match_indices("class=\"fail\"")
        .map(|(i, _)| &dom[i..(i + 400).min(dom.len())])
        .collect();
    assert_eq!(fails.len(), 1, "{dom}");
    assert!(fails[0].contains("data-class=\"filtered\""), "{}", fails[0]);
    assert!(
        fails[0].contains("agent-1 → 198.19.0.2:9187"),
        "{}",
        fails[0]
    );
    assert!(
        fails[0].contains("target firewall: drop by nftables inet fleet input"),
        "{}",
        fails[0]
    );
    assert_eq!(dom.matches("class=\"ok\"").count(), 5, "{dom}");
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("agent_status_page.png");
    let _ = std::fs::remove_file(&shot);
    chromium(&[&format!("--screenshot={}", shot.display())]);
    assert!(
        std::fs::metadata(&shot).is_ok_and(|m| m.len() > 1000),
        "no screenshot"
    );
    eprintln!("status page screenshot: {}", shot.display());
}

#[test]
fn probe_back_probes_only_the_asker_rate_limits_and_feeds_diagnose_peer() {
    let Some(lab) = Lab::for_test("agent probe-back") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (h, p) = (lab.host_v4(), lab.peer_v4());
    let toml = format!(
        "listen = \"{h}:{AGENT_PORT}\"\ninterval_seconds = 5\ntimeout_seconds = 0.5\n[probe_back]\nper_minute = 3\n"
    );
    let (_agent, addr) = start_agent(Some(lab.host()), dir.path(), "host", &toml);
    // The peer: a listener on 7001, and 7002 dropped for the agent's host only.
    let _l = lab
        .peer()
        .enter(|| std::net::TcpListener::bind((p, 7001)).unwrap());
    let _l2 = lab
        .peer()
        .enter(|| std::net::TcpListener::bind((p, 7002)).unwrap());
    lab.peer()
        .run_stdin(
            "nft",
            &["-f", "-"],
            &format!("table inet pb {{ chain input {{ type filter hook input priority 0; policy accept; ip saddr {h} tcp dport 7002 drop; }}; }}\n"),
        )
        .unwrap();
    let ask = |body: &str| {
        lab.peer()
            .enter(|| http(addr, "POST", "/api/probe-back", body))
    };
    // 1: the asker's own address: probed, and only it.
    let (code, body) = ask("{\"ports\": [7001, 7002]}");
    assert_eq!(code, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["source"], p.to_string());
    assert_eq!(v["results"][0]["state"], "open", "{v}");
    assert_eq!(v["results"][1]["state"], "filtered", "{v}");
    // 2: another address is refused.
    let (code, body) = ask(&format!("{{\"ports\": [7001], \"address\": \"{h}\"}}"));
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("only probes the asker's own address"),
        "{body}"
    );
    // 3 is the last of the burst; 4 is rate-limited.
    let (code, _) = ask("{\"ports\": [7001]}");
    assert_eq!(code, 200);
    let (code, body) = ask("{\"ports\": [7001]}");
    assert_eq!(code, 429, "{body}");
    // A body over the limit is refused before parsing.
    let big = format!("{{\"ports\": [{}]}}", vec!["1"; 3000].join(","));
    let (code, _) = ask(&big);
    assert!(code == 413 || code == 429, "{code}");
    diagnose_uses_the_agent(&lab, addr);
}

/// `diagnose 7003 --peer URL` on the peer: the agent (on the lab host) probes it back. A
/// fresh agent port is used so the rate limit above does not interfere.
fn diagnose_uses_the_agent(lab: &Lab, _first: SocketAddr) {
    let dir = tempfile::tempdir().unwrap();
    let (h, p) = (lab.host_v4(), lab.peer_v4());
    let toml = format!("listen = \"{h}:9188\"\ninterval_seconds = 5\ntimeout_seconds = 0.5\n");
    let (_agent, addr) = start_agent(Some(lab.host()), dir.path(), "host2", &toml);
    let _l = lab
        .peer()
        .enter(|| std::net::TcpListener::bind((p, 7003)).unwrap());
    lab.peer()
        .run(
            "nft",
            &[
                "add",
                "rule",
                "inet",
                "pb",
                "input",
                "ip",
                "saddr",
                &h.to_string(),
                "tcp",
                "dport",
                "7003",
                "drop",
            ],
        )
        .unwrap();
    let out = lab
        .peer()
        .command(BIN)
        .args([
            "diagnose",
            "7003",
            "--json",
            "--peer",
            &format!("http://{addr}"),
        ])
        .output()
        .unwrap();
    assert_filtered_from_the_agent(&out, lab);
}

/// `diagnose --json` output whose probe from the peer is the agent's (on the lab host)
/// probing the lab peer: filtered, exit 1.
fn assert_filtered_from_the_agent(out: &std::process::Output, lab: &Lab) {
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let probes = v["evidence"]["probes"]["value"].clone();
    let peer_probe = probes
        .as_array()
        .and_then(|a| a.iter().find(|e| e["viewpoint"]["kind"] == "peer"))
        .cloned()
        .unwrap_or_else(|| panic!("no probe from the peer: {probes}"));
    assert_eq!(
        peer_probe["viewpoint"]["addr"],
        lab.host_v4().to_string(),
        "{peer_probe}"
    );
    assert_eq!(peer_probe["dst"], lab.peer_v4().to_string(), "{peer_probe}");
    assert_eq!(peer_probe["outcome"]["outcome"], "filtered", "{peer_probe}");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `diagnose 7004 --peer https://… --peer-fingerprint F` on the peer, F read from the line the
/// agent (`[tls]`, on the lab host) printed at start: "filtered from the peer" over HTTPS.
/// Without a way to trust the certificate, diagnose refuses (exit 2) and says how.
#[test]
fn diagnose_peer_over_https_with_the_printed_fingerprint() {
    let Some(lab) = Lab::for_test("agent probe-back over HTTPS") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (h, p) = (lab.host_v4(), lab.peer_v4());
    let (cert, key) = portdoctor_serve::testkit::cert_files(dir.path(), true);
    let toml = format!(
        "listen = \"{h}:9189\"\ninterval_seconds = 5\ntimeout_seconds = 0.5\n[tls]\ncert = \"{}\"\nkey = \"{}\"\n",
        cert.display(),
        key.display()
    );
    let (_agent, addr, line) = start_agent_line(Some(lab.host()), dir.path(), "tls", &toml);
    let fingerprint = line
        .split("fingerprint ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap_or_else(|| panic!("no fingerprint at start: {line}"));
    let _l = lab
        .peer()
        .enter(|| std::net::TcpListener::bind((p, 7004)).unwrap());
    lab.peer()
        .run_stdin(
            "nft",
            &["-f", "-"],
            &format!("table inet pbtls {{ chain input {{ type filter hook input priority 0; policy accept; ip saddr {h} tcp dport 7004 drop; }}; }}\n"),
        )
        .unwrap();
    let url = format!("https://{addr}");
    let diagnose = |trust: &[&str]| {
        lab.peer()
            .command(BIN)
            .args(["diagnose", "7004", "--json", "--peer", &url])
            .args(trust)
            .output()
            .unwrap()
    };
    let out = diagnose(&["--peer-fingerprint", fingerprint]);
    assert_filtered_from_the_agent(&out, &lab);
    let out = diagnose(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--peer-fingerprint"), "{err}");
}

#[test]
fn an_expected_closed_target_that_opens_fails_v4_and_v6() {
    let dir = tempfile::tempdir().unwrap();
    let open6 = std::net::TcpListener::bind("[::1]:0").unwrap();
    let port6 = open6.local_addr().unwrap().port();
    let closed4 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port4 = closed4.local_addr().unwrap().port();
    drop(closed4);
    let toml = format!(
        "listen = \"127.0.0.1:0\"\ninterval_seconds = 1\ntimeout_seconds = 0.3\n\
[[target]]\naddress = \"[::1]:{port6}\"\nexpect = \"closed\"\nname = \"must-stay-closed\"\n\
[[target]]\naddress = \"127.0.0.1:{port4}\"\nexpect = \"closed\"\nname = \"really-closed\"\n"
    );
    let (_agent, addr) = start_agent(None, dir.path(), "closed", &toml);
    let mut text = String::new();
    assert!(eventually(10, || {
        text = http(addr, "GET", "/metrics", "").1;
        text.contains("portdoctor_agent_probe_failure")
    }));
    assert!(
        text.contains(&format!(
            "portdoctor_agent_probe_failure{{target=\"[::1]:{port6}\",name=\"must-stay-closed\",class=\"open\",reason=\"expected-closed\"}} 1"
        )),
        "{text}"
    );
    assert!(text.contains(&format!(
        "portdoctor_agent_probe_success{{target=\"127.0.0.1:{port4}\",name=\"really-closed\",expect=\"closed\"}} 1"
    )));
    assert!(text.contains(&format!(
        "portdoctor_agent_probe_success{{target=\"[::1]:{port6}\",name=\"must-stay-closed\",expect=\"closed\"}} 0"
    )));
}

/// SIGHUP swaps the targets in; a token, once configured, is required on every endpoint.
#[test]
fn sighup_reloads_the_targets_and_the_token_guards_every_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let base = "listen = \"127.0.0.1:0\"\ninterval_seconds = 1\ntimeout_seconds = 0.3\n";
    let first = format!("{base}[[target]]\naddress = \"127.0.0.1:{port}\"\nname = \"before\"\n");
    let (mut agent, addr) = start_agent(None, dir.path(), "reload", &first);
    assert!(eventually(10, || http(addr, "GET", "/metrics", "")
        .1
        .contains("name=\"before\"")));
    let second = format!(
        "{base}token_file = \"{}\"\n[[target]]\naddress = \"[::1]:{port}\"\nname = \"after\"\n",
        token.display()
    );
    std::fs::write(dir.path().join("reload.toml"), second).unwrap();
    let pid = agent.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert!(eventually(10, || http(addr, "GET", "/metrics", "").0 == 401));
    let authed = || {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\nConnection: close\r\n\r\n").unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        raw
    };
    assert!(eventually(10, || {
        let m = authed();
        m.contains("name=\"after\"") && !m.contains("name=\"before\"")
    }));
    for path in ["/", "/api/status"] {
        assert_eq!(http(addr, "GET", path, "").0, 401, "{path}");
    }
    assert_eq!(
        http(addr, "POST", "/api/probe-back", "{\"ports\":[1]}").0,
        401
    );
    // A broken file is refused on reload: the agent keeps running with the last good one.
    std::fs::write(dir.path().join("reload.toml"), "interval_seconds = \"x\"\n").unwrap();
    assert!(
        Command::new("kill")
            .args(["-HUP", &pid])
            .status()
            .unwrap()
            .success()
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert!(authed().contains("name=\"after\""));
    assert!(
        agent.0.try_wait().unwrap().is_none(),
        "the agent died on a bad reload"
    );
    drop(listener);
}

/// `open --peer`: after the change, the agent on the other machine connects. The fix that
/// works is confirmed from outside; when the rules let the port in but something outside
/// this machine drops it (here the agent's own output chain), `open` says so and exits 1.
#[test]
fn open_with_a_peer_agent_is_confirmed_from_outside_or_names_an_outside_drop() {
    let Some(lab) = Lab::for_test("open --peer") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (h, p) = (lab.host_v4(), lab.peer_v4());
    let toml = format!("listen = \"{h}:9190\"\ninterval_seconds = 5\ntimeout_seconds = 0.5\n");
    let (_agent, addr) = start_agent(Some(lab.host()), dir.path(), "open-peer", &toml);
    // The machine being fixed is the peer namespace: two services, a default-drop firewall.
    let _l = lab.peer().enter(|| {
        (
            std::net::TcpListener::bind((p, 7005)).unwrap(),
            std::net::TcpListener::bind((p, 7006)).unwrap(),
        )
    });
    lab.peer()
        .run_stdin(
            "nft",
            &["-f", "-"],
            "table inet fw { chain input { type filter hook input priority 0; policy drop; ct state established,related accept; iif lo accept; }; }\n",
        )
        .unwrap();
    // Outside the machine being fixed: the agent's side drops what it sends to 7006.
    lab.host()
        .run_stdin(
            "nft",
            &["-f", "-"],
            &format!("table inet outside {{ chain output {{ type filter hook output priority 0; policy accept; ip daddr {p} tcp dport 7006 drop; }}; }}\n"),
        )
        .unwrap();
    let url = format!("http://{addr}");
    let open = |port: &str| {
        lab.peer()
            .command(BIN)
            .args(["open", port, "--yes", "--json", "--peer", &url])
            .env("PORTDOCTOR_STATE_DIR", dir.path())
            .output()
            .unwrap()
    };
    let out = open("7005");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["verified"], true, "{doc:#}");
    assert_eq!(doc["peer"]["state"], "open", "{doc:#}");
    assert_eq!(doc["peer"]["as_wanted"], true, "{doc:#}");
    // The rules let 7006 in too, but the peer's packets never arrive.
    let out = lab
        .peer()
        .command(BIN)
        .args(["open", "7006", "--yes", "--peer", &url])
        .env("PORTDOCTOR_STATE_DIR", dir.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("verified: the rules read back do it"),
        "{text}"
    );
    assert!(text.contains(": filtered"), "{text}");
    assert!(
        text.contains("something outside this machine drops it"),
        "{text}"
    );
}
