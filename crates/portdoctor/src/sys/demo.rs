//! The namespace demo (Linux, root).

use crate::exit::{CliError, Exit};
use crate::gather::{self, Request};
use crate::output::Output;
use crate::report::render;
use crate::story::{DemoReport, Story};
use portdoctor_diagnose::{ProbeOutcome, diagnose};
use portdoctor_firewall::collect::CommandRunner;
use portdoctor_lab::Lab;
use portdoctor_sockets::Proto;
use std::io::{Read, Write};
use std::net::{IpAddr, TcpListener};

/// The seed's situation: inbound connections are dropped unless allowed (Windows Defender
/// Firewall's default inbound action), with the usual exceptions.
const DEFAULT_DENY: &str = "table inet filter {
  chain input {
    type filter hook input priority 0; policy drop;
    iif lo accept
    ct state established,related accept
    tcp dport 22 accept comment \"ssh\"
  }
}
";

/// Why `demo` runs on loopback (no root), and what root adds.
pub const LOOPBACK_DEMO_WHY: (&str, &str) = (
    "Without root, the demo runs on loopback only",
    "(root adds: throwaway network namespaces, a real default-deny firewall, a probe from a second machine, and the fix applied and verified)",
);

/// Runs the demo in a lab; `None` when no lab can be built (no root): fall back.
pub fn lab_demo(port: u16, out: &Output) -> Option<Result<Exit, CliError>> {
    let lab = match Lab::new() {
        Ok(lab) => lab,
        Err(e) => {
            tracing::info!("no lab for the demo ({e}); running the loopback variant");
            return None;
        }
    };
    Some(story(&lab, port, out))
}

fn story(lab: &Lab, port: u16, out: &Output) -> Result<Exit, CliError> {
    let mut story = Story::new(out);
    let (host, peer) = (lab.host_v4(), lab.peer_v4());
    if !out.json {
        out.text(&format!(
            "portdoctor demo: the \"works locally, nobody else can reach it\" story, in throwaway network namespaces {} (host, {host}) and {} (peer, {peer}).\n\n",
            lab.host().name(),
            lab.peer().name()
        ))?;
    }
    let listener = lab
        .host()
        .enter(|| TcpListener::bind(("0.0.0.0", port)))
        .map_err(|e| CliError::Other(anyhow::anyhow!("cannot start the demo service: {e}")))?;
    std::thread::spawn(move || serve(listener));
    let local = probe_in(lab, true, IpAddr::from([127, 0, 0, 1]), port);
    story.step(
        format!("A service listens on 0.0.0.0:{port} on the host, like the seed's Go `http.ListenAndServe(\":{port}\", nil)`."),
        vec![format!("from the host itself: 127.0.0.1:{port} → {local}   (\"it works locally\")")],
    )?;
    lab.host()
        .run_stdin("nft", &["-f", "-"], DEFAULT_DENY)
        .map_err(|e| {
            CliError::Environment(format!(
                "cannot load the demo firewall (is nftables installed?): {e}"
            ))
        })?;
    story.step(
        "The host's firewall drops inbound connections unless a rule allows them, like Windows Defender Firewall's default inbound action:",
        vec![DEFAULT_DENY.trim_end().to_string()],
    )?;
    let before = probe_in(lab, false, host.into(), port);
    story.step(
        format!("From the peer: {host}:{port} → {before}   (\"nobody else can reach it\")"),
        vec![],
    )?;
    let runner = CommandRunner::with_prefix(["ip", "netns", "exec", lab.host().name()]);
    let peer_probe = |dst: IpAddr, p: u16| {
        lab.peer()
            .enter(|| super::linux::probe_once(dst, p, Proto::Tcp))
    };
    let req = Request {
        peer: Some(peer.into()),
        runner: runner.clone(),
        peer_probe: Some(&peer_probe),
        ..Request::local(port, Proto::Tcp)
    };
    let evidence = lab.host().enter(|| gather::gather(&req));
    let findings = diagnose(&evidence);
    story.step(
        format!("portdoctor diagnose {port} --from {peer}, on the host:"),
        vec![],
    )?;
    if !out.json {
        render(&evidence, &findings, out)?;
        out.text("\n")?;
    }
    let fixed = apply_and_undo(lab, &mut story, &findings, port, &runner)?;
    story.step(
        "Cleaning up: the namespaces and everything in them are removed; nothing outside them was touched.",
        vec![],
    )?;
    if out.json {
        out.json(&DemoReport {
            mode: "lab",
            steps: std::mem::take(&mut story.steps),
            findings,
            fixed,
        })?;
    }
    Ok(if fixed { Exit::Ok } else { Exit::Failed })
}

