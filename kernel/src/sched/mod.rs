//! Kernel threads and the scheduler (one CPU).
//!
//! Owns the thread table, the run queue, the context switch and the idle thread. Each thread
//! has its own kernel stack (`mm::kstack`: frames, with an unmapped guard page below; the boot
//! stack for the `main` thread). The switch (`arch::context`) saves the callee-saved registers
//! and `rsp` on the old stack.
//!
//! Policy: cooperative in the kernel — a thread runs until it yields, blocks, sleeps or exits —
//! and preemptive only for ring-3 code: when another thread is ready the one-shot timer is
//! armed for a time slice ([`TIME_SLICE`]); an interrupt that arrives in ring 3 lets the next
//! ready thread run, and one that arrives in the kernel, or a wakeup, marks a reschedule that
//! the system call return path performs. Kernel code is therefore never preempted, so kernel
//! state behind plain spin locks is never contended on this single CPU.
//!
//! Which ready thread runs next is [`runq`]'s: a woken kernel thread first, then the thread
//! that has used the least CPU. Each thread's CPU time is charged to its virtual runtime; a
//! thread waking from a sleep is brought up to half a slice behind the thread it competes
//! with ([`Sched::wake_floor`]), so it runs before a busy one (which then yields at its next
//! kernel exit, wakeup preemption), and the busy one gets its share back as the others use
//! CPU: a program that computes without a pause cannot hold the network or another program
//! to one turn per time slice.
//!
//! The scheduler owns the LAPIC one-shot timer: it is armed for the earliest blocked thread's
//! deadline (and the time slice). Code that needs a wakeup at a deadline sleeps with one
//! (`sleep_until`, `wait::sleep_on(key, Some(deadline))`). The idle thread runs when nothing
//! else is ready: interrupts off, check, arm, `sti; hlt`.
//!
//! Never allocates in [`wake_key`] (callable from interrupt handlers): the run queue keeps
//! capacity for every thread.

mod runq;

use alloc::boxed::Box;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use net::time::{Duration, Instant};
use x86_64::instructions::interrupts;

use crate::arch::context::{self, Context};
use crate::cputime::{self, Outgoing};
use crate::loadavg::Load;
use crate::mm::kstack::{KernelStack, SpareStack, StackFor};
use crate::process::Process;
use crate::sync::IrqMutex;
use crate::vecmap::VecMap;
use crate::{arch, time};
use runq::RunQueue;

/// Kernel stack of a kernel thread: 128 KiB (an unoptimised build's deepest path, the virtio
/// probe, was measured at ~116 KiB on the boot stack; the network path is shallower).
pub const KERNEL_STACK_FRAMES: usize = 32;
/// Kernel stack of a ring-3 thread, used only by its system calls and interrupts: 64 KiB
/// (an unoptimised build's socket self-tests measured under 4 KiB; servers run hundreds of
/// these threads, so they are kept small).
pub const USER_THREAD_KERNEL_STACK_FRAMES: usize = 16;
/// Time slice of a ring-3 thread while other threads are ready.
pub const TIME_SLICE: Duration = Duration::from_millis(10);

/// A thread's identity (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ThreadId(pub u64);

/// Why a blocked thread runs again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeReason {
    /// A `wait::wake_all` on one of its keys (or the key changed before it slept).
    Woken,
    /// Its deadline passed.
    TimedOut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Ready,
    Running,
    Blocked,
    Dead,
}

