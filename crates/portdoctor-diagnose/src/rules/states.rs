//! PD020 CLOSE_WAIT and PD021 TIME_WAIT build-ups.

use super::{Ctx, owner_label};
use crate::finding::{Code, Finding, Severity};
use crate::fixes;
use portdoctor_sockets::SocketState;

/// CLOSE_WAIT sockets on one port from which on the application is called leaky.
pub const CLOSE_WAIT_THRESHOLD: usize = 16;
/// TIME_WAIT sockets on one port from which on a build-up is reported.
pub const TIME_WAIT_THRESHOLD: usize = 4096;

pub(super) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let on_port = |state| {
        ctx.sockets
            .iter()
            .filter(|s| s.local_port == ctx.ev.port && s.state == state)
            .count()
    };
    let port = ctx.port_label();
    let close_wait = on_port(SocketState::CloseWait);
    if close_wait >= CLOSE_WAIT_THRESHOLD {
        let owner = ctx
            .sockets
            .iter()
            .find(|s| s.local_port == ctx.ev.port && s.state == SocketState::CloseWait)
            .map(owner_label)
            .unwrap_or_default();
        out.push(
            Finding::new(
                Code::CloseWaitBuildup,
                Severity::Warning,
                format!("{close_wait} connections on {port} are in CLOSE_WAIT: {owner} does not close sockets its clients closed"),
            )
            .with_evidence(format!("{close_wait} CLOSE_WAIT socket(s) with local port {} (threshold {CLOSE_WAIT_THRESHOLD})", ctx.ev.port))
            .with_fix(fixes::investigate(
                "Fix the leak in the application (close the connection when a read returns EOF); restarting it frees the sockets meanwhile",
                "connection handling in the service",
            )),
        );
    }
    let time_wait = on_port(SocketState::TimeWait);
    if time_wait >= TIME_WAIT_THRESHOLD {
        out.push(
            Finding::new(
                Code::TimeWaitBuildup,
                Severity::Warning,
                format!("{time_wait} connections on {port} are in TIME_WAIT: this side closes many short connections"),
            )
            .with_evidence(format!("{time_wait} TIME_WAIT socket(s) with local port {} (threshold {TIME_WAIT_THRESHOLD})", ctx.ev.port))
            .with_fix(fixes::investigate(
                "Use keep-alive / connection pooling, or let clients close first",
                "who closes first",
            )),
        );
    }
}
