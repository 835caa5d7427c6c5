//! The `syscall` entry and dispatch: Linux x86_64 numbers, arguments in rdi, rsi, rdx, r10, r8,
//! r9, result (or `-errno`) in rax; rcx and r11 are clobbered, every other register preserved.
//!
//! Entry (`syscall_entry` in `arch::syscall_msrs`, LSTAR): `swapgs` to reach the per-CPU area,
//! stash the user `rsp`, load the current thread's kernel stack top, push the user `rsp`,
//! `swapgs` back at once (so GS_BASE is the user's everywhere else, and a thread switch inside a
//! system call never leaves it swapped), save all registers as a [`SyscallFrame`], enable
//! interrupts and call [`dispatch`]. Return: interrupts off, restore, `sysretq`; the return
//! address is checked canonical first (SYSRET to a non-canonical RIP would #GP in ring 0 on the
//! user stack).
//!
//! Owns the syscall table and the frame's layout (the stub that pushes it and the MSRs that
//! point at the stub are `arch::syscall_msrs`'s). Unknown numbers return `-ENOSYS` and are logged once per number.
//! Pointers are checked by `uaccess`. There are no private numbers: programs start other
//! programs with clone/vfork + execve, make threads with clone, and resolve names through /etc
//! as any libc does.

mod bounce;
pub mod events;
mod events_select;
mod events_timerfd;
pub mod fs;
mod fs_attr;
pub mod fs_info;
mod fs_io;
mod fs_path;
mod fs_poll;
pub mod names;
pub mod proc;
mod route;
pub mod rusage;
mod sendfile;
pub mod socket;
mod socket_mmsg;
mod socket_msg;
mod unix;
pub use crate::mm::uaccess;

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use net::time::Duration;
use net::Errno;

use crate::arch;
use crate::{cputime, process, sched, time};

pub const SYS_READ: u64 = 0;
pub const SYS_WRITE: u64 = 1;
pub const SYS_CLOSE: u64 = 3;
pub const SYS_POLL: u64 = 7;
pub const SYS_SCHED_YIELD: u64 = 24;
pub const SYS_NANOSLEEP: u64 = 35;
pub const SYS_GETPID: u64 = 39;
pub const SYS_SOCKET: u64 = 41;
pub const SYS_CONNECT: u64 = 42;
pub const SYS_ACCEPT: u64 = 43;
pub const SYS_SENDTO: u64 = 44;
pub const SYS_RECVFROM: u64 = 45;
pub const SYS_SENDMSG: u64 = 46;
pub const SYS_RECVMSG: u64 = 47;
pub const SYS_SHUTDOWN: u64 = 48;
pub const SYS_BIND: u64 = 49;
pub const SYS_LISTEN: u64 = 50;
pub const SYS_GETSOCKNAME: u64 = 51;
pub const SYS_GETPEERNAME: u64 = 52;
pub const SYS_SETSOCKOPT: u64 = 54;
pub const SYS_GETSOCKOPT: u64 = 55;
pub const SYS_EXIT: u64 = 60;
pub const SYS_FCNTL: u64 = 72;
pub const SYS_CLOCK_GETTIME: u64 = 228;
pub const SYS_EXIT_GROUP: u64 = 231;
pub const SYS_ACCEPT4: u64 = 288;
pub const SYS_RECVMMSG: u64 = 299;
pub const SYS_SENDMMSG: u64 = 307;
pub const SYS_GETRANDOM: u64 = 318;
/// Registers of the program at the `syscall`, as `syscall_entry` pushes them.
#[repr(C)]
#[derive(Debug)]
pub struct SyscallFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub r9: u64,
    pub r8: u64,
    pub r10: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    /// Number in, result out.
    pub rax: u64,
    /// User RIP (the CPU put it in rcx).
    pub rcx: u64,
    /// User RFLAGS (the CPU put it in r11).
    pub r11: u64,
    pub user_rsp: u64,
}

