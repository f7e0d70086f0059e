//! The change engine: plan (through the firewall library's planner, tagged), guard, journal,
//! apply atomically step by step with rollback, verify on the re-read rules; undo, confirm,
//! expire, and repair interrupted changes.

use crate::FixError;
use crate::applier;
use crate::change::{Change, new_id};
use crate::guard::{self, Protected};
use crate::journal::{Event, Journal, Status, now};
use portdoctor_firewall::collect::Runner;
use portdoctor_firewall::host::Host;
use portdoctor_firewall::manager::OpenRequest;
use portdoctor_firewall::plan::{self, FixPlan, Goal, Verification};
use portdoctor_firewall::{Decision, Packet};

/// What to change.
#[derive(Debug, Clone)]
pub struct Request {
    /// Open or close.
    pub goal: Goal,
    /// Port, protocol, source.
    pub port: u16,
    /// `tcp` or `udp`.
    pub proto: String,
    /// Only from this address or network.
    pub from: Option<String>,
    /// Undo after this many seconds.
    pub ttl: Option<u64>,
    /// Undo unless confirmed within this many seconds.
    pub confirm: Option<u64>,
    /// Only through this owner (`nftables`, `ufw`, …); the plan must agree.
    pub backend: Option<String>,
    /// Skip the lock-out guard and apply a plan that could not be verified.
    pub force: bool,
}

/// A planned change, checked and ready to apply.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The change (steps and timers).
    pub change: Change,
    /// The plan as the planner made it (with its verification).
    pub plan: FixPlan,
    /// The packets it is about.
    pub packets: Vec<Packet>,
}

impl Prepared {
    /// Nothing to do: the firewall already does what was asked.
    pub fn is_noop(&self) -> bool {
        self.plan.verification == Verification::AlreadyOpen
    }
}

/// The result of applying.
#[derive(Debug, Clone)]
pub struct Applied {
    /// The change as recorded.
    pub change: Change,
    /// Whether the re-read rules now do what was asked for every packet.
    pub verified: bool,
    /// What the re-read rules say, per packet that still misses.
    pub misses: Vec<String>,
}

/// Changes firewalls through a runner, journaled in `journal`.
pub struct Fixer<'r> {
    /// Runs the commands (a prefix in tests).
    pub runner: &'r dyn Runner,
    /// The journal.
    pub journal: Journal,
}

