//! `timerfd_create`, `timerfd_settime`, `timerfd_gettime` (timerfd_create(2)): argument
//! checks and `struct itimerspec` copies; the timer itself is `files::timerfd::TimerFd`.
//!
//! Clocks: `CLOCK_REALTIME`, `CLOCK_MONOTONIC` and `CLOCK_BOOTTIME` (the alarm clocks need
//! `CAP_WAKE_ALARM`: `EPERM`; any other is `EINVAL`). `TFD_TIMER_ABSTIME` takes the value on
//! the timer's clock; `TFD_TIMER_CANCEL_ON_SET` is accepted with it and never fires (rinet's
//! real-time clock is never set). A descriptor that is not a timerfd is `EINVAL`.

use alloc::sync::Arc;

use net::time::{Duration, Instant};
use vfs::flags::{O_CLOEXEC, O_NONBLOCK, O_RDWR};
use vfs::{Errno, OpenFile};

use super::fs::current;
use super::{proc, uaccess, SysResult, Timespec, CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_REALTIME};
use crate::files::timerfd::{ItimerSpec, TimerFd};
use crate::time;

const TFD_CLOEXEC: u32 = O_CLOEXEC;
const TFD_NONBLOCK: u32 = O_NONBLOCK;
const TFD_TIMER_ABSTIME: u32 = 1;
const TFD_TIMER_CANCEL_ON_SET: u32 = 2;
const CLOCK_REALTIME_ALARM: i32 = 8;
const CLOCK_BOOTTIME_ALARM: i32 = 9;

pub fn create(clock: i32, flags: u32) -> SysResult {
    match clock {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME => {}
        CLOCK_REALTIME_ALARM | CLOCK_BOOTTIME_ALARM => return Err(Errno::EPERM),
        _ => return Err(Errno::EINVAL),
    }
    if flags & !(TFD_CLOEXEC | TFD_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let p = current()?;
    let timer = TimerFd::new(clock)?;
    let file = OpenFile::with_exact_flags(timer, O_RDWR | (flags & TFD_NONBLOCK));
    let fd = p.files.lock().install(file, flags & TFD_CLOEXEC != 0)?;
    Ok(i64::from(fd))
}

/// The timerfd behind `fd` (`EBADF`, or `EINVAL` for another kind of file).
fn timer_of(fd: i32) -> Result<(Arc<OpenFile>, Arc<dyn vfs::FileOps>), Errno> {
    let p = current()?;
    let file = p.files.lock().get(fd)?;
    let ops = file.ops().clone();
    if !ops.as_any().is::<TimerFd>() {
        return Err(Errno::EINVAL);
    }
    Ok((file, ops))
}

fn ts_in(ts: Timespec) -> Result<Duration, Errno> {
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

fn ts_out(d: Duration) -> Timespec {
    Timespec {
        tv_sec: d.as_secs() as i64,
        tv_nsec: i64::from(d.subsec_nanos()),
    }
}

fn write_spec(addr: u64, (interval, value): ItimerSpec) -> Result<(), Errno> {
    uaccess::write(addr, [ts_out(interval), ts_out(value)])
}

pub fn settime(fd: i32, flags: u32, new: u64, old: u64) -> SysResult {
    if flags & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 {
        return Err(Errno::EINVAL);
    }
    let spec: [Timespec; 2] = uaccess::read(new)?;
    let (interval, value) = (ts_in(spec[0])?, ts_in(spec[1])?);
    let (_file, ops) = timer_of(fd)?;
    let timer = ops
        .as_any()
        .downcast_ref::<TimerFd>()
        .ok_or(Errno::EINVAL)?;
    if old != 0 {
        uaccess::check(old, 2 * core::mem::size_of::<Timespec>())?;
    }
    let first = if value.is_zero() {
        None
    } else if flags & TFD_TIMER_ABSTIME != 0 {
        // The value is a time on the timer's clock: its distance from that clock's now,
        // from the monotonic now (an instant in the past expires at once).
        let clock_now = proc::clock_now(timer.clock())?;
        let now = time::now();
        Some(match value.checked_sub(clock_now) {
            Some(ahead) => now + ahead,
            None => now,
        })
    } else {
        Some(time::now() + value)
    };
    let first: Option<Instant> = first;
    let was = timer.set(first, interval);
    if old != 0 {
        write_spec(old, was)?;
    }
    Ok(0)
}

pub fn gettime(fd: i32, cur: u64) -> SysResult {
    let (_file, ops) = timer_of(fd)?;
    let timer = ops
        .as_any()
        .downcast_ref::<TimerFd>()
        .ok_or(Errno::EINVAL)?;
    write_spec(cur, timer.get())?;
    Ok(0)
}
