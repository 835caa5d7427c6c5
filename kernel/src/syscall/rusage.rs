//! What a program may read of the resources it and its children used: `getrusage(2)`
//! (`RUSAGE_SELF`, `RUSAGE_THREAD`, `RUSAGE_CHILDREN`), `times(2)`, and the `struct rusage`
//! `wait4` fills, from the CPU time and context switches `cputime` and `sched` count and the
//! memory map's resident-size peak and fault count.
//!
//! Fields rinet does not count (block I/O, IPC messages, signals) are zero, as Linux leaves
//! the ones it does not maintain.

use uapi::Errno;

use super::SysResult;
use crate::cputime::Usage;
use crate::mm::uaccess;
use crate::sched;

const RUSAGE_SELF: i32 = 0;
const RUSAGE_CHILDREN: i32 = -1;
const RUSAGE_THREAD: i32 = 1;
/// `times(2)` counts in clock ticks of `sysconf(_SC_CLK_TCK)`, which is 100 on x86-64 Linux.
const CLOCK_TICKS_PER_SEC: u64 = 100;

/// Linux's `struct rusage` (x86-64: 18 longs, 144 bytes): two timevals, then 14 counters.
fn rusage_words(u: &Usage) -> [i64; 18] {
    let mut w = [0i64; 18];
    let tv = |ns: u64| {
        (
            (ns / 1_000_000_000) as i64,
            ((ns % 1_000_000_000) / 1000) as i64,
        )
    };
    (w[0], w[1]) = tv(u.user_ns);
    (w[2], w[3]) = tv(u.system_ns);
    // ru_maxrss in KiB; ru_minflt.
    w[4] = (u.peak_pages as i64).saturating_mul(4);
    w[8] = u.minor_faults.min(i64::MAX as u64) as i64;
    // ru_nvcsw, ru_nivcsw.
    w[16] = u.voluntary_switches.min(i64::MAX as u64) as i64;
    w[17] = u.involuntary_switches.min(i64::MAX as u64) as i64;
    w
}

/// Write `u` as a `struct rusage` at `addr` (`wait4`).
pub fn write_rusage(addr: u64, u: &Usage) -> Result<(), Errno> {
    uaccess::write(addr, rusage_words(u))
}

/// `getrusage(who, usage)`.
pub fn getrusage(who: i32, addr: u64) -> SysResult {
    let p = sched::current_process().ok_or(Errno::EINVAL)?;
    let u = match who {
        RUSAGE_SELF => p.usage(true),
        RUSAGE_CHILDREN => *p.children_usage.lock(),
        RUSAGE_THREAD => {
            let (user_ns, system_ns) = sched::current_thread_times();
            let (voluntary_switches, involuntary_switches) = sched::current_thread_switches();
            // The size and faults are the program's: its threads share one memory.
            Usage {
                user_ns,
                system_ns,
                voluntary_switches,
                involuntary_switches,
                ..p.usage(true)
            }
        }
        _ => return Err(Errno::EINVAL),
    };
    write_rusage(addr, &u)?;
    Ok(0)
}

fn ticks(ns: u64) -> i64 {
    (ns / (1_000_000_000 / CLOCK_TICKS_PER_SEC)) as i64
}

/// `times(buf)`: the program's and its reaped children's user and system time in clock
/// ticks (`buf` may be null); returns the ticks since boot (Linux's count starts at an
/// arbitrary point too: only differences mean anything).
pub fn times(addr: u64) -> SysResult {
    let p = sched::current_process().ok_or(Errno::EINVAL)?;
    if addr != 0 {
        let own = p.usage(true);
        let children = *p.children_usage.lock();
        let tms: [i64; 4] = [
            ticks(own.user_ns),
            ticks(own.system_ns),
            ticks(children.user_ns),
            ticks(children.system_ns),
        ];
        uaccess::write(addr, tms)?;
    }
    Ok(ticks(crate::time::now().as_nanos()))
}
