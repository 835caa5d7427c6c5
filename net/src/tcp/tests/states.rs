//! Scripted tests of every state transition (RFC 9293 §3.3.2 diagram).

use super::script::*;
use crate::errno::Errno;
use crate::tcp::{Shutdown, State, TcpConfig};
use crate::time::Duration;
use crate::wire::tcp::{flags, kind};
use alloc::vec::Vec;

#[test]
fn active_open_sends_linux_ordered_syn_and_reaches_established() {
    let mut h = Harness::new();
    let c = h.tcp.connect(h.now, us(), peer(), Some(1500)).unwrap();
    assert_eq!(h.state(c), State::SynSent);
    let syn = h.expect();
    assert!(syn.is(flags::SYN));
    // MSS 1460, SACK-permitted, TS, NOP, WS: Linux's layout.
    assert_eq!(syn.raw_opts.len(), 20);
    assert_eq!(&syn.raw_opts[..4], &[kind::MSS, 4, 0x05, 0xb4]);
    assert_eq!(
        &syn.raw_opts[4..8],
        &[kind::SACK_PERMITTED, 2, kind::TIMESTAMP, 10]
    );
    // Window scale 7: the receive buffer may grow to 6 MiB (autotuning's ceiling).
    assert_eq!(&syn.raw_opts[16..20], &[1, kind::WSCALE, 3, 7]);
    assert_eq!(syn.opts.timestamp.unwrap().1, 0);
    assert!(!h.tcp.poll_events(c).unwrap().writable);
    h.inject(
        seg(5000)
            .syn()
            .ack(syn.seq + 1)
            .mss(1400)
            .ws(2)
            .ts(77, syn.tsval()),
    );
    let ack = h.expect();
    assert!(ack.is(flags::ACK));
    assert_eq!((ack.seq, ack.ack), (syn.seq + 1, 5001));
    assert_eq!(ack.opts.timestamp.unwrap().1, 77);
    assert_eq!(h.state(c), State::Established);
    assert!(h.tcp.poll_events(c).unwrap().writable);
    assert_eq!(h.counters().active_opens, 1);
    assert_eq!(h.counters().curr_estab, 1);
    // MSS negotiated down to the peer's 1400, less 12 bytes of timestamp option per segment:
    // a 3000-byte write goes as 1388 + 1388 + 224, and every segment fits 1400 + 40.
    h.tcp.set_nodelay(c, true).unwrap();
    h.tcp.send(c, &[7u8; 3000]).unwrap();
    let segs: Vec<Out> = (0..3).map(|_| h.expect()).collect();
    let lens: Vec<usize> = segs.iter().map(|o| o.data.len()).collect();
    assert_eq!(lens, [1388, 1388, 224]);
    assert!(segs
        .iter()
        .all(|o| 20 + o.raw_opts.len() + o.data.len() <= 1400 + 20));
}

#[test]
fn mss_comes_from_the_mtu() {
    let mut h = Harness::new();
    h.tcp.connect(h.now, us(), peer(), Some(1000)).unwrap();
    assert_eq!(h.expect().opts.mss, Some(960));
}

#[test]
fn passive_open_and_accept() {
    let mut h = Harness::new();
    let l = h.tcp.listen(us(), 8).unwrap();
    assert_eq!(h.tcp.accept(l), Err(Errno::EAGAIN));
    h.inject(seg(1000).syn().mss(1460).ws(7).ts(5, 0));
    let synack = h.expect();
    assert!(synack.is(flags::SYN | flags::ACK));
    assert_eq!(synack.ack, 1001);
    assert_eq!(synack.opts.wscale, Some(7));
    assert_eq!(synack.opts.timestamp.unwrap().1, 5);
    assert_eq!(h.tcp.accept(l), Err(Errno::EAGAIN));
    h.inject(
        seg(1001)
            .ack(synack.seq + 1)
            .ts(6, synack.tsval())
            .data(b"hello"),
    );
    assert!(h.tcp.poll_events(l).unwrap().readable);
    let c = h.tcp.accept(l).unwrap();
    assert_eq!(h.state(c), State::Established);
    assert_eq!(h.tcp.peer_addr(c).unwrap(), peer());
    assert_eq!(h.read_all(c), b"hello");
    assert_eq!(h.counters().passive_opens, 1);
}

