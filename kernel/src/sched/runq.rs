//! The run queue: which ready thread runs next.
//!
//! Owns the queues and the pick. A woken kernel thread (the network poll thread, the boot
//! thread waiting on a program) runs next, in the order they woke: Linux, too, runs
//! interrupt-driven work at the interrupt's exit. Among every other ready thread the pick
//! takes the one that has run least — its virtual runtime, the CPU time it used, which the
//! scheduler keeps, as Linux's fair scheduler does — so a thread that sleeps and wakes runs
//! before one that keeps computing, and a busy one still gets its share once the others have
//! used as much.
//!
//! Never allocates after [`RunQueue::reserve`]: wakeups come from interrupt handlers.

use alloc::collections::VecDeque;

pub struct RunQueue {
    kernel_woken: VecDeque<u64>,
    ready: VecDeque<u64>,
}

impl RunQueue {
    pub fn with_capacity(n: usize) -> RunQueue {
        RunQueue {
            kernel_woken: VecDeque::with_capacity(n),
            ready: VecDeque::with_capacity(n),
        }
    }

    /// Room for `threads` entries in each queue (a thread is in one of them at most once).
    pub fn reserve(&mut self, threads: usize) {
        for q in [&mut self.kernel_woken, &mut self.ready] {
            if q.capacity() < threads {
                q.reserve(threads - q.len());
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.kernel_woken.is_empty() && self.ready.is_empty()
    }

    /// A kernel thread woken from a sleep: it runs next, after those woken before it.
    pub fn push_kernel_woken(&mut self, id: u64) {
        self.kernel_woken.push_back(id);
    }

    /// Any other ready thread: woken, new, yielding or preempted.
    pub fn push(&mut self, id: u64) {
        self.ready.push_back(id);
    }

    /// The next thread to run: the first woken kernel thread, else the ready thread with the
    /// smallest virtual runtime (the earliest queued among equals); and that smallest virtual
    /// runtime among the ready threads (before the pick). `vruntime_of` gives a thread's
    /// virtual runtime if it is ready; entries it refuses (threads that blocked or ended since
    /// they were queued) are dropped. One pass over the ready threads.
    pub fn pick(&mut self, vruntime_of: impl Fn(u64) -> Option<u64>) -> (Option<u64>, Option<u64>) {
        let mut least: Option<(usize, u64)> = None;
        let mut kept = 0;
        self.ready.retain(|&id| match vruntime_of(id) {
            Some(v) => {
                if least.is_none_or(|(_, l)| v < l) {
                    least = Some((kept, v));
                }
                kept += 1;
                true
            }
            None => false,
        });
        let least_vruntime = least.map(|(_, v)| v);
        while let Some(id) = self.kernel_woken.pop_front() {
            if vruntime_of(id).is_some() {
                return (Some(id), least_vruntime);
            }
        }
        let next = least.and_then(|(at, _)| self.ready.remove(at));
        (next, least_vruntime)
    }
}
