//! The monotonic clock and the one-shot wakeup.
//!
//! Owns: the TSC frequency (CPUID 0x15, then 0x16, else calibrated against PIT channel 2),
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
/// Length of the PIT calibration window: 10 ms (11932 PIT ticks).
const PIT_CALIBRATION_TICKS: u16 = 11_932;
const PIT_CALIBRATION_NS: u64 = PIT_CALIBRATION_TICKS as u64 * 1_000_000_000 / PIT_HZ;

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
    log::info!(
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

/// Count TSC ticks across a 10 ms PIT channel 2 one-shot (mode 0, gate via port 0x61).
fn calibrate_with_pit() -> Option<u64> {
    let mut ctrl = Port::<u8>::new(0x61);
    let mut cmd = Port::<u8>::new(0x43);
    let mut ch2 = Port::<u8>::new(0x42);
    // SAFETY: ports 0x61/0x42/0x43 are the PC speaker gate and the PIT; channel 2 is not used
    // by anything else in this kernel and the speaker stays off (bit 1 cleared).
    let (start, end) = unsafe {
        let v = ctrl.read();
        ctrl.write((v & !0x02) | 0x01); // gate on, speaker off
        cmd.write(0b1011_0000); // channel 2, lobyte/hibyte, mode 0, binary
        ch2.write((PIT_CALIBRATION_TICKS & 0xff) as u8);
        ch2.write((PIT_CALIBRATION_TICKS >> 8) as u8);
        let start = arch::rdtsc();
        // OUT2 (bit 5) goes high when the count reaches zero. Bound the wait: give up after
        // a generous number of polls (a missing PIT reads as 0xff or never changes).
        let mut polls: u64 = 0;
        loop {
            let status = ctrl.read();
            if status == 0xff {
                return None;
            }
            if status & 0x20 != 0 {
                break;
            }
            polls += 1;
            if polls > 50_000_000 {
                return None;
            }
        }
        (start, arch::rdtsc())
    };
    let ticks = end.wrapping_sub(start);
    if ticks == 0 {
        return None;
    }
    Some(ticks * 1_000_000_000 / PIT_CALIBRATION_NS)
}

/// Monotonic time since kernel entry.
pub fn now() -> Instant {
    let fp = NS_PER_TICK_FP32.load(Ordering::Relaxed);
    let delta = arch::rdtsc().wrapping_sub(BOOT_TSC.load(Ordering::Relaxed));
    Instant::from_nanos(((delta as u128 * fp as u128) >> 32) as u64)
}

/// Program the next wakeup: the LAPIC timer interrupts at (or, for deadlines beyond the
/// timer's 32-bit range, before) `deadline`. A deadline in the past fires at once.
pub fn set_deadline(deadline: Instant) {
    let wait = deadline.saturating_since(now());
    let ticks =
        (wait.as_nanos() * apic::timer_hz() as u128 / 1_000_000_000).clamp(1, u32::MAX as u128);
    apic::arm_oneshot(ticks as u32);
}

/// Disarm the one-shot timer.
pub fn cancel_deadline() {
    apic::disarm();
}

/// Called from the LAPIC timer interrupt.
pub(crate) fn on_timer_interrupt() {
    TIMER_FIRED.store(true, Ordering::Release);
}

/// Whether the one-shot timer fired since the last call.
pub fn take_timer_fired() -> bool {
    TIMER_FIRED.swap(false, Ordering::AcqRel)
}

/// Halt (interrupts on) until at least `d` has passed.
pub fn sleep(d: Duration) {
    let until = now() + d;
    while now() < until {
        set_deadline(until);
        arch::idle();
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