#[test]
fn simultaneous_open() {
    let mut h = Harness::new();
    let c = h.tcp.connect(h.now, us(), peer(), None).unwrap();
    let syn = h.expect();
    // The peer's SYN crosses ours.
    h.inject(seg(9000).syn().mss(1460));
    assert_eq!(h.state(c), State::SynReceived);
    let synack = h.expect();
    assert!(synack.is(flags::SYN | flags::ACK));
    assert_eq!((synack.seq, synack.ack), (syn.seq, 9001));
    // The peer's SYN-ACK acknowledges our SYN: established.
    h.inject(seg(9000).syn().ack(syn.seq + 1));
    assert_eq!(h.state(c), State::Established);
    h.tcp.send(c, b"hi").unwrap();
    let d = h.expect();
    assert_eq!(
        (d.seq, d.ack, d.data.as_slice()),
        (syn.seq + 1, 9001, &b"hi"[..])
    );
}

#[test]
fn active_close_through_fin_wait_and_time_wait() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.shutdown(c, Shutdown::Write).unwrap();
    assert_eq!(h.state(c), State::FinWait1);
    let fin = h.expect();
    assert!(fin.is(flags::FIN | flags::ACK));
    assert_eq!(fin.seq, iss + 1);
    assert_eq!(h.tcp.send(c, b"x"), Err(Errno::EPIPE));
    h.inject(seg(5001).ack(iss + 2));
    assert_eq!(h.state(c), State::FinWait2);
    // Half-close: the peer may still send to us.
    h.inject(seg(5001).ack(iss + 2).data(b"late"));
    // The first data of a connection is acknowledged at once (quick-ACK).
    assert_eq!(h.expect().ack, 5005);
    h.inject(seg(5005).ack(iss + 2).fin());
    assert_eq!(h.state(c), State::TimeWait);
    let ack = h.expect();
    assert_eq!(ack.ack, 5006);
    assert_eq!(h.read_all(c), b"late");
    assert_eq!(h.tcp.recv(c, &mut [0; 4]), Ok(0));
    // A retransmitted FIN is acknowledged again.
    h.inject(seg(5005).ack(iss + 2).fin());
    assert_eq!(h.expect().ack, 5006);
    h.advance(Duration::from_secs(59));
    assert_eq!(h.state(c), State::TimeWait);
    h.advance(Duration::from_secs(2));
    assert_eq!(h.state(c), State::Closed);
    h.tcp.close(c).unwrap();
    assert_eq!(h.tcp.state(c), Err(Errno::EBADF));
}

/// RFC 9293 §3.10.7.4: an acceptable segment in TIME-WAIT that is not a FIN (data after the
/// peer's FIN) is acknowledged, as one outside the window is; a bare ACK is not (no ACK loop).
#[test]
fn time_wait_acknowledges_acceptable_segments() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.shutdown(c, Shutdown::Write).unwrap();
    let _fin = h.expect();
    h.inject(seg(5001).ack(iss + 2).fin());
    assert_eq!(h.state(c), State::TimeWait);
    assert_eq!(h.expect().ack, 5002);
    // Data past the FIN, inside the window: acknowledged, state unchanged.
    h.inject(seg(5002).ack(iss + 2).data(b"late"));
    let a = h.expect();
    assert!(a.is(flags::ACK));
    assert_eq!((a.seq, a.ack), (iss + 2, 5002));
    assert_eq!(h.state(c), State::TimeWait);
    // The same outside the window is answered too.
    h.inject(seg(5002 + 1_000_000).ack(iss + 2).data(b"far"));
    assert_eq!(h.expect().ack, 5002);
    // A bare ACK at RCV.NXT gets no answer.
    h.inject(seg(5002).ack(iss + 2));
    h.expect_none();
}

