//! Congestion control behind a trait: RFC 5681 / RFC 6582 NewReno here, RFC 9438 CUBIC in
//! `cubic.rs` (the default), chosen per socket by name ([`by_name`]).
//!
//! Owns cwnd and ssthresh only. Loss detection (duplicate ACKs, partial ACKs, RTO) lives in
//! the input and timer code, which tells the algorithm what happened; the algorithm never sends.

use alloc::boxed::Box;
use core::fmt::Debug;

use crate::time::{Duration, Instant};

pub use super::cubic::{cubic, Cubic};

/// What loss recovery reports to a congestion controller. All sizes in bytes.
pub trait CongestionControl: Debug + Send {
    fn cwnd(&self) -> u32;
    fn ssthresh(&self) -> u32;
    /// The algorithm's name as `TCP_CONGESTION` reports it.
    fn name(&self) -> &'static str {
        "unknown"
    }
    /// New data was cumulatively acknowledged outside fast recovery.
    fn on_ack(&mut self, acked: u32, mss: u32);
    /// [`on_ack`](Self::on_ack) with the time and the smoothed round-trip time, for
    /// algorithms whose window is a function of time (CUBIC). The ACK path calls this one.
    fn on_ack_at(&mut self, now: Instant, rtt: Option<Duration>, acked: u32, mss: u32) {
        let _ = (now, rtt);
        self.on_ack(acked, mss);
    }
    /// The algorithm replaces another on a live connection (`set_congestion`): continue
    /// from the predecessor's window and threshold.
    fn restart_from(&mut self, cwnd: u32, ssthresh: u32) {
        let _ = (cwnd, ssthresh);
    }
    /// Slow start ends without a loss (HyStart++, RFC 9406): congestion avoidance from the
    /// current window on.
    fn exit_slow_start(&mut self);
    /// Third duplicate ACK: enter fast recovery with `flight` bytes outstanding.
    fn on_enter_recovery(&mut self, flight: u32, mss: u32);
    /// Enter SACK-based recovery (RFC 6675 §5): no window inflation, `pipe` does the
    /// accounting.
    fn on_enter_sack_recovery(&mut self, flight: u32, mss: u32) {
        self.on_enter_recovery(flight, mss);
    }
    /// A further duplicate ACK during fast recovery.
    fn on_dupack_in_recovery(&mut self, mss: u32);
    /// A partial ACK (RFC 6582 §3.2 step 5) acknowledged `acked` bytes.
    fn on_partial_ack(&mut self, acked: u32, mss: u32);
    /// A full ACK ends fast recovery with `flight` bytes still outstanding.
    fn on_exit_recovery(&mut self, flight: u32, mss: u32);
    /// The retransmission timer expired with `flight` bytes outstanding.
    fn on_rto(&mut self, flight: u32, mss: u32);
    /// Sending resumes after an idle period longer than the RTO (RFC 5681 §4.1): the
    /// window is no longer a valid measure of the path.
    fn on_idle_restart(&mut self, restart_window: u32);
    /// The last congestion event was spurious (RFC 3522 Eifel detection): restore the state
    /// from before it.
    fn undo(&mut self);
}

/// Builds a connection's congestion controller from the initial window (segments) and MSS
/// (bytes); `TcpConfig::congestion` selects the algorithm.
pub type CongestionFactory = fn(initial_window: u32, mss: u32) -> Box<dyn CongestionControl>;

/// The algorithms `set_congestion` accepts, by their Linux names.
pub const AVAILABLE: [(&str, CongestionFactory); 2] = [("cubic", cubic), ("reno", new_reno)];

/// The factory for a Linux algorithm name ("cubic", "reno").
pub fn by_name(name: &str) -> Option<CongestionFactory> {
    AVAILABLE.iter().find(|(n, _)| *n == name).map(|&(_, f)| f)
}

/// The factory for [`NewReno`].
pub fn new_reno(initial_window: u32, mss: u32) -> Box<dyn CongestionControl> {
    Box::new(NewReno::new(initial_window, mss))
}

/// RFC 5681 slow start / congestion avoidance with RFC 6582 fast recovery.
#[derive(Debug, Clone)]
pub struct NewReno {
    cwnd: u32,
    ssthresh: u32,
    /// Bytes acknowledged towards the next congestion-avoidance increment.
    ca_acked: u32,
    /// (cwnd, ssthresh) before the last congestion event, for `undo`.
    prior: (u32, u32),
}

impl NewReno {
    /// Initial window of `iw_segments` (RFC 6928: 10) and an "arbitrarily high" ssthresh.
    pub fn new(iw_segments: u32, mss: u32) -> Self {
        NewReno {
            cwnd: iw_segments.max(1).saturating_mul(mss),
            ssthresh: u32::MAX,
            ca_acked: 0,
            prior: (0, 0),
        }
    }
}

fn half_flight(flight: u32, mss: u32) -> u32 {
    (flight / 2).max(2 * mss)
}