/// Applies the top finding's fix through the fix engine (journaled in a throwaway state
/// directory), proves it from the peer, shows `history`, then `undo` and proves the block is
/// back. Returns whether the fix worked.
fn apply_and_undo(
    lab: &Lab,
    story: &mut Story<'_>,
    findings: &[portdoctor_diagnose::Finding],
    port: u16,
    runner: &CommandRunner,
) -> Result<bool, CliError> {
    let Some(portdoctor_diagnose::Operation::OpenPort { from, .. }) = findings
        .first()
        .and_then(|f| f.fixes.first())
        .map(|f| f.operation.clone())
    else {
        return Ok(false);
    };
    let other = |e: portdoctor_fix::FixError| CliError::Other(anyhow::anyhow!("{e}"));
    let state = tempfile_dir()?;
    let fixer = portdoctor_fix::Fixer {
        runner,
        journal: portdoctor_fix::Journal::open(&state).map_err(other)?,
    };
    let read = || portdoctor_firewall::host::Host::read_live(runner);
    let host = read().map_err(CliError::Environment)?;
    let (h, p) = (lab.host_v4(), lab.peer_v4());
    let packet =
        portdoctor_firewall::Packet::tcp_syn(p.into(), h.into(), port).with_iif(lab.host_if());
    let req = portdoctor_fix::Request {
        goal: portdoctor_firewall::plan::Goal::Open,
        port,
        proto: "tcp".into(),
        from,
        ttl: None,
        confirm: None,
        backend: None,
        force: false,
    };
    let prepared = fixer
        .prepare(&host, &req, vec![packet], &[])
        .map_err(other)?;
    let applied = fixer.apply(&prepared, &read).map_err(other)?;
    let commands: Vec<String> = applied
        .change
        .steps
        .iter()
        .flat_map(|s| {
            s.step
                .commands
                .iter()
                .map(|c| format!("# {}", c.0.join(" ")))
        })
        .collect();
    story.step(
        format!(
            "portdoctor diagnose {port} --fix: change {} applied through the fix engine (journaled, tagged portdoctor:{}, verified on the re-read rules: {})",
            applied.change.id,
            applied.change.id,
            if applied.verified { "yes" } else { "no" }
        ),
        commands,
    )?;
    let after = probe_in(lab, false, h.into(), port);
    let fixed = after.starts_with("open");
    story.step(
        format!(
            "From the peer again: {h}:{port} -> {after}{}",
            if fixed {
                "   Fixed."
            } else {
                "   Still not reachable."
            }
        ),
        vec![],
    )?;
    let history: Vec<String> = fixer
        .journal
        .changes()
        .map_err(other)?
        .iter()
        .map(|(c, st, _)| format!("{}  {st:?}  {}  via {}", c.id, c.describe(), c.owners()))
        .collect();
    story.step("portdoctor history:", history)?;
    fixer
        .undo(&applied.change.id, Some("demo".into()))
        .map_err(other)?;
    let undone = probe_in(lab, false, h.into(), port);
    story.step(
        format!(
            "portdoctor undo {}: only the change's own rule is removed; from the peer: {h}:{port} -> {undone}",
            applied.change.id
        ),
        vec![],
    )?;
    let _ = std::fs::remove_dir_all(&state);
    Ok(fixed)
}

/// A fresh directory for the demo's journal.
fn tempfile_dir() -> Result<std::path::PathBuf, CliError> {
    let dir = std::env::temp_dir().join(format!("portdoctor-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A connect probe from the host (`from_host`) or the peer, as a short text.
fn probe_in(lab: &Lab, from_host: bool, dst: IpAddr, port: u16) -> String {
    let ns = if from_host { lab.host() } else { lab.peer() };
    let (outcome, latency) = ns.enter(|| super::linux::probe_once(dst, port, Proto::Tcp));
    let ms = latency.map_or(String::new(), |l| format!(" ({l:.1} ms)"));
    match outcome {
        ProbeOutcome::Open => format!("open{ms}"),
        ProbeOutcome::Closed => format!("closed (RST){ms}"),
        ProbeOutcome::Filtered => "filtered (no answer)".into(),
        ProbeOutcome::OpenOrFiltered => "open|filtered".into(),
        ProbeOutcome::Unreachable(k) => format!("unreachable ({k})"),
        ProbeOutcome::Error(e) => format!("probe failed: {e}"),
    }
}

/// A minimal HTTP service: answers every request with a greeting.
fn serve(listener: TcpListener) {
    for conn in listener.incoming().flatten() {
        let mut conn = conn;
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            if matches!(conn.read(&mut buf), Ok(n) if n > 0) {
                let body = "Hello from the portdoctor demo!\n";
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
    }
}
