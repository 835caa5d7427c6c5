//! Selective acknowledgements (RFC 2018) in both directions, and the RFC 6675 quantities loss
//! recovery uses with them.
//!
//! Receiver: the blocks our ACKs report, computed from the out-of-order queue (first the block
//! holding the most recent arrival, then the highest others). Sender: a scoreboard of the
//! ranges the peer reported, bounded by [`MAX_SACK_RANGES`], trimmed as SND.UNA advances and
//! dropped if the peer reneges; `pipe` (bytes believed in flight) and `next_hole` (the next
//! range to retransmit) read from the transmission records `rack.rs` keeps, and the DupThresh rule
//! (RFC 6675 IsLost) that marks those records lost. Owns no timers and never sends.

use super::input::Segment;
use super::rack::Sent;
use super::seq::Seq;
use super::tcb::Tcb;
use crate::wire::tcp::MAX_SACK_BLOCKS;

/// Ranges the sender remembers: as many as there can be transmission records (`rack.rs`), so
/// that every hole a queue overflow leaves keeps its SACKed neighbours (16 KiB at most). The
/// receiver reports each range only a few times (the most recent block and the highest
/// ones), so a range forgotten here is never learnt again: RACK then takes the data it covers
/// as lost once later data arrives, and resends it needlessly. A bound of 32 did that to
/// every slow-start overflow of a 128-packet queue (two spurious retransmissions per drop).
pub const MAX_SACK_RANGES: usize = super::rack::MAX_SENT_RECORDS;

/// An unSACKed part `[start, end)` of one transmission record and that record's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Piece {
    pub start: Seq,
    pub end: Seq,
    pub lost: bool,
    pub rexmit_out: bool,
}

/// An unSACKed stretch `[start, end)` of what we sent, and whether RFC 6675 IsLost holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Hole {
    pub start: Seq,
    pub end: Seq,
    pub lost: bool,
}

impl Tcb {
    /// Fill `out` with the blocks for our next ACK; returns how many.
    pub(crate) fn sack_blocks(&self, out: &mut [(u32, u32); MAX_SACK_BLOCKS]) -> u8 {
        if !self.sack_ok || (self.ooo.is_empty() && self.dsack.is_none()) {
            return 0;
        }
        let max = if self.ts_ok { 3 } else { MAX_SACK_BLOCKS };
        // A D-SACK goes first (RFC 2883 §4); the ordinary blocks follow.
        let (out, max, dn) = match self.dsack {
            Some((l, r)) => {
                out[0] = (l.0, r.0);
                (&mut out[1..], max - 1, 1)
            }
            None => (&mut out[..], max, 0),
        };
        let to_seq = |off: u64| (self.rcv_nxt + off.saturating_sub(self.rcv_off) as u32).0;
        // Contiguous runs, highest first.
        let mut runs = self.ooo.iter().rev().map(|(&s, v)| (s, s + v.len() as u64));
        let mut merged = core::iter::from_fn(move || {
            let (mut s, e) = runs.next()?;
            loop {
                let mut peek = runs.clone();
                match peek.next() {
                    Some((ps, pe)) if pe == s => {
                        s = ps;
                        runs = peek;
                    }
                    _ => return Some((s, e)),
                }
            }
        });
        let recent = self.last_ooo;
        let first = merged.clone().find(|&(s, e)| s <= recent && recent < e);
        let mut n = 0;
        if let Some((s, e)) = first {
            out[0] = (to_seq(s), to_seq(e));
            n = 1;
        }
        for (s, e) in merged.by_ref() {
            if n >= max {
                break;
            }
            if Some((s, e)) != first {
                out[n] = (to_seq(s), to_seq(e));
                n += 1;
            }
        }
        (n + dn) as u8
    }

    /// Remember `[l, r)` arrived twice, for the next ACK's D-SACK block (the first duplicate
    /// since the last ACK wins), and ACK at once.
    pub(crate) fn note_duplicate(&mut self, l: Seq, r: Seq) {
        if self.sack_ok && l < r {
            match self.dsack {
                None => self.dsack = Some((l, r)),
                // RFC 2883 §4: the D-SACK block is the contiguous sequence space of the
                // duplicate: a duplicate adjoining or overlapping the one already noted (one
                // segment repeating two queued runs) widens it, as Linux does.
                Some((dl, dr)) if l <= dr && dl <= r => {
                    self.dsack = Some((if l < dl { l } else { dl }, if r > dr { r } else { dr }));
                }
                Some(_) => {}
            }
            self.ack_now = true;
        }
    }

