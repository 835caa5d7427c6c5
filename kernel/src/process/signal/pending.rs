//! Pending signals: queued per thread (`tgkill`, `tkill`, faults) and per program (`kill`,
//! `alarm`, SIGPIPE), Linux's standard-signal rule (a signal already pending is not queued
//! twice), and what each signal does when it has no handler (man 7 signal).
//!
//! Owns each program's pending sets and the `siginfo` kept with each; never queues a signal
//! the program ignores, never more than one entry per thread and signal (so the queue is
//! bounded by threads x [`NSIG`]).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use super::{SigAction, NSIG, SIGKILL, SIGSTOP};
use crate::process::Process;
use crate::sched;

pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;

/// `si_code` values (asm-generic/siginfo.h).
pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
pub const SI_TKILL: i32 = -6;

/// What a signal carries to its handler's `siginfo_t`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Info {
    pub signo: i32,
    pub code: i32,
    /// `si_pid` (kill) — or, for faults, unused.
    pub pid: u32,
    pub uid: u32,
    /// `si_addr` for faults.
    pub addr: u64,
    /// The fault's trap number and error code (for `sigcontext`).
    pub trapno: u64,
    pub err: u64,
}

impl Info {
    /// A signal sent by a program (`kill`: `SI_USER`; `tgkill`: `SI_TKILL`).
    pub fn user(signo: i32, code: i32, pid: u64) -> Info {
        Info {
            signo,
            code,
            pid: pid as u32,
            ..Info::default()
        }
    }
}

/// A program's pending signals.
#[derive(Default)]
pub struct Pending {
    /// Sent to the program: any thread not blocking it takes it.
    shared: Vec<Info>,
    /// Sent to one thread: (tid, info).
    threads: Vec<(u64, Info)>,
}

/// Signals pending anywhere: while zero, a return to ring 3 looks no further.
static QUEUED: AtomicUsize = AtomicUsize::new(0);

/// Whether any program may have a pending signal (cheap; checked at every return to ring 3).
pub fn any_pending() -> bool {
    QUEUED.load(Ordering::Acquire) > 0
}

fn bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

/// What a signal does by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DefaultAction {
    Terminate,
    /// Terminate with a core dump (the wait status's 0x80 bit).
    Core,
    /// Ignored; also the stop and continue signals: rinet has no job control, so SIGSTOP,
    /// SIGTSTP, SIGTTIN, SIGTTOU and SIGCONT do nothing (Linux would stop or continue).
    Ignore,
}

/// man 7 signal's table.
pub fn default_action(sig: i32) -> DefaultAction {
    match sig {
        // SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV, SIGXCPU, SIGXFSZ, SIGSYS
        3 | 4 | 5 | 6 | 7 | 8 | 11 | 24 | 25 | 31 => DefaultAction::Core,
        // SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, SIGURG, SIGWINCH
        17 | 18 | 19 | 20 | 21 | 22 | 23 | 28 => DefaultAction::Ignore,
        _ => DefaultAction::Terminate,
    }
}

/// Whether `act` throws `sig` away.
pub fn ignored(sig: i32, act: &SigAction) -> bool {
    act.handler == SIG_IGN
        || (act.handler == SIG_DFL && default_action(sig) == DefaultAction::Ignore)
}

/// Queue `info` for `p` (to thread `tid`, or to the program when `None`) and wake its blocked
/// threads so their calls return `EINTR`. A signal the program ignores is dropped, as Linux
/// does; one already pending (for that thread, or for the program) is not queued again.
pub fn send(p: &alloc::sync::Arc<Process>, tid: Option<u64>, info: Info) {
    let sig = info.signo;
    if !(1..=NSIG as i32).contains(&sig) {
        return;
    }
    let act = p.sigactions.lock()[sig as usize - 1];
    if sig != SIGKILL && sig != SIGSTOP && ignored(sig, &act) {
        return;
    }
    {
        let mut pend = p.sigpending.lock();
        let dup = match tid {
            Some(t) => pend.threads.iter().any(|(x, i)| *x == t && i.signo == sig),
            None => pend.shared.iter().any(|i| i.signo == sig),
        };
        if dup {
            return;
        }
        let q = match tid {
            Some(t) => pend.threads.try_reserve(1).map(|_| {
                pend.threads.push((t, info));
            }),
            None => pend.shared.try_reserve(1).map(|_| pend.shared.push(info)),
        };
        if q.is_err() {
            return;
        }
        QUEUED.fetch_add(1, Ordering::AcqRel);
    }
    sched::wake_process(p);
}

