//! Process, memory, signal-state, identity and time system calls: the numbers and argument
//! decoding; the work is in `process` (threads, exec, futex, memory map, signal state).
//!
//! Owns the Linux x86_64 numbers of these calls and the layouts of `struct utsname`,
//! `struct sysinfo`, `struct rlimit` and `struct timeval`. User memory only through
//! `uaccess`.

use net::time::Duration;
use uapi::Errno;

use super::{uaccess, SysResult, Timespec};
use crate::process::{self, futex, memory, signal};
use crate::{sched, time};

pub const SYS_MMAP: u64 = 9;
pub const SYS_MPROTECT: u64 = 10;
pub const SYS_MUNMAP: u64 = 11;
pub const SYS_BRK: u64 = 12;
pub const SYS_RT_SIGACTION: u64 = 13;
pub const SYS_RT_SIGPROCMASK: u64 = 14;
pub const SYS_MREMAP: u64 = 25;
pub const SYS_MADVISE: u64 = 28;
pub const SYS_CLONE: u64 = 56;
pub const SYS_CLONE3: u64 = 435;
pub const SYS_FORK: u64 = 57;
pub const SYS_VFORK: u64 = 58;
pub const SYS_EXECVE: u64 = 59;
pub const SYS_WAIT4: u64 = 61;
pub const SYS_UNAME: u64 = 63;
pub const SYS_UMASK: u64 = 95;
pub const SYS_GETTIMEOFDAY: u64 = 96;
pub const SYS_GETRLIMIT: u64 = 97;
pub const SYS_SYSINFO: u64 = 99;
pub const SYS_GETUID: u64 = 102;
pub const SYS_GETGID: u64 = 104;
pub const SYS_GETEUID: u64 = 107;
pub const SYS_GETEGID: u64 = 108;
pub const SYS_SETPGID: u64 = 109;
pub const SYS_GETPPID: u64 = 110;
pub const SYS_GETPGRP: u64 = 111;
pub const SYS_SETSID: u64 = 112;
pub const SYS_GETPGID: u64 = 121;
pub const SYS_GETSID: u64 = 124;
pub const SYS_SIGALTSTACK: u64 = 131;
pub const SYS_ARCH_PRCTL: u64 = 158;
pub const SYS_SETRLIMIT: u64 = 160;
pub const SYS_GETTID: u64 = 186;
pub const SYS_TIME: u64 = 201;
pub const SYS_FUTEX: u64 = 202;
pub const SYS_SCHED_SETAFFINITY: u64 = 203;
pub const SYS_SCHED_GETAFFINITY: u64 = 204;
pub const SYS_SET_TID_ADDRESS: u64 = 218;
pub const SYS_CLOCK_GETRES: u64 = 229;
pub const SYS_CLOCK_NANOSLEEP: u64 = 230;
pub const SYS_SET_ROBUST_LIST: u64 = 273;
pub const SYS_PRLIMIT64: u64 = 302;

