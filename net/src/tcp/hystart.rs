//! HyStart++ (RFC 9406): leave the initial slow start when the round-trip time starts to
//! grow, before the doubling window overflows the bottleneck's queue, through a few rounds of
//! Conservative Slow Start (CSS) that grow at a quarter of the rate. With it, the ACK-train
//! test of the original HyStart (Ha and Rhee, 2011; Linux CUBIC's default): when the ACKs of
//! one round arrive back to back for longer than half the minimum RTT, the path is full, so
//! slow start ends at once. The delay test alone sees a rising RTT one round late when the
//! bottleneck queue is short (the first ACKs of a round carry the previous round's empty
//! queue), after the overflowing round has begun.
//!
//! Owns the per-round RTT bookkeeping only. The ACK path asks it, for each ACK in slow start,
//! how much of the acknowledged data may grow the window and whether slow start is over; the
//! congestion controller does the growing. Used for the initial slow start only (§4.3 allows
//! more): after a loss or a timeout it stays off.

use super::seq::Seq;

/// §4.3 constants (microseconds where times).
const MIN_RTT_THRESH_US: u64 = 4_000;
const MAX_RTT_THRESH_US: u64 = 16_000;
const MIN_RTT_DIVISOR: u64 = 8;
const N_RTT_SAMPLE: u32 = 8;
const CSS_GROWTH_DIVISOR: u32 = 4;
const CSS_ROUNDS: u32 = 5;
/// ACK-train test: ACKs at most this far apart continue the train (Linux: 2 ms)...
const TRAIN_GAP_US: u64 = 2_000;
/// ...and it applies from this window on, in segments (Linux's hystart_low_window)...
const TRAIN_MIN_WINDOW: u32 = 16;
/// ...and only to a train at least this long, whatever the minimum RTT: on a path of
/// microseconds (loopback, a LAN) a few ACKs in a row are no sign of a full queue.
const TRAIN_MIN_US: u64 = 2_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    SlowStart,
    /// Conservative slow start, with the rounds done so far and the RTT that started it.
    Css {
        rounds: u32,
        baseline_us: u64,
    },
    Done,
}

/// What the ACK path does with one ACK in slow start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Growth {
    /// Grow by the acknowledged bytes (slow start).
    Full,
    /// Grow by a quarter of them (CSS).
    Quarter,
    /// Slow start is over: set ssthresh to cwnd and continue in congestion avoidance.
    Exit,
}

/// HyStart++ state of one connection.
#[derive(Debug, Clone)]
pub struct HyStart {
    phase: Phase,
    /// The ACK that ends the current round (SND.NXT when it began).
    window_end: Option<Seq>,
    last_round_min_us: Option<u64>,
    round_min_us: Option<u64>,
    samples: u32,
    /// Lowest RTT sample seen.
    min_rtt_us: Option<u64>,
    /// First and latest ACK of the current round's back-to-back train (µs since boot);
    /// `None` once a gap broke it.
    train: Option<(u64, u64)>,
    /// The round just began: the next ACK starts its train.
    train_pending: bool,
}

impl HyStart {
    pub fn new(enabled: bool) -> HyStart {
        HyStart {
            phase: if enabled {
                Phase::SlowStart
            } else {
                Phase::Done
            },
            window_end: None,
            last_round_min_us: None,
            round_min_us: None,
            samples: 0,
            min_rtt_us: None,
            train: None,
            train_pending: false,
        }
    }

    /// Whether HyStart++ still shapes slow start.
    pub fn active(&self) -> bool {
        self.phase != Phase::Done
    }

    /// A congestion event (loss, timeout) ends it for good.
    pub fn stop(&mut self) {
        self.phase = Phase::Done;
    }

    /// One ACK in slow start acknowledging up to `ack`, arriving at `now_us`, with `snd_nxt`
    /// now, the window in segments and the RTT sample it gave, if any.
    pub fn on_ack(
        &mut self,
        now_us: u64,
        ack: Seq,
        snd_nxt: Seq,
        cwnd_segments: u32,
        rtt_us: Option<u64>,
    ) -> Growth {
        if self.phase == Phase::Done {
            return Growth::Full;
        }
        let round_over = self.window_end.is_none_or(|end| ack >= end);
        if round_over {
            if let Phase::Css {
                rounds,
                baseline_us,
            } = self.phase
            {
                // §4.2: a lower RTT in CSS means the rise was a fluke: back to slow start.
                if self.round_min_us.is_some_and(|m| m < baseline_us) {
                    self.phase = Phase::SlowStart;
                } else if rounds + 1 >= CSS_ROUNDS {
                    self.phase = Phase::Done;
                    return Growth::Exit;
                } else {
                    self.phase = Phase::Css {
                        rounds: rounds + 1,
                        baseline_us,
                    };
                }
            }
            self.window_end = Some(snd_nxt);
            // The ACK that ends a round is the tail of the previous flight's ACKs; the train
            // starts with the next one.
            self.train = None;
            self.train_pending = true;
            self.last_round_min_us = self.round_min_us;
            self.round_min_us = None;
            self.samples = 0;
        }
        if let Some(r) = rtt_us {
            self.round_min_us = Some(self.round_min_us.map_or(r, |m| m.min(r)));
            self.min_rtt_us = Some(self.min_rtt_us.map_or(r, |m| m.min(r)));
            self.samples += 1;
        }
        if self.train_pending && !round_over {
            self.train_pending = false;
            self.train = Some((now_us, now_us));
        }
        if let Some((start, last)) = self.train {
            if now_us.saturating_sub(last) > TRAIN_GAP_US {
                self.train = None;
            } else {
                self.train = Some((start, now_us));
                let len = now_us.saturating_sub(start);
                let long = len >= TRAIN_MIN_US && self.min_rtt_us.is_some_and(|m| len >= m / 2);
                if long && cwnd_segments >= TRAIN_MIN_WINDOW && self.phase == Phase::SlowStart {
                    self.phase = Phase::Done;
                    return Growth::Exit;
                }
            }
        }
        if self.phase == Phase::SlowStart && self.samples >= N_RTT_SAMPLE {
            if let (Some(cur), Some(last)) = (self.round_min_us, self.last_round_min_us) {
                let thresh = (last / MIN_RTT_DIVISOR).clamp(MIN_RTT_THRESH_US, MAX_RTT_THRESH_US);
                if cur >= last + thresh {
                    self.phase = Phase::Css {
                        rounds: 0,
                        baseline_us: cur,
                    };
                }
            }
        }
        match self.phase {
            Phase::Css { .. } => Growth::Quarter,
            _ => Growth::Full,
        }
    }

