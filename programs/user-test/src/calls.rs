//! Checks of single system calls: output, clocks and sleeping, randomness, unknown numbers
//! and bad pointers. Raw calls (`progkit::sys::syscall`), since the exact errno is the point.

use std::thread;
use std::time::{Duration, Instant};

use progkit::sys::{self, expect_errno, syscall};
use progkit::{CheckResult, Errno};

/// An address no program has mapped (the crash program reads it too).
pub const UNMAPPED: u64 = 0x7fff_dead_0000;

pub fn write_stdout() -> CheckResult {
    let msg = b"user-test: hello from ring 3\n";
    if sys::write(1, msg) != Ok(msg.len()) {
        return Err("write(1) did not write every byte".into());
    }
    if sys::write(2, b"") != Ok(0) {
        return Err("empty write(2) did not return 0".into());
    }
    Ok(())
}

/// A `struct timespec`.
fn timespec(sec: i64, nsec: i64) -> libc::timespec {
    libc::timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    }
}

pub fn clock_and_nanosleep() -> CheckResult {
    let t0 = Instant::now();
    thread::sleep(Duration::from_millis(20));
    let slept = t0.elapsed();
    if slept < Duration::from_millis(20) {
        return Err(format!(
            "the clock advanced by {slept:?} across a 20 ms sleep"
        ));
    }
    let bad = timespec(0, 1_000_000_000);
    expect_errno(
        syscall(
            libc::SYS_nanosleep,
            [&bad as *const _ as u64, 0, 0, 0, 0, 0],
        ),
        Errno::EINVAL,
        "nanosleep with tv_nsec = 1e9",
    )?;
    let mut t = timespec(0, 0);
    expect_errno(
        syscall(
            libc::SYS_clock_gettime,
            [12345, &mut t as *mut _ as u64, 0, 0, 0, 0],
        ),
        Errno::EINVAL,
        "clock_gettime of an unknown clock",
    )
}

/// `clock_gettime(clock)` as a duration.
fn clock(clock: libc::clockid_t) -> Result<Duration, String> {
    let mut t = timespec(0, 0);
    syscall(
        libc::SYS_clock_gettime,
        [clock as u64, &mut t as *mut _ as u64, 0, 0, 0, 0],
    )
    .map_err(|e| format!("clock_gettime({clock}): {e:?}"))?;
    Ok(Duration::new(t.tv_sec as u64, t.tv_nsec as u32))
}

/// The CPU-time clocks count what a thread runs, not what it sleeps: a 100 ms sleep adds
/// little to the thread's clock; spinning adds to it, never faster than the monotonic clock
/// runs; the program's clock holds its threads' time.
pub fn cpu_clocks() -> CheckResult {
    const THREAD: libc::clockid_t = libc::CLOCK_THREAD_CPUTIME_ID;
    const SPIN: Duration = Duration::from_millis(50);
    let before = clock(THREAD)?;
    thread::sleep(Duration::from_millis(100));
    let slept = clock(THREAD)?.saturating_sub(before);
    if slept >= Duration::from_millis(50) {
        return Err(format!(
            "the thread's CPU clock advanced {slept:?} across a 100 ms sleep"
        ));
    }
    let (wall, cpu) = (Instant::now(), clock(THREAD)?);
    let spun = loop {
        let spun = clock(THREAD)?.saturating_sub(cpu);
        if spun >= SPIN {
            break spun;
        }
        if wall.elapsed() > Duration::from_secs(20) {
            return Err(format!(
                "spinning for 20 s added {spun:?} to the thread's CPU clock"
            ));
        }
    };
    let elapsed = wall.elapsed();
    if spun > elapsed {
        return Err(format!(
            "{spun:?} of CPU time in {elapsed:?} on the monotonic clock"
        ));
    }
    let own = clock(THREAD)?;
    let program = clock(libc::CLOCK_PROCESS_CPUTIME_ID)?;
    if program < own {
        return Err(format!(
            "the program's CPU clock {program:?} is behind its thread's {own:?}"
        ));
    }
    Ok(())
}

fn getrandom_raw(buf: &mut [u8], flags: u64) -> Result<usize, Errno> {
    syscall(
        libc::SYS_getrandom,
        [buf.as_mut_ptr() as u64, buf.len() as u64, flags, 0, 0, 0],
    )
}

pub fn getrandom() -> CheckResult {
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    if getrandom_raw(&mut a, 0) != Ok(32) || getrandom_raw(&mut b, 0) != Ok(32) {
        return Err("getrandom did not fill 32 bytes".into());
    }
    if a == [0; 32] || a == b {
        return Err("getrandom bytes are zero or repeat".into());
    }
    expect_errno(
        getrandom_raw(&mut a, 0x80),
        Errno::EINVAL,
        "getrandom with unknown flags",
    )
}

pub fn unknown_syscall() -> CheckResult {
    expect_errno(syscall(999, [0; 6]), Errno::ENOSYS, "syscall 999")?;
    expect_errno(
        syscall(5000, [1, 0, 0, 0, 0, 0]),
        Errno::ENOSYS,
        "syscall 5000",
    )
}

pub fn bad_pointers() -> CheckResult {
    let write = |addr: u64| syscall(libc::SYS_write, [1, addr, 5, 0, 0, 0]);
    expect_errno(write(0), Errno::EFAULT, "write(1, NULL, 5)")?;
    expect_errno(
        write(UNMAPPED),
        Errno::EFAULT,
        "write from an unmapped address",
    )?;
    expect_errno(
        write(u64::MAX - 2),
        Errno::EFAULT,
        "write with a wrapping range",
    )?;
    expect_errno(
        syscall(libc::SYS_clock_gettime, [1, 0, 0, 0, 0, 0]),
        Errno::EFAULT,
        "clock_gettime(NULL)",
    )?;
    // Physical MMIO space in a PC, never mapped for a program.
    expect_errno(
        syscall(libc::SYS_nanosleep, [0xc000_0000, 0, 0, 0, 0, 0]),
        Errno::EFAULT,
        "nanosleep from 0xc0000000",
    )
}
