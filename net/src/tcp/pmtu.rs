//! Path MTUs learned from ICMP "fragmentation needed" (RFC 1191): kept per destination so that
//! the next connection to the same host starts with the smaller MSS instead of learning it
//! again by losing its first full-sized segments (RFC 1191 §5: a host SHOULD cache the PMTU
//! per destination; Linux keeps it as a route exception for `ip_rt_mtu_expires`, 10 minutes).
//!
//! Owns the cache only; `icmp` feeds it (after checking the quoted segment is ours and in
//! flight), connection set-up (`connect`, a listener's new child) reads it. Bounded:
//! [`PMTU_CACHE_MAX`] destinations; a new one replaces the entry closest to expiring. An
//! entry only ever lowers the MTU (a larger learned value never raises it before it expires,
//! RFC 1191 §6.3: increases come from aging, not from ICMP).

use alloc::collections::BTreeMap;
use core::net::Ipv4Addr;

use crate::time::{Duration, Instant};

/// How long a learned path MTU is used (Linux's ip_rt_mtu_expires; RFC 1191 §6.3 asks for at
/// least 10 minutes before trying a larger one).
pub const PMTU_EXPIRY: Duration = Duration::from_secs(600);
/// Destinations remembered at most.
pub const PMTU_CACHE_MAX: usize = 256;
/// The smallest MTU believed (RFC 791's 68; smaller claims are ignored by the caller).
pub const MIN_PMTU: u16 = 68;

/// Learned path MTUs by destination, each with its expiry.
#[derive(Debug, Default)]
pub struct PmtuCache {
    entries: BTreeMap<Ipv4Addr, (u16, Instant)>,
}

impl PmtuCache {
    /// Records that the path to `dst` carries at most `mtu` bytes (from `now` on).
    pub fn learn(&mut self, now: Instant, dst: Ipv4Addr, mtu: u16) {
        if mtu < MIN_PMTU {
            return;
        }
        let expires = now + PMTU_EXPIRY;
        let mtu = match self.entries.get(&dst) {
            Some(&(old, until)) if until > now => old.min(mtu),
            _ => mtu,
        };
        if !self.entries.contains_key(&dst) && self.entries.len() >= PMTU_CACHE_MAX {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, &(_, until))| until)
                .map(|(&ip, _)| ip);
            if let Some(ip) = oldest {
                self.entries.remove(&ip);
            }
        }
        self.entries.insert(dst, (mtu, expires));
    }

    /// The path MTU learned for `dst`, if it has not expired.
    pub fn lookup(&self, now: Instant, dst: Ipv4Addr) -> Option<u16> {
        self.entries
            .get(&dst)
            .and_then(|&(mtu, until)| (until > now).then_some(mtu))
    }

    /// Destinations remembered (expired ones included until replaced).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    #[test]
    fn learned_mtu_lowers_and_expires() {
        let mut c = PmtuCache::default();
        let t0 = Instant::ZERO;
        assert_eq!(c.lookup(t0, A), None);
        c.learn(t0, A, 1200);
        assert_eq!(c.lookup(t0, A), Some(1200));
        assert_eq!(c.lookup(t0, B), None, "per destination");
        // A larger report does not raise it; a smaller one lowers it.
        c.learn(t0, A, 1400);
        assert_eq!(c.lookup(t0, A), Some(1200));
        c.learn(t0, A, 1000);
        assert_eq!(c.lookup(t0, A), Some(1000));
        // Gone after the expiry; then a larger value is taken again.
        let later = t0 + PMTU_EXPIRY + Duration::from_secs(1);
        assert_eq!(c.lookup(later, A), None);
        c.learn(later, A, 1400);
        assert_eq!(c.lookup(later, A), Some(1400));
        // Nonsense below 68 is not believed.
        c.learn(later, B, 20);
        assert_eq!(c.lookup(later, B), None);
    }

    #[test]
    fn bounded_by_replacing_the_entry_closest_to_expiring() {
        let mut c = PmtuCache::default();
        for i in 0..PMTU_CACHE_MAX as u32 + 10 {
            let now = Instant::ZERO + Duration::from_millis(u64::from(i));
            c.learn(now, Ipv4Addr::from(0x0a00_0000 + i), 1300);
        }
        assert_eq!(c.len(), PMTU_CACHE_MAX);
        let now = Instant::ZERO + Duration::from_secs(1);
        assert_eq!(
            c.lookup(now, Ipv4Addr::from(0x0a00_0000)),
            None,
            "oldest gone"
        );
        assert_eq!(
            c.lookup(now, Ipv4Addr::from(0x0a00_0000 + PMTU_CACHE_MAX as u32 + 9)),
            Some(1300)
        );
    }
}