    /// The window growth for `acked` bytes under `growth`.
    pub fn scale(growth: Growth, acked: u32) -> u32 {
        match growth {
            Growth::Quarter => acked / CSS_GROWTH_DIVISOR,
            _ => acked,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// Feed one round of `n` ACKs with RTT `rtt_us`, the round ending at `end`; ACKs 5 ms
    /// apart (no train), a round starting every 100 ms.
    fn round(h: &mut HyStart, start: u32, end: u32, n: u32, rtt_us: u64) -> Vec<Growth> {
        (0..n)
            .map(|i| {
                let t = u64::from(start) * 1000 + u64::from(i) * 5_000;
                h.on_ack(t, Seq(start + i + 1), Seq(end), 32, Some(rtt_us))
            })
            .collect()
    }

    #[test]
    fn a_rising_rtt_moves_to_css_then_congestion_avoidance() {
        let mut h = HyStart::new(true);
        // Round 1 at 20 ms, round 2 still 20 ms: slow start.
        assert!(round(&mut h, 0, 100, 10, 20_000)
            .iter()
            .all(|&g| g == Growth::Full));
        assert!(round(&mut h, 100, 200, 10, 20_000)
            .iter()
            .all(|&g| g == Growth::Full));
        // Round 3 at 24 ms (threshold max(4, min(20/8, 16)) = 4 ms): CSS after 8 samples.
        let g = round(&mut h, 200, 300, 10, 24_000);
        assert_eq!(g[6], Growth::Full);
        assert_eq!(g[7], Growth::Quarter);
        // Rounds of CSS at the same RTT, then the exit.
        let mut start = 300;
        let mut exits = 0;
        for _ in 0..CSS_ROUNDS {
            for g in round(&mut h, start, start + 100, 10, 24_000) {
                exits += u32::from(g == Growth::Exit);
            }
            start += 100;
        }
        assert_eq!(exits, 1);
        assert!(!h.active());
        assert_eq!(HyStart::scale(Growth::Quarter, 4000), 1000);
    }

    #[test]
    fn a_lower_rtt_in_css_resumes_slow_start() {
        let mut h = HyStart::new(true);
        round(&mut h, 0, 100, 10, 20_000);
        round(&mut h, 100, 200, 10, 30_000);
        assert_eq!(
            h.on_ack(300_000, Seq(201), Seq(300), 32, Some(30_000)),
            Growth::Quarter
        );
        round(&mut h, 201, 300, 10, 10_000);
        // The next round starts: the lower RTT sends it back to slow start.
        assert_eq!(
            h.on_ack(500_000, Seq(301), Seq(400), 32, Some(10_000)),
            Growth::Full
        );
    }

    #[test]
    fn a_long_ack_train_ends_slow_start_at_once() {
        let mut h = HyStart::new(true);
        round(&mut h, 0, 100, 10, 20_000);
        // Next round: ACKs 0.2 ms apart from the second on (the first ends the round); the
        // train passes 10 ms (min RTT / 2) at ACK 51.
        let mut exit_at = None;
        for i in 0..80u32 {
            let t = 1_000_000 + u64::from(i) * 200;
            if h.on_ack(t, Seq(101 + i), Seq(300), 40, None) == Growth::Exit {
                exit_at = Some(i);
                break;
            }
        }
        assert_eq!(exit_at, Some(51));
        assert!(!h.active());
        // A small window does not count.
        let mut h = HyStart::new(true);
        round(&mut h, 0, 100, 10, 20_000);
        for i in 0..80u32 {
            let g = h.on_ack(
                1_000_000 + u64::from(i) * 200,
                Seq(101 + i),
                Seq(300),
                8,
                None,
            );
            assert_eq!(g, Growth::Full);
        }
    }

    #[test]
    fn disabled_or_stopped_always_grows_fully() {
        let mut h = HyStart::new(false);
        assert_eq!(h.on_ack(0, Seq(1), Seq(10), 32, Some(5)), Growth::Full);
        let mut h = HyStart::new(true);
        h.stop();
        round(&mut h, 0, 100, 10, 20_000);
        assert_eq!(round(&mut h, 100, 200, 10, 90_000)[9], Growth::Full);
    }
}