/// Calls handled here (None: not one of them).
pub fn call(nr: u64, a: [u64; 6]) -> Option<SysResult> {
    Some(match nr {
        SYS_MMAP => memory::mmap(a[0], a[1], a[2], a[3], a[4] as i32, a[5]),
        SYS_MPROTECT => memory::mprotect(a[0], a[1], a[2]),
        SYS_MUNMAP => memory::munmap(a[0], a[1]),
        SYS_BRK => memory::brk(a[0]),
        SYS_MREMAP => memory::mremap(a[0], a[1], a[2], a[3]),
        SYS_MADVISE => memory::madvise(a[0], a[1], a[2]),
        SYS_RT_SIGACTION => signal::rt_sigaction(a[0] as i32, a[1], a[2], a[3]),
        SYS_RT_SIGPROCMASK => signal::rt_sigprocmask(a[0] as i32, a[1], a[2], a[3]),
        SYS_SIGALTSTACK => signal::sigaltstack(a[0], a[1]),
        34 => signal::sources::pause(),
        36 => signal::itimer::getitimer(a[0] as i32, a[1]),
        37 => signal::itimer::alarm(a[0] as u32 as u64),
        38 => signal::itimer::setitimer(a[0] as i32, a[1], a[2]),
        62 => signal::sources::kill(a[0] as i32 as i64, a[1] as i32),
        127 => signal::sources::rt_sigpending(a[0], a[1]),
        130 => signal::sources::rt_sigsuspend(a[0], a[1]),
        200 => signal::sources::tkill(a[0] as i32 as i64, a[1] as i32),
        234 => signal::sources::tgkill(a[0] as i32 as i64, a[1] as i32 as i64, a[2] as i32),
        // fork needs copy-on-write memory, which rinet does not have yet.
        SYS_FORK => Err(Errno::ENOSYS),
        SYS_WAIT4 => process::clone::wait4(a[0] as i32 as i64, a[1], a[2] as i32, a[3]),
        98 => super::rusage::getrusage(a[0] as i32, a[1]),
        100 => super::rusage::times(a[0]),
        SYS_UNAME => uname(a[0]),
        SYS_UMASK => Ok(0o022),
        SYS_GETTIMEOFDAY => gettimeofday(a[0]),
        SYS_GETRLIMIT => prlimit(0, a[0] as u32, 0, a[1]),
        SYS_SETRLIMIT => prlimit(0, a[0] as u32, a[1], 0),
        SYS_PRLIMIT64 => prlimit(a[0] as i32, a[1] as u32, a[2], a[3]),
        SYS_SYSINFO => sysinfo(a[0]),
        SYS_GETUID | SYS_GETGID | SYS_GETEUID | SYS_GETEGID => Ok(0),
        SYS_GETPPID => Ok(sched::current_process().map_or(0, |p| p.ppid as i64)),
        // Every program is alone in its own process group and session.
        SYS_GETPGRP | SYS_SETSID => Ok(sched::current_process().map_or(0, |p| p.pid as i64)),
        SYS_GETPGID | SYS_GETSID => Ok(if a[0] == 0 {
            sched::current_process().map_or(0, |p| p.pid as i64)
        } else {
            a[0] as i64
        }),
        SYS_SETPGID => Ok(0),
        SYS_GETTID => Ok(sched::with_user_state(|u| u.tid) as i64),
        SYS_ARCH_PRCTL => arch_prctl(a[0], a[1]),
        SYS_TIME => time_now(a[0]),
        SYS_FUTEX => futex::futex(a[0], a[1] as u32, a[2] as u32, a[3], a[4], a[5] as u32),
        SYS_SCHED_GETAFFINITY => sched_getaffinity(a[1], a[2]),
        SYS_SCHED_SETAFFINITY => sched_setaffinity(a[1], a[2]),
        SYS_SET_TID_ADDRESS => Ok(sched::with_user_state(|u| {
            u.clear_child_tid = a[0];
            u.tid
        }) as i64),
        SYS_SET_ROBUST_LIST => {
            // Robust futexes matter only when a thread dies holding a lock; the list is
            // checked for its size as Linux does and otherwise not walked.
            if a[1] != 24 {
                Err(Errno::EINVAL)
            } else {
                Ok(0)
            }
        }
        SYS_CLOCK_GETRES => clock_getres(a[0] as i32, a[1]),
        SYS_CLOCK_NANOSLEEP => clock_nanosleep(a[0] as i32, a[1] as i32, a[2], a[3]),
        _ => return None,
    })
}

const ARCH_SET_GS: u64 = 0x1001;
const ARCH_SET_FS: u64 = 0x1002;
const ARCH_GET_FS: u64 = 0x1003;
const ARCH_GET_GS: u64 = 0x1004;

fn arch_prctl(code: u64, addr: u64) -> SysResult {
    match code {
        ARCH_SET_FS => {
            if addr >= 1 << 47 {
                return Err(Errno::EPERM);
            }
            sched::with_user_state(|u| u.fs_base = addr);
            crate::arch::set_fs_base(addr);
            Ok(0)
        }
        ARCH_GET_FS => {
            uaccess::write(addr, sched::with_user_state(|u| u.fs_base))?;
            Ok(0)
        }
        // GS stays the kernel's (its per-CPU area through swapgs); no libc uses it on x86-64.
        ARCH_SET_GS | ARCH_GET_GS => Err(Errno::EINVAL),
        _ => Err(Errno::EINVAL),
    }
}

/// `struct utsname`: six 65-byte fields.
fn uname(buf: u64) -> SysResult {
    let mut u = [[0u8; 65]; 6];
    let fields: [&[u8]; 6] = [
        b"Linux",
        b"rinet",
        b"6.1.0-rinet",
        b"#1 rinet",
        b"x86_64",
        b"(none)",
    ];
    for (dst, src) in u.iter_mut().zip(fields) {
        dst[..src.len()].copy_from_slice(src);
    }
    uaccess::write(buf, u)?;
    Ok(0)
}

fn realtime_now() -> Duration {
    time::realtime_offset() + Duration::from_nanos(time::now().as_nanos())
}

fn gettimeofday(tv: u64) -> SysResult {
    if tv != 0 {
        let ns = realtime_now().as_nanos();
        uaccess::write(
            tv,
            [
                (ns / 1_000_000_000) as i64,
                ((ns % 1_000_000_000) / 1000) as i64,
            ],
        )?;
    }
    Ok(0)
}

fn time_now(t: u64) -> SysResult {
    let secs = (realtime_now().as_nanos() / 1_000_000_000) as i64;
    if t != 0 {
        uaccess::write(t, secs)?;
    }
    Ok(secs)
}

