//! ACK processing (RFC 9293 §3.10.7.4 "fifth, check the ACK field"): the send window, RTT
//! samples (RFC 6298 with RFC 7323 timestamps, Karn's rule otherwise), duplicate-ACK loss
//! detection with NewReno fast recovery (RFC 5681, RFC 6582), the entry into SACK recovery
//! once `loss.rs` (RACK-TLP, RFC 8985) finds a loss, PRR's per-ACK allowance, Eifel undo
//! (RFC 3522), and the closing states our FIN being acknowledged moves us through.
//!
//! Owns what an acceptable ACK does to the send side of one TCB; it never sends.

use super::hystart::{Growth, HyStart};
use super::input::Segment;
use super::tcb::{Owner, Tcb};
use super::{Shared, State};
use crate::time::Instant;
use crate::wire::tcp::flags;

impl Tcb {
    pub(crate) fn process_ack(&mut self, cx: &mut Shared, now: Instant, seg: &Segment) {
        let mss = self.mss;
        // Window update (RFC 9293 §3.10.7.4, SND.WL1/WL2 rule).
        let new_wnd = u32::from(seg.window) << self.snd_wscale;
        let mut window_changed = false;
        if self.snd_wl1 < seg.seq || (self.snd_wl1 == seg.seq && self.snd_wl2 <= seg.ack) {
            window_changed = new_wnd != self.snd_wnd;
            self.snd_wnd = new_wnd;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            self.max_snd_wnd = self.max_snd_wnd.max(new_wnd);
            if new_wnd > 0 && self.persist_at.is_some() {
                self.persist_at = None;
                self.persist_backoff = 0;
            }
        }
        let sacked_before = self.sacked_bytes();
        let una_before = self.snd_una;
        let dsack = self.sack_update(cx, seg);
        if seg.ack > self.snd_una {
            let acked = seg.ack.since(self.snd_una);
            // What this ACK newly tells us arrived: not the bytes a SACK block already
            // reported, nor (without SACK) the segments each duplicate ACK stood for. Slow
            // start grows by these only (RFC 5681's N counted once per byte, as Linux does).
            let seen = if self.sack_ok {
                self.sacked_below(seg.ack)
            } else {
                self.dupacks.saturating_mul(self.mss)
            };
            // After a timeout the scoreboard describes a window that is gone: slow start then
            // takes RFC 5681's N, every byte the ACK cumulatively covers (counting SACKed
            // bytes once there made recovery from repeated timeouts far slower).
            if self.rto_slow_start && self.cc.cwnd() >= self.cc.ssthresh() {
                self.rto_slow_start = false;
            }
            let delivered = if self.rto_slow_start {
                acked
            } else {
                acked.saturating_sub(seen.min(acked.saturating_sub(1)))
            };
            // Drop acknowledged data from the send buffer.
            let data_acked = seg.ack.min(self.data_end());
            if data_acked > self.snd_buf_seq {
                let n = data_acked.since(self.snd_buf_seq) as usize;
                self.snd_buf.drain(..n.min(self.snd_buf.len()));
                self.snd_buf_seq = data_acked;
                // Room of its own again: a writer refused for host-wide memory may retry.
                self.mem_blocked = false;
            }
            self.snd_una = seg.ack;
            if self.snd_nxt < self.snd_una {
                self.snd_nxt = self.snd_una;
            }
            self.prune_push_marks();
            self.sack_trim();
            // RTT: timestamps when negotiated, otherwise Karn's timed segment.
            let mut sampled = false;
            let mut sample_us = None;
            if self.ts_ok {
                if let Some((_, ecr)) = seg.opts.timestamp {
                    let ms = self.ts_now(now).wrapping_sub(ecr);
                    // An echo older than our last timeout comes from a segment sent before
                    // it (the receiver echoes the last in-order segment, RFC 7323 §4.3):
                    // it would measure the recovery, not the path.
                    let stale = (ecr.wrapping_sub(self.ts_last_rto) as i32) < 0;
                    if ecr != 0 && ms < 600_000 && !stale {
                        self.rtt_sample(&cx.config, u64::from(ms) * 1000);
                        sample_us = Some(u64::from(ms) * 1000);
                        sampled = true;
                    }
                }
            }
            if let Some((end, t)) = self.rtt_timing {
                if seg.ack >= end {
                    if !sampled {
                        let us = now.saturating_since(t).as_micros() as u64;
                        self.rtt_sample(&cx.config, us);
                        sample_us = Some(us);
                    }
                    self.rtt_timing = None;
                }
            }
            if let Some(us) = sample_us {
                self.rack.note_rtt(us.max(1), now);
            }
            self.retries = 0;
            self.backoff = 0;
            self.retrans_start = None;
            if self.snd_una == self.snd_max {
                self.tlp_at = None;
            }
            // Eifel detection: was the fast retransmit needed?
            if let (Some(uts), Some((_, ecr))) = (self.undo_ts.take(), seg.opts.timestamp) {
                if self.in_recovery && ecr != 0 && (ecr.wrapping_sub(uts) as i32) < 0 {
                    cx.stats.spurious_recoveries += 1;
                    self.cc.undo();
                    self.in_recovery = false;
                    self.rexmit_head = false;
                    // Nothing was lost after all: the marks go, and the segment was late,
                    // which is reordering as far as RACK is concerned.
                    if !self.rack.reordering_seen {
                        cx.stats.rack_reordering += 1;
                    }
                    self.rack.undo_losses();
                    self.recover = self.snd_una;
                    self.dupthresh = (self.dupthresh * 2).min(super::tcb::MAX_DUPTHRESH);
                }
            }
            // Loss recovery and congestion control.
            if self.in_recovery {
                if seg.ack >= self.recover {
                    self.in_recovery = false;
                    self.rack.on_recovery_end();
                    // The window never jumps above what is in flight plus one segment (RFC 6582
                    // step 6), after PRR too: setting it to ssthresh at once, as RFC 6937 ends,
                    // sends a burst that cost more timeouts in the simulated 5 % loss runs.
                    self.cc.on_exit_recovery(self.flight(), mss);
                } else if self.sack_ok {
                    // The scoreboard drives retransmission: RACK takes the new head as lost
                    // once a later transmission (the retransmission just acknowledged) has
                    // been delivered for longer than the reordering window.
                } else {
                    self.cc.on_partial_ack(acked, mss);
                    self.rexmit_head = true;
                }
            } else {
                let rtt = self.srtt_us.map(crate::time::Duration::from_micros);
                let mut grow = delivered;
                // An application-limited sender (less than half the window in flight) cannot
                // overshoot a queue: HyStart++ looks only at window-limited rounds.
                if self.hystart.active()
                    && self.cc.cwnd() < self.cc.ssthresh()
                    && self.flight().saturating_add(delivered) >= self.cc.cwnd() / 2
                {
                    let cwnd_segments = self.cc.cwnd() / mss.max(1);
                    let now_us = now.as_micros();
                    match self.hystart.on_ack(
                        now_us,
                        seg.ack,
                        self.snd_nxt,
                        cwnd_segments,
                        sample_us,
                    ) {
                        Growth::Exit => self.cc.exit_slow_start(),
                        g => grow = HyStart::scale(g, delivered),
                    }
                }
                self.cc.on_ack_at(now, rtt, grow, mss);
            }
            self.dupacks = 0;
            self.limited_sent = 0;
            self.rto_at = if self.snd_una == self.snd_max {
                None
            } else {
                Some(now + self.backed_off_rto(&cx.config))
            };
            // An ACK of new data restarts the probe timer too (RFC 8985 §7.2).
            self.arm_tlp(now);
            self.wake = true;
            // Our FIN acknowledged?
            if let Some(fin) = self.fin_seq() {
                if self.snd_una == fin + 1 {
                    match self.state {
                        State::FinWait1 => {
                            self.set_state(&mut cx.stats, State::FinWait2);
                            if self.owner == Owner::Orphan {
                                self.orphan_enters_fin_wait2(cx, now);
                            }
                        }
                        State::Closing => self.enter_time_wait(cx, now),
                        State::LastAck => self.set_state(&mut cx.stats, State::Closed),
                        _ => {}
                    }
                }
            }
        } else if seg.ack == self.snd_una
            && seg.payload.is_empty()
            && !seg.has(flags::FIN)
            && !window_changed
            && self.snd_max > self.snd_una
        {
            // Duplicate ACK (RFC 5681 §2).
            self.dupacks += 1;
            if self.in_recovery && !self.sack_ok {
                self.cc.on_dupack_in_recovery(mss);
            }
        }
        // With SACK: RACK, and the DupThresh rule until reordering is seen (`loss`); a probe
        // this ACK settles (`tlp`).
        if self.sack_ok {
            self.tlp_process_ack(cx, seg, dsack, una_before);
            self.loss_process_ack(cx, now, dsack.is_some());
        }
        // Loss detection: DupThresh duplicate ACKs (not with SACK once reordering was seen,
        // RFC 8985 §6.2), or with SACK anything taken as lost.
        // Early retransmit (RFC 5827): with fewer than 4 segments outstanding and nothing new
        // to send, fewer duplicate ACKs will ever come; lower the threshold to match.
        let outstanding = self.flight().div_ceil(mss.max(1));
        let blocked = self.snd_nxt >= self.data_end() || self.flight() >= self.snd_wnd;
        let thresh = if outstanding < 4 && blocked {
            outstanding.saturating_sub(1).clamp(1, self.dupthresh)
        } else {
            self.dupthresh
        };
        let dup_lost = self.dupacks >= thresh && !(self.sack_ok && self.rack.reordering_seen);
        let sack_lost = self.sack_ok && self.lost_bytes() > 0;
        if !self.in_recovery && (dup_lost || sack_lost) {
            self.enter_fast_recovery(cx, now);
        }
        if self.in_recovery && self.sack_ok {
            // RFC 6937 DeliveredData: what SND.UNA moved plus the change in SACKed bytes.
            let sacked_now = self.sacked_bytes();
            let delivered =
                (self.snd_una.since(una_before) + sacked_now).saturating_sub(sacked_before);
            let pipe = self.pipe();
            match self.prr.on_ack(delivered, pipe, self.cc.ssthresh(), mss) {
                super::prr::PrrMode::Proportional => cx.stats.prr_proportional += 1,
                super::prr::PrrMode::SlowStartBound => cx.stats.prr_slow_start += 1,
            }
        }
    }

