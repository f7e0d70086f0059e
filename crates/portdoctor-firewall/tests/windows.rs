//! Windows Defender Firewall engine against real recorded exports (tests/data/windows, sources
//! in its README).

use portdoctor_firewall::engine::without_rule;
use portdoctor_firewall::fix::{FixKind, FixRequest};
use portdoctor_firewall::windows::{
    self, FilterField, Interface, LoadError, Profile, Store, WindowsFirewall,
};
use portdoctor_firewall::{Decision, Engine, Packet, Proto, Verdict};

fn data(name: &str) -> (String, String) {
    let p = format!("{}/tests/data/windows/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"));
    (name.to_string(), text)
}

fn load(names: &[&str]) -> WindowsFirewall {
    let files: Vec<(String, String)> = names.iter().map(|n| data(n)).collect();
    windows::load(&files).expect("load")
}

fn iface(alias: &str, profile: Profile, subnet: &str) -> Interface {
    Interface {
        alias: alias.into(),
        profile,
        kind: None,
        subnets: portdoctor_firewall::addr::IpRange::parse(subnet)
            .into_iter()
            .collect(),
    }
}

fn tcp(src: &str, port: u16, program: &str) -> Packet {
    let mut p = Packet::tcp_syn(src.parse().unwrap(), "192.168.1.20".parse().unwrap(), port)
        .with_iif("Ethernet");
    p.local_program = Some(program.into());
    p
}

fn by(v: &Verdict) -> String {
    v.decided_by
        .as_ref()
        .map(|r| r.text.clone())
        .unwrap_or_default()
}

const GO: &str = r"C:\srv\goapp\goapp.exe";

#[test]
fn recognised_by_content() {
    use windows::Format;
    for (f, want) in [
        ("w1_netsh_rules_en_excerpt.txt", Format::NetshRules),
        ("w2_export_firewallrules_excerpt.csv", Format::Csv),
        ("zh_cn_show_rule_chrome_cdp.txt", Format::NetshRules),
        ("zh_cn_allprofiles.txt", Format::NetshProfiles),
        ("en_allprofiles_off.txt", Format::NetshProfiles),
        ("registry_firewall_rules_query_user.txt", Format::Registry),
    ] {
        let (_, t) = data(f);
        assert_eq!(windows::format_of(&t), Some(want), "{f}");
        assert!(windows::recognise(&t), "{f}");
    }
    assert!(!windows::recognise("*filter\n:INPUT DROP [0:0]\nCOMMIT\n"));
    assert!(!windows::recognise("{\"nftables\": []}"));
}

/// The seed: a Go service on :8080, no allow rule, the Public profile's default inbound block.
#[test]
fn seed_default_block_names_the_profile_and_fix_is_new_rule() {
    let mut fw = load(&[
        "w2_export_firewallrules_excerpt.csv",
        "zh_cn_currentprofile.txt",
    ]);
    assert_eq!(fw.rules.len(), 14);
    assert_eq!(fw.current_profiles, Some(vec![Profile::Public]));
    let pkt = tcp("192.168.1.7", 8080, GO);
    let v = fw.evaluate(&pkt);
    assert_eq!(v.decision, Decision::Drop);
    let r = v.decided_by.as_ref().unwrap();
    assert!(r.is_policy);
    assert_eq!(r.chain, "Public");
    assert_eq!(r.text, "default inbound action: block (Public profile)");
    assert!(v.assumptions.iter().any(|a| a.contains("current profile")));
    let req = FixRequest {
        port: 8080,
        proto: Proto::Tcp,
        source: None,
    };
    let fixes = windows::plan_fix(&fw, &pkt, &req);
    let add = fixes.iter().find(|f| f.kind == FixKind::AddAllow).unwrap();
    assert_eq!(
        add.commands[0].line,
        "New-NetFirewallRule -DisplayName 'portdoctor: allow 8080/tcp' -Group portdoctor \
         -Direction Inbound -Action Allow -Protocol TCP -LocalPort 8080 -Profile Public"
    );
    assert!(add.alternatives[0].line.starts_with(
        "netsh advfirewall firewall add rule name=\"portdoctor: allow 8080/tcp\" dir=in action=allow protocol=TCP localport=8080 profile=public"
    ));
    // Verified by re-evaluation: the edited state accepts, naming the new rule.
    assert!(add.verified);
    let fixed = fw.edited(&add.edits).unwrap().explain(&pkt).overall;
    assert_eq!(fixed.decision, Decision::Accept);
    assert_eq!(fixed.decided_by.unwrap().chain, "portdoctor");
    // From a source limited request, other sources stay blocked.
    fw.interfaces
        .push(iface("Ethernet", Profile::Public, "192.168.1.0/24"));
    let req = FixRequest {
        port: 8080,
        proto: Proto::Tcp,
        source: Some("192.168.1.0/24".into()),
    };
    let add = windows::plan_fix(&fw, &pkt, &req).remove(0);
    assert!(add.verified);
    let other = tcp("203.0.113.5", 8080, GO);
    let still = fw.edited(&add.edits).unwrap().explain(&other).overall;
    assert_eq!(still.decision, Decision::Drop);
}