#[test]
fn time_wait_length_is_configurable() {
    let mut h = Harness::with_config(TcpConfig {
        time_wait: Duration::from_secs(4),
        ..TcpConfig::default()
    });
    let (c, iss) = h.connected_plain();
    h.tcp.close(c).unwrap();
    let _fin = h.expect();
    h.inject(seg(5001).ack(iss + 2).fin());
    let _ = h.expect();
    assert_eq!(h.tcp.poll_at(), Some(h.now + Duration::from_secs(4)));
    h.advance(Duration::from_secs(4));
    assert_eq!(h.tcp.poll_at(), None);
}

#[test]
fn passive_close_through_close_wait_and_last_ack() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.inject(seg(5001).ack(iss + 1).data(b"bye").fin());
    assert_eq!(h.state(c), State::CloseWait);
    assert_eq!(h.expect().ack, 5005);
    assert_eq!(h.read_all(c), b"bye");
    assert_eq!(h.tcp.recv(c, &mut [0; 8]), Ok(0));
    assert!(h.tcp.poll_events(c).unwrap().readable);
    // Half-close: we can still send.
    h.tcp.send(c, b"reply").unwrap();
    let d = h.expect();
    assert_eq!(d.data, b"reply", "{d:?}");
    h.tcp.close(c).unwrap();
    let fin = h.expect();
    assert!(fin.has(flags::FIN));
    assert_eq!(fin.seq, iss + 6);
    h.inject(seg(5005).ack(iss + 7));
    assert_eq!(h.tcp.poll_at(), None);
    assert_eq!(h.counters().curr_estab, 0);
    assert_eq!(h.counters().estab_resets, 0);
}

#[test]
fn simultaneous_close_goes_through_closing() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.shutdown(c, Shutdown::Write).unwrap();
    let _fin = h.expect();
    // The peer's FIN crosses ours, not yet acknowledging it.
    h.inject(seg(5001).ack(iss + 1).fin());
    assert_eq!(h.state(c), State::Closing);
    assert_eq!(h.expect().ack, 5002);
    h.inject(seg(5002).ack(iss + 2));
    assert_eq!(h.state(c), State::TimeWait);
    h.advance(Duration::from_secs(61));
    assert_eq!(h.state(c), State::Closed);
}

#[test]
fn fin_wait_1_straight_to_time_wait_on_fin_ack() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.shutdown(c, Shutdown::Write).unwrap();
    let _ = h.expect();
    h.inject(seg(5001).ack(iss + 2).fin());
    assert_eq!(h.state(c), State::TimeWait);
}

#[test]
fn close_with_unread_data_sends_rst() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.inject(seg(5001).ack(iss + 1).data(b"unread"));
    h.advance(Duration::from_millis(50));
    let _ = h.expect(); // the ACK
    h.tcp.close(c).unwrap();
    let rst = h.expect();
    // Linux's active reset: RST with ACK of everything received.
    assert!(rst.is(flags::RST | flags::ACK));
    assert_eq!((rst.seq, rst.ack), (iss + 1, 5007));
    assert_eq!(h.counters().abort_on_close, 1);
    assert_eq!(h.counters().estab_resets, 1);
    h.expect_none();
}

#[test]
fn abort_sends_rst_and_invalidates_handle() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.abort(c).unwrap();
    let rst = h.expect();
    assert!(rst.is(flags::RST | flags::ACK) && rst.seq == iss + 1);
    assert_eq!(h.tcp.send(c, b"x"), Err(Errno::EBADF));
}

#[test]
fn rst_in_syn_sent_refuses_the_connection() {
    let mut h = Harness::new();
    let c = h.tcp.connect(h.now, us(), peer(), None).unwrap();
    let syn = h.expect();
    // A RST whose ACK does not acknowledge our SYN is ignored.
    h.inject(seg(0).rst().ack(syn.seq + 5));
    assert_eq!(h.state(c), State::SynSent);
    h.inject(seg(0).rst().ack(syn.seq + 1));
    assert_eq!(h.state(c), State::Closed);
    let ev = h.tcp.poll_events(c).unwrap();
    assert!(ev.error && ev.hup);
    assert_eq!(h.tcp.take_error(c), Ok(Some(Errno::ECONNREFUSED)));
    assert_eq!(h.tcp.take_error(c), Ok(None));
    assert_eq!(h.tcp.send(c, b"x"), Err(Errno::ENOTCONN));
    assert_eq!(h.counters().attempt_fails, 1);
}

