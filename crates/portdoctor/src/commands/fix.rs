//! `portdoctor open`, `close`, `undo`, `history`, `confirm`: firewall changes through the fix
//! engine (`portdoctor-fix`): planned where the verdict is decided, journaled, atomic,
//! verified, undoable, lock-out guarded.

use crate::commands::diagnose::parse_port_proto;
use crate::commands::peer::AgentPeer;
use crate::exit::{CliError, Exit, environment, usage};
use crate::output::{Output, note};
use clap::Args;
use portdoctor_firewall::collect::CommandRunner;
use portdoctor_firewall::host::Host;
use portdoctor_firewall::plan::Goal;
use portdoctor_firewall::viewpoint::LocalAddr;
use portdoctor_fix::guard::{self, SshSession};
use portdoctor_fix::{FixError, Fixer, Journal, Request, Status, state_dir, targets};
use portdoctor_sockets::Proto;
use serde::Serialize;
use std::io::IsTerminal;

const BACKENDS: [&str; 7] = [
    "nftables",
    "iptables-legacy",
    "iptables-nft",
    "ufw",
    "firewalld",
    "windows-firewall",
    "pf",
];

/// Arguments of `portdoctor open` and `portdoctor close`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  sudo portdoctor open 8080                     let everyone reach 8080/tcp
  sudo portdoctor open 8080 --from 10.0.0.0/8   only that network
  sudo portdoctor open 53/udp --dry-run         print the exact commands, change nothing
  sudo portdoctor open 8080 --ttl 30m --yes     closes again after 30 minutes
  sudo portdoctor open 8080 --confirm 2m        rolled back unless `portdoctor confirm ID`
  sudo portdoctor close 8080                    keep everyone out of 8080/tcp
  sudo portdoctor open 8080 --yes --peer http://192.0.2.10:9187
                                               ... then the agent there connects to check

The change goes through the manager in charge (ufw, firewalld) or the backend whose rule
decides (nftables, iptables legacy or nft), placed where it wins, tagged portdoctor:ID. The old
state is saved in the journal ($PORTDOCTOR_STATE_DIR, else /var/lib/portdoctor) first; nft and
iptables changes are applied in one transaction; the rules are read back and re-evaluated
afterwards. A change that would cut the SSH session this runs in, or the last way in to sshd,
is refused unless --force. Opening an open port changes nothing and says so.
--ttl and --confirm: a background portdoctor undoes the change when due; every later
portdoctor open/close/undo/history run also undoes changes that fell due while nothing ran
(after a reboot nft and iptables rules are gone anyway; ufw and firewalld ones are not).
With --peer, the agent probes this machine back afterwards: when the rules read back let the
port in but the peer still cannot connect, something outside this machine (a cloud security
group, a router, the peer's own firewall) drops it, and the exit code is 1.
Exit codes: 0 done and verified (or nothing to do); 1 refused, or not verified (by the rules
read back, or by the --peer agent); 2 bad usage; 3 needs root, a tool failed, the --peer
agent did not answer, or the journal is damaged.")]
pub struct ChangeArgs {
    /// The port, optionally with its protocol: 8080, 8080/tcp, 53/udp.
    #[arg(value_name = "PORT[/PROTO]", value_parser = parse_port_proto)]
    pub target: (u16, Proto),

    /// Only this source address or network (CIDR).
    #[arg(long, value_name = "CIDR", value_parser = targets::parse_source)]
    pub from: Option<String>,

    /// Only traffic arriving on this interface's addresses.
    #[arg(long, value_name = "IF")]
    pub iface: Option<String>,

    /// Undo the change after this long (e.g. 90s, 30m, 2h).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub ttl: Option<u64>,

    /// Roll the change back unless `portdoctor confirm ID` comes within this long.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub confirm: Option<u64>,

    /// Insist on this firewall: nftables, iptables-legacy, iptables-nft, ufw, firewalld,
    /// windows-firewall, pf (refused when another one decides).
    #[arg(long, value_name = "B", value_parser = clap::builder::PossibleValuesParser::new(BACKENDS))]
    pub backend: Option<String>,

    /// Print the exact commands; change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Apply without asking.
    #[arg(long, short)]
    pub yes: bool,

    /// Skip the lock-out guard, and apply a change that could not be verified beforehand.
    #[arg(long)]
    pub force: bool,

    /// A `portdoctor agent` on another machine that probes this one back once the change is
    /// applied: a real connection from outside settles it.
    #[command(flatten)]
    pub agent: AgentPeer,
}

/// Arguments of `portdoctor undo`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  sudo portdoctor undo              undo the latest applied change
  sudo portdoctor undo 3fa9c2d1     undo that change (see `portdoctor history`)

Only the change's own rules (tagged portdoctor:ID) are touched; when someone changed them
since, undo refuses and says so.")]
pub struct UndoArgs {
    /// The change (default: the latest applied one).
    #[arg(value_name = "ID")]
    pub id: Option<String>,
}

/// Arguments of `portdoctor confirm`.
#[derive(Debug, Args)]
pub struct ConfirmArgs {
    /// The change applied with --confirm.
    #[arg(value_name = "ID")]
    pub id: String,
}

/// Arguments of `portdoctor history`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  portdoctor history\n  portdoctor history --json | jq '.[0]'")]
pub struct HistoryArgs {}

/// Arguments of the hidden `portdoctor expire` (the TTL / confirmation watchdog).
#[derive(Debug, Args)]
pub struct ExpireArgs {
    /// Sleep until this Unix time first.
    #[arg(long)]
    pub at: u64,
}

/// `90`, `90s`, `30m`, `2h` → seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let (num, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (90s, 30m, 2h)"))?;
    let mul = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("`{text}` is not a duration (90s, 30m, 2h)")),
    };
    match n.checked_mul(mul) {
        Some(0) | None => Err(format!("`{text}` is not a usable duration")),
        Some(s) => Ok(s),
    }
}