/// The time of clock `clock` as a duration since its epoch.
pub fn clock_now(clock: i32) -> Result<Duration, Errno> {
    match clock {
        super::CLOCK_REALTIME | super::CLOCK_REALTIME_COARSE => Ok(realtime_now()),
        super::CLOCK_MONOTONIC
        | super::CLOCK_MONOTONIC_RAW
        | super::CLOCK_MONOTONIC_COARSE
        | super::CLOCK_BOOTTIME => Ok(Duration::from_nanos(time::now().as_nanos())),
        // The CPU time of the program (all its threads) and of the calling thread.
        CLOCK_PROCESS_CPUTIME_ID => {
            let p = sched::current_process().ok_or(Errno::EINVAL)?;
            let (user, system) = p.cpu_time.get(true);
            Ok(Duration::from_nanos(user + system))
        }
        CLOCK_THREAD_CPUTIME_ID => Ok(Duration::from_nanos(sched::current_cpu_ns())),
        _ => Err(Errno::EINVAL),
    }
}

fn clock_getres(clock: i32, res: u64) -> SysResult {
    clock_now(clock)?;
    if res != 0 {
        uaccess::write(
            res,
            Timespec {
                tv_sec: 0,
                tv_nsec: 1,
            },
        )?;
    }
    Ok(0)
}

const TIMER_ABSTIME: i32 = 1;
const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
const CLOCK_THREAD_CPUTIME_ID: i32 = 3;

fn clock_nanosleep(clock: i32, flags: i32, req: u64, rem: u64) -> SysResult {
    let now = clock_now(clock)?;
    // Sleeping until a CPU clock reaches a time is not offered (Linux answers EINVAL for the
    // thread's clock; rinet for both).
    if clock == CLOCK_PROCESS_CPUTIME_ID || clock == CLOCK_THREAD_CPUTIME_ID {
        return Err(Errno::EINVAL);
    }
    let ts: Timespec = uaccess::read(req)?;
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    let d = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
    let wait = if flags & TIMER_ABSTIME != 0 {
        d.saturating_sub(now)
    } else {
        d
    };
    let deadline = time::now() + wait;
    while time::now() < deadline {
        if sched::current_process().is_some_and(|p| crate::process::signal::interrupted(&p)) {
            return Err(Errno::EINTR);
        }
        sched::block(&[], Some(deadline), |_| true);
    }
    if rem != 0 && flags & TIMER_ABSTIME == 0 {
        uaccess::write(rem, Timespec::default())?;
    }
    Ok(0)
}

/// One CPU: the affinity mask has bit 0 only. Returns the mask's size in bytes, as the raw
/// call does.
fn sched_getaffinity(len: u64, mask: u64) -> SysResult {
    if len < 8 || !len.is_multiple_of(8) {
        return Err(Errno::EINVAL);
    }
    uaccess::write(mask, 1u64)?;
    Ok(8)
}

fn sched_setaffinity(len: u64, mask: u64) -> SysResult {
    if len == 0 {
        return Err(Errno::EINVAL);
    }
    let m: u8 = uaccess::read(mask)?;
    if m & 1 == 0 {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

const RLIMIT_STACK: u32 = 3;
const RLIMIT_NOFILE: u32 = 7;
const RLIMIT_NLIMITS: u32 = 16;
const RLIM_INFINITY: u64 = u64::MAX;

/// `prlimit64` (and getrlimit/setrlimit): RLIMIT_NOFILE is the descriptor table's limit;
/// RLIMIT_STACK is the main stack's size; the rest are unlimited and accept any value.
fn prlimit(pid: i32, resource: u32, new: u64, old: u64) -> SysResult {
    let p = sched::current_process().ok_or(Errno::EPERM)?;
    if pid != 0 && pid as u64 != p.pid {
        return Err(Errno::ESRCH);
    }
    if resource >= RLIMIT_NLIMITS {
        return Err(Errno::EINVAL);
    }
    let current = match resource {
        RLIMIT_NOFILE => {
            let l = p.files.lock().limit() as u64;
            [l, vfs::fdtable::MAX_FD_LIMIT as u64]
        }
        RLIMIT_STACK => [process::exec::STACK_SIZE, RLIM_INFINITY],
        _ => [RLIM_INFINITY, RLIM_INFINITY],
    };
    let want: Option<[u64; 2]> = if new != 0 {
        Some(uaccess::read(new)?)
    } else {
        None
    };
    if let Some([soft, hard]) = want {
        if soft > hard {
            return Err(Errno::EINVAL);
        }
        if resource == RLIMIT_NOFILE {
            p.files
                .lock()
                .set_limit(usize::try_from(soft).unwrap_or(usize::MAX))?;
        }
    }
    if old != 0 {
        uaccess::write(old, current)?;
    }
    Ok(0)
}

/// `struct sysinfo` (x86-64: 112 bytes).
fn sysinfo(buf: u64) -> SysResult {
    let mut w = [0u64; 14];
    w[0] = Duration::from_nanos(time::now().as_nanos()).as_secs();
    let free = crate::mem::free_frame_count() as u64 * 4096;
    w[4] = crate::mem::total_frame_count() as u64 * 4096;
    w[5] = free;
    // procs (u16) at byte 80, then mem_unit (u32) at byte 104.
    w[10] = process::live_programs() as u64;
    w[13] = 1;
    uaccess::write(buf, w)?;
    Ok(0)
}
