//! Scripted tests of when received data is acknowledged: quick-ACK at the start and after
//! an idle gap, ping-pong mode, and more than one full-sized segment outstanding.

use super::script::*;
use crate::tcp::delack::MAX_QUICKACKS;
use crate::time::Duration;
use crate::wire::tcp::flags;

#[test]
fn the_first_segments_of_a_connection_are_acknowledged_at_once() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    let mut s = 5001;
    for i in 0..MAX_QUICKACKS {
        h.inject(seg(s).ack(iss + 1).data(&[1; 100]));
        s += 100;
        let a = h.expect();
        assert_eq!(a.ack, s, "segment {i} not acknowledged at once");
    }
    // The quick-ACK period is over: a lone small segment waits for the delayed ACK.
    h.inject(seg(s).ack(iss + 1).data(&[1; 100]));
    h.expect_none();
    assert_eq!(h.advance_to_next_timer().as_millis(), 40);
    assert_eq!(h.expect().ack, s + 100);
    assert_eq!(h.read_all(c).len(), 1700);
}

#[test]
fn data_after_an_idle_gap_longer_than_the_rto_is_acknowledged_at_once_again() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    let s = h.past_quickack(c, iss, 5001);
    h.advance(Duration::from_secs(2));
    h.inject(seg(s).ack(iss + 1).data(&[1; 100]));
    assert_eq!(h.expect().ack, s + 100);
}

#[test]
fn more_than_one_full_segment_of_the_peers_size_is_acknowledged_at_once() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    let s = h.past_quickack(c, iss, 5001);
    // One segment larger than our MSS (a peer using GRO-sized or jumbo segments): more than
    // one full-sized segment's worth, so no delay.
    h.inject(seg(s).ack(iss + 1).data(&[1; 2000]));
    assert_eq!(h.expect().ack, s + 2000);
    // Exactly one full-sized segment waits.
    h.inject(seg(s + 2000).ack(iss + 1).data(&[1; 1460]));
    h.expect_none();
}

#[test]
fn in_ping_pong_mode_the_ack_rides_on_the_reply() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    // A request, acknowledged at once (quick-ACK), answered within the delayed-ACK time.
    h.inject(seg(5001).ack(iss + 1).data(b"req1"));
    assert_eq!(h.expect().ack, 5005);
    h.advance(Duration::from_millis(5));
    h.tcp.send(c, b"resp1").unwrap();
    let r = h.expect();
    assert_eq!(r.data, b"resp1");
    h.read_all(c);
    // The exchange is interactive now: the next request is not acknowledged on its own...
    h.inject(seg(5005).ack(iss + 6).data(b"req2"));
    h.expect_none();
    // ...but by the reply that follows it.
    h.advance(Duration::from_millis(5));
    h.tcp.send(c, b"resp2").unwrap();
    let r = h.expect();
    assert!(r.has(flags::ACK));
    assert_eq!((r.ack, r.data.as_slice()), (5009, &b"resp2"[..]));
    h.expect_none();
}

#[test]
fn tcp_quickack_sends_a_pending_ack_now_and_zero_delays_them() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    // TCP_QUICKACK 0 during the quick-ACK period: the next segment's ACK is delayed.
    h.tcp.set_quickack(c, false).unwrap();
    assert_eq!(h.tcp.quickack(c), Ok(false));
    h.inject(seg(5001).ack(iss + 1).data(&[1; 100]));
    h.expect_none();
    // TCP_QUICKACK 1: the pending ACK goes at once, without waiting for the timer.
    h.tcp.set_quickack(c, true).unwrap();
    assert_eq!(h.tcp.quickack(c), Ok(true));
    assert_eq!(h.expect().ack, 5101);
    assert_eq!(h.counters().delayed_acks, 0);
}
