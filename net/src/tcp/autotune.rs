//! Buffer autotuning, in the spirit of Linux's dynamic right-sizing: a connection's receive
//! buffer (and with it the window it may advertise) grows to about twice what the application
//! reads per round trip, and its send buffer to about twice the congestion window, each up to
//! a host-wide ceiling (`TcpConfig::recv_buffer_max` / `send_buffer_max`, Linux's
//! `tcp_rmem[2]` / `tcp_wmem[2]`).
//!
//! The receiver needs its own round-trip estimate, since a receiver may send no data to time:
//! from timestamps when the connection has them (the time from our TSval to a data segment
//! echoing it), else from the time one advertised window of data takes to arrive, which can
//! only overestimate the round trip, so the estimate keeps the smallest such sample (Linux's
//! `rcv_rtt_est` does the same).
//!
//! Buffers only grow, never while host-wide TCP memory is under pressure (`memory`), and
//! never by more than the limit has room for; a socket whose buffer the program set with
//! SO_RCVBUF / SO_SNDBUF keeps it (Linux's SOCK_RCVBUF_LOCK / SOCK_SNDBUF_LOCK).
//!
//! Owns the estimates and the sizing rules; it never sends and never charges memory (a
//! bigger buffer costs nothing until the window opens into it, which `output` charges).

use super::input::Segment;
use super::memory::Memory;
use super::tcb::Tcb;
use super::TcpConfig;
use crate::time::Instant;

/// Segments of slack on top of twice what the application read in a round trip: room for
/// the sender's window to keep growing while the next measurement runs (Linux adds 16
/// advertised MSS too).
pub const RCV_GROWTH_SLACK_SEGMENTS: usize = 16;
/// What the application is assumed to read per round trip before the first measurement, in
/// segments: the sender's initial window (RFC 6928's 10, as Linux's `TCP_INIT_CWND`).
pub const RCV_SPACE_INITIAL_SEGMENTS: u32 = 10;
/// Largest receiver round-trip sample taken from a timestamp echo (10 minutes); a larger one
/// is a stale or forged echo.
const MAX_TS_RTT_MS: u32 = 600_000;

/// The receive side's measurements (Linux's `rcv_rtt_est` and `rcvq_space`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RcvTuning {
    /// The receiver's round-trip estimate in microseconds; 0 before the first sample.
    pub rtt_us: u64,
    /// The echo the last timestamp sample came from: one sample per echoed TSval.
    last_tsecr: u32,
    /// Window-based measurement under way (no timestamps): the stream offset that ends one
    /// advertised window, and when it began.
    window_probe: Option<(u64, Instant)>,
    /// Bytes the application read in the last measured round trip (Linux's
    /// `rcvq_space.space`): the buffer grows when a round trip reads more.
    pub space: usize,
    /// Bytes the application has read in all, and that total when the current measurement
    /// began, at `since`.
    read_total: u64,
    read_mark: u64,
    since: Instant,
}

impl RcvTuning {
    /// Measurements for a connection created at `now` with MSS `mss`.
    pub fn new(now: Instant, mss: u32) -> RcvTuning {
        RcvTuning {
            rtt_us: 0,
            last_tsecr: 0,
            window_probe: None,
            space: (RCV_SPACE_INITIAL_SEGMENTS * mss) as usize,
            read_total: 0,
            read_mark: 0,
            since: now,
        }
    }

    /// Fold in a sample. A timestamp sample is a real round trip: a moving average (gain
    /// 1/8, as RFC 6298's SRTT). A window sample can only overestimate: keep the smallest.
    fn sample(&mut self, us: u64, window_based: bool) {
        let us = us.max(1);
        self.rtt_us = if self.rtt_us == 0 {
            us
        } else if window_based {
            self.rtt_us.min(us)
        } else {
            (7 * self.rtt_us + us) / 8
        };
    }
}

impl Tcb {
    /// In-order data advanced RCV.NXT (segment `seg`, arrived at `now`): take a receiver
    /// round-trip sample if one is due.
    pub(crate) fn rcv_rtt_measure(&mut self, now: Instant, seg: &Segment) {
        if self.ts_ok {
            // A full-sized segment echoing a TSval not sampled yet: the sender sent it on
            // receiving the ACK that carried that TSval, about one round trip ago.
            let Some((_, ecr)) = seg.opts.timestamp else {
                return;
            };
            if ecr == 0
                || ecr == self.rcv_tuning.last_tsecr
                || seg.payload.len() < self.rcv_mss as usize
            {
                return;
            }
            self.rcv_tuning.last_tsecr = ecr;
            let ms = self.ts_now(now).wrapping_sub(ecr);
            if ms < MAX_TS_RTT_MS {
                // A millisecond clock: 0 means under a millisecond.
                self.rcv_tuning.sample(u64::from(ms.max(1)) * 1000, false);
            }
            return;
        }
        let reached = self.rcv_off;
        let window = u64::from(self.rcv_wnd().max(self.rcv_mss));
        let t = &mut self.rcv_tuning;
        if let Some((end, started)) = t.window_probe {
            if reached < end {
                return;
            }
            t.sample(now.saturating_since(started).as_micros() as u64, true);
        }
        t.window_probe = Some((reached + window, now));
    }

