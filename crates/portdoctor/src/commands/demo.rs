//! `portdoctor demo`: the seed article's story, start to finish, in throwaway network
//! namespaces: a service on 8080 works locally, a default-deny firewall blocks everyone else,
//! the diagnosis names the cause and the exact fix, the fix is applied, a probe from the peer
//! proves it. Without root: a loopback-only variant showing the 127.0.0.1-bind finding.

use crate::exit::{CliError, Exit};
use crate::gather::{self, Request};
use crate::output::Output;
use crate::report::render;
use crate::story::{DemoReport, Story};
use clap::Args;
use portdoctor_diagnose::diagnose;
use portdoctor_sockets::Proto;

/// Arguments of `portdoctor demo`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  sudo portdoctor demo          the full story in network namespaces (needs root)
  portdoctor demo               without root: the loopback-bind variant
  sudo portdoctor demo --json   the same, as a JSON document of steps and findings

Nothing outside the throwaway namespaces is touched: the host's firewall, addresses and
routes stay as they are; the namespaces are removed at the end, also on failure.")]
pub struct DemoArgs {
    /// The port the demo service listens on.
    #[arg(long, default_value_t = 8080, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: u16,
}

/// Runs `demo`: the lab story with root, the loopback story without.
pub fn run(args: &DemoArgs, out: &Output) -> Result<Exit, CliError> {
    if let Some(result) = crate::sys::lab_demo(args.port, out) {
        return result;
    }
    loopback_demo(out)
}

/// Without root (or without Linux): a service bound to 127.0.0.1, diagnosed.
fn loopback_demo(out: &Output) -> Result<Exit, CliError> {
    let mut story = Story::new(out);
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    let (why, full) = crate::sys::LOOPBACK_DEMO_WHY;
    story.step(
        format!(
            "{why}: a service listens on 127.0.0.1:{port}, the way many frameworks do by default."
        ),
        vec![full.into()],
    )?;
    let req = Request::local(port, Proto::Tcp);
    let evidence = gather::gather(&req);
    let findings = diagnose(&evidence);
    story.step(format!("portdoctor diagnose {port}:"), vec![])?;
    if !out.json {
        render(&evidence, &findings, out)?;
    }
    let found = findings.first().is_some_and(|f| f.code.id() == "PD002");
    drop(listener);
    if out.json {
        out.json(&DemoReport {
            mode: "loopback",
            steps: story.steps,
            findings,
            fixed: false,
        })?;
    }
    Ok(if found { Exit::Ok } else { Exit::Failed })
}
