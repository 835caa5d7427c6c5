//! Programs (processes) and their threads: one `Process` per running program, owning its
//! descriptor table, working directory, memory (address space + memory map, `program_memory`,
//! `mm::vma`), signal dispositions, and counting its threads; the exit rule that turns
//! program statuses into QEMU's verdict.
//!
//! A program is an ELF file of the root file system (`exec`: static, static-pie, or dynamic
//! through its interpreter), started by the kernel as init ([`run_init_elf`]) or by another
//! program through `clone(CLONE_VM | CLONE_VFORK)` + `execve` (`clone`), as libcs'
//! `posix_spawn` does. Threads come from `clone(CLONE_THREAD)` (`clone`), sleep on futexes
//! (`futex`), and end with `exit` (waking their tid word).
//!
//! A program ends when its last thread ends, at `exit_group`, or when one of its threads
//! faults ([`user_fault`]: killed by SIGSEGV, status 139 as a shell shows it). Statuses are
//! kept in Linux's wait encoding for `wait4`; its descriptors are closed and its memory freed
//! when it ends.
//!
//! Exit rule ([`run_init_elf`]): the machine ends when the `init=` program ends
//! (like Linux when PID 1 exits), whatever other programs still run; the verdict is the init
//! program's status (0 -> success, 33; anything else -> failure, 35).
//!
//! Never runs ring-3 code itself; never holds `files` or the memory lock across a sleep.

use alloc::collections::BTreeMap;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use uapi::Errno;

use crate::mm::kstack::SpareStack;
use crate::program_memory::ProgramMemory;
use crate::sched;
use crate::sync::IrqMutex;
use crate::{exit, wait};

pub mod clone;
pub mod exec;
pub mod futex;
pub mod memory;
pub mod signal;
mod start;
pub use start::start_elf;

/// Status of a program killed by a fault (128 + SIGSEGV, as a shell reports it).
pub const STATUS_KILLED: i32 = 139;
/// Bound on ring-3 threads per program: a runaway `spawn` loop fails with EAGAIN instead of
/// eating every frame (each thread costs ~200 KiB: 128 + 64 KiB of stacks and their guards).
/// A server gives each client a thread: 256 covers the self-tests' 64 concurrent connections
/// with room to spare.
pub const MAX_THREADS_PER_PROGRAM: usize = 256;
/// Threads per program whose kernel stacks may come from the kernel's reserve when nothing
/// else is left (see `sched::spawn_inner`).
pub const MIN_THREADS_GUARANTEED: usize = 16;
/// Bound on programs alive at once: `program_spawn` in a loop fails with EAGAIN (as fork does
/// at RLIMIT_NPROC) instead of eating every frame; each program costs at least a thread.
pub const MAX_PROGRAMS: usize = 64;

/// A program's name: the file name it was started from, up to [`Comm::MAX`] bytes for the
/// kernel's log lines (Linux's `comm`, as `prctl(PR_GET_NAME)` and /proc show it, is its first
/// 15 bytes).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Comm {
    bytes: [u8; Comm::MAX],
    len: u8,
}

impl Comm {
    pub const MAX: usize = 32;

    pub fn new(name: &[u8]) -> Comm {
        let mut bytes = [0u8; Comm::MAX];
        let n = name.len().min(Comm::MAX);
        bytes[..n].copy_from_slice(&name[..n]);
        Comm {
            bytes,
            len: n as u8,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

impl core::fmt::Display for Comm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for &b in self.as_bytes() {
            let c = if b.is_ascii_graphic() { b as char } else { '?' };
            core::fmt::Write::write_char(f, c)?;
        }
        Ok(())
    }
}

impl core::fmt::Debug for Comm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(self, f)
    }
}

