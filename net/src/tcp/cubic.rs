//! CUBIC congestion control (RFC 9438) behind the [`CongestionControl`] trait: the cubic
//! window curve around W_max, fast convergence, the Reno-friendly region, and NewReno's
//! recovery mechanics (RFC 6582 / RFC 6675) with β_cubic = 0.7 instead of 0.5.
//!
//! Owns cwnd, ssthresh and the curve's state only; it never sends and never reads a clock
//! (the ACK path passes the time in). Integer arithmetic throughout (bytes, microseconds,
//! i128 for the cube), so it needs no floating point in the kernel. No HyStart: slow start is
//! RFC 5681's.

use alloc::boxed::Box;

use super::congestion::CongestionControl;
use crate::time::{Duration, Instant};

/// C = 0.4 as the fraction 2/5 (RFC 9438 §5).
const C_NUM: i128 = 2;
const C_DEN: i128 = 5;
/// β_cubic = 0.7 as 7/10 (RFC 9438 §4.6).
const BETA_NUM: u64 = 7;
const BETA_DEN: u64 = 10;
/// α_cubic = 3(1 − β)/(1 + β) = 0.9/1.7 = 9/17 (RFC 9438 §4.3).
const ALPHA_NUM: u64 = 9;
const ALPHA_DEN: u64 = 17;
const US_PER_S: i128 = 1_000_000;

/// The factory for [`TcpConfig::congestion`](super::TcpConfig) and `set_congestion`.
pub fn cubic(initial_window: u32, mss: u32) -> Box<dyn CongestionControl> {
    Box::new(Cubic::new(initial_window, mss))
}

/// RFC 9438 CUBIC. Windows in bytes.
#[derive(Debug, Clone)]
pub struct Cubic {
    mss: u32,
    cwnd: u32,
    ssthresh: u32,
    /// W_max: the window before the last reduction (bytes).
    w_max: u32,
    /// Start of the current congestion-avoidance epoch; `None` until the first ACK after a
    /// congestion event (or after slow start).
    epoch_start: Option<Instant>,
    /// cwnd when the epoch began.
    cwnd_epoch: u32,
    /// K in microseconds: when the curve returns to W_max.
    k_us: u64,
    /// W_est, the Reno-friendly window estimate (bytes).
    w_est: u32,
    /// Remainders of the fractional per-ACK increments (numerators over cwnd).
    cwnd_rem: u64,
    est_rem: u64,
    /// (cwnd, ssthresh, w_max) before the last congestion event, for `undo`.
    prior: Option<(u32, u32, u32)>,
    /// cwnd_prior: the window when ssthresh was last set, by a congestion event or the end
    /// of slow start (RFC 9438 §4.3: once W_est reaches it, the Reno-friendly estimate grows
    /// with α = 1); none (α_cubic throughout) before either.
    cwnd_prior: u32,
}

/// ⌊∛x⌋.
fn icbrt(x: u128) -> u64 {
    let (mut lo, mut hi) = (0u64, 1u64 << 43); // (2^43)^3 > 2^128
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        let m = u128::from(mid);
        match m.checked_mul(m).and_then(|s| s.checked_mul(m)) {
            Some(c) if c <= x => lo = mid,
            _ => hi = mid - 1,
        }
    }
    lo
}

impl Cubic {
    /// Initial window of `iw_segments` segments and an "arbitrarily high" ssthresh.
    pub fn new(iw_segments: u32, mss: u32) -> Self {
        let mss = mss.max(1);
        Cubic {
            mss,
            cwnd: iw_segments.max(1).saturating_mul(mss),
            ssthresh: u32::MAX,
            w_max: 0,
            epoch_start: None,
            cwnd_epoch: 0,
            k_us: 0,
            w_est: 0,
            cwnd_rem: 0,
            est_rem: 0,
            prior: None,
            cwnd_prior: u32::MAX,
        }
    }

    /// W_max (bytes).
    pub fn w_max(&self) -> u32 {
        self.w_max
    }

    /// K (RFC 9438 eq. 2) of the current epoch.
    pub fn k(&self) -> Duration {
        Duration::from_micros(self.k_us)
    }

    /// K = ∛((W_max − cwnd_epoch)/C) seconds, windows in segments: in microseconds that is
    /// ∛((W_max − cwnd_epoch)/MSS · 5/2 · 10^18).
    fn compute_k(w_max: u32, cwnd_epoch: u32, mss: u32) -> u64 {
        let diff = u128::from(w_max.saturating_sub(cwnd_epoch));
        let x =
            diff * (C_DEN as u128) * 1_000_000_000_000_000_000 / (C_NUM as u128 * u128::from(mss));
        icbrt(x)
    }

