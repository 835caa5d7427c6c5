//! RACK-TLP (RFC 8985) and PRR (RFC 6937) end to end: scripted tail loss probes, and
//! deterministic simulations with reordering and loss that check the stream arrives intact and
//! count what was resent.

use super::script::*;
use super::sim::{bulk_with, LinkCfg};
use crate::tcp::TcpConfig;
use crate::time::Duration;

/// The tail's last segment is lost: the probe (that segment again) repairs it without a
/// timeout, and once an ACK passes the probe's end the repaired loss is counted and the window
/// comes down once (RFC 8985 §7.4).
#[test]
fn tail_loss_probe_repairs_a_lost_last_segment_without_a_timeout() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_sack();
    h.tcp.set_nodelay(c, true).unwrap();
    let una = iss + 1;
    let m = 1460u32;
    h.tcp.send(c, &[3; 5 * 1460]).unwrap();
    h.flush();
    assert_eq!(h.out.drain(..).count(), 5);
    h.advance(SACK_RTT);
    // The first four arrive; the fifth was lost. No SACK can say so.
    h.inject(seg(5001).ack(una + 4 * m));
    h.expect_none();
    let cwnd_before = h.tcp.info(c).unwrap().snd_cwnd;
    let w = h.advance_to_next_timer();
    assert_eq!(w, Duration::from_millis(200), "PTO capped at the RTO");
    let probe = h.expect();
    assert_eq!((probe.seq, probe.data.len()), (una + 4 * m, 1460));
    assert_eq!(h.counters().loss_probes, 1);
    assert_eq!(h.counters().timeouts, 0);
    // The probe's ACK ends at its end: not yet known whether it repaired anything.
    h.advance(SACK_RTT);
    h.inject(seg(5001).ack(una + 5 * m));
    assert_eq!(h.counters().tlp_recoveries, 0);
    // More data, acknowledged beyond the probe: the probe repaired the tail.
    h.tcp.send(c, &[4; 1460]).unwrap();
    let _ = h.expect();
    h.advance(SACK_RTT);
    h.inject(seg(5001).ack(una + 6 * m));
    assert_eq!(h.counters().tlp_recoveries, 1);
    assert_eq!(h.counters().timeouts, 0);
    assert!(h.tcp.info(c).unwrap().snd_cwnd < cwnd_before);
}

/// Every segment arrived but the ACKs were lost: the probe is answered with a D-SACK for
/// itself, which shows it repaired nothing (no window reduction).
#[test]
fn a_probe_reported_as_a_duplicate_repaired_nothing() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_sack();
    h.tcp.set_nodelay(c, true).unwrap();
    let una = iss + 1;
    let m = 1460u32;
    h.tcp.send(c, &[3; 5 * 1460]).unwrap();
    h.flush();
    assert_eq!(h.out.drain(..).count(), 5);
    let cwnd_before = h.tcp.info(c).unwrap().snd_cwnd;
    // PTO = 2 SRTT + 2 ms with several segments in flight.
    let waited = h.advance_to_next_timer();
    assert_eq!(waited, Duration::from_millis(42));
    let probe = h.expect();
    assert_eq!(probe.seq, una + 4 * m);
    h.inject(
        seg(5001)
            .ack(una + 5 * m)
            .sack(&[(una + 4 * m, una + 5 * m)]),
    );
    assert_eq!(h.counters().dsack_recv, 1);
    h.tcp.send(c, &[4; 1460]).unwrap();
    let _ = h.expect();
    h.inject(seg(5001).ack(una + 6 * m));
    assert_eq!(h.counters().tlp_recoveries, 0);
    assert!(h.tcp.info(c).unwrap().snd_cwnd >= cwnd_before);
}

/// Mild reordering (2 % of packets held back up to 3 ms on a 20 ms path): once RACK has seen
/// reordering it stops using DupThresh and waits min RTT / 4 before taking a segment as lost,
/// so the stream arrives intact with (almost) nothing resent and no timeout. Each seed's run
/// is deterministic.
#[test]
fn mild_reordering_causes_no_spurious_retransmissions() {
    let link = LinkCfg {
        reorder: 20,
        reorder_extra: Duration::from_millis(3),
        ..LinkCfg::default()
    };
    // Buffers pinned at their initial sizes: growing them lets slow start overflow the
    // link's queue, and this test is about reordering alone (no loss at all).
    let tcp = TcpConfig {
        recv_buffer_max: crate::tcp::DEFAULT_RECV_BUFFER,
        send_buffer_max: crate::tcp::DEFAULT_SEND_BUFFER,
        ..TcpConfig::default()
    };
    for seed in [1, 2, 3] {
        let t = bulk_with(link, seed, 4 << 20, tcp.clone());
        let k = &t.counters;
        std::println!(
            "reorder 2% seed {seed}: {:.3} s, {} retransmitted, {} fast recoveries, \
             reordering seen {}, RACK marks {}, DupThresh marks {}, D-SACKs {}, undone {}",
            t.elapsed.as_secs_f64(),
            t.retrans,
            t.fast_retransmits,
            k.rack_reordering,
            k.rack_marks,
            k.dupthresh_marks,
            k.dsack_recv,
            k.spurious_recoveries
        );
        assert!(t.hash_ok, "seed {seed}: stream damaged");
        assert_eq!(t.dropped, 0);
        assert_eq!(t.timeouts, 0, "seed {seed}");
        assert!(k.rack_reordering >= 1, "seed {seed}: reordering not seen");
        // Before the first reordering is seen DupThresh may resend once; after it, nothing.
        assert!(
            t.retrans <= 2,
            "seed {seed}: {} spurious retransmissions",
            t.retrans
        );
    }
}

