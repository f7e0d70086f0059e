//! Findings, their stable codes, and structured fixes rendered as exact commands.

use crate::evidence::Verification;
use serde::Serialize;

/// How bad a finding is. Ordered: `Error` sorts first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The port cannot be reached because of this.
    Error,
    /// Likely to hurt, or cannot be ruled out.
    Warning,
    /// Worth knowing.
    Info,
}

/// Stable finding codes. The numbers never change meaning; new causes get new numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// PD000: the port is reachable (the healthy summary).
    Reachable,
    /// PD001: nothing listens on the port.
    NothingListening,
    /// PD002: every listener is bound to 127.0.0.1 / ::1.
    BoundToLoopback,
    /// PD003: only IPv6 listeners (v6only): IPv4 clients cannot connect.
    Ipv6Only,
    /// PD004: only IPv4 listeners: IPv6 clients cannot connect.
    Ipv4Only,
    /// PD005: several programs hold the port with overlapping addresses.
    PortConflict,
    /// PD006: the port is held by a program other than the expected one.
    PortHeldByOther,
    /// PD007: listening on specific addresses, none of them the one the peer connects to.
    BoundElsewhere,
    /// PD010: a firewall rule drops or rejects the connection.
    FirewallBlocks,
    /// PD011: default-deny policy and no rule allows the port.
    DefaultDeny,
    /// PD012: an allow rule exists but an earlier or higher-precedence block wins.
    AllowShadowed,
    /// PD013: the firewall lets some sources in but not others.
    SomeSourcesOnly,
    /// PD014: firewalld opens the port in a zone the interface is not in.
    FirewalldWrongZone,
    /// PD015: a Windows allow rule misses on profile, program, service or interface type.
    WindowsRuleMismatch,
    /// PD016: the firewall's decision cannot be known from its ruleset.
    FirewallUnknown,
    /// PD017: the firewall could not be read, so reachability cannot be claimed.
    FirewallUnchecked,
    /// PD020: CLOSE_WAIT build-up: the application does not close connections.
    CloseWaitBuildup,
    /// PD021: TIME_WAIT build-up.
    TimeWaitBuildup,
    /// PD030: listening but unhealthy (HTTP 5xx, TLS failure).
    Unhealthy,
    /// PD040: reachable locally, filtered from the peer, no local rule to blame.
    UpstreamFiltered,
    /// PD041: the peer gets refused while local connections work.
    PeerRefused,
    /// PD050: a rule on the forward path drops or rejects a connection a DNAT sends on
    /// (DOCKER-USER, a policy chain), or blocks some endpoints of a load-balanced one.
    ForwardBlocked,
    /// PD051: a DNAT sends the port to an address and port where nothing listens.
    DnatNoListener,
    /// PD052: the container (the namespace a DNAT sends the port to) listens on loopback only.
    ContainerLoopback,
    /// PD053: the forward path is closed by default: the forward chain's drop policy, or the
    /// host does not forward (`ip_forward` 0), or no route to the DNAT target.
    ForwardingClosed,
    /// PD054: a ufw or firewalld rule for the port does not apply, because a DNAT forwards
    /// the connection past the input rules (the classic published-Docker-port surprise).
    ManagerBypassed,
    /// PD090: a part of the evidence could not be gathered.
    EvidenceMissing,
}

