//! Closing corner cases: TCP_LINGER2 (the orphan FIN-WAIT-2 timeout, man 7 tcp) and a
//! listener closed with children not yet accepted.

use super::script::*;
use crate::errno::Errno;
use crate::tcp::{Linger2, Shutdown, State, TcpConfig, MAX_LINGER2};
use crate::time::Duration;
use crate::wire::tcp::flags;

#[test]
fn linger2_values_map_as_linux_reads_them() {
    let c = TcpConfig::default();
    assert_eq!(Linger2::from_secs(0), Linger2::Host);
    assert_eq!(Linger2::from_secs(-1), Linger2::Abort);
    assert_eq!(Linger2::from_secs(i32::MIN), Linger2::Abort);
    assert_eq!(Linger2::from_secs(200), Linger2::After(MAX_LINGER2));
    assert_eq!(
        Linger2::from_secs(7),
        Linger2::After(Duration::from_secs(7))
    );
    // getsockopt: -1, or the timeout in force (the host's tcp_fin_timeout by default).
    assert_eq!(Linger2::Abort.as_secs(&c), -1);
    assert_eq!(Linger2::Host.as_secs(&c), 60);
    assert_eq!(Linger2::from_secs(i32::MAX).as_secs(&c), 120);
}

#[test]
fn an_orphan_waits_in_fin_wait2_for_its_linger2_timeout() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    assert_eq!(h.tcp.linger2(c), Ok(60));
    h.tcp.set_linger2(c, Linger2::from_secs(5)).unwrap();
    assert_eq!(h.tcp.linger2(c), Ok(5));
    h.tcp.close(c).unwrap();
    assert!(h.expect().has(flags::FIN));
    h.inject(seg(5001).ack(iss + 2));
    assert_eq!(h.tcp.closed_state(c), Some(State::FinWait2));
    h.advance(Duration::from_millis(4_900));
    assert_eq!(h.tcp.closed_state(c), Some(State::FinWait2));
    h.advance(Duration::from_millis(200));
    assert_eq!(h.tcp.closed_state(c), None);
    // Given up silently, as Linux does when the FIN-WAIT-2 timer fires.
    h.expect_none();
}

#[test]
fn the_host_fin_timeout_applies_without_linger2() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.close(c).unwrap();
    let _fin = h.expect();
    h.inject(seg(5001).ack(iss + 2));
    assert_eq!(h.tcp.poll_at(), Some(h.now + Duration::from_secs(60)));
}

#[test]
fn the_linger2_timeout_is_at_least_three_and_a_half_rtos() {
    // RTO 2 s at least: a 1 s TCP_LINGER2 waits 7 s, so that the peer's retransmitted FIN
    // still finds the connection.
    let mut h = Harness::with_config(TcpConfig {
        rto_min: Duration::from_secs(2),
        ..TcpConfig::default()
    });
    let (c, iss) = h.connected_plain();
    h.tcp.set_linger2(c, Linger2::from_secs(1)).unwrap();
    h.tcp.close(c).unwrap();
    let _fin = h.expect();
    h.inject(seg(5001).ack(iss + 2));
    h.advance(Duration::from_millis(6_900));
    assert_eq!(h.tcp.closed_state(c), Some(State::FinWait2));
    h.advance(Duration::from_millis(200));
    assert_eq!(h.tcp.closed_state(c), None);
}

#[test]
fn negative_linger2_resets_when_an_orphan_would_enter_fin_wait2() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.set_linger2(c, Linger2::from_secs(-1)).unwrap();
    assert_eq!(h.tcp.linger2(c), Ok(-1));
    h.tcp.close(c).unwrap();
    assert!(h.expect().has(flags::FIN));
    h.inject(seg(5001).ack(iss + 2));
    let rst = h.expect();
    assert!(rst.has(flags::RST), "{rst:?}");
    assert_eq!(rst.seq, iss + 2);
    assert_eq!(h.tcp.closed_state(c), None);
    assert_eq!(h.counters().abort_on_data, 1);
}

#[test]
fn negative_linger2_resets_on_close_in_fin_wait2() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.set_linger2(c, Linger2::from_secs(-1)).unwrap();
    h.tcp.shutdown(c, Shutdown::Write).unwrap();
    let _fin = h.expect();
    h.inject(seg(5001).ack(iss + 2));
    // Not orphaned: FIN-WAIT-2 lasts as long as the application likes.
    assert_eq!(h.state(c), State::FinWait2);
    assert_eq!(h.tcp.poll_at(), None);
    h.tcp.close(c).unwrap();
    let rst = h.expect();
    assert!(rst.has(flags::RST), "{rst:?}");
    assert_eq!(h.tcp.state(c), Err(Errno::EBADF));
    assert_eq!(h.counters().abort_on_linger, 1);
}

#[test]
fn closing_a_listener_drops_half_open_children_silently_and_resets_unaccepted_ones() {
    let mut h = Harness::new();
    let l = h.tcp.listen(us(), 8).unwrap();
    // One child completes its handshake and is never accepted...
    h.inject(seg(1000).syn().mss(1460));
    let established = h.expect();
    h.inject(seg(1001).ack(established.seq + 1));
    assert!(h.tcp.poll_events(l).unwrap().readable);
    // ... another is still in SYN-RECEIVED.
    h.inject(seg(7000).syn().mss(1460).port(40001));
    let half_open = h.expect();
    assert!(half_open.is(flags::SYN | flags::ACK));
    h.tcp.close(l).unwrap();
    // One RST, to the child whose peer believes it is connected.
    let rst = h.expect();
    assert!(rst.has(flags::RST), "{rst:?}");
    assert_eq!(rst.dst, peer());
    assert_eq!(rst.seq, established.seq + 1);
    h.expect_none();
    // The half-open child is gone: no SYN-ACK is retransmitted...
    h.advance(Duration::from_secs(10));
    h.expect_none();
    assert_eq!(h.tcp.poll_at(), None);
    // ... and its peer's handshake ACK finds no socket: a RST answers it, as any stray.
    h.inject(seg(7001).ack(half_open.seq + 1).port(40001));
    let stray = h.expect();
    assert!(stray.has(flags::RST), "{stray:?}");
    assert_eq!(stray.dst.port(), 40001);
    assert_eq!(stray.seq, half_open.seq + 1);
    assert_eq!(h.tcp.accept(l), Err(Errno::EBADF));
}