impl Fixer<'_> {
    /// Plans `req` for `packets` on `host`, checks it against the lock-out guard.
    pub fn prepare(
        &self,
        host: &Host,
        req: &Request,
        packets: Vec<Packet>,
        protected: &[Protected],
    ) -> Result<Prepared, FixError> {
        let id = new_id();
        let open = OpenRequest {
            port: req.port,
            proto: req.proto.clone(),
            from: req.from.clone(),
            to: None,
            tag: format!("{}:{id}", plan::TAG),
        };
        let mut packets = packets;
        for p in &mut packets {
            host.complete(p);
        }
        let plan = plan::plan(
            host.engine.as_ref(),
            &host.managers,
            &packets,
            &open,
            req.goal,
        );
        if let Verification::NotVerified(why) = &plan.verification {
            if !req.force || plan.steps.is_empty() {
                return Err(FixError::Refused(format!(
                    "no change can be planned that does it: {why}"
                )));
            }
        }
        check_backend(&plan, req)?;
        if !req.force {
            guard::check(host.engine.as_ref(), &plan.edits(), protected)
                .map_err(FixError::LockOut)?;
        }
        let mut steps = plan.steps.clone();
        for s in &mut steps {
            applier::for_owner(&s.owner).prepare(
                s,
                &open.tag,
                host.engine.as_ref(),
                self.runner,
            )?;
        }
        let at = now();
        Ok(Prepared {
            change: Change {
                id,
                at,
                goal: req.goal,
                request: open,
                steps,
                expires_at: req.ttl.map(|t| at + t),
                confirm_by: req.confirm.map(|t| at + t),
                saved: vec![],
            },
            plan,
            packets,
        })
    }

    /// Applies a prepared change: journal first, then each step; a failing step rolls the
    /// earlier ones back. Verifies on the re-read rules through `reread`.
    pub fn apply(
        &self,
        prepared: &Prepared,
        reread: &dyn Fn() -> Result<Host, String>,
    ) -> Result<Applied, FixError> {
        let _lock = self.journal.lock()?;
        let mut change = prepared.change.clone();
        change.saved = self.save_state(&change)?;
        self.journal.append(&Event {
            id: change.id.clone(),
            at: now(),
            status: Status::Planned,
            note: None,
            change: Some(change.clone()),
        })?;
        crash_point("after-journal");
        let tag = change.request.tag.clone();
        for (i, step) in change.steps.iter().enumerate() {
            if let Err(e) = applier::for_owner(&step.owner).apply(step, &tag, self.runner) {
                self.roll_back(&change, i);
                self.journal
                    .mark(&change.id, Status::Failed, Some(e.to_string()))?;
                return Err(e);
            }
            if i + 1 < change.steps.len() {
                crash_point("mid-apply");
            }
        }
        let status = if change.confirm_by.is_some() {
            Status::AwaitingConfirm
        } else {
            Status::Applied
        };
        self.journal.mark(&change.id, status, None)?;
        let (verified, misses) = verify(reread, &prepared.packets, change.goal);
        Ok(Applied {
            change,
            verified,
            misses,
        })
    }

    fn save_state(&self, change: &Change) -> Result<Vec<String>, FixError> {
        let mut names = vec![];
        for step in &change.steps {
            let a = applier::for_owner(&step.owner);
            let name = format!("before-{}.txt", a.name().replace([' ', '(', ')'], ""));
            if names.contains(&name) {
                continue;
            }
            let text = a.snapshot(self.runner)?;
            self.journal.save(&change.id, &name, &text)?;
            names.push(name);
        }
        Ok(names)
    }

    /// Undoes the first `done` steps, newest first; errors are logged (the change is marked
    /// failed by the caller with the first error).
    fn roll_back(&self, change: &Change, done: usize) {
        for step in change.steps[..done].iter().rev() {
            let a = applier::for_owner(&step.owner);
            if let Err(e) = a.undo(step, &change.request.tag, self.runner) {
                tracing::warn!("rolling back {}: {e}", change.id);
            }
        }
    }

    /// Undoes what the interrupted step `at` left (the first step not found complete);
    /// errors are logged, as in [`Fixer::roll_back`].
    fn undo_interrupted(&self, change: &Change, at: usize) {
        let Some(step) = change.steps.get(at) else {
            return;
        };
        let a = applier::for_owner(&step.owner);
        if let Err(e) = a.undo_interrupted(step, &change.request.tag, self.runner) {
            tracing::warn!("undoing the interrupted step of {}: {e}", change.id);
        }
    }

    /// Undoes a change, touching only its own rules; refuses when they changed since.
    pub fn undo(&self, id: &str, note: Option<String>) -> Result<Change, FixError> {
        let _lock = self.journal.lock()?;
        let (change, status) = self.journal.change(id)?;
        if !matches!(
            status,
            Status::Applied | Status::AwaitingConfirm | Status::Confirmed
        ) {
            return Err(FixError::Refused(format!(
                "change {id} is {status:?}, not applied: nothing to undo"
            )));
        }
        let tag = &change.request.tag;
        // Tag-based appliers (nft, iptables) check and remove all their rules of the change
        // at once: ask each of them once.
        let mut seen: Vec<&'static str> = vec![];
        let mut once: Vec<&portdoctor_firewall::plan::OwnedStep> = vec![];
        for step in change.steps.iter().rev() {
            let a = applier::for_owner(&step.owner);
            if a.by_tag() && seen.contains(&a.name()) {
                continue;
            }
            seen.push(a.name());
            once.push(step);
        }
        for step in &once {
            let a = applier::for_owner(&step.owner);
            if !a.present(step, tag, self.runner)? {
                return Err(FixError::ChangedSince(format!(
                    "the {} rules of change {id} were changed by someone else since; nothing was undone",
                    a.name()
                )));
            }
        }
        for step in once {
            applier::for_owner(&step.owner).undo(step, tag, self.runner)?;
        }
        self.journal.mark(id, Status::Undone, note)?;
        Ok(change)
    }

    /// Confirms a change applied with `--confirm`.
    pub fn confirm(&self, id: &str) -> Result<Change, FixError> {
        let _lock = self.journal.lock()?;
        let (change, status) = self.journal.change(id)?;
        if status != Status::AwaitingConfirm {
            return Err(FixError::Refused(format!(
                "change {id} is {status:?}: only a change applied with --confirm waits for confirmation"
            )));
        }
        self.journal.mark(id, Status::Confirmed, None)?;
        Ok(change)
    }

    /// Undoes changes whose TTL passed or whose confirmation did not come in time; returns
    /// what it did, one line each.
    pub fn expire_due(&self) -> Result<Vec<String>, FixError> {
        let t = now();
        let mut done = vec![];
        for (c, status, _) in self.journal.changes()? {
            let ttl_due = c.expires_at.is_some_and(|e| e <= t)
                && matches!(
                    status,
                    Status::Applied | Status::Confirmed | Status::AwaitingConfirm
                );
            let confirm_missed =
                c.confirm_by.is_some_and(|e| e <= t) && status == Status::AwaitingConfirm;
            let why = if confirm_missed {
                "not confirmed in time"
            } else if ttl_due {
                "its --ttl passed"
            } else {
                continue;
            };
            match self.undo(&c.id, Some(why.to_string())) {
                Ok(_) => done.push(format!("undid change {} ({}): {why}", c.id, c.describe())),
                Err(e) => done.push(format!("could not undo change {} ({why}): {e}", c.id)),
            }
        }
        Ok(done)
    }

    /// Finds changes a crash left `planned` and settles them: fully applied → marked applied;
    /// partly → what the interrupted step left and the applied steps are undone; not at
    /// all → marked failed. One line each.
    pub fn repair(&self) -> Result<Vec<String>, FixError> {
        let _lock = self.journal.lock()?;
        let mut out = vec![];
        for (c, status, _) in self.journal.changes()? {
            if status != Status::Planned {
                continue;
            }
            let present: Vec<bool> = c
                .steps
                .iter()
                .map(|s| {
                    applier::for_owner(&s.owner)
                        .present(s, &c.request.tag, self.runner)
                        .unwrap_or(false)
                })
                .collect();
            let line = if !present.is_empty() && present.iter().all(|p| *p) {
                self.journal.mark(
                    &c.id,
                    Status::Applied,
                    Some("interrupted after applying; found complete".into()),
                )?;
                format!(
                    "change {} ({}) was interrupted after it was applied: kept, marked applied",
                    c.id,
                    c.describe()
                )
            } else {
                let done = present.iter().take_while(|p| **p).count();
                self.undo_interrupted(&c, done);
                self.roll_back(&c, done);
                self.journal.mark(
                    &c.id,
                    Status::Failed,
                    Some("interrupted before it was complete; rolled back".into()),
                )?;
                format!(
                    "change {} ({}) was interrupted before it was complete: rolled back",
                    c.id,
                    c.describe()
                )
            };
            out.push(line);
        }
        Ok(out)
    }
}

