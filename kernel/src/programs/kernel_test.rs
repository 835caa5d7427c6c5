//! `init=kernel-test`: the kernel's own checks, run in the guest (the kernel cannot run
//! `cargo test` on its bare-metal target). Each check exercises one service the rest of the
//! kernel and the drivers rely on and fails with a message naming what broke.
//!
//! Owns nothing; never leaves state behind that a later check depends on.

use alloc::boxed::Box;
use alloc::vec::Vec;

use net::time::{Duration, Instant};

use crate::{arch, cmdline, mem, time};

type Check = (&'static str, fn() -> Result<(), &'static str>);

const CHECKS: &[Check] = &[
    ("heap grows from frames", heap_grows),
    ("dma pages zeroed, aligned, freed once", dma_pages),
    ("one-shot timer wakes the idle CPU", timer_wakes),
    ("past deadline fires at once", past_deadline),
    ("clock is monotonic", clock_monotonic),
    ("entropy varies", entropy_varies),
    ("irq registration", irq_registration),
    ("command line parsing", cmdline_parsing),
    ("a fault inside a user copy is EFAULT", copy_fault_recovers),
    (
        "memcpy, memmove, memset at every length and offset",
        super::mem_checks::memory_routines,
    ),
    (
        "sorted-vector map keeps key order",
        super::mem_checks::vecmap_order,
    ),
    (
        "physical memory only through the direct map",
        identity_map_gone,
    ),
    (
        "threads sleep in deadline order, stacks reaped",
        super::sched_checks::threads_sleep_in_order,
    ),
    (
        "wait queues wake, time out, lose nothing",
        super::sched_checks::wait_queue_semantics,
    ),
    (
        "interrupt handler wakes a thread",
        super::sched_checks::irq_wakes_thread,
    ),
    (
        "blocking socket calls sleep, wake, time out",
        super::sched_checks::blocking_socket_calls,
    ),
    (
        "a blocking call that wakes itself lets others run",
        super::sched_checks::self_waking_call_yields,
    ),
];

/// Run every check; Err names the first that failed.
pub fn run() -> Result<(), &'static str> {
    for (name, check) in CHECKS {
        check().inspect_err(|e| log::error!("kernel-test: {name}: FAILED: {e}"))?;
        log::info!("kernel-test: {name}: ok");
    }
    Ok(())
}

/// The boot stack's guard page is unmapped: a copy from it faults in ring 0, and the
/// exception table turns that into EFAULT instead of a kernel crash.
fn copy_fault_recovers() -> Result<(), &'static str> {
    extern "C" {
        static boot_stack_guard: u8;
    }
    let guard = (&raw const boot_stack_guard) as u64;
    match crate::mm::uaccess::probe_fault_recovery(guard) {
        Err(net::Errno::EFAULT) => Ok(()),
        Ok(()) => Err("the copy from an unmapped page succeeded"),
        Err(_) => Err("the probe page is mapped"),
    }
}

/// The kernel reaches RAM above the image only through the direct map: a program's fresh
/// address space maps nothing at the physical address of a heap allocation (its user half
/// would otherwise collide with a program linked there), while the direct-map alias of it is
/// there in the kernel half; and a kernel read at the physical address faults.
fn identity_map_gone() -> Result<(), &'static str> {
    use crate::mm::space::{AddressSpace, USER_START};
    // 4 MiB + 1 page on the heap: physically contiguous (one arena, a run of frames above the
    // image at 1 MiB), so its last page lies above USER_START.
    const LEN: usize = (4 << 20) + 4096;
    let mut big: Vec<u8> = Vec::new();
    big.try_reserve_exact(LEN)
        .map_err(|_| "4 MiB allocation failed")?;
    big.resize(LEN, 0x5a);
    let vaddr = (&raw const big[LEN - 1]) as u64;
    let paddr = mem::virt_to_phys(vaddr);
    if vaddr != mem::phys_to_virt(paddr) || paddr < USER_START {
        return Err("the heap is not in the direct map above USER_START");
    }
    let space = AddressSpace::new()?;
    if space.translate(paddr).is_some() {
        return Err("a program's space maps kernel RAM at its physical address");
    }
    if space.translate(vaddr) != Some(paddr) {
        return Err("a program's space lacks the direct map");
    }
    let text = {
        extern "C" {
            static __text_start: u8;
        }
        (&raw const __text_start) as u64
    };
    if space.translate(text) != Some(text) {
        return Err("a program's space lacks the kernel image's identity alias");
    }
    drop(space);
    match crate::mm::uaccess::probe_fault_recovery(paddr & !4095) {
        Err(net::Errno::EFAULT) => {}
        Ok(()) => return Err("the kernel still reads RAM at its physical address"),
        Err(_) => return Err("RAM is user-accessible at its physical address"),
    }
    if big[LEN - 1] != 0x5a {
        return Err("the direct map lost the bytes");
    }
    Ok(())
}

fn heap_grows() -> Result<(), &'static str> {
    let before = mem::heap::heap_bytes();
    const LEN: usize = 3 << 20;
    let mut big: Vec<u8> = Vec::new();
    big.try_reserve_exact(LEN)
        .map_err(|_| "3 MiB allocation failed")?;
    big.extend((0..LEN).map(|i| (i * 7) as u8));
    let small: Vec<Box<u64>> = (0..1000u64).map(Box::new).collect();
    if mem::heap::heap_bytes() < before + LEN {
        return Err("heap did not grow by the allocation size");
    }
    if big.iter().enumerate().any(|(i, &b)| b != (i * 7) as u8) {
        return Err("heap memory did not keep its contents");
    }
    if small.iter().enumerate().any(|(i, b)| **b != i as u64) {
        return Err("small boxes lost their values");
    }
    Ok(())
}