    /// The application read `n` bytes at `now`: once a receiver round trip has passed since
    /// the last measurement, grow the receive buffer to twice what that round trip read, plus
    /// slack, when it read more than the one before. Returns whether the buffer grew.
    pub(crate) fn rcv_space_adjust(
        &mut self,
        cfg: &TcpConfig,
        mem: &Memory,
        now: Instant,
        n: usize,
    ) -> bool {
        let t = &mut self.rcv_tuning;
        t.read_total += n as u64;
        if t.rtt_us == 0 || (now.saturating_since(t.since).as_micros() as u64) < t.rtt_us {
            return false;
        }
        let copied = usize::try_from(t.read_total - t.read_mark).unwrap_or(usize::MAX);
        t.read_mark = t.read_total;
        t.since = now;
        if copied <= t.space {
            return false;
        }
        t.space = copied;
        if self.opts.recv_buffer_locked || !cfg.moderate_rcvbuf || mem.pressure {
            return false;
        }
        let slack = RCV_GROWTH_SLACK_SEGMENTS * self.rcv_mss as usize;
        // The window field cannot say more than 65535 << the scale agreed on the SYN.
        let ceiling = self
            .opts
            .recv_buffer_ceiling(cfg)
            .min(0xffff << self.rcv_wscale);
        let want = copied
            .saturating_mul(2)
            .saturating_add(slack)
            .min(ceiling)
            .min(self.opts.recv_buffer.saturating_add(mem.room()));
        if want <= self.opts.recv_buffer {
            return false;
        }
        self.opts.recv_buffer = want;
        true
    }

    /// An ACK took acknowledged data off the send queue. If the send buffer, not the
    /// congestion window, was what limited the data in flight (the queue held at least half
    /// the buffer, `queued_before` bytes, and the flight, `flight_before`, was below the
    /// window), grow the buffer to twice the congestion window (or the peer's window, if
    /// smaller): room for a window in flight and a window for the writer to queue behind it
    /// (Linux's `tcp_sndbuf_expand`).
    pub(crate) fn snd_buf_expand(
        &mut self,
        cfg: &TcpConfig,
        mem: &Memory,
        queued_before: usize,
        flight_before: u32,
    ) {
        if self.opts.send_buffer_locked || mem.pressure {
            return;
        }
        let cwnd = self.cc.cwnd();
        if flight_before >= cwnd || queued_before.saturating_mul(2) < self.opts.send_buffer {
            return;
        }
        // No more can be in flight than the peer's window: buffering beyond twice that
        // would hold memory the connection cannot use.
        let initial = cfg.initial_window.saturating_mul(self.mss);
        let want = (cwnd.min(self.snd_wnd).max(initial) as usize)
            .saturating_mul(2)
            .min(self.opts.send_buffer_ceiling(cfg))
            .min(self.opts.send_buffer.saturating_add(mem.room()));
        if want > self.opts.send_buffer {
            self.opts.send_buffer = want;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::tcb::SockOpts;
    use crate::tcp::{Adopt, Counters, Shared, State};
    use core::net::{Ipv4Addr, SocketAddrV4};

    const RTT_US: u64 = 100_000;

    /// An established connection whose receiver round trip is known to be 100 ms, and the
    /// shared state around it.
    fn connection(opts: impl FnOnce(&mut SockOpts)) -> (Tcb, Shared) {
        let config = TcpConfig::default();
        let mut o = SockOpts::from_config(&config);
        opts(&mut o);
        let cx = Shared {
            mem: Memory::new(config.memory_limit),
            config,
            key: [0; 16],
            stats: Counters::default(),
            adopt: Adopt::Off,
        };
        let a = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80);
        let b = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 40000);
        let mut t = Tcb::new(&cx, Instant::ZERO, a, b, o, State::Established, 1, 0);
        t.rcv_wscale = o.rcv_wscale(&cx.config);
        t.rcv_tuning.rtt_us = RTT_US;
        (t, cx)
    }

