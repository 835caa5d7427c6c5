//! Loss detection with SACK, per connection: after each ACK the DupThresh rule (RFC 6675
//! IsLost, until reordering has been seen) and RACK's time-based marking (RFC 8985 §6.2), the
//! reordering timer that finishes RACK's job when no ACK comes (§6.2 step 5), and PRR's
//! allowance refreshed when a timer finds more losses in recovery.
//!
//! Owns the glue between an ACK or a timer and the scoreboard in `rack.rs`; it never sends
//! (output.rs retransmits what is marked lost) and decides no window (the congestion
//! controller and `prr.rs` do).

use super::tcb::Tcb;
use super::Shared;
use crate::time::Instant;

impl Tcb {
    /// RACK.min_RTT (windowed, `rack`), or the lowest round trip seen before RACK has a
    /// sample of its own; 0 before any.
    fn min_rtt(&self) -> u64 {
        let seen = if self.min_rtt_us == u64::MAX {
            0
        } else {
            self.min_rtt_us
        };
        self.rack.min_rtt_us(seen)
    }

    /// RFC 8985 §6.2 for an acceptable ACK on a SACK connection (after SND.UNA and the SACK
    /// scoreboard took it in; `dsack`: it carried a D-SACK).
    pub(crate) fn loss_process_ack(&mut self, cx: &mut Shared, now: Instant, dsack: bool) {
        let min_rtt = self.min_rtt();
        if self.rack.on_ack(self.snd_una, &self.sacked, now, min_rtt) {
            cx.stats.rack_reordering += 1;
        }
        self.rack.on_dsack(self.snd_una, self.snd_max, dsack);
        // A D-SACK reports a spurious retransmission: the original was only late, which is
        // how reordering shows when its segment had been resent (the rule of step 3 skips
        // retransmitted segments).
        if dsack && !self.rack.reordering_seen {
            self.rack.reordering_seen = true;
            cx.stats.rack_reordering += 1;
        }
        // RFC 8985 keeps DupThresh only while no reordering has been seen.
        if !self.rack.reordering_seen {
            cx.stats.dupthresh_marks += u64::from(self.mark_dupthresh_losses());
        }
        self.rack_detect(cx, now);
    }

    /// Mark what RACK takes as lost now and (re)arm the reordering timer for the rest.
    fn rack_detect(&mut self, cx: &mut Shared, now: Instant) {
        let srtt = self.srtt_us.unwrap_or(0);
        let reo_wnd = self.rack.reo_wnd(self.min_rtt(), srtt);
        let found = self.rack.detect_loss(now, reo_wnd);
        cx.stats.rack_marks += u64::from(found.marked);
        cx.stats.lost_retransmits += u64::from(found.lost_retransmits);
        self.rack_at = found.timer;
    }

    /// The reordering timer fired: mark what is now overdue; start fast recovery if that found
    /// a loss, or let recovery send for it.
    pub(crate) fn on_rack_timer(&mut self, cx: &mut Shared, now: Instant) {
        if !self.sack_ok || !self.state.is_synchronized() || self.snd_una == self.snd_max {
            return;
        }
        cx.stats.rack_timeouts += 1;
        let pipe_before = self.pipe();
        self.rack_detect(cx, now);
        if self.lost_bytes() == 0 {
            return;
        }
        let pipe = self.pipe();
        if self.in_recovery {
            // No ACK came: the window stays what the last one allowed, and what was just
            // taken as lost has left the pipe, so that much may go (its retransmission).
            let freed = pipe_before.saturating_sub(pipe);
            self.prr.allowance = self.prr.allowance.saturating_add(freed);
        } else {
            self.enter_fast_recovery(cx, now);
            if self.in_recovery {
                // PRR's allowance for nothing delivered: the fast retransmit.
                self.prr.on_ack(0, pipe, self.cc.ssthresh(), self.mss);
            }
        }
    }
}