/// Program the `syscall` MSRs (after `gdt::init` and `sched::init`): LSTAR is
/// `syscall_entry` (see `arch::syscall_msrs`).
pub fn init() {
    arch::syscall_msrs::init();
}

fn is_canonical(addr: u64) -> bool {
    let top = addr >> 47;
    top == 0 || top == 0x1ffff
}

/// A system call's result: a value or an errno.
pub type SysResult = Result<i64, Errno>;

/// Called by the entry stub (`arch::syscall_msrs`) with the frame it pushed.
pub(crate) extern "C" fn dispatch(f: &mut SyscallFrame) {
    cputime::enter_kernel();
    let a = [f.rdi, f.rsi, f.rdx, f.r10, f.r8, f.r9];
    let nr = f.rax;
    let tracing = STRACE.load(Ordering::Relaxed);
    if tracing && matches!(nr, SYS_EXIT | SYS_EXIT_GROUP) {
        trace(nr, a, None);
    }
    if nr == SYS_RT_SIGRETURN {
        if tracing {
            trace(nr, a, None);
        }
        sigreturn(f);
    }
    let r = match nr {
        proc::SYS_CLONE | proc::SYS_CLONE3 | proc::SYS_VFORK | proc::SYS_EXECVE => with_regs(f, a),
        nr => call(nr, a),
    };
    if tracing {
        trace(nr, a, Some(&r));
    }
    if r == Err(Errno::EPIPE) && raises_sigpipe(nr, a) {
        process::signal::sources::sigpipe();
    }
    f.rax = match r {
        Ok(v) => v as u64,
        Err(e) => (-(e.code() as i64)) as u64,
    };
    sched::resched_if_needed();
    if process::any_program_ending() {
        if let Some(p) = sched::current_process() {
            if p.is_ending() {
                drop(p);
                process::exit_thread(process::killed_status(process::signal::SIGKILL));
            }
        }
    }
    if process::signal::any_pending() || nr == SYS_RT_SIGSUSPEND {
        let restart = (r == Err(Errno::EINTR) && restartable(nr, a)).then_some(nr);
        let mut regs = user_regs(f);
        if process::signal::deliver(&mut regs, restart) {
            set_user_regs(f, &regs);
        }
    }
    if !is_canonical(f.rcx) {
        process::user_fault("non-canonical return address", f.rcx, None);
    }
    cputime::leave_kernel();
}

const SYS_RT_SIGRETURN: u64 = 15;
const SYS_RT_SIGSUSPEND: u64 = 130;

/// `rt_sigreturn`: resume where the signal interrupted, with every register from the frame
/// (through `iretq`: `sysret` could not give back rcx and r11), or enter the next handler.
fn sigreturn(f: &SyscallFrame) -> ! {
    let mut regs = process::signal::rt_sigreturn(f.user_rsp);
    sched::resched_if_needed();
    if sched::current_process().is_some_and(|p| p.is_ending()) {
        process::exit_thread(process::killed_status(process::signal::SIGKILL));
    }
    if process::signal::any_pending() {
        process::signal::deliver(&mut regs, None);
    }
    arch::usermode::enter_regs(&regs)
}

/// The calls whose `EPIPE` raises SIGPIPE (writes to a pipe or a stream socket that cannot
/// take data), unless a send's flags hold MSG_NOSIGNAL.
fn raises_sigpipe(nr: u64, a: [u64; 6]) -> bool {
    use process::signal::sources::MSG_NOSIGNAL;
    match nr {
        SYS_SENDTO => a[3] as u32 & MSG_NOSIGNAL == 0,
        SYS_SENDMSG => a[2] as u32 & MSG_NOSIGNAL == 0,
        SYS_SENDMMSG => a[3] as u32 & MSG_NOSIGNAL == 0,
        // write, pwrite64, writev, sendfile, pwritev, splice
        SYS_WRITE | 18 | 20 | 40 | 296 | 275 => true,
        _ => false,
    }
}

