//! The Windows applier on Linux: its plans made by the real planner from the recorded Windows
//! fixtures (`portdoctor-firewall/tests/data/windows`), carried out on an in-memory policy
//! seeded with the same fixture's rules.

use super::WindowsFirewall;
use super::action::{self, Action};
use super::api::{ALL_PROFILES, Field, ProfileSetting, RuleState};
use super::fake::Fake;
use super::intent::{Intent, intents, profile_mask, protocol_number};
use crate::FixError;
use crate::applier::Applier;
use portdoctor_firewall::collect::CommandRunner;
use portdoctor_firewall::manager::OpenRequest;
use portdoctor_firewall::plan::{self, Goal, OwnedStep};
use portdoctor_firewall::windows::netsh_text::describe_ports;
use portdoctor_firewall::windows::{self, Interface, Profile, WinRule};
use portdoctor_firewall::{Packet, WindowsFirewall as Rules};
use std::cell::RefCell;
use std::rc::Rc;

thread_local! {
    /// The policy `WindowsFirewall::live()` works on in this test thread, when set: the fix
    /// engine's own paths (`Fixer`, repair) over the in-memory policy.
    pub(super) static POLICY: RefCell<Option<Rc<Fake>>> = const { RefCell::new(None) };
}

const TAG: &str = "portdoctor:t1";
/// The Windows applier runs no commands: a runner that is never used.
const RUN: CommandRunner = CommandRunner { prefix: vec![] };
/// The same, for a `Fixer` a helper returns.
static UNUSED: CommandRunner = RUN;

fn load(names: &[&str]) -> Rules {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../portdoctor-firewall/tests/data/windows"
    );
    let files: Vec<(String, String)> = names
        .iter()
        .map(|n| {
            let text = std::fs::read_to_string(format!("{dir}/{n}")).expect("fixture");
            (n.to_string(), text)
        })
        .collect();
    windows::load(&files).expect("load")
}

fn on(fw: &mut Rules, profile: Profile, alias: &str) {
    fw.interfaces.push(Interface {
        alias: alias.into(),
        profile,
        kind: None,
        subnets: portdoctor_firewall::addr::IpRange::parse("192.168.1.0/24")
            .into_iter()
            .collect(),
    });
}

fn tcp(src: &str, port: u16, program: &str, iif: &str) -> Packet {
    let mut p =
        Packet::tcp_syn(src.parse().unwrap(), "192.168.1.20".parse().unwrap(), port).with_iif(iif);
    p.local_program = Some(program.into());
    p
}

/// The planner's one step for `pkt`, as the fix engine asks for it.
fn step(fw: &Rules, pkt: &Packet, from: Option<&str>) -> OwnedStep {
    let mut req = OpenRequest::new(pkt.dport, "tcp", from.map(String::from));
    req.tag = TAG.into();
    let p = plan::plan(fw, &[], std::slice::from_ref(pkt), &req, Goal::Open);
    assert_eq!(p.steps.len(), 1, "{p:#?}");
    p.steps[0].clone()
}

/// A fixture rule as COM would show it (enough to find it again).
fn state_of(w: &WinRule) -> RuleState {
    let mut r = RuleState::inbound(&w.display_name);
    r.grouping.clone_from(&w.group);
    r.enabled = w.enabled;
    r.inbound = w.direction == windows::Direction::In;
    r.allow = w.action != windows::RuleAction::Block;
    r.protocol = protocol_number(w.protocol);
    r.profiles = profile_mask(w.profiles);
    if w.remote_addresses.is_some() {
        r.remote_addresses = "LocalSubnet".into();
    }
    if let Some(items) = &w.local_ports {
        r.local_ports = describe_ports(items).replace(' ', "");
    }
    r
}

/// An in-memory policy holding the fixture's rules and profile settings, and the applier
/// over it.
fn policy(fw: &Rules) -> (Rc<Fake>, WindowsFirewall) {
    let fake = Rc::new(Fake::with(fw.rules.iter().map(state_of).collect()));
    *fake.block_all.borrow_mut() = Profile::ALL
        .into_iter()
        .filter(|p| fw.settings(*p).allow_inbound_rules == windows::Setting::Off)
        .collect();
    let applier = WindowsFirewall::with_api(Box::new(fake.clone()));
    (fake, applier)
}

