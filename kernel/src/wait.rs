//! Wait queues keyed by `u64` (the seeds' `wait_queue_head_t`, flattened): a thread sleeps on
//! one or more keys until someone calls [`wake_all`] on one of them or its deadline passes.
//!
//! Keys: the socket layer hands them out (`net::sys::WaitInfo::wait_key`); the kernel's own
//! well-known keys have the top bit set ([`NIC_KEY`], [`PROGRAMS_KEY`], [`process_key`]) so
//! they never collide with the socket layer's small numbers.
//!
//! No lost wakeups: every key has a generation counter (hashed into [`GENERATION_SLOTS`]
//! buckets; a collision only causes a spurious wakeup and a retry). Read it before trying the
//! operation, and sleep only if it is unchanged — the check and the sleep happen with
//! interrupts off under the scheduler lock, and [`wake_all`] bumps the counter before it takes
//! that lock:
//!
//! ```ignore
//! let g = wait::generation(key);
//! match try_op() { Err(EAGAIN) => wait::sleep_on_if_unchanged(key, g, deadline), .. }
//! ```
//!
//! [`wake_all`] is callable from interrupt handlers (no allocation, one interrupt-masking lock).
//!
//! The network poll thread (a kernel thread, `sched::spawn`) sleeps on [`NIC_KEY`] until the
//! NIC interrupt wakes it or the stack's next timer is due:
//!
//! ```ignore
//! loop {
//!     let g = wait::generation(wait::NIC_KEY);
//!     let next = netstack::with(|n| { n.poll(time::now()); n.take_woken(&mut keys); n.poll_at() });
//!     for k in keys.drain(..) { wait::wake_all(k) }       // sockets' waiters
//!     if nic::take_pending() { continue }                  // receive budget hit: go again
//!     wait::sleep_on_if_unchanged(wait::NIC_KEY, g, next); // IRQ, a syscall's kick, or timer
//! }
//! ```
//!
//! with the NIC interrupt handler calling `wait::wake_all(wait::NIC_KEY)` after raising its
//! pending flag, and socket system calls kicking the thread the same way when they queued
//! output (or polling inline).

use core::sync::atomic::{AtomicU64, Ordering};

use net::time::Instant;

use crate::sched;
pub use crate::sched::WakeReason;

/// Kernel-owned keys have this bit set.
pub const KERNEL_KEY_BIT: u64 = 1 << 63;
/// The NIC interrupt wakes the network poll thread through this key.
pub const NIC_KEY: u64 = KERNEL_KEY_BIT | 1;
/// Woken whenever a program ends.
pub const PROGRAMS_KEY: u64 = KERNEL_KEY_BIT | 2;

/// Key woken when process `pid` ends.
pub fn process_key(pid: u64) -> u64 {
    KERNEL_KEY_BIT | (1 << 62) | pid
}

/// Buckets of generation counters for the socket layer's keys: enough that unrelated sockets
/// rarely share one (a shared bucket only costs a spurious retry), small enough to be a static
/// array.
pub const GENERATION_SLOTS: usize = 256;
/// Buckets for the kernel's own keys, apart from the sockets' so that the NIC key, bumped at
/// every NIC interrupt and every kick of the poll thread, never moves a socket's generation.
pub const KERNEL_GENERATION_SLOTS: usize = 64;

static GENERATIONS: [AtomicU64; GENERATION_SLOTS] = [const { AtomicU64::new(0) }; GENERATION_SLOTS];
static KERNEL_GENERATIONS: [AtomicU64; KERNEL_GENERATION_SLOTS] =
    [const { AtomicU64::new(0) }; KERNEL_GENERATION_SLOTS];

fn slot(key: u64) -> &'static AtomicU64 {
    // Fibonacci hashing spreads sequential keys over the buckets.
    let h = (key.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize;
    if key & KERNEL_KEY_BIT != 0 {
        &KERNEL_GENERATIONS[h % KERNEL_GENERATION_SLOTS]
    } else {
        &GENERATIONS[h % GENERATION_SLOTS]
    }
}

/// Current generation of `key`: read it before the attempt that may return `EAGAIN`.
pub fn generation(key: u64) -> u64 {
    slot(key).load(Ordering::Acquire)
}

/// Wake every thread sleeping on `key` (and make pending `sleep_on_if_unchanged` calls with an
/// older generation return at once). Interrupt-safe.
pub fn wake_all(key: u64) -> usize {
    slot(key).fetch_add(1, Ordering::AcqRel);
    sched::wake_key(key)
}

/// Sleep on `key` until woken or `deadline` passes.
pub fn sleep_on(key: u64, deadline: Option<Instant>) -> WakeReason {
    sched::block(&[key], deadline, |_| true)
}

/// Sleep on `key` unless its generation moved past `gen` (then return `Woken` at once).
pub fn sleep_on_if_unchanged(key: u64, gen: u64, deadline: Option<Instant>) -> WakeReason {
    sleep_on_any_if_unchanged(&[(key, gen)], deadline)
}

/// Bound on the keys one sleep may wait on (`poll` with more descriptors waits on the first
/// ones and re-checks all of them at each wakeup or at most every [`POLL_RECHECK`]).
pub const MAX_KEYS: usize = 64;
/// Re-evaluation period for a sleep that had to drop keys beyond [`MAX_KEYS`].
pub const POLL_RECHECK: net::time::Duration = net::time::Duration::from_millis(10);

/// Sleep on several keys (`poll`): returns when any is woken, or at once if any generation
/// moved, or at `deadline`.
pub fn sleep_on_any_if_unchanged(keys: &[(u64, u64)], deadline: Option<Instant>) -> WakeReason {
    let mut buf = [0u64; MAX_KEYS];
    let n = keys.len().min(MAX_KEYS);
    for (b, (k, _)) in buf.iter_mut().zip(keys) {
        *b = *k;
    }
    let deadline = if keys.len() > MAX_KEYS {
        let recheck = crate::time::now() + POLL_RECHECK;
        Some(deadline.map_or(recheck, |d| d.min(recheck)))
    } else {
        deadline
    };
    let unchanged = || keys.iter().all(|&(k, g)| generation(k) == g);
    if !unchanged() {
        // Woken already: the caller retries at once. Let every ready thread run first. The
        // kernel is cooperative, so a caller whose every attempt moves its own key (a socket
        // call kicking the poll thread, an attempt that readies the other direction) would
        // otherwise spin forever without the thread that can satisfy it ever running.
        sched::yield_now();
        return WakeReason::Woken;
    }
    sched::block(&buf[..n], deadline, |_| unchanged())
}
