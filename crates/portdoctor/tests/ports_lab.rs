//! `portdoctor ports` against real sockets in a lab namespace: a real process listening on a
//! lab address, on 127.0.0.1 and on [::1] (v6only), with real TIME_WAIT and CLOSE_WAIT sockets.

// Lab tests need Linux network namespaces; the Windows build (run under Wine) skips the file.
#![cfg(target_os = "linux")]

use portdoctor_lab::Lab;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, TcpStream};
use std::process::{Child, Stdio};
use std::time::Duration;

/// A Python service: three listeners on PORT, then an accept loop on the lab address where a
/// client's first byte says `c` (server closes first: TIME_WAIT here) or `h` (server holds
/// the connection: CLOSE_WAIT here once the client leaves).
const SERVICE: &str = r#"
import socket, sys, threading
lab_addr, port = sys.argv[1], int(sys.argv[2])
def listen(fam, addr, v6only=None):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    s.bind((addr, port)); s.listen(64); return s
lab = listen(socket.AF_INET, lab_addr)
lo = listen(socket.AF_INET, "127.0.0.1")
lo6 = listen(socket.AF_INET6, "::1", 1)
held = []
print("ready", flush=True)
while True:
    c, _ = lab.accept()
    if c.recv(1) == b"c":
        c.close()
    else:
        held.append(c)
"#;

struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn portdoctor_json(lab: &Lab, args: &[&str]) -> Value {
    let out = lab
        .host()
        .command(env!("CARGO_BIN_EXE_portdoctor"))
        .args(args)
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn ports_sees_binds_owner_v6only_and_connection_states() {
    let Some(lab) = Lab::for_test("ports_sees_binds_owner_v6only_and_connection_states") else {
        return;
    };
    let port = 8080u16;
    let mut child = lab
        .host()
        .command("python3")
        .args(["-c", SERVICE, &lab.host_v4().to_string(), &port.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed for this test");
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert_eq!(ready.trim(), "ready");
    let service = Service(child);
    let pid = service.0.id() as u64;

    // Two connections the server closes first (TIME_WAIT on the host side) and three that
    // the client closes while the server holds them (CLOSE_WAIT on the host side).
    let host = lab.host_v4();
    lab.peer().enter(|| {
        for _ in 0..2 {
            let mut c = TcpStream::connect((host, port)).unwrap();
            c.write_all(b"c").unwrap();
            let mut rest = Vec::new();
            c.read_to_end(&mut rest).unwrap(); // server's FIN
        }
        for _ in 0..3 {
            let mut c = TcpStream::connect((host, port)).unwrap();
            c.write_all(b"h").unwrap();
            c.shutdown(std::net::Shutdown::Both).unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(300));

    let doc = portdoctor_json(&lab, &["ports", &port.to_string()]);
    let sockets = doc["sockets"].as_array().unwrap();
    let find = |addr: &str| {
        let want: IpAddr = addr.parse().unwrap();
        sockets
            .iter()
            .find(|s| s["local_addr"].as_str().unwrap().parse::<IpAddr>().unwrap() == want)
            .unwrap_or_else(|| panic!("no listener on {addr} in {doc:#}"))
    };
    for (addr, reach) in [
        (host.to_string(), "one-address"),
        ("127.0.0.1".to_string(), "loopback-only"),
        ("::1".to_string(), "loopback-only"),
    ] {
        let s = find(&addr);
        assert_eq!(s["state"], "listen");
        assert_eq!(s["reach"], reach);
        assert_eq!(s["owners"][0]["pid"].as_u64(), Some(pid), "{s:#}");
        assert_eq!(s["owners"][0]["name"], "python3");
    }
    assert_eq!(find("::1")["v6only"], true);
    assert_eq!(find("127.0.0.1")["v6only"], Value::Null);

    let counts = &doc["port_states"][0];
    assert_eq!(counts["port"], port);
    assert_eq!(counts["time_wait"], 2, "{doc:#}");
    assert_eq!(counts["close_wait"], 3, "{doc:#}");

    // --state and --all see the same connections one by one.
    let cw = portdoctor_json(&lab, &["ports", "--state", "close-wait"]);
    assert_eq!(cw["sockets"].as_array().unwrap().len(), 3);
    assert!(
        cw["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["owners"][0]["pid"].as_u64() == Some(pid))
    );
    let tw = portdoctor_json(&lab, &["ports", "--state", "TIME_WAIT"]);
    assert_eq!(tw["sockets"].as_array().unwrap().len(), 2);
    assert!(
        tw["sockets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["owners"].as_array().unwrap().is_empty())
    );
    drop(service);
}

#[test]
fn nothing_listening_exits_one() {
    let Some(lab) = Lab::for_test("nothing_listening_exits_one") else {
        return;
    };
    let out = lab
        .host()
        .command(env!("CARGO_BIN_EXE_portdoctor"))
        .args(["ports", "9"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no matching sockets"));
}

#[test]
fn procnet_fallback_lists_the_same_listeners_and_says_so() {
    let Some(lab) = Lab::for_test("procnet_fallback") else {
        return;
    };
    let listener = lab
        .host()
        .enter(|| std::net::TcpListener::bind((lab.host_v4(), 8080)))
        .unwrap();
    let out = lab
        .host()
        .command(env!("CARGO_BIN_EXE_portdoctor"))
        .args(["ports", "8080", "--json"])
        .env("PORTDOCTOR_SOCKETS", "procnet")
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["source"], "proc-net");
    assert!(doc["notes"][0].as_str().unwrap().contains("/proc/net"));
    let s = &doc["sockets"][0];
    assert_eq!(s["local_addr"], lab.host_v4().to_string());
    assert_eq!(
        s["owners"][0]["pid"].as_u64(),
        Some(std::process::id() as u64)
    );
    drop(listener);
}
