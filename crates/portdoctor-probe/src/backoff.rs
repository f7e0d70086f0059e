//! Exponential backoff with jitter, and the tiny PRNG behind the jitter.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Exponential backoff: `initial`, doubled each step, capped at `cap`; each delay is drawn
/// uniformly from `[d/2, d]` ("equal jitter") so many waiters do not poll in lock-step.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    cap: Duration,
    rng: u64,
}

impl Backoff {
    /// A backoff starting at `initial`, never above `cap`.
    pub fn new(initial: Duration, cap: Duration) -> Self {
        let seed = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0x9e37_79b9_7f4a_7c15);
        Self::with_seed(initial, cap, seed)
    }

    /// Same, with a fixed seed (tests).
    pub fn with_seed(initial: Duration, cap: Duration, seed: u64) -> Self {
        Self {
            next: initial.min(cap),
            cap,
            rng: seed | 1,
        }
    }

    /// The next delay to sleep.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = self.next.saturating_mul(2).min(self.cap);
        let half = d / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = if nanos == 0 {
            0
        } else {
            self.random() % (nanos + 1)
        };
        half + Duration::from_nanos(jitter)
    }

    /// xorshift64*: plenty for jitter, no dependency.
    fn random(&mut self) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps_with_jitter() {
        let ms = Duration::from_millis;
        let mut b = Backoff::with_seed(ms(10), ms(1000), 42);
        let delays: Vec<_> = (0..12).map(|_| b.next_delay()).collect();
        assert!(delays[0] >= ms(5) && delays[0] <= ms(10));
        assert!(delays[3] >= ms(40) && delays[3] <= ms(80));
        for d in &delays[7..] {
            assert!(*d >= ms(500) && *d <= ms(1000), "{d:?}");
        }
    }
}