fn dma_pages() -> Result<(), &'static str> {
    let free_before = mem::free_frame_count();
    let mut pages = mem::dma::DmaPages::alloc(3).ok_or("dma_alloc_pages(3) failed")?;
    let p = pages.paddr();
    if p % 4096 != 0 {
        return Err("DMA pages not page-aligned");
    }
    let bytes = pages.bytes_mut();
    if bytes.iter().any(|&b| b != 0) {
        return Err("DMA pages not zeroed");
    }
    bytes.fill(0xa5);
    if mem::free_frame_count() != free_before - 3 {
        return Err("free frame count did not drop by 3");
    }
    drop(pages);
    if mem::free_frame_count() != free_before {
        return Err("free frame count not restored after dma_free_pages");
    }
    if mem::free_frames(p, 3).is_ok() {
        return Err("double free was accepted");
    }
    let again = mem::dma::DmaPages::alloc(3).ok_or("second dma_alloc_pages(3) failed")?;
    let dirty = again.bytes().iter().any(|&b| b != 0);
    drop(again);
    if dirty {
        return Err("reused DMA pages not zeroed");
    }
    if mem::dma_alloc_pages(usize::MAX / 8192).is_some() {
        return Err("an impossible allocation succeeded");
    }
    Ok(())
}

fn timer_wakes() -> Result<(), &'static str> {
    let _ = time::take_timer_fired();
    let start = time::now();
    time::sleep(Duration::from_millis(20));
    let slept = time::now().saturating_since(start);
    if slept < Duration::from_millis(20) {
        return Err("sleep returned early");
    }
    if slept > Duration::from_millis(2000) {
        return Err("sleep overslept by far");
    }
    if !time::take_timer_fired() {
        return Err("the LAPIC timer interrupt never arrived");
    }
    Ok(())
}

fn past_deadline() -> Result<(), &'static str> {
    let _ = time::take_timer_fired();
    // Interrupts off between each check and the halt, so the wakeup cannot be lost.
    x86_64::instructions::interrupts::disable();
    time::set_deadline(Instant::ZERO);
    let mut fired = false;
    // The interrupt is due at once; give it a bounded number of halts.
    for _ in 0..1000 {
        if time::take_timer_fired() {
            fired = true;
            break;
        }
        arch::idle();
    }
    x86_64::instructions::interrupts::enable();
    if fired {
        Ok(())
    } else {
        Err("a deadline in the past never fired")
    }
}

fn clock_monotonic() -> Result<(), &'static str> {
    let mut prev = time::now();
    for _ in 0..10_000 {
        let t = time::now();
        if t < prev {
            return Err("time went backwards");
        }
        prev = t;
    }
    if time::now() == Instant::ZERO {
        return Err("clock not running");
    }
    Ok(())
}

fn entropy_varies() -> Result<(), &'static str> {
    let a = arch::entropy::seed();
    let b = arch::entropy::seed();
    if a == b {
        return Err("two seeds were equal");
    }
    let mut buf = [0u8; 37];
    arch::entropy::fill(&mut buf);
    if buf.iter().all(|&x| x == 0) {
        return Err("fill left the buffer zeroed");
    }
    Ok(())
}

fn nop_handler() {}

fn irq_registration() -> Result<(), &'static str> {
    // GSI 15 is an ISA line nothing in this kernel uses (secondary IDE on a PC).
    let v = arch::irq::register(15, false, nop_handler)?;
    if !(arch::irq::FIRST_DEVICE_VECTOR..=arch::irq::LAST_DEVICE_VECTOR).contains(&v) {
        return Err("vector outside the device range");
    }
    if arch::irq::register(15, false, nop_handler).is_ok() {
        return Err("a GSI was registered twice");
    }
    arch::irq::mask(15)?;
    arch::irq::unmask(15)?;
    arch::irq::mask(15)?;
    if arch::irq::register(200, true, nop_handler).is_ok() {
        return Err("a GSI without an IO-APIC input was accepted");
    }
    Ok(())
}

fn cmdline_parsing() -> Result<(), &'static str> {
    let c = cmdline::parse("console=ttyS0 init=echo loglevel=7 ip=dhcp -- a b")
        .map_err(|_| "valid line rejected")?;
    if c.init != "echo" || c.args() != ["a", "b"] || c.loglevel != Some(7) {
        return Err("fields of a valid line parsed wrongly");
    }
    let d = cmdline::parse("quiet").map_err(|_| "'quiet' rejected")?;
    if d.init != cmdline::DEFAULT_INIT || d.loglevel != Some(4) || !d.args().is_empty() {
        return Err("defaults wrong");
    }
    if cmdline::parse("ip=1.2.3").is_ok() {
        return Err("malformed ip= accepted");
    }
    if cmdline::parse("nameserver=10.0.2").is_ok() {
        return Err("malformed nameserver= accepted");
    }
    let n = cmdline::parse("nameserver=10.0.2.3").map_err(|_| "valid nameserver rejected")?;
    if n.nameserver != Some(core::net::Ipv4Addr::new(10, 0, 2, 3)) {
        return Err("nameserver parsed wrongly");
    }
    Ok(())
}
