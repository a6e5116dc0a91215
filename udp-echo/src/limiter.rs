//! A per-source-address token bucket, so the echo server cannot be used to
//! flood a third party whose address was spoofed as the source.
//!
//! # Design
//!
//! * One bucket per source IP address (not per port: a spoofer picks ports
//!   freely). Each holds up to `burst` tokens and refills at `rate` tokens per
//!   second; an echo costs tokens, and a datagram that finds too few is
//!   dropped, not queued.
//! * The clock is passed in (`now_ns`), as quinn-proto does: the limiter does
//!   no I/O and reads no clock, so tests step time exactly.
//! * The table is bounded ([`Limits::max_sources`]): when full, buckets that
//!   have refilled completely (idle sources, which carry no state worth
//!   keeping) are swept; if none can go, the new source is refused. An
//!   attacker with many addresses thus cannot grow memory, only get dropped.
//! * Arithmetic is in nanoseconds on `u128`/`f64` with saturation, so no
//!   input can overflow or panic.
//!
//! ```
//! use udp_echo::limiter::{Limiter, Limits};
//! let mut l = Limiter::new(Limits { rate: 10, burst: 2, max_sources: 16 });
//! let ip = "192.0.2.1".parse()?;
//! assert!(l.admit(ip, 1, 0));
//! assert!(l.admit(ip, 1, 0));
//! assert!(!l.admit(ip, 1, 0), "burst spent");
//! assert!(l.admit(ip, 1, 100_000_000), "one token back after 100 ms at 10/s");
//! # Ok::<(), std::net::AddrParseError>(())
//! ```

use std::collections::HashMap;
use std::net::IpAddr;

/// The bounds of a [`Limiter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Tokens per second added to each source's bucket; 0 disables limiting.
    pub rate: u64,
    /// Bucket capacity: how many echoes a quiet source may get at once.
    pub burst: u64,
    /// How many source addresses are tracked at most.
    pub max_sources: usize,
}

/// Default echoes per second per source address: far above what one `ping`
/// needs over a network (a 100 µs round trip allows 10,000/s), well below a
/// flood (`flood --rate max` offers ~300,000/s on loopback). A ping-pong over
/// loopback (~11 µs) can exceed it once the burst is spent; serve such runs
/// with a higher `--rate-limit`, or 0 for none.
pub const DEFAULT_RATE: u64 = 50_000;
/// Default bucket size per source address.
pub const DEFAULT_BURST: u64 = 5_000;
/// Default bound on tracked source addresses.
pub const DEFAULT_MAX_SOURCES: usize = 65_536;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            rate: DEFAULT_RATE,
            burst: DEFAULT_BURST,
            max_sources: DEFAULT_MAX_SOURCES,
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last_ns: u64,
}

/// Per-source token buckets; see the module docs.
#[derive(Debug)]
pub struct Limiter {
    limits: Limits,
    buckets: HashMap<IpAddr, Bucket>,
}

impl Limiter {
    /// A limiter with empty table.
    pub fn new(limits: Limits) -> Limiter {
        Limiter {
            limits,
            buckets: HashMap::new(),
        }
    }

    /// Whether `source` may spend `cost` tokens at time `now_ns`; spends them
    /// if so. Always true when the rate is 0 (limiting off).
    pub fn admit(&mut self, source: IpAddr, cost: u64, now_ns: u64) -> bool {
        if self.limits.rate == 0 {
            return true;
        }
        let burst = self.limits.burst as f64;
        if !self.buckets.contains_key(&source) && self.buckets.len() >= self.limits.max_sources {
            self.sweep(now_ns);
            if self.buckets.len() >= self.limits.max_sources {
                return false;
            }
        }
        let rate = self.limits.rate as f64;
        let bucket = self.buckets.entry(source).or_insert(Bucket {
            tokens: burst,
            last_ns: now_ns,
        });
        let elapsed_ns = now_ns.saturating_sub(bucket.last_ns);
        bucket.tokens = (bucket.tokens + elapsed_ns as f64 * rate / 1e9).min(burst);
        bucket.last_ns = bucket.last_ns.max(now_ns);
        let cost = cost as f64;
        if bucket.tokens >= cost {
            bucket.tokens -= cost;
            true
        } else {
            false
        }
    }

