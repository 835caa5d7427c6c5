//! `init=syscall-bench [-- ITERATIONS]`: the cost of a system call round trip from ring 3,
//! measured with `getpid` (no work in the kernel beyond entry, dispatch and return) over many
//! iterations, and printed as `syscall-bench: N getpid calls, X ns/call`. Runs in ring 3: only
//! `crate::user` may be called.

use crate::uprintln;
use crate::user;

/// Calls timed when no count is given: enough to drown the clock's own cost.
const DEFAULT_ITERATIONS: u64 = 200_000;

pub fn main(args: &[&str]) -> i32 {
    let n = args
        .first()
        .and_then(|a| a.parse::<u64>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_ITERATIONS);
    // Warm up (first touches of the stack, the entry path's cache lines).
    for _ in 0..1000 {
        core::hint::black_box(user::getpid());
    }
    let mut best = u64::MAX;
    for round in 0..3 {
        let start = user::monotonic_ns();
        for _ in 0..n {
            core::hint::black_box(user::getpid());
        }
        let per_call = (user::monotonic_ns() - start) / n;
        uprintln!("syscall-bench: round {round}: {n} getpid calls, {per_call} ns/call");
        best = best.min(per_call);
    }
    uprintln!("syscall-bench: best {best} ns/call");
    0
}
