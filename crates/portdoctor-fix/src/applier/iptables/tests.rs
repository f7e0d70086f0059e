//! The iptables applier against a stand-in for `iptables-save` / `iptables-restore --noflush`
//! of both families (rules kept as the `-A` lines of each table), for what the lab cannot do
//! on demand: a restore that fails after another one succeeded, and a step cut in the middle.

use super::Iptables;
use crate::applier::Applier;
use portdoctor_firewall::Backend;
use portdoctor_firewall::collect::{RunOutput, Runner};
use portdoctor_firewall::manager::{Argv, PlanStep};
use portdoctor_firewall::plan::{OwnedStep, Owner};
use std::collections::BTreeMap;
use std::sync::Mutex;

const TAG: &str = "portdoctor:t1";

/// (program family, table) → `-A` lines.
type Tables = BTreeMap<(String, String), Vec<String>>;

#[derive(Default)]
struct FakeIptables {
    tables: Mutex<Tables>,
    /// A restore program that fails.
    fails: Option<&'static str>,
}

fn out(code: i32, stdout: String) -> std::io::Result<RunOutput> {
    Ok(RunOutput {
        code: Some(code),
        stdout,
        stderr: if code == 0 {
            String::new()
        } else {
            "failed".into()
        },
    })
}

impl FakeIptables {
    fn save(&self, family: &str, only: Option<&str>) -> String {
        let tables = self.tables.lock().unwrap();
        let mut text = String::new();
        for ((f, t), lines) in tables.iter() {
            if f == family && only.is_none_or(|o| o == t) {
                text.push_str(&format!("*{t}\n{}\nCOMMIT\n", lines.join("\n")));
            }
        }
        text
    }

    fn restore(&self, family: &str, input: &str) {
        let mut tables = self.tables.lock().unwrap();
        let mut table = String::new();
        for line in input.lines() {
            if let Some(t) = line.strip_prefix('*') {
                table = t.to_string();
            } else if let Some(rule) = line.strip_prefix("-D ") {
                let lines = tables.entry((family.into(), table.clone())).or_default();
                lines.retain(|l| l.strip_prefix("-A ") != Some(rule));
            } else if line.starts_with("-A ") || line.starts_with("-I ") {
                let rule = format!("-A {}", &line[3..]);
                let rule = rule.replace('"', "");
                tables
                    .entry((family.into(), table.clone()))
                    .or_default()
                    .push(rule);
            }
        }
    }

    fn tagged(&self) -> usize {
        let tables = self.tables.lock().unwrap();
        tables
            .values()
            .flatten()
            .filter(|l| l.contains(TAG))
            .count()
    }
}

/// `iptables-legacy` / `ip6tables-legacy` → the family name.
fn family(program: &str) -> &str {
    program.split('-').next().unwrap_or(program)
}

impl Runner for FakeIptables {
    fn run(&self, program: &str, args: &[&str]) -> std::io::Result<RunOutput> {
        match args {
            ["-t", t] => out(0, self.save(family(program), Some(t))),
            _ => out(0, self.save(family(program), None)),
        }
    }

    fn run_stdin(&self, program: &str, _args: &[&str], stdin: &str) -> std::io::Result<RunOutput> {
        if self.fails == Some(program) {
            return out(1, String::new());
        }
        self.restore(family(program), stdin);
        out(0, String::new())
    }
}

fn rule(program: &str) -> Argv {
    Argv::new([
        program,
        "-I",
        "INPUT",
        "1",
        "-p",
        "tcp",
        "--dport",
        "8080",
        "-m",
        "comment",
        "--comment",
        TAG,
        "-j",
        "ACCEPT",
    ])
}

/// One step that opens 8080/tcp for both families.
fn both_families() -> OwnedStep {
    OwnedStep {
        owner: Owner {
            backend: Backend::IptablesLegacy,
            manager: None,
        },
        step: PlanStep {
            title: "allow 8080/tcp".into(),
            commands: vec![rule("iptables-legacy"), rule("ip6tables-legacy")],
            stdin: None,
            edits: vec![],
            undo: vec![],
        },
    }
}

const LEGACY: Iptables = Iptables { legacy: true };

#[test]
fn both_families_in_place_is_present_and_undo_removes_both() {
    let fake = FakeIptables::default();
    let s = both_families();
    LEGACY.apply(&s, TAG, &fake).unwrap();
    assert_eq!(fake.tagged(), 2);
    assert!(LEGACY.present(&s, TAG, &fake).unwrap());
    LEGACY.undo(&s, TAG, &fake).unwrap();
    assert_eq!(fake.tagged(), 0);
}

#[test]
fn a_failing_second_restore_takes_the_first_out_again() {
    let fake = FakeIptables {
        fails: Some("ip6tables-legacy-restore"),
        ..FakeIptables::default()
    };
    assert!(LEGACY.apply(&both_families(), TAG, &fake).is_err());
    assert_eq!(fake.tagged(), 0, "{:?}", fake.tables.lock().unwrap());
}

/// A crash between the two restores: only IPv4 has the rule. The step is not in place, and
/// the repair's undo of the interrupted step removes what was loaded.
#[test]
fn a_step_cut_between_families_is_not_present_and_is_undone() {
    let fake = FakeIptables::default();
    let s = both_families();
    let v4_only = OwnedStep {
        step: PlanStep {
            commands: vec![rule("iptables-legacy")],
            ..s.step.clone()
        },
        ..s.clone()
    };
    LEGACY.apply(&v4_only, TAG, &fake).unwrap();
    assert!(!LEGACY.present(&s, TAG, &fake).unwrap());
    LEGACY.undo_interrupted(&s, TAG, &fake).unwrap();
    assert_eq!(fake.tagged(), 0);
}