fn check_backend(plan: &FixPlan, req: &Request) -> Result<(), FixError> {
    let Some(want) = &req.backend else {
        return Ok(());
    };
    for s in &plan.steps {
        let label = s.owner.label().to_lowercase();
        let name = label.replace(' ', "-").replace(['(', ')'], "");
        if !(label == *want || name == *want || label.starts_with(want.as_str())) {
            return Err(FixError::Refused(format!(
                "the rule that decides is {}'s, so the change must go through {} (not --backend {want})",
                s.owner.label(),
                s.owner.label()
            )));
        }
    }
    Ok(())
}

/// Re-reads the rules and evaluates every packet.
fn verify(
    reread: &dyn Fn() -> Result<Host, String>,
    packets: &[Packet],
    goal: Goal,
) -> (bool, Vec<String>) {
    let host = match reread() {
        Ok(h) => h,
        Err(e) => {
            return (
                false,
                vec![format!("the rules could not be read back: {e}")],
            );
        }
    };
    let mut misses = vec![];
    for p in packets {
        let d = host.explain(p).1.overall;
        let ok = match goal {
            Goal::Open => d.decision == Decision::Accept,
            Goal::Close => d.blocks(),
        };
        if !ok {
            misses.push(format!(
                "{} -> {}:{}: {} {}",
                p.src,
                p.dst,
                p.dport,
                d.decision.label(),
                d.by_text()
            ));
        }
    }
    (misses.is_empty(), misses)
}

/// A test-only crash: `PORTDOCTOR_FIX_CRASH=<point>` aborts the process there.
fn crash_point(point: &str) {
    if std::env::var("PORTDOCTOR_FIX_CRASH").is_ok_and(|v| v == point) {
        eprintln!("portdoctor: crashing at {point} (PORTDOCTOR_FIX_CRASH)");
        std::process::abort();
    }
}
