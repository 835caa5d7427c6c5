//! Programs (processes): one per started ring-3 program, owning its descriptor table and
//! counting its threads; the exit rule that turns program statuses into QEMU's verdict.
//!
//! A program is a `fn(&[&str]) -> i32` compiled into the kernel image (see
//! `programs::USER_PROGRAMS`) started in ring 3 by [`start`] in an address space of its own
//! (`ustack`, `mm::space`); more threads join it with [`spawn_thread`]. It ends when its last
//! thread ends (`exit`), at `exit_group`, when `main` returns, or when one of its threads
//! faults ([`user_fault`]: status 139, like a shell shows SIGSEGV). Its descriptors are closed when it ends.
//!
//! Exit rule ([`run_init`]): the machine ends when the `init=` program ends (like Linux when
//! PID 1 exits), whatever other programs still run (a test starts `services` and ends); the
//! verdict is the init program's status (0 -> success, 33; anything else -> failure, 35).
//! Other programs' statuses are logged and can be collected by their parent with
//! `program_wait` (syscall 1002).
//!
//! Never runs ring-3 code itself; never holds `files` across a sleep.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::sched::{self, ThreadId};
use crate::sync::IrqMutex;
use crate::ustack::{ProgramMemory, UserStack};
use crate::{exit, mem, wait};

/// Entry point of a built-in ring-3 program.
pub type UserMain = fn(&[&str]) -> i32;

/// Status of a program killed by a fault (128 + SIGSEGV, as a shell reports it).
pub const STATUS_KILLED: i32 = 139;
/// User stack of each ring-3 thread: 128 KiB of frames (a UDP server keeps a 64 KiB datagram
/// buffer on its stack; 64 KiB stacks overflowed into the guard page in the services test).
pub const USER_STACK_FRAMES: usize = 32;
/// Bound on ring-3 threads per program: a runaway `spawn` loop fails with EAGAIN instead of
/// eating every frame (each thread costs ~200 KiB: 128 + 64 KiB of stacks and their guards).
/// A server gives each client a thread: 256 covers the self-tests' 64 concurrent connections
/// with room to spare.
pub const MAX_THREADS_PER_PROGRAM: usize = 256;
/// Bound on programs alive at once: `program_spawn` in a loop fails with EAGAIN (as fork does
/// at RLIMIT_NPROC) instead of eating every frame; each program costs at least a thread.
pub const MAX_PROGRAMS: usize = 64;

pub struct Process {
    pub pid: u64,
    pub name: &'static str,
    /// The descriptor table shared by the program's threads (never held across a sleep):
    /// files, the console, sockets, pipes, eventfds (`files`).
    pub files: spin::Mutex<vfs::FdTable>,
    /// The working directory, held open (`O_PATH | O_DIRECTORY`); `None` without a root fs.
    pub cwd: spin::Mutex<Option<Arc<vfs::OpenFile>>>,
    state: IrqMutex<ProcState>,
    /// The program's address space and ring-3 stacks (`ustack`).
    memory: IrqMutex<ProgramMemory>,
    /// CR3 value of its address space (read by the scheduler without the lock).
    root: u64,
    /// System calls of the program running now that may hold a checked user pointer
    /// (`syscall::dispatch`): while any does, ended threads' stacks stay mapped.
    pub user_calls: AtomicUsize,
}

impl Process {
    /// Physical address of the program's top-level page table (the scheduler loads it).
    pub fn root(&self) -> u64 {
        self.root
    }

    /// A kernel stack for a new thread of this program, left by an ended one.
    pub fn take_kernel_stack(&self) -> Option<u64> {
        self.memory.lock().take_kernel_stack()
    }

    /// A thread of this program ended: keep its kernel stack (guard page at `guard`) for the
    /// next thread, or free it if the program keeps enough already.
    pub fn release_kernel_stack(&self, guard: u64) {
        let spare = self.memory.lock().release_kernel_stack(guard);
        if let Some(guard) = spare {
            sched::free_kernel_stack(guard, sched::USER_THREAD_KERNEL_STACK_FRAMES);
        }
    }

    /// A thread of this program ended: its ring-3 stack (frames at `paddr`) is kept for the
    /// next thread (see `ustack`).
    pub fn release_stack(&self, paddr: u64) {
        let referenced = self.user_calls.load(Ordering::Acquire) > 0;
        self.memory.lock().release_stack(paddr, referenced);
    }
}

struct ProcState {
    live_threads: usize,
    /// Set by `exit_group` or a fault: the program's status, and its threads must stop.
    group_status: Option<i32>,
}

static NEXT_PID: AtomicU64 = AtomicU64::new(1);
/// Programs started and not yet ended (reported when init ends).
static LIVE_PROGRAMS: AtomicUsize = AtomicUsize::new(0);
/// Ended programs whose status is kept for `program_wait` (the oldest is forgotten first: a
/// program spawning others in a loop cannot grow the table without bound).
const MAX_EXITED: usize = 1024;
/// Statuses of ended programs, by pid (kept for `program_wait`; a few bytes each).
static EXITED: IrqMutex<BTreeMap<u64, i32>> = IrqMutex::new(BTreeMap::new());
/// Pids of programs started and not yet ended.
static LIVE_PIDS: IrqMutex<BTreeSet<u64>> = IrqMutex::new(BTreeSet::new());