/// Maps fix-engine errors to exit codes.
pub fn fix_error(e: FixError) -> CliError {
    match e {
        FixError::UnknownChange(_) => usage(e.to_string()),
        FixError::ChangedSince(_) | FixError::LockOut(_) | FixError::Refused(_) => {
            CliError::Failed(e.to_string())
        }
        _ => environment(e.to_string()),
    }
}

/// Whether this process may change the firewall, as an error that says how.
pub fn require_root() -> Result<(), CliError> {
    if !portdoctor_fix::is_root() {
        return Err(environment(NEEDS_ROOT));
    }
    Ok(())
}

/// What changing the firewall needs, where that is checked (Unix; on Windows the commands
/// themselves refuse when not elevated).
const NEEDS_ROOT: &str = if cfg!(target_os = "linux") {
    "changing the firewall needs root (or CAP_NET_ADMIN): run it with sudo"
} else {
    "changing the firewall needs root: run it with sudo"
};

/// A fixer on the journal, after settling interrupted and expired changes.
pub fn fixer(runner: &CommandRunner) -> Result<Fixer<'_>, CliError> {
    let journal = Journal::open(&state_dir()).map_err(fix_error)?;
    let f = Fixer { runner, journal };
    for line in f.repair().map_err(fix_error)? {
        note(&line);
    }
    for line in f.expire_due().map_err(fix_error)? {
        note(&line);
    }
    Ok(f)
}

fn local_addrs() -> Vec<LocalAddr> {
    crate::gather::local_addresses()
        .unwrap_or_default()
        .into_iter()
        .map(|a| LocalAddr {
            iface: a.iface,
            addr: a.addr,
        })
        .collect()
}

/// sshd's listening ports (by owner name), for the lock-out guard.
fn sshd_ports() -> Vec<u16> {
    let opts = portdoctor_sockets::SnapshotOptions {
        tcp: true,
        udp: false,
        owners: true,
    };
    let mut ports: Vec<u16> = portdoctor_sockets::snapshot(&opts)
        .map(|s| {
            s.sockets
                .iter()
                .filter(|s| portdoctor_sockets::query::is_listener(s))
                .filter(|s| s.owners.iter().any(|p| p.name == "sshd"))
                .map(|s| s.local_port)
                .collect()
        })
        .unwrap_or_default();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The JSON document of `open` / `close`.
#[derive(Serialize)]
struct ChangeJson<'a> {
    id: &'a str,
    status: &'static str,
    change: &'a portdoctor_fix::Change,
    verified: bool,
    misses: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    peer: Option<&'a PeerCheck>,
}

/// What the `--peer` agent saw when it connected after the change.
#[derive(Serialize)]
struct PeerCheck {
    /// The agent's URL.
    agent: String,
    /// `open`, `closed`, `filtered`, `unreachable`, or `error`.
    state: &'static str,
    /// The reason, for unreachable and error.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// Whether that is what the change was for.
    as_wanted: bool,
}

