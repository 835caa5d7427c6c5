//! RACK loss detection (RFC 8985 §6): a record of every transmission still outstanding (its
//! sequence range, when it last left, whether it was retransmitted, whether it is taken as
//! lost), the most recently sent segment known delivered (RACK.segment, RACK.rtt), reordering detection, the reordering window adapted from D-SACKs, and the
//! time-based marking of losses with the deadline of the reordering timer.
//!
//! The records are also the sender's retransmission scoreboard: which unSACKed bytes are lost,
//! which have a retransmission in flight (`sack.rs` reads them for `pipe` and the next
//! retransmission). Owns no timer and never sends; the tail loss probe is `tlp.rs`.

use alloc::collections::VecDeque;

use super::seq::Seq;
use crate::time::{Duration, Instant};

/// Transmission records kept (about 32 bytes each: 64 KiB at most per connection). One record
/// stands for one segment (or TSO super-segment) sent, so this covers a flight of 2048
/// segments, 3 MB at MSS 1460 and far more with TSO; beyond it a new transmission extends the
/// last record, which then carries the latest time for all of it (losses there are found
/// later, never spuriously).
pub const MAX_SENT_RECORDS: usize = 2048;
/// Recoveries the reordering window stays inflated after the last D-SACK (RFC 8985 §6.2).
pub const REO_WND_PERSIST: u32 = 16;
/// How long the lowest round trip seen stays RACK.min_RTT (RFC 8985 §6.2 step 1 asks for a
/// windowed minimum that follows a move to a longer path; Linux keeps its minimum 300 s).
pub const MIN_RTT_WINDOW: Duration = Duration::from_secs(300);
/// Bound on the D-SACK multiplier of the reordering window (the window is capped at SRTT in
/// any case; this only keeps the arithmetic small).
pub const MAX_REO_WND_MULT: u32 = 64;

/// One transmission still outstanding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sent {
    pub start: Seq,
    pub end: Seq,
    /// When it last left (RFC 8985 Segment.xmit_ts).
    pub xmit_at: Instant,
    /// Rank of that transmission among all of the connection's. RFC 8985 orders two
    /// transmissions by time, then by end sequence when the clock cannot tell them apart;
    /// the rank is that order without the ambiguity (a retransmission and new data sent in
    /// the same tick are in the order they left).
    pub order: u64,
    /// It was ever sent more than once.
    pub retransmitted: bool,
    /// Taken as lost (by RACK, the DupThresh rule or a timeout).
    pub lost: bool,
    /// A retransmission of it is in flight and not (yet) taken as lost itself.
    pub rexmit_out: bool,
    /// Entirely SACKed.
    pub delivered: bool,
}

/// What one pass of [`Rack::detect_loss`] found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Detected {
    /// Records newly taken as lost.
    pub marked: u32,
    /// Of those, retransmissions that were lost again.
    pub lost_retransmits: u32,
    /// When the reordering timer must fire to finish the job.
    pub timer: Option<Instant>,
}

/// RACK state of one connection.
#[derive(Debug, Clone)]
pub(crate) struct Rack {
    pub sent: VecDeque<Sent>,
    /// RACK.segment: the rank of the most recently sent transmission known delivered.
    latest: Option<u64>,
    /// Rank of the next transmission.
    next_order: u64,
    /// RACK.rtt: the round trip of that segment, in µs.
    rtt_us: u64,
    /// RACK.fack: the highest sequence number known delivered.
    fack: Seq,
    /// RACK.reordering_seen.
    pub reordering_seen: bool,
    reo_wnd_mult: u32,
    reo_wnd_persist: u32,
    /// RACK.dsack_round: the window grows once per round trip that sees D-SACKs.
    dsack_round: Option<Seq>,
    /// RACK.min_RTT over [`MIN_RTT_WINDOW`]: the lowest sample (µs) and when it was taken.
    min_rtt: Option<(u64, Instant)>,
    /// The recovery point of the timeout recovery under way: its end counts towards
    /// reo_wnd_persist like the end of a fast recovery.
    rto_recover: Option<Seq>,
}

impl Rack {
    pub fn new(iss: Seq) -> Rack {
        Rack {
            sent: VecDeque::new(),
            latest: None,
            next_order: 0,
            rtt_us: 0,
            fack: iss,
            reordering_seen: false,
            reo_wnd_mult: 1,
            reo_wnd_persist: 0,
            dsack_round: None,
            min_rtt: None,
            rto_recover: None,
        }
    }

    /// RACK.min_RTT in µs: the lowest round trip of the last [`MIN_RTT_WINDOW`], or `fallback`
    /// (the connection's lowest sample, the handshake's included) before RACK has its own.
    pub fn min_rtt_us(&self, fallback: u64) -> u64 {
        self.min_rtt.map_or(fallback, |(us, _)| us)
    }