    /// Read `n` bytes in the round trip that starts at `at_ms`: half in its middle, half at
    /// its end, which closes the measurement.
    fn read_round_trip(t: &mut Tcb, cx: &Shared, at_ms: u64, n: usize) -> bool {
        let mid = t.rcv_space_adjust(&cx.config, &cx.mem, Instant::from_millis(at_ms + 50), n / 2);
        assert!(!mid, "a measurement ended within a round trip");
        t.rcv_space_adjust(
            &cx.config,
            &cx.mem,
            Instant::from_millis(at_ms + 100),
            n - n / 2,
        )
    }

    #[test]
    fn the_buffer_grows_to_twice_a_round_trips_reading_plus_slack() {
        let (mut t, cx) = connection(|_| {});
        let slack = RCV_GROWTH_SLACK_SEGMENTS * t.rcv_mss as usize;
        // 400 KB read in a round trip: 800 KB plus slack.
        assert!(read_round_trip(&mut t, &cx, 0, 400_000));
        assert_eq!(t.opts.recv_buffer, 800_000 + slack);
        assert_eq!(t.rcv_tuning.space, 400_000);
        // No more than last time: no growth.
        assert!(!read_round_trip(&mut t, &cx, 100, 400_000));
        // Never beyond the ceiling.
        assert!(read_round_trip(&mut t, &cx, 200, 100 << 20));
        assert_eq!(t.opts.recv_buffer, cx.config.recv_buffer_max);
    }

    #[test]
    fn a_locked_buffer_memory_pressure_or_a_full_limit_stop_growth() {
        let (mut t, cx) = connection(|o| o.recv_buffer_locked = true);
        assert!(!read_round_trip(&mut t, &cx, 0, 4 << 20));
        assert_eq!(t.opts.recv_buffer, cx.config.recv_buffer);

        let (mut t, mut cx) = connection(|_| {});
        cx.mem.recharge(0, cx.mem.limit / 2 + 1);
        assert!(cx.mem.pressure);
        assert!(!read_round_trip(&mut t, &cx, 0, 4 << 20));
        assert_eq!(t.opts.recv_buffer, cx.config.recv_buffer);

        // Below pressure but with little room: growth stops at the limit.
        let (mut t, mut cx) = connection(|_| {});
        cx.mem = Memory::new(cx.mem.limit);
        cx.mem.pressure = false;
        cx.mem.used = cx.mem.limit - 100_000;
        assert!(read_round_trip(&mut t, &cx, 0, 4 << 20));
        assert_eq!(t.opts.recv_buffer, cx.config.recv_buffer + 100_000);
    }

    #[test]
    fn without_a_round_trip_estimate_nothing_grows() {
        let (mut t, cx) = connection(|_| {});
        t.rcv_tuning.rtt_us = 0;
        assert!(!read_round_trip(&mut t, &cx, 0, 4 << 20));
    }

    #[test]
    fn the_send_buffer_follows_twice_the_usable_window_unless_locked() {
        let (mut t, cx) = connection(|_| {});
        t.snd_wnd = 4 << 20;
        let cwnd = t.cc.cwnd();
        let full = t.opts.send_buffer;
        // Window-limited (flight at the congestion window): no growth.
        t.snd_buf_expand(&cx.config, &cx.mem, full, cwnd);
        assert_eq!(t.opts.send_buffer, full);
        // Buffer-limited with a congestion window of 1 MB: 2 MB.
        t.cc.restart_from(1_000_000, 1_000_000);
        t.snd_buf_expand(&cx.config, &cx.mem, full, 500_000);
        assert_eq!(t.opts.send_buffer, 2 * t.cc.cwnd() as usize);
        // The peer's window bounds it.
        let (mut t, cx) = connection(|_| {});
        t.snd_wnd = 300_000;
        t.cc.restart_from(1_000_000, 1_000_000);
        t.snd_buf_expand(&cx.config, &cx.mem, full, 290_000);
        assert_eq!(t.opts.send_buffer, 600_000);
        // Locked: never.
        let (mut t, cx) = connection(|o| o.send_buffer_locked = true);
        t.snd_wnd = 4 << 20;
        t.cc.restart_from(1_000_000, 1_000_000);
        t.snd_buf_expand(&cx.config, &cx.mem, full, 500_000);
        assert_eq!(t.opts.send_buffer, full);
    }

    #[test]
    fn window_samples_keep_the_minimum_timestamp_samples_average() {
        let mut t = RcvTuning::new(Instant::ZERO, 1460);
        t.sample(200_000, true);
        t.sample(300_000, true);
        assert_eq!(t.rtt_us, 200_000);
        t.sample(100_000, true);
        assert_eq!(t.rtt_us, 100_000);
        let mut t = RcvTuning::new(Instant::ZERO, 1460);
        t.sample(80_000, false);
        t.sample(160_000, false);
        assert_eq!(t.rtt_us, 90_000);
        t.sample(0, false);
        assert!(t.rtt_us > 0);
    }
}
