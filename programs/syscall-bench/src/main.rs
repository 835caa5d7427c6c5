//! `syscall-bench [ITERATIONS]`: the cost of a system call round trip, measured with
//! `getpid` (no work in the kernel beyond entry, dispatch and return) over ITERATIONS calls
//! (200000 by default; a missing, zero or malformed count means the default), three rounds.
//! Prints `syscall-bench: round R: N getpid calls, X ns/call` per round and
//! `syscall-bench: best X ns/call`; exits 0.
//!
//! The call is the raw system call (`syscall(SYS_getpid)`): a libc may answer `getpid` from a
//! cache without entering the kernel.

use std::hint::black_box;
use std::time::Instant;

/// Calls timed when no count is given: enough to drown the clock's own cost.
const DEFAULT_ITERATIONS: u64 = 200_000;

fn getpid() -> i64 {
    // SAFETY: getpid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_getpid) }
}

fn main() {
    let n = std::env::args()
        .nth(1)
        .and_then(|a| a.parse::<u64>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_ITERATIONS);
    // Warm up (first touches of the stack, the entry path's cache lines).
    for _ in 0..1000 {
        black_box(getpid());
    }
    let mut best = u64::MAX;
    for round in 0..3 {
        let start = Instant::now();
        for _ in 0..n {
            black_box(getpid());
        }
        let per_call = (start.elapsed().as_nanos() / u128::from(n)) as u64;
        println!("syscall-bench: round {round}: {n} getpid calls, {per_call} ns/call");
        best = best.min(per_call);
    }
    println!("syscall-bench: best {best} ns/call");
}
