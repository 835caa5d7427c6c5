//! Selective acknowledgements (RFC 2018) in both directions, and the RFC 6675 quantities loss
//! recovery uses with them.
//!
//! Receiver: the blocks our ACKs report, computed from the out-of-order queue (first the block
//! holding the most recent arrival, then the highest others). Sender: a scoreboard of the
//! ranges the peer reported, bounded by [`MAX_SACK_RANGES`], trimmed as SND.UNA advances and
//! dropped if the peer reneges; `pipe` (bytes believed in flight) and `next_hole` (the next
//! range to retransmit, lost by RFC 6675 IsLost). Owns no timers and never sends.

use super::input::Segment;
use super::seq::Seq;
use super::tcb::Tcb;
use crate::wire::tcp::MAX_SACK_BLOCKS;

/// Ranges the sender remembers. Each ACK carries at most 4 blocks and adjacent ranges merge,
/// so this bound is only reached under heavy, scattered loss; forgetting the highest ranges
/// then costs needless retransmissions, never correctness.
pub const MAX_SACK_RANGES: usize = 32;

/// An unSACKed stretch `[start, end)` of what we sent, and whether it is taken as lost.
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
            if self.dsack.is_none() {
                self.dsack = Some((l, r));
            }
            self.ack_now = true;
        }
    }

    /// Record the blocks of an acceptable ACK in the scoreboard.
    pub(crate) fn sack_update(&mut self, cx: &mut super::Shared, seg: &Segment) {
        if !self.sack_ok {
            return;
        }
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
            }
        }
        for &(l, r) in
            &seg.opts.sack_blocks[..usize::from(seg.opts.sack_count).min(MAX_SACK_BLOCKS)]
        {
            let (l, r) = (Seq(l), Seq(r));
            // Ignore D-SACKs and blocks outside what we sent.
            if l >= r
                || r <= self.snd_una
                || r > self.snd_max
                || r.since(l) > self.snd_max.since(self.snd_una)
            {
                continue;
            }
            self.sacked.push((l.max(self.snd_una), r));
        }
        self.sacked.sort_by(|a, b| a.0.diff(b.0).cmp(&0));
        let mut merged: alloc::vec::Vec<(Seq, Seq)> =
            alloc::vec::Vec::with_capacity(self.sacked.len());
        for &(l, r) in &self.sacked {
            match merged.last_mut() {
                Some(last) if l <= last.1 => last.1 = last.1.max(r),
                _ => merged.push((l, r)),
            }
        }
        merged.truncate(MAX_SACK_RANGES);
        self.sacked = merged;
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
            }
        }
        if self.high_rxt < una {
            self.high_rxt = una;
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

    /// Bytes retransmitted in this recovery and not yet SACKed or acknowledged (the
    /// retransmitted part of [`pipe`](Self::pipe)).
    pub(crate) fn rexmitted_in_flight(&self) -> u32 {
        let high_rxt = self.high_rxt;
        self.holes()
            .map(|h| {
                let rx_end = high_rxt.min(h.end);
                if rx_end > h.start {
                    rx_end.since(h.start)
                } else {
                    0
                }
            })
            .sum()
    }

    /// UnSACKed bytes taken as lost (see [`holes`](Self::holes)).
    pub(crate) fn lost_bytes(&self) -> u32 {
        self.holes()
            .filter(|h| h.lost)
            .map(|h| h.end.since(h.start))
            .sum()
    }

    /// RFC 6675 §4 SetPipe: every unSACKed byte not taken as lost counts once, and once more
    /// if it was retransmitted in this recovery (at or below HighRxt).
    pub(crate) fn pipe(&self) -> u32 {
        let not_lost: u32 = self
            .holes()
            .filter(|h| !h.lost)
            .map(|h| h.end.since(h.start))
            .sum();
        not_lost.saturating_add(self.rexmitted_in_flight())
    }

    /// RFC 6675 NextSeg rule 1: the first byte above HighRxt in a hole taken as lost, and up to
    /// `mss` bytes from there within the hole. Rule 3 (resending a hole not yet taken as lost
    /// when there is no new data) is left out, as Linux does: a hole that is only reordered
    /// must not be resent; a truly lost one is found by the timers.
    pub(crate) fn next_hole(&self, mss: u32) -> Option<(Seq, u32)> {
        let from = self.high_rxt.max(self.snd_una);
        self.holes()
            .filter(|h| h.lost && h.end > from)
            .map(|h| {
                let s = h.start.max(from);
                (s, h.end.since(s).min(mss))
            })
            .next()
    }

    /// If `seq` lies in a SACKed range, where that range ends.
    pub(crate) fn sacked_end_at(&self, seq: Seq) -> Option<Seq> {
        self.sacked
            .iter()
            .find(|&&(l, r)| seq >= l && seq < r)
            .map(|&(_, r)| r)
    }
}