/// Non-verbose netsh has no program filters: rules for any port and protocol (Minecraft,
/// Game Bar: app-package rules in fact) may match, and the verdict says why it is unknown.
#[test]
fn non_verbose_netsh_is_honest_about_missing_program_filters() {
    let fw = load(&["w1_netsh_rules_en_excerpt.txt", "zh_cn_currentprofile.txt"]);
    assert_eq!(fw.rules.len(), 12);
    assert!(fw.rules.iter().all(|r| r.store == Store::Unknown));
    let v = fw.evaluate(&tcp("192.168.1.7", 8080, GO));
    let Decision::Unknown(why) = &v.decision else {
        panic!("{v:?}")
    };
    assert!(why.contains("Minecraft for Windows"), "{why}");
    assert!(why.contains("non-verbose"), "{why}");
    assert!(v.possible.contains(&Decision::Accept) && v.possible.contains(&Decision::Drop));
    // UDP 5353 (mDNS) is allowed by Edge and Chrome rules whatever their programs… except
    // that their programs are unknown too: still unknown, never a guess.
    let mut mdns = tcp("192.168.1.7", 5353, GO);
    mdns.proto = Proto::Udp;
    assert!(matches!(fw.evaluate(&mdns).decision, Decision::Unknown(_)));
}

/// The firewall off on every profile (real `show allprofiles`, State OFF).
#[test]
fn profile_with_firewall_off_accepts() {
    let fw = load(&["w1_netsh_rules_en_excerpt.txt", "en_allprofiles_off.txt"]);
    let v = fw.evaluate(&tcp("198.51.100.3", 8080, GO));
    assert_eq!(v.decision, Decision::Accept);
    assert_eq!(v.deciders.len(), 3);
    assert!(
        v.deciders
            .iter()
            .all(|r| r.is_policy && r.text.starts_with("firewall off ("))
    );
    assert!(!fw.active());
}

/// An allow shadowed by a block: on the domain host (W3) the GPO-style block
/// "Remote Administration (RPC-EPMAP)" beats the allow "Remote Event Monitor (RPC-EPMAP)" for
/// the RPC endpoint mapper (TCP 135, svchost.exe, service RpcSs).
#[test]
fn allow_shadowed_by_block() {
    let mut fw = load(&["w3_export_firewallrules_domain_excerpt.csv"]);
    fw.interfaces
        .push(iface("Ethernet", Profile::Domain, "10.64.9.0/24"));
    let mut pkt = tcp("10.64.9.31", 135, r"C:\WINDOWS\System32\svchost.exe");
    pkt.local_service = Some("RpcSs".into());
    let v = fw.evaluate(&pkt);
    assert_eq!(v.decision, Decision::Drop);
    assert_eq!(by(&v), "Remote Administration (RPC-EPMAP)");
    let block = v.decided_by.clone().unwrap();
    assert_eq!(
        block.comment.as_deref(),
        Some("{D64D3288-1B7E-4DAF-BF5A-9CAA4C0EABEC}")
    );
    assert_eq!(block.chain, "@FirewallAPI.dll,-29752");
    // The allow that would decide without the block.
    let w = without_rule(&fw, &block, &pkt).unwrap();
    assert_eq!(w.decision, Decision::Accept);
    assert_eq!(by(&w), "Remote Event Monitor (RPC-EPMAP)");
    // The fix disables the block (adding an allow would change nothing), verified.
    let req = FixRequest {
        port: 135,
        proto: Proto::Tcp,
        source: None,
    };
    let fixes = windows::plan_fix(&fw, &pkt, &req);
    assert_eq!(fixes[0].kind, FixKind::DisableBlock);
    assert_eq!(
        fixes[0].commands[0].line,
        "Disable-NetFirewallRule -Name '{D64D3288-1B7E-4DAF-BF5A-9CAA4C0EABEC}'"
    );
    assert!(fixes[0].verified);
    assert!(fixes.iter().all(|f| f.verified), "{fixes:#?}");
    // Block beats allow: a plain allow rule would change nothing, so it is not offered.
    assert!(
        fixes.iter().all(|f| f.kind != FixKind::AddAllow),
        "{fixes:#?}"
    );
}