    /// W_cubic(t) = C·(t − K)³ + W_max (RFC 9438 eq. 1), in bytes, for `t` since the epoch
    /// began; clamped to 0..=u32::MAX.
    pub fn w_cubic(&self, t: Duration) -> u32 {
        let d = t.as_micros() as i128 - i128::from(self.k_us);
        // C·d³ segments, d in µs: C_NUM·d³·MSS / (C_DEN·10^18) bytes. |d| < 2^40 µs keeps
        // d³·MSS inside i128.
        let d = d.clamp(-(1 << 40), 1 << 40);
        let cube = d * d * d / US_PER_S / US_PER_S;
        let delta = cube * C_NUM * i128::from(self.mss) / (C_DEN * US_PER_S);
        (i128::from(self.w_max) + delta).clamp(0, i128::from(u32::MAX)) as u32
    }

    /// A congestion event (RFC 9438 §4.6, with fast convergence §4.7): remember W_max and
    /// set ssthresh to β·flight.
    fn reduce(&mut self, flight: u32) {
        self.prior = Some((self.cwnd, self.ssthresh, self.w_max));
        self.cwnd_prior = self.cwnd;
        let mss = self.mss;
        self.w_max = if self.cwnd < self.w_max {
            // Fast convergence: release bandwidth to newer flows.
            (u64::from(self.cwnd) * (BETA_DEN + BETA_NUM) / (2 * BETA_DEN)) as u32
        } else {
            self.cwnd
        };
        self.ssthresh = ((u64::from(flight) * BETA_NUM / BETA_DEN) as u32).max(2 * mss);
        self.epoch_start = None;
        self.cwnd_rem = 0;
        self.est_rem = 0;
    }

    fn start_epoch(&mut self, now: Instant) {
        self.epoch_start = Some(now);
        self.cwnd_epoch = self.cwnd;
        self.w_est = self.cwnd;
        if self.cwnd >= self.w_max {
            // Past the old maximum already (e.g. after an RTO's slow start): the curve
            // starts at its plateau.
            self.w_max = self.cwnd;
            self.k_us = 0;
        } else {
            self.k_us = Self::compute_k(self.w_max, self.cwnd_epoch, self.mss);
        }
    }

    /// Congestion avoidance for `acked` bytes at `now` with round-trip time `rtt`
    /// (RFC 9438 §4.2–4.5).
    fn avoid(&mut self, now: Instant, rtt: Duration, acked: u32) {
        let start = match self.epoch_start {
            Some(s) => s,
            None => {
                self.start_epoch(now);
                now
            }
        };
        let t = now.saturating_since(start);
        let cwnd = u64::from(self.cwnd.max(1));
        // Reno-friendly estimate: W_est += α·acked/cwnd segments, α = α_cubic until W_est
        // reaches cwnd_prior, then 1 (RFC 9438 §4.3 SHOULD: Reno's rate from there on).
        let (num, den) = if self.w_est >= self.cwnd_prior {
            (1, 1)
        } else {
            (ALPHA_NUM, ALPHA_DEN)
        };
        self.est_rem = self
            .est_rem
            .saturating_add(num * u64::from(acked) * u64::from(self.mss));
        let den = den * cwnd;
        self.w_est = self
            .w_est
            .saturating_add((self.est_rem / den).min(u64::from(u32::MAX)) as u32);
        self.est_rem %= den;
        if self.w_cubic(t) < self.w_est {
            // Reno-friendly region (§4.3).
            self.cwnd = self.cwnd.max(self.w_est);
            return;
        }
        // Concave / convex regions (§4.4, §4.5): grow towards W_cubic(t + RTT), clamped to
        // [cwnd, 1.5·cwnd].
        let target = u64::from(self.w_cubic(t + rtt)).clamp(cwnd, cwnd + cwnd / 2);
        self.cwnd_rem = self
            .cwnd_rem
            .saturating_add((target - cwnd).saturating_mul(u64::from(acked)));
        let inc = self.cwnd_rem / cwnd;
        self.cwnd_rem %= cwnd;
        self.cwnd = self
            .cwnd
            .saturating_add(inc.min(u64::from(u32::MAX)) as u32);
    }
}

