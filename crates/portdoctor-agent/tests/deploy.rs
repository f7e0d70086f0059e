//! The files in `deploy/`: the Grafana dashboard is valid JSON, every metric the dashboard,
//! the alert rules and the docs name is one the agent exports, and (where Debian's
//! `promtool` is installed; required with PORTDOCTOR_LAB=1) the rules and the scrape
//! config pass `promtool check`.

use portdoctor_agent::metrics::TABLE;
use std::path::PathBuf;
use std::process::Command;

fn deploy(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(deploy(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every `portdoctor_agent_…` word in `text`.
fn metric_names(text: &str) -> Vec<String> {
    let mut out = vec![];
    let mut rest = text;
    while let Some(i) = rest.find("portdoctor_agent_") {
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

fn exported(name: &str) -> bool {
    let base = ["_total", "_info", "_bucket", "_sum", "_count"]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .unwrap_or(name);
    TABLE.iter().any(|d| d.name == base || d.name == name)
}

#[test]
fn grafana_dashboard_is_valid_json_with_panels() {
    let v: serde_json::Value =
        serde_json::from_str(&read("grafana/portdoctor-agent.json")).expect("valid JSON");
    assert!(v["panels"].as_array().is_some_and(|p| !p.is_empty()));
    assert_eq!(v["uid"], "portdoctor-agent");
}

#[test]
fn deploy_files_name_only_exported_metrics() {
    for rel in [
        "grafana/portdoctor-agent.json",
        "prometheus/portdoctor-agent.rules.yml",
    ] {
        let names = metric_names(&read(rel));
        assert!(!names.is_empty(), "{rel} names no metric");
        for n in names {
            assert!(exported(&n), "{rel}: {n} is not exported by the agent");
        }
    }
}

#[test]
fn example_config_parses() {
    let text = read("agent.toml");
    let c = portdoctor_agent::Config::parse(&text, "deploy/agent.toml").unwrap();
    assert_eq!(c.listen.ip().to_string(), "127.0.0.1");
    let k8s = read("kubernetes/daemonset.yaml");
    let embedded: String = k8s
        .split("agent.toml: |\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| l.starts_with("    "))
        .map(|l| format!("{}\n", l.trim_start()))
        .collect();
    portdoctor_agent::Config::parse(&embedded, "daemonset agent.toml").unwrap();
}

#[test]
fn promtool_accepts_rules_and_scrape_config() {
    let Ok(out) = Command::new("promtool")
        .args(["check", "rules"])
        .arg(deploy("prometheus/portdoctor-agent.rules.yml"))
        .output()
    else {
        assert!(
            std::env::var("PORTDOCTOR_LAB").as_deref() != Ok("1"),
            "PORTDOCTOR_LAB=1 needs promtool (apt-get install prometheus)"
        );
        eprintln!("SKIP promtool checks: promtool is not installed");
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    promtool_check_config(&deploy("prometheus/prometheus.yml"));
    // The commented job for agents with [tls], uncommented, its files present (promtool
    // checks that they exist).
    let dir = tempfile::tempdir().unwrap();
    let text = with_https_job(&read("prometheus/prometheus.yml"), dir.path());
    assert!(
        text.contains("\n  - job_name: portdoctor-agent-https"),
        "{text}"
    );
    assert!(text.contains("\n    scheme: https"), "{text}");
    for name in ["portdoctor-agent-ca.pem", "portdoctor-agent.token"] {
        std::fs::write(dir.path().join(name), "placeholder\n").unwrap();
    }
    let rules = "portdoctor-agent.rules.yml";
    std::fs::write(dir.path().join(rules), read(&format!("prometheus/{rules}"))).unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, text).unwrap();
    promtool_check_config(&config);
}

fn promtool_check_config(config: &std::path::Path) {
    let out = Command::new("promtool")
        .args(["check", "config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The scrape config with the commented `portdoctor-agent-https` job uncommented and the
/// files under /etc/prometheus/ taken from `dir`.
fn with_https_job(text: &str, dir: &std::path::Path) -> String {
    let mut in_job = false;
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            in_job |= l.contains("- job_name: portdoctor-agent-https");
            let l = match l.strip_prefix("  # ") {
                Some(rest) if in_job => format!("  {rest}"),
                _ => l.to_string(),
            };
            l.replace("/etc/prometheus/", &format!("{}/", dir.display()))
        })
        .collect();
    lines.join("\n") + "\n"
}
