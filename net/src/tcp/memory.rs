//! Host-wide accounting of the memory TCP buffers hold (Linux's `tcp_mem`): every
//! connection's send queue, receive queue and out-of-order queue, against one limit the host
//! derives from its RAM.
//!
//! What is charged: the send queue's capacity (what the allocator really handed out); for
//! the receive side, what the connection has promised its peer, the bytes not yet read plus
//! the window advertised beyond them (the queue grows to exactly that, never by doubling), or
//! the queue's capacity if larger; and the out-of-order runs with their overhead. Charging
//! the promise when the window opens means a segment inside an advertised window is never
//! dropped for want of memory.
//!
//! Per-socket buffer sizes bound one connection; this bounds all of them together, so that a
//! peer opening many connections and never reading cannot make the heap run dry. Levels:
//! - below half the limit nothing changes;
//! - above it (pressure) a window opens by a few segments at most and buffers that hold much
//!   less than their capacity give the rest back;
//! - at the limit a window opens no further and `send` says `EAGAIN` (the writer is woken when
//!   usage falls or its own queue drains), except within a small per-connection floor, so
//!   that the connection an application is reading always makes progress.
//!
//! Owns the arithmetic and the thresholds; the callers in `Tcp` charge, check and reclaim.

/// What a connection may always queue for sending, and always promise its peer (or one of
/// the peer's segments, if larger), whatever the host-wide total (Linux's `tcp_wmem[0]` /
/// `tcp_rmem[0]`): every connection keeps making progress.
pub const PER_SOCKET_FLOOR: usize = 4 * 1024;

/// What a connection block itself costs (the `Tcb` and the heap's bookkeeping for it),
/// charged while it exists: a new connection is refused when the limit has no room for it.
pub const TCB_COST: usize = core::mem::size_of::<super::tcb::Tcb>() + 64;

/// Segments of window a connection may still open while memory is under pressure (Linux
/// clamps the window to four advertised MSS then too).
pub const PRESSURE_WINDOW_SEGMENTS: u32 = 4;

/// Host-wide TCP buffer memory: the limit and what is charged against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Bytes all TCP buffers may occupy together.
    pub limit: usize,
    /// Bytes charged now.
    pub used: usize,
    /// Whether usage is above half the limit (entered and left with hysteresis).
    pub pressure: bool,
    /// Times pressure was entered.
    pub pressures: u64,
    /// Highest `used` seen.
    pub peak: usize,
    /// Spare capacity was given back since pressure was last entered.
    pub swept: bool,
}

impl Memory {
    pub fn new(limit: usize) -> Memory {
        Memory {
            limit,
            used: 0,
            pressure: false,
            pressures: 0,
            peak: 0,
            swept: false,
        }
    }

    /// Replace a connection's charge `old` by `new`, entering or leaving pressure.
    pub fn recharge(&mut self, old: usize, new: usize) {
        self.used = self.used.saturating_sub(old).saturating_add(new);
        self.peak = self.peak.max(self.used);
        if !self.pressure && self.used > self.limit / 2 {
            self.pressure = true;
            self.pressures += 1;
            self.swept = false;
        } else if self.pressure && self.used < self.limit / 4 {
            self.pressure = false;
        }
    }

    /// Whether the limit has room for another connection block ([`TCB_COST`]).
    pub fn room_for_connection(&self) -> bool {
        self.room() >= TCB_COST
    }

    /// Bytes that may still be charged before the limit.
    pub fn room(&self) -> usize {
        self.limit.saturating_sub(self.used)
    }

    /// Whether `more` bytes may be added to a queue now holding `held` bytes, when the queue
    /// may always hold `floor` bytes.
    pub fn admits(&self, held: usize, more: usize, floor: usize) -> bool {
        held.saturating_add(more) <= floor || more <= self.room()
    }

    /// Whether `more` bytes may go into `q` now: bytes that fit its current capacity always
    /// may; growing it (by doubling, as `VecDeque` does) must be admitted.
    pub fn admits_into(
        &self,
        q: &alloc::collections::VecDeque<u8>,
        more: usize,
        floor: usize,
    ) -> bool {
        let need = q.len().saturating_add(more);
        if need <= q.capacity() {
            return true;
        }
        let grown = need.max(2 * q.capacity()).max(8);
        self.admits(q.capacity(), grown - q.capacity(), floor)
    }

    /// How many of `want` bytes `q` may take now (see [`admits_into`](Self::admits_into)).
    pub fn admit_into(
        &self,
        q: &alloc::collections::VecDeque<u8>,
        want: usize,
        floor: usize,
    ) -> usize {
        if self.admits_into(q, want, floor) {
            want
        } else {
            want.min(q.capacity() - q.len())
        }
    }

    /// Whether usage has come far enough down from the limit for blocked writers to retry.
    pub fn writers_may_retry(&self) -> bool {
        self.used <= self.limit - self.limit / 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pressure_has_hysteresis() {
        let mut m = Memory::new(1000);
        m.recharge(0, 400);
        assert!(!m.pressure);
        m.recharge(0, 200);
        assert!(m.pressure && m.pressures == 1);
        m.recharge(300, 0);
        assert!(m.pressure, "still above a quarter");
        m.recharge(100, 0);
        assert!(!m.pressure);
        assert_eq!((m.used, m.peak, m.room()), (200, 600, 800));
    }

    #[test]
    fn floor_admits_small_queues_even_at_the_limit() {
        let mut m = Memory::new(10_000);
        m.recharge(0, 10_000);
        assert!(m.admits(0, 1000, PER_SOCKET_FLOOR));
        assert!(!m.admits(PER_SOCKET_FLOOR, 1, PER_SOCKET_FLOOR));
        assert!(m.admits(PER_SOCKET_FLOOR, 1, 2 * PER_SOCKET_FLOOR));
        let mut q = alloc::collections::VecDeque::with_capacity(1024);
        q.extend(core::iter::repeat_n(7u8, 1000));
        let cap = q.capacity();
        // What fits the capacity is always admitted; growing past the floor is not.
        assert_eq!(m.admit_into(&q, cap - 1000, PER_SOCKET_FLOOR), cap - 1000);
        assert_eq!(m.admit_into(&q, 100_000, PER_SOCKET_FLOOR), cap - 1000);
        m.recharge(10_000, 2_000);
        assert_eq!(m.admit_into(&q, 5_000, PER_SOCKET_FLOOR), 5_000);
    }
}
