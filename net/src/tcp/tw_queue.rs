//! The TIME-WAIT part of the connection table's timer index: a FIFO of (deadline, slot,
//! generation), filed in deadline order.
//!
//! Every connection entering TIME-WAIT arms the same delay (`TcpConfig::time_wait`) from
//! "now", so their deadlines arrive in order and a queue holds them sorted at O(1) a push,
//! instead of one B-tree insertion each into an index that TIME-WAIT blocks would otherwise
//! dominate (a busy client holds one per recent connection, the active ones only a few).
//! A deadline that would break the order (the delay was changed) or a full queue is refused,
//! and the caller files it in the B-tree instead.
//!
//! Entries are never removed from the middle: an entry whose block has since moved on (freed,
//! reused, or re-filed elsewhere) stays until its deadline and is then recognised as stale by
//! the caller (generation or filing differs). Owns no connection state and never runs timers.

use alloc::collections::VecDeque;

use crate::time::Instant;

use super::MAX_SOCKETS;

/// Most entries queued: one per socket, as each block has at most one live entry; stale
/// entries beyond that fall back to the B-tree rather than grow the queue.
pub(crate) const TW_QUEUE_MAX: usize = MAX_SOCKETS;

/// One filed deadline: when, the slot, and the slot's generation at filing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TwEntry {
    pub at: Instant,
    pub idx: usize,
    pub gen: u32,
}

#[derive(Debug, Default)]
pub(crate) struct TwQueue {
    entries: VecDeque<TwEntry>,
}

impl TwQueue {
    /// File `e` at the back if that keeps the queue in deadline order and under its bound.
    pub fn push(&mut self, e: TwEntry) -> bool {
        if self.entries.len() >= TW_QUEUE_MAX || self.entries.back().is_some_and(|b| b.at > e.at) {
            return false;
        }
        self.entries.push_back(e);
        true
    }

    /// The earliest entry.
    #[inline]
    pub fn front(&self) -> Option<TwEntry> {
        self.entries.front().copied()
    }

    pub fn pop_front(&mut self) -> Option<TwEntry> {
        self.entries.pop_front()
    }

    /// Entries from the earliest on.
    pub fn iter(&self) -> impl Iterator<Item = TwEntry> + '_ {
        self.entries.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(ms: u64, idx: usize) -> TwEntry {
        TwEntry {
            at: Instant::from_millis(ms),
            idx,
            gen: 0,
        }
    }

    #[test]
    fn keeps_deadline_order_and_refuses_an_earlier_deadline() {
        let mut q = TwQueue::default();
        assert!(q.push(e(10, 1)));
        assert!(q.push(e(10, 2)));
        assert!(q.push(e(20, 3)));
        assert!(!q.push(e(15, 4)), "would be filed after a later deadline");
        assert_eq!(
            q.iter().map(|x| x.idx).collect::<alloc::vec::Vec<_>>(),
            [1, 2, 3]
        );
        assert_eq!(q.pop_front(), Some(e(10, 1)));
        assert_eq!(q.front(), Some(e(10, 2)));
    }
}
