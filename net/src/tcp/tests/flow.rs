//! Scripted tests of data transfer: retransmission and backoff, fast retransmit and NewReno,
//! limited transmit, out-of-order reassembly, delayed ACKs, Nagle, zero window and persist,
//! receive window, keepalive, user timeout, buffer bounds.

use super::script::*;
use crate::errno::Errno;
use crate::tcp::{State, TcpConfig, DEFAULT_SEND_BUFFER};
use crate::time::Duration;
use crate::wire::tcp::flags;
use alloc::vec::Vec;

#[test]
fn data_is_retransmitted_with_exponential_backoff_then_etimedout() {
    let mut h = Harness::with_config(TcpConfig {
        data_retries: 3,
        ..TcpConfig::default()
    });
    let (c, iss) = h.connected_plain();
    h.tcp.send(c, b"hello").unwrap();
    let first = h.expect();
    assert_eq!(first.data, b"hello");
    let mut gaps = Vec::new();
    for _ in 0..3 {
        gaps.push(h.advance_to_next_timer().as_millis());
        let r = h.expect();
        assert_eq!((r.seq, r.data.as_slice()), (iss + 1, &b"hello"[..]));
    }
    // The handshake measured ~0 RTT: RTO at the 200 ms floor, doubled each time.
    assert_eq!(gaps, [200, 400, 800]);
    assert_eq!(h.counters().retrans_segs, 3);
    h.advance_to_next_timer();
    assert_eq!(h.state(c), State::Closed);
    assert_eq!(h.tcp.send(c, b"x"), Err(Errno::ETIMEDOUT));
    assert_eq!(h.tcp.send(c, b"x"), Err(Errno::EPIPE));
}

#[test]
fn tail_loss_probe_resends_the_last_segment_before_the_timeout() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_sack();
    h.tcp.set_nodelay(c, true).unwrap();
    // Measure an RTT of 20 ms.
    h.tcp.send(c, b"x").unwrap();
    let _ = h.expect();
    h.advance(Duration::from_millis(20));
    h.inject(seg(5001).ack(iss + 2));
    h.tcp.send(c, &[1u8; 3 * 1460]).unwrap();
    for _ in 0..3 {
        let _ = h.expect();
    }
    // No ACK: a probe after about two round trips, well before the 200 ms timeout.
    let waited = h.advance_to_next_timer();
    assert!(waited < Duration::from_millis(200), "{waited:?}");
    let p = h.expect();
    assert_eq!((p.seq, p.data.len()), (iss + 2 + 2 * 1460, 1460));
    assert_eq!(h.counters().loss_probes, 1);
    // One probe per tail: the next timer is the retransmission timeout, counted from the
    // probe.
    assert_eq!(h.advance_to_next_timer().as_millis(), 200);
    assert_eq!(h.expect().seq, iss + 2);
    assert_eq!(h.counters().timeouts, 1);
}

#[test]
fn the_probe_for_several_segments_waits_two_round_trips_plus_timer_granularity() {
    let mut h = Harness::new();
    // A handshake taking 1 ms.
    let c = h.tcp.connect(h.now, us(), peer(), Some(1500)).unwrap();
    let syn = h.expect();
    h.advance(Duration::from_millis(1));
    h.inject(seg(5000).syn().ack(syn.seq + 1).mss(1460).sack_perm());
    let _ = h.expect();
    h.tcp.send(c, &[1u8; 3 * 1460]).unwrap();
    for _ in 0..3 {
        let _ = h.expect();
    }
    // 2 · SRTT + 2 ms: a short path gets a short probe timeout, no 10 ms floor.
    assert_eq!(h.advance_to_next_timer().as_millis(), 4);
    assert_eq!(h.counters().loss_probes, 1);
}

#[test]
fn without_sack_no_loss_probe_the_timeout_resends_the_head() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.set_nodelay(c, true).unwrap();
    h.tcp.send(c, b"x").unwrap();
    let _ = h.expect();
    h.advance(Duration::from_millis(20));
    h.inject(seg(5001).ack(iss + 2));
    h.tcp.send(c, &[1u8; 3 * 1460]).unwrap();
    for _ in 0..3 {
        let _ = h.expect();
    }
    // A probe could not tell which segment it repaired: wait for the timeout.
    assert_eq!(h.advance_to_next_timer().as_millis(), 200);
    assert_eq!(h.expect().seq, iss + 2);
    assert_eq!(h.counters().loss_probes, 0);
}