impl CongestionControl for NewReno {
    fn cwnd(&self) -> u32 {
        self.cwnd
    }
    fn ssthresh(&self) -> u32 {
        self.ssthresh
    }
    fn name(&self) -> &'static str {
        "reno"
    }
    fn restart_from(&mut self, cwnd: u32, ssthresh: u32) {
        self.cwnd = cwnd.max(1);
        self.ssthresh = ssthresh;
        self.ca_acked = 0;
    }
    fn exit_slow_start(&mut self) {
        self.ssthresh = self.cwnd;
    }
    fn on_ack(&mut self, acked: u32, mss: u32) {
        if self.cwnd < self.ssthresh {
            // RFC 3465 appropriate byte counting with L = 2.
            self.cwnd = self.cwnd.saturating_add(acked.min(2 * mss));
        } else {
            self.ca_acked = self.ca_acked.saturating_add(acked);
            if self.ca_acked >= self.cwnd {
                self.ca_acked -= self.cwnd;
                self.cwnd = self.cwnd.saturating_add(mss);
            }
        }
    }
    fn on_enter_recovery(&mut self, flight: u32, mss: u32) {
        self.prior = (self.cwnd, self.ssthresh);
        self.ssthresh = half_flight(flight, mss);
        self.cwnd = self.ssthresh + 3 * mss;
        self.ca_acked = 0;
    }
    fn on_enter_sack_recovery(&mut self, flight: u32, mss: u32) {
        self.prior = (self.cwnd, self.ssthresh);
        self.ssthresh = half_flight(flight, mss);
        self.cwnd = self.ssthresh;
        self.ca_acked = 0;
    }
    fn on_dupack_in_recovery(&mut self, mss: u32) {
        self.cwnd = self.cwnd.saturating_add(mss);
    }
    fn on_partial_ack(&mut self, acked: u32, mss: u32) {
        self.cwnd = partial_ack_window(self.cwnd, acked, mss);
    }
    fn on_exit_recovery(&mut self, flight: u32, mss: u32) {
        self.cwnd = exit_recovery_window(self.ssthresh, flight, mss);
    }
    fn on_rto(&mut self, flight: u32, mss: u32) {
        self.prior = (self.cwnd, self.ssthresh);
        self.ssthresh = half_flight(flight, mss);
        self.cwnd = mss;
        self.ca_acked = 0;
    }
    fn on_idle_restart(&mut self, restart_window: u32) {
        self.cwnd = self.cwnd.min(restart_window);
    }
    fn undo(&mut self) {
        if self.prior.0 > 0 {
            // Recovery's inflation no longer applies: back to exactly where we were.
            self.cwnd = self.prior.0;
            self.ssthresh = self.prior.1;
            self.prior = (0, 0);
        }
    }
}

/// RFC 6582 §3.2 step 5: on a partial ACK, deflate the window by the data acknowledged and add
/// back one MSS when at least one MSS was acknowledged (never below one MSS). Shared by every
/// algorithm's fast recovery.
pub(crate) fn partial_ack_window(cwnd: u32, acked: u32, mss: u32) -> u32 {
    let mut w = cwnd.saturating_sub(acked);
    if acked >= mss {
        w = w.saturating_add(mss);
    }
    w.max(mss)
}

/// RFC 6582 §3.2 step 6 (option 1): the window when the full ACK ends recovery.
pub(crate) fn exit_recovery_window(ssthresh: u32, flight: u32, mss: u32) -> u32 {
    ssthresh.min(flight.max(mss).saturating_add(mss))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newreno_phases() {
        let mss = 1000;
        let mut c = NewReno::new(10, mss);
        assert_eq!(c.cwnd(), 10_000);
        c.on_ack(1000, mss);
        assert_eq!(c.cwnd(), 11_000);
        c.on_enter_recovery(20_000, mss);
        assert_eq!((c.ssthresh(), c.cwnd()), (10_000, 13_000));
        c.on_dupack_in_recovery(mss);
        assert_eq!(c.cwnd(), 14_000);
        c.on_partial_ack(3000, mss);
        assert_eq!(c.cwnd(), 12_000);
        c.on_exit_recovery(5000, mss);
        assert_eq!(c.cwnd(), 6000);
        // Congestion avoidance: one MSS per cwnd of acknowledged data.
        c.on_rto(8000, mss);
        assert_eq!((c.ssthresh(), c.cwnd()), (4000, 1000));
        for _ in 0..3 {
            c.on_ack(1000, mss);
        }
        assert_eq!(c.cwnd(), 4000);
        for _ in 0..4 {
            c.on_ack(1000, mss);
        }
        assert_eq!(c.cwnd(), 5000);
        // A spurious event is undone.
        c.on_enter_recovery(10_000, mss);
        c.undo();
        assert_eq!((c.cwnd(), c.ssthresh()), (5000, 4000));
    }
}
