//! timerfd (timerfd_create(2)): a timer as a file. [`TimerFd`] keeps one timer's setting (the
//! first expiration on the monotonic clock and the interval) and how many expirations a read
//! already took; a read returns the count of expirations since (a native-endian `u64`), or
//! `EAGAIN` when there were none. Like every `vfs` file it never blocks: a blocking read sleeps
//! on `files::FILES_KEY` in the syscall layer.
//!
//! Owns the expiry thread (`timerfd`, a kernel thread started with the first timer): it sleeps
//! until the earliest armed timer's next expiration (a scheduler deadline, never a periodic
//! tick) or until a timer is set ([`TIMERS_KEY`]), and wakes `FILES_KEY` when a timer expires,
//! so blocked readers, `poll`, `select` and `epoll_wait` see the new readiness. The registry of
//! live timers is bounded ([`MAX_TIMERS`], `ENOMEM` beyond).
//!
//! `CLOCK_REALTIME` times are converted to the monotonic clock with the boot-time offset when
//! set (rinet's real-time clock is never stepped, so the two never drift apart).

use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::any::Any;

use net::time::{Duration, Instant};
use spin::Mutex;
use vfs::file::{POLLIN, POLLRDNORM};
use vfs::stat::Stat;
use vfs::{Errno, FileOps};

use super::FILES_KEY;
use crate::{sched, time, wait};

/// Woken when a timer is set, so the expiry thread recomputes its deadline.
pub const TIMERS_KEY: u64 = wait::KERNEL_KEY_BIT | 18;
/// Most live timerfds in the system.
pub const MAX_TIMERS: usize = 4096;

/// One timer's setting.
#[derive(Debug, Clone, Copy, Default)]
struct Setting {
    /// First expiration (monotonic), `None` when disarmed.
    first: Option<Instant>,
    interval: Duration,
    /// Expirations already read (or skipped by a new setting).
    taken: u64,
}

impl Setting {
    /// Expirations from arming up to `now`.
    fn expirations(&self, now: Instant) -> u64 {
        let Some(first) = self.first else { return 0 };
        if now < first {
            return 0;
        }
        let iv = self.interval.as_nanos() as u64;
        if iv == 0 {
            return 1;
        }
        1 + now.saturating_since(first).as_nanos() as u64 / iv
    }

    /// The next expiration after `now`, if the timer will expire again.
    fn next(&self, now: Instant) -> Option<Instant> {
        let first = self.first?;
        let n = self.expirations(now);
        if n == 0 {
            return Some(first);
        }
        let iv = self.interval.as_nanos() as u64;
        if iv == 0 {
            return None;
        }
        Some(Instant::from_nanos(
            first.as_nanos().saturating_add(n.saturating_mul(iv)),
        ))
    }
}

/// A timerfd's timer.
pub struct TimerFd {
    clock: i32,
    setting: Mutex<Setting>,
}

/// `struct itimerspec` as durations: (interval, value).
pub type ItimerSpec = (Duration, Duration);

impl TimerFd {
    /// A new disarmed timer on `clock`, registered with the expiry thread.
    pub fn new(clock: i32) -> Result<Arc<TimerFd>, Errno> {
        let t = Arc::new(TimerFd {
            clock,
            setting: Mutex::new(Setting::default()),
        });
        register(&t)?;
        Ok(t)
    }

    pub fn clock(&self) -> i32 {
        self.clock
    }

    /// `timerfd_gettime`: (interval, time to the next expiration; zero when disarmed).
    pub fn get(&self) -> ItimerSpec {
        let s = *self.setting.lock();
        let now = time::now();
        let left = s
            .next(now)
            .map_or(Duration::ZERO, |n| n.saturating_since(now));
        // A one-shot timer that expired reads as disarmed.
        (s.interval, left)
    }

    /// `timerfd_settime`: arm at monotonic `first` (None disarms) with `interval`; returns
    /// the old setting. Unread expirations are dropped, as Linux does.
    pub fn set(&self, first: Option<Instant>, interval: Duration) -> ItimerSpec {
        let old = self.get();
        *self.setting.lock() = Setting {
            first,
            interval: if first.is_some() {
                interval
            } else {
                Duration::ZERO
            },
            taken: 0,
        };
        wait::wake_all(TIMERS_KEY);
        wait::wake_all(FILES_KEY);
        old
    }

    fn ticks(&self, now: Instant) -> u64 {
        let s = self.setting.lock();
        s.expirations(now).saturating_sub(s.taken)
    }
}

impl FileOps for TimerFd {
    fn read(&self, _pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let out = buf.get_mut(..8).ok_or(Errno::EINVAL)?;
        let now = time::now();
        let mut s = self.setting.lock();
        let n = s.expirations(now).saturating_sub(s.taken);
        if n == 0 {
            return Err(Errno::EAGAIN);
        }
        s.taken += n;
        out.copy_from_slice(&n.to_ne_bytes());
        Ok(8)
    }

    /// An anonymous inode, as Linux shows it.
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(Stat {
            mode: 0o600,
            nlink: 1,
            blksize: 4096,
            ..Stat::default()
        })
    }

    fn poll(&self) -> u16 {
        if self.ticks(time::now()) > 0 {
            POLLIN | POLLRDNORM
        } else {
            0
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Live timers, for the expiry thread.
static TIMERS: Mutex<Vec<Weak<TimerFd>>> = Mutex::new(Vec::new());
static THREAD: spin::Once<bool> = spin::Once::new();

fn register(t: &Arc<TimerFd>) -> Result<(), Errno> {
    let started = *THREAD.call_once(|| sched::spawn("timerfd", expiry_thread, 0).is_ok());
    if !started {
        return Err(Errno::ENOMEM);
    }
    let mut timers = TIMERS.lock();
    timers.retain(|w| w.strong_count() > 0);
    if timers.len() >= MAX_TIMERS {
        return Err(Errno::ENOMEM);
    }
    timers.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
    timers.push(Arc::downgrade(t));
    Ok(())
}

/// The earliest next expiration of any live timer after `now`.
fn earliest(now: Instant) -> Option<Instant> {
    let timers = TIMERS.lock();
    timers
        .iter()
        .filter_map(Weak::upgrade)
        .filter_map(|t| t.setting.lock().next(now))
        .min()
}

fn expiry_thread(_: usize) {
    let mut due: Option<Instant> = None;
    loop {
        let gen = wait::generation(TIMERS_KEY);
        let now = time::now();
        if due.is_some_and(|d| now >= d) {
            wait::wake_all(FILES_KEY);
        }
        due = earliest(now);
        wait::sleep_on_if_unchanged(TIMERS_KEY, gen, due);
    }
}