pub struct Process {
    pub pid: u64,
    /// The parent's pid (0 for init and the kernel's own programs).
    pub ppid: u64,
    comm: IrqMutex<Comm>,
    /// The descriptor table shared by the program's threads (never held across a sleep):
    /// files, the console, sockets, pipes, eventfds (`files`).
    pub files: spin::Mutex<vfs::FdTable>,
    /// The working directory, held open (`O_PATH | O_DIRECTORY`); `None` without a root fs.
    pub cwd: spin::Mutex<Option<Arc<vfs::OpenFile>>>,
    state: IrqMutex<ProcState>,
    /// The program's address space, memory map and ring-3 stacks (`program_memory`, `mm::vma`);
    /// `None` for a `vfork` child until its `execve`: it runs in its parent's memory.
    memory: IrqMutex<Option<ProgramMemory>>,
    /// A `vfork` child's parent, sleeping until the child calls `execve` or ends.
    vfork_parent: IrqMutex<Option<Arc<Process>>>,
    /// CR3 value of its address space (read by the scheduler without the lock).
    root: AtomicU64,
    /// Signal dispositions (`rt_sigaction`): handler, flags, restorer, mask per signal.
    pub sigactions: spin::Mutex<[signal::SigAction; signal::NSIG]>,
    /// What /proc/<pid>/exe and /proc/<pid>/cmdline show (set by `execve`).
    pub exec_info: spin::Mutex<ExecInfo>,
    /// When the program started, for /proc/<pid>/stat's `starttime`.
    pub started: net::time::Instant,
    /// Signals sent to the program or to one of its threads, not delivered yet.
    pub sigpending: IrqMutex<signal::pending::Pending>,
    /// CPU time its threads used, in ring 3 and in the kernel (/proc/<pid>/stat).
    pub cpu_time: crate::cputime::ProgramTimes,
    /// What its reaped children (and theirs) used (`RUSAGE_CHILDREN`, `times`' cutime).
    pub children_usage: IrqMutex<crate::cputime::Usage>,
    /// The largest resident size and the faults of the images `execve` replaced, in pages.
    pub replaced_usage: IrqMutex<(usize, u64)>,
}

/// The program file and arguments a program was started with, as /proc shows them.
#[derive(Clone, Default)]
pub struct ExecInfo {
    /// The program's path as `execve` was given it, made absolute when it could be.
    pub exe: Vec<u8>,
    /// The arguments, each followed by a NUL (at most [`ExecInfo::CMDLINE_MAX`] bytes kept).
    pub cmdline: Vec<u8>,
}

impl ExecInfo {
    /// Bytes of arguments kept for /proc/<pid>/cmdline (Linux shows them all; a page is what
    /// `ps` needs).
    pub const CMDLINE_MAX: usize = 4096;

    /// The record for a program started from `path` with `argv` (allocation failures leave
    /// the fields short, never fail the start).
    pub fn new(path: &[u8], argv: &[Vec<u8>]) -> ExecInfo {
        let mut exe = Vec::new();
        if exe.try_reserve_exact(path.len() + 1).is_ok() {
            if path.first() != Some(&b'/') {
                exe.push(b'/');
            }
            exe.extend_from_slice(path);
        }
        let mut cmdline = Vec::new();
        for arg in argv {
            let room = Self::CMDLINE_MAX.saturating_sub(cmdline.len());
            let take = (arg.len() + 1).min(room);
            if take == 0 || cmdline.try_reserve(take).is_err() {
                break;
            }
            cmdline.extend_from_slice(&arg[..take - 1]);
            cmdline.push(0);
        }
        ExecInfo { exe, cmdline }
    }
}

impl Process {
    /// Physical address of the program's top-level page table (the scheduler loads it).
    pub fn root(&self) -> u64 {
        self.root.load(Ordering::Acquire)
    }

    /// The program's name (`comm`).
    pub fn name(&self) -> Comm {
        *self.comm.lock()
    }

