//! Segment transmission for one connection: SYN and SYN-ACK with options in Linux's order,
//! data within min(cwnd, peer window) with Nagle, TCP_CORK/MSG_MORE and sender SWS avoidance
//! (RFC 1122 §4.2.3.4), segments that never cross a MSG_EOR record end, PSH where Linux puts
//! it (write ends, burst ends, forced push), limited transmit (RFC 3042), retransmission of
//! the head on fast retransmit and partial ACKs without SACK, of what the scoreboard marks
//! lost within PRR's allowance (RFC 6937) with SACK, the tail loss probe when `tlp.rs` asks
//! for it, FIN, pure and
//! delayed ACKs, window and keepalive probes, and the receive window we advertise (receiver
//! SWS avoidance).
//!
//! Owns building segments from the TCB; it never changes what was received and never decides
//! that data was lost (input.rs and timer.rs do, by setting flags this code obeys).

use alloc::vec::Vec;
use core::net::Ipv4Addr;

use super::config::TSO_MAX_PAYLOAD;
use super::memory::{Memory, PRESSURE_WINDOW_SEGMENTS};
use super::seq::Seq;
use super::tcb::Tcb;
use super::{Shared, State};
use crate::offload::TxOffload;
use crate::time::Instant;
use crate::wire::tcp::{flags, TcpOptions, TcpRepr};

/// Where segments go: (source address, destination address, segment with checksum).
pub type Emit<'a> = dyn FnMut(Ipv4Addr, Ipv4Addr, &[u8]) + 'a;

/// Where segments go, written in place: (source address, destination address, TOS byte for
/// the IPv4 header, offload, `fill`);
/// `fill` appends the whole segment, checksum included, to the buffer it is given (a frame
/// buffer with headroom for the IP and link headers, see `crate::stack::AppendSink`).
/// The [`TxOffload`] says what the segment leaves to the device (see
/// `crate::stack::AppendSink`).
pub type EmitInPlace<'a> =
    dyn FnMut(Ipv4Addr, Ipv4Addr, u8, TxOffload, &mut dyn FnMut(&mut Vec<u8>)) + 'a;

impl Tcb {
    /// The window field for the next segment, moving the advertised right edge (never left,
    /// and only by at least min(buffer/2, MSS) — receiver SWS avoidance, RFC 1122 §4.2.3.3).
    fn window_field(&mut self, syn: bool, mem: &mut Memory) -> u16 {
        let cur = self.rcv_wnd();
        // The window grows with the data that comes (`rcv_ssthresh`), not to the whole
        // buffer at once: an idle connection does not hold a large promise.
        let mut free = (self.recv_space() as u32).min(self.rcv_ssthresh.max(cur));
        // Host-wide memory (`memory`): opening the window charges it. Under pressure it opens
        // by a few segments at most, and never past what the limit has room for, except up
        // to the per-connection floor.
        if free > cur {
            let mut allowed = free;
            if mem.pressure {
                allowed = allowed.min(cur.max(PRESSURE_WINDOW_SEGMENTS * self.rcv_mss));
            }
            let room = u32::try_from(mem.room()).unwrap_or(u32::MAX);
            let floor = self.rcv_floor().saturating_sub(self.rcv_buf.len()) as u32;
            free = allowed.min(cur.saturating_add(room)).max(floor.min(free));
        }
        // Keep the old edge if the new one would be left of it or not far enough right.
        let sws = (self.opts.recv_buffer as u32 / 2).min(self.rcv_mss);
        let wnd = if free < cur.saturating_add(sws) {
            cur
        } else {
            free
        };
        let field = if syn {
            // The window in a SYN is never scaled.
            let w = wnd.min(0xffff);
            self.rcv_adv = self.rcv_adv.max(self.rcv_nxt + w);
            w
        } else {
            let shift = self.rcv_wscale;
            let mut field = (wnd >> shift).min(0xffff);
            // Rounding down must not move the right edge left.
            if (field << shift) < cur && field < 0xffff {
                field += 1;
            }
            let edge = self.rcv_nxt + (field << shift);
            self.rcv_adv = self.rcv_adv.max(edge);
            field
        };
        // The promise just made is charged at once, before another connection looks.
        let charge = self.footprint();
        mem.recharge(self.charged, charge);
        self.charged = charge;
        field as u16
    }

