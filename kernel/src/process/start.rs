//! How a ring-3 thread starts: a built-in program's entry on a kernel-made stack, an ELF
//! program's entry on the stack `execve` laid out, or a `clone` child resuming with its
//! parent's registers.
//!
//! Owns the hand-over from a new kernel thread to ring 3; never lets a thread reach ring 3
//! without its program counted (`live_threads`) and its state (tid, TLS) set.

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;

use uapi::Errno;

use super::{
    exec, killed_status, register, signal, unregister, Comm, Process, MAX_THREADS_PER_PROGRAM,
    USER_STACK_FRAMES,
};
use crate::arch::usermode::{self, UserRegs};
use crate::sched::{self, ThreadId, UserState};
use crate::ustack::UserStack;
use crate::{mem, mm};

/// Where a new ring-3 thread begins.
pub enum UserStart {
    /// A built-in program's thread: `rip(a0, a1, a2)` on a fresh slot stack.
    Builtin {
        rip: u64,
        args: [u64; 3],
        /// A program's first thread: its `main` arguments, copied to the top of its stack
        /// (the kernel's copy is supervisor-only); `args[1]` and `args[2]` then point at it.
        program_args: Option<&'static [&'static str]>,
        /// Its ring-3 stack, taken before the thread is created so a shortage is the
        /// caller's EAGAIN, not a thread that dies unseen.
        stack: UserStack,
    },
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
    mut start: UserStart,
    state: UserState,
) -> Result<ThreadId, &'static str> {
    {
        let mut st = p.state.lock();
        if st.live_threads >= MAX_THREADS_PER_PROGRAM {
            return Err("too many threads in this program");
        }
        st.live_threads += 1;
    }
    let mut taken = None;
    if let UserStart::Builtin { stack, .. } = &mut start {
        let Some(s) = p.with_memory(|m| m.take_stack()).flatten() else {
            p.state.lock().live_threads -= 1;
            return Err("no frames for a user stack");
        };
        *stack = s;
        taken = Some(s);
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
            if let Some(s) = taken {
                p.release_stack(s.paddr);
            }
            p.state.lock().live_threads -= 1;
            Err(e)
        }
    }
}

/// Kernel side of a new ring-3 thread: prepare what it was given and drop to ring 3.
fn user_thread_entry(arg: usize) {
    // SAFETY: `arg` is the pointer `spawn_with_state` leaked for exactly this thread.
    let start = unsafe { Box::from_raw(arg as *mut UserStart) };
    let (rip, args, program_args, stack) = match *start {
        UserStart::Regs(regs) => {
            crate::arch::set_fs_base(sched::with_user_state(|u| u.fs_base));
            usermode::enter_regs(&regs)
        }
        UserStart::Builtin {
            rip,
            args,
            program_args,
            stack,
        } => (rip, args, program_args, stack),
    };
    // For the scheduler's high-water mark: the frames, as if a guard frame lay below.
    sched::set_user_stack(stack.paddr - mem::frames::FRAME_SIZE, USER_STACK_FRAMES + 1);
    mm::zero_frames(stack.paddr, USER_STACK_FRAMES);
    let top = stack.top();
    let mut args = args;
    let mut sp = top;
    if let Some(program_args) = program_args {
        match mm::uaccess::push_str_slice(top, program_args) {
            Ok(array) => {
                args[1] = array;
                sp = array;
            }
            Err(e) => {
                log::error!("program: arguments do not fit its stack: {e:?}");
                super::exit_thread(killed_status(signal::SIGSEGV));
            }
        }
    }
    // As if `call`ed: the entry sees rsp = 8 mod 16.
    usermode::enter(rip, sp - 8, args)
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
