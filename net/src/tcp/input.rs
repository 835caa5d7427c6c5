//! Segment arrival for an existing connection (RFC 9293 §3.10.7.3 and the first checks of
//! §3.10.7.4): SYN-SENT processing, PAWS (RFC 7323 §5), sequence acceptability, RST and SYN
//! handling with the RFC 5961 protections (challenge ACKs, rate limited), and the ACK
//! acceptability check; then hands over to `ack.rs` and `reassembly.rs`.
//!
//! Owns what one segment does to one TCB. It never sends: it sets flags (`ack_now`) for
//! `output.rs` and returns a RST to send when the RFC asks for one. Listeners and the
//! connection table are `listen.rs` and `mod.rs`.

use super::seq::Seq;
use super::tcb::{Owner, Tcb};
use super::{Shared, State};
use crate::errno::Errno;
use crate::time::{Duration, Instant};
use crate::wire::tcp::{flags, TcpOptions};

/// A parsed, checksum-verified segment.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Segment<'a> {
    pub seq: Seq,
    pub ack: Seq,
    pub flags: u8,
    pub window: u16,
    pub opts: TcpOptions,
    pub payload: &'a [u8],
}

impl Segment<'_> {
    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
    /// Sequence space the segment occupies (data plus SYN and FIN).
    pub fn len(&self) -> u32 {
        self.payload.len() as u32
            + u32::from(self.has(flags::SYN))
            + u32::from(self.has(flags::FIN))
    }
}

/// A reset TCP must send in reply (RFC 9293 §3.10.7.1 form).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RstReply {
    pub seq: Seq,
    pub ack: Option<Seq>,
}

impl RstReply {
    /// The reset answering `seg` when no connection wants it.
    pub fn for_segment(seg: &Segment) -> RstReply {
        if seg.has(flags::ACK) {
            RstReply {
                seq: seg.ack,
                ack: None,
            }
        } else {
            RstReply {
                seq: Seq(0),
                ack: Some(seg.seq + seg.len()),
            }
        }
    }
}

/// Least interval between answers to unacceptable segments without data (Linux: 500 ms).
pub const OOW_ACK_INTERVAL: Duration = Duration::from_millis(500);

/// RFC 7323 §5.5: TS.Recent older than 24 days is no longer used by PAWS.
const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 3600);

impl Tcb {
    /// Apply the options of the peer's SYN (MSS, window scale, timestamps) and start the
    /// congestion controller afresh for the MSS they give.
    pub(crate) fn take_syn_options(&mut self, cx: &Shared, seg: &Segment, now: Instant) {
        self.apply_syn_options(cx, seg, now);
        self.cc = self.opts.congestion_factory(&cx.config)(cx.config.initial_window, self.mss);
    }

    /// [`take_syn_options`](Self::take_syn_options) for a child `Tcb::new` has just built:
    /// its congestion controller is fresh, built from the same options for the MSS it had
    /// then, so it is rebuilt only when the peer's MSS lowered ours (a passive open would
    /// otherwise allocate it twice).
    pub(crate) fn take_first_syn_options(&mut self, cx: &Shared, seg: &Segment, now: Instant) {
        let built_for = self.mss;
        self.apply_syn_options(cx, seg, now);
        if self.mss != built_for {
            self.cc = self.opts.congestion_factory(&cx.config)(cx.config.initial_window, self.mss);
        }
    }

    fn apply_syn_options(&mut self, cx: &Shared, seg: &Segment, now: Instant) {
        let peer_mss = u32::from(seg.opts.mss.unwrap_or(536)).max(u32::from(super::tcb::MIN_MSS));
        self.mss = self.mss.min(peer_mss);
        if let Some(ws) = seg.opts.wscale {
            self.peer_ws = Some(ws);
        }
        if let Some((tsval, _)) = seg.opts.timestamp {
            self.peer_ts = true;
            self.ts_recent = tsval;
            self.ts_recent_at = now;
        }
        // Active side: both must have offered. Passive side: we offer what the peer did.
        self.ws_ok = cx.config.window_scaling && self.peer_ws.is_some();
        self.ts_ok = cx.config.timestamps && self.peer_ts;
        self.sack_ok = cx.config.sack_permitted && seg.opts.sack_permitted;
        // A full-sized segment from the peer: the MSS less its timestamp option.
        self.rcv_mss = self.mss - if self.ts_ok { 12 } else { 0 };
        if self.ws_ok {
            self.snd_wscale = self.peer_ws.unwrap_or(0);
        } else {
            self.snd_wscale = 0;
            self.rcv_wscale = 0;
        }
    }

