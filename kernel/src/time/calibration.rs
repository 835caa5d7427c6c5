//! Finding the TSC frequency at boot without making the boot wait for it.
//!
//! CPUID leaf 0x15 (crystal ratio), then 0x16 (base MHz), when the CPU reports them. Else the
//! TSC is counted against PIT channel 0 ([`arch::pit`]) over a window that opens at kernel
//! entry ([`begin`]) and closes when [`finish`] is called, after the boot steps that need no
//! clock (CPU tables, boot info, memory, paging). Those take longer than the window, so the
//! calibration usually costs no waiting at all; before, the boot spun 2.5 ms for it.
//!
//! Owns nothing but the window's first sample. Wrap safety: the PIT count wraps every 54.9 ms
//! and the steps in between are not polling it, so a vCPU stalled past a wrap would go
//! unnoticed. So the rate over the whole window is checked against the rate over a short
//! stretch polled right after it ([`VERIFY_TICKS`]); a missed wrap makes them differ by a
//! factor over 2, and the calibration is then done again, polled throughout.

use spin::Mutex;

use crate::arch::{self, pit};

/// The window is at least 2.5 ms (2983 PIT ticks at 838 ns). A read of the latched count
/// takes about a microsecond and the PIT counts in 838 ns steps, so the error stays near 0.1%,
/// as Linux's quick PIT calibration aims for.
const WINDOW_TICKS: u64 = 2_983;
/// The stretch polled after the window to check it: 0.25 ms.
const VERIFY_TICKS: u64 = 300;
/// The two rates may differ by a quarter (a read preempted for tens of microseconds, yet
/// counted as tight, skews the short stretch by about 10%); a missed wrap is a factor over 2.
const VERIFY_TOLERANCE_DIVISOR: u64 = 4;
/// A PIT read costs about a microsecond; one taking over 200k TSC ticks (>= 50 us on any CPU
/// we run on) was preempted and is not used as an end point.
const TIGHT_READ_TSC: u64 = 200_000;
/// Attempts at a tight first sample.
const SAMPLE_RETRIES: u32 = 10;
/// A stretch past its target by this much ends on the next read, tight or not.
const LOOSE_END_TICKS: u64 = 3 * WINDOW_TICKS;
/// Reads of an unchanging count in a row after which the PIT is declared absent.
const MAX_IDLE_POLLS: u64 = 100_000;

enum Begun {
    Cpuid(u64, &'static str),
    Pit(pit::Sample),
}

static BEGUN: Mutex<Option<Begun>> = Mutex::new(None);

/// Open the window (or note the CPUID frequency).
pub fn begin() {
    let begun = match from_cpuid() {
        Some((hz, source)) => Begun::Cpuid(hz, source),
        None => {
            pit::start_free_running();
            Begun::Pit(tight_sample())
        }
    };
    *BEGUN.lock() = Some(begun);
}

/// Close the window: the TSC frequency in Hz and where it came from; `None` without a PIT
/// that counts. Opens the window first if [`begin`] was not called.
pub fn finish() -> Option<(u64, &'static str)> {
    let begun = BEGUN.lock().take();
    let begun = match begun {
        Some(b) => b,
        None => {
            begin();
            BEGUN.lock().take()?
        }
    };
    let start = match begun {
        Begun::Cpuid(hz, source) => return Some((hz, source)),
        Begun::Pit(start) => start,
    };
    let hz = match measure(start) {
        Some((hz, true)) => Some(hz),
        Some((_, false)) => {
            log::debug!("time: the PIT window and its check disagree (a missed wrap?); again");
            pit::start_free_running();
            measure(tight_sample()).map(|(hz, _)| hz)
        }
        None => None,
    };
    pit::stop();
    hz.map(|hz| (hz, "PIT calibration"))
}

fn from_cpuid() -> Option<(u64, &'static str)> {
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

fn tight_sample() -> pit::Sample {
    let mut s = pit::sample();
    for _ in 0..SAMPLE_RETRIES {
        if s.cost <= TIGHT_READ_TSC {
            break;
        }
        s = pit::sample();
    }
    s
}

/// From `start`, poll until at least [`WINDOW_TICKS`] have passed, then [`VERIFY_TICKS`]
/// more. Returns the TSC rate over all of it, and whether the rate over the last stretch
/// agrees with it. `None` when the count never moves (no PIT).
fn measure(start: pit::Sample) -> Option<(u64, bool)> {
    let mut counter = PitCounter {
        last: start.count,
        elapsed: 0,
    };
    let (window_ticks, window_end) = counter.until(WINDOW_TICKS)?;
    let (all_ticks, end) = counter.until(window_ticks + VERIFY_TICKS)?;
    let whole = rate(end.wrapping_sub(start.tsc), all_ticks)?;
    let last = rate(end.wrapping_sub(window_end), all_ticks - window_ticks)?;
    Some((
        whole,
        whole.abs_diff(last) <= last / VERIFY_TOLERANCE_DIVISOR,
    ))
}

/// TSC ticks per second, from TSC ticks over PIT ticks.
fn rate(tsc_ticks: u64, pit_ticks: u64) -> Option<u64> {
    if tsc_ticks == 0 || pit_ticks == 0 {
        return None;
    }
    Some((tsc_ticks as u128 * pit::HZ as u128 / pit_ticks as u128) as u64)
}

/// PIT ticks counted since the first sample, across wraps seen by polling.
struct PitCounter {
    last: u16,
    elapsed: u64,
}

impl PitCounter {
    /// Poll until `target` ticks have passed in all, ending on a tight read (or on any read
    /// once [`LOOSE_END_TICKS`] past it); returns (ticks passed, TSC at that read).
    fn until(&mut self, target: u64) -> Option<(u64, u64)> {
        let mut idle_polls = 0;
        loop {
            let s = pit::sample();
            // The counter runs down and wraps at 65536.
            let moved = self.last.wrapping_sub(s.count) as u64;
            self.last = s.count;
            self.elapsed += moved;
            if moved == 0 {
                idle_polls += 1;
                if idle_polls > MAX_IDLE_POLLS {
                    return None;
                }
            } else {
                idle_polls = 0;
            }
            if self.elapsed >= target
                && (s.cost <= TIGHT_READ_TSC || self.elapsed >= target + LOOSE_END_TICKS)
            {
                return Some((self.elapsed, s.tsc));
            }
        }
    }
}