struct Thread {
    name: &'static str,
    /// Saved context while not running.
    ctx: Context,
    /// Kernel stack (None: the boot stack, never freed).
    stack: Option<KernelStack>,
    /// The stack was zeroed at creation, so its high-water mark can be read at exit.
    stack_measured: bool,
    kstack_top: u64,
    state: State,
    /// Wait keys the thread is blocked on (capacity kept; cleared on wakeup).
    keys: Vec<u64>,
    deadline: Option<Instant>,
    reason: WakeReason,
    process: Option<Arc<Process>>,
    /// What a ring-3 thread's system calls set for it (TLS base, tid word, signal mask).
    user: UserState,
    /// x87/SSE registers of a ring-3 thread while it is switched out (kernel threads have
    /// none: the kernel does not use them).
    fpu: Option<Box<arch::fpu::FpuState>>,
    /// Set by [`wake_process`] while the thread was not blocked: its next `block` returns at
    /// once, so a kill or a signal sent between a blocking call's check and its sleep is not
    /// lost.
    kicked: bool,
    /// (user, system) CPU nanoseconds it ran up to its last switch away (`cputime`).
    cpu_ns: (u64, u64),
    /// (voluntary, involuntary) switches away from it (`RUSAGE_THREAD`'s `ru_nvcsw`,
    /// `ru_nivcsw`).
    switches: (u64, u64),
    /// Since when the CPU time it runs is charged to [`Thread::vruntime`].
    on_cpu_since: Instant,
    /// Virtual runtime (ns): the CPU time it used, advanced to near the others' when it wakes
    /// from a sleep ([`Sched::wake_floor`]); the run queue picks the smallest.
    vruntime: u64,
}

/// Per-thread state of a ring-3 thread that the kernel keeps for its system calls.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserState {
    /// The thread id programs see (`gettid`; the pid for a program's first thread).
    pub tid: u64,
    /// FS base (`arch_prctl(ARCH_SET_FS)`, `clone(CLONE_SETTLS)`): loaded at every switch.
    pub fs_base: u64,
    /// `set_tid_address` / `CLONE_CHILD_CLEARTID`: zeroed and futex-woken at thread exit.
    pub clear_child_tid: u64,
    /// Blocked signals (`rt_sigprocmask`).
    pub sigmask: u64,
    /// `sigaltstack`: ss_sp, ss_flags, ss_size.
    pub altstack: [u64; 3],
    /// The mask `rt_sigsuspend` replaced: the handler's frame keeps it (so its return puts it
    /// back), or it comes back at once if no handler runs.
    pub saved_sigmask: Option<u64>,
}

struct Sched {
    threads: VecMap<Box<Thread>>,
    runq: RunQueue,
    current: u64,
    idle: u64,
    next_id: u64,
    zombies: Vec<u64>,
    /// Follows the number of threads ready or running, idle aside (/proc/loadavg).
    load: Load,
    /// Smallest virtual runtime among the threads ready at the last switch and the one that
    /// gave up the CPU there (never decreases).
    min_vruntime: u64,
}

static SCHED: IrqMutex<Option<Sched>> = IrqMutex::new(None);

/// Turn the boot context into thread `main` and create the idle thread. Call once, with the
/// heap and frames up.
pub fn init() {
    let mut s = Sched {
        threads: VecMap::new(),
        runq: RunQueue::with_capacity(16),
        current: 1,
        idle: 0,
        next_id: 2,
        zombies: Vec::with_capacity(16),
        // `main`, running.
        load: Load::new(1),
        min_vruntime: 0,
    };
    let boot_top = {
        extern "C" {
            static boot_stack_top: u8;
        }
        core::ptr::addr_of!(boot_stack_top) as u64
    };
    s.threads.insert(
        1,
        Box::new(Thread {
            name: "main",
            ctx: Context::empty(),
            stack: None,
            stack_measured: false,
            kstack_top: boot_top,
            state: State::Running,
            keys: Vec::new(),
            deadline: None,
            reason: WakeReason::Woken,
            process: None,
            user: UserState::default(),
            fpu: None,
            kicked: false,
            cpu_ns: (0, 0),
            switches: (0, 0),
            on_cpu_since: Instant::ZERO,
            vruntime: 0,
        }),
    );
    *SCHED.lock() = Some(s);
    let idle = spawn_inner("idle", idle_loop, 0, None, false, KERNEL_STACK_FRAMES)
        .expect("idle thread at boot");
    if let Some(s) = SCHED.lock().as_mut() {
        s.idle = idle.0;
    }
    log::info!("sched: threads up (cooperative kernel, {TIME_SLICE:?} slices for ring 3)");
}

