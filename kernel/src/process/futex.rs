//! Futexes (Linux's `futex(2)`): threads sleeping on a 32-bit word of their program's memory
//! until another thread changes it and wakes them. The word's key is the address space and
//! the address (a private futex; every futex is private here: no memory is shared between
//! programs).
//!
//! Waiters sleep on a wait key derived from (space, address); distinct words may share a key
//! (the hash folds), which costs a spurious wakeup — allowed by futex's contract, since every
//! waiter re-checks its condition. A wake counts the threads it readied.
//!
//! Owns the operations' semantics; never sleeps without first re-reading the word after
//! taking the key's generation, so a wake between check and sleep is never lost.

use alloc::sync::Arc;

use net::time::Duration;
use uapi::Errno;

use super::Process;
use crate::mm::uaccess;
use crate::syscall::Timespec;
use crate::{sched, time, wait};

const FUTEX_WAIT: u32 = 0;
const FUTEX_WAKE: u32 = 1;
const FUTEX_REQUEUE: u32 = 3;
const FUTEX_CMP_REQUEUE: u32 = 4;
const FUTEX_WAKE_OP: u32 = 5;
const FUTEX_WAIT_BITSET: u32 = 9;
const FUTEX_WAKE_BITSET: u32 = 10;
const FUTEX_PRIVATE_FLAG: u32 = 128;
const FUTEX_CLOCK_REALTIME: u32 = 256;

/// The wait key of the word at `uaddr` in `p`'s memory.
fn key(p: &Process, uaddr: u64) -> u64 {
    let h = (p.root() ^ uaddr.rotate_left(17)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    wait::KERNEL_KEY_BIT | (1 << 60) | (h >> 4)
}

/// Wake up to `n` threads waiting on `uaddr` (all of them on the key: see the module doc);
/// how many.
pub fn wake(p: &Arc<Process>, uaddr: u64, n: u32) -> usize {
    if n == 0 {
        return 0;
    }
    wait::wake_all(key(p, uaddr)).min(n as usize)
}

fn read_word(uaddr: u64) -> Result<u32, Errno> {
    if !uaddr.is_multiple_of(4) {
        return Err(Errno::EINVAL);
    }
    uaccess::read::<u32>(uaddr)
}

/// `futex(uaddr, op, val, timeout|val2, uaddr2, val3)`.
pub fn futex(
    uaddr: u64,
    op: u32,
    val: u32,
    timeout: u64,
    uaddr2: u64,
    val3: u32,
) -> Result<i64, Errno> {
    let p = sched::current_process().ok_or(Errno::EPERM)?;
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    if op & FUTEX_CLOCK_REALTIME != 0 && cmd != FUTEX_WAIT_BITSET && cmd != FUTEX_WAIT {
        return Err(Errno::ENOSYS);
    }
    match cmd {
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            if cmd == FUTEX_WAIT_BITSET && val3 == 0 {
                return Err(Errno::EINVAL);
            }
            let deadline = if timeout == 0 {
                None
            } else {
                let ts: Timespec = uaccess::read(timeout)?;
                if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
                    return Err(Errno::EINVAL);
                }
                let d = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
                Some(if cmd == FUTEX_WAIT_BITSET {
                    // Absolute, on CLOCK_MONOTONIC (or CLOCK_REALTIME, which here differs
                    // from it by the boot-time offset).
                    let abs = if op & FUTEX_CLOCK_REALTIME != 0 {
                        d.saturating_sub(time::realtime_offset())
                    } else {
                        d
                    };
                    net::time::Instant::ZERO + abs
                } else {
                    time::now() + d
                })
            };
            wait_on(&p, uaddr, val, deadline)
        }
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            if !uaddr.is_multiple_of(4) {
                return Err(Errno::EINVAL);
            }
            if cmd == FUTEX_WAKE_BITSET && val3 == 0 {
                return Err(Errno::EINVAL);
            }
            Ok(wake(&p, uaddr, val) as i64)
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            if cmd == FUTEX_CMP_REQUEUE && read_word(uaddr)? != val3 {
                return Err(Errno::EAGAIN);
            }
            // Waking instead of moving: every waiter re-checks and waits again on the word
            // it now needs (a spurious wakeup, which the futex contract allows).
            let n = wake(&p, uaddr, u32::MAX);
            if !uaddr2.is_multiple_of(4) {
                return Err(Errno::EINVAL);
            }
            wait::wake_all(key(&p, uaddr2));
            Ok(n.min(val as usize + timeout as u32 as usize) as i64)
        }
        FUTEX_WAKE_OP => wake_op(&p, uaddr, val, timeout as u32, uaddr2, val3),
        _ => Err(Errno::ENOSYS),
    }
}

fn wait_on(
    p: &Arc<Process>,
    uaddr: u64,
    val: u32,
    deadline: Option<net::time::Instant>,
) -> Result<i64, Errno> {
    let k = key(p, uaddr);
    let g = wait::generation(k);
    if read_word(uaddr)? != val {
        return Err(Errno::EAGAIN);
    }
    if super::signal::interrupted(p) {
        return Err(Errno::EINTR);
    }
    match wait::sleep_on_if_unchanged(k, g, deadline) {
        wait::WakeReason::TimedOut => Err(Errno::ETIMEDOUT),
        wait::WakeReason::Woken if super::signal::interrupted(p) => Err(Errno::EINTR),
        wait::WakeReason::Woken => Ok(0),
    }
}

/// `FUTEX_WAKE_OP`: `old = *uaddr2; *uaddr2 = old OP oparg; wake val on uaddr; if old CMP
/// cmparg, wake val2 on uaddr2`.
fn wake_op(
    p: &Arc<Process>,
    uaddr: u64,
    val: u32,
    val2: u32,
    uaddr2: u64,
    val3: u32,
) -> Result<i64, Errno> {
    let op = (val3 >> 28) & 7;
    let shift = val3 & (8 << 28) != 0;
    let cmp = (val3 >> 24) & 15;
    let mut oparg = (val3 >> 12) & 0xfff;
    let cmparg = val3 & 0xfff;
    if shift {
        if oparg > 31 {
            return Err(Errno::EINVAL);
        }
        oparg = 1 << oparg;
    }
    let old = read_word(uaddr2)?;
    let new = match op {
        0 => oparg,
        1 => old.wrapping_add(oparg),
        2 => old | oparg,
        3 => old & !oparg,
        4 => old ^ oparg,
        _ => return Err(Errno::ENOSYS),
    };
    uaccess::write(uaddr2, new)?;
    let mut n = wake(p, uaddr, val);
    let hit = match cmp {
        0 => old == cmparg,
        1 => old != cmparg,
        2 => (old as i32) < cmparg as i32,
        3 => (old as i32) <= cmparg as i32,
        4 => (old as i32) > cmparg as i32,
        5 => (old as i32) >= cmparg as i32,
        _ => return Err(Errno::ENOSYS),
    };
    if hit {
        n += wake(p, uaddr2, val2);
    }
    Ok(n as i64)
}
