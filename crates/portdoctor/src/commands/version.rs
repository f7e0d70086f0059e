//! `version`: the version, the git commit, the target, and what this build can read.

use crate::exit::{CliError, Exit};
use crate::output::Output;
use clap::Args;
use portdoctor_firewall::EngineKind;
use serde::Serialize;

/// `--version`'s text: version, commit and target (the build script provides the last two).
pub const LONG_VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("PORTDOCTOR_GIT_COMMIT"),
    " ",
    env!("PORTDOCTOR_TARGET"),
    ")"
);

/// Arguments of `portdoctor version`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  portdoctor version
  portdoctor version --json | jq -r .live_engine.kind

JSON fields: version, commit, target, live_engine {kind, label} (null where this platform has
no live reader), managers (those that can be in charge of the live engine), offline [{engine,
formats}] (saved rulesets `--ruleset FILE` reads, on every build).")]
pub struct VersionArgs {}

/// What `version --json` prints.
#[derive(Debug, Serialize)]
struct BuildInfo {
    version: &'static str,
    commit: &'static str,
    target: &'static str,
    live_engine: Option<EngineInfo>,
    managers: Vec<&'static str>,
    offline: Vec<OfflineInfo>,
}

#[derive(Debug, Serialize)]
struct EngineInfo {
    kind: EngineKind,
    label: &'static str,
}

#[derive(Debug, Serialize)]
struct OfflineInfo {
    engine: EngineKind,
    formats: &'static str,
}

fn build_info() -> BuildInfo {
    let live = EngineKind::live();
    BuildInfo {
        version: env!("CARGO_PKG_VERSION"),
        commit: env!("PORTDOCTOR_GIT_COMMIT"),
        target: env!("PORTDOCTOR_TARGET"),
        live_engine: live.map(|kind| EngineInfo {
            kind,
            label: kind.label(),
        }),
        managers: live
            .map(|k| k.managers().iter().map(|m| m.label()).collect())
            .unwrap_or_default(),
        offline: EngineKind::OFFLINE
            .iter()
            .map(|&(engine, formats)| OfflineInfo { engine, formats })
            .collect(),
    }
}

/// Prints the build information.
pub fn run(_args: &VersionArgs, out: &Output) -> Result<Exit, CliError> {
    let info = build_info();
    if out.json {
        out.json(&info)?;
        return Ok(Exit::Ok);
    }
    let live = match &info.live_engine {
        Some(e) if info.managers.is_empty() => e.label.to_string(),
        Some(e) => format!("{} (managers: {})", e.label, info.managers.join(", ")),
        None => "none on this platform (saved rulesets only)".into(),
    };
    let mut text = format!("portdoctor {LONG_VERSION}\nlive firewall: {live}\n");
    text.push_str("saved rulesets (--ruleset FILE):\n");
    for o in &info.offline {
        text.push_str(&format!("  {}: {}\n", o.engine.label(), o.formats));
    }
    std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes())?;
    Ok(Exit::Ok)
}