impl CongestionControl for Cubic {
    fn cwnd(&self) -> u32 {
        self.cwnd
    }
    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }
    fn name(&self) -> &'static str {
        "cubic"
    }
    fn on_ack(&mut self, acked: u32, mss: u32) {
        // Without a clock only slow start can proceed; `on_ack_at` is what the ACK path calls.
        if self.cwnd < self.ssthresh {
            self.cwnd = self.cwnd.saturating_add(acked.min(2 * mss));
        }
    }
    fn on_ack_at(&mut self, now: Instant, rtt: Option<Duration>, acked: u32, mss: u32) {
        self.mss = mss.max(1);
        if self.cwnd < self.ssthresh {
            // RFC 5681 slow start with RFC 3465 byte counting (L = 2).
            self.cwnd = self.cwnd.saturating_add(acked.min(2 * mss));
            return;
        }
        self.avoid(now, rtt.unwrap_or(Duration::ZERO), acked);
    }
    fn on_enter_recovery(&mut self, flight: u32, mss: u32) {
        self.reduce(flight);
        self.cwnd = self.ssthresh + 3 * mss;
    }
    fn on_enter_sack_recovery(&mut self, flight: u32, _mss: u32) {
        self.reduce(flight);
        self.cwnd = self.ssthresh;
    }
    fn on_dupack_in_recovery(&mut self, mss: u32) {
        self.cwnd = self.cwnd.saturating_add(mss);
    }
    fn on_partial_ack(&mut self, acked: u32, mss: u32) {
        self.cwnd = super::congestion::partial_ack_window(self.cwnd, acked, mss);
    }
    fn on_exit_recovery(&mut self, flight: u32, mss: u32) {
        self.cwnd = super::congestion::exit_recovery_window(self.ssthresh, flight, mss);
    }
    fn on_rto(&mut self, flight: u32, mss: u32) {
        self.reduce(flight);
        self.cwnd = mss;
    }
    fn on_idle_restart(&mut self, restart_window: u32) {
        self.cwnd = self.cwnd.min(restart_window);
        self.epoch_start = None;
    }
    fn undo(&mut self) {
        if let Some((c, s, w)) = self.prior.take() {
            self.cwnd = c;
            self.ssthresh = s;
            self.w_max = w;
            self.epoch_start = None;
        }
    }
    fn exit_slow_start(&mut self) {
        // RFC 9438 §4.10: the epoch starts at the next ACK with W_max = cwnd (K = 0).
        self.ssthresh = self.cwnd;
        self.cwnd_prior = self.cwnd;
        self.epoch_start = None;
    }
    fn restart_from(&mut self, cwnd: u32, ssthresh: u32) {
        self.cwnd = cwnd.max(self.mss);
        self.ssthresh = ssthresh;
        self.epoch_start = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: u32 = 1000;

    fn secs(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn cube_root() {
        assert_eq!(icbrt(0), 0);
        assert_eq!(icbrt(26), 2);
        assert_eq!(icbrt(27), 3);
        assert_eq!(icbrt(1_000_000_000_000_000_000), 1_000_000);
        assert_eq!(icbrt(u128::MAX), 6_981_463_658_331);
    }

    /// A loss at cwnd = 100 segments (flight 100): ssthresh = cwnd = 70 segments,
    /// W_max = 100, K = ∛(30/0.4) = ∛75 = 4.217163 s.
    #[test]
    fn reduction_and_k_by_hand() {
        let mut c = Cubic::new(100, MSS);
        c.ssthresh = 0; // congestion avoidance from the start
        c.on_enter_sack_recovery(100_000, MSS);
        assert_eq!(
            (c.cwnd(), c.ssthresh(), c.w_max()),
            (70_000, 70_000, 100_000)
        );
        c.on_exit_recovery(100_000, MSS);
        assert_eq!(c.cwnd(), 70_000);
        let t0 = Instant::from_millis(10_000);
        c.on_ack_at(t0, Some(secs(100)), MSS, MSS);
        // ∛75 = 4.2171633 s.
        assert_eq!(c.k().as_micros(), 4_217_163);
        // W_cubic(0) = W_max − 0.4·K³ = 100 − 30 = 70 segments (to the byte, up to the
        // rounding of K).
        assert!((c.w_cubic(Duration::ZERO) as i64 - 70_000).abs() <= 1);
        // W_cubic(K) = W_max.
        assert_eq!(c.w_cubic(c.k()), 100_000);
        // t = K + 2 s: 100 + 0.4·8 = 103.2 segments.
        assert_eq!(c.w_cubic(c.k() + secs(2000)), 103_200);
        // t = 1 s: 100 + 0.4·(1 − 4.2171633)³ = 100 − 0.4·33.3004 = 86.6798 segments.
        let w1 = c.w_cubic(secs(1000));
        assert!((w1 as i64 - 86_680).abs() <= 2, "{w1}");
    }

    /// The Reno-friendly region (RFC 9438 §4.3) on a short path: after a loss at 10 segments
    /// the estimate grows by α_cubic = 9/17 segment per round trip until it reaches
    /// cwnd_prior (10 segments, after about 6 round trips), then by one, Reno's rate.
    #[test]
    fn reno_friendly_alpha_becomes_one_at_cwnd_prior() {
        let mut c = Cubic::new(10, MSS);
        c.ssthresh = 0;
        c.on_enter_sack_recovery(10_000, MSS);
        c.on_exit_recovery(10_000, MSS);
        assert_eq!(c.cwnd(), 7_000);
        let rtt = secs(10);
        let mut now = Instant::from_millis(1_000);
        let mut after = alloc::vec::Vec::new();
        for _ in 0..20 {
            let segs = c.cwnd() / MSS;
            for _ in 0..segs {
                c.on_ack_at(now, Some(rtt), MSS, MSS);
            }
            now = now + rtt;
            after.push(c.cwnd() / MSS);
        }
        // Five round trips at 9/17: 7 + 2.6 segments, still below cwnd_prior.
        assert_eq!(after[4], 9, "{after:?}");
        // Then one segment per round trip: 10 after ~6 round trips, ~24 after 20.
        assert!(after[19] >= 23, "{after:?}");
        assert!(after[19] - after[14] >= 5, "{after:?}");
    }

    /// Fast convergence: a second loss below the previous W_max sets W_max to
    /// cwnd·(1 + β)/2 = 0.85·cwnd.
    #[test]
    fn fast_convergence() {
        let mut c = Cubic::new(100, MSS);
        c.on_enter_sack_recovery(100_000, MSS);
        assert_eq!(c.w_max(), 100_000);
        c.on_exit_recovery(100_000, MSS);
        // cwnd 70 000 < W_max 100 000: W_max = 0.85 · 70 000 = 59 500.
        c.on_enter_sack_recovery(70_000, MSS);
        assert_eq!((c.w_max(), c.cwnd()), (59_500, 49_000));
        // A spurious event is undone, W_max included.
        c.undo();
        assert_eq!((c.w_max(), c.cwnd()), (100_000, 70_000));
    }

    /// The window follows the curve: starting at 70 segments, each round trip (100 ms, one
    /// cwnd of ACKs) moves cwnd to W_cubic(t + RTT); and it stays under W_max before K.
    #[test]
    fn window_tracks_the_curve() {
        let mut c = Cubic::new(100, MSS);
        c.on_enter_sack_recovery(100_000, MSS);
        c.on_exit_recovery(100_000, MSS);
        let rtt = secs(100);
        let t0 = Instant::from_millis(1_000);
        let mut now = t0;
        for _ in 0..10 {
            let segs = c.cwnd() / MSS;
            for _ in 0..segs {
                c.on_ack_at(now, Some(rtt), MSS, MSS);
            }
            now = now + rtt;
        }
        // The last round used t = 0.9 s, targeting W_cubic(1.0 s) = 86.68 segments; each
        // round closes the gap to within the part of a segment its ACKs could not cover.
        let w = c.cwnd();
        assert!((85_680..=86_680).contains(&w), "{w}");
        for _ in 0..30 {
            let segs = c.cwnd() / MSS;
            for _ in 0..segs {
                c.on_ack_at(now, Some(rtt), MSS, MSS);
            }
            now = now + rtt;
        }
        // The last round used t = 3.9 s, targeting W_cubic(4.0 s) = 100 − 0.4·0.2172³ =
        // 99.9959 segments: the concave curve flattens just under W_max.
        let w = c.cwnd();
        assert!((99_900..=99_996).contains(&w), "{w}");
    }

    /// Reno-friendly region: with a tiny W_max drop the cubic curve is flat, and W_est
    /// (α = 9/17 segment per RTT) carries the window instead.
    #[test]
    fn reno_friendly_region() {
        let mut c = Cubic::new(10, MSS);
        c.ssthresh = 10_000;
        // Epoch at cwnd = W_max = 10 segments: K = 0 and the curve grows only as 0.4·t³.
        let rtt = secs(10);
        let mut now = Instant::from_millis(1000);
        for _ in 0..17 {
            let segs = c.cwnd() / MSS;
            for _ in 0..segs {
                c.on_ack_at(now, Some(rtt), MSS, MSS);
            }
            now = now + rtt;
        }
        // 17 RTTs of 10 ms: the cubic curve alone would give W_cubic(0.18 s) = 10 + 0.4·0.18³
        // = 10.002 segments; W_est adds 9/17 segment per RTT, 9 segments in all (a little
        // less: each round's ACKs cover only the whole segments of cwnd).
        let w = c.cwnd();
        assert!((18_000..=19_000).contains(&w), "{w}");
    }
}
