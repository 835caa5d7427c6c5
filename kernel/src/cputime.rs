//! CPU time accounting: how long each program ran in ring 3 and in the kernel, and how long
//! the CPU was idle (proc(5)'s `utime`/`stime` of /proc/<pid>/stat, the `cpu` lines of
//! /proc/stat, the idle figure of /proc/uptime), measured with the kernel's clock (the TSC)
//! at the points where the CPU changes hands, not sampled at a tick as Linux does.
//!
//! One CPU: the running thread's time since its last accounting point is pending in globals
//! here. A system call's entry and an interrupt from ring 3 end a stretch of user time
//! ([`enter_kernel`]); the return to ring 3 ends a stretch of kernel time ([`leave_kernel`]);
//! the scheduler hands what is pending to the outgoing thread's program at each switch
//! ([`switch_out`]). Kernel threads' time is system time of no program; the idle thread's is
//! idle time. Owns these counters only; never takes a lock (callable with interrupts off).

use core::sync::atomic::{AtomicU64, Ordering};

use crate::time;

/// Nanoseconds since boot at the running thread's last accounting point.
static MARK: AtomicU64 = AtomicU64::new(0);
/// The running thread's user and kernel nanoseconds since it was switched in.
static PENDING_USER: AtomicU64 = AtomicU64::new(0);
static PENDING_SYSTEM: AtomicU64 = AtomicU64::new(0);
/// The whole CPU's user, system and idle nanoseconds, up to the last switch.
static TOTAL_USER: AtomicU64 = AtomicU64::new(0);
static TOTAL_SYSTEM: AtomicU64 = AtomicU64::new(0);
static TOTAL_IDLE: AtomicU64 = AtomicU64::new(0);
/// Context switches since boot (/proc/stat's `ctxt`).
static SWITCHES: AtomicU64 = AtomicU64::new(0);

/// Nanoseconds since the last accounting point, which is now.
fn lap() -> u64 {
    let now = time::now().as_nanos();
    now.saturating_sub(MARK.swap(now, Ordering::Relaxed))
}

/// The running thread entered the kernel from ring 3 (a system call, an interrupt): the
/// time since the last point was user time.
pub fn enter_kernel() {
    PENDING_USER.fetch_add(lap(), Ordering::Relaxed);
}

/// The running thread returns to ring 3: the time since the last point was kernel time.
pub fn leave_kernel() {
    PENDING_SYSTEM.fetch_add(lap(), Ordering::Relaxed);
}

/// What the outgoing thread is, for [`switch_out`].
pub enum Outgoing<'a> {
    Idle,
    Kernel,
    Program(&'a ProgramTimes),
}

/// The scheduler switches away from the running thread (in the kernel: the time since the
/// last point was kernel time): charge what it ran to `who`. Returns the (user, system)
/// nanoseconds charged (the thread's own, for `CLOCK_THREAD_CPUTIME_ID` and `RUSAGE_THREAD`).
pub fn switch_out(who: Outgoing<'_>, voluntary: bool) -> (u64, u64) {
    let system = PENDING_SYSTEM.swap(0, Ordering::Relaxed) + lap();
    let user = PENDING_USER.swap(0, Ordering::Relaxed);
    SWITCHES.fetch_add(1, Ordering::Relaxed);
    match who {
        Outgoing::Idle => {
            TOTAL_IDLE.fetch_add(user + system, Ordering::Relaxed);
        }
        Outgoing::Kernel => {
            TOTAL_SYSTEM.fetch_add(user + system, Ordering::Relaxed);
        }
        Outgoing::Program(p) => {
            p.user.fetch_add(user, Ordering::Relaxed);
            p.system.fetch_add(system, Ordering::Relaxed);
            let count = if voluntary {
                &p.voluntary_switches
            } else {
                &p.involuntary_switches
            };
            count.fetch_add(1, Ordering::Relaxed);
            TOTAL_USER.fetch_add(user, Ordering::Relaxed);
            TOTAL_SYSTEM.fetch_add(system, Ordering::Relaxed);
        }
    }
    (user, system)
}