    /// What the program itself has used so far (`RUSAGE_SELF`); `running`: the caller is
    /// its running thread (whose time since its last switch is counted too). Only its own
    /// memory counts: a vfork child borrowing its parent's reports none of the parent's.
    pub fn usage(&self, running: bool) -> crate::cputime::Usage {
        let (user_ns, system_ns) = self.cpu_time.get(running);
        let (replaced_peak, replaced_faults) = *self.replaced_usage.lock();
        let (peak, faults) = self
            .memory
            .lock()
            .as_ref()
            .map_or((0, 0), |m| (m.map().peak_committed, m.map().faults));
        let (voluntary_switches, involuntary_switches) = self.cpu_time.switches();
        crate::cputime::Usage {
            user_ns,
            system_ns,
            peak_pages: peak.max(replaced_peak),
            minor_faults: faults.saturating_add(replaced_faults),
            voluntary_switches,
            involuntary_switches,
        }
    }

    /// Run `f` on the program's memory (its vfork parent's while it borrows that).
    pub fn with_memory<R>(&self, f: impl FnOnce(&mut ProgramMemory) -> R) -> Option<R> {
        {
            let mut m = self.memory.lock();
            if let Some(m) = m.as_mut() {
                return Some(f(m));
            }
        }
        let parent = self.vfork_parent.lock().clone()?;
        parent.with_memory(f)
    }

    /// A kernel stack for a new thread of this program, left by an ended one.
    pub fn take_kernel_stack(&self) -> Option<SpareStack> {
        self.memory.lock().as_mut()?.take_kernel_stack()
    }

    /// A thread of this program ended: keep its kernel stack for the next thread, or free it
    /// if the program keeps enough already.
    pub fn release_kernel_stack(&self, stack: SpareStack) {
        let spare = match self.memory.lock().as_mut() {
            Some(m) => m.release_kernel_stack(stack),
            None => Some(stack),
        };
        if let Some(stack) = spare {
            stack.free();
        }
    }

    /// Threads of the program alive now.
    pub fn thread_count(&self) -> usize {
        self.state.lock().live_threads
    }

    /// Whether the program is ending (`exit_group` or a fault): its threads must not return to
    /// ring 3, and their blocking calls give up with `EINTR`.
    pub fn is_ending(&self) -> bool {
        self.state.lock().group_status.is_some()
    }

    fn new(
        comm: Comm,
        ppid: u64,
        memory: Option<ProgramMemory>,
        root: u64,
        files: vfs::FdTable,
        cwd: Option<Arc<vfs::OpenFile>>,
    ) -> Process {
        Process {
            pid: NEXT_PID.fetch_add(1, Ordering::Relaxed),
            ppid,
            comm: IrqMutex::new(comm),
            files: spin::Mutex::new(files),
            cwd: spin::Mutex::new(cwd),
            state: IrqMutex::new(ProcState {
                live_threads: 0,
                group_status: None,
            }),
            memory: IrqMutex::new(memory),
            vfork_parent: IrqMutex::new(None),
            root: AtomicU64::new(root),
            sigactions: spin::Mutex::new([signal::SigAction::default(); signal::NSIG]),
            exec_info: spin::Mutex::new(ExecInfo::default()),
            started: crate::time::now(),
            sigpending: IrqMutex::new(signal::pending::Pending::default()),
            cpu_time: crate::cputime::ProgramTimes::default(),
            children_usage: IrqMutex::new(crate::cputime::Usage::default()),
            replaced_usage: IrqMutex::new((0, 0)),
        }
    }
}

struct ProcState {
    live_threads: usize,
    /// Set by `exit_group` or a fault: the program's wait status (Linux's encoding), and its
    /// threads must stop.
    group_status: Option<i32>,
}