/// Start a kernel thread running `entry(arg)`; it ends when `entry` returns or calls [`exit`].
pub fn spawn(name: &'static str, entry: fn(usize), arg: usize) -> Result<ThreadId, &'static str> {
    spawn_inner(name, entry, arg, None, true, KERNEL_STACK_FRAMES)
}

/// Like [`spawn`], for a thread of `process` (its ring-3 side is started by `entry`).
pub fn spawn_in(
    process: Arc<Process>,
    name: &'static str,
    entry: fn(usize),
    arg: usize,
) -> Result<ThreadId, &'static str> {
    spawn_inner(
        name,
        entry,
        arg,
        Some(process),
        true,
        USER_THREAD_KERNEL_STACK_FRAMES,
    )
}

fn spawn_inner(
    name: &'static str,
    entry: fn(usize),
    arg: usize,
    process: Option<Arc<Process>>,
    ready: bool,
    frames: usize,
) -> Result<ThreadId, &'static str> {
    // Room in the thread table first, so no later step can fail after the stack is taken.
    SCHED
        .lock()
        .as_mut()
        .ok_or("sched::init has not run")?
        .threads
        .try_reserve(1)
        .map_err(|_| "no memory for the thread table")?;
    let reused = process
        .as_ref()
        .filter(|_| frames == USER_THREAD_KERNEL_STACK_FRAMES)
        .and_then(|p| p.take_kernel_stack());
    // An ended thread's stack, kept by its program (guard still unmapped; zeroed below).
    let spare = match reused {
        Some(spare) => spare,
        None => {
            // A program's first threads may take their kernel stacks from the kernel's reserve
            // (as its first pages may, `mm::vma`).
            let charge = match &process {
                None => StackFor::Kernel,
                Some(p) => StackFor::Program {
                    small: p.thread_count() <= crate::process::MIN_THREADS_GUARANTEED,
                },
            };
            SpareStack::alloc(frames, charge, name)?
        }
    };
    // Zeroed (when measuring) so the high-water mark can be found at exit.
    let measured = measures_stacks();
    let (stack, ctx) = context::new_thread(spare, measured, thread_start, entry, arg);
    let top = stack.top();
    let fpu = process.is_some().then(arch::fpu::FpuState::initial);
    let thread = Box::new(Thread {
        name,
        ctx,
        stack: Some(stack),
        stack_measured: measured,
        kstack_top: top,
        state: if ready { State::Ready } else { State::Blocked },
        keys: Vec::with_capacity(4),
        deadline: None,
        reason: WakeReason::Woken,
        process,
        user: UserState::default(),
        fpu,
        kicked: false,
        cpu_ns: (0, 0),
        switches: (0, 0),
        on_cpu_since: Instant::ZERO,
        vruntime: 0,
    });
    let mut guard = SCHED.lock();
    let s = guard.as_mut().ok_or("sched::init has not run")?;
    let id = s.next_id;
    s.next_id += 1;
    s.threads.insert(id, thread);
    // Capacity for every thread: `wake_key` never allocates.
    let need = s.threads.len() + 1;
    s.runq.reserve(need);
    if s.zombies.capacity() < need {
        s.zombies.reserve(need - s.zombies.len());
    }
    if ready {
        // The running thread had the CPU to itself, so no time slice is armed: arm one, or a
        // busy creator would keep the new thread from ever running (Linux's new task, too,
        // waits at most a slice). The creator itself goes on: no switch at every spawn.
        let now = time::now();
        if s.runq.is_empty() && s.current != s.idle {
            time::set_deadline(now + TIME_SLICE);
        }
        let floor = s.wake_floor(now);
        if let Some(t) = s.threads.get_mut(&id) {
            t.vruntime = floor;
        }
        s.runq.push(id);
        s.load.change(now.as_nanos(), true);
    }
    Ok(ThreadId(id))
}

/// Where a new thread begins (called by `arch::context`'s trampoline with what `spawn_inner`
/// laid out). `fn(usize)` is not an FFI type, but only Rust code makes and calls it here: the
/// trampoline merely passes the pointer `spawn_inner` laid out.
#[allow(improper_ctypes_definitions)]
extern "C" fn thread_start(entry: fn(usize), arg: usize) -> ! {
    reap();
    interrupts::enable();
    entry(arg);
    exit()
}