/// A GPO store: the W3 domain host's `{GUID}` rules as the GPO delivered them (W3 does not
/// record the store; the test assigns it, as the export script's PolicyStoreSourceType would),
/// plus the real local-GPO registry key, whose rules are outbound.
#[test]
fn gpo_store_is_named_and_its_fix_says_so() {
    let mut fw = load(&["w3_export_firewallrules_domain_excerpt.csv"]);
    for r in fw.rules.iter_mut().filter(|r| r.name.starts_with('{')) {
        r.store = Store::GroupPolicy;
    }
    fw.interfaces
        .push(iface("Ethernet", Profile::Domain, "10.64.9.0/24"));
    let pkt = tcp("10.64.9.31", 445, "System");
    let v = fw.evaluate(&pkt);
    assert_eq!(v.decision, Decision::Drop);
    let r = v.decided_by.unwrap();
    assert_eq!(
        (r.table.as_str(), r.text.as_str()),
        ("GroupPolicy", "Remote Administration (NP-In)")
    );
    let req = FixRequest {
        port: 445,
        proto: Proto::Tcp,
        source: None,
    };
    let fix = windows::plan_fix(&fw, &pkt, &req).remove(0);
    assert!(
        fix.notes.iter().any(|n| n.contains("Group Policy")),
        "{fix:#?}"
    );
    assert!(fix.verified);

    let reg = load(&["registry_firewall_rules_query_user.txt"]);
    let gpo: Vec<_> = reg
        .rules
        .iter()
        .filter(|r| r.store == Store::GroupPolicy)
        .collect();
    assert_eq!(gpo.len(), 2);
    assert!(gpo.iter().all(|r| r.direction == windows::Direction::Out));
    assert_eq!(gpo[0].group, "H_C Firewall Rules");
}

/// The allow rule is for Domain/Private; the packet arrives on a Public network.
#[test]
fn allow_for_the_wrong_profile_is_a_near_miss_and_fixed_by_extending_it() {
    let mut fw = load(&["w2_export_firewallrules_excerpt.csv"]);
    fw.interfaces
        .push(iface("Ethernet", Profile::Public, "192.168.1.0/24"));
    let pkt = tcp("203.0.113.9", 5985, "System");
    let v = fw.evaluate(&pkt);
    assert_eq!(v.decision, Decision::Drop);
    assert!(by(&v).contains("Windows' default; not read"), "{}", by(&v));
    let nm = fw.near_misses(&pkt);
    let profile: Vec<_> = nm
        .iter()
        .filter(|n| n.field == FilterField::Profile)
        .collect();
    assert_eq!(profile.len(), 1, "{nm:#?}");
    assert_eq!(
        profile[0].rule.comment.as_deref(),
        Some("WINRM-HTTP-In-TCP-NoScope")
    );
    assert!(
        profile[0].mismatch.contains("Domain, Private"),
        "{}",
        profile[0].mismatch
    );
    // The Public rule exists but is limited to the local subnet.
    assert!(nm.iter().any(|n| n.field == FilterField::RemoteAddress
        && n.rule.comment.as_deref() == Some("WINRM-HTTP-In-TCP-PUBLIC")));
    let req = FixRequest {
        port: 5985,
        proto: Proto::Tcp,
        source: None,
    };
    let fixes = windows::plan_fix(&fw, &pkt, &req);
    let ext = fixes
        .iter()
        .find(|f| f.kind == FixKind::ExtendAllow)
        .unwrap();
    assert_eq!(
        ext.commands[0].line,
        "Set-NetFirewallRule -Name 'WINRM-HTTP-In-TCP-NoScope' -Profile Domain,Private,Public"
    );
    assert!(ext.verified);
    assert!(fixes.iter().all(|f| f.verified));
}

