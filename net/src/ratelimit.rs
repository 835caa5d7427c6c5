//! A token bucket, the rate limiter behind ICMP error generation and ARP requests.
//!
//! Owns only the arithmetic: tokens refill continuously at `rate_per_sec` up to `burst`. It
//! never reads a clock; callers pass `now`.

use crate::time::Instant;

/// Tokens are kept in millitokens so that refill is exact in integer arithmetic.
const MILLI: u64 = 1000;

/// A token bucket refilled at `rate_per_sec`, holding at most `burst` tokens.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate_per_sec: u64,
    burst: u64,
    millitokens: u64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(rate_per_sec: u32, burst: u32) -> Self {
        TokenBucket {
            rate_per_sec: u64::from(rate_per_sec),
            burst: u64::from(burst),
            millitokens: u64::from(burst) * MILLI,
            last: Instant::ZERO,
        }
    }

    /// Take one token if available.
    pub fn try_take(&mut self, now: Instant) -> bool {
        let elapsed_ns = now.as_nanos().saturating_sub(self.last.as_nanos());
        // millitokens gained = elapsed_ns * rate * 1000 / 1e9; computed in u128 to not overflow.
        let gained = (u128::from(elapsed_ns) * u128::from(self.rate_per_sec) / 1_000_000) as u64;
        if gained > 0 {
            self.millitokens = self
                .millitokens
                .saturating_add(gained)
                .min(self.burst * MILLI);
            self.last = now;
        } else if now < self.last {
            self.last = now;
        }
        if self.millitokens >= MILLI {
            self.millitokens -= MILLI;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let mut b = TokenBucket::new(1000, 50);
        let t = Instant::from_millis(1);
        let n = (0..100).filter(|_| b.try_take(t)).count();
        assert_eq!(n, 50);
        // 10 ms later, 10 more tokens.
        let t2 = Instant::from_millis(11);
        let n = (0..100).filter(|_| b.try_take(t2)).count();
        assert_eq!(n, 10);
    }
}
