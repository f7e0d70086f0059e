//! PD030: listening but unhealthy.

use super::Ctx;
use crate::evidence::Part;
use crate::finding::{Code, Finding, Severity};
use crate::fixes;

pub(super) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let Some(Part::Present { value: h }) = &ctx.ev.health else {
        return;
    };
    let what = match (h.status.filter(|s| *s >= 500), &h.error) {
        (Some(s), _) => format!("answers HTTP {s}"),
        (None, Some(e)) => format!("fails: {e}"),
        (None, None) => return,
    };
    out.push(
        Finding::new(
            Code::Unhealthy,
            Severity::Error,
            format!("{} is reachable but the service {what}", ctx.port_label()),
        )
        .with_evidence(format!("{}: {what}", h.request))
        .with_fix(fixes::investigate(
            "Check the service's log: the network path works, the application does not",
            "the service's own log",
        )),
    );
}