/// The allow rule is for svchost.exe (service TermService); the listener is another program.
#[test]
fn allow_for_the_wrong_program_is_a_near_miss() {
    let mut fw = load(&[
        "w2_export_firewallrules_excerpt.csv",
        "zh_cn_allprofiles.txt",
    ]);
    fw.interfaces
        .push(iface("Ethernet", Profile::Private, "192.168.1.0/24"));
    let mut pkt = tcp("192.168.1.7", 3389, r"C:\Program Files\OtherRDP\rdpd.exe");
    let v = fw.evaluate(&pkt);
    assert_eq!(v.decision, Decision::Drop);
    assert_eq!(by(&v), "default inbound action: block (Private profile)");
    let nm = fw.near_misses(&pkt);
    let prog = nm
        .iter()
        .find(|n| n.rule.comment.as_deref() == Some("RemoteDesktop-UserMode-In-TCP"))
        .unwrap();
    assert_eq!(prog.field, FilterField::Program);
    assert!(prog.mismatch.contains(r"%SystemRoot%\system32\svchost.exe"));
    // The real listener: %SystemRoot% expanded, case-insensitive, service matched.
    pkt.local_program = Some(r"c:\windows\SYSTEM32\svchost.exe".into());
    pkt.local_service = Some("TermService".into());
    let v = fw.evaluate(&pkt);
    assert_eq!(v.decision, Decision::Accept);
    assert_eq!(by(&v), "Remote Desktop - User Mode (TCP-In)");
    // Program unknown: unknown, with the reason.
    pkt.local_program = None;
    let Decision::Unknown(why) = fw.evaluate(&pkt).decision else {
        panic!()
    };
    assert!(why.contains("listening program is unknown"), "{why}");
}

/// zh-CN netsh: the recorded rule and profiles.
#[test]
fn zh_cn_netsh_export() {
    let fw = load(&["zh_cn_show_rule_chrome_cdp.txt", "zh_cn_allprofiles.txt"]);
    assert_eq!(fw.rules.len(), 1);
    let r = &fw.rules[0];
    assert_eq!(r.display_name, "Chrome CDP 9222");
    assert!(r.enabled && r.profiles.has(Profile::Public));
    assert_eq!(fw.profiles.len(), 3);
    let mut f = fw.clone();
    f.interfaces
        .push(iface("WLAN", Profile::Public, "172.20.10.0/28"));
    let mut p = tcp("172.20.10.3", 9222, GO);
    p.iif = Some("WLAN".into());
    p.local_program = None;
    // The rule has no program filter… but netsh non-verbose cannot say so: unknown.
    assert!(matches!(f.evaluate(&p).decision, Decision::Unknown(_)));
    p.dport = 9223;
    let v = f.evaluate(&p);
    assert!(matches!(v.decision, Decision::Unknown(_)) || v.decision == Decision::Drop);
}