/// The running thread.
pub fn current() -> ThreadId {
    ThreadId(SCHED.lock().as_ref().map_or(0, |s| s.current))
}

/// Name of the running thread.
pub fn current_name() -> &'static str {
    SCHED
        .lock()
        .as_ref()
        .and_then(|s| s.threads.get(&s.current).map(|t| t.name))
        .unwrap_or("?")
}

/// The process the running thread belongs to (None for kernel threads).
/// The pid of the running thread's program (0 for a kernel thread), without the scheduler's
/// lock: `getpid`'s whole work.
pub fn current_pid() -> u64 {
    CURRENT_PID.load(Ordering::Relaxed)
}

/// [`current_pid`], set at every switch (our single CPU runs one thread at a time).
static CURRENT_PID: AtomicU64 = AtomicU64::new(0);

pub fn current_process() -> Option<Arc<Process>> {
    let g = SCHED.lock();
    let s = g.as_ref()?;
    s.threads.get(&s.current)?.process.clone()
}

/// Let every other ready thread run once, then continue.
pub fn yield_now() {
    let were = interrupts::are_enabled();
    interrupts::disable();
    reschedule();
    if were {
        interrupts::enable();
    }
}

/// Whether another thread is waiting for the CPU.
pub fn others_ready() -> bool {
    SCHED.lock().as_ref().is_some_and(|s| !s.runq.is_empty())
}

/// End the running thread. Its stacks are freed by the next thread to run.
pub fn exit() -> ! {
    interrupts::disable();
    {
        let mut g = SCHED.lock();
        if let Some(s) = g.as_mut() {
            let cur = s.current;
            if let Some(t) = s.threads.get_mut(&cur) {
                t.state = State::Dead;
            }
            s.zombies.push(cur);
            s.load.change(time::now().as_nanos(), false);
        }
    }
    reschedule();
    unreachable!("a dead thread was scheduled again")
}

/// Sleep until `deadline` (returns at once if it has passed).
pub fn sleep_until(deadline: Instant) {
    while time::now() < deadline {
        if block(&[], Some(deadline), |_| true) == WakeReason::TimedOut {
            break;
        }
    }
}

/// Block the running thread on `keys` until one is woken (`wake_key`) or `deadline` passes.
/// `still_valid` runs with interrupts off just before blocking (the generation check of
/// `wait`): if it returns false the thread does not sleep and `Woken` is returned.
pub fn block(
    keys: &[u64],
    deadline: Option<Instant>,
    still_valid: impl FnOnce(&[u64]) -> bool,
) -> WakeReason {
    let were = interrupts::are_enabled();
    interrupts::disable();
    let reason = 'out: {
        if !still_valid(keys) {
            break 'out WakeReason::Woken;
        }
        if deadline.is_some_and(|d| time::now() >= d) {
            break 'out WakeReason::TimedOut;
        }
        {
            let mut g = SCHED.lock();
            let Some(s) = g.as_mut() else {
                break 'out WakeReason::Woken;
            };
            let cur = s.current;
            let Some(t) = s.threads.get_mut(&cur) else {
                break 'out WakeReason::Woken;
            };
            if core::mem::take(&mut t.kicked) {
                break 'out WakeReason::Woken;
            }
            t.keys.clear();
            t.keys.extend_from_slice(keys);
            t.deadline = deadline;
            t.state = State::Blocked;
            t.reason = WakeReason::Woken;
            s.load.change(time::now().as_nanos(), false);
        }
        reschedule();
        let g = SCHED.lock();
        g.as_ref()
            .and_then(|s| s.threads.get(&s.current).map(|t| t.reason))
            .unwrap_or(WakeReason::Woken)
    };
    if were {
        interrupts::enable();
    }
    reason
}

