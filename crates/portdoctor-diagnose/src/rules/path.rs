//! PD040 filtered from the peer with no local rule to blame; PD041 the peer is refused.

use super::Ctx;
use super::firewall::blamed;
use crate::evidence::{Part, ProbeOutcome};
use crate::finding::{Code, Finding, Severity};
use crate::fixes;
use portdoctor_sockets::Reach;

pub(super) fn run(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let port = ctx.port_label();
    let listening_ok = if super::nat::focus_is_nated(ctx) {
        super::nat::targets_listened(ctx)
    } else {
        ctx.listeners
            .iter()
            .any(|s| s.reach() != Reach::LoopbackOnly)
    };
    for p in ctx.probes().iter().filter(|p| p.viewpoint.is_remote()) {
        if blamed(ctx.ev.firewall.get(), &p.viewpoint) || !listening_ok {
            continue;
        }
        match &p.outcome {
            ProbeOutcome::Filtered | ProbeOutcome::Unreachable(_) => {
                let (severity, tail) = match &ctx.ev.firewall {
                    Part::Present { .. } => (Severity::Error, "no local firewall rule blocks it, so something between drops it (cloud security group, upstream firewall, router ACL)".to_string()),
                    Part::Missing { reason } => (Severity::Warning, format!("the local firewall could not be checked ({reason}), so it may be the local firewall or something between")),
                };
                let mut f = Finding::new(
                    Code::UpstreamFiltered,
                    severity,
                    format!(
                        "{port} is {} from {}: {tail}",
                        super::outcome_label(&p.outcome, ctx.ev.proto),
                        p.viewpoint.label()
                    ),
                );
                for line in ctx.probe_lines() {
                    f = f.with_evidence(line);
                }
                out.push(f.with_fix(fixes::investigate(
                    format!("Allow inbound {port} in the network's firewall or security group between {} and this host", p.viewpoint.addr()),
                    "security groups, upstream firewalls, NAT",
                )));
            }
            ProbeOutcome::Closed if ctx.local_probe_open() => {
                let mut f = Finding::new(
                    Code::PeerRefused,
                    Severity::Warning,
                    format!(
                        "{port} refuses {} although the service listens: a NAT or port forward sends it elsewhere, or the peer reaches another machine",
                        p.viewpoint.label()
                    ),
                );
                for line in ctx.probe_lines() {
                    f = f.with_evidence(line);
                }
                out.push(f);
            }
            _ => {}
        }
    }
}