#[test]
fn bad_ack_in_syn_sent_draws_a_reset() {
    let mut h = Harness::new();
    let c = h.tcp.connect(h.now, us(), peer(), None).unwrap();
    let syn = h.expect();
    h.inject(seg(77).syn().ack(syn.seq + 100));
    let rst = h.expect();
    assert!(rst.is(flags::RST));
    assert_eq!(rst.seq, syn.seq + 100);
    assert_eq!(h.state(c), State::SynSent);
}

#[test]
fn reset_in_established_reports_econnreset_then_epipe() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.inject(seg(5001).rst());
    assert_eq!(h.state(c), State::Closed);
    assert_eq!(h.tcp.send(c, b"x"), Err(Errno::ECONNRESET));
    assert_eq!(h.tcp.send(c, b"x"), Err(Errno::EPIPE));
    assert_eq!(h.tcp.recv(c, &mut [0; 4]), Ok(0));
    assert_eq!(h.counters().estab_resets, 1);
    // The reset connection no longer owns its 4-tuple although the handle is still open.
    let again = h.tcp.connect(h.now, us(), peer(), None).unwrap();
    assert!(h.expect().is(flags::SYN));
    assert_eq!(h.state(c), State::Closed);
    assert_eq!(h.state(again), State::SynSent);
    let _ = iss;
}

#[test]
fn segment_to_closed_port_is_answered_with_rst() {
    let mut h = Harness::new();
    h.inject(seg(100).syn());
    let r = h.expect();
    assert!(r.is(flags::RST | flags::ACK));
    assert_eq!((r.seq, r.ack), (0, 101));
    h.inject(seg(100).ack(4242).data(b"zz"));
    let r = h.expect();
    assert!(r.is(flags::RST));
    assert_eq!(r.seq, 4242);
    // Never a RST for a RST.
    h.inject(seg(100).rst());
    h.expect_none();
    assert_eq!(h.counters().out_rsts, 2);
}

#[test]
fn listener_close_resets_pending_children() {
    let mut h = Harness::new();
    let l = h.tcp.listen(us(), 4).unwrap();
    h.inject(seg(1000).syn());
    let synack = h.expect();
    h.inject(seg(1001).ack(synack.seq + 1));
    h.tcp.close(l).unwrap();
    let rst = h.expect();
    assert!(rst.has(flags::RST));
    h.inject(seg(1001).ack(synack.seq + 1).data(b"x"));
    assert!(h.expect().has(flags::RST));
}

#[test]
fn syn_retries_then_etimedout() {
    let mut h = Harness::new();
    let c = h.tcp.connect(h.now, us(), peer(), None).unwrap();
    let first = h.expect();
    let mut gaps = Vec::new();
    for _ in 0..6 {
        let d = h.advance_to_next_timer();
        let s = h.expect();
        assert!(s.is(flags::SYN) && s.seq == first.seq);
        gaps.push(d.as_secs());
    }
    assert_eq!(gaps, [1, 2, 4, 8, 16, 32]);
    h.advance_to_next_timer();
    h.expect_none();
    assert_eq!(h.state(c), State::Closed);
    assert_eq!(h.tcp.take_error(c), Ok(Some(Errno::ETIMEDOUT)));
}

