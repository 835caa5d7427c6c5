//! `alarm`, `setitimer` and `getitimer` (ITIMER_REAL): SIGALRM to the program when its real
//! timer expires, then every interval.
//!
//! Owns the registry of armed real timers (one per program, so bounded by `MAX_PROGRAMS`) and
//! the expiry thread (`itimer`, a kernel thread started with the first timer), which sleeps
//! until the earliest expiration (a scheduler deadline, never a periodic tick) or until a timer
//! is set ([`ITIMER_KEY`]). ITIMER_VIRTUAL and ITIMER_PROF (CPU-time timers) are accepted and
//! read back but never fire: rinet does not account CPU time per program.

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use net::time::{Duration, Instant};
use uapi::Errno;

use super::pending::{self, Info, SI_KERNEL};
use crate::mm::uaccess;
use crate::process::Process;
use crate::sync::IrqMutex;
use crate::{sched, time, wait};

pub const SIGALRM: i32 = 14;
/// Woken when a timer is set, so the expiry thread recomputes its deadline.
const ITIMER_KEY: u64 = wait::KERNEL_KEY_BIT | 19;
const ITIMER_REAL: i32 = 0;
const ITIMER_PROF: i32 = 2;

struct Timer {
    pid: u64,
    process: Weak<Process>,
    next: Instant,
    interval: Duration,
}

static TIMERS: IrqMutex<Vec<Timer>> = IrqMutex::new(Vec::new());
static THREAD: spin::Once<bool> = spin::Once::new();

/// `struct itimerval`: interval, value (each a `struct timeval`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct ItimerVal {
    interval_sec: i64,
    interval_usec: i64,
    value_sec: i64,
    value_usec: i64,
}

fn tv(sec: i64, usec: i64) -> Result<Duration, Errno> {
    if sec < 0 || !(0..1_000_000).contains(&usec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(sec as u64, usec as u32 * 1000))
}

fn split(d: Duration) -> (i64, i64) {
    let us = d.as_nanos() / 1000;
    ((us / 1_000_000) as i64, (us % 1_000_000) as i64)
}

/// The program's real timer: (interval, time left; zero when disarmed).
fn get(p: &Process) -> (Duration, Duration) {
    let now = time::now();
    TIMERS
        .lock()
        .iter()
        .find(|t| t.pid == p.pid)
        .map_or((Duration::ZERO, Duration::ZERO), |t| {
            (t.interval, t.next.saturating_since(now))
        })
}

/// Arm (value > 0) or disarm the program's real timer; returns the old setting.
fn set(
    p: &Arc<Process>,
    value: Duration,
    interval: Duration,
) -> Result<(Duration, Duration), Errno> {
    let old = get(p);
    if value > Duration::ZERO {
        let started = *THREAD.call_once(|| sched::spawn("itimer", expiry_thread, 0).is_ok());
        if !started {
            return Err(Errno::ENOMEM);
        }
    }
    {
        let mut timers = TIMERS.lock();
        timers.retain(|t| t.pid != p.pid && t.process.strong_count() > 0);
        if value > Duration::ZERO {
            timers.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
            timers.push(Timer {
                pid: p.pid,
                process: Arc::downgrade(p),
                next: time::now() + value,
                interval,
            });
        }
    }
    wait::wake_all(ITIMER_KEY);
    Ok(old)
}

/// `alarm(seconds)`: the seconds left on the previous alarm (rounded, at least 1 if any).
pub fn alarm(seconds: u64) -> Result<i64, Errno> {
    let p = sched::current_process().ok_or(Errno::ESRCH)?;
    let secs = seconds.min(u32::MAX as u64);
    let (_, left) = set(&p, Duration::from_secs(secs), Duration::ZERO)?;
    let ns = left.as_nanos();
    Ok(if ns == 0 {
        0
    } else {
        ((ns + 500_000_000) / 1_000_000_000).max(1) as i64
    })
}

/// `setitimer(which, new, old)`.
pub fn setitimer(which: i32, new: u64, old: u64) -> Result<i64, Errno> {
    if !(ITIMER_REAL..=ITIMER_PROF).contains(&which) {
        return Err(Errno::EINVAL);
    }
    let v: ItimerVal = if new != 0 {
        uaccess::read(new)?
    } else {
        ItimerVal::default()
    };
    let value = tv(v.value_sec, v.value_usec)?;
    let interval = tv(v.interval_sec, v.interval_usec)?;
    let p = sched::current_process().ok_or(Errno::ESRCH)?;
    let prev = if which == ITIMER_REAL {
        set(&p, value, interval)?
    } else {
        (Duration::ZERO, Duration::ZERO)
    };
    if old != 0 {
        write_val(old, prev)?;
    }
    Ok(0)
}

/// `getitimer(which, value)`.
pub fn getitimer(which: i32, value: u64) -> Result<i64, Errno> {
    if !(ITIMER_REAL..=ITIMER_PROF).contains(&which) {
        return Err(Errno::EINVAL);
    }
    let p = sched::current_process().ok_or(Errno::ESRCH)?;
    let cur = if which == ITIMER_REAL {
        get(&p)
    } else {
        (Duration::ZERO, Duration::ZERO)
    };
    write_val(value, cur)?;
    Ok(0)
}

fn write_val(addr: u64, (interval, value): (Duration, Duration)) -> Result<(), Errno> {
    let (is, iu) = split(interval);
    let (vs, vu) = split(value);
    uaccess::write(
        addr,
        ItimerVal {
            interval_sec: is,
            interval_usec: iu,
            value_sec: vs,
            value_usec: vu,
        },
    )
}

fn expiry_thread(_: usize) {
    let mut fire: Vec<Arc<Process>> = Vec::new();
    loop {
        let gen = wait::generation(ITIMER_KEY);
        let now = time::now();
        let due = {
            let mut timers = TIMERS.lock();
            timers.retain_mut(|t| {
                if t.next > now {
                    return true;
                }
                match t.process.upgrade() {
                    Some(p) => {
                        if fire.try_reserve(1).is_ok() {
                            fire.push(p);
                        }
                    }
                    None => return false,
                }
                if t.interval.is_zero() {
                    return false;
                }
                t.next = t.next + t.interval;
                if t.next <= now {
                    t.next = now + t.interval;
                }
                true
            });
            timers.iter().map(|t| t.next).min()
        };
        for p in fire.drain(..) {
            pending::send(&p, None, Info::user(SIGALRM, SI_KERNEL, 0));
        }
        wait::sleep_on_if_unchanged(ITIMER_KEY, gen, due);
    }
}
