//! The local APIC: enabled in xAPIC mode (MMIO at the base from IA32_APIC_BASE, normally
//! 0xfee00000, inside the cache-disabled 3-4 GiB of the direct map) or driven through MSRs if the
//! firmware left it in x2APIC mode. Provides EOI and the one-shot timer (calibrated against
//! the TSC) behind `time::set_deadline`.
//!
//! Owns: LAPIC registers. Never used before `init`.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::{rdmsr, wrmsr};

const IA32_APIC_BASE: u32 = 0x1b;
const APIC_BASE_ENABLE: u64 = 1 << 11;
const APIC_BASE_X2APIC: u64 = 1 << 10;

const REG_ID: u32 = 0x20;
const REG_TPR: u32 = 0x80;
const REG_EOI: u32 = 0xb0;
const REG_SVR: u32 = 0xf0;
const REG_LVT_TIMER: u32 = 0x320;
const REG_LVT_ERROR: u32 = 0x370;
const REG_TIMER_INITIAL: u32 = 0x380;
const REG_TIMER_CURRENT: u32 = 0x390;
const REG_TIMER_DIVIDE: u32 = 0x3e0;

const LVT_MASKED: u32 = 1 << 16;
/// Divide configuration 0b0011: bus clock / 16.
const TIMER_DIVIDE_16: u32 = 0x3;

/// Vector of the LAPIC one-shot timer.
pub const TIMER_VECTOR: u8 = 0xf0;
/// Vector of LAPIC errors (masked; reported if it ever arrives).
pub const ERROR_VECTOR: u8 = 0xfe;
/// Spurious-interrupt vector (no EOI for these).
pub const SPURIOUS_VECTOR: u8 = 0xff;

static BASE: AtomicU64 = AtomicU64::new(0xfee0_0000);
static X2APIC: AtomicBool = AtomicBool::new(false);
static TIMER_HZ: AtomicU64 = AtomicU64::new(0);

fn read(reg: u32) -> u32 {
    if X2APIC.load(Ordering::Relaxed) {
        // SAFETY: in x2APIC mode every LAPIC register `reg` is MSR 0x800 + reg/16.
        unsafe { rdmsr(0x800 + (reg >> 4)) as u32 }
    } else {
        let addr = crate::mem::phys_to_virt(BASE.load(Ordering::Relaxed) + reg as u64);
        // SAFETY: the LAPIC page is in the direct map (uncached) and `reg` is a register offset.
        unsafe { core::ptr::read_volatile(addr as *const u32) }
    }
}

fn write(reg: u32, value: u32) {
    if X2APIC.load(Ordering::Relaxed) {
        // SAFETY: as in `read`; the registers written here accept any 32-bit value.
        unsafe { wrmsr(0x800 + (reg >> 4), value as u64) }
    } else {
        let addr = crate::mem::phys_to_virt(BASE.load(Ordering::Relaxed) + reg as u64);
        // SAFETY: as in `read`.
        unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
    }
}

/// Enable the LAPIC (software-enable via SVR), accept all priorities, mask timer and error
/// LVTs, then start the timer's calibration, which [`finish_calibration`] ends.
pub fn init() {
    // SAFETY: IA32_APIC_BASE exists on every x86_64 CPU with an APIC (all we boot on).
    let mut msr = unsafe { rdmsr(IA32_APIC_BASE) };
    if msr & APIC_BASE_ENABLE == 0 {
        msr |= APIC_BASE_ENABLE;
        // SAFETY: setting the global enable bit keeps the current base and mode.
        unsafe { wrmsr(IA32_APIC_BASE, msr) };
    }
    X2APIC.store(msr & APIC_BASE_X2APIC != 0, Ordering::Relaxed);
    BASE.store(msr & 0x000f_ffff_ffff_f000, Ordering::Relaxed);

    write(REG_TPR, 0);
    write(REG_LVT_TIMER, LVT_MASKED | TIMER_VECTOR as u32);
    write(REG_LVT_ERROR, LVT_MASKED | ERROR_VECTOR as u32);
    write(REG_SVR, 0x100 | SPURIOUS_VECTOR as u32);
    write(REG_TIMER_DIVIDE, TIMER_DIVIDE_16);
    eoi();
    start_calibration();
}

/// This CPU's APIC id (the IO-APIC routes interrupts to it).
pub fn id() -> u32 {
    let v = read(REG_ID);
    if X2APIC.load(Ordering::Relaxed) {
        v
    } else {
        v >> 24
    }
}

/// Signal end of interrupt.
pub fn eoi() {
    write(REG_EOI, 0);
}