/// Everything the fake policy holds.
fn contents(fake: &Fake) -> (Vec<RuleState>, Vec<Profile>) {
    (fake.rules.borrow().clone(), fake.block_all.borrow().clone())
}

/// The seed (W2, Public profile, Go service on 8080 with no rule): the default block decides.
fn seed() -> (Rules, Packet) {
    let fw = load(&[
        "w2_export_firewallrules_excerpt.csv",
        "zh_cn_currentprofile.txt",
    ]);
    (
        fw,
        tcp("192.168.1.7", 8080, r"C:\srv\goapp\goapp.exe", "Ethernet"),
    )
}

/// W3: the GPO-style block "Remote Administration (RPC-EPMAP)" beats the allow for TCP 135.
fn rpc_block() -> (Rules, Packet) {
    let mut fw = load(&["w3_export_firewallrules_domain_excerpt.csv"]);
    on(&mut fw, Profile::Domain, "Ethernet");
    let mut pkt = tcp(
        "192.168.1.31",
        135,
        r"C:\WINDOWS\System32\svchost.exe",
        "Ethernet",
    );
    pkt.local_service = Some("RpcSs".into());
    (fw, pkt)
}

/// W2's rules with "Block all incoming connections" on the Public profile (the profile line
/// is PowerShell's `Get-NetFirewallProfile` JSON in its documented shape, as in the firewall
/// crate's `block_all_inbound_ignores_allow_rules`): the Go service on 8080 is dropped
/// whatever rule is added.
fn block_all() -> (Rules, Packet) {
    let profile = r#"[{"Name":"Public","Enabled":"True","DefaultInboundAction":"Block","AllowInboundRules":"False","AllowLocalFirewallRules":"NotConfigured"}]"#;
    let mut fw = load(&["w2_export_firewallrules_excerpt.csv"]);
    let more = windows::load(&[("p.json".to_string(), profile.to_string())]).expect("load");
    fw.profiles = more.profiles;
    on(&mut fw, Profile::Public, "Ethernet");
    (
        fw,
        tcp("192.168.1.7", 8080, r"C:\srv\goapp\goapp.exe", "Ethernet"),
    )
}

/// W2 on a Public network: the WinRM allow rule is for Domain and Private only.
fn winrm_public() -> (Rules, Packet) {
    let mut fw = load(&["w2_export_firewallrules_excerpt.csv"]);
    on(&mut fw, Profile::Public, "Ethernet");
    (fw, tcp("203.0.113.9", 5985, "System", "Ethernet"))
}

#[test]
fn the_seed_adds_one_rule_named_with_the_tag() {
    let (fw, pkt) = seed();
    let got = intents(&step(&fw, &pkt, None).step, TAG, &fw).unwrap();
    let mut want = RuleState::inbound("portdoctor:t1 allow 8080/tcp");
    want.grouping = "portdoctor".into();
    want.protocol = 6;
    want.local_ports = "8080".into();
    want.profiles = 4;
    assert_eq!(got, vec![Intent::AddRule(want)]);
}

#[test]
fn a_source_limited_rule_carries_its_remote_addresses() {
    let (fw, pkt) = seed();
    let got = intents(&step(&fw, &pkt, Some("192.168.1.0/24")).step, TAG, &fw).unwrap();
    let [Intent::AddRule(r)] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(r.remote_addresses, "192.168.1.0/24");
}

#[test]
fn a_deciding_block_rule_is_disabled() {
    let (fw, pkt) = rpc_block();
    let got = intents(&step(&fw, &pkt, None).step, TAG, &fw).unwrap();
    let [Intent::Set { target, to }] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(target.name, "Remote Administration (RPC-EPMAP)");
    assert_eq!(target.group, "@FirewallAPI.dll,-29752");
    assert_eq!(*to, Field::Enabled(false));
}

