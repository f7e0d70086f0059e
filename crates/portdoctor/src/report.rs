//! Rendering a diagnosis: the findings as text or as the JSON document
//! (`docs/diagnose-json.md`). Shared by `diagnose` and `demo`.

use crate::exit::CliError;
use crate::output::Output;
use portdoctor_diagnose::{Evidence, Finding, Part, Severity, Verification};
use portdoctor_sockets::Proto;
use serde::Serialize;

/// The JSON document of `diagnose`.
#[derive(Serialize)]
pub struct Report<'a> {
    /// Port.
    pub port: u16,
    /// Protocol.
    pub proto: Proto,
    /// Counts per severity.
    pub summary: Counts,
    /// Ranked findings.
    pub findings: &'a [Finding],
    /// What was looked at.
    pub evidence: &'a Evidence,
}

/// Findings per severity.
#[derive(Serialize)]
pub struct Counts {
    /// Errors.
    pub errors: usize,
    /// Warnings.
    pub warnings: usize,
    /// Infos.
    pub infos: usize,
}

/// Prints findings as JSON or text.
pub fn render(evidence: &Evidence, findings: &[Finding], out: &Output) -> Result<(), CliError> {
    let count = |s| findings.iter().filter(|f| f.severity == s).count();
    let summary = Counts {
        errors: count(Severity::Error),
        warnings: count(Severity::Warning),
        infos: count(Severity::Info),
    };
    if out.json {
        let doc = Report {
            port: evidence.port,
            proto: evidence.proto,
            summary,
            findings,
            evidence,
        };
        return Ok(out.json(&doc)?);
    }
    let mut text = String::new();
    let parts = [
        ("sockets", matches!(evidence.sockets, Part::Present { .. })),
        (
            "firewall",
            matches!(evidence.firewall, Part::Present { .. }),
        ),
        ("probes", matches!(evidence.probes, Part::Present { .. })),
    ];
    let looked: Vec<String> = parts
        .iter()
        .map(|(n, ok)| format!("{n} {}", if *ok { "checked" } else { "not checked" }))
        .collect();
    text.push_str(&format!(
        "diagnose {}/{}: {} error(s), {} warning(s) ({})\n",
        evidence.port,
        evidence.proto,
        summary.errors,
        summary.warnings,
        looked.join(", ")
    ));
    for f in findings {
        let word = match f.severity {
            Severity::Error => out.bad("ERROR"),
            Severity::Warning => out.warn("WARN "),
            Severity::Info => out.good("INFO "),
        };
        text.push_str(&format!(
            "\n{word} {} {}\n  {}\n",
            f.code.id(),
            f.name,
            f.summary
        ));
        for e in &f.evidence {
            text.push_str(&format!("    - {e}\n"));
        }
        for fix in &f.fixes {
            text.push_str(&format!("  fix: {}\n", fix.title));
            match &fix.verification {
                Some(Verification::Verified) => text
                    .push_str("    (checked: with this applied, the rules let the packets in)\n"),
                Some(Verification::NotVerified(why)) => {
                    text.push_str(&format!("    (not checked: {why})\n"))
                }
                _ => {}
            }
            for c in &fix.commands {
                let prompt = match c.shell {
                    portdoctor_diagnose::Shell::Posix => "$",
                    portdoctor_diagnose::Shell::Powershell => "PS>",
                    portdoctor_diagnose::Shell::Cmd => "C:\\>",
                };
                text.push_str(&format!("    {prompt} {}\n", c.display));
            }
        }
    }
    Ok(out.text(&text)?)
}