impl PeerCheck {
    /// Asks the agent to connect, and judges the answer against `goal`.
    fn run(
        agent: &AgentPeer,
        probe: &crate::sys::BoxedPeerProbe,
        at: std::net::IpAddr,
        port: u16,
        goal: Goal,
    ) -> PeerCheck {
        let (outcome, _) = probe(at, port);
        let (state, reason) = (outcome.name(), outcome.detail().map(String::from));
        // Open: through the firewall, whether or not something listens (closed is a RST).
        let as_wanted = match goal {
            Goal::Open => matches!(state, "open" | "closed"),
            Goal::Close => matches!(state, "filtered" | "unreachable" | "closed"),
        };
        PeerCheck {
            agent: agent.peer.clone().unwrap_or_default(),
            state,
            reason,
            as_wanted,
        }
    }

    /// The lines that say it.
    fn lines(&self, goal: Goal) -> Vec<String> {
        let why = self
            .reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default();
        let mut lines = vec![format!(
            "from the peer (agent {}): {}{why}",
            self.agent, self.state
        )];
        match (self.state, self.as_wanted, goal) {
            ("error", ..) => lines.push("the peer's check could not be made".into()),
            (_, false, Goal::Open) => lines.push(
                "the rules on this machine let it in, yet the peer cannot connect: something \
                 outside this machine drops it (a cloud security group, a router's ACL, the \
                 peer's own firewall)"
                    .into(),
            ),
            (_, false, Goal::Close) => {
                lines.push("the peer still connects: another way in stays open".into())
            }
            ("closed", true, Goal::Open) => {
                lines.push("the firewall lets it through; nothing listens on the port yet".into())
            }
            _ => {}
        }
        lines
    }
}

/// Runs `open` (goal Open) or `close` (goal Close).
pub fn run_change(args: &ChangeArgs, goal: Goal, out: &Output) -> Result<Exit, CliError> {
    require_root()?;
    let runner = CommandRunner::default();
    // Bad --peer options are refused before anything changes.
    let peer_probe = match &args.agent.peer {
        Some(_) => Some(args.agent.probe(args.target.1)?),
        None => None,
    };
    let f = fixer(&runner)?;
    let prepared = prepare(&f, args, goal)?;
    let what = prepared.change.describe();
    if prepared.is_noop() {
        out.line(&format!("{what}: already so; nothing changed"))?;
        return Ok(Exit::Ok);
    }
    show_plan(out, &prepared, args.dry_run)?;
    if args.dry_run {
        return Ok(Exit::Ok);
    }
    if !args.yes {
        ask(&what)?;
    }
    let applied = f
        .apply(&prepared, &|| Host::read_live(&runner))
        .map_err(fix_error)?;
    let due = applied.change.confirm_by.or(applied.change.expires_at);
    if let Some(at) = due {
        spawn_watchdog(at);
    }
    let peer =
        peer_probe.map(|(probe, at)| PeerCheck::run(&args.agent, &probe, at, args.target.0, goal));
    report(out, &applied, peer.as_ref(), goal)?;
    Ok(match &peer {
        Some(p) if p.state == "error" => Exit::Code(crate::exit::ENVIRONMENT),
        Some(p) if !p.as_wanted => Exit::Failed,
        _ if applied.verified => Exit::Ok,
        _ => Exit::Failed,
    })
}

/// Reads the live firewall and plans `args` (with the lock-out guard).
fn prepare(
    f: &Fixer<'_>,
    args: &ChangeArgs,
    goal: Goal,
) -> Result<portdoctor_fix::Prepared, CliError> {
    let host = Host::read_live(f.runner).map_err(environment)?;
    let (port, proto) = args.target;
    let addrs = local_addrs();
    let fw_proto = match proto {
        Proto::Tcp => portdoctor_firewall::Proto::Tcp,
        Proto::Udp => portdoctor_firewall::Proto::Udp,
    };
    let stranger = |a: std::net::IpAddr, i: &str| host.stranger(a, i);
    let packets = targets::packets(
        &addrs,
        args.from.as_deref(),
        args.iface.as_deref(),
        port,
        fw_proto,
        &stranger,
    );
    if packets.is_empty() {
        return Err(usage("no address of this machine matches --from / --iface"));
    }
    let protected = guard::protected(
        SshSession::current().as_ref(),
        &sshd_ports(),
        &addrs
            .iter()
            .filter(|a| !a.addr.is_loopback())
            .map(|a| (a.addr, a.iface.clone()))
            .collect::<Vec<_>>(),
    );
    let req = Request {
        goal,
        port,
        proto: proto.to_string(),
        from: args.from.clone(),
        ttl: args.ttl,
        confirm: args.confirm,
        backend: args.backend.clone(),
        force: args.force,
    };
    f.prepare(&host, &req, packets, &protected)
        .map_err(fix_error)
}

