//! Shared pieces of the binary's lab tests: a real service in a namespace, running
//! portdoctor there, probing from the peer.

#![allow(dead_code)]

use portdoctor_lab::managers::Firewalld;
use portdoctor_lab::{Lab, Netns};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A Python service. Modes: `hold` (accept and keep connections), `close` (close each
/// connection at once: TIME_WAIT on the service's side), `http503` (answer every request
/// with HTTP 503). Prints `ready` once listening.
const SERVICE: &str = r#"
import socket, sys, threading
addr, port, v6only, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if fam == socket.AF_INET6 and v6only != "-":
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, int(v6only))
s.bind((addr, port)); s.listen(128)
print("ready", flush=True)
held = []
while True:
    c, _ = s.accept()
    if mode == "http503":
        try:
            if c.recv(4096):
                c.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        except OSError:
            pass  # probes connect and reset without a request
        c.close()
    elif mode == "close":
        c.close()
    else:
        held.append(c)
"#;

/// A running service; killed on drop.
pub struct Service(pub Child);

impl Service {
    /// Starts the service in `ns` on `addr:port`; `v6only` is "0", "1" or "-".
    pub fn start(ns: &Netns, addr: &str, port: u16, v6only: &str, mode: &str) -> Service {
        Self::start_named(ns, "python3", addr, port, v6only, mode)
    }

    /// Like [`Service::start`] with another program name (a copy of python3 under that name
    /// is not needed: `exec -a` is not portable, so the name is the interpreter's).
    pub fn start_named(
        ns: &Netns,
        program: &str,
        addr: &str,
        port: u16,
        v6only: &str,
        mode: &str,
    ) -> Service {
        let mut child = ns
            .command(program)
            .args(["-c", SERVICE, addr, &port.to_string(), v6only, mode])
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 is needed for the lab tests");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "service did not start");
        Service(child)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `portdoctor ARGS --json` inside `ns`; returns (exit code, document).
pub fn portdoctor_json(ns: &Netns, args: &[&str]) -> (i32, Value) {
    let mut cmd = ns.command(env!("CARGO_BIN_EXE_portdoctor"));
    cmd.args(args).arg("--json");
    json_of(cmd)
}

/// Runs `cmd` (a portdoctor command line ending in `--json`); returns (exit code, document),
/// or panics showing what it printed.
pub fn json_of(mut cmd: Command) -> (i32, Value) {
    let out = cmd.output().unwrap();
    let doc = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap_or(-1), doc)
}

/// `portdoctor diagnose PORT` on the host, as seen from the peer (firewall evaluated for the
/// peer's address, a real probe from the peer's namespace).
pub fn diagnose_from_peer(lab: &Lab, port: u16, extra: &[&str]) -> (i32, Value) {
    let peer = lab.peer_v4().to_string();
    let port = port.to_string();
    let mut args = vec![
        "diagnose",
        port.as_str(),
        "--from",
        peer.as_str(),
        "--peer-netns",
        lab.peer().name(),
    ];
    args.extend_from_slice(extra);
    portdoctor_json(lab.host(), &args)
}

/// The first (top-ranked) finding.
pub fn top(doc: &Value) -> &Value {
    &doc["findings"][0]
}

/// Every finding's code.
pub fn codes(doc: &Value) -> Vec<String> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

/// Runs every command of the top finding's first fix inside `ns`.
pub fn apply_first_fix(ns: &Netns, doc: &Value) {
    apply_fix(ns, &top(doc)["fixes"][0]);
}

/// The finding with `code`, or a panic showing the document.
pub fn finding<'d>(doc: &'d Value, code: &str) -> &'d Value {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == code)
        .unwrap_or_else(|| panic!("no {code}: {doc:#}"))
}

/// `portdoctor ARGS` in `ns`, as text (for messages and eyeballing).
pub fn portdoctor_text(ns: &Netns, args: &[&str]) -> String {
    let out = ns
        .command(env!("CARGO_BIN_EXE_portdoctor"))
        .args(args)
        .output()
        .unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs every command of `fix` (as printed by portdoctor) inside `ns`.
pub fn apply_fix(ns: &Netns, fix: &Value) {
    if fix["backend"].is_string() {
        assert_eq!(
            fix["verification"]["status"], "verified",
            "a firewall fix was not checked before it was printed: {fix:#}"
        );
    }
    let commands = fix["commands"].as_array().unwrap();
    assert!(!commands.is_empty(), "the fix has no command: {fix:#}");
    for c in commands {
        let argv: Vec<&str> = c["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let stdin = c["stdin"].as_str();
        match stdin {
            Some(text) => ns.run_stdin(argv[0], &argv[1..], text),
            None => ns.run(argv[0], &argv[1..]),
        }
        .unwrap_or_else(|e| panic!("fix `{}` failed: {e}", c["display"]));
    }
}

/// A real TCP connect from the peer's namespace.
pub fn peer_connects(lab: &Lab, dst: IpAddr, port: u16) -> bool {
    lab.peer().enter(|| {
        TcpStream::connect_timeout(&SocketAddr::new(dst, port), Duration::from_millis(1500)).is_ok()
    })
}

/// Loads an nft ruleset into `ns`.
pub fn nft(ns: &Netns, ruleset: &str) {
    ns.run_stdin("nft", &["-f", "-"], ruleset)
        .unwrap_or_else(|e| panic!("nft -f failed: {e}\n{ruleset}"));
}

/// The row of change `id` in a `history --json` document.
pub fn history_row<'h>(hist: &'h Value, id: &str) -> &'h Value {
    hist.as_array()
        .and_then(|rows| rows.iter().find(|r| r["id"] == id))
        .unwrap_or_else(|| panic!("change {id} not in history: {hist:#}"))
}

/// A lab whose host runs firewalld ([`Firewalld::start`]) with its link to the peer in zone
/// public; firewalld stops when the returned handle is dropped.
pub fn firewalld_lab(test: &str) -> Option<(Lab, Firewalld)> {
    let lab = Lab::for_test(test)?;
    let fw = Firewalld::start(lab.host()).unwrap();
    lab.host()
        .run(
            "firewall-cmd",
            &[
                "--zone=public",
                &format!("--change-interface={}", lab.host_if()),
            ],
        )
        .unwrap();
    Some((lab, fw))
}

/// `program` run inside `ns` as `nobody`, with no groups and no inheritable capabilities
/// (`setpriv`); add the program's arguments.
pub fn as_nobody(ns: &Netns, program: &str) -> Command {
    let mut cmd = ns.command("setpriv");
    cmd.args([
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "--inh-caps=-all",
    ])
    .arg(program);
    cmd
}