#[test]
fn a_probe_due_after_the_timeout_takes_the_timeouts_place() {
    let mut h = Harness::new();
    // A handshake taking 100 ms: RTO 300 ms, a lone segment's probe 2·SRTT + 200 ms later.
    let c = h.tcp.connect(h.now, us(), peer(), Some(1500)).unwrap();
    let syn = h.expect();
    h.advance(Duration::from_millis(100));
    h.inject(seg(5000).syn().ack(syn.seq + 1).mss(1460).sack_perm());
    let _ = h.expect();
    h.tcp.set_nodelay(c, true).unwrap();
    h.tcp.send(c, b"y").unwrap();
    let _ = h.expect();
    // The probe goes at the timeout's instant, and the timeout restarts from it.
    assert_eq!(h.advance_to_next_timer().as_millis(), 300);
    assert_eq!(h.expect().data, b"y");
    assert_eq!((h.counters().loss_probes, h.counters().timeouts), (1, 0));
    assert_eq!(h.advance_to_next_timer().as_millis(), 300);
    assert_eq!(h.expect().data, b"y");
    assert_eq!(h.counters().timeouts, 1);
}

#[test]
fn rto_follows_measured_rtt_with_200ms_floor() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.send(c, b"a").unwrap();
    let _ = h.expect();
    h.advance(Duration::from_millis(10));
    h.inject(seg(5001).ack(iss + 2));
    h.tcp.send(c, b"b").unwrap();
    let _ = h.expect();
    // SRTT and RTTVAR of a few ms: floored to 200 ms.
    assert_eq!(h.advance_to_next_timer().as_millis(), 200);
    assert_eq!(h.expect().data, b"b");
}

#[test]
fn user_timeout_aborts_before_the_retry_limit() {
    let mut h = Harness::new();
    let (c, _) = h.connected_plain();
    h.tcp
        .set_user_timeout(c, Some(Duration::from_secs(5)))
        .unwrap();
    h.tcp.send(c, b"x").unwrap();
    h.advance(Duration::from_secs(20));
    assert_eq!(h.state(c), State::Closed);
    assert_eq!(h.tcp.take_error(c), Ok(Some(Errno::ETIMEDOUT)));
}

/// Connected with nodelay and 10 full segments in flight; returns (handle, iss, segments).
fn ten_in_flight(h: &mut Harness) -> (crate::tcp::Handle, u32, Vec<Out>) {
    let (c, iss) = h.connected_plain();
    h.tcp.set_nodelay(c, true).unwrap();
    let data: Vec<u8> = (0..14600u32).map(|i| i as u8).collect();
    assert_eq!(h.tcp.send(c, &data).unwrap(), 14600);
    let segs: Vec<Out> = (0..10).map(|_| h.expect()).collect();
    h.expect_none();
    assert!(segs.iter().all(|s| s.data.len() == 1460));
    (c, iss, segs)
}

#[test]
fn initial_window_is_ten_segments() {
    let mut h = Harness::new();
    let (c, iss, segs) = ten_in_flight(&mut h);
    assert_eq!(segs[9].seq, iss + 1 + 9 * 1460);
    h.tcp.send(c, &[0; 100]).unwrap();
    h.expect_none();
}

#[test]
fn window_restarts_after_idle() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.set_nodelay(c, true).unwrap();
    // Grow the window: 10 segments acknowledged one by one (slow start: +1 each).
    h.tcp.send(c, &[0; 14600]).unwrap();
    for _ in 0..10 {
        let _ = h.expect();
    }
    for k in 1..=10 {
        h.inject(seg(5001).ack(iss + 1 + k * 1460));
    }
    // Right away a 30-segment write goes 20 at a time...
    h.tcp.send(c, &[0; 30 * 1460]).unwrap();
    h.flush();
    assert_eq!(h.out.drain(..).count(), 20);
    h.inject(seg(5001).ack(iss + 1 + 14600 + 20 * 1460));
    h.flush();
    assert_eq!(h.out.drain(..).count(), 10);
    h.inject(seg(5001).ack(iss + 1 + 14600 + 30 * 1460));
    h.flush();
    h.out.clear();
    assert_eq!(h.tcp.poll_at(), None);
    // ...but after a second of silence the window is back to the initial 10.
    h.advance(Duration::from_secs(1));
    h.tcp.send(c, &[0; 30 * 1460]).unwrap();
    h.flush();
    assert_eq!(h.out.drain(..).count(), 10);
}

