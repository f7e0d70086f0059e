//! A real etcd (Debian's etcd-server) on 127.0.0.1 with random ports and a temporary data
//! directory, killed on drop.
#![allow(missing_docs, clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Etcd {
    child: Child,
    pub client: String,
    _dir: tempfile::TempDir,
}

impl Etcd {
    /// Starts etcd, or returns why not (not installed).
    pub fn start() -> Result<Etcd, String> {
        let exe = ["/usr/bin/etcd", "/usr/local/bin/etcd"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .ok_or("etcd is not installed (apt-get install etcd-server)")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (client, peer) = (super::free_port(), super::free_port());
        let c = format!("http://127.0.0.1:{client}");
        let p = format!("http://127.0.0.1:{peer}");
        let child = Command::new(exe)
            .args(["--name", "t", "--data-dir"])
            .arg(dir.path())
            .args(["--listen-client-urls", &c, "--advertise-client-urls", &c])
            .args([
                "--listen-peer-urls",
                &p,
                "--initial-advertise-peer-urls",
                &p,
            ])
            .args(["--initial-cluster", &format!("t={p}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start etcd: {e}"))?;
        let etcd = Etcd {
            child,
            client: format!("127.0.0.1:{client}"),
            _dir: dir,
        };
        etcd.wait_healthy()?;
        Ok(etcd)
    }

    /// Starts etcd, or says why not and returns `None` (a failure under `PORTDOCTOR_LAB=1`).
    pub fn start_or_skip() -> Option<Etcd> {
        match Etcd::start() {
            Ok(e) => Some(e),
            Err(why) if std::env::var_os("PORTDOCTOR_LAB").is_some() => panic!("{why}"),
            Err(why) => {
                eprintln!("SKIP: {why}");
                None
            }
        }
    }

    fn wait_healthy(&self) -> Result<(), String> {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(body) = self.post("/health", None) {
                if body.contains("true") {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err("etcd did not become healthy in 20 s".into())
    }

    /// A raw request to the JSON gateway (GET when `body` is None); the body.
    pub fn post(&self, path: &str, body: Option<&str>) -> Result<String, String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&self.client).map_err(|e| e.to_string())?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let req = match body {
            Some(b) => format!(
                "POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
                b.len()
            ),
            None => format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
        };
        s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
        let mut out = String::new();
        s.read_to_string(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    /// The JSON body of a gateway call (chunked bodies are fine: the JSON is found in it).
    pub fn json(&self, path: &str, body: &str) -> serde_json::Value {
        let raw = self.post(path, Some(body)).unwrap();
        let start = raw.find('{').expect("a JSON body");
        let end = raw.rfind('}').unwrap();
        serde_json::from_str(&raw[start..=end]).unwrap()
    }

    /// The key's entry from a range call, if present.
    pub fn get(&self, key: &str) -> Option<serde_json::Value> {
        use base64::Engine;
        let k = base64::engine::general_purpose::STANDARD.encode(key);
        let v = self.json("/v3/kv/range", &format!("{{\"key\":\"{k}\"}}"));
        v["kvs"].get(0).cloned()
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