static NEXT_PID: AtomicU64 = AtomicU64::new(1);
/// Programs started and not yet ended (reported when init ends).
static LIVE_PROGRAMS: AtomicUsize = AtomicUsize::new(0);
/// Ended programs whose status is kept for `wait4`/`program_wait` (the oldest is forgotten
/// first: a program spawning others in a loop cannot grow the table without bound).
const MAX_EXITED: usize = 1024;
/// An ended program's record until its parent reaps it.
struct Exited {
    ppid: u64,
    status: i32,
    /// Its own usage and its reaped children's (what `wait4` reports and the parent adds to
    /// its `RUSAGE_CHILDREN`, as Linux's `wait_task_zombie` does).
    usage: crate::cputime::Usage,
}

/// Ended programs by pid (a few dozen bytes each).
static EXITED: IrqMutex<BTreeMap<u64, Exited>> = IrqMutex::new(BTreeMap::new());
/// Programs started and not yet ended: pid -> parent's pid.
static LIVE_PIDS: IrqMutex<BTreeMap<u64, u64>> = IrqMutex::new(BTreeMap::new());
/// Programs started and not yet ended, for /proc: pid -> the program.
static LIVE: IrqMutex<BTreeMap<u64, Weak<Process>>> = IrqMutex::new(BTreeMap::new());

/// The live program with pid `pid`.
pub fn live(pid: u64) -> Option<Arc<Process>> {
    LIVE.lock().get(&pid).and_then(Weak::upgrade)
}

/// The pids of the live programs, in increasing order (`None` without memory for the list).
pub fn live_pids() -> Option<Vec<u64>> {
    let table = LIVE.lock();
    let mut out = Vec::new();
    out.try_reserve_exact(table.len()).ok()?;
    out.extend(table.keys().copied());
    Some(out)
}

/// Programs alive now.
pub fn live_programs() -> usize {
    LIVE_PROGRAMS.load(Ordering::Acquire)
}

/// Programs created since boot (/proc/stat's `processes`: Linux counts forks).
pub fn programs_created() -> u64 {
    NEXT_PID.load(Ordering::Relaxed) - 1
}

/// Linux's wait status of a program that called `exit(code)`.
pub fn exited_status(code: i32) -> i32 {
    (code & 0xff) << 8
}

/// The wait status's core-dump bit (WCOREDUMP), set for the signals whose default action
/// dumps core (SIGSEGV, SIGABRT, ...): rinet writes no core file, the status still says so.
pub const CORE_DUMPED: i32 = 0x80;

/// Linux's wait status of a program killed by signal `sig`.
pub fn killed_status(sig: i32) -> i32 {
    sig & 0x7f
}

/// The status a shell shows for wait status `w`: the exit code, or 128 + the signal.
pub fn shell_status(w: i32) -> i32 {
    if w & 0x7f == 0 {
        (w >> 8) & 0xff
    } else {
        128 + (w & 0x7f)
    }
}

/// Register a new program (counted, its pid live) before its first thread starts.
fn register(p: &Arc<Process>) -> Result<(), &'static str> {
    if LIVE_PROGRAMS.load(Ordering::Acquire) >= MAX_PROGRAMS {
        return Err("too many programs");
    }
    LIVE_PROGRAMS.fetch_add(1, Ordering::AcqRel);
    LIVE_PIDS.lock().insert(p.pid, p.ppid);
    LIVE.lock().insert(p.pid, Arc::downgrade(p));
    Ok(())
}

fn unregister(p: &Arc<Process>) {
    LIVE_PROGRAMS.fetch_sub(1, Ordering::AcqRel);
    LIVE_PIDS.lock().remove(&p.pid);
    LIVE.lock().remove(&p.pid);
}