#[test]
fn fast_retransmit_on_third_dupack_and_newreno_partial_ack() {
    let mut h = Harness::new();
    let (c, iss, _segs) = ten_in_flight(&mut h);
    let una = iss + 1;
    // Segments 1 and 3 are lost; the peer acknowledges up to segment 1 for each arrival.
    h.tcp.send(c, &[1; 2920]).unwrap();
    h.expect_none();
    h.inject(seg(5001).ack(una));
    // Limited transmit: the first two duplicate ACKs each release one new segment.
    assert_eq!(h.expect().seq, una + 14600);
    h.inject(seg(5001).ack(una));
    assert_eq!(h.expect().seq, una + 14600 + 1460);
    h.inject(seg(5001).ack(una));
    let fr = h.expect();
    assert_eq!(fr.seq, una, "third duplicate ACK retransmits the head");
    assert_eq!(h.counters().fast_retransmits, 1);
    // Partial ACK up to the second hole: the next hole is retransmitted at once.
    h.inject(seg(5001).ack(una + 2 * 1460));
    let pr = h.expect();
    assert_eq!(pr.seq, una + 2 * 1460);
    assert!(h.counters().retrans_segs >= 2);
    // Full ACK ends recovery.
    h.inject(seg(5001).ack(una + 14600 + 2920));
    assert_eq!(h.tcp.poll_at(), None, "nothing outstanding, no timer");
    assert_eq!(h.state(c), State::Established);
}

/// RFC 5681 §3.2 step 2 and RFC 3042: the segments limited transmit sent are not part of the
/// FlightSize that sets ssthresh on entering recovery. 10 segments of 1000 in flight, two more
/// sent by limited transmit: CUBIC (β 0.7) takes 7000, NewReno 5000 — not 8400 / 6000.
#[test]
fn ssthresh_on_recovery_ignores_limited_transmit() {
    for (cc, sack, want) in [
        ("cubic", false, 7),
        ("cubic", true, 7),
        ("reno", false, 5),
        ("reno", true, 5),
    ] {
        let mut h = Harness::new();
        let c = h.tcp.connect(h.now, us(), peer(), Some(1500)).unwrap();
        let syn = h.expect();
        // A real round trip: RACK's reordering window is a quarter of it.
        h.advance(Duration::from_millis(20));
        let synack = seg(5000).syn().ack(syn.seq + 1).mss(1000);
        h.inject(if sack { synack.sack_perm() } else { synack });
        let _ = h.expect();
        h.tcp.set_nodelay(c, true).unwrap();
        h.tcp.set_congestion(c, cc).unwrap();
        let una = syn.seq + 1;
        h.tcp.send(c, &[5; 14_000]).unwrap();
        h.flush();
        assert_eq!(h.out.drain(..).count(), 10);
        let m = 1000u32;
        for k in 2..=4 {
            let ack = seg(5001).ack(una);
            h.inject(if sack {
                ack.sack(&[(una + m, una + k * m)])
            } else {
                ack
            });
        }
        h.flush();
        let sent: Vec<u32> = h.out.drain(..).map(|o| o.seq).collect();
        assert!(sent.contains(&una), "{cc}: no fast retransmit: {sent:?}");
        assert!(sent.contains(&(una + 10 * m)), "{cc}: no limited transmit");
        assert_eq!(h.counters().fast_retransmits, 1);
        let info = h.tcp.info(c).unwrap();
        assert_eq!(info.snd_ssthresh, want, "{cc} sack={sack}");
    }
}

#[test]
fn early_retransmit_with_few_segments_outstanding() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.set_nodelay(c, true).unwrap();
    h.tcp.send(c, &[3u8; 2 * 1460]).unwrap();
    let _ = h.expect();
    let _ = h.expect();
    // Two segments outstanding, nothing more to send: one duplicate ACK is enough.
    h.inject(seg(5001).ack(iss + 1));
    let r = h.expect();
    assert_eq!((r.seq, r.data.len()), (iss + 1, 1460));
    assert_eq!(h.counters().fast_retransmits, 1);
}