#[test]
fn mangled_cjk_output_is_refused_with_a_pointer_to_the_export() {
    let (n, t) = data("netsh_mangled_cjk_excerpt.txt");
    let e = windows::load(&[(n, t)]).unwrap_err();
    assert!(
        matches!(e, LoadError::UnreadableLocale { line: 1, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("PowerShell export"), "{e}");
}

/// A hidden `TCP Query User{GUID}path` block rule (the prompt was cancelled) decides; the
/// fix names it.
#[test]
fn query_user_block_rule_is_recognised() {
    let mut fw = load(&["registry_firewall_rules_query_user.txt"]);
    fw.interfaces
        .push(iface("Wi-Fi", Profile::Public, "192.168.1.0/24"));
    let mut p = tcp(
        "192.168.1.7",
        8999,
        r"C:\Program Files\qBittorrent\qbittorrent.exe",
    );
    p.iif = Some("Wi-Fi".into());
    let v = fw.evaluate(&p);
    assert_eq!(v.decision, Decision::Drop);
    let r = v.decided_by.clone().unwrap();
    assert_eq!(r.text, "qBittorrent - A Bittorrent Client");
    assert!(
        r.comment
            .as_deref()
            .unwrap()
            .starts_with("TCP Query User{1E1E3E97")
    );
    assert_eq!(r.table, "Local");
    assert!(v.trace.iter().any(|s| s.detail.contains("Query User")));
    assert_eq!(fw.query_user_blocks(&p).len(), 1);
    let req = FixRequest {
        port: 8999,
        proto: Proto::Tcp,
        source: None,
    };
    let fix = windows::plan_fix(&fw, &p, &req).remove(0);
    assert_eq!(fix.kind, FixKind::DisableBlock);
    assert!(
        fix.commands[0]
            .line
            .starts_with("Disable-NetFirewallRule -Name 'TCP Query User{1E1E3E97")
    );
    assert!(fix.notes.iter().any(|n| n.contains("Query User rule")));
    assert!(fix.verified);
}

#[test]
fn unknown_profile_forks_and_the_sweep_covers_all_ports() {
    let fw = load(&["w2_export_firewallrules_excerpt.csv"]);
    // No interface information: Domain/Private/Public disagree for 5985 from anywhere.
    let mut p = tcp("198.51.100.1", 5985, "System");
    p.iif = None;
    let v = fw.evaluate(&p);
    assert!(
        matches!(v.decision, Decision::Unknown(ref w) if w.contains("profile")),
        "{v:?}"
    );
    let mut fw = fw;
    fw.interfaces
        .push(iface("Ethernet", Profile::Private, "192.168.1.0/24"));
    let s = fw.sweep(&tcp("192.168.1.7", 0, "System"));
    assert_eq!(s.ranges.first().unwrap().from, 0);
    assert_eq!(s.ranges.last().unwrap().to, 65535);
    assert_eq!(s.decision(5985).unwrap().decision, Decision::Accept);
    assert_eq!(s.decision(445).unwrap().decision, Decision::Accept);
    assert_eq!(s.decision(8080).unwrap().decision, Decision::Drop);
}

#[test]
fn powershell_json_quirks() {
    // Hand-written in the shapes PowerShell 5.1 emits (field notes §1.1): no real export with
    // these quirks could be stored (the public one is BUSL-licensed).
    let rules = r#"{"value":[{"Name":"{A}","DisplayName":"Go app","DisplayGroup":"","Enabled":1,
      "Direction":1,"Action":2,"Profile":2,"EdgeTraversalPolicy":0,"PolicyStoreSourceType":2,
      "InstanceID":"{A}"}],"Count":1}"#;
    let filters = r#"[{"InstanceID":"{A}","Protocol":6,"LocalPort":{"value":["8080","8443"],"Count":2},
      "RemotePort":"Any"},{"InstanceID":"{A}","LocalAddress":"Any","RemoteAddress":""},
      {"InstanceID":"{A}","Program":"%ProgramFiles%\\Go App\\app.exe","Package":""}]"#;
    let profiles = r#"{"Name":"Private","Enabled":1,"DefaultInboundAction":4,"AllowInboundRules":2,
      "AllowLocalFirewallRules":2}"#;
    let conn = r#"{"InterfaceAlias":"Ethernet","NetworkCategory":1}"#;
    let fw = windows::load(&[
        ("rules.json".into(), rules.into()),
        ("filters.json".into(), filters.into()),
        ("profiles.json".into(), profiles.into()),
        ("conn.json".into(), conn.into()),
    ])
    .unwrap();
    let r = &fw.rules[0];
    assert_eq!(r.store, Store::GroupPolicy);
    let v = fw.evaluate(&tcp(
        "192.168.1.7",
        8443,
        r"C:\Program Files\Go App\app.exe",
    ));
    assert_eq!(v.decision, Decision::Accept);
    assert_eq!(v.decided_by.unwrap().table, "GroupPolicy");
    // Rules without their filters are refused, not guessed.
    let e = windows::load(&[("rules.json".into(), rules.into())]).unwrap_err();
    assert!(e.to_string().contains("filter"), "{e}");
    // Errors carry file, line, column.
    let e = windows::load(&[("bad.json".into(), "{\n  \"rules\": [1,\n}".into())]).unwrap_err();
    assert_eq!(e.position().unwrap().0, 3, "{e}");
}