    /// The duplicate ACK answering an unacceptable segment. Segments without data cannot be
    /// part of a data exchange, only of an ACK loop or a reflection attack: for them at most
    /// one answer per [`OOW_ACK_INTERVAL`] (Linux's tcp_invalid_ratelimit).
    fn oow_ack(&mut self, cx: &mut Shared, now: Instant, seg: &Segment) {
        if seg.payload.is_empty() && !seg.has(flags::FIN) {
            if self
                .last_oow_ack
                .is_some_and(|t| now.saturating_since(t) < OOW_ACK_INTERVAL)
            {
                cx.stats.oow_acks_suppressed += 1;
                return;
            }
            self.last_oow_ack = Some(now);
        }
        self.ack_now = true;
    }

    /// Challenge ACK (RFC 5961 §3.2, §4.2, §5.2), under the host-wide rate limit.
    fn challenge_ack(&mut self, cx: &mut Shared, now: Instant) {
        if now.saturating_since(self.challenge_window) >= Duration::from_secs(1) {
            self.challenge_window = now;
            self.challenge_count = 0;
        }
        if self.challenge_count < cx.config.challenge_ack_limit {
            self.challenge_count += 1;
            cx.stats.challenge_acks += 1;
            self.ack_now = true;
        } else {
            cx.stats.challenge_acks_suppressed += 1;
        }
    }

    /// Process one segment addressed to this connection. Returns a reset to send, if any.
    pub(crate) fn input(
        &mut self,
        cx: &mut Shared,
        now: Instant,
        seg: &Segment,
    ) -> Option<RstReply> {
        self.segs_in = self.segs_in.wrapping_add(1);
        match self.state {
            State::Closed | State::Listen => {
                Some(RstReply::for_segment(seg)).filter(|_| !seg.has(flags::RST))
            }
            State::SynSent => self.input_syn_sent(cx, now, seg),
            _ => self.input_synchronized(cx, now, seg),
        }
    }

    fn input_syn_sent(&mut self, cx: &mut Shared, now: Instant, seg: &Segment) -> Option<RstReply> {
        let mut ack_ok = false;
        if seg.has(flags::ACK) {
            if seg.ack <= self.iss || seg.ack > self.snd_max {
                if seg.has(flags::RST) {
                    return None;
                }
                return Some(RstReply {
                    seq: seg.ack,
                    ack: None,
                });
            }
            ack_ok = true;
        }
        if seg.has(flags::RST) {
            if ack_ok {
                self.fail(&mut cx.stats, Errno::ECONNREFUSED);
            }
            return None;
        }
        if !seg.has(flags::SYN) {
            return None;
        }
        self.irs = seg.seq;
        self.rcv_nxt = seg.seq + 1;
        self.rcv_adv = self.rcv_nxt;
        self.last_recv = now;
        self.take_syn_options(cx, seg, now);
        self.ack_now = true;
        if ack_ok {
            // The window in a SYN-ACK is never scaled (RFC 7323 §2.2).
            self.syn_acknowledged(cx, now, seg, u32::from(seg.window));
        } else {
            // Simultaneous open: answer with SYN-ACK from the same ISS.
            self.set_state(&mut cx.stats, State::SynReceived);
            self.snd_nxt = self.iss;
            self.rto_at = None;
        }
        None
    }

