//! Token buckets: one for the whole server, one per source address for probe-back. The
//! per-source table is bounded: when full, the oldest entries are dropped.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Sources remembered at most.
const MAX_SOURCES: usize = 4096;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A token bucket of `burst` tokens refilled at `per_second`.
#[derive(Debug)]
pub struct Limiter {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<Option<IpAddr>, Bucket>>,
}

impl Limiter {
    /// `burst` requests at once, refilled at `per_second`.
    pub fn new(burst: u32, per_second: f64) -> Limiter {
        Limiter {
            burst: f64::from(burst.max(1)),
            per_second,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key` (`None`: the shared bucket); false when none is left.
    pub fn allow(&self, key: Option<IpAddr>) -> bool {
        let now = Instant::now();
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_SOURCES && !map.contains_key(&key) {
            evict_oldest(&mut map);
        }
        let b = map.entry(key).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let refill = now.duration_since(b.last).as_secs_f64() * self.per_second;
        b.tokens = (b.tokens + refill).min(self.burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn evict_oldest(map: &mut HashMap<Option<IpAddr>, Bucket>) {
    let mut by_age: Vec<(Instant, Option<IpAddr>)> =
        map.iter().map(|(k, b)| (b.last, *k)).collect();
    by_age.sort();
    for (_, k) in by_age.into_iter().take(MAX_SOURCES / 4) {
        map.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_gets_its_burst_then_is_refused_while_others_are_not() {
        let l = Limiter::new(2, 0.001);
        let a = Some(IpAddr::from([192, 0, 2, 1]));
        let b = Some(IpAddr::from([192, 0, 2, 2]));
        assert!(l.allow(a) && l.allow(a));
        assert!(!l.allow(a));
        assert!(l.allow(b));
    }

    #[test]
    fn the_table_stays_bounded() {
        let l = Limiter::new(1, 1.0);
        for i in 0..(MAX_SOURCES as u32 + 10) {
            l.allow(Some(IpAddr::from(i.to_be_bytes())));
        }
        assert!(l.buckets.lock().unwrap().len() <= MAX_SOURCES);
    }
}
