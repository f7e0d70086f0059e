//! Adaptive per-attempt timeouts from measured round-trip times (RFC 6298 style:
//! `srtt + 4·rttvar`, clamped).

use std::time::Duration;

/// Smoothed RTT estimator shared by the probes of one run.
#[derive(Debug, Clone)]
pub struct RttEstimator {
    srtt: Option<f64>,
    rttvar: f64,
    min: Duration,
    max: Duration,
}

impl RttEstimator {
    /// An estimator whose timeouts stay within `min..=max` (`max` is used until a sample).
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            srtt: None,
            rttvar: 0.0,
            min: min.min(max),
            max,
        }
    }

    /// Feeds one measured round trip (any answer: SYN-ACK, RST, ICMP, UDP reply).
    pub fn sample(&mut self, rtt: Duration) {
        let r = rtt.as_secs_f64();
        match self.srtt {
            None => {
                self.srtt = Some(r);
                self.rttvar = r / 2.0;
            }
            Some(s) => {
                self.rttvar = 0.75 * self.rttvar + 0.25 * (s - r).abs();
                self.srtt = Some(0.875 * s + 0.125 * r);
            }
        }
    }

    /// The timeout for attempt number `attempt` (0-based): doubled on each retry, clamped.
    pub fn timeout(&self, attempt: u32) -> Duration {
        let base = match self.srtt {
            None => return self.max,
            Some(s) => Duration::from_secs_f64((s + 4.0 * self.rttvar).max(0.0)),
        };
        let scaled = base.saturating_mul(1 << attempt.min(16));
        scaled.clamp(self.min, self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adapts_and_clamps() {
        let mut e = RttEstimator::new(Duration::from_millis(100), Duration::from_secs(2));
        assert_eq!(e.timeout(0), Duration::from_secs(2));
        for _ in 0..20 {
            e.sample(Duration::from_millis(1));
        }
        assert_eq!(e.timeout(0), Duration::from_millis(100));
        for _ in 0..50 {
            e.sample(Duration::from_millis(300));
        }
        let t = e.timeout(0);
        assert!(
            t > Duration::from_millis(300) && t < Duration::from_secs(2),
            "{t:?}"
        );
        assert_eq!(e.timeout(5), Duration::from_secs(2));
    }
}
