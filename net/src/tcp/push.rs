//! Where the application's writes end in the send queue, and what follows from it: PSH on the
//! segment that carries a write's last byte (RFC 9293 §3.9.1 leaves PSH to the sender; this
//! follows Linux), MSG_EOR record boundaries that no segment crosses, and the other PSH
//! points (burst ends, forced push).
//!
//! Owns the push marks of one connection; it never sends (output.rs asks it what to mark) and
//! never holds more than [`MAX_PUSH_MARKS`] marks.

use super::seq::Seq;
use super::tcb::{Tcb, MAX_PUSH_MARKS};

impl Tcb {
    /// Record the end of a write of the data just queued: a push point unless `more`
    /// (MSG_MORE), and a record boundary with `eor` (MSG_EOR).
    pub fn mark_write_end(&mut self, more: bool, eor: bool) {
        self.more_pending = more;
        if more && !eor {
            return;
        }
        let end = self.data_end();
        let full = self.push_marks.len() >= MAX_PUSH_MARKS;
        match self.push_marks.back_mut() {
            Some(last) if last.0 == end => last.1 |= eor,
            Some(last) if full => *last = (end, eor),
            _ => self.push_marks.push_back((end, eor)),
        }
    }
    /// Forget push marks the peer has acknowledged.
    pub fn prune_push_marks(&mut self) {
        while self
            .push_marks
            .front()
            .is_some_and(|&(m, _)| m <= self.snd_una)
        {
            self.push_marks.pop_front();
        }
    }
    /// Whether the data in `[start, end)` includes the last byte of a write.
    pub fn has_push_mark(&self, start: Seq, end: Seq) -> bool {
        self.push_marks
            .iter()
            .find(|&&(m, _)| m > start)
            .is_some_and(|&(m, _)| m <= end)
    }
    /// `len` clipped so that a segment starting at `start` stops at the end of a record.
    pub fn clip_to_record(&self, start: Seq, len: usize) -> usize {
        match self.push_marks.iter().find(|&&(m, eor)| eor && m > start) {
            Some(&(m, _)) => len.min(m.since(start) as usize),
            None => len,
        }
    }

    /// Whether the segment `[start, end)` carries PSH (RFC 9293 §3.9.1 leaves the choice to
    /// the sender; this follows what Linux puts on the wire):
    /// - it holds the last byte of an application write (not one made with MSG_MORE);
    /// - for new data, it ends a burst of two or more segments (the windows or the queue allow
    ///   no further full segment now), as each of Linux's TSO packets carries PSH, so the
    ///   receiver delivers (and its GRO flushes) at the end of each burst;
    /// - for new data, more than half the peer's largest window went out since the last push
    ///   (Linux's forced push), or the persist timer flushes data held back.
    ///
    /// `burst` counts new-data segments already sent by this output call, `unsent` and
    /// `usable` are the queue and window room measured before this segment.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push_due(
        &self,
        start: Seq,
        end: Seq,
        retrans: bool,
        burst: u32,
        len: usize,
        unsent: usize,
        usable: usize,
    ) -> bool {
        if self.has_push_mark(start, end) {
            return true;
        }
        if retrans {
            return false;
        }
        if self.persist_push
            || (self.max_snd_wnd > 0 && end.since(self.pushed_seq) > self.max_snd_wnd / 2)
        {
            return true;
        }
        let mss = self.send_mss() as usize;
        let (unsent_after, usable_after) = (unsent - len, usable.saturating_sub(len));
        let last = unsent_after == 0 || usable_after < mss.min(unsent_after);
        burst >= 1 && last && !self.opts.cork && !self.more_pending
    }
}