    /// Fold one round-trip sample of the RTT estimator (RFC 6298 / RFC 7323, as §6.2 step 1
    /// says) into the windowed minimum: a lower one replaces it, and so does any once the
    /// minimum is older than the window.
    pub fn note_rtt(&mut self, us: u64, now: Instant) {
        let replace = match self.min_rtt {
            None => true,
            Some((min, at)) => us <= min || now.saturating_since(at) > MIN_RTT_WINDOW,
        };
        if replace {
            self.min_rtt = Some((us, now));
        }
    }

    /// `[start, end)` left at `now`; what lies below `snd_max` is a retransmission.
    pub fn on_transmit(&mut self, start: Seq, end: Seq, snd_max: Seq, now: Instant) {
        if start >= end {
            return;
        }
        let order = self.next_order;
        self.next_order += 1;
        if start < snd_max {
            let rexmit_end = end.min(snd_max);
            self.split_at(start);
            self.split_at(rexmit_end);
            for r in self.sent.iter_mut() {
                if r.end > start && r.start < rexmit_end {
                    r.xmit_at = now;
                    r.order = order;
                    r.retransmitted = true;
                    r.rexmit_out = true;
                }
            }
        }
        if end > snd_max {
            let start = start.max(snd_max);
            if self.sent.len() >= MAX_SENT_RECORDS {
                if let Some(last) = self.sent.back_mut() {
                    last.end = end;
                    last.xmit_at = now;
                    last.order = order;
                    return;
                }
            }
            self.sent.push_back(Sent {
                start,
                end,
                xmit_at: now,
                order,
                retransmitted: false,
                lost: false,
                rexmit_out: false,
                delivered: false,
            });
        }
    }

    /// Cut the record holding `at` in two there, if the bound allows.
    fn split_at(&mut self, at: Seq) {
        if self.sent.len() >= MAX_SENT_RECORDS {
            return;
        }
        let Some(i) = self.sent.iter().position(|r| r.start < at && at < r.end) else {
            return;
        };
        let mut tail = self.sent[i];
        tail.start = at;
        self.sent[i].end = at;
        self.sent.insert(i + 1, tail);
    }

    /// RFC 8985 §6.2 steps 2 and 3 for one ACK: every record now cumulatively acknowledged
    /// (below `una`) or entirely inside a SACKed range counts as delivered; the most recently
    /// sent of them becomes RACK.segment, and one delivered below RACK.fack without having been
    /// retransmitted shows reordering. Records below `una` are then dropped. Returns whether
    /// this ACK revealed reordering for the first time.
    pub fn on_ack(
        &mut self,
        una: Seq,
        sacked: &[(Seq, Seq)],
        now: Instant,
        min_rtt_us: u64,
    ) -> bool {
        let fack_before = self.fack;
        let mut fack = self.fack;
        let mut reordered = false;
        let mut ranges = sacked.iter().peekable();
        for r in self.sent.iter_mut() {
            if r.delivered {
                continue;
            }
            while ranges.peek().is_some_and(|&&(_, e)| e <= r.start) {
                ranges.next();
            }
            let sacked_whole = ranges
                .peek()
                .is_some_and(|&&(s, e)| s <= r.start && r.end <= e);
            if !(r.end <= una || sacked_whole) {
                continue;
            }
            r.delivered = true;
            if !r.retransmitted && r.end < fack_before {
                reordered = true;
            }
            fack = fack.max(r.end);
            let rtt_us = now.saturating_since(r.xmit_at).as_micros() as u64;
            // A retransmission acknowledged sooner than any round trip is the original's ACK.
            if r.retransmitted && rtt_us < min_rtt_us {
                continue;
            }
            if self.latest.is_none_or(|o| r.order > o) {
                self.latest = Some(r.order);
                self.rtt_us = rtt_us;
            }
        }
        self.fack = fack.max(una);
        if self.rto_recover.is_some_and(|r| una >= r) {
            self.rto_recover = None;
            self.on_recovery_end();
        }
        while self.sent.front().is_some_and(|r| r.end <= una) {
            self.sent.pop_front();
        }
        if let Some(first) = self.sent.front_mut() {
            if first.start < una {
                first.start = una;
            }
        }
        let first_time = reordered && !self.reordering_seen;
        self.reordering_seen |= reordered;
        first_time
    }

    /// RFC 8985 §6.2 step 4, per ACK: a D-SACK in a round trip that has not seen one widens the
    /// reordering window by min_RTT/4 and keeps it so for [`REO_WND_PERSIST`] recoveries.
    pub fn on_dsack(&mut self, una: Seq, snd_nxt: Seq, dsack: bool) {
        if self.dsack_round.is_some_and(|r| una >= r) {
            self.dsack_round = None;
        }
        if dsack && self.dsack_round.is_none() {
            self.dsack_round = Some(snd_nxt);
            self.reo_wnd_mult = (self.reo_wnd_mult + 1).min(MAX_REO_WND_MULT);
            self.reo_wnd_persist = REO_WND_PERSIST;
        }
    }

