//! Receiving data and FIN (RFC 9293 §3.10.7.4 "seventh/eighth"): trimming to the window,
//! in-order delivery, the out-of-order queue (non-overlapping runs keyed by stream offset,
//! bounded by memory: bytes plus a per-entry overhead within the receive buffer), delayed and
//! immediate ACK decisions, and FIN arriving in or out of order.
//!
//! Owns the receive side of one TCB; it never sends (it sets `ack_now` / `delack_at`).

use super::input::{RstReply, Segment};
use super::seq::Seq;
use super::tcb::{Owner, Tcb, OOO_ENTRY_OVERHEAD};
use super::{Adopt, Shared, State, ADOPT_MIN};
use crate::time::Instant;
use crate::wire::tcp::flags;

impl Tcb {
    pub(crate) fn process_data(
        &mut self,
        cx: &mut Shared,
        now: Instant,
        seg: &Segment,
    ) -> Option<RstReply> {
        let mut seq = seg.seq;
        let mut data = seg.payload;
        let mut fin = seg.has(flags::FIN);
        // Trim what we already have (and report it: D-SACK).
        if seq < self.rcv_nxt {
            let skip = self.rcv_nxt.since(seq) as usize;
            if !data.is_empty() && self.sack_ok {
                cx.stats.dsack_old_sent += 1;
                self.note_duplicate(seq, seq + skip.min(data.len()) as u32);
            }
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
                // A reply to this segment: its ACK field is the peer's RCV.NXT, the one
                // sequence number an RFC 5961 receiver accepts without a challenge.
                let rst = RstReply {
                    seq: seg.ack,
                    ack: None,
                };
                self.set_state(&mut cx.stats, State::Closed);
                return Some(rst);
            }
            if base_off == self.rcv_off {
                if !self.deliver(data, &mut cx.adopt) {
                    // Not accepted: RCV.NXT stays, the peer sends the segment again (a FIN
                    // on it waits too, since it is no longer in order).
                    cx.stats.rcvq_drops += 1;
                    return None;
                }
                let filled_hole = self.pull_ooo(cx);
                if filled_hole {
                    self.check_ooo_fin(cx, now);
                }
                self.unacked_bytes = self.unacked_bytes.saturating_add(data.len() as u32);
                // The window may grow by two segments per segment received (a coalesced
                // segment from a receive offload counts as the segments it carries).
                let grow = (data.len() as u32).max(self.rcv_mss);
                self.rcv_ssthresh = self
                    .rcv_ssthresh
                    .saturating_add(2 * grow)
                    .min(self.opts.recv_buffer as u32);
                // Estimate the peer's segment size, never beyond the MSS we announced.
                self.rcv_mss = self
                    .rcv_mss
                    .max(data.len() as u32)
                    .min(u32::from(self.opts.mss()));
                if filled_hole {
                    self.ack_now = true;
                } else {
                    self.ack_policy(cx, now);
                }
            } else {
                self.queue_ooo(cx, seq, base_off, data);
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

    /// Queue in-order `data` for the application and move RCV.NXT past it. When `adopt`
    /// allows it (`Tcp::input_adoptable`) a large payload is kept in its frame, which
    /// `Tcp::adopt` hands over next, instead of being copied.
    /// False, with nothing changed, if memory for the bytes could not be had.
    #[must_use]
    fn deliver(&mut self, data: &[u8], adopt: &mut Adopt) -> bool {
        if self.rd_shutdown {
            // Discarded after SHUT_RD.
        } else if data.len() >= ADOPT_MIN && *adopt == Adopt::Allowed {
            *adopt = Adopt::Wanted {
                addr: data.as_ptr() as usize,
                len: data.len(),
            };
            self.rcv_buf.push_adopted(data.len());
        } else {
            // Grow to the promise (charged when the window opened), not by doubling:
            // host-wide memory then never holds more than it admitted.
            let promised = self.rcv_buf.len() + self.rcv_wnd() as usize;
            if self.rcv_buf.push(data, promised).is_err() {
                return false;
            }
        }
        self.rcv_nxt = self.rcv_nxt + data.len() as u32;
        self.rcv_off += data.len() as u64;
        true
    }

    /// Move out-of-order runs that became in-order into the receive buffer. Queued bytes the
    /// in-order data already carried arrived twice: the first such range is reported as a
    /// D-SACK (RFC 2883 §4; below RCV.NXT by now, so counted as an old duplicate).
    fn pull_ooo(&mut self, cx: &mut Shared) -> bool {
        let mut any = false;
        // Taken out for the loop, so a run can be delivered while the map is walked (an
        // empty map allocates nothing); put back below.
        let mut ooo = core::mem::take(&mut self.ooo);
        while let Some(entry) = ooo.first_entry() {
            let start = *entry.key();
            if start > self.rcv_off {
                break;
            }
            let end = start + entry.get().len() as u64;
            let dup_end = end.min(self.rcv_off);
            if end > self.rcv_off {
                let skip = (self.rcv_off - start) as usize;
                if !self.deliver(&entry.get()[skip..], &mut Adopt::Off) {
                    // Kept out of order until memory allows (the next in-order segment).
                    cx.stats.rcvq_drops += 1;
                    break;
                }
            }
            let run = entry.remove();
            self.ooo_mem = self.ooo_mem.saturating_sub(run.len() + OOO_ENTRY_OVERHEAD);
            if dup_end > start && self.sack_ok {
                // Stream offsets below `rcv_off` lie within the receive window of RCV.NXT
                // (delivery moved both by the same amount).
                let to_seq = |off: u64| self.rcv_nxt - (self.rcv_off - off) as u32;
                let (l, r) = (to_seq(start), to_seq(dup_end));
                if self.dsack.is_none() {
                    cx.stats.dsack_old_sent += 1;
                }
                self.note_duplicate(l, r);
            }
            any = true;
        }
        self.ooo = ooo;
        any
    }

    /// Insert `data` at stream offset `at`, keeping only bytes not already queued, within the
    /// memory bound (the receive buffer size).
    fn queue_ooo(&mut self, cx: &mut Shared, seq: Seq, at: u64, data: &[u8]) {
        let limit = self.opts.recv_buffer;
        self.last_ooo = at;
        let mut s = at;
        let e = at + data.len() as u64;
        if let Some((&ps, prev)) = self.ooo.range(..=s).next_back() {
            s = s.max(ps + prev.len() as u64);
        }
        // The first part we already hold, for a D-SACK.
        let dup = if s > at {
            Some((at, s.min(e)))
        } else {
            self.ooo
                .range(s..e)
                .next()
                .map(|(&k, v)| (k, (k + v.len() as u64).min(e)))
        };
        if let Some((l, r)) = dup.filter(|_| self.sack_ok) {
            cx.stats.dsack_ofo_sent += 1;
            let to_seq = |o: u64| seq + (o - at) as u32;
            self.note_duplicate(to_seq(l), to_seq(r));
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
                let cost = piece.len() + OOO_ENTRY_OVERHEAD;
                if self.ooo_mem + cost > limit
                    || !cx.mem.admits(self.ooo_mem, cost, self.rcv_floor())
                {
                    cx.stats.ofo_drops += 1;
                    return;
                }
                self.ooo_mem += cost;
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