    /// Fast retransmit and fast recovery (RFC 6582 §3.2 / RFC 6675 §5), once per window of
    /// data (not before SND.UNA passes the previous recovery point).
    pub(crate) fn enter_fast_recovery(&mut self, cx: &mut Shared, now: Instant) {
        // NewReno waits until the cumulative ACK covers more than `recover` (RFC 6582 §3.2
        // step 2: duplicate ACKs at `recover` may stem from the last recovery's
        // retransmissions). With SACK a loss is a hole the scoreboard shows, and loss recovery
        // is over once SND.UNA reaches RecoveryPoint (RFC 6675 §5): a segment lost right
        // after it (SND.UNA = recover) starts the next recovery rather than wait for a
        // timeout.
        let same_window = if self.sack_ok {
            self.snd_una < self.recover
        } else {
            self.snd_una <= self.recover
        };
        if same_window || self.snd_max <= self.snd_una {
            return;
        }
        let mss = self.mss;
        cx.stats.fast_retransmits += 1;
        self.hystart.stop();
        self.recover = self.snd_max;
        self.in_recovery = true;
        self.rto_slow_start = false;
        // FlightSize without what limited transmit added (RFC 5681 §3.2, RFC 3042 §2).
        let flight = self.flight().saturating_sub(self.limited_sent);
        self.limited_sent = 0;
        if self.sack_ok {
            self.cc.on_enter_sack_recovery(flight, mss);
            self.prr = super::prr::Prr::start(self.flight());
            // The first unacknowledged segment goes first (RFC 6675 §5 step 4.3).
            self.rack.mark_lost(self.snd_una, self.snd_una + 1);
        } else {
            self.cc.on_enter_recovery(flight, mss);
            self.rexmit_head = true;
        }
        self.rtt_timing = None;
        self.undo_ts = self.ts_ok.then(|| self.ts_now(now));
    }

    pub(crate) fn enter_time_wait(&mut self, cx: &mut Shared, now: Instant) {
        self.set_state(&mut cx.stats, State::TimeWait);
        // Everything sent was acknowledged: the emptied send buffer goes, and the receive
        // buffer keeps little beyond what is still unread (as under memory pressure). A host
        // that opens and closes many connections holds thousands of TIME-WAIT blocks, which
        // must not hold buffers too.
        self.reclaim();
        self.timewait_at = Some(now + cx.config.time_wait);
        self.rto_at = None;
        self.tlp_at = None;
        self.rack_at = None;
        self.persist_at = None;
    }
}