    /// A recovery (fast or after a timeout) ended: one fewer to keep a widened window for.
    pub fn on_recovery_end(&mut self) {
        if self.reo_wnd_persist > 0 {
            self.reo_wnd_persist -= 1;
            if self.reo_wnd_persist == 0 {
                self.reo_wnd_mult = 1;
            }
        }
    }

    /// The reordering window: reo_wnd_mult · min_RTT / 4, at most SRTT.
    ///
    /// RFC 8985 makes it 0 while no reordering has been seen and either recovery is under way
    /// or DupThresh segments are SACKed, so as to act like the DupThresh rule. rinet applies
    /// the DupThresh rule itself, hole by hole (RFC 6675 IsLost, `sack.rs`), which resends only
    /// what has DupThresh SACKed above it; zeroing the window as well would take every
    /// segment sent before the latest delivered one as lost at once, however mild the
    /// reordering (the spurious retransmissions issue 15 reports).
    pub fn reo_wnd(&self, min_rtt_us: u64, srtt_us: u64) -> Duration {
        let us = min_rtt_us
            .saturating_mul(u64::from(self.reo_wnd_mult))
            .checked_div(4)
            .unwrap_or(0)
            .min(srtt_us);
        Duration::from_micros(us)
    }

    /// RFC 8985 §6.2 step 5: every record in flight sent before RACK.segment and outstanding
    /// for longer than RACK.rtt + `reo_wnd` is lost. Returns what was marked and, if records
    /// remain that will pass that age, when the reordering timer must fire.
    pub fn detect_loss(&mut self, now: Instant, reo_wnd: Duration) -> Detected {
        let mut found = Detected::default();
        let Some(latest) = self.latest else {
            return found;
        };
        let wait = Duration::from_micros(self.rtt_us).saturating_add(reo_wnd);
        for r in self.sent.iter_mut() {
            let in_flight = !r.lost || r.rexmit_out;
            if r.delivered || !in_flight || r.order >= latest {
                continue;
            }
            let due = r.xmit_at.saturating_add(wait);
            if due <= now {
                if r.rexmit_out && r.lost {
                    found.lost_retransmits += 1;
                }
                r.lost = true;
                r.rexmit_out = false;
                found.marked += 1;
            } else {
                found.timer = Some(found.timer.map_or(due, |t: Instant| t.max(due)));
            }
        }
        found
    }

    /// Take every record overlapping `[start, end)` as lost (the DupThresh rule, or the head
    /// when fast recovery starts). Returns how many were newly marked.
    pub fn mark_lost(&mut self, start: Seq, end: Seq) -> u32 {
        let mut n = 0;
        for r in self.sent.iter_mut() {
            if r.end > start && r.start < end && !r.delivered && !r.lost {
                r.lost = true;
                n += 1;
            }
        }
        n
    }

    /// A retransmission timeout: everything not delivered is lost, and retransmissions in
    /// flight are forgotten (Linux's loss state; RFC 8985 §6.3 marks at least the head).
    /// The timeout recovery lasts until SND.UNA reaches `recover`.
    pub fn mark_all_lost(&mut self, recover: Seq) {
        self.rto_recover = Some(recover);
        for r in self.sent.iter_mut().filter(|r| !r.delivered) {
            r.lost = true;
            r.rexmit_out = false;
        }
    }

    /// The recovery was spurious (Eifel): nothing counts as lost any more, and what looked
    /// like loss was reordering.
    pub fn undo_losses(&mut self) {
        for r in self.sent.iter_mut() {
            r.lost = false;
        }
        self.reordering_seen = true;
    }

    /// Give back the records' memory once nothing is outstanding (an idle connection keeps
    /// none).
    pub fn reclaim(&mut self) {
        if self.sent.is_empty() {
            self.sent = VecDeque::new();
        }
    }