    /// Record the blocks of an acceptable ACK in the scoreboard. Returns the D-SACK block the
    /// ACK carried, if any.
    pub(crate) fn sack_update(
        &mut self,
        cx: &mut super::Shared,
        seg: &Segment,
    ) -> Option<(Seq, Seq)> {
        if !self.sack_ok {
            return None;
        }
        let mut dsack = None;
        // A D-SACK (RFC 2883 §4): the first block lies below the cumulative ACK or inside
        // the second block. It reports a duplicate, not a hole filled; it is only counted.
        let blocks = &seg.opts.sack_blocks[..usize::from(seg.opts.sack_count).min(MAX_SACK_BLOCKS)];
        if let Some(&(l, r)) = blocks.first() {
            let (l, r) = (Seq(l), Seq(r));
            let inside_second = blocks
                .get(1)
                .is_some_and(|&(l2, r2)| l >= Seq(l2) && r <= Seq(r2));
            if l < r && (r <= seg.ack || inside_second) {
                cx.stats.dsack_recv += 1;
                dsack = Some((l, r));
            }
        }
        for &(l, r) in blocks {
            let (l, r) = (Seq(l), Seq(r));
            // Ignore D-SACKs and blocks outside what we sent.
            if l >= r
                || r <= self.snd_una
                || r > self.snd_max
                || r.since(l) > self.snd_max.since(self.snd_una)
            {
                continue;
            }
            self.sack_insert(l.max(self.snd_una), r);
        }
        dsack
    }

    /// Merge `[l, r)` into the sorted, disjoint scoreboard: binary search for the first range
    /// it touches, one replacement for all it overlaps or abuts. Past the bound the highest
    /// ranges go.
    fn sack_insert(&mut self, l: Seq, r: Seq) {
        let i = self.sacked.partition_point(|&(_, e)| e < l);
        let (mut nl, mut nr) = (l, r);
        let mut j = i;
        while let Some(&(sl, sr)) = self.sacked.get(j) {
            if sl > r {
                break;
            }
            if sl < nl {
                nl = sl;
            }
            if sr > nr {
                nr = sr;
            }
            j += 1;
        }
        self.sacked.splice(i..j, [(nl, nr)]);
        self.sacked.truncate(MAX_SACK_RANGES);
    }

    /// SND.UNA advanced: forget what it covers. A range starting exactly at SND.UNA means the
    /// peer dropped data it had SACKed (reneging, RFC 2018 §8): trust nothing then.
    pub(crate) fn sack_trim(&mut self) {
        let una = self.snd_una;
        self.sacked.retain(|&(_, r)| r > una);
        if let Some(first) = self.sacked.first_mut() {
            if first.0 < una {
                first.0 = una;
            }
            if first.0 == una {
                self.sacked.clear();
                self.rack.forget_sacks();
            }
        }
    }

    /// Bytes the peer reported holding above SND.UNA.
    pub(crate) fn sacked_bytes(&self) -> u32 {
        self.sacked.iter().map(|&(l, r)| r.since(l)).sum()
    }

    /// SACKed bytes below `x`.
    pub(crate) fn sacked_below(&self, x: Seq) -> u32 {
        self.sacked
            .iter()
            .filter(|&&(l, _)| l < x)
            .map(|&(l, r)| r.min(x).since(l))
            .sum()
    }

