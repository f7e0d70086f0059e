//! The pf applier against a stand-in for `pfctl` and `socketfilterfw` (pf runs on macOS and
//! the BSDs only): anchors are kept as the rule lines loaded into them.

use super::Pf;
use crate::FixError;
use crate::applier::Applier;
use portdoctor_firewall::Backend;
use portdoctor_firewall::collect::{RunOutput, Runner};
use portdoctor_firewall::manager::{Argv, PlanStep};
use portdoctor_firewall::plan::{OwnedStep, Owner};
use std::collections::BTreeMap;
use std::sync::Mutex;

const TAG: &str = "portdoctor:t1";
const ALF: &str = "/usr/libexec/ApplicationFirewall/socketfilterfw";

#[derive(Default)]
struct FakePf {
    anchors: Mutex<BTreeMap<String, Vec<String>>>,
    /// What `pfctl -nvf /etc/pf.conf` prints.
    conf: String,
    /// Every command run, as one line.
    calls: Mutex<Vec<String>>,
    /// A command line that fails.
    fails: Option<String>,
}

fn ok(stdout: String) -> std::io::Result<RunOutput> {
    Ok(RunOutput {
        code: Some(0),
        stdout,
        stderr: String::new(),
    })
}

impl FakePf {
    fn answer(&self, line: &str, args: &[&str], stdin: Option<&str>) -> std::io::Result<RunOutput> {
        self.calls.lock().unwrap().push(line.to_string());
        if self.fails.as_deref() == Some(line) {
            return Ok(RunOutput {
                code: Some(1),
                stdout: String::new(),
                stderr: "failed".into(),
            });
        }
        let mut anchors = self.anchors.lock().unwrap();
        match (args, stdin) {
            (["-a", "*", "-sr"], None) => ok(anchors.values().flatten().cloned().collect()),
            (["-a", a, "-sr"], None) => ok(anchors
                .get(*a)
                .map(|r| r.join("\n") + "\n")
                .unwrap_or_default()),
            (["-a", a, "-f", "-"], Some(text)) => {
                anchors.insert(a.to_string(), text.lines().map(String::from).collect());
                ok(String::new())
            }
            (["-nvf", _], None) => ok(self.conf.clone()),
            _ => ok(String::new()),
        }
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    fn anchor(&self, a: &str) -> Vec<String> {
        self.anchors
            .lock()
            .unwrap()
            .get(a)
            .cloned()
            .unwrap_or_default()
    }
}

impl Runner for FakePf {
    fn run(&self, program: &str, args: &[&str]) -> std::io::Result<RunOutput> {
        self.answer(&format!("{program} {}", args.join(" ")), args, None)
    }

    fn run_stdin(&self, program: &str, args: &[&str], stdin: &str) -> std::io::Result<RunOutput> {
        self.answer(&format!("{program} {}", args.join(" ")), args, Some(stdin))
    }
}

fn step(commands: Vec<Argv>, stdin: Option<&str>, undo: Vec<Argv>) -> OwnedStep {
    OwnedStep {
        owner: Owner {
            backend: Backend::Pf,
            manager: None,
        },
        step: PlanStep {
            title: "pass 8080/tcp".into(),
            commands,
            stdin: stdin.map(String::from),
            edits: vec![],
            undo,
        },
    }
}

const OLD: &str = "pass in quick proto tcp from any to any port = 22 label \"portdoctor:old\"";
const NEW: &str = "pass in quick proto tcp from any to any port = 8080 label \"portdoctor:t1\"";

fn anchor_step(anchor: &str, reload: bool) -> OwnedStep {
    let mut c = vec![Argv::new(["pfctl", "-a", anchor, "-f", "-"])];
    if reload {
        c.push(Argv::new(["pfctl", "-nf", "/etc/pf.conf"]));
        c.push(Argv::new(["pfctl", "-f", "/etc/pf.conf"]));
    }
    step(c, Some(&format!("{OLD}\n{NEW}\n")), vec![])
}

fn with_old(anchor: &str) -> FakePf {
    let fake = FakePf::default();
    fake.anchors
        .lock()
        .unwrap()
        .insert(anchor.into(), vec![OLD.into()]);
    fake
}

#[test]
fn apply_present_undo_touch_only_the_tagged_rule() {
    let fake = with_old("com.apple/portdoctor");
    let s = anchor_step("com.apple/portdoctor", false);
    assert!(Pf.snapshot(&fake).unwrap().contains("portdoctor:old"));
    Pf.apply(&s, TAG, &fake).unwrap();
    assert_eq!(fake.anchor("com.apple/portdoctor"), vec![OLD, NEW]);
    assert!(Pf.present(&s, TAG, &fake).unwrap());
    Pf.undo(&s, TAG, &fake).unwrap();
    assert_eq!(fake.anchor("com.apple/portdoctor"), vec![OLD]);
    assert!(!Pf.present(&s, TAG, &fake).unwrap());
    assert!(fake.calls().iter().all(|c| !c.starts_with("sh ")));
}

#[test]
fn pf_conf_reload_is_refused_without_the_anchor_reference() {
    let fake = FakePf {
        conf: "block return in all\npass out all flags S/SA keep state\n".into(),
        ..FakePf::default()
    };
    let s = anchor_step("portdoctor", true);
    let e = Pf.apply(&s, TAG, &fake).unwrap_err();
    assert!(
        matches!(&e, FixError::Refused(m) if m.contains("anchor \"portdoctor\"")),
        "{e}"
    );
    assert!(fake.anchor("portdoctor").is_empty(), "nothing was loaded");
    assert_eq!(fake.calls(), vec!["pfctl -nvf /etc/pf.conf"]);
}

#[test]
fn pf_conf_with_the_reference_is_reloaded_after_the_anchor() {
    let fake = FakePf {
        conf: "anchor \"portdoctor\" all\nblock return in all\n".into(),
        ..FakePf::default()
    };
    Pf.apply(&anchor_step("portdoctor", true), TAG, &fake)
        .unwrap();
    assert_eq!(
        fake.calls(),
        vec![
            "pfctl -nvf /etc/pf.conf",
            "pfctl -a portdoctor -f -",
            "pfctl -nf /etc/pf.conf",
            "pfctl -f /etc/pf.conf",
        ]
    );
}

#[test]
fn a_failing_command_rolls_the_anchor_back() {
    let fake = FakePf {
        fails: Some(format!("{ALF} --unblockapp /usr/local/bin/goapp")),
        ..with_old("com.apple/portdoctor")
    };
    let mut s = anchor_step("com.apple/portdoctor", false);
    s.step
        .commands
        .push(Argv::new([ALF, "--unblockapp", "/usr/local/bin/goapp"]));
    s.step
        .undo
        .push(Argv::new([ALF, "--blockapp", "/usr/local/bin/goapp"]));
    assert!(Pf.apply(&s, TAG, &fake).is_err());
    assert_eq!(fake.anchor("com.apple/portdoctor"), vec![OLD]);
    assert!(
        fake.calls()
            .contains(&format!("{ALF} --blockapp /usr/local/bin/goapp"))
    );
}