/// The calls Linux restarts after a handler installed with SA_RESTART (they return
/// -ERESTARTSYS there); the others (nanosleep, poll, select, epoll_wait, pause,
/// sigsuspend, futex with a timeout) return `EINTR`.
fn restartable(nr: u64, a: [u64; 6]) -> bool {
    match nr {
        // read, write, ioctl, pread64, pwrite64, readv, writev, sendfile, wait4
        SYS_READ | SYS_WRITE | 16 | 17 | 18 | 19 | 20 | 40 | 61 => true,
        SYS_ACCEPT | SYS_ACCEPT4 | SYS_SENDTO | SYS_RECVFROM | SYS_SENDMSG | SYS_RECVMSG => true,
        // Restarted only when nothing moved (a partial batch returns its count).
        SYS_SENDMMSG | SYS_RECVMMSG => true,
        // futex wait without a timeout
        202 => a[3] == 0,
        _ => false,
    }
}

/// The ring-3 registers at this system call (rip in rcx, rflags in r11).
fn user_regs(f: &SyscallFrame) -> crate::arch::usermode::UserRegs {
    crate::arch::usermode::UserRegs {
        r15: f.r15,
        r14: f.r14,
        r13: f.r13,
        r12: f.r12,
        rbp: f.rbp,
        rbx: f.rbx,
        r11: f.r11,
        r10: f.r10,
        r9: f.r9,
        r8: f.r8,
        rax: f.rax,
        rcx: f.rcx,
        rdx: f.rdx,
        rsi: f.rsi,
        rdi: f.rdi,
        rip: f.rcx,
        rsp: f.user_rsp,
        rflags: f.r11,
    }
}

/// Return through `sysret` into `r` (a handler's entry): rip goes in rcx and rflags in r11,
/// which the handler does not read.
fn set_user_regs(f: &mut SyscallFrame, r: &crate::arch::usermode::UserRegs) {
    f.r15 = r.r15;
    f.r14 = r.r14;
    f.r13 = r.r13;
    f.r12 = r.r12;
    f.rbp = r.rbp;
    f.rbx = r.rbx;
    f.r10 = r.r10;
    f.r9 = r.r9;
    f.r8 = r.r8;
    f.rax = r.rax;
    f.rdx = r.rdx;
    f.rsi = r.rsi;
    f.rdi = r.rdi;
    f.rcx = r.rip;
    f.r11 = arch::usermode::user_rflags(r.rflags);
    f.user_rsp = r.rsp;
}

/// The calls that read or replace the caller's registers: `clone` and `vfork` (the child
/// resumes with them) and `execve` (the new program starts with fresh ones).
fn with_regs(f: &mut SyscallFrame, a: [u64; 6]) -> SysResult {
    let mut regs = user_regs(f);
    match f.rax {
        proc::SYS_CLONE => process::clone::clone(&regs, a[0], a[1], a[2], a[3], a[4]),
        proc::SYS_CLONE3 => process::clone::clone3(&regs, a[0], a[1] as usize),
        proc::SYS_VFORK => process::clone::clone(
            &regs,
            process::clone::CLONE_VM | process::clone::CLONE_VFORK | 17,
            0,
            0,
            0,
            0,
        ),
        _ => {
            let r = process::clone::execve(&mut regs, a[0], a[1], a[2]);
            if r.is_ok() {
                // Return into the new program: every register fresh (sysret loads rip from
                // rcx and rflags from r11).
                f.r15 = 0;
                f.r14 = 0;
                f.r13 = 0;
                f.r12 = 0;
                f.rbp = 0;
                f.rbx = 0;
                f.r9 = 0;
                f.r8 = 0;
                f.r10 = 0;
                f.rdx = 0;
                f.rsi = 0;
                f.rdi = 0;
                f.rcx = regs.rip;
                f.r11 = regs.rflags;
                f.user_rsp = regs.rsp;
            }
            r
        }
    }
}

