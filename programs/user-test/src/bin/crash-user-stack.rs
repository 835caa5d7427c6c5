//! `crash-user-stack`: unbounded recursion into the stack's guard page; the program must die
//! of SIGSEGV (status 139).
//!
//! std's start-up installs a SIGSEGV handler that turns a stack overflow into a message and
//! `abort` (SIGABRT, 134); the default action is put back first so that the fault itself
//! ends the program, as it ends a C program.

use std::hint::black_box;

#[inline(never)]
fn deep(n: u64) -> u64 {
    let frame = black_box([n; 64]);
    if n == u64::MAX {
        return frame[0];
    }
    deep(n + 1) + black_box(frame[63])
}

fn main() {
    // SAFETY: restoring the default action of a signal; no handler of ours is involved.
    unsafe {
        libc::signal(libc::SIGSEGV, libc::SIG_DFL);
        libc::signal(libc::SIGBUS, libc::SIG_DFL);
    }
    println!("crash-user-stack: recursing");
    let depth = deep(0);
    println!("crash-user-stack: recursion returned at depth {depth}");
}
