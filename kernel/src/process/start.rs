//! How a ring-3 thread starts: an ELF program's entry on the stack `execve` laid out, or a
//! `clone` child resuming with its parent's registers.
//!
//! Owns the hand-over from a new kernel thread to ring 3; never lets a thread reach ring 3
//! without its program counted (`live_threads`) and its state (tid, TLS) set.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use uapi::Errno;

use super::{exec, register, unregister, Comm, Process, MAX_THREADS_PER_PROGRAM};
use crate::arch::usermode::{self, UserRegs};
use crate::sched::{self, ThreadId, UserState};

/// Where a new ring-3 thread begins.
pub enum UserStart {
    /// Every register given (an ELF program's first thread, a clone child).
    Regs(UserRegs),
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
    let start = Box::into_raw(Box::new(start));
    match sched::spawn_in(p.clone(), "program", user_thread_entry, start as usize) {
        Ok(t) => {
            sched::set_user_state(t, state);
            Ok(t)
        }
        Err(e) => {
            // SAFETY: the thread was not created, so the box is still ours alone.
            drop(unsafe { Box::from_raw(start) });
            p.state.lock().live_threads -= 1;
            Err(e)
        }
    }
}

/// Kernel side of a new ring-3 thread: prepare what it was given and drop to ring 3.
fn user_thread_entry(arg: usize) {
    // SAFETY: `arg` is the pointer `spawn_with_state` leaked for exactly this thread.
    let start = unsafe { Box::from_raw(arg as *mut UserStart) };
    let UserStart::Regs(regs) = *start;
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
