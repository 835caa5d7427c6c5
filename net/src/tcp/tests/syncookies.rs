//! SYN cookies: scripted handshakes past a full SYN queue, and a simulated SYN flood.

use super::script::*;
use crate::tcp::syncookie::COOKIE_PERIOD;
use crate::tcp::{Handle, State};
use crate::time::Duration;
use crate::wire::tcp::flags;

fn tcb_of(h: &Harness, c: Handle) -> &crate::tcp::tcb::Tcb {
    h.tcp.conn(c.idx as usize).expect("a connection")
}

#[test]
fn full_syn_queue_answers_with_a_cookie_that_becomes_a_connection() {
    let mut h = Harness::new();
    let l = h.tcp.listen(us(), 1).unwrap();
    h.inject(seg(1000).syn().port(1));
    assert!(h.expect().is(flags::SYN | flags::ACK));
    assert_eq!(h.tcp.conns.len(), 1);
    // The SYN queue (1) is full: the next SYN gets a cookie SYN-ACK and no state.
    h.inject(
        seg(2000)
            .syn()
            .port(2)
            .mss(1460)
            .ws(7)
            .ts(500, 0)
            .sack_perm(),
    );
    let sa = h.expect();
    assert!(sa.is(flags::SYN | flags::ACK));
    assert_eq!(sa.ack, 2001);
    assert_eq!(sa.opts.mss, Some(1460));
    assert!(sa.opts.wscale.is_some() && sa.opts.sack_permitted);
    assert_eq!(sa.opts.timestamp.map(|t| t.1), Some(500));
    assert_eq!(h.counters().syncookies_sent, 1);
    assert_eq!(h.counters().listen_drops, 0);
    assert_eq!(h.tcp.conns.len(), 1, "a cookie keeps no state");
    // The returning ACK (with data) creates the connection.
    h.advance(Duration::from_millis(20));
    h.inject(
        seg(2001)
            .ack(sa.seq.wrapping_add(1))
            .port(2)
            .ts(520, sa.tsval())
            .data(b"hello"),
    );
    assert_eq!(h.counters().syncookies_recv, 1);
    let c = h.tcp.accept(l).unwrap();
    assert_eq!(h.state(c), State::Established);
    assert_eq!(h.tcp.peer_addr(c).unwrap().port(), 2);
    assert_eq!(h.read_all(c), b"hello");
    let t = tcb_of(&h, c);
    assert_eq!(
        (t.snd_wscale, t.sack_ok, t.ts_ok, t.mss),
        (7, true, true, 1460)
    );
    // Data moves the other way from the cookie's ISS + 1.
    h.tcp.set_nodelay(c, true).unwrap();
    h.tcp.send(c, b"world").unwrap();
    let out = loop {
        let o = h.expect();
        if !o.data.is_empty() {
            break o;
        }
    };
    assert_eq!(
        (out.seq, out.ack, &out.data[..]),
        (sa.seq.wrapping_add(1), 2006, &b"world"[..])
    );
    assert!(out.opts.timestamp.is_some_and(|t| t.1 == 520));
}

#[test]
fn cookie_without_timestamps_turns_window_scale_and_sack_off() {
    let mut h = Harness::new();
    let l = h.tcp.listen(us(), 1).unwrap();
    h.inject(seg(1000).syn().port(1));
    h.expect();
    h.inject(seg(7000).syn().port(4).mss(1400).ws(5).sack_perm());
    let sa = h.expect();
    assert_eq!(sa.opts.mss, Some(1460));
    assert!(sa.opts.timestamp.is_none() && sa.opts.wscale.is_none() && !sa.opts.sack_permitted);
    h.inject(seg(7001).ack(sa.seq.wrapping_add(1)).port(4));
    let c = h.tcp.accept(l).unwrap();
    let t = tcb_of(&h, c);
    // 1400 rounds down to the table's 1300.
    assert_eq!(
        (t.ws_ok, t.sack_ok, t.ts_ok, t.mss),
        (false, false, false, 1300)
    );
}

#[test]
fn bad_or_stale_cookies_are_dropped_and_counted() {
    let mut h = Harness::new();
    let l = h.tcp.listen(us(), 1).unwrap();
    h.inject(seg(1000).syn().port(1));
    h.expect();
    h.inject(seg(2000).syn().port(2));
    let sa = h.expect();
    // Wrong cookie, wrong peer ISN, another port: dropped silently, no socket.
    h.inject(seg(2001).ack(sa.seq.wrapping_add(2)).port(2));
    h.inject(seg(2002).ack(sa.seq.wrapping_add(1)).port(2));
    h.inject(seg(2001).ack(sa.seq.wrapping_add(1)).port(3));
    h.expect_none();
    assert_eq!(h.counters().syncookies_failed, 3);
    assert_eq!(h.tcp.conns.len(), 1);
    // Two cookie periods later the right ACK is too old. (The half-open child from port 1
    // has given up by then: refill the SYN queue so the listener is in cookie mode again.)
    h.advance(COOKIE_PERIOD * 2);
    h.out.clear();
    h.inject(seg(5000).syn().port(5));
    h.expect();
    h.inject(seg(6000).syn().port(6));
    assert!(h.expect().is(flags::SYN | flags::ACK));
    assert_eq!(h.counters().syncookies_sent, 2);
    h.inject(seg(2001).ack(sa.seq.wrapping_add(1)).port(2));
    h.expect_none();
    assert_eq!(h.counters().syncookies_failed, 4);
    assert_eq!(h.tcp.accept(l), Err(crate::errno::Errno::EAGAIN));
    assert_eq!(h.counters().syncookies_recv, 0);
}