    /// `seg` acknowledged our SYN (in SYN-SENT or SYN-RECEIVED): take its send window `wnd`
    /// (RFC 9293 §3.10.7.3/4: SND.UNA, SND.WND, SND.WL1, SND.WL2), sample the RTT, stop the
    /// SYN's retransmission timer and enter ESTABLISHED (or FIN-WAIT-1 after an early close).
    fn syn_acknowledged(&mut self, cx: &mut Shared, now: Instant, seg: &Segment, wnd: u32) {
        self.snd_una = seg.ack;
        self.snd_wnd = wnd;
        self.max_snd_wnd = wnd;
        self.snd_wl1 = seg.seq;
        self.snd_wl2 = seg.ack;
        self.ack_syn_rtt(cx, now, seg);
        self.rto_at = None;
        self.retries = 0;
        self.backoff = 0;
        self.retrans_start = None;
        self.establish(cx);
    }

    /// Our SYN was acknowledged: take an RTT sample for it (Karn: only if not retransmitted).
    fn ack_syn_rtt(&mut self, cx: &mut Shared, now: Instant, seg: &Segment) {
        if self.ts_ok {
            if let Some((_, ecr)) = seg.opts.timestamp {
                let ms = self.ts_now(now).wrapping_sub(ecr);
                if ecr != 0 && ms < 600_000 {
                    self.rtt_sample(&cx.config, u64::from(ms) * 1000);
                    return;
                }
            }
        }
        if let Some((_, t)) = self.rtt_timing.take() {
            self.rtt_sample(&cx.config, now.saturating_since(t).as_micros() as u64);
        }
    }

    /// Enter ESTABLISHED (or FIN-WAIT-1 when the application already shut down writing).
    fn establish(&mut self, cx: &mut Shared) {
        self.set_state(&mut cx.stats, State::Established);
        if self.fin_queued {
            self.set_state(&mut cx.stats, State::FinWait1);
        }
    }

    fn acceptable(&self, seg: &Segment) -> bool {
        let wnd = self.rcv_wnd();
        let len = seg.len();
        let end = self.rcv_nxt + wnd;
        match (len, wnd) {
            (0, 0) => seg.seq == self.rcv_nxt,
            (0, _) => seg.seq.in_range(self.rcv_nxt, end),
            // Zero window: a segment at RCV.NXT is still processed for its ACK and RST.
            (_, 0) => seg.seq == self.rcv_nxt,
            _ => {
                seg.seq.in_range(self.rcv_nxt, end)
                    || (seg.seq + (len - 1)).in_range(self.rcv_nxt, end)
            }
        }
    }

