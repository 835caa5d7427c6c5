//! Buffer autotuning in the deterministic simulation: on a long path the receive and send
//! buffers grow with the connection and throughput passes what the initial buffers allow; an
//! explicit SO_RCVBUF stops growth; memory pressure stops growth; the window scale offered on
//! the SYN follows the ceiling. Every figure is simulated time, never wall time.

use alloc::vec;
use core::net::SocketAddrV4;

use super::script::*;
use super::sim::{pattern, LinkCfg, Net, A, B};
use crate::errno::Errno;
use crate::tcp::{Handle, TcpConfig, DEFAULT_RECV_BUFFER, DEFAULT_SEND_BUFFER};
use crate::time::{Duration, Instant};

const SIXTEEN_MIB: u64 = 16 << 20;

/// What one long-path transfer showed.
#[derive(Debug)]
struct Run {
    /// Simulated time from the SYN until the receiver had every byte.
    elapsed: Duration,
    received: u64,
    /// Largest receive buffer (receiver) and send buffer (sender) seen during the transfer.
    peak_recv_buffer: usize,
    peak_send_buffer: usize,
    /// Largest window the receiver advertised.
    peak_window: u32,
    /// Times the receiver's host-wide memory entered pressure.
    pressures: u64,
}

impl Run {
    fn mb_per_s(&self) -> f64 {
        self.received as f64 / self.elapsed.as_secs_f64() / 1e6
    }
}

/// Explicit SO_RCVBUF (on the receiver's listener, inherited by its child) and SO_SNDBUF
/// (on the sender's socket); `None` leaves the buffer to autotuning.
#[derive(Debug, Clone, Copy, Default)]
struct Explicit {
    recv_buffer: Option<usize>,
    send_buffer: Option<usize>,
}

/// Move `total` bytes from A to B over `link`; the receiver reads everything as soon as it
/// arrives.
fn transfer(link: LinkCfg, tcp: TcpConfig, total: u64, explicit: Explicit) -> Run {
    let mut net = Net::new(link, 7, tcp);
    let l = net.b.listen(SocketAddrV4::new(B, 80), 16).unwrap();
    if let Some(bytes) = explicit.recv_buffer {
        net.b.set_recv_buffer(l, bytes).unwrap();
    }
    let c = net
        .a
        .connect(
            net.now,
            SocketAddrV4::new(A, 0),
            SocketAddrV4::new(B, 80),
            Some(1500),
        )
        .unwrap();
    if let Some(bytes) = explicit.send_buffer {
        net.a.set_send_buffer(c, bytes).unwrap();
    }
    let mut server: Option<Handle> = None;
    let (mut sent, mut received) = (0u64, 0u64);
    let mut chunk = vec![0u8; 256 * 1024];
    let mut rbuf = vec![0u8; 256 * 1024];
    let mut run = Run {
        elapsed: Duration::ZERO,
        received: 0,
        peak_recv_buffer: 0,
        peak_send_buffer: 0,
        peak_window: 0,
        pressures: 0,
    };
    let limit = Instant::from_millis(600_000);
    while received < total {
        while sent < total {
            let n = ((total - sent) as usize).min(chunk.len());
            pattern(sent, &mut chunk[..n]);
            match net.a.send(c, &chunk[..n]) {
                Ok(k) => sent += k as u64,
                Err(Errno::EAGAIN) => break,
                Err(e) => panic!("send: {e}"),
            }
        }
        if server.is_none() {
            server = net.b.accept(l).ok();
        }
        if let Some(s) = server {
            loop {
                match net.b.recv(s, &mut rbuf) {
                    Ok(0) => panic!("early end of stream"),
                    Ok(n) => {
                        let mut want = vec![0u8; n];
                        pattern(received, &mut want);
                        assert_eq!(&rbuf[..n], &want[..], "stream corrupt at {received}");
                        received += n as u64;
                    }
                    Err(Errno::EAGAIN) => break,
                    Err(e) => panic!("recv: {e}"),
                }
            }
            let o = net.b.sock_opts(s).unwrap();
            run.peak_recv_buffer = run.peak_recv_buffer.max(o.recv_buffer);
            run.peak_window = run.peak_window.max(net.b.info(s).unwrap().rcv_wnd);
        }
        let o = net.a.sock_opts(c).unwrap();
        run.peak_send_buffer = run.peak_send_buffer.max(o.send_buffer);
        if received == total {
            break;
        }
        net.dispatch();
        assert!(
            net.step(),
            "stalled at {} ({sent} sent, {received} received)",
            net.now
        );
        assert!(
            net.now < limit,
            "not done in 10 simulated minutes: {received} received"
        );
    }
    run.elapsed = net.now.saturating_since(Instant::ZERO);
    run.received = received;
    run.pressures = net.b.memory().pressures;
    std::println!(
        "autotune: {} MiB in {:.3} s simulated = {:.2} MB/s; peak rcvbuf {} KiB, sndbuf {} KiB, window {} KiB",
        total >> 20,
        run.elapsed.as_secs_f64(),
        run.mb_per_s(),
        run.peak_recv_buffer >> 10,
        run.peak_send_buffer >> 10,
        run.peak_window >> 10,
    );
    run
}

/// 50 ms each way, 100 Mbit/s, no loss: the path of issue 15.
fn long_link() -> LinkCfg {
    LinkCfg {
        delay: Duration::from_millis(50),
        // A bottleneck queue of about one bandwidth-delay product (1.25 MB).
        queue: 1024,
        ..LinkCfg::default()
    }
}

/// What the initial buffers alone allow: one receive buffer per round trip.
fn fixed_buffer_cap_mb_per_s() -> f64 {
    DEFAULT_RECV_BUFFER as f64 / 0.1 / 1e6
}