    /// The peer reneged on its SACKs: nothing counts as delivered any more.
    pub fn forget_sacks(&mut self) {
        for r in self.sent.iter_mut() {
            r.delivered = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn a_segment_sent_before_a_delivered_one_is_lost_after_rtt_plus_window() {
        let mut r = Rack::new(Seq(0));
        for i in 0..4u32 {
            r.on_transmit(
                Seq(i * 100),
                Seq(i * 100 + 100),
                Seq(i * 100),
                at(u64::from(i)),
            );
        }
        // Segment 2 (sent at 2 ms) is SACKed at 22 ms: RACK.rtt 20 ms.
        assert!(!r.on_ack(Seq(0), &[(Seq(200), Seq(300))], at(22), 20_000));
        let wnd = r.reo_wnd(20_000, 20_000);
        assert_eq!(wnd, Duration::from_millis(5));
        // Segment 0 is due at 0 + 20 + 5, segment 1 at 26; segment 3 was sent later.
        let d = r.detect_loss(at(22), wnd);
        assert_eq!((d.marked, d.timer), (0, Some(at(26))));
        let d = r.detect_loss(at(25), wnd);
        assert_eq!((d.marked, d.timer), (1, Some(at(26))));
        let d = r.detect_loss(at(26), wnd);
        assert_eq!((d.marked, d.timer), (1, None));
        assert!(r.sent.iter().take(2).all(|s| s.lost) && !r.sent[3].lost);
        // Segment 1 was only late: its delivery shows reordering.
        assert!(r.on_ack(Seq(0), &[(Seq(100), Seq(300))], at(27), 20_000));
        assert!(r.reordering_seen);
    }

    #[test]
    fn a_lost_retransmission_is_found_by_a_later_delivery() {
        let mut r = Rack::new(Seq(0));
        r.on_transmit(Seq(0), Seq(100), Seq(0), at(0));
        r.on_transmit(Seq(100), Seq(200), Seq(100), at(0));
        r.mark_lost(Seq(0), Seq(100));
        r.on_transmit(Seq(0), Seq(100), Seq(200), at(30));
        r.on_transmit(Seq(200), Seq(300), Seq(200), at(31));
        // New data sent after the retransmission is SACKed: the retransmission is overdue.
        r.on_ack(Seq(0), &[(Seq(100), Seq(300))], at(51), 20_000);
        let d = r.detect_loss(at(60), Duration::ZERO);
        assert_eq!((d.marked, d.lost_retransmits), (1, 1));
        assert!(r.sent[0].lost && !r.sent[0].rexmit_out);
    }

    #[test]
    fn dsacks_widen_the_window_for_sixteen_recoveries() {
        let mut r = Rack::new(Seq(0));
        assert_eq!(r.reo_wnd(8000, 100_000), Duration::from_millis(2));
        r.on_dsack(Seq(0), Seq(1000), true);
        r.on_dsack(Seq(0), Seq(1000), true); // same round trip: once
        assert_eq!(r.reo_wnd(8000, 100_000), Duration::from_millis(4));
        assert_eq!(
            r.reo_wnd(8000, 3000),
            Duration::from_millis(3),
            "capped at SRTT"
        );
        for _ in 0..15 {
            r.on_recovery_end();
        }
        assert_eq!(r.reo_wnd(8000, 100_000), Duration::from_millis(4));
        r.on_recovery_end();
        assert_eq!(r.reo_wnd(8000, 100_000), Duration::from_millis(2));
        // The end of a timeout recovery counts too (SND.UNA reaching its recovery point).
        r.on_dsack(Seq(2000), Seq(3000), true);
        for _ in 0..15 {
            r.on_recovery_end();
        }
        r.mark_all_lost(Seq(3000));
        r.on_ack(Seq(2500), &[], at(1), 0);
        assert_eq!(r.reo_wnd(8000, 100_000), Duration::from_millis(4));
        r.on_ack(Seq(3000), &[], at(2), 0);
        assert_eq!(r.reo_wnd(8000, 100_000), Duration::from_millis(2));
    }

    #[test]
    fn min_rtt_is_windowed() {
        let mut r = Rack::new(Seq(0));
        assert_eq!(
            r.min_rtt_us(7),
            7,
            "the connection's minimum until RACK has one"
        );
        r.note_rtt(20_000, at(20));
        assert_eq!(r.min_rtt_us(7), 20_000);
        // A longer path: the old minimum holds for the window, then the new one takes over.
        r.note_rtt(80_000, at(1080));
        assert_eq!(r.min_rtt_us(7), 20_000);
        r.note_rtt(80_000, at(1000 + 301_000));
        assert_eq!(r.min_rtt_us(7), 80_000);
        r.note_rtt(60_000, at(1000 + 302_000));
        assert_eq!(r.min_rtt_us(7), 60_000);
    }

    #[test]
    fn records_are_bounded() {
        let mut r = Rack::new(Seq(0));
        for i in 0..(MAX_SENT_RECORDS as u32 + 10) {
            r.on_transmit(Seq(i), Seq(i + 1), Seq(i), at(1));
        }
        assert_eq!(r.sent.len(), MAX_SENT_RECORDS);
        assert_eq!(
            r.sent.back().map(|s| s.end),
            Some(Seq(MAX_SENT_RECORDS as u32 + 10))
        );
        // Retransmitting inside a record at the bound does not split it.
        r.on_transmit(Seq(5), Seq(6), Seq(MAX_SENT_RECORDS as u32 + 10), at(2));
        assert_eq!(r.sent.len(), MAX_SENT_RECORDS);
    }
}