#[test]
fn out_of_order_data_is_reassembled_and_acknowledged_at_once() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.inject(seg(5001 + 3).ack(iss + 1).data(b"def"));
    assert_eq!(h.expect().ack, 5001, "immediate duplicate ACK for a hole");
    h.inject(seg(5001 + 9).ack(iss + 1).data(b"jkl"));
    assert_eq!(h.expect().ack, 5001);
    // Overlapping and duplicate pieces.
    h.inject(seg(5001 + 2).ack(iss + 1).data(b"cdefg"));
    assert_eq!(h.expect().ack, 5001);
    assert_eq!(h.tcp.recv(c, &mut [0; 8]), Err(Errno::EAGAIN));
    h.inject(seg(5001).ack(iss + 1).data(b"abc"));
    assert_eq!(
        h.expect().ack,
        5001 + 7,
        "filling a hole is acknowledged at once"
    );
    h.inject(seg(5001 + 7).ack(iss + 1).data(b"hi"));
    assert_eq!(h.expect().ack, 5001 + 12);
    assert_eq!(h.read_all(c), b"abcdefghijkl");
    assert!(h.counters().ofo_queued >= 3);
}

#[test]
fn out_of_order_fin_waits_for_the_data_before_it() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.inject(seg(5004).ack(iss + 1).data(b"de").fin());
    assert_eq!(h.state(c), State::Established);
    assert_eq!(h.expect().ack, 5001);
    h.inject(seg(5001).ack(iss + 1).data(b"abc"));
    assert_eq!(h.state(c), State::CloseWait);
    assert_eq!(h.expect().ack, 5007);
    assert_eq!(h.read_all(c), b"abcde");
    assert_eq!(h.tcp.recv(c, &mut [0; 4]), Ok(0));
}

#[test]
fn delayed_ack_after_40ms_or_every_second_full_segment() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    let s = h.past_quickack(c, iss, 5001);
    let delayed = h.counters().delayed_acks;
    h.inject(seg(s).ack(iss + 1).data(&[1; 100]));
    h.expect_none();
    assert_eq!(h.advance_to_next_timer().as_millis(), 40);
    assert_eq!(h.expect().ack, s + 100);
    assert_eq!(h.counters().delayed_acks, delayed + 1);
    h.inject(seg(s + 100).ack(iss + 1).data(&[2; 1460]));
    h.expect_none();
    h.inject(seg(s + 1560).ack(iss + 1).data(&[3; 1460]));
    assert_eq!(h.expect().ack, s + 3020);
    assert_eq!(h.read_all(c).len(), 3020);
}

#[test]
fn every_second_full_segment_is_acknowledged_with_timestamps_too() {
    let mut h = Harness::new();
    let (c, iss) = h.connected();
    // After the quick-ACK period of the connection's start (segments without timestamps
    // would be dropped by PAWS once one carried them, so it ends on its own here: the first
    // 16 full-sized segments are each acknowledged).
    let mut s = 5001u32;
    for i in 0..super::super::delack::MAX_QUICKACKS {
        h.inject(seg(s).ack(iss + 1).ts(101 + i, 0).data(&[1; 1448]));
        s += 1448;
        assert_eq!(h.expect().ack, s);
        h.read_all(c);
    }
    // Full-sized with a timestamp option: 1460 − 12 = 1448 bytes of data.
    h.inject(seg(s).ack(iss + 1).ts(200, 0).data(&[1; 1448]));
    h.expect_none();
    h.inject(seg(s + 1448).ack(iss + 1).ts(201, 0).data(&[2; 1448]));
    assert_eq!(h.expect().ack, s + 2 * 1448);
}

#[test]
fn nagle_holds_small_segments_while_data_is_unacknowledged() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.send(c, b"a").unwrap();
    assert_eq!(h.expect().data, b"a");
    h.tcp.send(c, b"b").unwrap();
    h.tcp.send(c, b"c").unwrap();
    h.expect_none();
    h.inject(seg(5001).ack(iss + 2));
    assert_eq!(h.expect().data, b"bc");
    // With TCP_NODELAY each write goes at once.
    h.tcp.set_nodelay(c, true).unwrap();
    h.tcp.send(c, b"d").unwrap();
    assert_eq!(h.expect().data, b"d");
    h.tcp.send(c, b"e").unwrap();
    assert_eq!(
        h.expect().data,
        b"e",
        "not held behind the unacknowledged d"
    );
}

