//! `probe`, `scan` and `wait` against answers made for real by the kernel in a lab: a
//! listener, nothing listening, nft drop, reject with tcp reset, ICMP admin-prohibited /
//! host-unreachable / port-unreachable / net-unreachable, no route, IPv6, UDP; each checked
//! against `nmap` run in the same namespace on the same targets.

// Lab tests need Linux network namespaces; the Windows build (run under Wine) skips the file.
#![cfg(target_os = "linux")]

use portdoctor_lab::{Lab, lab_required};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::{TcpListener, UdpSocket};
use std::process::Output;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_portdoctor");

/// The host's ruleset: one port per kernel answer. ICMP rate limits are off in the lab host
/// (per-namespace sysctls) so every reject is answered.
const RULES: &str = "
table inet probe_lab {
  chain input {
    type filter hook input priority 0; policy accept;
    tcp dport 8082 drop
    tcp dport 8083 reject with tcp reset
    tcp dport 8084 reject with icmpx type admin-prohibited
    tcp dport 8085 reject with icmpx type host-unreachable
    tcp dport 8086 reject
    tcp dport 8087 reject with icmpx type no-route
    udp dport 5355 drop
    tcp dport 9050-9999 drop
  }
}
";

fn lab_with_rules(test: &str) -> Option<Lab> {
    let lab = Lab::for_test(test)?;
    for s in ["net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0"] {
        lab.host().run("sysctl", &["-qw", s]).unwrap();
    }
    lab.host().run_stdin("nft", &["-f", "-"], RULES).unwrap();
    Some(lab)
}

fn portdoctor_in(lab: &Lab, args: &[&str]) -> Output {
    lab.peer().command(BIN).args(args).output().unwrap()
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("bad JSON ({e}): {out:?}"))
}

/// `(port, proto) -> state` from nmap's XML; `None` (with a printed reason) without nmap.
fn nmap_states(lab: &Lab, args: &[&str]) -> Option<BTreeMap<u16, String>> {
    let mut full = vec!["-Pn", "-n", "-oX", "-"];
    full.extend_from_slice(args);
    let xml = match lab.peer().run("nmap", &full) {
        Ok(x) => x,
        Err(e) if !lab_required() => {
            eprintln!("SKIP nmap comparison: {e}");
            return None;
        }
        Err(e) => panic!("nmap is needed with PORTDOCTOR_LAB=1: {e}"),
    };
    let mut states = BTreeMap::new();
    for chunk in xml.split("<port protocol=").skip(1) {
        let port = between(chunk, "portid=\"", "\"").parse().unwrap();
        let state = between(chunk, "<state state=\"", "\"").to_string();
        states.insert(port, state);
    }
    Some(states)
}

fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let from = s.find(start).map(|i| i + start.len()).unwrap_or(0);
    let to = s[from..].find(end).map(|i| i + from).unwrap_or(s.len());
    &s[from..to]
}

/// What nmap -sT / -sU would call our result: nmap cannot tell a TCP ICMP port-unreachable
/// from a RST (both ECONNREFUSED, "closed"), and calls every other ICMP error "filtered".
fn as_nmap(r: &Value) -> String {
    match (r["state"].as_str().unwrap(), r["unreachable"].as_str()) {
        ("unreachable", Some("port-unreachable")) => "closed".into(),
        ("unreachable", _) => "filtered".into(),
        (s, _) => s.replace("open-filtered", "open|filtered"),
    }
}

fn by_port(doc: &Value) -> BTreeMap<u16, Value> {
    doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["port"].as_u64().unwrap() as u16, r.clone()))
        .collect()
}

