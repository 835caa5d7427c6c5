//! Segment arrival for an existing connection (RFC 9293 §3.10.7.3 and §3.10.7.4) with the
//! RFC 5961 protections, PAWS (RFC 7323 §5), ACK processing with NewReno loss detection
//! (RFC 5681, RFC 6582), and the reassembly of out-of-order data.
//!
//! Owns what one segment does to one TCB. It never sends: it sets flags (`ack_now`,
//! `rexmit_head`) and timers for `output.rs`, and returns a RST to send when the RFC asks for
//! one. Listeners and the connection table are `listen.rs` and `mod.rs`.

use super::seq::Seq;
use super::tcb::{Owner, Tcb, OOO_ENTRY_OVERHEAD};
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

/// RFC 7323 §5.5: TS.Recent older than 24 days is no longer used by PAWS.
const PAWS_IDLE: Duration = Duration::from_secs(24 * 24 * 3600);

impl Tcb {
    /// Apply the options of the peer's SYN (MSS, window scale, timestamps).
    pub(crate) fn take_syn_options(&mut self, cx: &Shared, seg: &Segment, now: Instant) {
        let peer_mss = u32::from(seg.opts.mss.unwrap_or(536)).max(u32::from(super::tcb::MIN_MSS));
        self.mss = self.mss.min(peer_mss);
        self.rcv_mss = self.mss;
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
        if self.ws_ok {
            self.snd_wscale = self.peer_ws.unwrap_or(0);
        } else {
            self.snd_wscale = 0;
            self.rcv_wscale = 0;
        }
        self.cc = alloc::boxed::Box::new(super::congestion::NewReno::new(
            cx.config.initial_window,
            self.mss,
        ));
    }