#[test]
fn an_allow_rule_for_another_profile_is_extended() {
    let (fw, pkt) = winrm_public();
    let got = intents(&step(&fw, &pkt, None).step, TAG, &fw).unwrap();
    let [Intent::Set { target, to }] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(target.id.as_deref(), Some("WINRM-HTTP-In-TCP-NoScope"));
    assert_eq!(*to, Field::Profiles(ALL_PROFILES));
}

/// Windows creates a TCP and a UDP `Query User` block rule with the same display name; only
/// the TCP one is the planner's.
#[test]
fn a_prompt_block_rule_is_told_from_its_udp_twin() {
    let mut fw = load(&["registry_firewall_rules_query_user.txt"]);
    on(&mut fw, Profile::Public, "Wi-Fi");
    let pkt = tcp(
        "192.168.1.7",
        8999,
        r"C:\Program Files\qBittorrent\qbittorrent.exe",
        "Wi-Fi",
    );
    let (fake, applier) = policy(&fw);
    let named = |fake: &Fake| -> Vec<RuleState> {
        let rules = fake.rules.borrow();
        rules
            .iter()
            .filter(|r| r.name == "qBittorrent - A Bittorrent Client")
            .cloned()
            .collect()
    };
    assert!(named(&fake).len() >= 2, "{:?}", named(&fake));
    let mut s = step(&fw, &pkt, None);
    applier.prepare(&mut s, TAG, &fw, &RUN).unwrap();
    applier.apply(&s, TAG, &RUN).unwrap();
    let off: Vec<i32> = named(&fake)
        .iter()
        .filter(|r| !r.enabled)
        .map(|r| r.protocol)
        .collect();
    assert_eq!(off, vec![6]);
}

/// apply → present → undo, for each kind of plan: the policy ends exactly as it began.
#[test]
fn apply_then_undo_restores_the_policy_exactly() {
    for (fw, pkt) in [seed(), rpc_block(), winrm_public(), block_all()] {
        let (fake, applier) = policy(&fw);
        let before = contents(&fake);
        let mut s = step(&fw, &pkt, None);
        assert!(!applier.present(&s, TAG, &RUN).is_ok_and(|p| p));
        applier.prepare(&mut s, TAG, &fw, &RUN).unwrap();
        applier.apply(&s, TAG, &RUN).unwrap();
        assert_ne!(contents(&fake), before);
        assert!(applier.present(&s, TAG, &RUN).unwrap());
        applier.undo(&s, TAG, &RUN).unwrap();
        assert_eq!(contents(&fake), before, "{}", s.step.title);
        assert!(!applier.present(&s, TAG, &RUN).unwrap());
    }
}

/// The journal drops `edits`: what is read back still undoes the step.
#[test]
fn undo_works_from_the_journaled_step() {
    let (fw, pkt) = winrm_public();
    let (fake, applier) = policy(&fw);
    let before = fake.rules.borrow().clone();
    let mut s = step(&fw, &pkt, None);
    applier.prepare(&mut s, TAG, &fw, &RUN).unwrap();
    let journaled: OwnedStep = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
    assert!(journaled.step.edits.is_empty());
    applier.apply(&journaled, TAG, &RUN).unwrap();
    assert!(applier.present(&journaled, TAG, &RUN).unwrap());
    applier.undo(&journaled, TAG, &RUN).unwrap();
    assert_eq!(*fake.rules.borrow(), before);
    let recorded = action::decode(&journaled.step.undo).unwrap();
    let [Action::Set { was, to }] = recorded.as_slice() else {
        panic!("{recorded:?}")
    };
    assert_eq!(was.profiles, 3);
    assert_eq!(*to, Field::Profiles(ALL_PROFILES));
}