fn call(nr: u64, a: [u64; 6]) -> SysResult {
    if let Some(r) = route::call(nr, a) {
        return r;
    }
    match nr {
        SYS_SCHED_YIELD => {
            sched::yield_now();
            Ok(0)
        }
        SYS_NANOSLEEP => nanosleep(a[0], a[1]),
        SYS_GETPID => Ok(sched::current_pid() as i64),
        SYS_SOCKET => socket::socket(a[0] as i32, a[1] as i32, a[2] as i32),
        SYS_CONNECT => socket::connect(a[0] as i32, a[1], a[2] as i32),
        SYS_ACCEPT => socket::accept4(a[0] as i32, a[1], a[2], 0),
        SYS_ACCEPT4 => socket::accept4(a[0] as i32, a[1], a[2], a[3] as i32),
        SYS_SENDTO => socket::sendto(
            a[0] as i32,
            a[1],
            a[2] as usize,
            a[3] as i32,
            a[4],
            a[5] as i32,
        ),
        SYS_SENDMSG => socket_msg::sendmsg(a[0] as i32, a[1], a[2] as i32),
        SYS_RECVMSG => socket_msg::recvmsg(a[0] as i32, a[1], a[2] as i32),
        SYS_SENDMMSG => socket_mmsg::sendmmsg(a[0] as i32, a[1], a[2] as u32, a[3] as i32),
        SYS_RECVMMSG => socket_mmsg::recvmmsg(a[0] as i32, a[1], a[2] as u32, a[3] as i32, a[4]),
        SYS_RECVFROM => socket::recvfrom(a[0] as i32, a[1], a[2] as usize, a[3] as i32, a[4], a[5]),
        SYS_SHUTDOWN => socket::shutdown(a[0] as i32, a[1] as i32),
        SYS_BIND => socket::bind(a[0] as i32, a[1], a[2] as i32),
        SYS_LISTEN => socket::listen(a[0] as i32, a[1] as i32),
        SYS_GETSOCKNAME => socket::getname(a[0] as i32, a[1], a[2], false),
        SYS_GETPEERNAME => socket::getname(a[0] as i32, a[1], a[2], true),
        SYS_SETSOCKOPT => {
            socket::setsockopt(a[0] as i32, a[1] as i32, a[2] as i32, a[3], a[4] as i32)
        }
        SYS_GETSOCKOPT => socket::getsockopt(a[0] as i32, a[1] as i32, a[2] as i32, a[3], a[4]),
        SYS_EXIT => process::exit_thread(process::exited_status(a[0] as i32)),
        SYS_EXIT_GROUP => process::exit_group(process::exited_status(a[0] as i32)),
        SYS_CLOCK_GETTIME => clock_gettime(a[0] as i32, a[1]),
        SYS_GETRANDOM => getrandom(a[0], a[1] as usize, a[2] as u32),
        other => {
            log_unknown(other);
            Err(Errno::ENOSYS)
        }
    }
}

/// `strace` on the command line: every call is printed.
static STRACE: AtomicBool = AtomicBool::new(false);

/// Print every system call from now on (`strace`).
pub fn set_strace(on: bool) {
    STRACE.store(on, Ordering::Relaxed);
}

/// One `strace` line: `[pid N] name(args) = result`. Arguments are shown as numbers (small
/// ones in decimal, the rest in hex: pointers, flags); `None` for a call that does not return.
fn trace(nr: u64, a: [u64; 6], r: Option<&SysResult>) {
    let pid = sched::with_user_state(|u| u.tid);
    let name = names::name(nr).unwrap_or("syscall");
    struct Args([u64; 6]);
    impl core::fmt::Display for Args {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            for (i, &v) in self.0.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                if v < 4096 || (v as i64) < 0 && (v as i64) > -4096 {
                    write!(f, "{}", v as i64)?;
                } else {
                    write!(f, "{v:#x}")?;
                }
            }
            Ok(())
        }
    }
    match r {
        None => crate::console::marker(format_args!("[pid {pid}] {name}({}) = ?", Args(a))),
        Some(Ok(v)) => crate::console::marker(format_args!(
            "[pid {pid}] {name}({}) = {}",
            Args(a),
            if *v >= 0 && *v < 1 << 32 {
                alloc::format!("{v}")
            } else {
                alloc::format!("{v:#x}")
            }
        )),
        Some(Err(e)) => crate::console::marker(format_args!(
            "[pid {pid}] {name}({}) = -1 {}",
            Args(a),
            e.name()
        )),
    }
}

