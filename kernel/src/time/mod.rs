//! The monotonic clock and the one-shot wakeup.
//!
//! Owns: the TSC frequency (CPUID 0x15, then 0x16, else calibrated against PIT channel 0 over
//! a window that overlaps the first boot steps: [`calibration`]), `now()` as nanoseconds since
//! `kmain` started (0 until the frequency is known), and `set_deadline` which arms the LAPIC
//! one-shot timer. There is no periodic tick: the CPU halts until the next deadline or device
//! interrupt. Never blocks except in `sleep`, which halts.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use net::time::{Duration, Instant};

use crate::arch::{self, apic};

mod calibration;

/// TSC value at kernel entry: the clock's origin.
static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
static TSC_HZ: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds per TSC tick as a 32.32 fixed-point number; 0 until calibrated.
static NS_PER_TICK_FP32: AtomicU64 = AtomicU64::new(0);
/// Set by the timer interrupt; cleared by `take_timer_fired`.
static TIMER_FIRED: AtomicBool = AtomicBool::new(false);

/// Record the clock's origin; first thing in `kmain`.
pub fn mark_boot() {
    BOOT_TSC.store(arch::rdtsc(), Ordering::Relaxed);
}

/// Start finding the TSC frequency: right after `mark_boot`. When the CPU does not report
/// it, this starts the PIT window that [`init`] closes, so the boot steps in between overlap
/// the calibration instead of waiting for it.
pub fn begin_calibration() {
    calibration::begin();
}

/// Finish finding the TSC frequency ([`begin_calibration`] first); `now()` reads 0 until this
/// ran.
pub fn init() {
    let (hz, source) = calibration::finish().unwrap_or_else(|| {
        log::warn!("time: PIT calibration failed; assuming a 1 GHz TSC");
        (1_000_000_000, "assumed")
    });
    TSC_HZ.store(hz, Ordering::Relaxed);
    let fp = ((1_000_000_000u128 << 32) / hz as u128) as u64;
    NS_PER_TICK_FP32.store(fp, Ordering::Relaxed);
    log::debug!(
        "time: TSC {}.{:03} MHz ({source})",
        hz / 1_000_000,
        (hz / 1_000) % 1_000
    );
}

/// TSC frequency in Hz (0 before `init`).
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Monotonic time since kernel entry.
pub fn now() -> Instant {
    let fp = NS_PER_TICK_FP32.load(Ordering::Relaxed);
    let delta = arch::rdtsc().wrapping_sub(BOOT_TSC.load(Ordering::Relaxed));
    Instant::from_nanos(((delta as u128 * fp as u128) >> 32) as u64)
}

/// When the one-shot timer is armed to fire (ns since boot); `u64::MAX`: not armed (never
/// armed, fired, or cancelled).
static ARMED_AT: AtomicU64 = AtomicU64::new(u64::MAX);

/// Program the next wakeup: the LAPIC timer interrupts at (or before) `deadline`. A deadline
/// in the past fires at once. When the timer is already armed to fire no later than
/// `deadline`, it is left alone: its interrupt comes first, and whoever it wakes re-arms for
/// what is still pending. Each arming is two LAPIC register writes, which under TCG were
/// 13% of the guest's time serving redis (the scheduler arms a slice on every switch).
pub fn set_deadline(deadline: Instant) {
    let at = deadline.as_nanos();
    if ARMED_AT.load(Ordering::Acquire) <= at {
        return;
    }
    let wait = deadline.saturating_since(now());
    let ticks =
        (wait.as_nanos() * apic::timer_hz() as u128 / 1_000_000_000).clamp(1, u32::MAX as u128);
    ARMED_AT.store(at, Ordering::Release);
    apic::arm_oneshot(ticks as u32);
}

/// Disarm the one-shot timer (nothing to do when it is not armed).
pub fn cancel_deadline() {
    if ARMED_AT.swap(u64::MAX, Ordering::AcqRel) != u64::MAX {
        apic::disarm();
    }
}

/// Called from the LAPIC timer interrupt.
pub(crate) fn on_timer_interrupt() {
    ARMED_AT.store(u64::MAX, Ordering::Release);
    TIMER_FIRED.store(true, Ordering::Release);
}

/// Whether the one-shot timer fired since the last call.
pub fn take_timer_fired() -> bool {
    TIMER_FIRED.swap(false, Ordering::AcqRel)
}

/// Wait until at least `d` has passed. Once the scheduler runs, the thread sleeps
/// (`sched::sleep_until`: other threads run, the idle thread halts); before, the CPU halts
/// here with the one-shot timer armed.
pub fn sleep(d: Duration) {
    let until = now() + d;
    if crate::sched::is_running() {
        crate::sched::sleep_until(until);
        return;
    }
    let were_enabled = x86_64::instructions::interrupts::are_enabled();
    loop {
        // Check and arm with interrupts off, then `arch::idle` (sti; hlt): a timer interrupt
        // arriving in between stays pending and wakes the hlt instead of being lost.
        x86_64::instructions::interrupts::disable();
        if now() >= until {
            break;
        }
        set_deadline(until);
        arch::idle();
    }
    if were_enabled {
        x86_64::instructions::interrupts::enable();
    }
}

/// Spin (no interrupts needed) for `d`; for short device delays before interrupts are up.
pub fn spin_delay(d: Duration) {
    let hz = tsc_hz().max(1);
    let ticks = (d.as_nanos() * hz as u128 / 1_000_000_000) as u64;
    let start = arch::rdtsc();
    while arch::rdtsc().wrapping_sub(start) < ticks {
        core::hint::spin_loop();
    }
}

/// Wall-clock time at boot (seconds since the Unix epoch, from the RTC; 0 without one), as a
/// duration: `CLOCK_REALTIME` = this + `now()`.
static REALTIME_AT_BOOT_NS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// Read the RTC once (at boot, after `init`).
pub fn init_realtime() {
    if let Some(secs) = arch::rtc::unix_time() {
        let at_boot = (secs * 1_000_000_000).saturating_sub(now().as_nanos());
        REALTIME_AT_BOOT_NS.store(at_boot, Ordering::Relaxed);
        log::debug!("time: wall clock {secs} s since the epoch (RTC)");
    } else {
        log::warn!("time: no RTC; CLOCK_REALTIME starts at the epoch");
    }
}

/// `CLOCK_REALTIME` minus `CLOCK_MONOTONIC`.
pub fn realtime_offset() -> Duration {
    Duration::from_nanos(REALTIME_AT_BOOT_NS.load(Ordering::Relaxed))
}
