//! Scheduler and wait-queue checks for `init=kernel-test`: kernel threads run, sleep in
//! deadline order and are reaped; wait queues wake, time out, and never lose a wakeup, from
//! thread context and from an interrupt handler.
//!
//! Owns the checks' statics; leaves no thread behind.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use net::time::Duration;

use crate::sync::IrqMutex;
use crate::wait::{self, WakeReason};
use crate::{arch, mem, sched, time};

static ORDER: IrqMutex<Vec<usize>> = IrqMutex::new(Vec::new());
const DONE_KEY: u64 = 0x1000;
const SLEEP_KEY: u64 = 0x1001;
const IRQ_KEY: u64 = 0x1002;

fn sleeper(ms: usize) {
    time::sleep(Duration::from_millis(ms as u64));
    ORDER.lock().push(ms);
    wait::wake_all(DONE_KEY);
}

/// Threads run, sleep until their deadlines in order, and their stacks come back.
pub fn threads_sleep_in_order() -> Result<(), &'static str> {
    let threads_before = sched::thread_count();
    let heap_before = mem::heap::heap_bytes();
    let free_before = mem::free_frame_count();
    let tables_before = arch::paging::split_tables();
    ORDER.lock().clear();
    let start = time::now();
    for ms in [30, 10, 20] {
        sched::spawn("sleeper", sleeper, ms)?;
    }
    let deadline = start + Duration::from_secs(2);
    loop {
        let g = wait::generation(DONE_KEY);
        if ORDER.lock().len() == 3 {
            break;
        }
        if wait::sleep_on_if_unchanged(DONE_KEY, g, Some(deadline)) == WakeReason::TimedOut {
            return Err("sleeping threads did not all finish within 2 s");
        }
    }
    if time::now().saturating_since(start) < Duration::from_millis(30) {
        return Err("the 30 ms sleeper finished early");
    }
    if *ORDER.lock() != [10, 20, 30] {
        return Err("threads did not wake in deadline order");
    }
    sched::yield_now(); // the last one's stack is reaped at the next switch
    if sched::thread_count() != threads_before {
        return Err("exited threads were not reaped");
    }
    // Frames kept elsewhere meanwhile: heap growth and page tables split for guard pages.
    let grown = (mem::heap::heap_bytes() - heap_before) / mem::frames::FRAME_SIZE as usize
        + (arch::paging::split_tables() - tables_before);
    if mem::free_frame_count() + grown != free_before {
        return Err("thread stacks were not returned to the frame allocator");
    }
    Ok(())
}

/// 0 = not yet, 1 = woken, 2 = timed out.
static REASON: AtomicU8 = AtomicU8::new(0);

fn waiter(key: usize) {
    let r = wait::sleep_on(key as u64, Some(time::now() + Duration::from_secs(2)));
    REASON.store(if r == WakeReason::Woken { 1 } else { 2 }, Ordering::SeqCst);
}

/// A sleeper is woken by `wake_all`, a deadline gives `TimedOut`, and a wakeup that comes
/// between reading the generation and sleeping is not lost.
pub fn wait_queue_semantics() -> Result<(), &'static str> {
    let g = wait::generation(SLEEP_KEY);
    wait::wake_all(SLEEP_KEY);
    let r = wait::sleep_on_if_unchanged(SLEEP_KEY, g, Some(time::now() + Duration::from_secs(1)));
    if r != WakeReason::Woken {
        return Err("a wakeup before the sleep was lost");
    }
    let t0 = time::now();
    if wait::sleep_on(SLEEP_KEY, Some(t0 + Duration::from_millis(10))) != WakeReason::TimedOut {
        return Err("sleep without a wakeup did not time out");
    }
    if time::now().saturating_since(t0) < Duration::from_millis(10) {
        return Err("timed out early");
    }
    REASON.store(0, Ordering::SeqCst);
    sched::spawn("waiter", waiter, SLEEP_KEY as usize)?;
    sched::yield_now(); // the waiter runs and blocks
    if REASON.load(Ordering::SeqCst) != 0 {
        return Err("the waiter did not block");
    }
    wait::wake_all(SLEEP_KEY);
    sched::yield_now();
    match REASON.load(Ordering::SeqCst) {
        1 => Ok(()),
        0 => Err("the woken waiter did not run"),
        _ => Err("the waiter timed out instead of being woken"),
    }
}

static IRQ_WAKES: AtomicU64 = AtomicU64::new(0);

fn irq_wake_handler() {
    IRQ_WAKES.fetch_add(1, Ordering::SeqCst);
    wait::wake_all(IRQ_KEY);
}

/// `wake_all` from an interrupt handler wakes a blocked thread, and counts as a wakeup for a
/// generation read before it.
pub fn irq_wakes_thread() -> Result<(), &'static str> {
    // GSI 14 is the primary IDE line, unused here; masked at once so only `int` raises it.
    let vector = arch::irq::register(14, false, irq_wake_handler)?;
    arch::irq::mask(14)?;
    REASON.store(0, Ordering::SeqCst);
    sched::spawn("irq-waiter", waiter, IRQ_KEY as usize)?;
    sched::yield_now();
    let g = wait::generation(IRQ_KEY);
    arch::irq::raise_soft(vector)?;
    if IRQ_WAKES.load(Ordering::SeqCst) != 1 {
        return Err("the handler did not run");
    }
    sched::yield_now();
    if REASON.load(Ordering::SeqCst) != 1 {
        return Err("the thread was not woken by the interrupt handler");
    }
    let r = wait::sleep_on_if_unchanged(IRQ_KEY, g, Some(time::now() + Duration::from_secs(1)));
    if r != WakeReason::Woken {
        return Err("the interrupt's wakeup was lost for a generation read before it");
    }
    Ok(())
}

