//! All 65,536 destination ports at once: the ports are cut at every boundary of every rule's
//! local-port filter, one port per piece is evaluated, and equal neighbours are merged.

use super::WindowsFirewall;
use super::model::{PortItem, ProtoFilter};
use crate::model::Packet;
use crate::sweep::{PortRange, Sweep};

/// The sweep of `pkt` over every destination port.
pub(crate) fn sweep(fw: &WindowsFirewall, pkt: &Packet) -> Sweep {
    let mut cuts: Vec<u32> = vec![0, 65536];
    for r in &fw.rules {
        if !matches!(r.protocol, ProtoFilter::Number(6 | 17)) {
            continue;
        }
        for it in r.local_ports.iter().flatten() {
            match it {
                PortItem::Span(s) => {
                    cuts.push(u32::from(s.lo));
                    cuts.push(u32::from(s.hi) + 1);
                }
                PortItem::Keyword(_) => {
                    for p in [135u32, 443, 3544, 5353] {
                        cuts.extend([p, p + 1]);
                    }
                }
            }
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    let mut ranges: Vec<PortRange> = vec![];
    let mut p = pkt.clone();
    for w in cuts.windows(2) {
        let (lo, hi) = (w[0] as u16, (w[1] - 1) as u16);
        p.dport = lo;
        let v = fw.evaluate(&p);
        match ranges.last_mut() {
            Some(last) if last.decision == v.decision && last.decided_by == v.decided_by => {
                last.to = hi;
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