impl Process {
    /// Whether the program is ending (`exit_group` or a fault): its threads must not return to
    /// ring 3, and their blocking calls give up with `EINTR`.
    pub fn is_ending(&self) -> bool {
        self.state.lock().group_status.is_some()
    }
}

/// How a new ring-3 thread starts: `rip(a0, a1, a2)` on a fresh user stack.
struct UserStart {
    rip: u64,
    args: [u64; 3],
    /// A program's first thread: its `main` arguments, copied to the top of its stack (the
    /// kernel's copy is supervisor-only); `args[1]` and `args[2]` then point at that copy.
    program_args: Option<&'static [&'static str]>,
    /// Its ring-3 stack, taken before the thread is created so a shortage is the caller's
    /// EAGAIN, not a thread that dies unseen.
    stack: UserStack,
}

/// Start program `name` in ring 3: `main(args)` runs through the user runtime, whose return
/// value is the program's status.
pub fn start(
    name: &'static str,
    main: UserMain,
    args: &'static [&'static str],
) -> Result<Arc<Process>, &'static str> {
    if LIVE_PROGRAMS.load(Ordering::Acquire) >= MAX_PROGRAMS {
        return Err("too many programs");
    }
    let memory = ProgramMemory::new()?;
    let root = memory.root();
    let p = Arc::new(Process {
        pid: NEXT_PID.fetch_add(1, Ordering::Relaxed),
        name,
        files: spin::Mutex::new(crate::files::stdio_table()),
        cwd: spin::Mutex::new(crate::files::root_dir()),
        state: IrqMutex::new(ProcState {
            live_threads: 0,
            group_status: None,
        }),
        memory: IrqMutex::new(memory),
        root,
        user_calls: AtomicUsize::new(0),
    });
    LIVE_PROGRAMS.fetch_add(1, Ordering::AcqRel);
    LIVE_PIDS.lock().insert(p.pid);
    let r = spawn_user_thread(
        &p,
        UserStart {
            rip: crate::user::rt::program_start as *const () as u64,
            args: [main as usize as u64, 0, args.len() as u64],
            program_args: Some(args),
            stack: UserStack { slot: 0, paddr: 0 },
        },
    );
    if let Err(e) = r {
        LIVE_PROGRAMS.fetch_sub(1, Ordering::AcqRel);
        LIVE_PIDS.lock().remove(&p.pid);
        return Err(e);
    }
    log::info!("program {name} started (pid {})", p.pid);
    Ok(p)
}

/// Start another ring-3 thread of `p` at `rip` with arguments `args` (rdi, rsi, rdx).
pub fn spawn_thread(p: &Arc<Process>, rip: u64, args: [u64; 3]) -> Result<ThreadId, &'static str> {
    spawn_user_thread(
        p,
        UserStart {
            rip,
            args,
            program_args: None,
            stack: UserStack { slot: 0, paddr: 0 },
        },
    )
}

fn spawn_user_thread(p: &Arc<Process>, mut start: UserStart) -> Result<ThreadId, &'static str> {
    {
        let mut st = p.state.lock();
        if st.live_threads >= MAX_THREADS_PER_PROGRAM {
            return Err("too many threads in this program");
        }
        st.live_threads += 1;
    }
    let Some(stack) = p.memory.lock().take_stack() else {
        p.state.lock().live_threads -= 1;
        return Err("no frames for a user stack");
    };
    start.stack = stack;
    let start = Box::into_raw(Box::new(start));
    match sched::spawn_in(p.clone(), p.name, user_thread_entry, start as usize) {
        Ok(t) => Ok(t),
        Err(e) => {
            // SAFETY: the thread was not created, so the box is still ours alone.
            drop(unsafe { Box::from_raw(start) });
            p.release_stack(stack.paddr);
            p.state.lock().live_threads -= 1;
            Err(e)
        }
    }
}

/// Kernel side of a new ring-3 thread: prepare the user stack it was given and drop to ring 3.
fn user_thread_entry(arg: usize) {
    // SAFETY: `arg` is the pointer `spawn_thread` leaked for exactly this thread.
    let start = unsafe { Box::from_raw(arg as *mut UserStart) };
    let stack = start.stack;
    // For the scheduler's high-water mark: the frames, as if a guard frame lay below.
    sched::set_user_stack(stack.paddr - mem::frames::FRAME_SIZE, USER_STACK_FRAMES + 1);
    let bytes = USER_STACK_FRAMES * mem::frames::FRAME_SIZE as usize;
    // SAFETY: the frames are this thread's stack alone (fresh from the allocator or left by
    // an ended thread of the same program), reached here through the direct map; zeroed so
    // no stale data reaches the program and the high-water mark works.
    unsafe { core::ptr::write_bytes(mem::phys_to_virt(stack.paddr) as *mut u8, 0, bytes) };
    let top = stack.top();
    let mut args = start.args;
    let mut sp = top;
    if let Some(program_args) = start.program_args {
        match crate::mm::uaccess::push_str_slice(top, program_args) {
            Ok(array) => {
                args[1] = array;
                sp = array;
            }
            Err(e) => {
                log::error!("program: arguments do not fit its stack: {e:?}");
                exit_thread(STATUS_KILLED);
            }
        }
    }
    // As if `call`ed: the entry sees rsp = 8 mod 16.
    crate::arch::usermode::enter(start.rip, sp - 8, args)
}

