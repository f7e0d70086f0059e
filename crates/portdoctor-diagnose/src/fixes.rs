//! The exact commands that open a port on each backend, placed where the verdict is decided.

use crate::evidence::{Backend, RuleSummary};
use crate::finding::{Fix, FixCommand, Operation};
use std::net::IpAddr;

/// The comment every rule portdoctor suggests carries, so `close`/`undo` can find it.
pub const TAG: &str = "portdoctor";

/// What to open.
#[derive(Debug, Clone, Copy)]
pub struct OpenRequest<'a> {
    /// Port.
    pub port: u16,
    /// `tcp` or `udp`.
    pub proto: &'a str,
    /// Limit to this source address or CIDR.
    pub from: Option<&'a str>,
    /// The rule (or policy) that decides today: the new rule goes before it.
    pub decided_by: Option<&'a RuleSummary>,
    /// firewalld: the zone of the interface the traffic arrives on.
    pub zone: Option<&'a str>,
    /// The address family of the traffic (for iptables vs ip6tables, ip vs ip6 saddr).
    pub ipv6: bool,
}

/// The fix that opens the port on `backend`.
pub fn open_port(backend: Backend, req: &OpenRequest<'_>) -> Fix {
    let operation = Operation::OpenPort {
        port: req.port,
        proto: req.proto.to_string(),
        from: req.from.map(str::to_string),
    };
    let who = req.from.map_or(String::new(), |f| format!(" from {f}"));
    let (title, commands) = match backend {
        Backend::Nftables => nft(req, &who),
        Backend::IptablesLegacy => iptables(req, &who, "legacy"),
        Backend::IptablesNft => iptables(req, &who, "nft"),
        Backend::Ufw => ufw(req, &who),
        Backend::Firewalld => firewalld(req, &who),
        Backend::WindowsFirewall => windows(req, &who),
        Backend::Pf => pf(req, &who),
    };
    Fix {
        title,
        backend: Some(backend),
        operation,
        commands,
    }
}

fn nft(req: &OpenRequest<'_>, who: &str) -> (String, Vec<FixCommand>) {
    let rule = req.decided_by;
    let family = rule
        .and_then(|r| r.family.clone())
        .unwrap_or_else(|| "inet".into());
    let table = rule
        .and_then(|r| r.table.clone())
        .unwrap_or_else(|| "filter".into());
    let chain = rule
        .and_then(|r| r.chain.clone())
        .unwrap_or_else(|| "input".into());
    let mut argv: Vec<String> = vec!["nft".into()];
    let title = match rule
        .filter(|r| !r.is_policy)
        .and_then(|r| r.position.clone())
    {
        Some(handle) => {
            argv.extend(
                [
                    "insert", "rule", &family, &table, &chain, "position", &handle,
                ]
                .map(String::from),
            );
            format!(
                "Allow {}/{}{who} in nftables, before rule {handle} of {family} {table} {chain}",
                req.port, req.proto
            )
        }
        None => {
            argv.extend(["add", "rule", &family, &table, &chain].map(String::from));
            format!(
                "Allow {}/{}{who} in nftables chain {family} {table} {chain} (its policy drops)",
                req.port, req.proto
            )
        }
    };
    if let Some(from) = req.from {
        argv.push(if from.contains(':') { "ip6" } else { "ip" }.into());
        argv.extend(["saddr".into(), from.to_string()]);
    }
    argv.extend([
        req.proto.to_string(),
        "dport".into(),
        req.port.to_string(),
        "accept".into(),
    ]);
    argv.extend(["comment".into(), format!("\"{TAG}\"")]);
    (title, vec![FixCommand::posix(argv)])
}

fn iptables(req: &OpenRequest<'_>, who: &str, flavour: &str) -> (String, Vec<FixCommand>) {
    let program = format!(
        "{}-{flavour}",
        if req.ipv6 { "ip6tables" } else { "iptables" }
    );
    let rule = req.decided_by;
    let table = rule
        .and_then(|r| r.table.clone())
        .unwrap_or_else(|| "filter".into());
    let chain = rule
        .and_then(|r| r.chain.clone())
        .unwrap_or_else(|| "INPUT".into());
    let mut argv: Vec<String> = vec![program.clone()];
    if table != "filter" {
        argv.extend(["-t".into(), table.clone()]);
    }
    let position = rule
        .filter(|r| !r.is_policy)
        .and_then(|r| r.position.clone());
    match &position {
        Some(pos) => argv.extend(["-I".into(), chain.clone(), pos.clone()]),
        None => argv.extend(["-A".into(), chain.clone()]),
    }
    argv.extend(["-p".into(), req.proto.to_string()]);
    if let Some(from) = req.from {
        argv.extend(["-s".into(), from.to_string()]);
    }
    argv.extend(["--dport".into(), req.port.to_string()]);
    argv.extend(["-m", "comment", "--comment", TAG, "-j", "ACCEPT"].map(String::from));
    let place = position.map_or(
        format!("at the end of {table}/{chain} (its policy drops)"),
        |p| format!("before rule {p} of {table}/{chain}"),
    );
    (
        format!(
            "Allow {}/{}{who} with {program}, {place}",
            req.port, req.proto
        ),
        vec![FixCommand::posix(argv)],
    )
}