/// "Block all incoming connections" decides: the planner's fix is the profile setting (and
/// the allow rule the default block then needs), and the applier records the setting with
/// its old value.
#[test]
fn block_all_is_turned_off_on_the_arriving_profile() {
    let (fw, pkt) = block_all();
    let mut s = step(&fw, &pkt, None);
    let got = intents(&s.step, TAG, &fw).unwrap();
    let want = ProfileSetting::BlockAllInbound(false);
    let [first, Intent::AddRule(added)] = got.as_slice() else {
        panic!("{got:?}")
    };
    assert_eq!(
        *first,
        Intent::SetProfile {
            profile: Profile::Public,
            to: want
        }
    );
    assert_eq!(added.local_ports, "8080");
    let (fake, applier) = policy(&fw);
    assert_eq!(*fake.block_all.borrow(), vec![Profile::Public]);
    applier.prepare(&mut s, TAG, &fw, &RUN).unwrap();
    let recorded = action::decode(&s.step.undo).unwrap();
    assert_eq!(
        recorded[0],
        Action::SetProfile {
            profile: Profile::Public,
            was: ProfileSetting::BlockAllInbound(true),
            to: want
        }
    );
    applier.apply(&s, TAG, &RUN).unwrap();
    assert!(fake.block_all.borrow().is_empty());
}

/// Compare and set: apply does not touch a setting that is no longer as recorded; once
/// applied, a setting turned back by someone else means the change is no longer present
/// (the fix engine's `undo` then refuses).
#[test]
fn a_profile_setting_changed_since_is_refused() {
    let (fw, pkt) = block_all();
    let (fake, applier) = policy(&fw);
    let mut s = step(&fw, &pkt, None);
    applier.prepare(&mut s, TAG, &fw, &RUN).unwrap();
    fake.block_all.borrow_mut().clear();
    let e = applier.apply(&s, TAG, &RUN).unwrap_err();
    assert!(matches!(e, FixError::ChangedSince(_)), "{e}");
    assert!(e.to_string().contains("Public profile"), "{e}");
    assert_eq!(fake.calls.get(), 0);
    // The live policy already has what the plan wants: nothing to record.
    let e = applier
        .prepare(&mut step(&fw, &pkt, None), TAG, &fw, &RUN)
        .unwrap_err();
    assert!(e.to_string().contains("already has"), "{e}");
    fake.block_all.borrow_mut().push(Profile::Public);
    applier.apply(&s, TAG, &RUN).unwrap();
    assert!(applier.present(&s, TAG, &RUN).unwrap());
    fake.block_all.borrow_mut().push(Profile::Public);
    assert!(!applier.present(&s, TAG, &RUN).unwrap());
}

/// A step of three actions (disable a block rule; let allow rules count on Public and add a
/// rule): the actions of two fixtures' plans in one step.
fn three_actions() -> (Rules, OwnedStep) {
    let (fw, pkt) = rpc_block();
    let mut s = step(&fw, &pkt, None);
    let (other, pkt) = block_all();
    s.step.edits.extend(step(&other, &pkt, None).step.edits);
    (fw, s)
}

/// The fake holding `fw`'s rules with block-all on Public, and the step prepared on it.
fn prepared_three() -> (Rc<Fake>, WindowsFirewall, OwnedStep) {
    let (fw, mut s) = three_actions();
    let (fake, applier) = policy(&fw);
    fake.block_all.borrow_mut().push(Profile::Public);
    applier.prepare(&mut s, TAG, &fw, &RUN).unwrap();
    (fake, applier, s)
}

/// A crash after the first `done` actions of a step: undo reverts exactly those and skips
/// the rest; `present` does not call the step complete.
#[test]
fn undo_reverts_what_an_interrupted_apply_did() {
    for done in 0..=3 {
        let (fake, applier, s) = prepared_three();
        let before = contents(&fake);
        let actions = action::decode(&s.step.undo).unwrap();
        assert_eq!(actions.len(), 3);
        for a in &actions[..done] {
            a.apply(fake.as_ref()).unwrap();
        }
        assert_eq!(applier.present(&s, TAG, &RUN).unwrap(), done == 3);
        applier.undo(&s, TAG, &RUN).unwrap();
        assert_eq!(contents(&fake), before, "after {done} actions");
    }
}

