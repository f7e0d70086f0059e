//! All 65,536 destination ports: cut at every destination-port boundary of every rule (main,
//! inline and named anchors), evaluate one port per piece, merge equal neighbours.

use super::PfFirewall;
use super::model::{PfAction, PfRule, PortOp};
use crate::model::Packet;
use crate::sweep::{PortRange, Sweep};

fn cuts_of(rules: &[PfRule], cuts: &mut Vec<u32>) {
    for r in rules {
        for op in &r.to.ports {
            let (a, b) = match op {
                PortOp::In(s) | PortOp::Cmp(s) => (u32::from(s.lo), u32::from(s.hi) + 1),
                PortOp::Not(p) => (u32::from(*p), u32::from(*p) + 1),
                PortOp::Between(x, y) | PortOp::Outside(x, y) => (u32::from(*x), u32::from(*y) + 1),
            };
            cuts.extend([a, b, a + 1]);
        }
        if let PfAction::Anchor {
            inline: Some(rs), ..
        } = &r.action
        {
            cuts_of(rs, cuts);
        }
    }
}

/// The sweep of `pkt` over every destination port (pf and Application Firewall together).
pub(crate) fn sweep(fw: &PfFirewall, pkt: &Packet) -> Sweep {
    let mut cuts: Vec<u32> = vec![0, 65536];
    cuts_of(&fw.main, &mut cuts);
    for rs in fw.anchors.values() {
        cuts_of(rs, &mut cuts);
    }
    cuts.retain(|c| *c <= 65536);
    cuts.sort_unstable();
    cuts.dedup();
    let mut ranges: Vec<PortRange> = vec![];
    let mut p = pkt.clone();
    for w in cuts.windows(2) {
        let (lo, hi) = (w[0] as u16, (w[1] - 1) as u16);
        p.dport = lo;
        let v = fw.explanation(&p).overall;
        match ranges.last_mut() {
            Some(last) if last.decision == v.decision && last.decided_by == v.decided_by => {
                last.to = hi
            }
            _ => ranges.push(PortRange {
                from: lo,
                to: hi,
                decision: v.decision,
                decided_by: v.decided_by,
                redirected_to: None,
                delivery: None,
            }),
        }
    }
    Sweep { ranges }
}