impl Code {
    /// The stable identifier, e.g. `PD002`.
    pub fn id(self) -> &'static str {
        use Code::*;
        match self {
            Reachable => "PD000",
            NothingListening => "PD001",
            BoundToLoopback => "PD002",
            Ipv6Only => "PD003",
            Ipv4Only => "PD004",
            PortConflict => "PD005",
            PortHeldByOther => "PD006",
            BoundElsewhere => "PD007",
            FirewallBlocks => "PD010",
            DefaultDeny => "PD011",
            AllowShadowed => "PD012",
            SomeSourcesOnly => "PD013",
            FirewalldWrongZone => "PD014",
            WindowsRuleMismatch => "PD015",
            FirewallUnknown => "PD016",
            FirewallUnchecked => "PD017",
            CloseWaitBuildup => "PD020",
            TimeWaitBuildup => "PD021",
            Unhealthy => "PD030",
            UpstreamFiltered => "PD040",
            PeerRefused => "PD041",
            ForwardBlocked => "PD050",
            DnatNoListener => "PD051",
            ContainerLoopback => "PD052",
            ForwardingClosed => "PD053",
            ManagerBypassed => "PD054",
            EvidenceMissing => "PD090",
        }
    }

    /// The stable kebab-case name, e.g. `bound-to-loopback`.
    pub fn name(self) -> &'static str {
        use Code::*;
        match self {
            Reachable => "reachable",
            NothingListening => "nothing-listening",
            BoundToLoopback => "bound-to-loopback",
            Ipv6Only => "ipv6-only",
            Ipv4Only => "ipv4-only",
            PortConflict => "port-conflict",
            PortHeldByOther => "port-held-by-other",
            BoundElsewhere => "bound-elsewhere",
            FirewallBlocks => "firewall-blocks",
            DefaultDeny => "default-deny",
            AllowShadowed => "allow-shadowed",
            SomeSourcesOnly => "some-sources-only",
            FirewalldWrongZone => "firewalld-wrong-zone",
            WindowsRuleMismatch => "windows-rule-mismatch",
            FirewallUnknown => "firewall-unknown",
            FirewallUnchecked => "firewall-unchecked",
            CloseWaitBuildup => "close-wait-buildup",
            TimeWaitBuildup => "time-wait-buildup",
            Unhealthy => "unhealthy",
            UpstreamFiltered => "upstream-filtered",
            PeerRefused => "peer-refused",
            ForwardBlocked => "forward-blocked",
            DnatNoListener => "dnat-no-listener",
            ContainerLoopback => "container-loopback",
            ForwardingClosed => "forwarding-closed",
            ManagerBypassed => "input-bypassed",
            EvidenceMissing => "evidence-missing",
        }
    }

    /// Every code, for documentation.
    pub const ALL: [Code; 27] = [
        Code::Reachable,
        Code::NothingListening,
        Code::BoundToLoopback,
        Code::Ipv6Only,
        Code::Ipv4Only,
        Code::PortConflict,
        Code::PortHeldByOther,
        Code::BoundElsewhere,
        Code::FirewallBlocks,
        Code::DefaultDeny,
        Code::AllowShadowed,
        Code::SomeSourcesOnly,
        Code::FirewalldWrongZone,
        Code::WindowsRuleMismatch,
        Code::FirewallUnknown,
        Code::FirewallUnchecked,
        Code::CloseWaitBuildup,
        Code::TimeWaitBuildup,
        Code::Unhealthy,
        Code::UpstreamFiltered,
        Code::PeerRefused,
        Code::ForwardBlocked,
        Code::DnatNoListener,
        Code::ContainerLoopback,
        Code::ForwardingClosed,
        Code::ManagerBypassed,
        Code::EvidenceMissing,
    ];
}

impl Serialize for Code {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

/// One cause, with its proof and its fixes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    /// Stable code, serialised as `PD002`.
    pub code: Code,
    /// Stable name, e.g. `bound-to-loopback`.
    pub name: &'static str,
    /// Severity.
    pub severity: Severity,
    /// One line: what is wrong.
    pub summary: String,
    /// The facts that prove it, one per line.
    pub evidence: Vec<String>,
    /// Ways to fix it, best first.
    pub fixes: Vec<Fix>,
}

impl Finding {
    /// A finding without fixes yet.
    pub fn new(code: Code, severity: Severity, summary: impl Into<String>) -> Finding {
        Finding {
            code,
            name: code.name(),
            severity,
            summary: summary.into(),
            evidence: Vec::new(),
            fixes: Vec::new(),
        }
    }

    /// Adds a line of evidence.
    pub fn with_evidence(mut self, line: impl Into<String>) -> Finding {
        self.evidence.push(line.into());
        self
    }

    /// Adds a fix.
    pub fn with_fix(mut self, fix: Fix) -> Finding {
        self.fixes.push(fix);
        self
    }
}

/// What a fix does, structured so `open`/`free` can apply it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Operation {
    /// Allow inbound connections to a port.
    OpenPort {
        /// Port.
        port: u16,
        /// `tcp` or `udp`.
        proto: String,
        /// Only from this source (address or CIDR), if limited.
        from: Option<String>,
    },
    /// Change the address the service binds to (a change in the service, not the host).
    ChangeBind {
        /// Current bind, e.g. `127.0.0.1:8080`.
        from: String,
        /// Suggested bind, e.g. `0.0.0.0:8080`.
        to: String,
    },
    /// Stop the process holding the port.
    StopProcess {
        /// Its pid.
        pid: u32,
        /// Its name.
        name: String,
    },
    /// Move a network interface to another firewalld zone.
    ChangeZone {
        /// Interface.
        iface: String,
        /// Target zone.
        zone: String,
    },
    /// No command can fix it from here; what to check.
    Investigate {
        /// Where to look.
        hint: String,
    },
}

