//! A per-client token bucket for the logon endpoint. Account lockout stops guessing
//! against one account; this stops one client spraying guesses across many.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Settings of the logon rate limit.
#[derive(Clone, Copy, Debug)]
pub struct RateLimit {
    /// Attempts a client may make in a burst.
    pub burst: u32,
    /// Attempts refilled per minute.
    pub per_minute: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            burst: 10,
            per_minute: 20,
        }
    }
}

/// Most clients tracked at once; beyond it, idle entries are dropped first so that a
/// flood of spoofed sources cannot grow memory without bound.
const MAX_TRACKED_CLIENTS: usize = 100_000;

#[derive(Debug)]
pub struct Limiter {
    limit: RateLimit,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl Limiter {
    pub fn new(limit: RateLimit) -> Self {
        assert!(
            limit.burst > 0 && limit.per_minute > 0,
            "a rate limit of zero would lock everyone out"
        );
        Limiter {
            limit,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `ip`; on refusal returns the seconds until the next token.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        let now = Instant::now();
        let rate_per_s = f64::from(self.limit.per_minute) / 60.0;
        let burst = f64::from(self.limit.burst);
        // A poisoned lock only means another request panicked mid-update; the map is
        // still usable, and refusing all logons would be worse.
        let mut map = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED_CLIENTS && !map.contains_key(&ip) {
            map.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate_per_s < burst
            });
            if map.len() >= MAX_TRACKED_CLIENTS {
                map.clear();
            }
        }
        let (tokens, at) = map.entry(ip).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * rate_per_s).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / rate_per_s).ceil() as u64)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refuse_per_client() {
        let l = Limiter::new(RateLimit {
            burst: 3,
            per_minute: 1,
        });
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        for _ in 0..3 {
            assert!(l.check(a).is_ok());
        }
        let wait = l.check(a).unwrap_err();
        assert!((1..=60).contains(&wait));
        assert!(l.check(b).is_ok(), "another client has its own bucket");
    }
}
