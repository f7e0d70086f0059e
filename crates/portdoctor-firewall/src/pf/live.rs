//! Live reading on macOS and the BSDs: [`super::collect`] with real `pfctl` and
//! `socketfilterfw` (needs root for `pfctl`).

use super::PfFirewall;
use crate::collect::CommandRunner;

/// Reads the live pf rules, tables, status and (macOS) Application Firewall.
pub fn read_live() -> PfFirewall {
    super::collect(&CommandRunner::default())
}