    /// Challenge ACK (RFC 5961 §3.2, §4.2, §5.2), under the host-wide rate limit.
    fn challenge_ack(&mut self, cx: &mut Shared, now: Instant) {
        if cx.challenge_allowed(now) {
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
            self.snd_una = seg.ack;
            self.snd_wnd = u32::from(seg.window);
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            self.ack_syn_rtt(cx, now, seg);
            self.rto_at = None;
            self.retries = 0;
            self.backoff = 0;
            self.establish(cx);
        } else {
            // Simultaneous open: answer with SYN-ACK from the same ISS.
            self.set_state(&mut cx.stats, State::SynReceived);
            self.snd_nxt = self.iss;
            self.rto_at = None;
        }
        None
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
                    self.ack_now = true;
                    return None;
                }
            }
        }
        if !self.acceptable(seg) {
            if !seg.has(flags::RST) {
                self.ack_now = true;
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
            self.snd_una = seg.ack;
            self.snd_wnd = u32::from(seg.window) << self.snd_wscale;
            self.max_snd_wnd = self.snd_wnd;
            self.snd_wl1 = seg.seq;
            self.snd_wl2 = seg.ack;
            self.ack_syn_rtt(cx, now, seg);
            self.rto_at = None;
            self.retries = 0;
            self.backoff = 0;
            self.retrans_start = None;
            self.establish(cx);
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
        self.process_ack(cx, now, seg);
        if self.state == State::Closed {
            return None;
        }
        if self.state == State::TimeWait {
            if seg.has(flags::FIN) {
                self.ack_now = true;
                self.timewait_at = Some(now + cx.config.time_wait);
            }
            return None;
        }
        self.process_data(cx, now, seg)
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

    fn process_ack(&mut self, cx: &mut Shared, now: Instant, seg: &Segment) {
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
        if seg.ack > self.snd_una {
            let acked = seg.ack.since(self.snd_una);
            // Drop acknowledged data from the send buffer.
            let data_acked = seg.ack.min(self.data_end());
            if data_acked > self.snd_buf_seq {
                let n = data_acked.since(self.snd_buf_seq) as usize;
                self.snd_buf.drain(..n.min(self.snd_buf.len()));
                self.snd_buf_seq = data_acked;
            }
            self.snd_una = seg.ack;
            if self.snd_nxt < self.snd_una {
                self.snd_nxt = self.snd_una;
            }
            // RTT: timestamps when negotiated, otherwise Karn's timed segment.
            let mut sampled = false;
            if self.ts_ok {
                if let Some((_, ecr)) = seg.opts.timestamp {
                    let ms = self.ts_now(now).wrapping_sub(ecr);
                    // An echo older than our last timeout comes from a segment sent before
                    // it (the receiver echoes the last in-order segment, RFC 7323 §4.3):
                    // it would measure the recovery, not the path.
                    let stale = (ecr.wrapping_sub(self.ts_last_rto) as i32) < 0;
                    if ecr != 0 && ms < 600_000 && !stale {
                        self.rtt_sample(&cx.config, u64::from(ms) * 1000);
                        sampled = true;
                    }
                }
            }
            if let Some((end, t)) = self.rtt_timing {
                if seg.ack >= end {
                    if !sampled {
                        self.rtt_sample(&cx.config, now.saturating_since(t).as_micros() as u64);
                    }
                    self.rtt_timing = None;
                }
            }
            self.retries = 0;
            self.backoff = 0;
            self.retrans_start = None;
            // Eifel detection: was the fast retransmit needed?
            if let (Some(uts), Some((_, ecr))) = (self.undo_ts.take(), seg.opts.timestamp) {
                if self.in_recovery && ecr != 0 && (ecr.wrapping_sub(uts) as i32) < 0 {
                    cx.stats.spurious_recoveries += 1;
                    self.cc.undo();
                    self.in_recovery = false;
                    self.rexmit_head = false;
                    self.recover = self.snd_una;
                    self.dupthresh = (self.dupthresh * 2).min(super::tcb::MAX_DUPTHRESH);
                }
            }
            // Loss recovery and congestion control.
            if self.in_recovery {
                if seg.ack >= self.recover {
                    self.in_recovery = false;
                    self.cc.on_exit_recovery(self.flight(), mss);
                } else {
                    self.cc.on_partial_ack(acked, mss);
                    self.rexmit_head = true;
                }
            } else {
                self.cc.on_ack(acked, mss);
            }
            self.dupacks = 0;
            self.rto_at = if self.snd_una == self.snd_max {
                None
            } else {
                Some(now + self.backed_off_rto(&cx.config))
            };
            self.wake = true;
            // Our FIN acknowledged?
            if let Some(fin) = self.fin_seq() {
                if self.snd_una == fin + 1 {
                    match self.state {
                        State::FinWait1 => {
                            self.set_state(&mut cx.stats, State::FinWait2);
                            if self.owner == Owner::Orphan {
                                self.timewait_at = Some(now + cx.config.fin_timeout);
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
            if self.in_recovery {
                self.cc.on_dupack_in_recovery(mss);
            } else if self.dupacks == self.dupthresh && self.snd_una > self.recover {
                // Fast retransmit, enter NewReno fast recovery (RFC 6582 §3.2).
                cx.stats.fast_retransmits += 1;
                self.recover = self.snd_max;
                self.in_recovery = true;
                self.cc.on_enter_recovery(self.flight(), mss);
                self.rexmit_head = true;
                self.rtt_timing = None;
                self.undo_ts = self.ts_ok.then(|| self.ts_now(now));
            }
        }
    }

    pub(crate) fn enter_time_wait(&mut self, cx: &mut Shared, now: Instant) {
        self.set_state(&mut cx.stats, State::TimeWait);
        self.timewait_at = Some(now + cx.config.time_wait);
        self.rto_at = None;
        self.persist_at = None;
    }

    fn process_data(&mut self, cx: &mut Shared, now: Instant, seg: &Segment) -> Option<RstReply> {
        let mut seq = seg.seq;
        let mut data = seg.payload;
        let mut fin = seg.has(flags::FIN);
        // Trim what we already have.
        if seq < self.rcv_nxt {
            let skip = self.rcv_nxt.since(seq) as usize;
            if skip > data.len() {
                // Everything, FIN included, is old.
                fin = false;
                data = &[];
                seq = self.rcv_nxt;
            } else {
                data = &data[skip..];
                seq = self.rcv_nxt;
            }
        }
        // Trim to the advertised window.
        let room = if self.rcv_adv >= seq {
            self.rcv_adv.since(seq) as usize
        } else {
            0
        };
        if data.len() > room {
            // Beyond the window: tell the sender where the window really ends.
            data = &data[..room];
            fin = false;
            self.ack_now = true;
        }
        // Stream offset of the (trimmed) segment start, `seq` is now at or after RCV.NXT.
        let base_off = self.rcv_off + u64::from(seq.since(self.rcv_nxt));
        let receiving = matches!(
            self.state,
            State::Established | State::FinWait1 | State::FinWait2
        );
        if !data.is_empty() && receiving {
            if self.owner == Owner::Orphan {
                // Data for a closed socket: nobody will read it (Linux resets too).
                cx.stats.abort_on_data += 1;
                let rst = RstReply {
                    seq: self.snd_nxt,
                    ack: None,
                };
                self.set_state(&mut cx.stats, State::Closed);
                return Some(rst);
            }
            if base_off == self.rcv_off {
                self.deliver(data);
                let filled_hole = self.pull_ooo();
                if filled_hole {
                    self.check_ooo_fin(cx, now);
                }
                self.unacked_bytes = self.unacked_bytes.saturating_add(data.len() as u32);
                self.rcv_mss = self.rcv_mss.max(data.len() as u32).min(65535);
                if filled_hole || self.unacked_bytes >= 2 * self.rcv_mss {
                    self.ack_now = true;
                } else if self.delack_at.is_none() {
                    self.delack_at = Some(now + cx.config.delayed_ack);
                }
            } else {
                self.queue_ooo(cx, base_off, data);
                self.ack_now = true;
            }
            self.wake = true;
        }
        if fin && receiving && !self.fin_received {
            let fin_off = base_off + data.len() as u64;
            if fin_off == self.rcv_off {
                self.receive_fin(cx, now);
            } else if fin_off > self.rcv_off {
                self.ooo_fin = Some(fin_off);
                self.ack_now = true;
            }
        }
        None
    }

    fn deliver(&mut self, data: &[u8]) {
        if !self.rd_shutdown {
            self.rcv_buf.extend(data);
        }
        self.rcv_nxt = self.rcv_nxt + data.len() as u32;
        self.rcv_off += data.len() as u64;
    }

    /// Move out-of-order runs that became in-order into the receive buffer.
    fn pull_ooo(&mut self) -> bool {
        let mut any = false;
        while let Some(entry) = self.ooo.first_entry() {
            let start = *entry.key();
            if start > self.rcv_off {
                break;
            }
            let run = entry.remove();
            self.ooo_mem = self.ooo_mem.saturating_sub(run.len() + OOO_ENTRY_OVERHEAD);
            let end = start + run.len() as u64;
            if end > self.rcv_off {
                let skip = (self.rcv_off - start) as usize;
                self.deliver(&run[skip..]);
            }
            any = true;
        }
        any
    }

    /// Insert `data` at stream offset `at`, keeping only bytes not already queued, within the
    /// memory bound (the receive buffer size).
    fn queue_ooo(&mut self, cx: &mut Shared, at: u64, data: &[u8]) {
        let limit = self.opts.recv_buffer;
        let mut s = at;
        let e = at + data.len() as u64;
        if let Some((&ps, prev)) = self.ooo.range(..=s).next_back() {
            s = s.max(ps + prev.len() as u64);
        }
        while s < e {
            let next = self
                .ooo
                .range(s..e)
                .next()
                .map(|(&k, v)| (k, v.len() as u64));
            let piece_end = next.map_or(e, |(k, _)| k);
            if piece_end > s {
                let piece = &data[(s - at) as usize..(piece_end - at) as usize];
                if self.ooo_mem + piece.len() + OOO_ENTRY_OVERHEAD > limit {
                    cx.stats.ofo_drops += 1;
                    return;
                }
                self.ooo_mem += piece.len() + OOO_ENTRY_OVERHEAD;
                self.ooo.insert(s, piece.to_vec());
                cx.stats.ofo_queued += 1;
            }
            match next {
                Some((k, len)) => s = k + len,
                None => break,
            }
        }
    }

    fn receive_fin(&mut self, cx: &mut Shared, now: Instant) {
        self.rcv_nxt = self.rcv_nxt + 1;
        self.fin_received = true;
        self.ooo_fin = None;
        self.ack_now = true;
        self.wake = true;
        match self.state {
            State::SynReceived | State::Established => {
                self.set_state(&mut cx.stats, State::CloseWait)
            }
            State::FinWait1 => {
                if self.fin_seq().is_some_and(|f| self.snd_una == f + 1) {
                    self.enter_time_wait(cx, now);
                } else {
                    self.set_state(&mut cx.stats, State::Closing);
                }
            }
            State::FinWait2 => self.enter_time_wait(cx, now),
            _ => {}
        }
    }

    /// Called after in-order data advanced: a FIN that arrived early may now apply.
    pub(crate) fn check_ooo_fin(&mut self, cx: &mut Shared, now: Instant) {
        if self.ooo_fin == Some(self.rcv_off) {
            self.receive_fin(cx, now);
        }
    }
}
