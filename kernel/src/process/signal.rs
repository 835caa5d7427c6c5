//! Signal state a program sets up at start (every libc and Rust's std do): dispositions
//! (`rt_sigaction`), the per-thread blocked mask (`rt_sigprocmask`) and alternate stack
//! (`sigaltstack`), with Linux's layouts and errnos.
//!
//! Signals are queued by `sources` (kill, tgkill, tkill, SIGPIPE) and `itimer` (SIGALRM),
//! kept pending by `pending`, delivered on the way back to ring 3 by `deliver` into Linux's
//! frame (`frame`), and faults in ring 3 reach the program's handler through `deliver::fault`.
//!
//! Owns the `struct sigaction` / `stack_t` copies in and out; never lets SIGKILL or SIGSTOP be
//! caught or blocked.

pub mod deliver;
pub mod frame;
pub mod itimer;
pub mod pending;
pub mod sources;

pub use deliver::{deliver, fault, rt_sigreturn};
pub use pending::{any_pending, interrupted, Info};

use uapi::Errno;

use crate::mm::uaccess;
use crate::sched;

/// Signals 1..=64.
pub const NSIG: usize = 64;
pub const SIGILL: i32 = 4;
pub const SIGTRAP: i32 = 5;
pub const SIGBUS: i32 = 7;
pub const SIGFPE: i32 = 8;
pub const SIGKILL: i32 = 9;
pub const SIGSEGV: i32 = 11;
pub const SIGSTOP: i32 = 19;
/// Smallest alternate stack accepted (Linux x86-64's MINSIGSTKSZ).
pub const MINSIGSTKSZ: u64 = 2048;
const SS_ONSTACK: i32 = 1;
const SS_DISABLE: i32 = 2;
const SS_AUTODISARM: i32 = 1 << 31;

/// The kernel's `struct sigaction` on x86-64 (`rt_sigaction`'s layout).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct SigAction {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

/// `stack_t`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
struct StackT {
    sp: u64,
    flags: i32,
    _pad: i32,
    size: u64,
}

pub(crate) fn unblockable() -> u64 {
    (1 << (SIGKILL - 1)) | (1 << (SIGSTOP - 1))
}

/// `rt_sigaction`.
pub fn rt_sigaction(sig: i32, act: u64, oact: u64, sigsetsize: u64) -> Result<i64, Errno> {
    if sigsetsize != 8 {
        return Err(Errno::EINVAL);
    }
    if !(1..=NSIG as i32).contains(&sig) {
        return Err(Errno::EINVAL);
    }
    if act != 0 && (sig == SIGKILL || sig == SIGSTOP) {
        return Err(Errno::EINVAL);
    }
    let p = sched::current_process().ok_or(Errno::EPERM)?;
    let new: Option<SigAction> = if act != 0 {
        Some(uaccess::read(act)?)
    } else {
        None
    };
    let old = {
        let mut table = p.sigactions.lock();
        let slot = &mut table[sig as usize - 1];
        let old = *slot;
        if let Some(mut n) = new {
            n.mask &= !unblockable();
            *slot = n;
        }
        old
    };
    // Setting a signal to be ignored discards its pending instances (POSIX, as Linux).
    if let Some(n) = new {
        if pending::ignored(sig, &n) {
            pending::discard(&p, sig);
        }
    }
    if oact != 0 {
        uaccess::write(oact, old)?;
    }
    Ok(0)
}

const SIG_BLOCK: i32 = 0;
const SIG_UNBLOCK: i32 = 1;
const SIG_SETMASK: i32 = 2;

/// `rt_sigprocmask`.
pub fn rt_sigprocmask(how: i32, set: u64, oset: u64, sigsetsize: u64) -> Result<i64, Errno> {
    if sigsetsize != 8 {
        return Err(Errno::EINVAL);
    }
    let new: Option<u64> = if set != 0 {
        if !(SIG_BLOCK..=SIG_SETMASK).contains(&how) {
            return Err(Errno::EINVAL);
        }
        Some(uaccess::read(set)?)
    } else {
        None
    };
    let old = sched::with_user_state(|u| {
        let old = u.sigmask;
        if let Some(s) = new {
            u.sigmask = match how {
                SIG_BLOCK => old | s,
                SIG_UNBLOCK => old & !s,
                _ => s,
            } & !unblockable();
        }
        old
    });
    if oset != 0 {
        uaccess::write(oset, old)?;
    }
    Ok(0)
}

/// `sigaltstack`.
pub fn sigaltstack(ss: u64, old_ss: u64) -> Result<i64, Errno> {
    let new: Option<StackT> = if ss != 0 {
        Some(uaccess::read(ss)?)
    } else {
        None
    };
    if let Some(n) = new {
        let mode = n.flags & !SS_AUTODISARM;
        if mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK {
            return Err(Errno::EINVAL);
        }
        if mode != SS_DISABLE && n.size < MINSIGSTKSZ {
            return Err(Errno::ENOMEM);
        }
    }
    let old = sched::with_user_state(|u| {
        let old = u.altstack;
        if let Some(n) = new {
            u.altstack = if n.flags & SS_DISABLE != 0 {
                [0, SS_DISABLE as u64, 0]
            } else {
                [n.sp, (n.flags & SS_AUTODISARM) as u32 as u64, n.size]
            };
        }
        old
    });
    if old_ss != 0 {
        let flags = if old == [0; 3] {
            SS_DISABLE
        } else {
            old[1] as u32 as i32
        };
        uaccess::write(
            old_ss,
            StackT {
                sp: old[0],
                flags,
                _pad: 0,
                size: old[2],
            },
        )?;
    }
    Ok(0)
}
