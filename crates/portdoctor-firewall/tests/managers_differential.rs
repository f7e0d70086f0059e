//! The kernel differential, extended to the real managers: random sequences of real `ufw`
//! and `firewall-cmd` commands run in a lab host (private mounts keep /etc untouched), real
//! packets come from the peer, and each must be predicted by the evaluator. The attribution is
//! checked against the manager itself: a verdict named as "ufw rule [N]" must be rule N of
//! `ufw status numbered` with the matching action; a firewalld verdict must name the zone the
//! packet really lands in, and a port / service / rich rule of that zone.
//!
//! `PORTDOCTOR_MGR_SEQUENCES=N` sets the number of sequences per manager (default 24 for ufw,
//! 16 for firewalld); `PORTDOCTOR_MGR_SEED` the seed. Counts are printed.

#![cfg(target_os = "linux")]
#![allow(dead_code)]

#[path = "differential/compare.rs"]
mod compare;
#[path = "native/equiv.rs"]
mod equiv;
#[path = "differential/model.rs"]
mod model;
#[path = "differential/oracle.rs"]
mod oracle;
#[path = "differential/probe.rs"]
mod probe;
#[path = "differential/rulegen.rs"]
mod rulegen;

use compare::{CaseResult, Tally};
use oracle::Oracle;
use portdoctor_firewall::attribution::Attributed;
use portdoctor_firewall::collect::CommandRunner;
use portdoctor_firewall::host::Host;
use portdoctor_firewall::manager::ManagedKind;
use portdoctor_firewall::{Decision, Explanation};
use probe::{ProbeResult, ProbeSpec};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write as _;

const PORTS: [u16; 10] = [22, 80, 443, 8080, 5432, 81, 8081, 9000, 53, 5353];

fn report(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn seed() -> u64 {
    std::env::var("PORTDOCTOR_MGR_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x0f_f1ce)
}

/// Attribution tally.
#[derive(Default)]
struct Attribution {
    checked: usize,
    wrong: Vec<String>,
}

/// Sources a rule can name: single peers and their networks, both families, both links.
fn sources(o: &Oracle) -> Vec<String> {
    let e = &o.env;
    vec![
        e.peers_v4[0].to_string(),
        e.peers_v4[1].to_string(),
        format!("198.18.{}.0/24", e.subnet),
        e.peers_v6[0].to_string(),
        format!("2001:2:0:{:x}::/64", e.subnet),
        e.peer2_v4.to_string(),
    ]
}

fn pick<'a, T>(rng: &mut StdRng, v: &'a [T]) -> &'a T {
    &v[rng.random_range(0..v.len())]
}

/// Probes everything, reads the host back (inside its namespaces) and compares.
fn compare_all(o: &Oracle) -> (Vec<(ProbeResult, Explanation, Attributed)>, Host) {
    let specs: Vec<ProbeSpec> = o.all_probes();
    let results = o.probe_all(&specs, &[]);
    let host = o
        .lab
        .host()
        .enter_all(|| Host::read_live(&CommandRunner::default()))
        .expect("the lab host's firewall is readable");
    let cases = results
        .into_iter()
        .map(|r| {
            let packet = compare::packet_for(&r, o.iif_for(&r.spec));
            let (e, a) = host.explain(&packet);
            (r, e, a)
        })
        .collect();
    (cases, host)
}

fn tally_cases(
    cases: &[(ProbeResult, Explanation, Attributed)],
    tally: &mut Tally,
    failures: &mut Vec<String>,
    label: &str,
) {
    for (r, e, _) in cases {
        let outcome = compare::compare(r, &e.overall, false);
        if let CaseResult::Disagree(msg) = &outcome {
            failures.push(format!("{label}: {}: {msg}", r.spec));
        }
        tally.add(r, &outcome);
    }
}

// ---------------------------------------------------------------- ufw

fn ufw_command(rng: &mut StdRng, o: &Oracle, rules: usize) -> Vec<String> {
    let port = pick(rng, &PORTS).to_string();
    let src = pick(rng, &sources(o)).clone();
    let action = pick(rng, &["allow", "deny", "reject", "limit"]).to_string();
    let verdict = pick(rng, &["allow", "deny", "reject"]).to_string();
    let proto = pick(rng, &["tcp", "udp"]).to_string();
    let words: Vec<String> = match rng.random_range(0..10) {
        0..=2 => vec![action, format!("{port}/{proto}")],
        3..=4 => vec![
            verdict,
            "from".into(),
            src,
            "to".into(),
            "any".into(),
            "port".into(),
            port,
            "proto".into(),
            proto,
        ],
        5 if rules > 0 => vec![
            "insert".into(),
            rng.random_range(1..=rules).to_string(),
            verdict,
            "from".into(),
            src,
            "to".into(),
            "any".into(),
            "port".into(),
            port,
            "proto".into(),
            proto,
        ],
        6 => vec![
            "default".into(),
            pick(rng, &["allow", "deny", "reject"]).to_string(),
            "incoming".into(),
        ],
        7 if rules > 0 => vec![
            "--force".into(),
            "delete".into(),
            rng.random_range(1..=rules).to_string(),
        ],
        8 => vec![verdict, "from".into(), src],
        _ => vec![action, port],
    };
    words
}