/// End the running thread with `status`; the program ends with its last thread.
pub fn exit_thread(status: i32) -> ! {
    if let Some(p) = sched::current_process() {
        let last = {
            let mut st = p.state.lock();
            st.live_threads = st.live_threads.saturating_sub(1);
            (st.live_threads == 0).then(|| st.group_status.unwrap_or(status))
        };
        if let Some(status) = last {
            finish(&p, status);
        }
    }
    sched::exit()
}

/// `exit_group`: end the whole program with `status` (its other threads stop at their next
/// kernel entry or wakeup).
pub fn exit_group(status: i32) -> ! {
    if let Some(p) = sched::current_process() {
        end_group(&p, status);
    }
    exit_thread(status)
}

fn end_group(p: &Arc<Process>, status: i32) {
    let first = {
        let mut st = p.state.lock();
        let first = st.group_status.is_none();
        if first {
            st.group_status = Some(status);
        }
        first
    };
    if first {
        sched::wake_process(p);
    }
}

/// A ring-3 thread faulted: one log line, the program ends with [`STATUS_KILLED`].
pub fn user_fault(what: &str, rip: u64, cr2: Option<u64>) -> ! {
    let name = sched::current_process().map_or("?", |p| p.name);
    match cr2 {
        Some(cr2) => log::error!("program {name} killed: {what} at RIP {rip:#x} CR2 {cr2:#x}"),
        None => log::error!("program {name} killed: {what} at RIP {rip:#x}"),
    }
    if let Some(p) = sched::current_process() {
        end_group(&p, STATUS_KILLED);
    }
    exit_thread(STATUS_KILLED)
}

/// The program is over: close its descriptors, record and announce its status.
fn finish(p: &Arc<Process>, status: i32) {
    crate::files::close_all(&p.files);
    log::info!("program {} exited with status {status}", p.name);
    {
        let mut exited = EXITED.lock();
        exited.insert(p.pid, status);
        if exited.len() > MAX_EXITED {
            exited.pop_first();
        }
    }
    LIVE_PIDS.lock().remove(&p.pid);
    LIVE_PROGRAMS.fetch_sub(1, Ordering::AcqRel);
    wait::wake_all(wait::process_key(p.pid));
    wait::wake_all(wait::PROGRAMS_KEY);
}

/// Status of program `pid`, sleeping until it ends; None for a pid never started, one whose
/// status was forgotten ([`MAX_EXITED`]), or if the caller's own program is being ended.
pub fn wait(pid: u64) -> Option<i32> {
    if pid == 0 || pid >= NEXT_PID.load(Ordering::Relaxed) {
        return None;
    }
    loop {
        let key = wait::process_key(pid);
        let g = wait::generation(key);
        if let Some(&s) = EXITED.lock().get(&pid) {
            return Some(s);
        }
        if !LIVE_PIDS.lock().contains(&pid) {
            return None; // ended long ago, status forgotten
        }
        if sched::current_process().is_some_and(|p| p.is_ending()) {
            return None;
        }
        wait::sleep_on_if_unchanged(key, g, None);
    }
}

/// Start the `init=` program and wait (on the boot thread) until it ends; end QEMU with its
/// verdict (programs it started end with the machine, as everything does when Linux's PID 1
/// exits).
pub fn run_init(name: &'static str, main: UserMain, args: &'static [&'static str]) -> ! {
    let p = match start(name, main, args) {
        Ok(p) => p,
        Err(e) => exit::failure(format_args!("init={name}: {e}")),
    };
    let pid = p.pid;
    drop(p);
    let status = wait(pid);
    let (kstack, ustack) = sched::stack_high_water();
    log::debug!(
        "process: threads used at most {} KiB of kernel stack, {} KiB of user stack",
        kstack / 1024,
        ustack / 1024
    );
    let others = LIVE_PROGRAMS.load(Ordering::Acquire);
    if others > 0 {
        log::info!("init program {name} ended; {others} other program(s) end with it");
    }
    match status {
        Some(0) => {
            crate::marker!("rinet: program {name} succeeded");
            exit::success()
        }
        Some(s) => exit::failure(format_args!("program {name} exited with status {s}")),
        None => exit::failure(format_args!("program {name} vanished")),
    }
}