fn ufw(req: &OpenRequest<'_>, who: &str) -> (String, Vec<FixCommand>) {
    let mut argv: Vec<String> = vec!["ufw".into()];
    // A ufw deny rule numbered N wins over later allows: insert before it.
    if let Some(n) = req
        .decided_by
        .filter(|r| !r.is_policy)
        .and_then(|r| r.position.clone())
        .filter(|p| p.parse::<u32>().is_ok())
    {
        argv.extend(["insert".into(), n]);
    }
    argv.push("allow".into());
    match req.from {
        Some(from) => argv.extend(
            [
                "from",
                from,
                "to",
                "any",
                "port",
                &req.port.to_string(),
                "proto",
                req.proto,
            ]
            .map(String::from),
        ),
        None => argv.push(format!("{}/{}", req.port, req.proto)),
    }
    (
        format!("Allow {}/{}{who} with ufw", req.port, req.proto),
        vec![FixCommand::posix(argv)],
    )
}

fn firewalld(req: &OpenRequest<'_>, who: &str) -> (String, Vec<FixCommand>) {
    let zone = req
        .zone
        .map(str::to_string)
        .or_else(|| req.decided_by.and_then(|r| r.table.clone()))
        .unwrap_or_else(|| "public".into());
    let what = match req.from {
        None => format!("--add-port={}/{}", req.port, req.proto),
        Some(from) => format!(
            "--add-rich-rule=rule family=\"{}\" source address=\"{from}\" port port=\"{}\" protocol=\"{}\" accept",
            if from.contains(':') { "ipv6" } else { "ipv4" },
            req.port,
            req.proto
        ),
    };
    let runtime = FixCommand::posix([
        "firewall-cmd".to_string(),
        format!("--zone={zone}"),
        what.clone(),
    ]);
    let permanent = FixCommand::posix([
        "firewall-cmd".to_string(),
        "--permanent".into(),
        format!("--zone={zone}"),
        what,
    ]);
    (
        format!(
            "Allow {}/{}{who} in firewalld zone {zone} (now and after reload)",
            req.port, req.proto
        ),
        vec![runtime, permanent],
    )
}

fn windows(req: &OpenRequest<'_>, who: &str) -> (String, Vec<FixCommand>) {
    let proto = req.proto.to_uppercase();
    let name = format!("{TAG}: allow {}/{}", req.port, req.proto);
    // Block rules beat allow rules on Windows: an allow cannot override a matching block.
    if let Some(block) = req.decided_by.filter(|r| !r.is_policy) {
        let rule = block.position.clone().unwrap_or_else(|| block.text.clone());
        return (
            format!(
                "Disable the Windows Firewall block rule \"{rule}\" (block rules beat allow rules)"
            ),
            vec![
                FixCommand::powershell(format!(
                    "Disable-NetFirewallRule -Name '{}'",
                    rule.replace('\'', "''")
                )),
                FixCommand::cmd([
                    "netsh",
                    "advfirewall",
                    "firewall",
                    "set",
                    "rule",
                    &format!("name={rule}"),
                    "new",
                    "enable=no",
                ]),
            ],
        );
    }
    let remote = req
        .from
        .map_or(String::new(), |f| format!(" -RemoteAddress {f}"));
    let ps = format!(
        "New-NetFirewallRule -DisplayName '{name}' -Group '{TAG}' -Direction Inbound -Protocol {proto} -LocalPort {} -Action Allow -Profile Any{remote}",
        req.port
    );
    let mut netsh: Vec<String> = ["netsh", "advfirewall", "firewall", "add", "rule"]
        .map(String::from)
        .to_vec();
    netsh.extend([
        format!("name={name}"),
        "dir=in".into(),
        "action=allow".into(),
        format!("protocol={proto}"),
        format!("localport={}", req.port),
    ]);
    if let Some(from) = req.from {
        netsh.push(format!("remoteip={from}"));
    }
    (
        format!(
            "Allow {}/{}{who} in Windows Defender Firewall (elevated prompt)",
            req.port, req.proto
        ),
        vec![FixCommand::powershell(ps), FixCommand::cmd(netsh)],
    )
}

fn pf(req: &OpenRequest<'_>, who: &str) -> (String, Vec<FixCommand>) {
    let from = req.from.unwrap_or("any");
    let rule = format!(
        "pass in quick proto {} from {from} to any port {} keep state\n",
        req.proto, req.port
    );
    (
        format!(
            "Allow {}/{}{who} in pf anchor \"{TAG}\" (pf.conf must reference anchor \"{TAG}\")",
            req.port, req.proto
        ),
        vec![FixCommand::posix_with_stdin(
            ["pfctl", "-a", TAG, "-f", "-"],
            &rule,
        )],
    )
}