    /// The unSACKed stretches of sequence space from SND.UNA to SND.MAX, lowest first: the
    /// holes below the highest SACK, then what lies beyond it. Each comes with whether it is
    /// taken as lost: RFC 6675 IsLost, true when DupThresh discontiguous SACKed ranges or more
    /// than (DupThresh − 1)·SMSS SACKed bytes lie above it (every byte of a hole has the same
    /// SACKed data above it). Nothing beyond the highest SACK is lost by this rule.
    pub(crate) fn holes(&self) -> impl Iterator<Item = Hole> + '_ {
        let thresh = self.dupthresh.max(1);
        let byte_thresh = (thresh - 1).saturating_mul(self.mss);
        let mut bytes_above = self.sacked_bytes();
        let mut ranges_above = self.sacked.len() as u32;
        let mut cursor = self.snd_una;
        let mut ranges = self.sacked.iter();
        let mut done = false;
        core::iter::from_fn(move || loop {
            if done {
                return None;
            }
            let Some(&(l, r)) = ranges.next() else {
                done = true;
                return (self.snd_max > cursor).then_some(Hole {
                    start: cursor,
                    end: self.snd_max,
                    lost: false,
                });
            };
            let hole = (l > cursor).then_some(Hole {
                start: cursor,
                end: l,
                lost: ranges_above >= thresh || bytes_above > byte_thresh,
            });
            bytes_above = bytes_above.saturating_sub(r.since(l));
            ranges_above -= 1;
            cursor = cursor.max(r);
            if hole.is_some() {
                return hole;
            }
        })
    }

    /// The unSACKed parts of the transmission records (`rack`), lowest first, each with its
    /// record's state.
    pub(crate) fn unsacked(&self) -> impl Iterator<Item = Piece> + '_ {
        let mut records = self.rack.sent.iter();
        let mut current: Option<(Sent, Seq)> = None;
        let mut ri = 0usize;
        core::iter::from_fn(move || loop {
            let (r, cursor) = match current {
                Some(c) => c,
                None => {
                    let r = *records.next()?;
                    (r, r.start)
                }
            };
            if r.delivered || cursor >= r.end {
                current = None;
                continue;
            }
            while self.sacked.get(ri).is_some_and(|&(_, e)| e <= cursor) {
                ri += 1;
            }
            let piece = |end: Seq| Piece {
                start: cursor,
                end,
                lost: r.lost,
                rexmit_out: r.rexmit_out,
            };
            match self.sacked.get(ri) {
                Some(&(l, e)) if l <= cursor => current = Some((r, e.min(r.end))),
                Some(&(l, _)) if l < r.end => {
                    current = Some((r, l));
                    return Some(piece(l));
                }
                _ => {
                    current = None;
                    return Some(piece(r.end));
                }
            }
        })
    }

    /// Bytes retransmitted and neither SACKed, acknowledged nor taken as lost again (the
    /// retransmitted part of [`pipe`](Self::pipe)).
    pub(crate) fn rexmitted_in_flight(&self) -> u32 {
        self.unsacked()
            .filter(|p| p.rexmit_out)
            .map(|p| p.end.since(p.start))
            .sum()
    }

    /// UnSACKed bytes taken as lost (retransmitted or not).
    pub(crate) fn lost_bytes(&self) -> u32 {
        self.unsacked()
            .filter(|p| p.lost)
            .map(|p| p.end.since(p.start))
            .sum()
    }

    /// RFC 6675 §4 SetPipe: every unSACKed byte not taken as lost counts once, and once more
    /// while a retransmission of it is in flight.
    pub(crate) fn pipe(&self) -> u32 {
        self.unsacked()
            .map(|p| {
                let len = p.end.since(p.start);
                u32::from(!p.lost) * len + u32::from(p.rexmit_out) * len
            })
            .fold(0u32, u32::saturating_add)
    }

    /// RFC 6675 NextSeg rule 1: the lowest unSACKed bytes taken as lost and not retransmitted
    /// since, at most `mss` of them. Rule 3 (resending a hole not yet taken as lost when there
    /// is no new data) is left out, as Linux does: a hole that is only reordered must not be
    /// resent; RACK's reordering timer finds a truly lost one.
    pub(crate) fn next_hole(&self, mss: u32) -> Option<(Seq, u32)> {
        self.unsacked()
            .find(|p| p.lost && !p.rexmit_out)
            .map(|p| (p.start, p.end.since(p.start).min(mss)))
    }

    /// The DupThresh rule (RFC 6675 IsLost over [`holes`](Self::holes)): take the records in
    /// every hole with DupThresh SACKed above it as lost. Returns how many were newly marked.
    pub(crate) fn mark_dupthresh_losses(&mut self) -> u32 {
        let lost: alloc::vec::Vec<Hole> = self.holes().filter(|h| h.lost).collect();
        lost.iter()
            .map(|h| self.rack.mark_lost(h.start, h.end))
            .sum()
    }

    /// If `seq` lies in a SACKed range, where that range ends.
    pub(crate) fn sacked_end_at(&self, seq: Seq) -> Option<Seq> {
        self.sacked
            .iter()
            .find(|&&(l, r)| seq >= l && seq < r)
            .map(|&(_, r)| r)
    }
}