#[test]
fn probe_classifies_every_kernel_answer_and_agrees_with_nmap() {
    let Some(lab) = lab_with_rules("probe_classifies_every_kernel_answer_and_agrees_with_nmap")
    else {
        return;
    };
    let (h4, h6) = (lab.host_v4(), lab.host_v6());
    let (_l4, _l6, udp) = lab.host().enter(|| {
        (
            TcpListener::bind((h4, 8080)).unwrap(),
            TcpListener::bind((h6, 8080)).unwrap(),
            UdpSocket::bind((h4, 5353)).unwrap(),
        )
    });
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = udp.recv_from(&mut buf) {
            let _ = udp.send_to(&buf[..n], from);
        }
    });

    let mut targets: Vec<String> = (8080..=8087).map(|p| format!("{h4}:{p}")).collect();
    targets.push("198.19.77.1:80".into());
    targets.extend([
        format!("[{h6}]:8080"),
        format!("[{h6}]:8084"),
        format!("[{h6}]:8083"),
    ]);
    targets.extend((5353..=5355).map(|p| format!("{h4}:{p}/udp")));
    let mut args = vec!["probe", "--json", "--timeout", "500ms"];
    args.extend(targets.iter().map(String::as_str));
    let out = portdoctor_in(&lab, &args);
    assert_eq!(out.status.code(), Some(1), "not all open: exit 1; {out:?}");
    let doc = json_of(&out);
    let results = doc["results"].as_array().unwrap();
    assert_eq!(results.len(), targets.len());
    let get = |i: usize| &results[i];
    let expect = [
        // (index, state, reason, unreachable kind, errno)
        (0, "open", "syn-ack", None, None),
        (1, "closed", "reset", None, Some("ECONNREFUSED")),
        (2, "filtered", "no-response", None, None),
        (3, "closed", "reset", None, Some("ECONNREFUSED")),
        (
            4,
            "unreachable",
            "icmp",
            Some("admin-prohibited"),
            Some("EHOSTUNREACH"),
        ),
        (
            5,
            "unreachable",
            "icmp",
            Some("host-unreachable"),
            Some("EHOSTUNREACH"),
        ),
        (
            6,
            "unreachable",
            "icmp",
            Some("port-unreachable"),
            Some("ECONNREFUSED"),
        ),
        (
            7,
            "unreachable",
            "icmp",
            Some("net-unreachable"),
            Some("ENETUNREACH"),
        ),
        (
            8,
            "unreachable",
            "local",
            Some("no-route"),
            Some("ENETUNREACH"),
        ),
        (9, "open", "syn-ack", None, None),
        (
            10,
            "unreachable",
            "icmp",
            Some("admin-prohibited"),
            Some("EACCES"),
        ),
        (11, "closed", "reset", None, Some("ECONNREFUSED")),
        (12, "open", "udp-response", None, None),
        (
            13,
            "closed",
            "icmp",
            Some("port-unreachable"),
            Some("ECONNREFUSED"),
        ),
        (14, "open-filtered", "no-response", None, None),
    ];
    for (i, state, reason, kind, errno) in expect {
        let r = get(i);
        assert_eq!(r["state"], state, "{}: {r:#}", targets[i]);
        assert_eq!(r["reason"], reason, "{}: {r:#}", targets[i]);
        assert_eq!(r["unreachable"].as_str(), kind, "{}: {r:#}", targets[i]);
        assert_eq!(r["errno"].as_str(), errno, "{}: {r:#}", targets[i]);
    }
    assert_eq!(get(4)["icmp"]["code"], 13);
    assert_eq!(get(4)["icmp"]["from"], h4.to_string());
    assert_eq!(get(10)["icmp"]["family"], "icmpv6");
    assert!(get(0)["latency_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(
        get(2)["attempts"],
        2,
        "filtered probes are retried once by default"
    );

    // nmap in the same namespace, on the same targets.
    if let Some(nmap) = nmap_states(&lab, &["-sT", "-p", "8080-8087", &h4.to_string()]) {
        for (i, port) in (0..8).zip(8080u16..) {
            assert_eq!(
                Some(&as_nmap(get(i))),
                nmap.get(&port),
                "tcp/{port}: nmap disagrees"
            );
        }
    }
    if let Some(nmap) = nmap_states(&lab, &["-sT", "-p", "80", "198.19.77.1"]) {
        assert_eq!(
            Some(&as_nmap(get(8))),
            nmap.get(&80),
            "no route: nmap disagrees"
        );
    }
    if let Some(nmap) = nmap_states(
        &lab,
        &["-6", "-sT", "-p", "8080,8083,8084", &h6.to_string()],
    ) {
        for (i, port) in [(9, 8080u16), (10, 8084), (11, 8083)] {
            assert_eq!(
                Some(&as_nmap(get(i))),
                nmap.get(&port),
                "v6 tcp/{port}: nmap disagrees"
            );
        }
    }
    if let Some(nmap) = nmap_states(&lab, &["-sU", "-p", "5353-5355", &h4.to_string()]) {
        for (i, port) in (12..15).zip(5353u16..) {
            assert_eq!(
                Some(&as_nmap(get(i))),
                nmap.get(&port),
                "udp/{port}: nmap disagrees"
            );
        }
    }
}