/// Make every thread blocked on `key` ready; how many were. Interrupt-safe: no allocation,
/// one IrqMutex.
pub fn wake_key(key: u64) -> usize {
    let mut g = SCHED.lock();
    let Some(s) = g.as_mut() else { return 0 };
    let floor = s.wake_floor(time::now());
    let Sched {
        threads,
        runq,
        load,
        ..
    } = s;
    let mut woken = 0;
    for (id, t) in threads.iter_mut() {
        if t.state == State::Blocked && t.keys.contains(&key) {
            make_ready(t, *id, runq, load, WakeReason::Woken, floor);
            woken += 1;
        }
    }
    woken
}

/// Run `f` on the running thread's ring-3 state (a default one for a kernel thread).
pub fn with_user_state<R>(f: impl FnOnce(&mut UserState) -> R) -> R {
    let mut g = SCHED.lock();
    match g.as_mut().and_then(|s| {
        let cur = s.current;
        s.threads.get_mut(&cur)
    }) {
        Some(t) => f(&mut t.user),
        None => f(&mut UserState::default()),
    }
}

/// Set the ring-3 state of thread `id` before it first runs (clone).
pub fn set_user_state(id: ThreadId, state: UserState) {
    if let Some(s) = SCHED.lock().as_mut() {
        if let Some(t) = s.threads.get_mut(&id.0) {
            t.user = state;
        }
    }
}

/// Whether any thread of `process` other than the running one is alive.
pub fn process_has_other_threads(process: &Arc<Process>) -> bool {
    let g = SCHED.lock();
    let Some(s) = g.as_ref() else { return false };
    let other = s.threads.iter().any(|(&id, t)| {
        id != s.current
            && t.state != State::Dead
            && t.process.as_ref().is_some_and(|p| Arc::ptr_eq(p, process))
    });
    other
}

/// Whether thread `tid` (as programs see it) is alive in `process`.
pub fn process_has_tid(process: &Arc<Process>, tid: u64) -> bool {
    let g = SCHED.lock();
    let Some(s) = g.as_ref() else { return false };
    let alive = s.threads.values().any(|t| {
        t.state != State::Dead
            && t.user.tid == tid
            && t.process.as_ref().is_some_and(|p| Arc::ptr_eq(p, process))
    });
    alive
}

/// Wake every blocked thread of `process` (it is being killed, or a signal arrived: their
/// syscalls return EINTR); one not blocked now does not sleep at its next `block`.
pub fn wake_process(process: &Arc<Process>) {
    let mut g = SCHED.lock();
    let Some(s) = g.as_mut() else { return };
    let floor = s.wake_floor(time::now());
    // A program being ended: its threads only have to leave, giving back its memory and its
    // place among the programs, so they go first (before a program that would start next
    // and find neither).
    let ending = process.is_ending();
    let Sched {
        threads,
        runq,
        load,
        ..
    } = s;
    for (id, t) in threads.iter_mut() {
        if !t.process.as_ref().is_some_and(|p| Arc::ptr_eq(p, process)) {
            continue;
        }
        if t.state == State::Blocked {
            make_ready(t, *id, runq, load, WakeReason::Woken, floor);
        } else if t.state != State::Dead {
            t.kicked = true;
        }
        if ending {
            t.vruntime = 0;
        }
    }
}

/// How far a woken thread's virtual runtime may lag behind the threads it competes with:
/// half a slice, so a thread that slept runs before a busy one without owing it a debt for
/// all the time it slept (Linux's fair scheduler credits sleepers half its latency).
const SLEEPER_CREDIT_NS: u64 = (TIME_SLICE.as_nanos() / 2) as u64;

/// Nanoseconds from `since` to `now` (none if the clock reads earlier).
fn ran_ns(since: Instant, now: Instant) -> u64 {
    now.as_nanos().saturating_sub(since.as_nanos())
}

fn make_ready(
    t: &mut Thread,
    id: u64,
    runq: &mut RunQueue,
    load: &mut Load,
    reason: WakeReason,
    floor: u64,
) {
    load.change(time::now().as_nanos(), true);
    // Wakeup preemption: a ring-3 thread running now yields at its next kernel exit, so a
    // woken thread (say, the network poll thread) cannot be starved by a busy program.
    NEED_RESCHED.store(true, Ordering::Release);
    t.state = State::Ready;
    t.reason = reason;
    t.keys.clear();
    t.deadline = None;
    if t.process.is_none() {
        runq.push_kernel_woken(id);
    } else {
        t.vruntime = t.vruntime.max(floor.saturating_sub(SLEEPER_CREDIT_NS));
        runq.push(id);
    }
}

