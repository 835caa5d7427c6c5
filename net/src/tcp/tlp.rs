//! Tail loss probes (RFC 8985 §7): when the ACKs for the end of a flight do not come, a probe
//! (new data if the windows allow, otherwise the last segment again) after the probe timeout
//! PTO = 2·SRTT (plus the peer's worst-case delayed ACK when one segment is in flight, plus
//! the timer granularity otherwise, never later than the retransmission timeout), so that
//! its ACK lets RACK and fast recovery repair the tail instead of a timeout; and the
//! detection of a loss the probe repaired (§7.4), which then lowers the window once.
//!
//! Owns the probe's timer, its sending and its episode (`Tcb::tlp_probe`). SACK is required:
//! without it the probe's ACK cannot tell what it repaired.

use super::input::Segment;
use super::output::EmitInPlace;
use super::seq::Seq;
use super::tcb::Tcb;
use super::Shared;
use crate::time::{Duration, Instant};
use crate::wire::tcp::flags;

/// RFC 8985's TLP.max_ack_delay: what a receiver may hold the ACK of a lone segment.
pub const TLP_MAX_ACK_DELAY: Duration = Duration::from_millis(200);
/// Timer granularity added to the PTO otherwise (Linux's TCP_TIMEOUT_MIN).
pub const TLP_GRANULARITY: Duration = Duration::from_millis(2);

impl Tcb {
    /// (Re)arm the probe timer (RFC 8985 §7.2) after new data left or an ACK acknowledged
    /// some: not in recovery, not once the peer SACKed something (RACK has what it needs),
    /// not while a probe's episode is open, and only once SRTT is known. A probe due after
    /// the retransmission timeout takes the timeout's first expiry.
    pub(crate) fn arm_tlp(&mut self, now: Instant) {
        if !self.sack_ok
            || self.in_recovery
            || !self.sacked.is_empty()
            || self.tlp_probe.is_some()
            || self.snd_una == self.snd_max
        {
            return;
        }
        let Some(srtt) = self.srtt_us else {
            return;
        };
        let mut pto = Duration::from_micros(2 * srtt);
        pto += if self.flight() <= self.mss {
            TLP_MAX_ACK_DELAY
        } else {
            TLP_GRANULARITY
        };
        let at = now + pto;
        self.tlp_at = match self.rto_at {
            Some(rto) if rto <= at => Some(rto),
            _ => Some(at),
        };
    }

    /// The probe timer fired: send the probe with the next output, and let the
    /// retransmission timeout count from it.
    pub(crate) fn on_tlp_timer(&mut self, cx: &mut Shared, now: Instant) {
        if self.in_recovery
            || self.snd_max == self.snd_una
            || !self.state.is_synchronized()
            || self.tlp_probe.is_some()
        {
            return;
        }
        cx.stats.loss_probes += 1;
        self.tlp_now = true;
        self.rto_at = Some(now + self.backed_off_rto(&cx.config));
    }

    /// RFC 8985 §7.4: an ACK at or beyond the probe's end settles its episode. A probe of new
    /// data, or one the peer reports as a duplicate (a D-SACK ending where it ended), repaired
    /// nothing. An ACK beyond it, or a duplicate ACK without SACK at its end, shows the probe
    /// repaired the one loss of the tail: the window comes down as for a loss, once.
    pub(crate) fn tlp_process_ack(
        &mut self,
        cx: &mut Shared,
        seg: &Segment,
        dsack: Option<(Seq, Seq)>,
        una_before: Seq,
    ) {
        let Some((end, retransmitted)) = self.tlp_probe else {
            return;
        };
        if seg.ack < end {
            return;
        }
        if !retransmitted || dsack.is_some_and(|(_, r)| r == end) {
            self.tlp_probe = None;
            return;
        }
        let bare_dupack = seg.ack == end
            && seg.ack == una_before
            && seg.opts.sack_count == 0
            && seg.payload.is_empty();
        if seg.ack > end || bare_dupack {
            self.tlp_probe = None;
            cx.stats.tlp_recoveries += 1;
            let cwnd = self.cc.cwnd();
            self.cc.on_enter_sack_recovery(cwnd, self.mss);
        }
    }

    /// The tail loss probe (RFC 8985 §7.3): new data if the windows allow, otherwise the last
    /// segment sent again, so that its ACK (with SACK) starts fast recovery instead of a
    /// timeout.
    pub(crate) fn send_loss_probe(
        &mut self,
        cx: &mut Shared,
        now: Instant,
        mss: usize,
        emit: &mut EmitInPlace,
    ) {
        let unsent = if self.snd_nxt < self.data_end() {
            self.data_end().since(self.snd_nxt) as usize
        } else {
            0
        };
        let edge = self.snd_una + self.snd_wnd;
        if unsent > 0 && self.snd_nxt == self.snd_max && edge > self.snd_nxt {
            let len = unsent.min(mss).min(edge.since(self.snd_nxt) as usize);
            let len = self.clip_to_record(self.snd_nxt, len);
            let push = self.has_push_mark(self.snd_nxt, self.snd_nxt + len as u32);
            let fl = flags::ACK | if push { flags::PSH } else { 0 };
            self.send_sequenced(cx, now, self.snd_nxt, fl, len, true, emit);
            self.tlp_probe = Some((self.snd_max, false));
            return;
        }
        // The most recently sent segment again (RFC 8985 §7.3): from where it began (a lone
        // FIN stays a lone FIN), at most one MSS, never below SND.UNA.
        let end = self.snd_max.min(self.data_end());
        let mut start = self.tail_seg.max(self.snd_una).min(end);
        if end.since(start) as usize > mss {
            start = end - mss as u32;
        }
        let len = end.since(start) as usize;
        let fin = self.fin_seq().is_some_and(|f| f == end && self.snd_max > f);
        if len > 0 || fin {
            let push = len > 0 && self.has_push_mark(start, end);
            let fl =
                flags::ACK | if fin { flags::FIN } else { 0 } | if push { flags::PSH } else { 0 };
            self.send_sequenced(cx, now, start, fl, len, false, emit);
            self.tlp_probe = Some((self.snd_max, true));
        }
    }
}
