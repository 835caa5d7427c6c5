//! Congestion control selection (TCP_CONGESTION) and several flows sharing one bottleneck:
//! fairness and link utilisation for CUBIC and NewReno (figures print with `--nocapture`).

use alloc::vec::Vec;
use core::net::SocketAddrV4;

use super::script::*;
use super::sim::{LinkCfg, Net, A, B};
use crate::errno::Errno;
use crate::tcp::{congestion, Handle, TcpConfig};
use crate::time::Instant;

#[test]
fn congestion_is_selectable_per_socket() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    assert_eq!(
        h.tcp.congestion_name(c),
        Ok("cubic"),
        "CUBIC is the default"
    );
    assert_eq!(h.tcp.set_congestion(c, "bbr"), Err(Errno::ENOENT));
    assert_eq!(h.tcp.set_congestion(c, ""), Err(Errno::ENOENT));
    assert_eq!(h.tcp.congestion_name(c), Ok("cubic"));
    h.tcp.set_congestion(c, "reno").unwrap();
    assert_eq!(h.tcp.congestion_name(c), Ok("reno"));
    // The switch keeps the window: still the initial 10 segments.
    h.tcp.set_nodelay(c, true).unwrap();
    h.tcp.send(c, &[7; 20 * 1460]).unwrap();
    h.flush();
    assert_eq!(h.out.drain(..).count(), 10);
    h.inject(seg(5001).ack(iss + 1 + 1460));
    h.flush();
    assert!(h.out.drain(..).count() >= 1, "the ACK opened the window");
    // A listener's children inherit its choice.
    let l = h.tcp.listen(us(), 4).unwrap();
    assert_eq!(h.tcp.congestion_name(l), Ok("cubic"));
    h.tcp.set_congestion(l, "reno").unwrap();
    assert_eq!(h.tcp.congestion_name(l), Ok("reno"));
    h.inject(seg(9000).syn().mss(1460).port(41000));
    let synack = h.expect();
    h.inject(seg(9001).ack(synack.seq.wrapping_add(1)).port(41000));
    let child = h.tcp.accept(l).unwrap();
    assert_eq!(h.tcp.congestion_name(child), Ok("reno"));
    // A host configured for NewReno reports it; stale handles give EBADF.
    let mut r = Harness::with_config(TcpConfig {
        congestion: congestion::new_reno,
        ..TcpConfig::default()
    });
    let (rc, _) = r.connected_plain();
    assert_eq!(r.tcp.congestion_name(rc), Ok("reno"));
    r.tcp.abort(rc).unwrap();
    assert_eq!(r.tcp.congestion_name(rc), Err(Errno::EBADF));
    assert_eq!(r.tcp.set_congestion(rc, "cubic"), Err(Errno::EBADF));
}

/// Per-flow goodput over the measured interval.
struct Share {
    /// Bytes per second for each flow.
    flows: Vec<f64>,
    /// Link capacity (bytes per second of TCP payload at full-size segments).
    capacity: f64,
}

impl Share {
    fn jain(&self) -> f64 {
        let sum: f64 = self.flows.iter().sum();
        let sq: f64 = self.flows.iter().map(|x| x * x).sum();
        sum * sum / (self.flows.len() as f64 * sq)
    }
    fn utilisation(&self) -> f64 {
        self.flows.iter().sum::<f64>() / self.capacity
    }
}