#[test]
fn zero_window_persist_probes_back_off_and_resume() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.inject(seg(5001).ack(iss + 1).win(0));
    h.tcp.send(c, b"blocked").unwrap();
    h.expect_none();
    let mut gaps = Vec::new();
    for _ in 0..3 {
        gaps.push(h.advance_to_next_timer().as_millis());
        let p = h.expect();
        assert!(p.is(flags::ACK) && p.data.is_empty());
        assert_eq!(p.seq, iss, "probe uses SND.UNA − 1");
        h.inject(seg(5001).ack(iss + 1).win(0));
    }
    assert_eq!(gaps, [200, 400, 800]);
    assert_eq!(h.counters().window_probes, 3);
    assert_eq!(h.state(c), State::Established);
    // The window opens: the data goes.
    h.inject(seg(5001).ack(iss + 1).win(1000));
    assert_eq!(h.expect().data, b"blocked");
}

#[test]
fn window_closing_on_data_in_flight_keeps_probing() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.send(c, b"in flight").unwrap();
    let _ = h.expect();
    // The peer closes its window without acknowledging anything.
    h.inject(seg(5001).ack(iss + 1).win(0));
    // The timeout cannot resend into a zero window; probes take over.
    for _ in 0..3 {
        h.advance_to_next_timer();
        h.flush();
        assert!(
            h.out.iter().all(|o| o.data.is_empty()),
            "data sent into a zero window"
        );
        h.out.clear();
    }
    assert!(h.counters().window_probes >= 2);
    h.inject(seg(5001).ack(iss + 1).win(1000));
    assert_eq!(h.expect().data, b"in flight");
}

#[test]
fn receiver_advertises_zero_window_when_full_and_reopens_it() {
    let mut h = Harness::new();
    let l = h.tcp.listen(us(), 4).unwrap();
    h.tcp.set_recv_buffer(l, 4096).unwrap();
    h.inject(seg(5000).syn().mss(1460));
    let sa = h.expect();
    assert_eq!(sa.window, 4096);
    let iss = sa.seq;
    h.inject(seg(5001).ack(iss + 1));
    let c = h.tcp.accept(l).unwrap();
    for i in 0..4u32 {
        h.inject(seg(5001 + i * 1024).ack(iss + 1).data(&[i as u8; 1024]));
    }
    h.advance(Duration::from_millis(50));
    let last = h.out.drain(..).next_back().unwrap();
    assert_eq!(
        (last.ack, last.window),
        (5001 + 4096, 0),
        "window closes when the buffer is full"
    );
    // Data beyond the window is not accepted, and the sender is told so.
    h.inject(seg(5001 + 4096).ack(iss + 1).data(b"overflow"));
    let a = h.expect();
    assert_eq!((a.ack, a.window), (5001 + 4096, 0));
    // Reading reopens the window with an update.
    assert_eq!(h.read_all(c).len(), 4096);
    let upd = h.expect();
    assert_eq!((upd.ack, upd.window), (5001 + 4096, 4096));
}

#[test]
fn send_buffer_is_bounded() {
    let mut h = Harness::new();
    let (c, _) = h.connected_plain();
    let big = alloc::vec![0u8; DEFAULT_SEND_BUFFER + 1000];
    assert_eq!(h.tcp.send(c, &big), Ok(DEFAULT_SEND_BUFFER));
    assert_eq!(h.tcp.send(c, b"x"), Err(Errno::EAGAIN));
    assert!(!h.tcp.poll_events(c).unwrap().writable);
}

#[test]
fn keepalive_probes_then_times_out() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.set_keepalive(c, true).unwrap();
    h.tcp
        .set_keepalive_params(c, Duration::from_secs(10), Duration::from_secs(2), 3)
        .unwrap();
    assert_eq!(h.advance_to_next_timer().as_secs(), 10);
    let p = h.expect();
    assert!(p.is(flags::ACK) && p.seq == iss);
    // An answer resets the count.
    h.inject(seg(5001).ack(iss + 1));
    assert_eq!(h.advance_to_next_timer().as_secs(), 10);
    let _ = h.expect();
    for _ in 0..2 {
        assert_eq!(h.advance_to_next_timer().as_secs(), 2);
        let _ = h.expect();
    }
    assert_eq!(h.counters().keepalive_probes, 4);
    h.advance_to_next_timer();
    let rst = h.expect();
    assert!(rst.has(flags::RST));
    assert_eq!(h.state(c), State::Closed);
    assert_eq!(h.tcp.take_error(c), Ok(Some(Errno::ETIMEDOUT)));
}

