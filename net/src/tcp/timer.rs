//! Connection timers: retransmission (RFC 6298 §5, with SYN and data retry limits and
//! TCP_USER_TIMEOUT; a timeout marks everything outstanding lost for RACK), the tail loss
//! probe and RACK reordering timers (handed to `tlp.rs` and `loss.rs`), persist (zero-window
//! probes and the SWS override), delayed ACK,
//! keepalive (RFC 1122 §4.2.3.6), TIME-WAIT (2·MSL) and the orphan FIN-WAIT-2 timeout.
//!
//! Owns what happens when a deadline passes; it never sends (output.rs does, from the flags set
//! here) and never frees a TCB (the table does, once the state is CLOSED).

use super::tcb::Tcb;
use super::{Shared, State};
use crate::errno::Errno;
use crate::time::Instant;

impl Tcb {
    /// Run every timer of this connection whose deadline is at or before `now`.
    pub(crate) fn on_timer(&mut self, cx: &mut Shared, now: Instant) {
        if self.timewait_at.is_some_and(|t| t <= now) {
            self.timewait_at = None;
            // TIME-WAIT over, or an orphan gave up waiting in FIN-WAIT-2.
            self.set_state(&mut cx.stats, State::Closed);
            return;
        }
        if self.defer_until.is_some_and(|t| t <= now) {
            // TCP_DEFER_ACCEPT gave up waiting for data: accept may have the child now.
            self.defer_until = None;
            self.defer_expired = true;
        }
        if self.tlp_at.is_some_and(|t| t <= now) {
            self.tlp_at = None;
            self.on_tlp_timer(cx, now);
        }
        if self.rack_at.is_some_and(|t| t <= now) {
            self.rack_at = None;
            self.on_rack_timer(cx, now);
        }
        if self.rto_at.is_some_and(|t| t <= now) {
            self.rto_at = None;
            self.tlp_at = None;
            self.rack_at = None;
            self.on_rto(cx, now);
            if self.state == State::Closed {
                return;
            }
        }
        if self.persist_at.is_some_and(|t| t <= now) {
            self.persist_at = None;
            if self.snd_wnd == 0 {
                cx.stats.window_probes += 1;
                self.probe_now = true;
            } else {
                // SWS override: send what the small window allows.
                self.force_send = true;
                self.persist_push = true;
            }
            self.persist_backoff = self.persist_backoff.saturating_add(1);
            if let Some(ut) = self.opts.user_timeout {
                let start = *self.retrans_start.get_or_insert(now);
                if now.saturating_since(start) >= ut {
                    self.give_up(cx);
                    return;
                }
            }
            // Re-armed by output when the window is still closed.
            self.persist_at = Some(now + self.persist_interval(cx));
        }
        if self.delack_at.is_some_and(|t| t <= now) {
            self.delack_at = None;
            cx.stats.delayed_acks += 1;
            self.on_delack_timeout();
            self.ack_now = true;
        }
        if self.keepalive_at().is_some_and(|t| t <= now) {
            if self.ka_probes >= self.opts.keepalive_count {
                cx.stats.keepalive_timeouts += 1;
                self.send_rst_on_close = true;
                self.give_up(cx);
                return;
            }
            self.ka_probes += 1;
            cx.stats.keepalive_probes += 1;
            self.probe_now = true;
        }
    }

    /// The connection timed out: report ETIMEDOUT, or the last soft ICMP error (like Linux).
    fn give_up(&mut self, cx: &mut Shared) {
        cx.stats.timeouts_abort += 1;
        let err = self.soft_error.unwrap_or(Errno::ETIMEDOUT);
        self.fail(&mut cx.stats, err);
    }

    fn on_rto(&mut self, cx: &mut Shared, now: Instant) {
        cx.stats.timeouts += 1;
        self.total_rto = self.total_rto.saturating_add(1);
        let limit = match self.state {
            State::SynSent => cx.config.syn_retries,
            State::SynReceived => cx.config.synack_retries,
            _ => cx.config.data_retries,
        };
        let start = *self.retrans_start.get_or_insert(now);
        let user_expired = self
            .opts
            .user_timeout
            .is_some_and(|ut| now.saturating_since(start) >= ut);
        if self.retries >= limit || user_expired {
            self.give_up(cx);
            return;
        }
        self.retries += 1;
        self.backoff = self.backoff.saturating_add(1);
        self.ts_last_rto = self.ts_now(now);
        self.rtt_timing = None;
        match self.state {
            State::SynSent | State::SynReceived => {
                // Resend the SYN (or SYN-ACK).
                self.snd_nxt = self.iss;
            }
            _ => {
                let mss = self.mss;
                self.cc.on_rto(self.flight(), mss);
                self.hystart.stop();
                self.rto_slow_start = true;
                self.recover = self.snd_max;
                self.in_recovery = false;
                self.dupacks = 0;
                self.limited_sent = 0;
                self.rexmit_head = false;
                // Everything outstanding is lost; a probe's episode is over.
                self.rack.mark_all_lost(self.recover);
                self.tlp_probe = None;
                // Go back N: resend from the first unacknowledged byte.
                self.snd_nxt = self.snd_una;
            }
        }
    }
}