/// After a partial apply, a value that is neither the recorded old one nor the new one
/// (someone changed it) refuses the undo before anything is changed.
#[test]
fn undo_of_an_interrupted_step_refuses_a_value_changed_since() {
    let (fake, applier, s) = prepared_three();
    let actions = action::decode(&s.step.undo).unwrap();
    actions[0].apply(fake.as_ref()).unwrap();
    for r in fake.rules.borrow_mut().iter_mut() {
        if r.name == "Remote Administration (RPC-EPMAP)" && !r.allow {
            r.remote_addresses = "10.0.0.0/8".into();
        }
    }
    let changed = contents(&fake);
    let calls = fake.calls.get();
    let e = applier.undo(&s, TAG, &RUN).unwrap_err();
    assert!(matches!(e, FixError::ChangedSince(_)), "{e}");
    assert_eq!(contents(&fake), changed);
    assert_eq!(fake.calls.get(), calls);
}

/// A host whose firewall is `fw`, for the fix engine.
fn host_of(fw: Rules) -> portdoctor_firewall::host::Host {
    portdoctor_firewall::host::Host {
        engine: Box::new(fw),
        managers: vec![],
        routes: None,
        routing: None,
    }
}

/// The fix engine's request to open 8080/tcp to anyone.
fn open_8080(force: bool) -> crate::flow::Request {
    crate::flow::Request {
        goal: Goal::Open,
        port: 8080,
        proto: "tcp".into(),
        from: None,
        ttl: None,
        confirm: None,
        backend: None,
        force,
    }
}

/// A Fixer over the journal in `dir`, its Windows steps applied to `fake`.
fn fixer_on(fake: &Rc<Fake>, dir: &std::path::Path) -> crate::flow::Fixer<'static> {
    POLICY.with_borrow_mut(|p| *p = Some(fake.clone()));
    crate::flow::Fixer {
        runner: &UNUSED,
        journal: crate::journal::Journal::open(dir).unwrap(),
    }
}

/// The fix engine's repair of interrupted changes: a change journaled `planned` whose
/// three-action step was cut after `done` actions (no rollback ran: the process died) is
/// rolled back to exactly the policy it started from, or kept when it was complete.
#[test]
fn repair_rolls_back_a_step_cut_by_a_crash() {
    use crate::change::Change;
    use crate::journal::{Event, Status};
    for done in 0..=3 {
        let (fake, _, s) = prepared_three();
        let before = contents(&fake);
        let dir = tempfile::tempdir().unwrap();
        let fixer = fixer_on(&fake, dir.path());
        let mut request = OpenRequest::new(8080, "tcp", None);
        request.tag = TAG.into();
        let change = Change {
            id: "t1".into(),
            at: 0,
            goal: Goal::Open,
            request,
            steps: vec![s.clone()],
            expires_at: None,
            confirm_by: None,
            saved: vec![],
        };
        let planned = Event {
            id: "t1".into(),
            at: 0,
            status: Status::Planned,
            note: None,
            change: Some(change),
        };
        fixer.journal.append(&planned).unwrap();
        let actions = action::decode(&s.step.undo).unwrap();
        for a in &actions[..done] {
            a.apply(fake.as_ref()).unwrap();
        }
        let after_crash = contents(&fake);
        let lines = fixer.repair().unwrap();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let (_, status) = fixer.journal.change("t1").unwrap();
        if done == 3 {
            assert_eq!(status, Status::Applied, "{lines:?}");
            assert_eq!(contents(&fake), after_crash);
        } else {
            assert_eq!(status, Status::Failed, "{lines:?}");
            assert_eq!(contents(&fake), before, "cut after {done} actions");
        }
    }
}

/// Through the fix engine, block-all decides: the plan is the profile setting, verified by
/// the planner; applied and undone on the in-memory policy.
#[test]
fn the_fix_engine_turns_block_all_off_and_back_on() {
    let (fw, pkt) = block_all();
    let (fake, _) = policy(&fw);
    let before = contents(&fake);
    let dir = tempfile::tempdir().unwrap();
    let fixer = fixer_on(&fake, dir.path());
    let host = host_of(fw);
    let req = open_8080(false);
    let prepared = fixer.prepare(&host, &req, vec![pkt], &[]).unwrap();
    let applied = fixer
        .apply(&prepared, &|| Err("not read back in this test".into()))
        .unwrap();
    assert!(fake.block_all.borrow().is_empty());
    fixer.undo(&applied.change.id, None).unwrap();
    assert_eq!(contents(&fake), before);
}