/// Random loss (1 %) and some reordering: the stream arrives intact; losses are found by
/// RACK and DupThresh, repaired in recovery at PRR's pace, mostly without timeouts.
#[test]
fn loss_and_reordering_are_repaired_by_rack_and_prr() {
    let link = LinkCfg {
        loss: 10,
        reorder: 10,
        reorder_extra: Duration::from_millis(2),
        ..LinkCfg::default()
    };
    for seed in [4, 5] {
        let t = bulk_with(link, seed, 4 << 20, TcpConfig::default());
        let k = &t.counters;
        std::println!(
            "loss 1% seed {seed}: {:.3} s, {} dropped, {} retransmitted, {} timeouts, \
             RACK marks {}, DupThresh marks {}, reo timer {}, PRR {}/{}, probes {} ({} repaired)",
            t.elapsed.as_secs_f64(),
            t.dropped,
            t.retrans,
            t.timeouts,
            k.rack_marks,
            k.dupthresh_marks,
            k.rack_timeouts,
            k.prr_proportional,
            k.prr_slow_start,
            k.loss_probes,
            k.tlp_recoveries
        );
        assert!(t.hash_ok, "seed {seed}: stream damaged");
        assert!(t.dropped > 0);
        assert!(k.rack_marks + k.dupthresh_marks > 0);
        assert!(k.prr_proportional + k.prr_slow_start > 0);
        // Every drop is resent about once: far fewer retransmissions than twice the drops.
        assert!(
            t.retrans < 2 * t.dropped,
            "{} resent for {} dropped",
            t.retrans,
            t.dropped
        );
        assert!(
            t.timeouts * 4 < t.fast_retransmits.max(1),
            "seed {seed}: timeouts dominate"
        );
    }
}

/// Request-sized writes (10 segments, then wait until all are read) over a lossy link: a lost
/// segment at the end of a write has no later data to reveal it, so it is found by the tail
/// loss probe, not by the retransmission timeout. The bytes arrive intact and in order.
#[test]
fn tail_losses_of_short_writes_are_probed_not_timed_out() {
    use super::sim::{pattern, Net, A, B};
    use core::net::SocketAddrV4;
    let link = LinkCfg {
        loss: 20,
        ..LinkCfg::default()
    };
    let mut net = Net::new(link, 7, TcpConfig::default());
    let l = net.b.listen(SocketAddrV4::new(B, 80), 4).unwrap();
    let c = net
        .a
        .connect(
            net.now,
            SocketAddrV4::new(A, 0),
            SocketAddrV4::new(B, 80),
            Some(1500),
        )
        .unwrap();
    net.a.set_nodelay(c, true).unwrap();
    let write = 10 * 1448;
    let mut chunk = alloc::vec![0u8; write];
    let mut rbuf = alloc::vec![0u8; 64 * 1024];
    let mut got = alloc::vec::Vec::new();
    let mut server = None;
    let rounds = 300u64;
    for round in 0..rounds {
        pattern(round * write as u64, &mut chunk);
        let mut sent = 0;
        while got.len() < ((round + 1) * write as u64) as usize {
            if sent < write {
                match net.a.send(c, &chunk[sent..]) {
                    Ok(n) => sent += n,
                    Err(crate::errno::Errno::EAGAIN) => {}
                    Err(e) => panic!("send: {e}"),
                }
            }
            if server.is_none() {
                server = net.b.accept(l).ok();
            }
            if let Some(s) = server {
                while let Ok(n) = net.b.recv(s, &mut rbuf) {
                    if n == 0 {
                        break;
                    }
                    got.extend_from_slice(&rbuf[..n]);
                }
            }
            net.dispatch();
            assert!(net.step(), "stalled in round {round}");
        }
    }
    let mut want = alloc::vec![0u8; got.len()];
    pattern(0, &mut want);
    assert!(got == want, "stream damaged");
    let k = net.a.counters();
    std::println!(
        "short writes, 2% loss: {} dropped, {} probes ({} repaired), {} timeouts, \
         {} fast recoveries, {} RACK marks",
        net.dropped,
        k.loss_probes,
        k.tlp_recoveries,
        k.timeouts,
        k.fast_retransmits,
        k.rack_marks
    );
    assert!(k.loss_probes > 0 && k.tlp_recoveries > 0);
    assert!(
        k.timeouts < k.loss_probes,
        "{} timeouts for {} probes",
        k.timeouts,
        k.loss_probes
    );
}