/// The running thread's (user, system) nanoseconds since it was switched in (it is in the
/// kernel, asking: the time since the last point is system time).
pub fn running() -> (u64, u64) {
    (
        PENDING_USER.load(Ordering::Relaxed),
        PENDING_SYSTEM.load(Ordering::Relaxed) + since_mark(),
    )
}

/// A program's accumulated CPU time (all its threads), in nanoseconds.
#[derive(Debug, Default)]
pub struct ProgramTimes {
    user: AtomicU64,
    system: AtomicU64,
    /// Switches away from a thread of the program that blocked or slept (`ru_nvcsw`).
    voluntary_switches: AtomicU64,
    /// Switches away from one that could have run on (preempted, or `sched_yield`: Linux
    /// counts a yield as involuntary too) (`ru_nivcsw`).
    involuntary_switches: AtomicU64,
}

impl ProgramTimes {
    /// (user, system) nanoseconds; `running` adds the running thread's time not yet charged
    /// (the caller is that thread's program, reading its own figures from the kernel: the
    /// time since its last point is kernel time).
    pub fn get(&self, running: bool) -> (u64, u64) {
        let (mut user, mut system) = (
            self.user.load(Ordering::Relaxed),
            self.system.load(Ordering::Relaxed),
        );
        if running {
            user += PENDING_USER.load(Ordering::Relaxed);
            system += PENDING_SYSTEM.load(Ordering::Relaxed) + since_mark();
        }
        (user, system)
    }

    /// (voluntary, involuntary) context switches of all its threads so far.
    pub fn switches(&self) -> (u64, u64) {
        (
            self.voluntary_switches.load(Ordering::Relaxed),
            self.involuntary_switches.load(Ordering::Relaxed),
        )
    }
}

/// What `getrusage`, `times` and `wait4` report of a program (or of its reaped children):
/// CPU time, the largest resident size, minor faults, context switches.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub user_ns: u64,
    pub system_ns: u64,
    /// Largest resident set, in pages.
    pub peak_pages: usize,
    pub minor_faults: u64,
    /// Context switches away from it: it blocked or slept (`ru_nvcsw`) ...
    pub voluntary_switches: u64,
    /// ... or it could have run on (`ru_nivcsw`).
    pub involuntary_switches: u64,
}

impl Usage {
    /// Fold in a reaped child's usage (times and faults add up; the size is the largest, as
    /// Linux's `RUSAGE_CHILDREN` reports).
    pub fn absorb(&mut self, child: &Usage) {
        self.user_ns = self.user_ns.saturating_add(child.user_ns);
        self.system_ns = self.system_ns.saturating_add(child.system_ns);
        self.peak_pages = self.peak_pages.max(child.peak_pages);
        self.minor_faults = self.minor_faults.saturating_add(child.minor_faults);
        self.voluntary_switches = self
            .voluntary_switches
            .saturating_add(child.voluntary_switches);
        self.involuntary_switches = self
            .involuntary_switches
            .saturating_add(child.involuntary_switches);
    }
}

fn since_mark() -> u64 {
    time::now()
        .as_nanos()
        .saturating_sub(MARK.load(Ordering::Relaxed))
}

/// The whole CPU's time so far, nanoseconds.
#[derive(Debug, Clone, Copy)]
pub struct CpuTotals {
    pub user: u64,
    pub system: u64,
    pub idle: u64,
    pub switches: u64,
}

/// The CPU's totals, the running thread's pending time included (as system time: whoever
/// asks is in the kernel).
pub fn totals() -> CpuTotals {
    CpuTotals {
        user: TOTAL_USER.load(Ordering::Relaxed) + PENDING_USER.load(Ordering::Relaxed),
        system: TOTAL_SYSTEM.load(Ordering::Relaxed)
            + PENDING_SYSTEM.load(Ordering::Relaxed)
            + since_mark(),
        idle: TOTAL_IDLE.load(Ordering::Relaxed),
        switches: SWITCHES.load(Ordering::Relaxed),
    }
}
