//! Where signals come from: `kill`, `tgkill`, `tkill` (the program signalling itself: raise()
//! in glibc and musl is `tgkill(getpid(), gettid(), sig)`), SIGPIPE on a write to a pipe or
//! socket that cannot take data any more, and `pause` / `rt_sigsuspend` / `rt_sigpending`.
//!
//! rinet lets a program signal only itself: another pid is `ESRCH` (as if it did not exist),
//! a difference from Linux that keeps programs apart. Signal 0 only checks the target.

use uapi::Errno;

use super::pending::{self, Info, SI_TKILL, SI_USER};
use super::{unblockable, NSIG};
use crate::mm::uaccess;
use crate::process::Process;
use crate::sched;

pub const SIGPIPE: i32 = 13;
/// `MSG_NOSIGNAL`: a send that fails with EPIPE raises no SIGPIPE.
pub const MSG_NOSIGNAL: u32 = 0x4000;

fn current() -> Result<alloc::sync::Arc<Process>, Errno> {
    sched::current_process().ok_or(Errno::ESRCH)
}

fn check_sig(sig: i32) -> Result<(), Errno> {
    if (0..=NSIG as i32).contains(&sig) {
        Ok(())
    } else {
        Err(Errno::EINVAL)
    }
}

/// `kill(pid, sig)`: `pid` is the program itself (its pid, 0 for its group, or minus its pid);
/// -1 (every program it may signal) reaches only itself too.
pub fn kill(pid: i64, sig: i32) -> Result<i64, Errno> {
    check_sig(sig)?;
    let p = current()?;
    let me = p.pid as i64;
    if !(pid == me || pid == 0 || pid == -1 || pid == -me) {
        return Err(Errno::ESRCH);
    }
    if sig != 0 {
        pending::send(&p, None, Info::user(sig, SI_USER, p.pid));
    }
    Ok(0)
}

/// `tgkill(tgid, tid, sig)`.
pub fn tgkill(tgid: i64, tid: i64, sig: i32) -> Result<i64, Errno> {
    if tgid <= 0 || tid <= 0 {
        return Err(Errno::EINVAL);
    }
    check_sig(sig)?;
    let p = current()?;
    if tgid as u64 != p.pid {
        return Err(Errno::ESRCH);
    }
    to_thread(&p, tid as u64, sig)
}

/// `tkill(tid, sig)`.
pub fn tkill(tid: i64, sig: i32) -> Result<i64, Errno> {
    if tid <= 0 {
        return Err(Errno::EINVAL);
    }
    check_sig(sig)?;
    let p = current()?;
    to_thread(&p, tid as u64, sig)
}

fn to_thread(p: &alloc::sync::Arc<Process>, tid: u64, sig: i32) -> Result<i64, Errno> {
    if !sched::process_has_tid(p, tid) {
        return Err(Errno::ESRCH);
    }
    if sig != 0 {
        pending::send(p, Some(tid), Info::user(sig, SI_TKILL, p.pid));
    }
    Ok(0)
}

/// A write-side call of the running thread failed with EPIPE: raise SIGPIPE at it (Linux's
/// pipe_write and sk_stream_error), unless the send asked for MSG_NOSIGNAL.
pub fn sigpipe() {
    if let Some(p) = sched::current_process() {
        let tid = sched::with_user_state(|u| u.tid);
        pending::send(&p, Some(tid), Info::user(SIGPIPE, SI_USER, p.pid));
    }
}

/// `pause`: sleep until a signal is delivered (always `EINTR`).
pub fn pause() -> Result<i64, Errno> {
    let p = current()?;
    while !pending::interrupted(&p) {
        sched::block(&[], None, |_| !pending::interrupted(&p));
    }
    Err(Errno::EINTR)
}

/// `rt_sigsuspend`: block `mask` instead until a signal is delivered; the handler's frame
/// keeps the old mask, so its return puts it back.
pub fn rt_sigsuspend(mask: u64, sigsetsize: u64) -> Result<i64, Errno> {
    if sigsetsize != 8 {
        return Err(Errno::EINVAL);
    }
    let new: u64 = uaccess::read(mask)?;
    let p = current()?;
    sched::with_user_state(|u| {
        u.saved_sigmask = Some(u.sigmask);
        u.sigmask = new & !unblockable();
    });
    while !pending::interrupted(&p) {
        sched::block(&[], None, |_| !pending::interrupted(&p));
    }
    Err(Errno::EINTR)
}

/// `rt_sigpending`.
pub fn rt_sigpending(set: u64, sigsetsize: u64) -> Result<i64, Errno> {
    if sigsetsize > 8 {
        return Err(Errno::EINVAL);
    }
    let p = current()?;
    let tid = sched::with_user_state(|u| u.tid);
    let v = pending::pending_set(&p, tid).to_le_bytes();
    uaccess::copy_to_user(set, &v[..sigsetsize as usize])?;
    Ok(0)
}