#[test]
fn rst_in_syn_received_returns_the_listener_to_listen() {
    let mut h = Harness::new();
    let l = h.tcp.listen(us(), 4).unwrap();
    h.inject(seg(1000).syn());
    let sa = h.expect();
    h.inject(seg(1001).rst());
    assert_eq!(h.counters().attempt_fails, 1);
    assert_eq!(
        h.tcp.poll_at(),
        None,
        "the child and its SYN-ACK timer are gone"
    );
    // The listener still listens: a new SYN from the same peer opens afresh.
    h.inject(seg(2000).syn());
    let sa2 = h.expect();
    assert!(sa2.is(flags::SYN | flags::ACK));
    assert_eq!(sa2.ack, 2001);
    h.inject(seg(2001).ack(sa2.seq + 1));
    assert!(h.tcp.accept(l).is_ok());
    let _ = sa;
}

#[test]
fn close_during_syn_sent_goes_to_closed_silently() {
    let mut h = Harness::new();
    let c = h.tcp.connect(h.now, us(), peer(), None).unwrap();
    let syn = h.expect();
    h.tcp.close(c).unwrap();
    h.expect_none();
    assert_eq!(h.tcp.poll_at(), None);
    // A late SYN-ACK finds no connection and is reset.
    h.inject(seg(5000).syn().ack(syn.seq + 1));
    let r = h.expect();
    assert!(r.is(flags::RST));
    assert_eq!(r.seq, syn.seq + 1);
}

/// Several blocks in TIME-WAIT at once (held handles, so their state can be read): each
/// leaves it at its own deadline, in order, and `poll_at` names the next one.
#[test]
fn time_wait_blocks_expire_each_at_its_own_deadline() {
    let mut h = Harness::with_config(TcpConfig {
        time_wait: Duration::from_secs(4),
        ..TcpConfig::default()
    });
    let l = h.tcp.listen(us(), 8).unwrap();
    let mut conns = Vec::new();
    for (i, port) in [4001u16, 4002, 4003].into_iter().enumerate() {
        h.inject(seg(1000).port(port).syn());
        let sa = h.expect();
        h.inject(seg(1001).port(port).ack(sa.seq + 1));
        let c = h.tcp.accept(l).unwrap();
        h.tcp.shutdown(c, Shutdown::Write).unwrap();
        let fin = h.expect();
        h.inject(seg(1001).port(port).ack(fin.seq + 1).fin());
        let _ = h.expect();
        assert_eq!(h.state(c), State::TimeWait);
        conns.push((c, h.now + Duration::from_secs(4)));
        if i < 2 {
            h.advance(Duration::from_secs(1));
        }
    }
    for (n, &(c, end)) in conns.iter().enumerate() {
        assert_eq!(
            h.tcp.poll_at(),
            Some(end),
            "connection {n}'s TIME-WAIT is next"
        );
        h.advance(end.saturating_since(h.now) - Duration::from_millis(1));
        assert_eq!(h.state(c), State::TimeWait);
        h.advance(Duration::from_millis(1));
        assert_eq!(h.state(c), State::Closed, "connection {n} left TIME-WAIT");
        for &(later, _) in &conns[n + 1..] {
            assert_eq!(h.state(later), State::TimeWait);
        }
    }
    assert_eq!(h.tcp.poll_at(), None);
}

/// A TIME-WAIT block taken over by a new incarnation leaves no timer behind: the new
/// connection, idle, has no wake-up, and the old block's deadline passing disturbs nothing.
#[test]
fn time_wait_reuse_leaves_no_timer_behind() {
    let mut h = Harness::new();
    let l = h.tcp.listen(us(), 4).unwrap();
    h.inject(seg(1000).syn());
    let sa = h.expect();
    h.inject(seg(1001).ack(sa.seq + 1));
    let c = h.tcp.accept(l).unwrap();
    h.tcp.close(c).unwrap();
    let fin = h.expect();
    h.inject(seg(1001).ack(fin.seq + 1).fin());
    let _ = h.expect();
    h.inject(seg(90_000).syn());
    let sa2 = h.expect();
    h.inject(seg(90_001).ack(sa2.seq + 1));
    let c2 = h.tcp.accept(l).unwrap();
    assert_eq!(h.counters().time_wait_reused, 1);
    assert_eq!(h.tcp.poll_at(), None);
    h.advance(Duration::from_secs(120));
    h.expect_none();
    assert_eq!(h.state(c2), State::Established);
}