impl Sched {
    /// The virtual runtime a woken thread competes against: the running program thread's,
    /// counting what it has run so far (a busy thread's grows while it runs), else the
    /// smallest of the ready threads' at the last switch.
    fn wake_floor(&self, now: Instant) -> u64 {
        match self.threads.get(&self.current) {
            Some(t) if t.process.is_some() && t.state == State::Running => self
                .min_vruntime
                .max(t.vruntime + ran_ns(t.on_cpu_since, now)),
            _ => self.min_vruntime,
        }
    }

    /// Ready every blocked thread whose deadline passed; the earliest remaining deadline.
    fn wake_expired(&mut self, now: Instant) -> Option<Instant> {
        let floor = self.wake_floor(now);
        let Sched {
            threads,
            runq,
            load,
            ..
        } = self;
        let mut earliest: Option<Instant> = None;
        for (id, t) in threads.iter_mut() {
            if t.state != State::Blocked {
                continue;
            }
            if let Some(d) = t.deadline {
                if d <= now {
                    make_ready(t, *id, runq, load, WakeReason::TimedOut, floor);
                } else {
                    earliest = Some(earliest.map_or(d, |e| e.min(d)));
                }
            }
        }
        earliest
    }
}

/// Switch to the next ready thread (or idle). Interrupts must be off; the current thread's
/// state has been set by the caller (Running = still runnable: it is queued again).
fn reschedule() {
    let now = time::now();
    let (guard, cur, to) = {
        let mut g = SCHED.lock();
        let Some(s) = g.as_mut() else { return };
        let earliest = s.wake_expired(now);
        let cur = s.current;
        let idle = s.idle;
        // Still runnable when it gives up the CPU (preempted, or yielding): an involuntary
        // switch if another thread takes over, as Linux counts them.
        let mut runnable = false;
        let mut cur_vruntime = None;
        let min_vruntime = s.min_vruntime;
        if let Some(t) = s.threads.get_mut(&cur) {
            if cur != idle {
                // Charge the CPU time it ran.
                t.vruntime += ran_ns(t.on_cpu_since, now);
                t.on_cpu_since = now;
                cur_vruntime = Some(t.vruntime);
            }
            if t.state == State::Running && cur != idle {
                t.state = State::Ready;
                // A kernel thread that yields with work left (the network poll thread at its
                // budget, or with loopback frames queued) queues as the least-served thread
                // but after those queued already: it lets waiting threads run first, and a
                // busy program cannot keep the network waiting for what it used before.
                if t.process.is_none() {
                    t.vruntime = min_vruntime;
                }
                s.runq.push(cur);
                runnable = true;
            }
        }
        let threads = &s.threads;
        let ready_vruntime = |n: u64| {
            threads
                .get(&n)
                .filter(|t| t.state == State::Ready)
                .map(|t| t.vruntime)
        };
        // The smallest virtual runtime among the queued threads and the one giving up the CPU
        // (so a thread that ran alone for long moves it on, even as it goes to sleep: a thread
        // that wakes or starts later is placed near it, not far behind).
        let (next, least_ready) = s.runq.pick(ready_vruntime);
        let least = match (least_ready, cur_vruntime) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if let Some(least) = least {
            s.min_vruntime = s.min_vruntime.max(least);
        }
        let next = next.unwrap_or(idle);
        // This pick accounts for every wakeup so far: no reschedule is owed any more.
        NEED_RESCHED.store(false, Ordering::Release);
        // Arm the one-shot for the earliest sleeper, and a time slice if others are waiting.
        let slice = (!s.runq.is_empty()).then(|| now + TIME_SLICE);
        match (earliest, slice) {
            (Some(a), Some(b)) => time::set_deadline(a.min(b)),
            (Some(a), None) | (None, Some(a)) => time::set_deadline(a),
            (None, None) => {}
        }
        if next == cur {
            if let Some(t) = s.threads.get_mut(&cur) {
                t.state = State::Running;
            }
            return;
        }
        let Some(old) = s.threads.get_mut(&cur) else {
            return;
        };
        if old.stack.as_ref().is_some_and(|st| !st.canary_intact()) {
            let name = old.name;
            drop(g);
            panic!("kernel stack overflow in thread {name}");
        }
        if let Some(f) = old.fpu.as_mut() {
            f.save();
        }
        let (user, system) = cputime::switch_out(
            match &old.process {
                _ if cur == idle => Outgoing::Idle,
                Some(p) => Outgoing::Program(&p.cpu_time),
                None => Outgoing::Kernel,
            },
            !runnable,
        );
        old.cpu_ns.0 += user;
        old.cpu_ns.1 += system;
        if runnable {
            old.switches.1 += 1;
        } else {
            old.switches.0 += 1;
        }
        let Some(n) = s.threads.get_mut(&next) else {
            return;
        };
        if let Some(f) = n.fpu.as_ref() {
            f.restore();
        }
        n.state = State::Running;
        n.on_cpu_since = now;
        let to = core::mem::take(&mut n.ctx);
        let top = n.kstack_top;
        s.current = next;
        CURRENT_PID.store(n.process.as_ref().map_or(0, |p| p.pid), Ordering::Relaxed);
        arch::syscall_msrs::set_kernel_stack_top(top);
        arch::gdt::set_kernel_stack(top);
        // A thread of a program runs in the program's address space; kernel threads run in
        // whichever is loaded (they use only the shared kernel half).
        if let Some(p) = &n.process {
            crate::mm::space::activate(p.root());
            arch::set_fs_base(n.user.fs_base);
        }
        (g, cur, to)
    };
    // Interrupts are off (caller contract), so nothing runs between the lock's release and
    // the switch; the outgoing thread's Box stays in the table until it is reaped, after the
    // switch (by another thread).
    context::switch(
        guard,
        |g| {
            &mut g
                .as_mut()
                .and_then(|s| s.threads.get_mut(&cur))
                .expect("the outgoing thread is in the table")
                .ctx
        },
        to,
    );
    reap();
}

