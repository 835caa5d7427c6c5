//! Time as the file system sees it: a `Timespec` and the [`Clock`] the kernel injects.
//!
//! Owns no time source: the vfs must never read hardware time; the kernel passes a clock
//! (`CLOCK_REALTIME`) and tests pass a fake one.

/// Seconds and nanoseconds since the Unix epoch, as in `struct timespec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: u32,
}

impl Timespec {
    pub const fn new(sec: i64, nsec: u32) -> Timespec {
        Timespec { sec, nsec }
    }
}

/// The wall clock the file system stamps inodes with.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timespec;
}

/// A clock that always shows the same instant (the epoch unless told otherwise): for tests and
/// for a kernel without a real-time clock yet.
#[derive(Debug, Clone, Copy, Default)]
pub struct FixedClock(pub Timespec);

impl Clock for FixedClock {
    fn now(&self) -> Timespec {
        self.0
    }
}