/// The fix for a service bound to the wrong address: a change in the service itself.
pub fn change_bind(current: IpAddr, port: u16, cmdline: &[String]) -> Fix {
    let to = if current.is_ipv6() {
        format!("[::]:{port}")
    } else {
        format!("0.0.0.0:{port}")
    };
    let from = match current {
        IpAddr::V6(a) => format!("[{a}]:{port}"),
        a => format!("{a}:{port}"),
    };
    let loopback_arg = cmdline
        .iter()
        .skip(1)
        .find(|a| a.contains("127.0.0.1") || a.contains("localhost") || *a == "::1");
    let title = match loopback_arg {
        Some(arg) => format!(
            "Start the service listening on {to} instead of {from}: its command line passes `{arg}`; replace that address with {}",
            if current.is_ipv6() { "::" } else { "0.0.0.0" }
        ),
        None => format!(
            "Make the service listen on {to} instead of {from} (e.g. Go `http.ListenAndServe(\":{port}\", …)`, Python `host=\"0.0.0.0\"`, Node `listen({port})` without a host, Spring `server.address=0.0.0.0`)"
        ),
    };
    Fix {
        title,
        backend: None,
        operation: Operation::ChangeBind { from, to },
        commands: Vec::new(),
    }
}

/// The fix for a process that should not hold the port.
pub fn stop_process(pid: u32, name: &str) -> Fix {
    Fix {
        title: format!("Stop {name} (pid {pid}), which holds the port"),
        backend: None,
        operation: Operation::StopProcess {
            pid,
            name: name.to_string(),
        },
        commands: vec![FixCommand::posix([
            "kill".to_string(),
            "-TERM".into(),
            pid.to_string(),
        ])],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(family: &str, table: &str, chain: &str, pos: &str, policy: bool) -> RuleSummary {
        RuleSummary {
            family: Some(family.into()),
            table: Some(table.into()),
            chain: Some(chain.into()),
            position: Some(pos.into()),
            text: "tcp dport 8080 drop".into(),
            comment: None,
            is_policy: policy,
        }
    }

    fn req<'a>(r: Option<&'a RuleSummary>, from: Option<&'a str>) -> OpenRequest<'a> {
        OpenRequest {
            port: 8080,
            proto: "tcp",
            from,
            decided_by: r,
            zone: None,
            ipv6: false,
        }
    }

    #[test]
    fn nft_inserts_before_the_deciding_rule() {
        let r = rule("inet", "filter", "input", "7", false);
        let f = open_port(Backend::Nftables, &req(Some(&r), None));
        assert_eq!(
            f.commands[0].display,
            "nft insert rule inet filter input position 7 tcp dport 8080 accept comment '\"portdoctor\"'"
        );
        let p = rule("inet", "filter", "input", "", true);
        let f = open_port(Backend::Nftables, &req(Some(&p), Some("198.18.0.2")));
        assert_eq!(
            f.commands[0].display,
            "nft add rule inet filter input ip saddr 198.18.0.2 tcp dport 8080 accept comment '\"portdoctor\"'"
        );
    }

    #[test]
    fn iptables_inserts_at_position_with_comment() {
        let r = rule("ip", "filter", "INPUT", "3", false);
        let f = open_port(Backend::IptablesLegacy, &req(Some(&r), None));
        assert_eq!(
            f.commands[0].display,
            "iptables-legacy -I INPUT 3 -p tcp --dport 8080 -m comment --comment portdoctor -j ACCEPT"
        );
    }

    #[test]
    fn ufw_firewalld_windows_pf() {
        assert_eq!(
            open_port(Backend::Ufw, &req(None, None)).commands[0].display,
            "ufw allow 8080/tcp"
        );
        let fw = open_port(
            Backend::Firewalld,
            &OpenRequest {
                zone: Some("public"),
                ..req(None, None)
            },
        );
        assert_eq!(
            fw.commands[0].display,
            "firewall-cmd --zone=public --add-port=8080/tcp"
        );
        assert_eq!(
            fw.commands[1].display,
            "firewall-cmd --permanent --zone=public --add-port=8080/tcp"
        );
        let win = open_port(Backend::WindowsFirewall, &req(None, None));
        assert!(
            win.commands[0]
                .display
                .starts_with("New-NetFirewallRule -DisplayName 'portdoctor: allow 8080/tcp'")
        );
        assert_eq!(
            win.commands[1].display,
            "netsh advfirewall firewall add rule name=\"portdoctor: allow 8080/tcp\" dir=in action=allow protocol=TCP localport=8080"
        );
        let pf = open_port(Backend::Pf, &req(None, None));
        assert_eq!(
            pf.commands[0].stdin.as_deref(),
            Some("pass in quick proto tcp from any to any port 8080 keep state\n")
        );
    }

    #[test]
    fn bind_fix_points_at_the_command_line() {
        let f = change_bind(
            "127.0.0.1".parse().unwrap(),
            8080,
            &[
                "python3".into(),
                "-m".into(),
                "http.server".into(),
                "--bind".into(),
                "127.0.0.1".into(),
            ],
        );
        assert!(f.title.contains("`127.0.0.1`"), "{}", f.title);
        assert_eq!(
            f.operation,
            Operation::ChangeBind {
                from: "127.0.0.1:8080".into(),
                to: "0.0.0.0:8080".into()
            }
        );
    }
}
