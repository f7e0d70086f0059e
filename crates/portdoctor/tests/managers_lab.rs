//! ufw and firewalld, the real daemons from Debian, in lab namespaces with private mounts:
//! `explain` and `diagnose` name their own rules, and the fixes they print work when applied.

// Lab tests need Linux network namespaces; the Windows build (run under Wine) skips the file.
#![cfg(target_os = "linux")]

mod common;

use common::*;
use portdoctor_lab::Lab;
use portdoctor_lab::managers::start_ufw;

const PORT: u16 = 8080;

fn ufw_lab(name: &str) -> Option<Lab> {
    let lab = Lab::for_test(name)?;
    start_ufw(lab.host()).expect("ufw starts in the lab");
    Some(lab)
}

/// `diagnose 8080` from the peer, which must fail (exit 1); the text report goes to stderr
/// for the test's log.
fn diagnose_blocked(lab: &Lab) -> serde_json::Value {
    let (code, doc) = diagnose_from_peer(lab, PORT, &[]);
    eprintln!(
        "{}",
        portdoctor_text(
            lab.host(),
            &["diagnose", "8080", "--from", &lab.peer_v4().to_string()]
        )
    );
    assert_eq!(code, 1);
    doc
}

#[test]
fn ufw_deny_names_the_ufw_rule_and_its_fix_works() {
    let Some(lab) = ufw_lab("ufw_deny") else {
        return;
    };
    let _svc = Service::start(lab.host(), "0.0.0.0", PORT, "-", "hold");
    let h = lab.host();
    h.run("ufw", &["allow", "22/tcp"]).unwrap();
    h.run("ufw", &["deny", "8080/tcp", "comment", "no web"])
        .unwrap();
    let peer = lab.peer_v4().to_string();
    let (_, ex) = portdoctor_json(h, &["explain", "8080", "--from", &peer]);
    let managed = &ex["overall"]["managed"];
    assert_eq!(managed["manager"], "ufw", "{ex:#}");
    assert_eq!(managed["number"], 2, "{ex:#}");
    assert_eq!(managed["text"], "8080/tcp DENY IN Anywhere");
    assert_eq!(managed["comment"], "no web");
    let doc = diagnose_blocked(&lab);
    let f = top(&doc);
    assert_eq!(f["code"], "PD010", "{doc:#}");
    assert!(
        f["summary"].as_str().unwrap().contains("ufw rule [2]"),
        "{f:#}"
    );
    assert!(!peer_connects(&lab, lab.host_v4().into(), PORT));
    apply_first_fix(h, &doc);
    assert!(peer_connects(&lab, lab.host_v4().into(), PORT));
}

#[test]
fn ufw_default_deny_names_the_policy_and_allow_works() {
    let Some(lab) = ufw_lab("ufw_default_deny") else {
        return;
    };
    let _svc = Service::start(lab.host(), "::", PORT, "0", "hold");
    let h = lab.host();
    h.run("ufw", &["default", "deny", "incoming"]).unwrap();
    let (code, doc) = diagnose_from_peer(&lab, PORT, &[]);
    eprintln!("{}", portdoctor_text(h, &["diagnose", "8080"]));
    assert_eq!(code, 1);
    let f = top(&doc);
    assert_eq!(f["code"], "PD011", "{doc:#}");
    assert!(
        f["summary"]
            .as_str()
            .unwrap()
            .contains("default deny (incoming)"),
        "{f:#}"
    );
    // The broad fix (everyone): `ufw allow 8080/tcp`.
    let broad = &f["fixes"][1];
    assert_eq!(
        broad["commands"][0]["display"], "ufw allow 8080/tcp",
        "{f:#}"
    );
    apply_fix(h, broad);
    assert!(peer_connects(&lab, lab.host_v4().into(), PORT));
    assert!(peer_connects(&lab, lab.host_v6().into(), PORT));
}

#[test]
fn firewalld_port_not_allowed_names_zone_public() {
    let Some((lab, _fw)) = firewalld_lab("firewalld_port_not_allowed") else {
        return;
    };
    let h = lab.host();
    let _svc = Service::start(h, "0.0.0.0", PORT, "-", "hold");
    let doc = diagnose_blocked(&lab);
    let f = top(&doc);
    assert_eq!(f["code"], "PD011", "{doc:#}");
    assert!(
        f["summary"].as_str().unwrap().contains("zone public"),
        "{f:#}"
    );
    let broad = &f["fixes"][1];
    assert_eq!(
        broad["commands"][0]["display"], "firewall-cmd --zone=public --add-port=8080/tcp",
        "{f:#}"
    );
    apply_fix(h, broad);
    assert!(peer_connects(&lab, lab.host_v4().into(), PORT));
    let permanent = h
        .run(
            "firewall-cmd",
            &["--permanent", "--zone=public", "--list-ports"],
        )
        .unwrap();
    assert!(permanent.contains("8080/tcp"), "{permanent}");
}