/// Take the lowest-numbered signal pending for thread `tid` that `mask` does not block
/// (its own before the program's).
pub fn take(p: &Process, tid: u64, mask: u64) -> Option<Info> {
    let mut pend = p.sigpending.lock();
    let ok = |i: &Info| mask & bit(i.signo) == 0 || i.signo == SIGKILL;
    let own = pend
        .threads
        .iter()
        .enumerate()
        .filter(|(_, (t, i))| *t == tid && ok(i))
        .min_by_key(|(_, (_, i))| i.signo)
        .map(|(n, _)| n);
    let info = match own {
        Some(n) => Some(pend.threads.swap_remove(n).1),
        None => {
            let n = pend
                .shared
                .iter()
                .enumerate()
                .filter(|(_, i)| ok(i))
                .min_by_key(|(_, i)| i.signo)
                .map(|(n, _)| n);
            n.map(|n| pend.shared.swap_remove(n))
        }
    };
    if info.is_some() {
        QUEUED.fetch_sub(1, Ordering::AcqRel);
    }
    info
}

/// Whether thread `tid` (blocking `mask`) has a signal to take.
pub fn has_deliverable(p: &Process, tid: u64, mask: u64) -> bool {
    let pend = p.sigpending.lock();
    let ok = |i: &Info| mask & bit(i.signo) == 0 || i.signo == SIGKILL;
    pend.threads.iter().any(|(t, i)| *t == tid && ok(i)) || pend.shared.iter().any(ok)
}

/// Signals pending for thread `tid` or its program (`rt_sigpending`).
pub fn pending_set(p: &Process, tid: u64) -> u64 {
    let pend = p.sigpending.lock();
    pend.threads
        .iter()
        .filter(|(t, _)| *t == tid)
        .map(|(_, i)| bit(i.signo))
        .chain(pend.shared.iter().map(|i| bit(i.signo)))
        .fold(0, |a, b| a | b)
}

/// Drop everything pending (the program ended, or a thread's entries when it ends).
pub fn clear(p: &Process, tid: Option<u64>) {
    let mut pend = p.sigpending.lock();
    let before = pend.threads.len() + pend.shared.len();
    match tid {
        Some(t) => pend.threads.retain(|(x, _)| *x != t),
        None => {
            pend.threads.clear();
            pend.shared.clear();
        }
    }
    let after = pend.threads.len() + pend.shared.len();
    QUEUED.fetch_sub(before - after, Ordering::AcqRel);
}

/// Drop pending instances of `sig` (its action became "ignore", as Linux does).
pub fn discard(p: &Process, sig: i32) {
    let mut pend = p.sigpending.lock();
    let before = pend.threads.len() + pend.shared.len();
    pend.threads.retain(|(_, i)| i.signo != sig);
    pend.shared.retain(|i| i.signo != sig);
    let after = pend.threads.len() + pend.shared.len();
    QUEUED.fetch_sub(before - after, Ordering::AcqRel);
}

/// Whether the running thread's blocking call must give up with `EINTR`: its program is
/// ending, or a signal it does not block is pending for it.
pub fn interrupted(p: &Process) -> bool {
    if p.is_ending() {
        return true;
    }
    if !any_pending() {
        return false;
    }
    let (tid, mask) = sched::with_user_state(|u| (u.tid, u.sigmask));
    has_deliverable(p, tid, mask)
}