/// Free the stacks of threads that exited (never the running one).
fn reap() {
    let dead: Vec<Box<Thread>> = {
        let mut g = SCHED.lock();
        let Some(s) = g.as_mut() else { return };
        if s.zombies.is_empty() {
            return;
        }
        let cur = s.current;
        let mut out = Vec::new();
        s.zombies.retain(|&z| {
            if z == cur {
                return true;
            }
            if let Some(t) = s.threads.remove(&z) {
                out.push(t);
            }
            false
        });
        out
    };
    for t in dead {
        if let Some(stack) = t.stack {
            let spare = stack.retire();
            if t.stack_measured {
                let used = spare.high_water();
                MAX_KERNEL_STACK.fetch_max(used, Ordering::Relaxed);
                log::trace!(
                    "sched: thread {} used {} KiB of kernel stack",
                    t.name,
                    used / 1024
                );
            }
            match &t.process {
                Some(p) if spare.frames() == USER_THREAD_KERNEL_STACK_FRAMES => {
                    p.release_kernel_stack(spare)
                }
                _ => spare.free(),
            }
        }
    }
}

/// Set by interrupts that arrive in kernel mode; taken on the way back to ring 3.
static NEED_RESCHED: AtomicBool = AtomicBool::new(false);

/// An interrupt arrived while the kernel ran: re-check the run queue before returning to ring
/// 3 (the kernel itself is never preempted).
pub fn set_need_resched() {
    NEED_RESCHED.store(true, Ordering::Release);
}

/// Called on a system call's way back to ring 3: preempt if an interrupt asked for it.
pub fn resched_if_needed() {
    if NEED_RESCHED.swap(false, Ordering::AcqRel) {
        preempt_user();
    }
}