/// How to run a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Shell {
    /// A POSIX shell (Linux, macOS).
    Posix,
    /// Windows PowerShell (as administrator).
    Powershell,
    /// Windows cmd.exe (as administrator).
    Cmd,
}

/// One exact command: an argument vector, optional standard input, and its display form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FixCommand {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Text to feed on standard input, if any.
    pub stdin: Option<String>,
    /// Where to type it.
    pub shell: Shell,
    /// The command as a user would type it.
    pub display: String,
}

impl FixCommand {
    /// A POSIX command from an argument vector.
    pub fn posix<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> FixCommand {
        let argv: Vec<String> = argv.into_iter().map(Into::into).collect();
        let display = argv
            .iter()
            .map(|a| posix_quote(a))
            .collect::<Vec<_>>()
            .join(" ");
        FixCommand {
            argv,
            stdin: None,
            shell: Shell::Posix,
            display,
        }
    }

    /// A POSIX command fed `stdin` (shown as `echo '…' | cmd`).
    pub fn posix_with_stdin<S: Into<String>>(
        argv: impl IntoIterator<Item = S>,
        stdin: &str,
    ) -> FixCommand {
        let mut c = FixCommand::posix(argv);
        c.display = format!("echo {} | {}", posix_quote(stdin.trim_end()), c.display);
        c.stdin = Some(stdin.to_string());
        c
    }

    /// A PowerShell command line (display only; argv is `powershell -Command …`).
    pub fn powershell(line: impl Into<String>) -> FixCommand {
        let line = line.into();
        FixCommand {
            argv: vec![
                "powershell".into(),
                "-NoProfile".into(),
                "-Command".into(),
                line.clone(),
            ],
            stdin: None,
            shell: Shell::Powershell,
            display: line,
        }
    }

    /// A cmd.exe command from an argument vector (e.g. `netsh …`).
    pub fn cmd<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> FixCommand {
        let argv: Vec<String> = argv.into_iter().map(Into::into).collect();
        let display = argv
            .iter()
            .map(|a| match a.split_once('=') {
                _ if !a.contains(' ') => a.clone(),
                Some((key, value)) => format!("{key}=\"{value}\""),
                None => format!("\"{a}\""),
            })
            .collect::<Vec<_>>()
            .join(" ");
        FixCommand {
            argv,
            stdin: None,
            shell: Shell::Cmd,
            display,
        }
    }
}

/// Quotes a word for a POSIX shell only when it needs it.
pub fn posix_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=,+@%".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// A way to fix a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fix {
    /// One line: what the fix does.
    pub title: String,
    /// Who the commands speak to, if a firewall: the manager in charge (`ufw`,
    /// `firewalld`) or the backend (`nftables`, `iptables (legacy)`, …).
    pub backend: Option<String>,
    /// The structured operation.
    pub operation: Operation,
    /// The exact commands, in order (empty when the fix is a change in the service).
    pub commands: Vec<FixCommand>,
    /// For firewall fixes: whether re-evaluating the rules with the fix applied lets the
    /// packets in (checked before it is printed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

impl Fix {
    /// A fix that is a change outside the firewall (no commands, or plain ones).
    pub fn plain(title: impl Into<String>, operation: Operation, commands: Vec<FixCommand>) -> Fix {
        Fix {
            title: title.into(),
            backend: None,
            operation,
            commands,
            verification: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_stable() {
        let mut ids: Vec<&str> = Code::ALL.iter().map(|c| c.id()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), Code::ALL.len());
        assert_eq!(Code::BoundToLoopback.id(), "PD002");
        assert_eq!(Code::BoundToLoopback.name(), "bound-to-loopback");
    }

    #[test]
    fn posix_quoting() {
        assert_eq!(posix_quote("8080/tcp"), "8080/tcp");
        assert_eq!(posix_quote("a b"), "'a b'");
        assert_eq!(posix_quote("it's"), r"'it'\''s'");
        assert_eq!(posix_quote(""), "''");
        let c = FixCommand::posix([
            "nft",
            "add",
            "rule",
            "inet",
            "filter",
            "input",
            "tcp dport 1",
        ]);
        assert_eq!(c.display, "nft add rule inet filter input 'tcp dport 1'");
    }
}