/// The firewall opening `serve --open-firewall` and `register --open-firewall` make: `open
/// PORT --yes` through the fix engine, closed again with `undo`.
pub struct FixEngineFirewall;

impl portdoctor_serve::lifecycle::Firewall for FixEngineFirewall {
    fn open(&self, port: u16) -> Result<Option<String>, String> {
        let args = ChangeArgs {
            target: (port, Proto::Tcp),
            from: None,
            iface: None,
            ttl: None,
            confirm: None,
            backend: None,
            dry_run: false,
            yes: true,
            force: false,
            agent: AgentPeer::default(),
        };
        let runner = CommandRunner::default();
        let f = fixer(&runner).map_err(|e| e.to_string())?;
        let prepared = prepare(&f, &args, Goal::Open).map_err(|e| e.to_string())?;
        if prepared.is_noop() {
            return Ok(None);
        }
        let applied = f
            .apply(&prepared, &|| Host::read_live(&runner))
            .map_err(|e| e.to_string())?;
        if !applied.verified {
            let id = applied.change.id.clone();
            let _ = f.undo(&id, Some("not verified; rolled back".into()));
            return Err(format!(
                "the opening could not be verified: {}",
                applied.misses.join("; ")
            ));
        }
        Ok(Some(applied.change.id))
    }