fn ufw_rule_count(o: &Oracle) -> usize {
    o.lab
        .host()
        .run("ufw", &["status", "numbered"])
        .map(|s| {
            s.lines()
                .filter(|l| l.trim_start().starts_with('['))
                .count()
        })
        .unwrap_or(0)
}

/// The action word of `ufw status numbered` rule `n`.
fn ufw_status_line(status: &str, n: usize) -> Option<String> {
    status
        .lines()
        .find(|l| {
            l.trim_start()
                .strip_prefix('[')
                .and_then(|r| r.split(']').next())
                .is_some_and(|x| x.trim() == n.to_string())
        })
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn check_ufw(
    o: &Oracle,
    cases: &[(ProbeResult, Explanation, Attributed)],
    att: &mut Attribution,
    label: &str,
) {
    let h = o.lab.host();
    let status = h.run("ufw", &["status", "numbered"]).unwrap_or_default();
    let verbose = h.run("ufw", &["status", "verbose"]).unwrap_or_default();
    for (r, _, a) in cases {
        let d = &a.overall;
        if matches!(d.decision, Decision::Unknown(_)) || d.rule.is_none() {
            continue;
        }
        att.checked += 1;
        let Some(m) = &d.managed else {
            att.wrong.push(format!(
                "{label}: {}: decided by `{}` with no ufw attribution",
                r.spec,
                d.rule.as_ref().unwrap().text
            ));
            continue;
        };
        let ok = match m.kind {
            ManagedKind::UserRule => {
                match (m.number, m.number.and_then(|n| ufw_status_line(&status, n))) {
                    (Some(_), Some(line)) => {
                        let want = match &d.decision {
                            Decision::Accept => ["ALLOW", "LIMIT"].as_slice(),
                            Decision::Drop => &["DENY"],
                            _ => &["REJECT", "LIMIT"],
                        };
                        want.iter().any(|w| line.contains(w))
                            && (line.contains(&r.spec.dst.port().to_string())
                                || line.contains("Anywhere ") && !line.contains('/'))
                            && line.contains(&m.text)
                    }
                    _ => false,
                }
            }
            ManagedKind::DefaultPolicy => {
                let want = match &d.decision {
                    Decision::Accept => "allow (incoming)",
                    Decision::Drop => "deny (incoming)",
                    _ => "reject (incoming)",
                };
                verbose.contains(want)
            }
            ManagedKind::BeforeRules | ManagedKind::AfterRules => true,
            _ => false,
        };
        if !ok {
            att.wrong.push(format!(
                "{label}: {}: {:?} named {} (status:\n{status})",
                r.spec,
                d.decision,
                m.describe()
            ));
        }
    }
}

#[test]
fn ufw_command_sequences_agree_with_the_kernel() {
    let Some(o) = Oracle::new("ufw_command_sequences_agree_with_the_kernel") else {
        return;
    };
    let h = o.lab.host();
    portdoctor_lab::managers::start_ufw(h).expect("ufw starts");
    let n = env_usize("PORTDOCTOR_MGR_SEQUENCES", 24);
    let base = seed();
    let (mut tally, mut att, mut failures) = (Tally::default(), Attribution::default(), vec![]);
    let (mut commands, mut refused) = (0, 0);
    for i in 0..n {
        let mut rng = StdRng::seed_from_u64(base + i as u64);
        let _ = h.run("ufw", &["--force", "reset"]);
        h.run("ufw", &["default", "deny", "incoming"]).unwrap();
        h.run("ufw", &["--force", "enable"]).unwrap();
        let _ = h.run("conntrack", &["-F"]);
        let mut log = vec![];
        for _ in 0..rng.random_range(2..=7) {
            let words = ufw_command(&mut rng, &o, ufw_rule_count(&o));
            let args: Vec<&str> = words.iter().map(String::as_str).collect();
            commands += 1;
            if h.run("ufw", &args).is_err() {
                refused += 1;
            }
            log.push(format!("ufw {}", words.join(" ")));
        }
        let label = format!("ufw sequence {} [{}]", base + i as u64, log.join("; "));
        let (cases, _) = compare_all(&o);
        tally_cases(&cases, &mut tally, &mut failures, &label);
        check_ufw(&o, &cases, &mut att, &label);
    }
    let _ = h.run("ufw", &["--force", "reset"]);
    report(&format!(
        "ufw sequences: {n}, commands {commands} ({refused} refused by ufw), attributions checked {} wrong {}\n{}",
        att.checked,
        att.wrong.len(),
        tally.summary(base)
    ));
    assert!(
        failures.is_empty(),
        "disagreements:\n{}",
        failures.join("\n")
    );
    assert!(
        att.wrong.is_empty(),
        "wrong attributions:\n{}",
        att.wrong.join("\n")
    );
    assert!(
        tally.problems().is_empty(),
        "{}",
        tally.problems().join("; ")
    );
}

// ---------------------------------------------------------------- firewalld

fn fw_command(rng: &mut StdRng, o: &Oracle) -> Vec<String> {
    let zone = pick(
        rng,
        &[
            "public", "internal", "trusted", "drop", "block", "dmz", "work",
        ],
    );
    let port = pick(rng, &PORTS);
    let proto = pick(rng, &["tcp", "udp"]);
    let src = pick(rng, &sources(o)).clone();
    let z = format!("--zone={zone}");
    match rng.random_range(0..10) {
        0..=2 => vec![z, format!("--add-port={port}/{proto}")],
        3 => vec![
            z,
            format!(
                "--add-service={}",
                pick(rng, &["http", "https", "ssh", "dns", "postgresql"])
            ),
        ],
        4..=5 => {
            let fam = if src.contains(':') { "ipv6" } else { "ipv4" };
            let action = pick(rng, &["accept", "reject", "drop"]);
            vec![
                z,
                format!(
                    "--add-rich-rule=rule family=\"{fam}\" source address=\"{src}\" port port=\"{port}\" protocol=\"{proto}\" {action}"
                ),
            ]
        }
        6 => vec![z, format!("--add-source={src}")],
        _ => vec![
            z,
            format!(
                "--change-interface={}",
                pick(rng, &[o.env.iif.as_str(), o.env.iif2.as_str()])
            ),
        ],
    }
}

/// The zone of each interface, asked of firewalld itself (the default zone when unbound).
fn iface_zones(o: &Oracle) -> Vec<(String, String)> {
    let h = o.lab.host();
    let default = h
        .run("firewall-cmd", &["--get-default-zone"])
        .unwrap_or_default()
        .trim()
        .to_string();
    [o.env.iif.clone(), o.env.iif2.clone()]
        .into_iter()
        .map(|iif| {
            let z = h
                .run("firewall-cmd", &[&format!("--get-zone-of-interface={iif}")])
                .map(|z| z.trim().to_string())
                .unwrap_or_else(|_| default.clone());
            (iif, z)
        })
        .collect()
}

/// The zone a packet from `src` arriving on `iif` lands in: a source binding first (the most
/// specific), then the interface's zone.
fn expected_zone(
    ifaces: &[(String, String)],
    src: std::net::IpAddr,
    iif: &str,
    bound: &[(String, String)],
) -> String {
    let in_net = |net: &str| match portdoctor_firewall::netfilter::build::cidr_range(net) {
        Some((v6, lo, hi)) => {
            let n = match src {
                std::net::IpAddr::V4(a) if !v6 => u32::from(a) as u128,
                std::net::IpAddr::V6(a) if v6 => u128::from(a),
                _ => return false,
            };
            lo <= n && n <= hi
        }
        None => false,
    };
    // The most specific source binding wins.
    let by_source = bound
        .iter()
        .filter(|(s, _)| in_net(s))
        .max_by_key(|(s, _)| {
            s.split('/')
                .nth(1)
                .map_or(128, |l| l.parse::<u32>().unwrap_or(0))
        });
    if let Some((_, z)) = by_source {
        return z.clone();
    }
    ifaces
        .iter()
        .find(|(i, _)| i == iif)
        .map(|(_, z)| z.clone())
        .unwrap_or_default()
}

fn check_firewalld(
    o: &Oracle,
    host: &Host,
    cases: &[(ProbeResult, Explanation, Attributed)],
    bound: &[(String, String)],
    att: &mut Attribution,
    label: &str,
) {
    let fw = host
        .managers
        .iter()
        .find_map(|m| m.as_firewalld())
        .expect("firewalld detected");
    let ifaces = iface_zones(o);
    for (r, _, a) in cases {
        let d = &a.overall;
        let Some(rule) = &d.rule else { continue };
        if matches!(d.decision, Decision::Unknown(_)) || rule.table != "firewalld" {
            continue;
        }
        att.checked += 1;
        let iif = o.iif_for(&r.spec);
        let want = expected_zone(&ifaces, r.spec.src, iif, bound);
        let Some(m) = &d.managed else {
            att.wrong.push(format!(
                "{label}: {}: `{}` has no firewalld attribution",
                r.spec, rule.text
            ));
            continue;
        };
        let zone_ok = match m.kind {
            ManagedKind::Port
            | ManagedKind::Service
            | ManagedKind::RichRule
            | ManagedKind::DefaultPolicy => m.zone.as_deref() == Some(want.as_str()),
            _ => true,
        };
        let port = r.spec.dst.port();
        let proto = match r.spec.proto {
            probe::Proto::Tcp => "tcp",
            probe::Proto::Udp => "udp",
        };
        let kind_ok = match m.kind {
            ManagedKind::Port => fw.zone(&want).is_some_and(|z| z.has_port(port, proto)),
            ManagedKind::Service => fw.zone(&want).is_some_and(|z| {
                fw.service_opening(z, port, proto).as_deref() == Some(m.text.as_str())
            }),
            ManagedKind::RichRule => {
                let (src, _, _) =
                    portdoctor_firewall::manager::firewalld::zones::rich_rule_key(&m.text);
                src.is_some_and(|s| rule.text.contains(&s))
            }
            _ => true,
        };
        if !zone_ok || !kind_ok {
            att.wrong.push(format!(
                "{label}: {}: {:?} named {} but the packet lands in zone {want}",
                r.spec,
                d.decision,
                m.describe()
            ));
        }
    }
}

#[test]
fn firewalld_command_sequences_agree_with_the_kernel() {
    let Some(o) = Oracle::new("firewalld_command_sequences_agree_with_the_kernel") else {
        return;
    };
    let h = o.lab.host();
    let _fw = portdoctor_lab::managers::Firewalld::start(h).expect("firewalld starts");
    let n = env_usize("PORTDOCTOR_MGR_SEQUENCES", 16);
    let base = seed();
    let (mut tally, mut att, mut failures) = (Tally::default(), Attribution::default(), vec![]);
    let (mut commands, mut refused) = (0, 0);
    for i in 0..n {
        let mut rng = StdRng::seed_from_u64(base + i as u64);
        h.run("firewall-cmd", &["--reload"]).unwrap();
        let _ = h.run("conntrack", &["-F"]);
        let mut log = vec![];
        let mut bound: Vec<(String, String)> = vec![];
        if rng.random_range(0..4) == 0 {
            let zone = *pick(&mut rng, &["public", "internal", "dmz"]);
            let target = *pick(&mut rng, &["ACCEPT", "DROP", "REJECT"]);
            let z = format!("--zone={zone}");
            h.run(
                "firewall-cmd",
                &["--permanent", &z, &format!("--set-target={target}")],
            )
            .unwrap();
            h.run("firewall-cmd", &["--reload"]).unwrap();
            h.run("firewall-cmd", &["--permanent", &z, "--set-target=default"])
                .unwrap();
            log.push(format!("{zone} target {target}"));
        }
        for _ in 0..rng.random_range(2..=7) {
            let words = fw_command(&mut rng, &o);
            let args: Vec<&str> = words.iter().map(String::as_str).collect();
            commands += 1;
            match h.run("firewall-cmd", &args) {
                Ok(_) => {
                    if let Some(src) = words[1].strip_prefix("--add-source=") {
                        bound.push((
                            src.to_string(),
                            words[0].trim_start_matches("--zone=").to_string(),
                        ));
                    }
                }
                Err(_) => refused += 1,
            }
            log.push(format!("firewall-cmd {}", words.join(" ")));
        }
        let label = format!(
            "firewalld sequence {} [{}]",
            base + i as u64,
            log.join("; ")
        );
        let (cases, host) = compare_all(&o);
        tally_cases(&cases, &mut tally, &mut failures, &label);
        check_firewalld(&o, &host, &cases, &bound, &mut att, &label);
    }
    let _ = h.run("firewall-cmd", &["--reload"]);
    report(&format!(
        "firewalld sequences: {n}, commands {commands} ({refused} refused by firewall-cmd), attributions checked {} wrong {}\n{}",
        att.checked,
        att.wrong.len(),
        tally.summary(base)
    ));
    assert!(
        failures.is_empty(),
        "disagreements:\n{}",
        failures.join("\n")
    );
    assert!(
        att.wrong.is_empty(),
        "wrong attributions:\n{}",
        att.wrong.join("\n")
    );
    assert!(
        tally.problems().is_empty(),
        "{}",
        tally.problems().join("; ")
    );
}
