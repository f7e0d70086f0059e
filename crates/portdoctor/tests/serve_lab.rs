//! `serve`, `register` and `deregister` for real: served in a lab namespace and reached from
//! the peer over HTTP and TLS (the certificate checked against the generated one), SIGTERM
//! during a slow request, `--open-firewall` opened and closed through the fix engine, a real
//! etcd's lease outliving a SIGKILL only by its TTL, the fake Consul agent, bad input.
#![cfg(target_os = "linux")]

mod common;

use common::*;
use portdoctor_lab::{Lab, Netns};
use portdoctor_serve::testkit::{consul::FakeConsul, etcd::Etcd};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

const EXE: &str = env!("CARGO_BIN_EXE_portdoctor");

/// A GET from wherever it runs: `STATUS SHA256-OF-PEER-CERT` then the body. With a CA file
/// the server's certificate must verify against it (chain and address).
const CLIENT: &str = r#"
import hashlib, http.client, ssl, sys
host, port, path, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
if cafile == "-":
    c = http.client.HTTPConnection(host, port, timeout=30)
else:
    ctx = ssl.create_default_context(cafile=cafile)
    c = http.client.HTTPSConnection(host, port, timeout=30, context=ctx)
c.request("GET", path)
r = c.getresponse()
fp = hashlib.sha256(c.sock.getpeercert(True)).hexdigest() if cafile != "-" else "-"
print(r.status, fp)
print(r.read().decode(), end="")
"#;

/// A long-running portdoctor (`--json` events on stdout), stopped on drop.
struct Running {
    child: Child,
    events: BufReader<ChildStdout>,
    seen: Vec<Value>,
}

impl Running {
    fn start(mut cmd: Command) -> Running {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let events = BufReader::new(child.stdout.take().unwrap());
        Running {
            child,
            events,
            seen: vec![],
        }
    }