#[test]
fn firewalld_port_in_the_wrong_zone() {
    let Some((lab, _fw)) = firewalld_lab("firewalld_wrong_zone") else {
        return;
    };
    let h = lab.host();
    h.run("firewall-cmd", &["--zone=internal", "--add-port=8080/tcp"])
        .unwrap();
    let _svc = Service::start(h, "0.0.0.0", PORT, "-", "hold");
    let (code, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert_eq!(code, 1);
    let f = top(&doc);
    assert_eq!(f["code"], "PD014", "{doc:#}");
    let summary = f["summary"].as_str().unwrap();
    assert!(
        summary.contains("internal") && summary.contains("public"),
        "{summary}"
    );
    apply_first_fix(h, &doc);
    assert!(peer_connects(&lab, lab.host_v4().into(), PORT));
}

#[test]
fn firewalld_rich_rule_reject_is_named() {
    let Some((lab, _fw)) = firewalld_lab("firewalld_rich_rule") else {
        return;
    };
    let h = lab.host();
    h.run("firewall-cmd", &["--zone=public", "--add-port=8080/tcp"])
        .unwrap();
    let rich = format!(
        "rule family=\"ipv4\" source address=\"{}\" port port=\"8080\" protocol=\"tcp\" reject",
        lab.peer_v4()
    );
    h.run(
        "firewall-cmd",
        &["--zone=public", &format!("--add-rich-rule={rich}")],
    )
    .unwrap();
    let _svc = Service::start(h, "0.0.0.0", PORT, "-", "hold");
    let doc = diagnose_blocked(&lab);
    let f = top(&doc);
    assert!(
        f["summary"].as_str().unwrap().contains("rich rule"),
        "{f:#}"
    );
    assert!(
        f["summary"]
            .as_str()
            .unwrap()
            .contains(&lab.peer_v4().to_string()),
        "{f:#}"
    );
    apply_first_fix(h, &doc);
    assert!(peer_connects(&lab, lab.host_v4().into(), PORT));
}

#[test]
fn unreadable_manager_files_are_named_with_file_and_line_and_the_rest_is_shown() {
    let Some(lab) = ufw_lab("unreadable_manager_files") else {
        return;
    };
    let h = lab.host();
    h.run("ufw", &["deny", "8080/tcp"]).unwrap();
    let _svc = Service::start(h, "0.0.0.0", PORT, "-", "hold");
    // Break one tuple line of user.rules after ufw loaded it (the kernel keeps the rules).
    h.run(
        "sed",
        &[
            "-i",
            "s/^### tuple ### deny tcp 8080/### tuple ### frobnicate tcp 8080/",
            "/etc/ufw/user.rules",
        ],
    )
    .unwrap();
    let (code, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert_eq!(code, 1, "{doc:#}");
    let f = finding(&doc, "PD090");
    let evidence = f["evidence"].to_string();
    assert!(evidence.contains("/etc/ufw/user.rules, line"), "{f:#}");
    assert!(evidence.contains("frobnicate"), "{f:#}");
    // The verdict is still there, from the kernel's rules.
    assert_eq!(top(&doc)["code"], "PD010", "{doc:#}");
}

#[test]
fn unreadable_firewalld_zone_xml_is_named_with_file_and_line() {
    let Some((lab, _fw)) = firewalld_lab("unreadable_zone_xml") else {
        return;
    };
    let h = lab.host();
    h.run_stdin(
        "sh",
        &["-c", "cat > /etc/firewalld/zones/broken.xml"],
        "<?xml version=\"1.0\"?>\n<zone>\n  <port port=\"80\" protocol=\"tcp\">\n</zone>\n",
    )
    .unwrap();
    let _svc = Service::start(h, "0.0.0.0", PORT, "-", "hold");
    let (code, doc) = diagnose_from_peer(&lab, PORT, &[]);
    assert_eq!(code, 1, "{doc:#}");
    let evidence = finding(&doc, "PD090")["evidence"].to_string();
    assert!(
        evidence.contains("/etc/firewalld/zones/broken.xml, line 4"),
        "{evidence}"
    );
    assert_eq!(top(&doc)["code"], "PD011", "{doc:#}");
}