#[test]
fn scan_finds_the_same_open_set_as_nmap_and_leaves_no_time_wait() {
    let Some(lab) = lab_with_rules("scan_finds_the_same_open_set_as_nmap_and_leaves_no_time_wait")
    else {
        return;
    };
    let h4 = lab.host_v4();
    let open_ports = [9001u16, 9002, 9010, 9049, 9500];
    let _listeners: Vec<TcpListener> = lab.host().enter(|| {
        open_ports
            .iter()
            .map(|p| TcpListener::bind((h4, *p)).unwrap())
            .collect()
    });
    let spec = "9000-9999";
    let out = portdoctor_in(
        &lab,
        &[
            "scan",
            &h4.to_string(),
            "-p",
            spec,
            "--json",
            "--timeout",
            "300ms",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let doc = json_of(&out);
    assert_eq!(doc["ports_scanned"], 1000);
    assert_eq!(doc["counts"]["closed"], 46, "{}", doc["counts"]);
    assert_eq!(doc["counts"]["filtered"], 950, "{}", doc["counts"]);
    let ours = by_port(&doc);
    let open: Vec<u16> = ours
        .iter()
        .filter(|(_, r)| r["state"] == "open")
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(
        open,
        vec![9001, 9002, 9010, 9049],
        "9500 is behind the drop rule"
    );
    // RST on close: neither side keeps TIME_WAIT sockets for the probed ports.
    for ns in [lab.host(), lab.peer()] {
        let tw = ns.run("ss", &["-Htan", "state", "time-wait"]).unwrap();
        assert_eq!(tw.trim(), "", "TIME_WAIT left in {}", ns.name());
    }
    if let Some(nmap) = nmap_states(&lab, &["-sT", "-T5", "-p", "9000-9049", &h4.to_string()]) {
        for port in 9000..9050u16 {
            let want = nmap.get(&port).cloned().unwrap_or_else(|| "closed".into());
            assert_eq!(as_nmap(&ours[&port]), want, "tcp/{port}");
        }
    }
    // A CIDR range: every address of 198.18.N.0/30 is probed; only the host listens.
    let range = format!("{}/30", h4);
    let out = portdoctor_in(
        &lab,
        &[
            "scan",
            &range,
            "-p",
            "9001",
            "--json",
            "--timeout",
            "200ms",
            "--retries",
            "0",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let doc = json_of(&out);
    assert_eq!(doc["hosts"], 4);
    let open: Vec<&str> = doc["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["state"] == "open")
        .map(|r| r["addr"].as_str().unwrap())
        .collect();
    assert_eq!(open, vec![h4.to_string().as_str()]);
    // --open shows only open ports.
    let out = portdoctor_in(
        &lab,
        &[
            "scan",
            &h4.to_string(),
            "-p",
            "9000-9049",
            "--open",
            "--json",
        ],
    );
    assert_eq!(json_of(&out)["results"].as_array().unwrap().len(), 4);
}

#[test]
fn wait_notices_a_late_listener_runs_the_command_and_times_out() {
    let Some(lab) = lab_with_rules("wait_notices_a_late_listener_runs_the_command_and_times_out")
    else {
        return;
    };
    let h4 = lab.host_v4();
    let target = format!("{h4}:8090");
    let child = lab
        .peer()
        .command(BIN)
        .args([
            "wait",
            &target,
            "--timeout",
            "20s",
            "--interval",
            "50ms",
            "--",
            "sh",
            "-c",
            "exit 7",
        ])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let _l = lab.host().enter(|| TcpListener::bind((h4, 8090)).unwrap());
    let bound = Instant::now();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(7), "CMD's exit code: {out:?}");
    assert!(bound.elapsed() < Duration::from_secs(5));

    // Ready without CMD: 0; a CMD that cannot be started: 3 (environment).
    let out = portdoctor_in(&lab, &["wait", &target, "--timeout", "5s"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = portdoctor_in(
        &lab,
        &["wait", &target, "--", "/nonexistent/portdoctor-test-cmd"],
    );
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    // A filtered port: timed out, exit 1, with JSON saying so.
    let out = portdoctor_in(
        &lab,
        &[
            "wait",
            &format!("{h4}:8082"),
            "--timeout",
            "700ms",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let doc = json_of(&out);
    assert_eq!(doc["ready"], false);
    assert_eq!(doc["targets"][0]["last"], "filtered");
    // UDP targets are bad usage.
    let out = portdoctor_in(&lab, &["wait", &format!("{h4}:53/udp")]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}

#[test]
fn wait_http_needs_a_2xx_answer() {
    let Some(lab) = lab_with_rules("wait_http_needs_a_2xx_answer") else {
        return;
    };
    let h4 = lab.host_v4();
    let listener = lab.host().enter(|| TcpListener::bind((h4, 8091)).unwrap());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { break };
            let mut buf = [0u8; 1024];
            let n = c.read(&mut buf).unwrap_or(0);
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            let status = if req.starts_with("GET /healthz ") {
                "204 No Content"
            } else {
                "404 Not Found"
            };
            let _ = write!(c, "HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
        }
    });
    let target = format!("{h4}:8091");
    let out = portdoctor_in(
        &lab,
        &["wait", &target, "--http", "/healthz", "--timeout", "5s"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = portdoctor_in(
        &lab,
        &[
            "wait",
            &target,
            "--http",
            "/nope",
            "--timeout",
            "600ms",
            "--json",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(json_of(&out)["targets"][0]["last"], "http 404");
}

#[test]
fn bad_input_and_unresolvable_names_exit_2() {
    let Some(lab) = Lab::for_test("bad_input_and_unresolvable_names_exit_2") else {
        return;
    };
    // Inside the lab there is no route to any resolver: the lookup fails locally.
    for (args, needle) in [
        (
            &["probe", "no-such-host.invalid:80"][..],
            "cannot resolve host",
        ),
        (&["probe", "::1:80"], "brackets"),
        (&["scan", "127.0.0.1", "-p", "22,8o"], "column 4"),
        (&["scan", "127.0.0.1", "-p", "1-70000"], "70000"),
        (&["scan", "10.0.0.0/8", "-p", "80"], "at most 4096 hosts"),
        (&["scan", "127.0.0.1", "--top-ports", "0"], "top-ports"),
        (
            &["probe", "127.0.0.1:80", "--source", "198.51.100.7"],
            "cannot bind source",
        ),
    ] {
        let out = portdoctor_in(&lab, args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line: {err}");
    }
}

#[test]
fn scan_survives_a_tiny_descriptor_limit() {
    let Some(lab) = lab_with_rules("scan_survives_a_tiny_descriptor_limit") else {
        return;
    };
    let h4 = lab.host_v4();
    let _l = lab.host().enter(|| TcpListener::bind((h4, 9040)).unwrap());
    // 14 descriptors, most taken by stdio and the runtime, and probes to dropped ports that
    // hold their socket for the whole timeout: EMFILE is certain. The scan must slow down
    // and finish, not fail.
    let out = lab
        .peer()
        .command("prlimit")
        .args([
            "--nofile=14:14",
            BIN,
            "scan",
            &h4.to_string(),
            "-p",
            "9000-9149",
        ])
        .args(["--timeout", "100ms", "--retries", "0", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let doc = json_of(&out);
    assert_eq!(doc["results"].as_array().unwrap().len(), 150);
    assert_eq!(doc["counts"]["open"], 1, "{}", doc["counts"]);
    assert_eq!(doc["counts"]["filtered"], 100, "{}", doc["counts"]);
    assert_eq!(by_port(&doc)[&9040]["state"], "open");
}

#[test]
fn probe_resolves_names_and_binds_the_source() {
    let Some(lab) = lab_with_rules("probe_resolves_names_and_binds_the_source") else {
        return;
    };
    let (h4, p4) = (lab.host_v4(), lab.peer_v4());
    let _l = lab.host().enter(|| TcpListener::bind((h4, 8080)).unwrap());
    let _lo = lab
        .peer()
        .enter(|| TcpListener::bind(("127.0.0.1", 7000)).unwrap());
    // `localhost` comes from /etc/hosts: no DNS traffic.
    let out = portdoctor_in(&lab, &["probe", "localhost:7000", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let doc = json_of(&out);
    let rows = doc["results"].as_array().unwrap();
    assert!(rows.iter().all(|r| r["host"] == "localhost"), "{doc:#}");
    assert!(
        rows.iter()
            .any(|r| r["addr"] == "127.0.0.1" && r["state"] == "open"),
        "{doc:#}"
    );
    let target = format!("{h4}:8080");
    let out = portdoctor_in(
        &lab,
        &["probe", &target, "--source", &p4.to_string(), "--json"],
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(json_of(&out)["results"][0]["state"], "open");
    // A source of the other family is bad input.
    let out = portdoctor_in(&lab, &["probe", &target, "--source", "::1"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