    /// Forgets sources whose bucket would be full by `now_ns`.
    fn sweep(&mut self, now_ns: u64) {
        let Limits { rate, burst, .. } = self.limits;
        let (rate, burst) = (rate as f64, burst as f64);
        self.buckets.retain(|_, b| {
            let elapsed = now_ns.saturating_sub(b.last_ns) as f64;
            b.tokens + elapsed * rate / 1e9 < burst
        });
    }

    /// How many sources are tracked now.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn burst_is_granted_then_refused() {
        let mut l = Limiter::new(Limits {
            rate: 100,
            burst: 5,
            max_sources: 8,
        });
        let granted = (0..20).filter(|_| l.admit(ip("10.0.0.1"), 1, 0)).count();
        assert_eq!(granted, 5);
    }

    #[test]
    fn refill_follows_rate() {
        let mut l = Limiter::new(Limits {
            rate: 100,
            burst: 5,
            max_sources: 8,
        });
        for _ in 0..5 {
            assert!(l.admit(ip("10.0.0.1"), 1, 0));
        }
        assert!(!l.admit(ip("10.0.0.1"), 1, 9 * MS), "0.9 tokens after 9 ms");
        assert!(l.admit(ip("10.0.0.1"), 1, 10 * MS), "1 token after 10 ms");
        assert!(!l.admit(ip("10.0.0.1"), 1, 10 * MS));
    }

    #[test]
    fn refill_never_exceeds_burst() {
        let mut l = Limiter::new(Limits {
            rate: 1000,
            burst: 3,
            max_sources: 8,
        });
        let _ = l.admit(ip("10.0.0.1"), 1, 0);
        let granted = (0..10)
            .filter(|_| l.admit(ip("10.0.0.1"), 1, 3_600_000 * MS))
            .count();
        assert_eq!(granted, 3);
    }

    #[test]
    fn sources_are_limited_independently() {
        let mut l = Limiter::new(Limits {
            rate: 1,
            burst: 1,
            max_sources: 8,
        });
        assert!(l.admit(ip("10.0.0.1"), 1, 0));
        assert!(!l.admit(ip("10.0.0.1"), 1, 0));
        assert!(l.admit(ip("::1"), 1, 0));
    }

    #[test]
    fn cost_above_one_spends_more_tokens() {
        let mut l = Limiter::new(Limits {
            rate: 1,
            burst: 10,
            max_sources: 8,
        });
        assert!(l.admit(ip("10.0.0.1"), 6, 0));
        assert!(!l.admit(ip("10.0.0.1"), 6, 0));
        assert!(l.admit(ip("10.0.0.1"), 4, 0));
    }

    #[test]
    fn zero_rate_disables_limiting_and_tracks_nothing() {
        let mut l = Limiter::new(Limits {
            rate: 0,
            burst: 0,
            max_sources: 0,
        });
        assert!((0..1000).all(|_| l.admit(ip("10.0.0.1"), 1, 0)));
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn full_table_evicts_idle_sources_first() {
        let mut l = Limiter::new(Limits {
            rate: 10,
            burst: 1,
            max_sources: 2,
        });
        assert!(l.admit(ip("10.0.0.1"), 1, 0));
        assert!(l.admit(ip("10.0.0.2"), 1, 0));
        assert!(!l.admit(ip("10.0.0.3"), 1, 0), "table full, nobody idle");
        assert!(l.admit(ip("10.0.0.3"), 1, 1000 * MS), "idle ones swept");
        assert!(l.tracked() <= 2);
    }

    #[test]
    fn clock_going_backwards_does_not_panic_or_mint_tokens() {
        let mut l = Limiter::new(Limits {
            rate: 10,
            burst: 1,
            max_sources: 2,
        });
        assert!(l.admit(ip("10.0.0.1"), 1, 1000 * MS));
        assert!(!l.admit(ip("10.0.0.1"), 1, 0));
    }
}