    fn input_synchronized(
        &mut self,
        cx: &mut Shared,
        now: Instant,
        seg: &Segment,
    ) -> Option<RstReply> {
        // Simultaneous open: the peer's SYN-ACK in SYN-RECEIVED acknowledges our SYN; its SYN
        // is the one we already have, so treat it as the completing ACK (Linux does too).
        if self.state == State::SynReceived
            && seg.has(flags::SYN)
            && seg.has(flags::ACK)
            && !seg.has(flags::RST)
            && seg.seq + 1 == self.rcv_nxt
            && seg.ack == self.snd_max
            && self.owner == Owner::User
        {
            let mut s = *seg;
            s.flags &= !flags::SYN;
            s.seq = self.rcv_nxt;
            return self.input_synchronized(cx, now, &s);
        }
        // A retransmitted SYN in SYN-RECEIVED: answer with the SYN-ACK again.
        if self.state == State::SynReceived
            && seg.has(flags::SYN)
            && !seg.has(flags::ACK)
            && seg.seq == self.irs
        {
            self.snd_nxt = self.iss;
            return None;
        }
        // PAWS (RFC 7323 §5.3).
        if self.ts_ok && !seg.has(flags::RST) {
            if let Some((tsval, _)) = seg.opts.timestamp {
                let older = (tsval.wrapping_sub(self.ts_recent) as i32) < 0;
                if older && now.saturating_since(self.ts_recent_at) < PAWS_IDLE {
                    cx.stats.paws_rejected += 1;
                    self.oow_ack(cx, now, seg);
                    return None;
                }
            }
        }
        if !self.acceptable(seg) {
            if !seg.has(flags::RST) {
                // Data we already have, entirely: report it as a D-SACK (RFC 2883).
                let end = seg.seq + seg.payload.len() as u32;
                if self.sack_ok && !seg.payload.is_empty() && end <= self.rcv_nxt {
                    cx.stats.dsack_old_sent += 1;
                    self.note_duplicate(seg.seq, end);
                }
                self.oow_ack(cx, now, seg);
                if self.state == State::TimeWait && seg.has(flags::FIN) {
                    self.timewait_at = Some(now + cx.config.time_wait);
                }
            }
            return None;
        }
        self.last_recv = now;
        self.ka_probes = 0;
        if seg.has(flags::RST) {
            return self.input_rst(cx, now, seg);
        }
        if seg.has(flags::SYN) {
            self.challenge_ack(cx, now);
            return None;
        }
        if !seg.has(flags::ACK) {
            return None;
        }
        if self.state == State::SynReceived {
            if !(seg.ack > self.snd_una && seg.ack <= self.snd_max) {
                return Some(RstReply {
                    seq: seg.ack,
                    ack: None,
                });
            }
            let wnd = u32::from(seg.window) << self.snd_wscale;
            self.syn_acknowledged(cx, now, seg, wnd);
        }
        // RFC 5961 §5.2 ACK acceptability.
        if seg.ack > self.snd_max {
            self.challenge_ack(cx, now);
            return None;
        }
        if seg.ack < self.snd_una - self.max_snd_wnd.max(1) {
            self.challenge_ack(cx, now);
            return None;
        }
        // RFC 7323 §4.3: record TS.Recent from a segment covering Last.ACK.sent.
        if let Some((tsval, _)) = seg.opts.timestamp {
            if self.ts_ok
                && seg.seq <= self.last_ack_sent
                && (tsval.wrapping_sub(self.ts_recent) as i32) >= 0
            {
                self.ts_recent = tsval;
                self.ts_recent_at = now;
            }
        }
        let (una_before, queued_before, flight_before) =
            (self.snd_una, self.snd_buf.len(), self.flight());
        self.process_ack(cx, now, seg);
        if self.snd_una > una_before {
            self.snd_buf_expand(&cx.config, &cx.mem, queued_before, flight_before);
        }
        if self.state == State::Closed {
            return None;
        }
        if self.state == State::TimeWait {
            // RFC 9293 §3.10.7.4: a retransmitted FIN is acknowledged and restarts the 2 MSL
            // wait; any other acceptable segment that occupies sequence space (data past the
            // FIN) is acknowledged as well, like an unacceptable one (Linux answers both).
            // A bare ACK is not answered: that would start an ACK loop.
            if seg.has(flags::FIN) {
                self.ack_now = true;
                self.timewait_at = Some(now + cx.config.time_wait);
            } else if !seg.payload.is_empty() {
                self.oow_ack(cx, now, seg);
            }
            return None;
        }
        let rcv_before = self.rcv_off;
        let reply = self.process_data(cx, now, seg);
        if self.rcv_off > rcv_before {
            self.rcv_rtt_measure(now, seg);
        }
        reply
    }

    /// RFC 5961 §3.2: reset only when exactly at RCV.NXT, otherwise a challenge ACK.
    fn input_rst(&mut self, cx: &mut Shared, now: Instant, seg: &Segment) -> Option<RstReply> {
        if seg.seq != self.rcv_nxt {
            self.challenge_ack(cx, now);
            return None;
        }
        match self.state {
            State::SynReceived => {
                if matches!(self.owner, Owner::Listener(_)) {
                    // Passive open: the child just goes away (back to LISTEN).
                    self.set_state(&mut cx.stats, State::Closed);
                } else {
                    self.fail(&mut cx.stats, Errno::ECONNREFUSED);
                }
            }
            State::Closing | State::LastAck | State::TimeWait => {
                self.set_state(&mut cx.stats, State::Closed)
            }
            _ => self.fail(&mut cx.stats, Errno::ECONNRESET),
        }
        None
    }
}