/// Ring-3 preemption, called from an interrupt that interrupted user code (or on a system
/// call's return): if another thread is ready (or a sleeper's deadline passed), yield. We are
/// on this thread's kernel stack, so it resumes where it was.
pub fn preempt_user() {
    let were = interrupts::are_enabled();
    interrupts::disable();
    let ready = {
        let mut g = SCHED.lock();
        g.as_mut().is_some_and(|s| {
            let earliest = s.wake_expired(time::now());
            let ready = !s.runq.is_empty();
            // The one-shot fired (it is disarmed now) a little before a sleeper's deadline,
            // as a LAPIC count converted from the TSC's nanoseconds can: arm it again, or
            // that sleeper would sleep on for as long as this program computes without a
            // system call.
            if let (false, Some(d)) = (ready, earliest) {
                time::set_deadline(d);
            }
            ready
        })
    };
    if ready {
        reschedule();
    }
    if were {
        interrupts::enable();
    }
}

/// The idle thread: halt until a sleeper's deadline or an interrupt readies someone.
fn idle_loop(_: usize) {
    loop {
        interrupts::disable();
        let (ready, earliest) = {
            let mut g = SCHED.lock();
            match g.as_mut() {
                Some(s) => {
                    let e = s.wake_expired(time::now());
                    (!s.runq.is_empty(), e)
                }
                None => (false, None),
            }
        };
        if ready {
            reschedule();
            continue;
        }
        match earliest {
            Some(d) => time::set_deadline(d),
            None => time::cancel_deadline(),
        }
        // sti; hlt: an interrupt after the check above still ends the halt.
        arch::idle();
    }
}

static MAX_KERNEL_STACK: AtomicUsize = AtomicUsize::new(0);

/// Whether new threads' kernel stacks are zeroed and scanned at exit for their high-water
/// mark: only when the mark is logged (`loglevel=7`). Zeroing a user thread's 64 KiB stack at
/// spawn and scanning it at exit were a third of the work of a connection served by a new
/// thread, under TCG.
fn measures_stacks() -> bool {
    log::max_level() >= log::LevelFilter::Debug
}

/// Deepest kernel stack use of any exited thread so far (bytes; 0 unless [`measures_stacks`]).
pub fn stack_high_water() -> usize {
    MAX_KERNEL_STACK.load(Ordering::Relaxed)
}

/// Whether `init` ran (threads can block).
pub fn is_running() -> bool {
    SCHED.lock().is_some()
}

/// CPU time the running thread has used, nanoseconds (`CLOCK_THREAD_CPUTIME_ID`).
pub fn current_cpu_ns() -> u64 {
    let (user, system) = current_thread_times();
    user + system
}

/// The running thread's (user, system) CPU nanoseconds (`RUSAGE_THREAD`).
pub fn current_thread_times() -> (u64, u64) {
    let g = SCHED.lock();
    let (user, system) = g
        .as_ref()
        .and_then(|s| s.threads.get(&s.current))
        .map_or((0, 0), |t| t.cpu_ns);
    let (now_user, now_system) = cputime::running();
    (user + now_user, system + now_system)
}

/// The running thread's (voluntary, involuntary) context switches (`RUSAGE_THREAD`).
pub fn current_thread_switches() -> (u64, u64) {
    SCHED
        .lock()
        .as_ref()
        .and_then(|s| s.threads.get(&s.current))
        .map_or((0, 0), |t| t.switches)
}

/// /proc/loadavg's figures: the 1, 5 and 15 minute load averages in hundredths, the threads
/// ready or running now, and the threads alive (idle aside).
pub fn load() -> ([u64; 3], u64, usize) {
    let mut g = SCHED.lock();
    match g.as_mut() {
        Some(s) => {
            let (avg, runnable) = s.load.read(time::now().as_nanos());
            (avg, runnable, s.threads.len().saturating_sub(1))
        }
        None => ([0; 3], 0, 0),
    }
}

/// Threads alive (for diagnostics and tests).
pub fn thread_count() -> usize {
    SCHED.lock().as_ref().map_or(0, |s| s.threads.len())
}
