//! How a ring-3 thread starts: an ELF program's entry on the stack `execve` laid out, or a
//! `clone` child resuming with its parent's registers.
//!
//! Owns the hand-over from a new kernel thread to ring 3; never lets a thread reach ring 3
//! without its program counted (`live_threads`) and its state (tid, TLS) set.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};

use uapi::Errno;

use super::{exec, register, unregister, Comm, Process, MAX_THREADS_PER_PROGRAM};
use crate::arch::usermode::{self, UserRegs};
use crate::sched::{self, ThreadId, UserState};
use crate::sync::IrqMutex;

/// Where a new ring-3 thread begins.
pub enum UserStart {
    /// Every register given (an ELF program's first thread, a clone child).
    Regs(UserRegs),
}

/// What each new ring-3 thread is to start with, by the key its kernel thread is given as
/// argument: added before the thread is spawned, taken by the thread as it starts (or at once
/// if it could not be spawned). Few entries: only threads spawned and not yet run.
static PENDING: IrqMutex<Vec<(usize, UserStart)>> = IrqMutex::new(Vec::new());
/// The next key for [`PENDING`] (never reused).
static NEXT_KEY: AtomicUsize = AtomicUsize::new(0);

/// Take the start [`PENDING`] keeps under `key`.
fn take_pending(key: usize) -> Option<UserStart> {
    let mut pending = PENDING.lock();
    let i = pending.iter().position(|(k, _)| *k == key)?;
    Some(pending.swap_remove(i).1)
}

/// Start a ring-3 thread of `p` with user-visible thread id `tid`, its ring-3 state `state`.
pub fn spawn_user_thread(
    p: &Arc<Process>,
    start: UserStart,
    tid: u64,
) -> Result<ThreadId, &'static str> {
    spawn_with_state(
        p,
        start,
        UserState {
            tid,
            ..UserState::default()
        },
    )
}

pub fn spawn_with_state(
    p: &Arc<Process>,
    start: UserStart,
    state: UserState,
) -> Result<ThreadId, &'static str> {
    {
        let mut st = p.state.lock();
        if st.live_threads >= MAX_THREADS_PER_PROGRAM {
            return Err("too many threads in this program");
        }
        st.live_threads += 1;
    }
    let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
    {
        let mut pending = PENDING.lock();
        // Out of kernel heap is an error here, never a panic.
        if pending.try_reserve(1).is_err() {
            drop(pending);
            p.state.lock().live_threads -= 1;
            return Err("no kernel memory for a new thread");
        }
        pending.push((key, start));
    }
    match sched::spawn_in(p.clone(), "program", user_thread_entry, key) {
        Ok(t) => {
            sched::set_user_state(t, state);
            Ok(t)
        }
        Err(e) => {
            // The thread was not created: nobody else takes this start.
            take_pending(key);
            p.state.lock().live_threads -= 1;
            Err(e)
        }
    }
}

/// Kernel side of a new ring-3 thread: prepare what it was given and drop to ring 3.
fn user_thread_entry(arg: usize) {
    // `arg` is the key `spawn_with_state` kept this thread's start under.
    let Some(UserStart::Regs(regs)) = take_pending(arg) else {
        unreachable!("a ring-3 thread started without its start registers");
    };
    crate::arch::set_fs_base(sched::with_user_state(|u| u.fs_base));
    usermode::enter_regs(&regs)
}

/// The name a program gets from the path it was started from (its last component).
pub fn comm_of(path: &[u8]) -> Comm {
    let base = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    Comm::new(base)
}

/// Start the ELF program at `path` (looked up from the root) as a new program with no
/// parent, `argv` and `envp`.
pub fn start_elf(path: &[u8], argv: &[Vec<u8>], envp: &[Vec<u8>]) -> Result<Arc<Process>, Errno> {
    let cwd = crate::files::root_dir();
    let image = exec::load(path, argv, envp, cwd.as_ref())?;
    let root = image.memory.root();
    let p = Arc::new(Process::new(
        comm_of(path),
        0,
        Some(image.memory),
        root,
        crate::files::stdio_table(),
        cwd,
    ));
    *p.exec_info.lock() = super::ExecInfo::new(path, argv);
    register(&p).map_err(|_| Errno::EAGAIN)?;
    let regs = UserRegs {
        rip: image.entry,
        rsp: image.sp,
        ..UserRegs::default()
    };
    if let Err(e) = spawn_user_thread(&p, UserStart::Regs(regs), p.pid) {
        log::warn!("program: {e}");
        unregister(&p);
        return Err(Errno::EAGAIN);
    }
    log::info!("program {} started (pid {})", p.name(), p.pid);
    Ok(p)
}