/// Disable a block rule and add a rule in one step; the add fails: the block rule is
/// enabled again and the error names the call.
#[test]
fn a_failing_second_action_reverts_the_first() {
    let (fw, pkt) = rpc_block();
    let mut s = step(&fw, &pkt, None);
    let (seed_fw, seed_pkt) = seed();
    s.step
        .edits
        .extend(step(&seed_fw, &seed_pkt, None).step.edits);
    let (fake, applier) = policy(&fw);
    let before = fake.rules.borrow().clone();
    applier.prepare(&mut s, TAG, &fw, &RUN).unwrap();
    assert_eq!(action::decode(&s.step.undo).unwrap().len(), 2);
    fake.fail_on.set(Some(2));
    let e = applier.apply(&s, TAG, &RUN).unwrap_err();
    assert!(e.to_string().contains("INetFwRules::Add"), "{e}");
    assert_eq!(*fake.rules.borrow(), before);
    assert_eq!(fake.calls.get(), 3, "disable, failed add, enable again");
}

#[test]
fn undo_refuses_when_a_rule_was_changed_since() {
    let (fw, pkt) = seed();
    let (fake, applier) = policy(&fw);
    let mut s = step(&fw, &pkt, None);
    applier.prepare(&mut s, TAG, &fw, &RUN).unwrap();
    applier.apply(&s, TAG, &RUN).unwrap();
    for r in fake.rules.borrow_mut().iter_mut() {
        if r.name.starts_with(TAG) {
            r.local_ports = "8080,9090".into();
        }
    }
    let changed = fake.rules.borrow().clone();
    assert!(!applier.present(&s, TAG, &RUN).unwrap());
    let e = applier.undo(&s, TAG, &RUN).unwrap_err();
    assert!(matches!(e, FixError::ChangedSince(_)), "{e}");
    assert_eq!(*fake.rules.borrow(), changed);
}

#[test]
fn a_rule_that_cannot_be_told_apart_is_refused() {
    let (fw, pkt) = rpc_block();
    let (fake, applier) = policy(&fw);
    let twin = fake
        .rules
        .borrow()
        .iter()
        .find(|r| r.name == "Remote Administration (RPC-EPMAP)" && !r.allow)
        .cloned()
        .unwrap();
    fake.rules.borrow_mut().push(twin);
    let mut s = step(&fw, &pkt, None);
    let e = applier.prepare(&mut s, TAG, &fw, &RUN).unwrap_err();
    assert!(e.to_string().contains("2 inbound rules"), "{e}");
    assert_eq!(fake.calls.get(), 0);
}

#[test]
fn a_tagged_name_already_taken_is_refused() {
    let (fw, pkt) = seed();
    let (fake, applier) = policy(&fw);
    fake.rules
        .borrow_mut()
        .push(RuleState::inbound("portdoctor:t1 allow 8080/tcp"));
    let e = applier
        .prepare(&mut step(&fw, &pkt, None), TAG, &fw, &RUN)
        .unwrap_err();
    assert!(e.to_string().contains("already there"), "{e}");
}

/// Away from Windows the applier says why, before anything is journaled.
#[cfg(not(windows))]
#[test]
fn elsewhere_the_live_applier_refuses_clearly() {
    let (fw, pkt) = seed();
    let e = WindowsFirewall::live()
        .prepare(&mut step(&fw, &pkt, None), TAG, &fw, &RUN)
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Windows Defender Firewall changes can only be applied on Windows"
    );
}