    /// Build and emit one segment (a super-segment with TSO), counting it; returns how many
    /// segments it makes on the wire.
    #[allow(clippy::too_many_arguments)]
    fn send_segment(
        &mut self,
        cx: &mut Shared,
        now: Instant,
        seq: Seq,
        fl: u8,
        data_at: usize,
        len: usize,
        emit: &mut EmitInPlace,
    ) -> u32 {
        let syn = fl & flags::SYN != 0;
        let mut options = TcpOptions::default();
        if syn {
            options.mss = Some(self.opts.mss());
            let active = self.state == State::SynSent;
            options.sack_permitted = if active {
                cx.config.sack_permitted
            } else {
                self.sack_ok
            };
            if (active && cx.config.window_scaling) || self.ws_ok {
                options.wscale = Some(self.rcv_wscale);
            }
            if (active && cx.config.timestamps) || self.ts_ok {
                let ecr = if active { 0 } else { self.ts_recent };
                options.timestamp = Some((self.ts_now(now), ecr));
            }
        } else {
            if self.ts_ok {
                options.timestamp = Some((self.ts_now(now), self.ts_recent));
            }
            if fl & flags::ACK != 0 {
                options.sack_count = self.sack_blocks(&mut options.sack_blocks);
                if options.sack_count > 0 {
                    self.dsack = None;
                }
            }
        }
        let ack_flag = fl & flags::ACK != 0;
        let window = self.window_field(syn, &mut cx.mem);
        let repr = TcpRepr {
            src_port: self.local.port(),
            dst_port: self.remote.port(),
            seq: seq.0,
            ack: if ack_flag { self.rcv_nxt.0 } else { 0 },
            flags: fl,
            window,
            options,
        };
        let (a, b) = self.snd_buf.as_slices();
        let end = data_at + len;
        let pa = &a[data_at.min(a.len())..end.min(a.len())];
        let pb = &b[data_at.saturating_sub(a.len()).min(b.len())
            ..end.saturating_sub(a.len()).min(b.len())];
        let (src, dst) = (*self.local.ip(), *self.remote.ip());
        // More than one segment's payload (only with TSO configured): a super-segment for the
        // device (or the stack) to cut; its checksum is left partial either way.
        let seg_mss = if cx.config.tso_max != 0 {
            self.send_mss() as usize
        } else {
            usize::MAX
        };
        let offload = if len > seg_mss {
            TxOffload {
                tcp_checksum: true,
                tcp_mss: seg_mss as u16,
            }
        } else if cx.config.checksum_offload {
            TxOffload {
                tcp_checksum: true,
                tcp_mss: 0,
            }
        } else {
            TxOffload::NONE
        };
        emit(src, dst, self.opts.tos, offload, &mut |buf: &mut Vec<
            u8,
        >| {
            repr.emit_append_with(src, dst, [pa, pb], buf, offload.tcp_checksum)
        });
        let pieces = if len > seg_mss {
            len.div_ceil(seg_mss) as u32
        } else {
            1
        };
        cx.stats.out_segs += u64::from(pieces);
        self.segs_out = self.segs_out.wrapping_add(pieces);
        if ack_flag {
            self.last_ack_sent = self.rcv_nxt;
            self.ack_now = false;
            self.delack_at = None;
            self.unacked_bytes = 0;
            self.on_ack_sent();
        }
        if len > 0 {
            self.on_data_sent(cx, now);
        }
        pieces
    }

