//! The load average of /proc/loadavg: exponentially damped moving averages of the number of
//! runnable threads (ready or running, the idle thread aside) over 1, 5 and 15 minutes,
//! sampled every 5 seconds as proc(5) describes Linux's.
//!
//! There is no periodic tick to sample at: the scheduler reports every change of the number
//! ([`Load::change`]), and the sampling points passed since the last report are taken then,
//! with the number as it was before the change. So a CPU that halted through many points
//! decays its averages as a ticking one would. Owns the averages only; pure arithmetic,
//! called with the scheduler's lock held.

/// Time between two samples, nanoseconds (Linux's `LOAD_FREQ`, 5 s).
const SAMPLE_NS: u64 = 5_000_000_000;
/// Fixed-point fraction bits of the averages.
const FSHIFT: u32 = 11;
const FIXED_1: u64 = 1 << FSHIFT;
/// The weight an average keeps at each sample, e^(-5 s / period) in fixed point, for the 1, 5
/// and 15 minute periods.
const DECAY: [u64; 3] = [1884, 2014, 2037];
/// Samples after which every average has reached the current number (the 15-minute weight to
/// this power is far below one part in 2^11): more missed samples are not replayed one by one.
const SETTLED_SAMPLES: u64 = 2000;

/// The averages and the number they follow.
#[derive(Debug)]
pub struct Load {
    runnable: u64,
    avg: [u64; 3],
    /// Nanoseconds since boot of the next sampling point.
    next: u64,
}

impl Load {
    /// `runnable` threads, averages 0; the first sample 5 s after boot.
    pub const fn new(runnable: u64) -> Load {
        Load {
            runnable,
            avg: [0; 3],
            next: SAMPLE_NS,
        }
    }

    /// Take the samples due by `now` (nanoseconds since boot) with the current number.
    fn catch_up(&mut self, now: u64) {
        if now < self.next {
            return;
        }
        let samples = (now - self.next) / SAMPLE_NS + 1;
        let active = self.runnable * FIXED_1;
        if samples >= SETTLED_SAMPLES {
            self.avg = [active; 3];
        } else {
            for _ in 0..samples {
                for (avg, decay) in self.avg.iter_mut().zip(DECAY) {
                    let mixed = *avg * decay + active * (FIXED_1 - decay);
                    // Rounded up while rising, so a steady number is reached, not approached
                    // forever from below.
                    let up = if active >= *avg { FIXED_1 - 1 } else { 0 };
                    *avg = (mixed + up) >> FSHIFT;
                }
            }
        }
        self.next = self.next.saturating_add(samples.saturating_mul(SAMPLE_NS));
    }

    /// One more runnable thread (`up`) or one fewer, at `now`.
    pub fn change(&mut self, now: u64, up: bool) {
        self.catch_up(now);
        self.runnable = if up {
            self.runnable + 1
        } else {
            self.runnable.saturating_sub(1)
        };
    }

    /// The three averages in hundredths, and the number of runnable threads, at `now`.
    pub fn read(&mut self, now: u64) -> ([u64; 3], u64) {
        self.catch_up(now);
        let hundredths = self.avg.map(|a| (a * 100 + FIXED_1 / 2) >> FSHIFT);
        (hundredths, self.runnable)
    }
}