const SOCK_KEY: u64 = 0x1003;
static SOCK_READY: AtomicU8 = AtomicU8::new(0);

fn fake_peer(ms: usize) {
    time::sleep(Duration::from_millis(ms as u64));
    SOCK_READY.store(1, Ordering::SeqCst);
    wait::wake_all(SOCK_KEY);
}

fn fake_info(nonblocking: bool, timeout: Option<Duration>) -> net::sys::WaitInfo {
    net::sys::WaitInfo {
        nonblocking,
        timeout,
        wait_key: SOCK_KEY,
    }
}

fn fake_op() -> Result<u32, net::Errno> {
    if SOCK_READY.load(Ordering::SeqCst) != 0 {
        Ok(42)
    } else {
        Err(net::Errno::EAGAIN)
    }
}

/// The syscall layer's blocking discipline over a fake socket: a blocking call sleeps until
/// the socket's key is woken and then succeeds; its timeout gives the timeout errno; a
/// non-blocking file, MSG_DONTWAIT or an ending program return at once.
pub fn blocking_socket_calls() -> Result<(), &'static str> {
    use crate::syscall::socket::retry_blocking;
    use net::Errno;
    SOCK_READY.store(0, Ordering::SeqCst);
    let t0 = time::now();
    let r = retry_blocking(
        || Ok(fake_info(true, None)),
        false,
        || false,
        Errno::EAGAIN,
        fake_op,
    );
    let r2 = retry_blocking(
        || Ok(fake_info(false, None)),
        true,
        || false,
        Errno::EAGAIN,
        fake_op,
    );
    let r3 = retry_blocking(
        || Ok(fake_info(false, None)),
        false,
        || true,
        Errno::EAGAIN,
        fake_op,
    );
    if r != Err(Errno::EAGAIN) || r2 != Err(Errno::EAGAIN) || r3 != Err(Errno::EINTR) {
        return Err("non-blocking, MSG_DONTWAIT or ending call did not return at once");
    }
    if time::now().saturating_since(t0) > Duration::from_millis(500) {
        return Err("a non-blocking call slept");
    }
    let t1 = time::now();
    let timeout = Some(Duration::from_millis(15));
    let r = retry_blocking(
        || Ok(fake_info(false, timeout)),
        false,
        || false,
        Errno::EINPROGRESS,
        fake_op,
    );
    if r != Err(Errno::EINPROGRESS) {
        return Err("a blocking call past its timeout did not give the timeout errno");
    }
    if time::now().saturating_since(t1) < Duration::from_millis(15) {
        return Err("a blocking call timed out early");
    }
    sched::spawn("fake-peer", fake_peer, 20)?;
    let t2 = time::now();
    let r = retry_blocking(
        || Ok(fake_info(false, None)),
        false,
        || false,
        Errno::EAGAIN,
        fake_op,
    );
    if r != Ok(42) {
        return Err("a blocking call did not succeed once woken");
    }
    if time::now().saturating_since(t2) < Duration::from_millis(20) {
        return Err("a blocking call returned before the socket was ready");
    }
    Ok(())
}

/// Attempts the busy-waking fake socket allows before the check gives up (the bug it guards
/// against spins forever; a correct kernel needs a handful).
const SPIN_LIMIT: u32 = 100_000;
static SPINS: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(0);

/// The peer that makes the busy-waking socket ready: it only needs to be scheduled once.
fn ready_peer(_: usize) {
    SOCK_READY.store(1, Ordering::SeqCst);
    wait::wake_all(SOCK_KEY);
}

/// An attempt that wakes its own key each time and fails until the peer ran: what a socket
/// call does when its own network call kicks the poll thread and the poll thread's key shares
/// the socket's generation bucket, or when its attempt readies the socket's other direction.
fn self_waking_op() -> Result<u32, net::Errno> {
    if SOCK_READY.load(Ordering::SeqCst) != 0 {
        return Ok(42);
    }
    if SPINS.fetch_add(1, Ordering::SeqCst) >= SPIN_LIMIT {
        return Err(net::Errno::ETIMEDOUT);
    }
    wait::wake_all(SOCK_KEY);
    Err(net::Errno::EAGAIN)
}

/// A blocking call whose every attempt moves its key's generation never sleeps, so it must
/// still give the CPU away between attempts: in a cooperative kernel the thread that would
/// make it ready (here a peer thread, in life the network poll thread) runs only then. The
/// mixed NIC load wedged the whole guest this way (the 306th socket's key shared the NIC key's
/// bucket).
pub fn self_waking_call_yields() -> Result<(), &'static str> {
    use crate::syscall::socket::retry_blocking;
    SOCK_READY.store(0, Ordering::SeqCst);
    SPINS.store(0, Ordering::SeqCst);
    sched::spawn("ready-peer", ready_peer, 0)?;
    let r = retry_blocking(
        || Ok(fake_info(false, None)),
        false,
        || false,
        net::Errno::EAGAIN,
        self_waking_op,
    );
    match r {
        Ok(42) => Ok(()),
        Err(net::Errno::ETIMEDOUT) => Err("a self-waking blocking call spun without yielding"),
        _ => Err("a self-waking blocking call failed"),
    }
}
