//! The run queue: which ready thread runs next.
//!
//! Owns the two queues and the pick. Threads that gave up the CPU on their own (woken from a
//! sleep, yielding, new, or preempted before they ran a whole time slice) wait in `waiting`;
//! busy ring-3 threads, preempted after a whole slice, wait in `preempted`. The
//! pick prefers `waiting`, so a thread that was asleep runs before one that keeps computing,
//! the effect Linux's fair scheduler has by charging CPU time (a woken task's virtual runtime
//! is behind a busy one's); a woken kernel thread (the network poll thread) goes first of all.
//! So that threads waking each other cannot starve a busy one, a preempted thread that has
//! waited [`STARVATION_BOUND`] runs next, whatever else is waiting.
//!
//! Never allocates after [`RunQueue::reserve`]: wakeups come from interrupt handlers.

use alloc::collections::VecDeque;

use net::time::{Duration, Instant};

/// Longest a preempted (busy) thread waits while others keep running: one time slice, so a
/// busy thread gets at least about half the CPU beside threads that keep waking each other.
pub const STARVATION_BOUND: Duration = super::TIME_SLICE;

pub struct RunQueue {
    waiting: VecDeque<u64>,
    preempted: VecDeque<(u64, Instant)>,
}

impl RunQueue {
    pub fn with_capacity(n: usize) -> RunQueue {
        RunQueue {
            waiting: VecDeque::with_capacity(n),
            preempted: VecDeque::with_capacity(n),
        }
    }

    /// Room for `threads` entries in each queue (a thread is in at most one of them at a
    /// time, but stale entries of threads that blocked again may linger until picked over).
    pub fn reserve(&mut self, threads: usize) {
        if self.waiting.capacity() < threads {
            self.waiting.reserve(threads - self.waiting.len());
        }
        if self.preempted.capacity() < threads {
            self.preempted.reserve(threads - self.preempted.len());
        }
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty() && self.preempted.is_empty()
    }

    /// A thread woken from a sleep: a kernel thread first, a ring-3 thread after the others
    /// that were woken.
    pub fn push_woken(&mut self, id: u64, kernel: bool) {
        if kernel {
            self.waiting.push_front(id);
        } else {
            self.waiting.push_back(id);
        }
    }

    /// A new thread, or one that yielded the CPU: after every thread already waiting.
    pub fn push_back(&mut self, id: u64) {
        self.waiting.push_back(id);
    }

    /// A ring-3 thread preempted at `now`.
    pub fn push_preempted(&mut self, id: u64, now: Instant) {
        self.preempted.push_back((id, now));
    }

    /// The next thread to run among those `is_ready` accepts (entries it refuses are dropped:
    /// threads that blocked or ended since they were queued).
    pub fn pick(&mut self, now: Instant, is_ready: impl Fn(u64) -> bool) -> Option<u64> {
        while let Some(&(id, since)) = self.preempted.front() {
            if !is_ready(id) {
                self.preempted.pop_front();
                continue;
            }
            if now.saturating_since(since) >= STARVATION_BOUND {
                self.preempted.pop_front();
                return Some(id);
            }
            break;
        }
        while let Some(id) = self.waiting.pop_front() {
            if is_ready(id) {
                return Some(id);
            }
        }
        while let Some((id, _)) = self.preempted.pop_front() {
            if is_ready(id) {
                return Some(id);
            }
        }
        None
    }
}