#[test]
fn buffers_grow_on_a_long_path_and_throughput_passes_the_fixed_buffer_cap() {
    let run = transfer(
        long_link(),
        TcpConfig::default(),
        SIXTEEN_MIB,
        Explicit::default(),
    );
    assert_eq!(run.received, SIXTEEN_MIB);
    // The fixed 256 KiB buffer needs at least 16 MiB / 2.6 MB/s = 6.4 s here.
    let budget = Duration::from_millis(3_200);
    assert!(
        run.elapsed < budget,
        "{:.2} MB/s (fixed-buffer cap {:.2})",
        run.mb_per_s(),
        fixed_buffer_cap_mb_per_s()
    );
    assert!(run.peak_recv_buffer >= 4 * DEFAULT_RECV_BUFFER, "{run:?}");
    assert!(run.peak_window as usize > DEFAULT_RECV_BUFFER, "{run:?}");
    assert!(run.peak_send_buffer > DEFAULT_SEND_BUFFER, "{run:?}");
    let c = TcpConfig::default();
    assert!(run.peak_recv_buffer <= c.recv_buffer_max);
    assert!(run.peak_send_buffer <= c.send_buffer_max);
}

#[test]
fn without_timestamps_the_window_based_receiver_rtt_drives_the_growth() {
    let no_ts = TcpConfig {
        timestamps: false,
        ..TcpConfig::default()
    };
    let run = transfer(long_link(), no_ts, SIXTEEN_MIB, Explicit::default());
    assert!(run.elapsed < Duration::from_millis(3_200), "{run:?}");
    assert!(run.peak_recv_buffer >= 4 * DEFAULT_RECV_BUFFER, "{run:?}");
}

#[test]
fn without_autotuning_the_old_fixed_buffers_cannot_meet_that_budget() {
    let fixed = TcpConfig {
        moderate_rcvbuf: false,
        send_buffer_max: DEFAULT_SEND_BUFFER,
        ..TcpConfig::default()
    };
    let run = transfer(long_link(), fixed, SIXTEEN_MIB, Explicit::default());
    assert!(run.elapsed > Duration::from_millis(6_000), "{run:?}");
    assert_eq!(run.peak_recv_buffer, DEFAULT_RECV_BUFFER);
    assert_eq!(run.peak_send_buffer, DEFAULT_SEND_BUFFER);
}

#[test]
fn an_explicit_so_rcvbuf_is_never_grown() {
    let explicit = Explicit {
        recv_buffer: Some(DEFAULT_RECV_BUFFER),
        ..Explicit::default()
    };
    let run = transfer(long_link(), TcpConfig::default(), 4 << 20, explicit);
    assert_eq!(run.peak_recv_buffer, DEFAULT_RECV_BUFFER, "{run:?}");
    assert!(run.peak_window as usize <= DEFAULT_RECV_BUFFER);
    // The sender's buffer follows the small window: twice it, not twice its cwnd.
    assert!(run.peak_send_buffer <= 2 * DEFAULT_RECV_BUFFER, "{run:?}");
}

#[test]
fn an_explicit_so_sndbuf_is_never_grown_while_the_receive_side_still_is() {
    let explicit = Explicit {
        send_buffer: Some(DEFAULT_SEND_BUFFER),
        ..Explicit::default()
    };
    let run = transfer(long_link(), TcpConfig::default(), 8 << 20, explicit);
    assert_eq!(run.peak_send_buffer, DEFAULT_SEND_BUFFER, "{run:?}");
    assert!(run.peak_recv_buffer > DEFAULT_RECV_BUFFER, "{run:?}");
}

#[test]
fn memory_pressure_stops_growth() {
    // 2 MiB for all of the receiver's TCP buffers: pressure starts at 1 MiB.
    let small = TcpConfig {
        memory_limit: 2 << 20,
        ..TcpConfig::default()
    };
    let run = transfer(long_link(), small, 4 << 20, Explicit::default());
    assert_eq!(run.received, 4 << 20);
    assert!(run.pressures > 0, "{run:?}");
    assert!(run.peak_recv_buffer <= 2 << 20, "{run:?}");
}

#[test]
fn the_window_scale_on_the_syn_follows_the_ceiling() {
    // Default: the 6 MiB ceiling needs a shift of 7.
    let mut h = Harness::new();
    h.tcp.connect(h.now, us(), peer(), None).unwrap();
    assert_eq!(h.expect().opts.wscale, Some(7));
    // A 1 MiB ceiling: 5 (2^20 >> 4 is one more than fits in 16 bits).
    let mut h = Harness::with_config(TcpConfig {
        recv_buffer_max: 1 << 20,
        ..TcpConfig::default()
    });
    h.tcp.connect(h.now, us(), peer(), None).unwrap();
    assert_eq!(h.expect().opts.wscale, Some(5));
    // An explicit SO_RCVBUF before connecting locks the buffer: the scale follows it.
    let mut h = Harness::new();
    let l = h.tcp.listen(us(), 8).unwrap();
    h.tcp.set_recv_buffer(l, 32 * 1024).unwrap();
    h.inject(seg(1000).syn().mss(1460).ws(7));
    assert_eq!(h.expect().opts.wscale, Some(0));
    // Autotuning off host-wide: the initial buffer decides (256 KiB: 3).
    let mut h = Harness::with_config(TcpConfig {
        moderate_rcvbuf: false,
        ..TcpConfig::default()
    });
    h.tcp.connect(h.now, us(), peer(), None).unwrap();
    assert_eq!(h.expect().opts.wscale, Some(3));
}