    /// Reads events until one with `"event": name`; panics with stderr when the process ends.
    fn until(&mut self, name: &str) -> Value {
        loop {
            let mut line = String::new();
            if self.events.read_line(&mut line).unwrap_or(0) == 0 {
                let status = self.child.wait().unwrap();
                let mut err = String::new();
                std::io::Read::read_to_string(self.child.stderr.as_mut().unwrap(), &mut err).ok();
                panic!(
                    "no `{name}` event; exited {status}; seen {:?}; stderr: {err}",
                    self.seen
                );
            }
            let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
            self.seen.push(v.clone());
            if v["event"] == name {
                return v;
            }
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Waits for the exit; its code and the remaining events.
    fn finish(mut self) -> (i32, Vec<Value>) {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut self.events, &mut rest).unwrap();
        let code = self.child.wait().unwrap().code().unwrap_or(-1);
        let mut all = std::mem::take(&mut self.seen);
        all.extend(rest.lines().filter_map(|l| serde_json::from_str(l).ok()));
        (code, all)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_in(ns: &Netns, state: &std::path::Path, args: &[&str]) -> Running {
    let mut c = ns.command(EXE);
    c.args(["--json", "serve"])
        .args(args)
        .env("PORTDOCTOR_STATE_DIR", state);
    let mut r = Running::start(c);
    r.until("ready");
    r
}

/// GETs `path` from the peer namespace: (status line, body).
fn peer_get(lab: &Lab, host: &str, port: u16, path: &str, cafile: &str) -> (String, String) {
    let o = lab
        .peer()
        .command("python3")
        .args(["-c", CLIENT, host, &port.to_string(), path, cafile])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        o.status.success(),
        "client failed: {text}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (head, body) = text.split_once('\n').unwrap_or((&text, ""));
    (head.to_string(), body.to_string())
}

fn has(events: &[Value], name: &str) -> bool {
    events.iter().any(|e| e["event"] == name)
}

#[test]
fn serve_is_reachable_from_the_peer_over_http_and_tls() {
    let Some(lab) = Lab::for_test("serve_is_reachable_from_the_peer_over_http_and_tls") else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let plain = serve_in(
        lab.host(),
        state.path(),
        &["--port", "8080", "--name", "web"],
    );
    let v4 = lab.host_v4().to_string();
    let (status, body) = peer_get(&lab, &v4, 8080, "/", "-");
    assert!(
        status.starts_with("200") && body.contains("hello"),
        "{status} {body}"
    );
    let (status, _) = peer_get(&lab, &lab.host_v6().to_string(), 8080, "/readyz", "-");
    assert!(status.starts_with("200"), "dual-stack: IPv6 too: {status}");
    drop(plain);

    let cert = state.path().join("generated.pem");
    let tls = serve_in(
        lab.host(),
        state.path(),
        &[
            "--port",
            "8443",
            "--tls",
            "--write-cert",
            cert.to_str().unwrap(),
        ],
    );
    let printed = tls
        .seen
        .iter()
        .find(|e| e["event"] == "certificate")
        .cloned()
        .unwrap();
    let printed = printed["sha256"]
        .as_str()
        .unwrap()
        .replace(':', "")
        .to_lowercase();
    // The peer verifies the server against the generated certificate (chain and address),
    // and the certificate it was shown is the one whose fingerprint was printed.
    let (status, body) = peer_get(&lab, &v4, 8443, "/healthz", cert.to_str().unwrap());
    assert_eq!(status, format!("200 {printed}"));
    assert_eq!(body, "ok\n");
    tls.signal("-TERM");
    let (code, events) = tls.finish();
    assert_eq!(code, 0, "{events:?}");
    assert!(has(&events, "stopped"));
}

#[test]
fn sigterm_lets_a_slow_request_finish_and_the_drain_limit_cuts() {
    let Some(lab) = Lab::for_test("sigterm_lets_a_slow_request_finish_and_the_drain_limit_cuts")
    else {
        return;
    };
    let state = tempfile::tempdir().unwrap();
    let v4 = lab.host_v4().to_string();
    for (drain, delay, code, finished) in [("10s", "2000", 0, true), ("1s", "5000", 1, false)] {
        let server = serve_in(
            lab.host(),
            state.path(),
            &["--port", "8080", "--drain", drain],
        );
        let slow = lab
            .peer()
            .command("python3")
            .args(["-c", CLIENT, &v4, "8080", &format!("/delay/{delay}"), "-"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(500));
        let t0 = Instant::now();
        server.signal("-TERM");
        // New connections are refused at once while the slow one is still served.
        std::thread::sleep(Duration::from_millis(200));
        assert!(
            !peer_connects(&lab, lab.host_v4().into(), 8080),
            "still accepting"
        );
        let (exit, events) = server.finish();
        let out = slow.wait_with_output().unwrap();
        let got = String::from_utf8_lossy(&out.stdout);
        assert_eq!(exit, code, "drain {drain}: {events:?}");
        assert_eq!(
            got.contains(&format!("waited {delay} ms")),
            finished,
            "drain {drain}: {got}"
        );
        let stopped = events.iter().find(|e| e["event"] == "stopped").unwrap();
        assert_eq!(stopped["drain"]["timed_out"], !finished);
        assert!(t0.elapsed() < Duration::from_secs(8));
    }
}

#[test]
fn open_firewall_opens_then_closes_and_history_shows_it() {
    let Some(lab) = Lab::for_test("open_firewall_opens_then_closes_and_history_shows_it") else {
        return;
    };
    let h = lab.host();
    nft(
        h,
        "table inet filter {\n chain input { type filter hook input priority 0; policy drop;\n  iif lo accept\n  ct state established,related accept\n }\n}\n",
    );
    let state = tempfile::tempdir().unwrap();
    let dst = lab.host_v4().into();
    // Without --open-firewall: a warning says the firewall keeps others out.
    let blocked = serve_in(h, state.path(), &["--port", "8080"]);
    let warned = blocked.seen.iter().any(|e| e["event"] == "warning");
    assert!(warned, "no firewall warning: {:?}", blocked.seen);
    assert!(!peer_connects(&lab, dst, 8080));
    drop(blocked);

    let server = serve_in(h, state.path(), &["--port", "8080", "--open-firewall"]);
    let opened = server
        .seen
        .iter()
        .find(|e| e["event"] == "firewall-opened")
        .cloned();
    let id = opened.expect("firewall-opened")["change"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        peer_connects(&lab, dst, 8080),
        "the opening does not let the peer in"
    );
    let (status, _) = peer_get(&lab, &lab.host_v4().to_string(), 8080, "/readyz", "-");
    assert!(status.starts_with("200"));
    server.signal("-TERM");
    let (code, events) = server.finish();
    assert_eq!(code, 0, "{events:?}");
    assert!(has(&events, "firewall-closed"), "{events:?}");
    assert!(
        !peer_connects(&lab, dst, 8080),
        "still open after the way down"
    );
    let (_, hist) = portdoctor_json_env(h, &["history", "--json"], state.path());
    let row = history_row(&hist, &id);
    assert_eq!(row["status"], "undone", "{hist:#}");
    assert!(row["what"].as_str().unwrap().contains("8080"), "{row}");
}

fn portdoctor_json_env(ns: &Netns, args: &[&str], state: &std::path::Path) -> (i32, Value) {
    let o = ns
        .command(EXE)
        .args(args)
        .env("PORTDOCTOR_STATE_DIR", state)
        .output()
        .unwrap();
    let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
    (o.status.code().unwrap_or(-1), v)
}

fn etcd() -> Option<Etcd> {
    match Etcd::start() {
        Ok(e) => Some(e),
        Err(why) if portdoctor_lab::lab_required() => panic!("{why}"),
        Err(why) => {
            eprintln!("SKIP: {why}");
            None
        }
    }
}

fn register(args: &[&str]) -> Running {
    let mut c = Command::new(EXE);
    c.args(["--json", "register"]).args(args);
    Running::start(c)
}

#[test]
fn register_etcd_lease_expires_after_sigkill_and_deregister_removes_the_key() {
    let Some(etcd) = etcd() else { return };
    let url = format!("http://{}", etcd.client);
    let base = [
        "--etcd",
        &url,
        "--name",
        "web",
        "--port",
        "8080",
        "--address",
        "192.0.2.10",
    ];
    let key = "/services/web/web-192.0.2.10-8080";
    let mut r = register(&[&base[..], &["--ttl", "2s"]].concat());
    let reg = r.until("registered");
    assert_eq!(reg["registration"]["key"], key);
    let kv = etcd.get(key).expect("key in etcd");
    assert_eq!(kv["lease"], reg["registration"]["lease"][0], "{kv}");
    // Kept alive beyond its TTL while the process lives.
    std::thread::sleep(Duration::from_secs(4));
    assert!(etcd.get(key).is_some(), "lease not kept alive");
    r.signal("-KILL");
    let _ = r.finish();
    let t0 = Instant::now();
    while etcd.get(key).is_some() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "lease did not expire"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // Register twice (idempotent: one key), then deregister removes it.
    let mut a = register(&base);
    a.until("registered");
    let mut b = register(&base);
    b.until("registered");
    let all = etcd.json(
        "/v3/kv/range",
        r#"{"key":"L3NlcnZpY2VzLw==","range_end":"L3NlcnZpY2VzMA=="}"#,
    );
    assert_eq!(all["count"], "1", "{all}");
    let o = Command::new(EXE)
        .args([&["deregister"][..], &base].concat())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("deregistered"));
    assert!(etcd.get(key).is_none());
}

#[test]
fn register_consul_corrects_a_wildcard_and_deregisters_on_sigterm() {
    let consul = FakeConsul::start();
    let url = format!("http://{}", consul.addr);
    // A service for the health check to reach.
    let svc = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = svc.local_addr().unwrap().port().to_string();
    let args = [
        "--consul",
        &url,
        "--name",
        "db",
        "--port",
        &port,
        "--address",
        "0.0.0.0",
        "--check",
        "tcp",
    ];
    let mut r = register(&args);
    let addr = r.until("address");
    assert!(
        addr["why"]
            .as_str()
            .unwrap()
            .contains("0.0.0.0 is a wildcard"),
        "{addr}"
    );
    let reg = r.until("registered");
    let id = reg["registration"]["key"].as_str().unwrap().to_string();
    let stored = consul.get(&id).unwrap();
    assert_eq!(stored["Address"], addr["address"]);
    assert!(!stored["Address"].as_str().unwrap().starts_with("0.0.0.0"));
    r.signal("-TERM");
    let (code, events) = r.finish();
    assert_eq!(code, 0, "{events:?}");
    assert!(has(&events, "deregistered"));
    assert!(consul.get(&id).is_none());
}

#[test]
fn bad_input_gets_one_line_naming_it() {
    let run = |args: &[&str]| {
        let o = Command::new(EXE).args(args).output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (code, err) = run(&["serve", "--register", "etcd://host:99999"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("etcd://host:99999") && err.lines().count() == 1,
        "{err}"
    );
    let (code, err) = run(&["register", "--consul", "http://x/v1", "--port", "80"]);
    assert_eq!(code, Some(2), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = portdoctor_serve::testkit::cert_files(dir.path(), false);
    let (c, k) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let (code, err) = run(&["serve", "--port", "0", "--tls", "--cert", c, "--key", k]);
    assert_eq!(code, Some(2));
    assert!(err.contains("does not match the certificate"), "{err}");
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let (code, err) = run(&["serve", "--bind", "127.0.0.1", "--port", &port]);
    assert_eq!(code, Some(1));
    assert!(
        err.contains("already in use by") && err.contains(&format!("pid {}", std::process::id())),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn register_open_firewall_survives_sigkill_and_deregister_closes_it() {
    let Some(lab) =
        Lab::for_test("register_open_firewall_survives_sigkill_and_deregister_closes_it")
    else {
        return;
    };
    let h = lab.host();
    nft(
        h,
        "table inet filter {\n chain input { type filter hook input priority 0; policy drop;\n  iif lo accept\n  ct state established,related accept\n }\n}\n",
    );
    // etcd inside the host namespace (spawned from a thread that joined it).
    let Some(etcd) = h.enter(etcd) else { return };
    let state = tempfile::tempdir().unwrap();
    let _svc = Service::start(h, "0.0.0.0", 8080, "-", "hold");
    let url = format!("http://{}", etcd.client);
    let base = ["--etcd", &url, "--name", "web", "--port", "8080"];
    let mut c = h.command(EXE);
    c.args(["--json", "register", "--open-firewall", "--ttl", "30s"])
        .args(base)
        .env("PORTDOCTOR_STATE_DIR", state.path());
    let mut r = Running::start(c);
    let opened = r.until("firewall-opened");
    let change = opened["change"].as_str().unwrap().to_string();
    let reg = r.until("registered");
    assert_eq!(
        reg["service"]["address"],
        lab.host_v4().to_string(),
        "{reg}"
    );
    assert!(peer_connects(&lab, lab.host_v4().into(), 8080));
    // SIGKILL: no way down ran; the opening is still there, recorded with the registration.
    r.signal("-KILL");
    let _ = r.finish();
    assert!(peer_connects(&lab, lab.host_v4().into(), 8080));
    let o = h
        .command(EXE)
        .args(["--json", "deregister"])
        .args(base)
        .env("PORTDOCTOR_STATE_DIR", state.path())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains(&change) && out.contains("firewall-closed"),
        "{out}"
    );
    assert!(
        !peer_connects(&lab, lab.host_v4().into(), 8080),
        "deregister left it open"
    );
    let key = reg["registration"]["key"].as_str().unwrap().to_string();
    assert!(h.enter(|| etcd.get(&key)).is_none());
    let (_, hist) = portdoctor_json_env(h, &["history", "--json"], state.path());
    assert_eq!(history_row(&hist, &change)["status"], "undone", "{hist:#}");
}