#[test]
fn block_all_inbound_ignores_allow_rules() {
    let files = vec![
        data("zh_cn_show_rule_chrome_cdp.txt"),
        (
            "p.json".to_string(),
            r#"[{"Name":"Public","Enabled":"True","DefaultInboundAction":"Block","AllowInboundRules":"False","AllowLocalFirewallRules":"NotConfigured"}]"#.to_string(),
        ),
    ];
    let mut fw = windows::load(&files).unwrap();
    fw.interfaces
        .push(iface("Ethernet", Profile::Public, "192.168.1.0/24"));
    let p = tcp("192.168.1.7", 9222, GO);
    let v = fw.evaluate(&p);
    assert_eq!(v.decision, Decision::Drop);
    assert!(
        by(&v).starts_with("block all incoming connections"),
        "{}",
        by(&v)
    );
    let req = FixRequest {
        port: 9222,
        proto: Proto::Tcp,
        source: None,
    };
    let fixes = windows::plan_fix(&fw, &p, &req);
    let s = fixes.iter().find(|f| f.kind == FixKind::Settings).unwrap();
    assert_eq!(
        s.commands[0].line,
        "Set-NetFirewallProfile -Profile Public -AllowInboundRules True"
    );
}

#[test]
fn export_script_is_shipped() {
    assert!(windows::EXPORT_SCRIPT.contains("Get-NetFirewallPortFilter"));
    assert!(windows::EXPORT_SCRIPT.contains("Get-NetConnectionProfile"));
}

#[test]
fn bypass_rules_are_set_aside_with_the_assumption_stated() {
    // An authenticated-bypass allow (netsh `action=bypass`) cannot apply to a packet that is
    // not IPsec-authenticated: the profile default decides, and the verdict says why.
    let mut fw = load(&["zh_cn_currentprofile.txt"]);
    let edit = portdoctor_firewall::Edit::InsertText {
        engine: portdoctor_firewall::EngineKind::Windows,
        scope: "Local".into(),
        before: None,
        text: "name=\"bypass 8080\" dir=in action=bypass protocol=TCP localport=8080".into(),
    };
    let e = fw.edited(std::slice::from_ref(&edit)).unwrap();
    let v = e.explain(&tcp("192.168.1.7", 8080, GO)).overall;
    assert_eq!(v.decision, Decision::Drop);
    assert!(
        v.assumptions
            .iter()
            .any(|a| a == windows::NOT_AUTHENTICATED),
        "{v:?}"
    );
    // Edits are checked: a removed rule must still be there, netsh arguments must parse.
    let bad = portdoctor_firewall::Edit::InsertText {
        engine: portdoctor_firewall::EngineKind::Windows,
        scope: "Local".into(),
        before: None,
        text: "name=x dir=sideways".into(),
    };
    assert!(fw.edited(&[bad]).is_err());
    fw.rules.clear();
    assert!(!fw.unread());
}

/// Loopback connections are not filtered by Windows Firewall rules (KB 2771908), whatever the
/// profile's default: the seed's block-by-default export still lets 127.0.0.1 in.
#[test]
fn loopback_is_not_filtered_by_windows_firewall_rules() {
    let fw = load(&[
        "w2_export_firewallrules_excerpt.csv",
        "zh_cn_currentprofile.txt",
    ]);
    let mut pkt = tcp("127.0.0.1", 8080, r"C:\srv\app.exe");
    pkt.dst = "127.0.0.1".parse().unwrap();
    let v = fw.evaluate(&pkt);
    assert_eq!(v.decision, Decision::Accept);
    assert!(by(&v).contains("KB 2771908"), "{}", by(&v));
    let remote = fw.evaluate(&tcp("203.0.113.9", 8080, r"C:\srv\app.exe"));
    assert_eq!(remote.decision, Decision::Drop);
}