    fn close(&self, id: &str) -> Result<(), String> {
        let runner = CommandRunner::default();
        let f = fixer(&runner).map_err(|e| e.to_string())?;
        f.undo(id, Some("closed by portdoctor serve/deregister".into()))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

fn show_plan(out: &Output, p: &portdoctor_fix::Prepared, dry_run: bool) -> Result<(), CliError> {
    if out.json && !dry_run {
        return Ok(());
    }
    if out.json {
        return Ok(out.json(&p.change)?);
    }
    out.line(&format!(
        "{} (change {}, via {}):",
        p.change.describe(),
        p.change.id,
        p.change.owners()
    ))?;
    for s in &p.change.steps {
        out.line(&format!("  {}", s.step.title))?;
        for c in &s.step.commands {
            let shown: Vec<String> =
                c.0.iter()
                    .map(|a| portdoctor_diagnose::finding::posix_quote(a))
                    .collect();
            out.line(&format!("    $ {}", shown.join(" ")))?;
        }
        if let Some(text) = &s.step.stdin {
            for l in text.lines() {
                out.line(&format!("      | {l}"))?;
            }
        }
    }
    Ok(())
}

fn ask(what: &str) -> Result<(), CliError> {
    if !std::io::stdin().is_terminal() {
        return Err(usage(
            "standard input is not a terminal: pass --yes to apply without asking",
        ));
    }
    eprint!("Apply \"{what}\"? [y/N] ");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    if !matches!(line.trim(), "y" | "Y" | "yes") {
        return Err(CliError::Failed("not applied".into()));
    }
    Ok(())
}

fn report(
    out: &Output,
    a: &portdoctor_fix::Applied,
    peer: Option<&PeerCheck>,
    goal: Goal,
) -> Result<(), CliError> {
    if out.json {
        return Ok(out.json(&ChangeJson {
            id: &a.change.id,
            status: if a.change.confirm_by.is_some() {
                "awaiting-confirm"
            } else {
                "applied"
            },
            change: &a.change,
            verified: a.verified,
            misses: &a.misses,
            peer,
        })?);
    }
    out.line(&format!(
        "applied change {} ({}).",
        a.change.id,
        a.change.describe()
    ))?;
    if a.verified {
        out.line("verified: the rules read back do it for every address")?;
    } else {
        out.line("NOT verified; read back:")?;
        for m in &a.misses {
            out.line(&format!("  {m}"))?;
        }
    }
    if let Some(t) = a.change.confirm_by {
        out.line(&format!(
            "rolled back in {} s unless: portdoctor confirm {}",
            t.saturating_sub(portdoctor_fix::journal::now()),
            a.change.id
        ))?;
    }
    if let Some(t) = a.change.expires_at {
        out.line(&format!(
            "undone automatically in {} s",
            t.saturating_sub(portdoctor_fix::journal::now())
        ))?;
    }
    for line in peer.map(|p| p.lines(goal)).unwrap_or_default() {
        out.line(&line)?;
    }
    out.line(&format!("undo it with: portdoctor undo {}", a.change.id))?;
    Ok(())
}

/// Starts a detached `portdoctor expire --at T` (a new session, so it outlives the terminal).
fn spawn_watchdog(at: u64) {
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut cmd = if cfg!(target_os = "linux") {
        let mut c = std::process::Command::new("setsid");
        c.arg(&exe);
        c
    } else {
        std::process::Command::new(&exe)
    };
    cmd.args(["expire", "--at", &at.to_string()])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    if let Err(e) = cmd.spawn() {
        note(&format!(
            "cannot start the background timer ({e}); the next portdoctor run will undo the change when due"
        ));
    }
}

/// Runs the hidden `expire`.
pub fn run_expire(args: &ExpireArgs) -> Result<Exit, CliError> {
    let wait = args.at.saturating_sub(portdoctor_fix::journal::now());
    std::thread::sleep(std::time::Duration::from_secs(wait));
    let runner = CommandRunner::default();
    let f = Fixer {
        runner: &runner,
        journal: Journal::open(&state_dir()).map_err(fix_error)?,
    };
    for line in f.expire_due().map_err(fix_error)? {
        tracing::info!("{line}");
    }
    Ok(Exit::Ok)
}

/// Runs `undo`.
pub fn run_undo(args: &UndoArgs, out: &Output) -> Result<Exit, CliError> {
    require_root()?;
    let runner = CommandRunner::default();
    let f = fixer(&runner)?;
    let id = match &args.id {
        Some(id) => id.clone(),
        None => f
            .journal
            .changes()
            .map_err(fix_error)?
            .into_iter()
            .rev()
            .find(|(_, s, _)| {
                matches!(
                    s,
                    Status::Applied | Status::Confirmed | Status::AwaitingConfirm
                )
            })
            .map(|(c, _, _)| c.id)
            .ok_or_else(|| CliError::Failed("no applied change to undo".into()))?,
    };
    let c = f
        .undo(&id, Some("portdoctor undo".into()))
        .map_err(fix_error)?;
    if out.json {
        out.json(&serde_json::json!({"id": c.id, "status": "undone", "change": c}))?;
    } else {
        out.line(&format!("undid change {} ({})", c.id, c.describe()))?;
    }
    Ok(Exit::Ok)
}

/// Runs `confirm`.
pub fn run_confirm(args: &ConfirmArgs, out: &Output) -> Result<Exit, CliError> {
    let runner = CommandRunner::default();
    let f = fixer(&runner)?;
    let c = f.confirm(&args.id).map_err(fix_error)?;
    out.line(&format!(
        "confirmed change {} ({}): it stays",
        c.id,
        c.describe()
    ))?;
    Ok(Exit::Ok)
}

/// One row of `history --json`.
#[derive(Serialize)]
struct HistoryRow {
    id: String,
    at: u64,
    what: String,
    via: String,
    status: Status,
    expires_at: Option<u64>,
    confirm_by: Option<u64>,
    notes: Vec<String>,
    commands: Vec<Vec<String>>,
}

/// Runs `history`.
pub fn run_history(_args: &HistoryArgs, out: &Output) -> Result<Exit, CliError> {
    let journal = Journal::open(&state_dir()).map_err(fix_error)?;
    let rows: Vec<HistoryRow> = journal
        .changes()
        .map_err(fix_error)?
        .into_iter()
        .map(|(c, status, events)| HistoryRow {
            id: c.id.clone(),
            at: c.at,
            what: c.describe(),
            via: c.owners(),
            status,
            expires_at: c.expires_at,
            confirm_by: c.confirm_by,
            notes: events.iter().filter_map(|e| e.note.clone()).collect(),
            commands: c
                .steps
                .iter()
                .flat_map(|s| s.step.commands.iter().map(|a| a.0.clone()))
                .collect(),
        })
        .collect();
    if out.json {
        out.json(&rows)?;
        return Ok(Exit::Ok);
    }
    if rows.is_empty() {
        out.line("no changes yet")?;
    }
    for r in &rows {
        let status = serde_json::to_value(r.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        out.line(&format!(
            "{}  {:<16} {:<32} via {}",
            r.id, status, r.what, r.via
        ))?;
        for n in &r.notes {
            out.line(&format!("          {n}"))?;
        }
    }
    Ok(Exit::Ok)
}