#[test]
fn keepalive_is_off_by_default() {
    let mut h = Harness::new();
    let (_c, _) = h.connected_plain();
    assert_eq!(h.tcp.poll_at(), None);
    let o = h.tcp.sock_opts(_c).unwrap();
    assert_eq!(
        (
            o.keepalive,
            o.keepalive_idle.as_secs(),
            o.keepalive_interval.as_secs(),
            o.keepalive_count
        ),
        (false, 7200, 75, 9)
    );
}

#[test]
fn window_scaling_applies_to_the_peer_window() {
    let mut h = Harness::new();
    let c = h.tcp.connect(h.now, us(), peer(), None).unwrap();
    let syn = h.expect();
    h.inject(seg(5000).syn().ack(syn.seq + 1).mss(1000).ws(4).win(10));
    let _ = h.expect();
    h.tcp.set_nodelay(c, true).unwrap();
    // Window 10 << 4 = 160 bytes after the handshake.
    h.inject(seg(5001).ack(syn.seq + 1).win(10));
    h.tcp.send(c, &[0; 500]).unwrap();
    let s = h.expect();
    assert_eq!(s.data.len(), 160);
    h.expect_none();
    // Our own window field is scaled by our shift (7: the receive buffer may grow to 6 MiB);
    // before any data came it offers 20 segments (rounded to the scale), not the whole
    // buffer.
    let w = u32::from(s.window) << 7;
    assert!((29_200 - 128..29_328).contains(&w), "window {w}");
}

/// Regression (found by the property test): after a timeout rewinds SND.NXT, pure ACKs must
/// still carry SND.MAX. With SND.NXT they fell below the peer's RCV.NXT, were unacceptable,
/// and two sides timing out together deadlocked.
#[test]
fn pure_acks_after_a_timeout_carry_snd_max() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.set_nodelay(c, true).unwrap();
    h.tcp.send(c, &[1u8; 3 * 1460]).unwrap();
    for _ in 0..3 {
        let _ = h.expect();
    }
    // No SACK, so no loss probe: the timeout goes back to the head.
    h.advance_to_next_timer();
    assert_eq!(h.expect().seq, iss + 1, "go-back-N resends the head");
    h.inject(seg(5001).ack(iss + 1).data(b"x"));
    h.advance(Duration::from_millis(50));
    let ack = h.expect();
    assert!(ack.data.is_empty());
    assert_eq!(ack.seq, iss + 1 + 3 * 1460);
}

/// A congestion controller with a fixed two-segment window, to show the trait is the only
/// thing output consults.
#[derive(Debug)]
struct TwoSegments(u32);

impl crate::tcp::congestion::CongestionControl for TwoSegments {
    fn cwnd(&self) -> u32 {
        2 * self.0
    }
    fn ssthresh(&self) -> u32 {
        2 * self.0
    }
    fn on_ack(&mut self, _: u32, _: u32) {}
    fn exit_slow_start(&mut self) {}
    fn on_enter_recovery(&mut self, _: u32, _: u32) {}
    fn on_dupack_in_recovery(&mut self, _: u32) {}
    fn on_partial_ack(&mut self, _: u32, _: u32) {}
    fn on_exit_recovery(&mut self, _: u32, _: u32) {}
    fn on_rto(&mut self, _: u32, _: u32) {}
    fn on_idle_restart(&mut self, _: u32) {}
    fn undo(&mut self) {}
}

#[test]
fn congestion_control_is_pluggable() {
    fn two(_: u32, mss: u32) -> alloc::boxed::Box<dyn crate::tcp::congestion::CongestionControl> {
        alloc::boxed::Box::new(TwoSegments(mss))
    }
    let mut h = Harness::with_config(TcpConfig {
        congestion: two,
        ..TcpConfig::default()
    });
    let (c, iss) = h.connected_plain();
    h.tcp.set_nodelay(c, true).unwrap();
    h.tcp.send(c, &[0; 10 * 1460]).unwrap();
    h.flush();
    assert_eq!(h.out.drain(..).count(), 2);
    h.inject(seg(5001).ack(iss + 1 + 2 * 1460));
    h.flush();
    assert_eq!(h.out.drain(..).count(), 2);
}