/// Through the fix engine: the Windows plan is refused at `prepare`, before the journal is
/// touched (on Linux, where there is no Windows Defender Firewall to change).
#[cfg(not(windows))]
#[test]
fn the_fix_engine_refuses_before_journaling_anything() {
    use crate::flow::Fixer;
    use crate::journal::Journal;
    let (fw, pkt) = seed();
    let host = host_of(fw);
    let dir = tempfile::tempdir().unwrap();
    let fixer = Fixer {
        runner: &RUN,
        journal: Journal::open(dir.path()).unwrap(),
    };
    let req = open_8080(true);
    let e = fixer.prepare(&host, &req, vec![pkt], &[]).unwrap_err();
    assert!(e.to_string().contains("only be applied on Windows"), "{e}");
    assert!(fixer.journal.events().unwrap().is_empty());
}

/// Counts the changing calls made through the live API.
#[cfg(windows)]
struct Spy {
    changes: std::cell::Cell<usize>,
}

#[cfg(windows)]
impl super::api::FirewallApi for Spy {
    fn rules(&self) -> Result<Vec<RuleState>, super::api::ApiError> {
        super::com::Com.rules()
    }
    fn add(&self, rule: &RuleState) -> Result<(), super::api::ApiError> {
        self.changes.set(self.changes.get() + 1);
        super::com::Com.add(rule)
    }
    fn set(&self, rule: &RuleState, value: &Field) -> Result<(), super::api::ApiError> {
        self.changes.set(self.changes.get() + 1);
        super::com::Com.set(rule, value)
    }
    fn remove(&self, rule: &RuleState) -> Result<(), super::api::ApiError> {
        self.changes.set(self.changes.get() + 1);
        super::com::Com.remove(rule)
    }
    fn profile_setting(
        &self,
        p: Profile,
        of: ProfileSetting,
    ) -> Result<ProfileSetting, super::api::ApiError> {
        super::com::Com.profile_setting(p, of)
    }
    fn put_profile_setting(
        &self,
        p: Profile,
        to: ProfileSetting,
    ) -> Result<(), super::api::ApiError> {
        self.changes.set(self.changes.get() + 1);
        super::com::Com.put_profile_setting(p, to)
    }
}

/// Under Wine (CI runs the Windows build's tests there). Measured with Wine 8.0: hnetcfg
/// creates the policy and rule objects and takes every property write, answers
/// `INetFwRules::Add` and `Remove` with S_OK while keeping nothing (`Count` stays 0), and
/// answers `_NewEnum` and `Item` with E_NOTIMPL, and `get_BlockAllInboundTraffic` too. The
/// applier reads the rules before it changes anything (it never trusts an `Add` it cannot
/// read back), so it reports the E_NOTIMPL and makes no changing call at all, for a rule
/// step and for a block-all step alike. On real Windows this test does nothing: unit
/// tests never change a real firewall.
#[cfg(windows)]
#[test]
fn under_wine_the_applier_reports_what_is_missing_and_changes_nothing() {
    if std::env::var_os("WINEPREFIX").is_none() {
        eprintln!("skipped: not under Wine (a unit test never changes a real firewall)");
        return;
    }
    let spy = Rc::new(Spy {
        changes: std::cell::Cell::new(0),
    });
    let applier = WindowsFirewall::with_api(Box::new(spy.clone()));
    let read = super::api::FirewallApi::profile_setting(
        spy.as_ref(),
        Profile::Public,
        ProfileSetting::BlockAllInbound(false),
    );
    let e = read.unwrap_err().to_string();
    assert!(
        e.contains("get_BlockAllInboundTraffic") && e.contains("0x80004001"),
        "{e}"
    );
    for (fw, pkt) in [seed(), block_all()] {
        let mut s = step(&fw, &pkt, None);
        let e = applier.prepare(&mut s, TAG, &fw, &RUN).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("Rules._NewEnum") && text.contains("0x80004001"),
            "{text}"
        );
        assert!(s.step.undo.is_empty());
        // A step prepared elsewhere (here on the in-memory policy): apply reads first, too.
        let (_, elsewhere) = policy(&fw);
        elsewhere.prepare(&mut s, TAG, &fw, &RUN).unwrap();
        let e = applier.apply(&s, TAG, &RUN).unwrap_err();
        assert!(e.to_string().contains("0x80004001"), "{e}");
        assert!(applier.undo(&s, TAG, &RUN).is_err());
    }
    assert_eq!(spy.changes.get(), 0);
}
