//! The monotonic clock and the one-shot wakeup.
//!
//! Owns: the TSC frequency (CPUID 0x15, then 0x16, else calibrated against PIT channel 0),
//! `now()` as nanoseconds since `kmain` started, and `set_deadline` which arms the LAPIC
//! one-shot timer. There is no periodic tick: the CPU halts until the next deadline or device
//! interrupt. Never blocks except in `sleep`, which halts.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use net::time::{Duration, Instant};
use x86_64::instructions::port::Port;

use crate::arch::{self, apic};

/// TSC value at kernel entry: the clock's origin.
static BOOT_TSC: AtomicU64 = AtomicU64::new(0);
static TSC_HZ: AtomicU64 = AtomicU64::new(0);
/// Nanoseconds per TSC tick as a 32.32 fixed-point number; 0 until calibrated.
static NS_PER_TICK_FP32: AtomicU64 = AtomicU64::new(0);
/// Set by the timer interrupt; cleared by `take_timer_fired`.
static TIMER_FIRED: AtomicBool = AtomicBool::new(false);

/// PIT input clock (Hz).
const PIT_HZ: u64 = 1_193_182;
/// Length of the PIT calibration window: 2.5 ms (2983 PIT ticks at 838 ns). A read of the
/// latched count takes about a microsecond (a read preempted past `PIT_TIGHT_READ_TSC` is not
/// used as an end) and the PIT counts in 838 ns steps, so the error stays near 0.1%, as
/// Linux's quick PIT calibration aims for; a longer window only costs boot time (every
/// millisecond here is a millisecond of boot).
const PIT_CALIBRATION_TICKS: u16 = 2_983;
/// A PIT read costs about a microsecond; one taking over 200k TSC ticks (>= 50 us on any CPU
/// we run on) was preempted and is not used as an end point of the window.
const PIT_TIGHT_READ_TSC: u64 = 200_000;
/// Attempts at a tight first sample.
const PIT_SAMPLE_RETRIES: u32 = 10;
/// Reads of an unchanging count after which the PIT is declared absent.
const PIT_MAX_IDLE_POLLS: u64 = 100_000;

/// Record the clock's origin; first thing in `kmain`.
pub fn mark_boot() {
    BOOT_TSC.store(arch::rdtsc(), Ordering::Relaxed);
}

/// Find the TSC frequency; `now()` reads 0 until this ran.
pub fn init() {
    let (hz, source) = match tsc_hz_from_cpuid() {
        Some(v) => v,
        None => match calibrate_with_pit() {
            Some(hz) => (hz, "PIT calibration"),
            None => {
                log::warn!("time: PIT calibration failed; assuming a 1 GHz TSC");
                (1_000_000_000, "assumed")
            }
        },
    };
    TSC_HZ.store(hz, Ordering::Relaxed);
    let fp = ((1_000_000_000u128 << 32) / hz as u128) as u64;
    NS_PER_TICK_FP32.store(fp, Ordering::Relaxed);
    // Debug: printed before the command line (and so `quiet`) is read.
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

fn tsc_hz_from_cpuid() -> Option<(u64, &'static str)> {
    let max_leaf = arch::cpuid(0, 0).eax;
    if max_leaf >= 0x15 {
        let r = arch::cpuid(0x15, 0);
        // TSC = crystal (ECX) * EBX / EAX.
        if r.eax != 0 && r.ebx != 0 && r.ecx != 0 {
            return Some((r.ecx as u64 * r.ebx as u64 / r.eax as u64, "CPUID 0x15"));
        }
    }
    if max_leaf >= 0x16 {
        let mhz = arch::cpuid(0x16, 0).eax & 0xffff;
        if mhz != 0 {
            return Some((mhz as u64 * 1_000_000, "CPUID 0x16"));
        }
    }
    None
}

/// Read PIT channel 0's current count (latch command, then low and high byte), bracketed by
/// TSC reads: returns (count, TSC at the middle of the read, TSC ticks the read took).
fn pit_ch0_sample(cmd: &mut Port<u8>, ch0: &mut Port<u8>) -> (u16, u64, u64) {
    let t0 = arch::rdtsc();
    // SAFETY: latching and reading channel 0 only snapshots its counter.
    let count = unsafe {
        cmd.write(0x00);
        let lo = ch0.read() as u16;
        let hi = ch0.read() as u16;
        (hi << 8) | lo
    };
    let t1 = arch::rdtsc();
    (count, t0 / 2 + t1 / 2, t1.wrapping_sub(t0))
}

/// Count TSC ticks across 5 ms of PIT channel 0 time, read back through the latch command
/// (works without the port 0x61 speaker gate, which microvm lacks). Channel 0's IRQ 0 is masked
/// at both the PICs and the IO-APIC, so the running counter interrupts nobody.
///
/// The first and last samples must be "tight" (the read took under `PIT_TIGHT_READ_TSC` TSC
/// ticks): a vCPU preempted in the middle of a read would otherwise skew the result.
fn calibrate_with_pit() -> Option<u64> {
    let mut cmd = Port::<u8>::new(0x43);
    let mut ch0 = Port::<u8>::new(0x40);
    // SAFETY: programming channel 0 as a free-running rate generator (mode 2, reload 65536);
    // nothing else in the kernel uses the PIT.
    unsafe {
        cmd.write(0b0011_0100);
        ch0.write(0);
        ch0.write(0);
    }
    let (mut prev, mut start, mut cost) = pit_ch0_sample(&mut cmd, &mut ch0);
    let mut retries = 0;
    while cost > PIT_TIGHT_READ_TSC && retries < PIT_SAMPLE_RETRIES {
        (prev, start, cost) = pit_ch0_sample(&mut cmd, &mut ch0);
        retries += 1;
    }
    let mut elapsed: u64 = 0;
    let mut polls: u64 = 0;
    let end = loop {
        let (cur, at, cost) = pit_ch0_sample(&mut cmd, &mut ch0);
        // The counter runs down and wraps at 65536; polls are far closer than 55 ms apart.
        elapsed += prev.wrapping_sub(cur) as u64;
        prev = cur;
        polls += 1;
        if elapsed == 0 && polls > PIT_MAX_IDLE_POLLS {
            return None; // no PIT: the count never moves
        }
        if elapsed >= PIT_CALIBRATION_TICKS as u64
            && (cost <= PIT_TIGHT_READ_TSC || elapsed >= 4 * PIT_CALIBRATION_TICKS as u64)
        {
            break at;
        }
    };
    // SAFETY: leave channel 0 in one-shot mode 0 so it stops toggling after one more count.
    unsafe {
        cmd.write(0b0011_0000);
        ch0.write(0);
        ch0.write(0);
    }
    let ticks = end.wrapping_sub(start);
    if ticks == 0 {
        return None;
    }
    Some((ticks as u128 * PIT_HZ as u128 / elapsed as u128) as u64)
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