/// The timer's calibration: it counts down from `u32::MAX` (masked) from [`init`] on, and
/// [`finish_calibration`] reads how far it got against the TSC. The boot steps in between
/// (minutes of LAPIC time before the 32-bit count runs out at QEMU's 62.5 MHz) overlap it, so
/// it usually costs no waiting; before, the boot spun 1 ms for it.
///
/// Each end is a register access bracketed by TSC reads; if the vCPU was preempted inside a
/// bracket (likely on a loaded host) the TSC and LAPIC readings disagree, so a loose bracket
/// is taken again, up to [`CALIBRATION_ATTEMPTS`] times, keeping the tightest.
struct CalibrationStart {
    /// TSC at the middle of the write that started the count.
    tsc: u64,
    /// TSC ticks that write took.
    slack: u64,
}

/// Set by [`init`], taken by [`finish_calibration`].
static CALIBRATION: spin::Mutex<Option<CalibrationStart>> = spin::Mutex::new(None);

fn start_calibration() {
    let tight = crate::time::tsc_hz().max(1) / TIGHT_BRACKET_DIVISOR;
    let mut best: Option<CalibrationStart> = None;
    for _ in 0..CALIBRATION_ATTEMPTS {
        let t0 = super::rdtsc();
        write(REG_TIMER_INITIAL, u32::MAX);
        let t1 = super::rdtsc();
        let start = CalibrationStart {
            tsc: t0 / 2 + t1 / 2,
            slack: t1.wrapping_sub(t0),
        };
        // Each write restarts the count, so the last one is the start.
        let tight_enough = start.slack < tight;
        best = Some(start);
        if tight_enough {
            break;
        }
    }
    *CALIBRATION.lock() = best;
}

/// End the timer's calibration begun by [`init`] (at the latest at the first [`timer_hz`]):
/// waits only if less than [`CALIBRATION_DIVISOR`]⁻¹ s has passed since. Later calls do
/// nothing.
pub fn finish_calibration() {
    let finished = x86_64::instructions::interrupts::without_interrupts(|| {
        let Some(start) = CALIBRATION.lock().take() else {
            return false;
        };
        let tsc_hz = crate::time::tsc_hz().max(1);
        let window = tsc_hz / CALIBRATION_DIVISOR;
        let tight = tsc_hz / TIGHT_BRACKET_DIVISOR;
        while super::rdtsc().wrapping_sub(start.tsc) < window {
            core::hint::spin_loop();
        }
        let mut best: Option<(u64, u64)> = None; // (bracket slack, LAPIC Hz)
        for _ in 0..CALIBRATION_ATTEMPTS {
            let t0 = super::rdtsc();
            let remaining = read(REG_TIMER_CURRENT);
            let t1 = super::rdtsc();
            let slack = start.slack + t1.wrapping_sub(t0);
            let tsc_elapsed = (t0 / 2 + t1 / 2).wrapping_sub(start.tsc).max(1);
            let lapic_elapsed = (u32::MAX - remaining) as u64;
            let hz = (lapic_elapsed as u128 * tsc_hz as u128 / tsc_elapsed as u128) as u64;
            if best.is_none_or(|(s, _)| slack < s) {
                best = Some((slack, hz));
            }
            if slack < tight {
                break;
            }
        }
        write(REG_TIMER_INITIAL, 0);
        let hz = best.map_or(0, |(_, hz)| hz);
        // Never zero: `set_deadline` must always produce a non-zero count.
        TIMER_HZ.store(hz.max(1_000), Ordering::Relaxed);
        true
    });
    if !finished {
        return;
    }
    log::info!(
        "apic: LAPIC id {} ({} mode at {:#x}), timer {} kHz",
        id(),
        if X2APIC.load(Ordering::Relaxed) {
            "x2APIC"
        } else {
            "xAPIC"
        },
        BASE.load(Ordering::Relaxed),
        TIMER_HZ.load(Ordering::Relaxed) / 1000
    );
}

/// Calibration attempts before settling for the tightest one.
const CALIBRATION_ATTEMPTS: usize = 5;
/// A bracket is tight if both together took less than 1/100000 s (10 us): at most 1% of the
/// shortest window.
const TIGHT_BRACKET_DIVISOR: u64 = 100_000;

/// The calibration window is at least 1/1000 s.
const CALIBRATION_DIVISOR: u64 = 1_000;

/// LAPIC timer ticks per second (after the /16 divider); ends the calibration if it still
/// runs.
pub fn timer_hz() -> u64 {
    if TIMER_HZ.load(Ordering::Relaxed) == 0 {
        finish_calibration();
    }
    TIMER_HZ.load(Ordering::Relaxed)
}

/// Fire `TIMER_VECTOR` once after `ticks` timer ticks (re-arming replaces the old deadline).
pub fn arm_oneshot(ticks: u32) {
    write(REG_LVT_TIMER, TIMER_VECTOR as u32);
    write(REG_TIMER_INITIAL, ticks.max(1));
}

/// Stop the one-shot timer.
pub fn disarm() {
    write(REG_LVT_TIMER, LVT_MASKED | TIMER_VECTOR as u32);
    write(REG_TIMER_INITIAL, 0);
}