/// One bit per number below 1024: logged already.
static UNKNOWN_SEEN: [AtomicU64; 16] = [const { AtomicU64::new(0) }; 16];
static UNKNOWN_HIGH_SEEN: AtomicBool = AtomicBool::new(false);

fn log_unknown(nr: u64) {
    let first = if nr < 1024 {
        let bit = 1u64 << (nr % 64);
        UNKNOWN_SEEN[(nr / 64) as usize].fetch_or(bit, Ordering::Relaxed) & bit == 0
    } else {
        !UNKNOWN_HIGH_SEEN.swap(true, Ordering::Relaxed)
    };
    if first {
        let name = sched::current_process().map(|p| p.name());
        let name: &dyn core::fmt::Display = match &name {
            Some(n) => n,
            None => &"?",
        };
        match names::name(nr) {
            Some(call) => {
                log::warn!("syscall: program {name} called {call} ({nr}), not offered: ENOSYS")
            }
            None => log::warn!("syscall: program {name} called unknown syscall {nr}: ENOSYS"),
        }
    }
}

/// `struct timespec` (x86_64).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Timespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}

fn nanosleep(req: u64, rem: u64) -> SysResult {
    let ts: Timespec = uaccess::read(req)?;
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    if rem != 0 {
        uaccess::check(rem, core::mem::size_of::<Timespec>())?;
    }
    let d = Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32);
    let deadline = time::now() + d;
    while time::now() < deadline {
        if sched::current_process().is_some_and(|p| process::signal::interrupted(&p)) {
            return Err(Errno::EINTR);
        }
        sched::block(&[], Some(deadline), |_| true);
    }
    if rem != 0 {
        uaccess::write(rem, Timespec::default())?;
    }
    Ok(0)
}

pub const CLOCK_REALTIME: i32 = 0;
pub const CLOCK_MONOTONIC: i32 = 1;
pub const CLOCK_MONOTONIC_RAW: i32 = 4;
pub const CLOCK_REALTIME_COARSE: i32 = 5;
pub const CLOCK_MONOTONIC_COARSE: i32 = 6;
pub const CLOCK_BOOTTIME: i32 = 7;

/// Every supported clock reads the monotonic clock (time since boot): there is no RTC, so
/// CLOCK_REALTIME starts at the epoch at boot.
fn clock_gettime(clock: i32, tp: u64) -> SysResult {
    let ns = proc::clock_now(clock)?.as_nanos();
    uaccess::write(
        tp,
        Timespec {
            tv_sec: (ns / 1_000_000_000) as i64,
            tv_nsec: (ns % 1_000_000_000) as i64,
        },
    )?;
    Ok(0)
}

const GRND_NONBLOCK: u32 = 1;
const GRND_RANDOM: u32 = 2;
const GRND_INSECURE: u32 = 4;
/// Most bytes one getrandom call returns. Linux caps a call at 32 MiB - 1 and may return
/// fewer; rinet returns at most this much so one call is bounded work (callers loop on short
/// reads, as the man page tells them to).
const GETRANDOM_MAX: usize = 64 * 1024;

fn getrandom(buf: u64, len: usize, flags: u32) -> SysResult {
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0 {
        return Err(Errno::EINVAL);
    }
    let len = len.min(GETRANDOM_MAX);
    uaccess::check(buf, len)?;
    let mut chunk = [0u8; 256];
    let mut done = 0;
    while done < len {
        let n = (len - done).min(chunk.len());
        arch::entropy::fill(&mut chunk[..n]);
        uaccess::copy_to_user(buf + done as u64, &chunk[..n])?;
        done += n;
    }
    Ok(len as i64)
}