    /// Send a segment that occupies sequence space, tracking SND.NXT, SND.MAX, the RTO timer,
    /// Karn's timed segment and retransmission counts.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send_sequenced(
        &mut self,
        cx: &mut Shared,
        now: Instant,
        seq: Seq,
        fl: u8,
        len: usize,
        advance_nxt: bool,
        emit: &mut EmitInPlace,
    ) {
        let data_at = if len > 0 {
            seq.since(self.snd_buf_seq) as usize
        } else {
            0
        };
        let seg_len = len as u32 + u32::from(fl & (flags::SYN | flags::FIN) != 0);
        let end = seq + seg_len;
        let retrans = seq < self.snd_max;
        if retrans {
            self.bytes_retrans = self.bytes_retrans.saturating_add(len as u64);
            self.rtt_timing = None;
        } else if self.rtt_timing.is_none() {
            self.rtt_timing = Some((end, now));
        }
        if end > self.snd_max {
            self.tail_seg = seq;
        }
        if self.in_recovery && self.sack_ok {
            self.prr.on_sent(seg_len);
        }
        if self.sack_ok {
            // RACK needs SACK (RFC 8985 §2); without it nothing would ever read the records.
            self.rack.on_transmit(seq, end, self.snd_max, now);
        }
        let pieces = self.send_segment(cx, now, seq, fl, data_at, len, emit);
        if retrans {
            cx.stats.retrans_segs += u64::from(pieces);
            self.total_retrans = self.total_retrans.wrapping_add(pieces);
        }
        self.last_send = now;
        if advance_nxt && end > self.snd_nxt {
            self.snd_nxt = end;
        }
        if end > self.snd_max {
            self.snd_max = end;
        }
        if self.rto_at.is_none() {
            self.rto_at = Some(now + self.backed_off_rto(&cx.config));
        }
        self.persist_at = None;
    }

    /// Emit whatever this connection may send now. Pure ACKs carry SND.MAX, not SND.NXT: after
    /// a timeout rewinds SND.NXT the peer has already seen up to SND.MAX, and an ACK below its
    /// RCV.NXT would be unacceptable and ignored.
    pub(crate) fn output(&mut self, cx: &mut Shared, now: Instant, emit: &mut EmitInPlace) {
        match self.state {
            State::Closed | State::Listen | State::TimeWait | State::FinWait2 => {
                if self.ack_now && self.state != State::Closed && self.state != State::Listen {
                    self.send_segment(cx, now, self.snd_max, flags::ACK, 0, 0, emit);
                }
                return;
            }
            State::SynSent | State::SynReceived => {
                if self.snd_nxt == self.iss {
                    let fl = if self.state == State::SynSent {
                        flags::SYN
                    } else {
                        flags::SYN | flags::ACK
                    };
                    self.send_sequenced(cx, now, self.iss, fl, 0, true, emit);
                } else if self.ack_now && self.state == State::SynReceived {
                    self.send_segment(cx, now, self.snd_max, flags::ACK, 0, 0, emit);
                }
                return;
            }
            _ => {}
        }
        // Payload per segment: the MSS less the options each segment carries.
        let mss = self.send_mss() as usize;
        // New data may leave in super-segments of whole segments (TSO).
        let tso_max = cx.config.tso_max.min(TSO_MAX_PAYLOAD) as usize;
        let seg_max = if tso_max >= 2 * mss {
            tso_max / mss * mss
        } else {
            mss
        };
        // Restart after idle (RFC 5681 §4.1): nothing in flight for longer than the RTO.
        if self.snd_una == self.snd_max
            && self.data_end() > self.snd_nxt
            && now.saturating_since(self.last_send) > self.rto
        {
            let iw = cx.config.initial_window.max(1).saturating_mul(self.mss);
            self.cc.on_idle_restart(iw);
        }
        let mut sent_any = false;
        if self.rexmit_head && self.snd_una < self.snd_max && self.snd_una <= self.data_end() {
            self.rexmit_head = false;
            let avail = self.data_end().since(self.snd_una) as usize;
            let len = self.clip_to_record(self.snd_una, avail.min(mss));
            let fin = self
                .fin_seq()
                .is_some_and(|f| self.snd_una + len as u32 == f);
            if len > 0 || fin {
                let push = self.has_push_mark(self.snd_una, self.snd_una + len as u32);
                let fl = flags::ACK
                    | if fin { flags::FIN } else { 0 }
                    | if push { flags::PSH } else { 0 };
                let advance = self.snd_nxt == self.snd_una;
                self.send_sequenced(cx, now, self.snd_una, fl, len, advance, emit);
                sent_any = true;
            }
        }
        // SACK recovery (RFC 6675 §5): retransmit the lost holes while PRR (RFC 6937) allows.
        if self.in_recovery && self.sack_ok {
            while let Some((s, len)) = self.next_hole(mss as u32) {
                let len = if s < self.data_end() {
                    len.min(self.data_end().since(s))
                } else {
                    0
                };
                let len = self.clip_to_record(s, len as usize);
                if len == 0 || len as u32 > self.prr.allowance {
                    break;
                }
                let fl = flags::ACK
                    | if self.has_push_mark(s, s + len as u32) {
                        flags::PSH
                    } else {
                        0
                    };
                self.send_sequenced(cx, now, s, fl, len, false, emit);
                sent_any = true;
            }
        }
        // After a timeout the pass below resends in order (go-back-N); a retransmission of
        // that pass lost again is found by RACK like any other (RFC 8985 §6.2 takes lost
        // retransmissions by their transmission time, in any state), and goes again here at
        // once, while the pipe (RFC 6675) is below cwnd, instead of at the next, backed-off
        // timeout. Holes at or beyond SND.NXT are the in-order pass's own.
        if !self.in_recovery && self.sack_ok && self.snd_una < self.recover {
            while let Some((s, len)) = self.next_hole(mss as u32) {
                if s >= self.snd_nxt || s >= self.data_end() {
                    break;
                }
                let len = self.clip_to_record(s, len.min(self.data_end().since(s)) as usize);
                if len == 0 || self.pipe().saturating_add(len as u32) > self.cc.cwnd() {
                    break;
                }
                let fl = flags::ACK
                    | if self.has_push_mark(s, s + len as u32) {
                        flags::PSH
                    } else {
                        0
                    };
                self.send_sequenced(cx, now, s, fl, len, false, emit);
                sent_any = true;
            }
        }
        if self.tlp_now {
            self.tlp_now = false;
            self.send_loss_probe(cx, now, mss, emit);
            sent_any = true;
        }
        let sent_before = self.snd_max;
        // New-data segments sent by this call, for the PSH that closes a burst.
        let mut burst = 0u32;
        loop {
            if self.snd_nxt < self.snd_buf_seq {
                self.snd_nxt = self.snd_buf_seq;
            }
            // Resending after a timeout: skip what the peer SACKed.
            if self.snd_nxt < self.snd_max {
                if let Some(end) = self.sacked_end_at(self.snd_nxt) {
                    self.snd_nxt = end;
                    continue;
                }
            }
            let data_end = self.data_end();
            let unsent = if self.snd_nxt <= data_end {
                data_end.since(self.snd_nxt) as usize
            } else {
                0
            };
            let fin_due = self.fin_seq().is_some_and(|f| self.snd_nxt <= f);
            if unsent == 0 && !fin_due {
                break;
            }
            // Limited transmit (RFC 3042), extended to a raised threshold (RFC 4653).
            let extra = if self.in_recovery {
                0
            } else {
                self.dupacks.min(self.dupthresh - 1) * self.mss
            };
            let cwnd = self.cc.cwnd().saturating_add(extra);
            let usable = if self.in_recovery && self.sack_ok {
                // New data during SACK recovery: what PRR and the peer's window allow, in
                // whole segments unless it is the last of the data.
                let edge = self.snd_una + self.snd_wnd;
                let rwnd = if edge > self.snd_nxt {
                    edge.since(self.snd_nxt)
                } else {
                    0
                };
                let allowed = self.prr.allowance.min(rwnd) as usize;
                if allowed < mss && allowed < unsent {
                    break;
                }
                allowed
            } else {
                let limit = self.snd_una + self.snd_wnd.min(cwnd);
                if limit > self.snd_nxt {
                    limit.since(self.snd_nxt) as usize
                } else {
                    0
                }
            };
            let mut len = unsent.min(usable).min(seg_max);
            if len > mss {
                // A super-segment carries whole segments; the tail goes on its own, under the
                // same Nagle and SWS rules as without TSO.
                len -= len % mss;
            }
            if self.snd_nxt < self.snd_max {
                // Do not resend into the next SACKed range.
                if let Some(&(l, _)) = self.sacked.iter().find(|&&(l, _)| l > self.snd_nxt) {
                    len = len.min(l.since(self.snd_nxt) as usize);
                }
            }
            // A record (MSG_EOR) ends its segment: what follows is never coalesced with it.
            let unclipped = len;
            len = self.clip_to_record(self.snd_nxt, len);
            let record_end = len < unclipped;
            if len == 0 && unsent > 0 {
                break;
            }
            let retrans = self.snd_nxt < self.snd_max;
            if len < mss && len > 0 && !retrans && !self.force_send && !record_end {
                let idle = self.snd_nxt == self.snd_una;
                let all = len == unsent;
                let held = self.opts.cork || self.more_pending;
                let push = !held && (self.opts.nodelay || idle) || self.fin_queued;
                let big = !held && self.max_snd_wnd > 0 && len as u32 >= self.max_snd_wnd / 2;
                if !((all && push) || big) {
                    break;
                }
            }
            self.force_send = false;
            let fin = fin_due && len == unsent;
            let mut fl = flags::ACK;
            if fin {
                fl |= flags::FIN;
            }
            let end = self.snd_nxt + len as u32;
            // A super-segment's last segment closes a burst of its own.
            let burst_before = burst.max(u32::from(len > mss));
            if len > 0
                && self.push_due(
                    self.snd_nxt,
                    end,
                    retrans,
                    burst_before,
                    len,
                    unsent,
                    usable,
                )
            {
                fl |= flags::PSH;
            }
            if !retrans && extra > 0 {
                // Limited transmit: the part beyond cwnd is remembered (see `limited_sent`).
                let cwnd_edge = self.snd_una + self.cc.cwnd();
                if end > cwnd_edge {
                    let beyond = end.since(cwnd_edge).min(len as u32);
                    self.limited_sent = self.limited_sent.saturating_add(beyond);
                }
            }
            self.send_sequenced(cx, now, self.snd_nxt, fl, len, true, emit);
            if fl & flags::PSH != 0 && !retrans {
                self.pushed_seq = end;
            }
            if !retrans && len > 0 {
                burst += 1;
            }
            sent_any = true;
            if fin {
                break;
            }
        }
        self.force_send = false;
        self.persist_push = false;
        // MSG_MORE held back only the output of the write that said it.
        self.more_pending = false;
        // New data went out (not the probe itself): (re)arm the tail loss probe.
        if self.snd_max > sent_before {
            self.arm_tlp(now);
        }
        // Persist timer: data waits and no retransmission timer runs (nothing in flight, or
        // a timeout rewound SND.NXT into a window the peer has since closed).
        let waiting = self.data_end() > self.snd_nxt;
        if waiting && self.rto_at.is_none() && self.persist_at.is_none() {
            self.persist_at = Some(now + self.persist_interval(cx));
        }
        if self.probe_now {
            self.probe_now = false;
            // Linux-style probe: an old sequence number forces the peer to answer with an ACK.
            self.send_segment(cx, now, self.snd_una - 1, flags::ACK, 0, 0, emit);
        }
        if self.ack_now && !sent_any {
            self.send_segment(cx, now, self.snd_max, flags::ACK, 0, 0, emit);
        }
    }

    /// Interval before the next zero-window probe: the RTO backed off exponentially, bounded
    /// like the RTO.
    pub(crate) fn persist_interval(&self, cx: &Shared) -> crate::time::Duration {
        let mut d = self.rto.max(cx.config.rto_min);
        for _ in 0..self.persist_backoff.min(16) {
            d = d.saturating_mul(2);
        }
        d.min(cx.config.rto_max)
    }
}