/// End the running thread; `status` (a wait status) is the program's if this is its last
/// thread and no `exit_group` or fault set one. The thread's tid word (`set_tid_address`,
/// `CLONE_CHILD_CLEARTID`) is zeroed and woken first, as Linux does for `pthread_join`.
pub fn exit_thread(status: i32) -> ! {
    if let Some(p) = sched::current_process() {
        let (clear, tid) =
            sched::with_user_state(|u| (core::mem::take(&mut u.clear_child_tid), u.tid));
        signal::pending::clear(&p, Some(tid));
        if clear != 0 && !p.is_ending() && crate::mm::uaccess::write(clear, 0u32).is_ok() {
            futex::wake(&p, clear, u32::MAX);
        }
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

/// `exit_group`: end the whole program with wait status `status` (its other threads stop
/// at their next kernel entry or wakeup).
pub fn exit_group(status: i32) -> ! {
    if let Some(p) = sched::current_process() {
        end_group(&p, status);
    }
    exit_thread(status)
}

/// Programs whose group status is set (`exit_group` or a fault) and that have not finished:
/// while there are none, a system call's return skips looking up whether its own program is
/// ending.
static ENDING_PROGRAMS: AtomicUsize = AtomicUsize::new(0);

/// Whether any program is ending (then its threads must stop at their next kernel exit).
pub fn any_program_ending() -> bool {
    ENDING_PROGRAMS.load(Ordering::Acquire) > 0
}

fn end_group(p: &Arc<Process>, status: i32) {
    let first = {
        let mut st = p.state.lock();
        let first = st.group_status.is_none();
        if first {
            st.group_status = Some(status);
            ENDING_PROGRAMS.fetch_add(1, Ordering::AcqRel);
        }
        first
    };
    if first {
        sched::wake_process(p);
    }
}

/// A ring-3 thread faulted: one log line, the program ends killed by SIGSEGV (a shell shows
/// [`STATUS_KILLED`]).
pub fn user_fault(what: &str, rip: u64, cr2: Option<u64>) -> ! {
    user_fault_sig(signal::SIGSEGV, what, rip, cr2)
}

/// A ring-3 thread faulted and has no handler for `sig` (or it is blocked): one log line, the
/// program ends killed by `sig`, with the core bit as Linux's default action sets it.
pub fn user_fault_sig(sig: i32, what: &str, rip: u64, cr2: Option<u64>) -> ! {
    let p = sched::current_process();
    let name = p.as_ref().map(|p| p.name());
    let name: &dyn core::fmt::Display = match &name {
        Some(n) => n,
        None => &"?",
    };
    match cr2 {
        Some(cr2) => log::error!("program {name} killed: {what} at RIP {rip:#x} CR2 {cr2:#x}"),
        None => log::error!("program {name} killed: {what} at RIP {rip:#x}"),
    }
    let status = killed_status(sig) | CORE_DUMPED;
    if let Some(p) = p {
        end_group(&p, status);
    }
    exit_thread(status)
}

/// The program is over: close its descriptors, free its memory, record and announce its
/// status, release a vfork parent.
fn finish(p: &Arc<Process>, status: i32) {
    if p.state.lock().group_status.is_some() {
        ENDING_PROGRAMS.fetch_sub(1, Ordering::AcqRel);
    }
    signal::pending::clear(p, None);
    crate::files::close_all(&p.files);
    // What its sockets and files held may have emptied heap arenas: back to the frames.
    crate::mem::heap::trim();
    log::info!(
        "program {} exited with status {}",
        p.name(),
        shell_status(status)
    );
    let mut usage = p.usage(true);
    usage.absorb(&p.children_usage.lock());
    release_vfork_parent(p);
    {
        let mut exited = EXITED.lock();
        exited.insert(
            p.pid,
            Exited {
                ppid: p.ppid,
                status,
                usage,
            },
        );
        if exited.len() > MAX_EXITED {
            exited.pop_first();
        }
    }
    unregister(p);
    wait::wake_all(wait::process_key(p.pid));
    wait::wake_all(wait::process_key(p.ppid));
    wait::wake_all(wait::PROGRAMS_KEY);
}

/// A vfork child stops borrowing its parent's memory (at `execve` or its end): the parent,
/// sleeping in `clone`, goes on.
fn release_vfork_parent(p: &Process) {
    if let Some(parent) = p.vfork_parent.lock().take() {
        wait::wake_all(vfork_key(parent.pid));
    }
}

/// The key a vfork parent sleeps on.
fn vfork_key(parent: u64) -> u64 {
    wait::process_key(parent) ^ (1 << 61)
}

/// Shell status of program `pid`, sleeping until it ends; None for a pid never started, one
/// whose status was forgotten ([`MAX_EXITED`]), or if the caller's own program is being ended.
pub fn wait(pid: u64) -> Option<i32> {
    if pid == 0 || pid >= NEXT_PID.load(Ordering::Relaxed) {
        return None;
    }
    loop {
        let key = wait::process_key(pid);
        let g = wait::generation(key);
        if let Some(e) = EXITED.lock().get(&pid) {
            return Some(shell_status(e.status));
        }
        if !LIVE_PIDS.lock().contains_key(&pid) {
            return None; // ended long ago, status forgotten
        }
        if sched::current_process().is_some_and(|p| p.is_ending()) {
            return None;
        }
        wait::sleep_on_if_unchanged(key, g, None);
    }
}

/// A reaped child: its pid, wait status and usage (its own and its reaped children's).
pub type Reaped = (u64, i32, crate::cputime::Usage);

/// `wait4`: a child of `parent` that ended (`pid` > 0: that one; -1: any), reaped: its pid,
/// wait status and usage, which is added to the parent's `RUSAGE_CHILDREN`. `Ok(None)` with
/// `nohang` while children live but none ended.
pub fn wait_child(parent: &Process, pid: i64, nohang: bool) -> Result<Option<Reaped>, Errno> {
    if pid == 0 || pid < -1 {
        // Process groups: every program is in one group, its own; "any child" is the
        // closest meaning.
    }
    loop {
        let key = wait::process_key(parent.pid);
        let g = wait::generation(key);
        {
            let mut exited = EXITED.lock();
            let found = exited
                .iter()
                .find(|(&c, e)| e.ppid == parent.pid && (pid <= 0 || c == pid as u64))
                .map(|(&c, _)| c);
            if let Some(e) = found.and_then(|c| exited.remove(&c)) {
                drop(exited);
                parent.children_usage.lock().absorb(&e.usage);
                return Ok(found.map(|c| (c, e.status, e.usage)));
            }
        }
        let has_child = LIVE_PIDS
            .lock()
            .iter()
            .any(|(&c, &pp)| pp == parent.pid && (pid <= 0 || c == pid as u64));
        if !has_child {
            return Err(Errno::ECHILD);
        }
        if nohang {
            return Ok(None);
        }
        if parent.is_ending() {
            return Err(Errno::EINTR);
        }
        wait::sleep_on_if_unchanged(key, g, None);
    }
}

/// Wait (on the boot thread) until init program `pid` ends; end QEMU with its verdict
/// (programs it started end with the machine, as everything does when Linux's PID 1 exits).
fn await_init(name: &dyn core::fmt::Display, pid: u64) -> ! {
    let status = wait(pid);
    log::debug!(
        "process: threads used at most {} KiB of kernel stack",
        sched::stack_high_water() / 1024
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

/// Run the ELF file at `path` from the root file system as init (pid 1's role) with `argv`
/// and the default environment, and wait until it ends.
pub fn run_init_elf(name: &str, path: &str, argv: &[&str]) -> ! {
    let argv: Vec<Vec<u8>> = argv.iter().map(|a| a.as_bytes().to_vec()).collect();
    let envp: Vec<Vec<u8>> = exec::DEFAULT_ENV
        .iter()
        .map(|e| e.as_bytes().to_vec())
        .collect();
    let p = match start::start_elf(path.as_bytes(), &argv, &envp) {
        Ok(p) => p,
        Err(e) => exit::failure(format_args!("init={path}: {}", e.name())),
    };
    let pid = p.pid;
    drop(p);
    await_init(&name, pid)
}