/// `n` bulk flows from A to B through one 100 Mbit/s link with 10 ms each way (20 ms RTT)
/// and a 128-packet drop-tail queue; flow i starts at i × 500 ms. Goodput (bytes the
/// receiving application read) is measured from `warm` to `end`.
fn shared_bottleneck(tcp: TcpConfig, n: usize, seed: u64, warm: Instant, end: Instant) -> Share {
    let link = LinkCfg::default();
    let mut net = Net::new(link, seed, tcp);
    let l = net.b.listen(SocketAddrV4::new(B, 80), 64).unwrap();
    let mut clients: Vec<Option<Handle>> = alloc::vec![None; n];
    let mut servers: Vec<(Handle, usize)> = Vec::new();
    let mut got = alloc::vec![0u64; n];
    let chunk = alloc::vec![0u8; 64 * 1024];
    let mut rbuf = alloc::vec![0u8; 64 * 1024];
    while net.now < end {
        for (i, c) in clients.iter_mut().enumerate() {
            let start = Instant::from_millis(500 * i as u64);
            if c.is_none() && net.now >= start {
                let h = net
                    .a
                    .connect(
                        net.now,
                        SocketAddrV4::new(A, 0),
                        SocketAddrV4::new(B, 80),
                        Some(1500),
                    )
                    .unwrap();
                *c = Some(h);
            }
            if let Some(h) = *c {
                while net.a.poll_events(h).map(|e| e.writable).unwrap_or(false) {
                    match net.a.send(h, &chunk) {
                        Ok(_) => {}
                        Err(Errno::EAGAIN) => break,
                        Err(e) => panic!("flow {i}: send failed: {e}"),
                    }
                }
            }
        }
        while let Ok(s) = net.b.accept(l) {
            // Flows are told apart by the client's port, in connect order.
            let peer = net.b.peer_addr(s).unwrap();
            let i = clients
                .iter()
                .position(|c| c.and_then(|h| net.a.local_addr(h).ok()) == Some(peer))
                .unwrap();
            servers.push((s, i));
        }
        for &(s, i) in &servers {
            while let Ok(k) = net.b.recv(s, &mut rbuf) {
                if k == 0 {
                    break;
                }
                if net.now >= warm {
                    got[i] += k as u64;
                }
            }
        }
        net.dispatch();
        // A flow waiting to start is an event too.
        let next_start = (0..n as u64)
            .map(|i| Instant::from_millis(500 * i))
            .find(|&t| t > net.now);
        if !net.step() {
            match next_start {
                Some(t) => net.now = t,
                None => break,
            }
        }
    }
    let secs = end.saturating_since(warm).as_secs_f64();
    // Payload per packet on the wire: 1448 of 1448 + 12 (timestamps) + 20 + 20 + the
    // simulator's 20 bytes of framing, at the link's byte rate.
    let capacity = link.bandwidth as f64 * 1448.0 / (1448.0 + 12.0 + 40.0 + 20.0);
    Share {
        flows: got.iter().map(|&b| b as f64 / secs).collect(),
        capacity,
    }
}

fn fair_and_full(name: &str, tcp: TcpConfig) {
    let share = shared_bottleneck(
        tcp,
        4,
        21,
        Instant::from_millis(5_000),
        Instant::from_millis(25_000),
    );
    let mean = share.flows.iter().sum::<f64>() / share.flows.len() as f64;
    for (i, f) in share.flows.iter().enumerate() {
        std::println!(
            "sim 4 flows {name:<5} flow {i}: {:>6.2} Mbit/s",
            f * 8.0 / 1e6
        );
    }
    std::println!(
        "sim 4 flows {name:<5} Jain index {:.4}, aggregate {:.2} Mbit/s = {:.1} % of {:.2} Mbit/s",
        share.jain(),
        share.flows.iter().sum::<f64>() * 8.0 / 1e6,
        share.utilisation() * 100.0,
        share.capacity * 8.0 / 1e6
    );
    assert!(share.jain() >= 0.9, "{name}: unfair share");
    for f in &share.flows {
        assert!(*f > mean / 2.0 && *f < mean * 2.0, "{name}: a flow is off");
    }
    assert!(share.utilisation() >= 0.9, "{name}: link underused");
}

#[test]
fn four_cubic_flows_share_a_bottleneck() {
    fair_and_full("cubic", TcpConfig::default());
}

#[test]
fn four_reno_flows_share_a_bottleneck() {
    fair_and_full(
        "reno",
        TcpConfig {
            congestion: congestion::new_reno,
            ..TcpConfig::default()
        },
    );
}

/// Slow start grows by what an ACK newly reports delivered: bytes a SACK block already
/// reported count once, when they were SACKed, not again when the cumulative ACK covers them.
#[test]
fn slow_start_counts_sacked_bytes_once() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_sack();
    let mss = 1460u32;
    h.tcp.send(c, &[1u8; 15 * 1460]).unwrap();
    h.flush();
    assert_eq!(h.out.drain(..).count(), 10);
    // Segments 2 and 3 arrive first: two duplicate ACKs with SACK, one limited-transmit
    // segment each.
    for k in 2..=3u32 {
        h.inject(
            seg(5001)
                .ack(iss + 1)
                .sack(&[(iss + 1 + mss, iss + 1 + k * mss)]),
        );
        assert_eq!(h.expect().seq, iss + 1 + (8 + k) * mss);
    }
    // Segment 1 arrives: the ACK covers 3 segments, 1 of them news. The window grows by one
    // segment: 9 in flight after the ACK, room for 2.
    h.inject(seg(5001).ack(iss + 1 + 3 * mss));
    h.flush();
    let sent: alloc::vec::Vec<u32> = h.out.drain(..).map(|s| s.seq - iss).collect();
    assert_eq!(sent, [1 + 12 * mss, 1 + 13 * mss]);
}
