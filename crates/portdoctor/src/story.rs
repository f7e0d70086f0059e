//! The demo's story: steps printed as they happen, or collected for `--json`. Shared by the
//! loopback variant (`commands/demo.rs`) and the namespace variant (`sys/demo.rs`).

use crate::exit::CliError;
use crate::output::Output;
use portdoctor_diagnose::Finding;
use serde::Serialize;

/// One step of the story, for `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// What happened.
    pub title: String,
    /// Details (a ruleset, a probe result, a command).
    pub detail: Vec<String>,
}

/// The JSON document of `demo`.
#[derive(Debug, Serialize)]
pub struct DemoReport {
    /// `lab` (network namespaces, root) or `loopback` (no root).
    pub mode: &'static str,
    /// The story.
    pub steps: Vec<Step>,
    /// The diagnosis.
    pub findings: Vec<Finding>,
    /// Whether the applied fix made the port reachable.
    pub fixed: bool,
}

/// Collects steps and prints them as they happen (text mode).
pub struct Story<'a> {
    out: &'a Output,
    /// Steps so far.
    pub steps: Vec<Step>,
}

impl<'a> Story<'a> {
    /// A new story printing to `out`.
    pub fn new(out: &'a Output) -> Story<'a> {
        Story {
            out,
            steps: Vec::new(),
        }
    }

    /// Records (and in text mode prints) a step.
    pub fn step(&mut self, title: impl Into<String>, detail: Vec<String>) -> Result<(), CliError> {
        let step = Step {
            title: title.into(),
            detail,
        };
        if !self.out.json {
            let n = self.steps.len() + 1;
            let mut text = format!("{n}. {}\n", step.title);
            for d in &step.detail {
                for line in d.lines() {
                    text.push_str(&format!("     {line}\n"));
                }
            }
            self.out.text(&text)?;
        }
        self.steps.push(step);
        Ok(())
    }
}
