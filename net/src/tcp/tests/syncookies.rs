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

/// A SYN flood from random spoofed sources at line rate (one minimum-size frame per 6.72 µs,
/// 100 Mbit/s of 84-byte Ethernet frames), one packet in 16 a blind ACK guessing a cookie,
/// against a listener with backlog 16, while a legitimate client connects and exchanges
/// 64 KiB each way. The listener's state stays within its backlog throughout.
#[test]
fn syn_flood_does_not_stop_a_legitimate_client() {
    use super::sim::{pattern, LinkCfg, Net, A, B};
    use crate::errno::Errno;
    use crate::rand::Rng;
    use crate::tcp::{Sock, TcpConfig};
    use crate::time::Instant;
    use crate::wire::tcp::{TcpOptions, TcpRepr};
    use alloc::vec::Vec;
    use core::net::{Ipv4Addr, SocketAddrV4};

    const BACKLOG: usize = 16;
    const SIZE: usize = 64 * 1024;
    let gap = Duration::from_nanos(6_720);
    let mut net = Net::new(LinkCfg::default(), 41, TcpConfig::default());
    let l = net.b.listen(SocketAddrV4::new(B, 80), BACKLOG).unwrap();
    let mut rng = Rng::new(99);
    let mut next_flood = Instant::ZERO;
    let (mut syns, mut acks) = (0u64, 0u64);
    let mut most_half_open = 0;
    let mut most_conns = 0;
    let mut client = None;
    let mut server = None;
    let mut payload = alloc::vec![0u8; SIZE];
    pattern(0, &mut payload);
    let (mut sent, mut echoed, mut back) = (0, 0, Vec::new());
    let mut at_server = Vec::new();
    let mut buf = alloc::vec![0u8; 16 * 1024];
    let mut seg_bytes = Vec::new();
    let limit = Instant::from_millis(3_000);
    let mut done_at = None;
    // Flood for a full second, and until the legitimate exchange is done.
    while net.now < limit && (done_at.is_none() || net.now < Instant::from_millis(1_000)) {
        // The flood, everything due by now.
        while next_flood <= net.now {
            let src = Ipv4Addr::from(0xac10_0000 | (rng.next_u32() & 0x000f_ffff));
            let port = 1024 + rng.below(64_000) as u16;
            let ack = rng.below(16) == 0;
            let mut options = TcpOptions::default();
            if !ack {
                options.mss = Some(1460);
                if rng.below(2) == 0 {
                    options.timestamp = Some((rng.next_u32(), 0));
                    options.wscale = Some(7);
                    options.sack_permitted = true;
                }
            }
            let repr = TcpRepr {
                src_port: port,
                dst_port: 80,
                seq: rng.next_u32(),
                ack: if ack { rng.next_u32() } else { 0 },
                flags: if ack { flags::ACK } else { flags::SYN },
                window: 65535,
                options,
            };
            repr.emit(src, B, [&[], &[]], &mut seg_bytes);
            net.b.input(net.now, src, B, &seg_bytes, false);
            if ack {
                acks += 1;
            } else {
                syns += 1;
            }
            next_flood = next_flood + gap;
        }
        // Memory stays bounded: the SYN queue within the backlog, every connection of B
        // in its SYN or accept queue or the accepted one.
        let Some(Sock::Listener(li)) = net.b.slots[l.idx as usize].sock.as_ref() else {
            panic!("listener gone");
        };
        let half_open = li.syn_queue.len();
        assert!(half_open <= BACKLOG, "{half_open} half-open connections");
        assert!(
            net.b.conns.len() <= 2 * BACKLOG + 1,
            "{} connections",
            net.b.conns.len()
        );
        most_half_open = most_half_open.max(half_open);
        most_conns = most_conns.max(net.b.conns.len());
        // The legitimate client: connect at 50 ms, send 64 KiB, read the echo.
        if client.is_none() && net.now >= Instant::from_millis(50) {
            let c = net
                .a
                .connect(
                    net.now,
                    SocketAddrV4::new(A, 0),
                    SocketAddrV4::new(B, 80),
                    Some(1500),
                )
                .unwrap();
            client = Some(c);
        }
        if let Some(c) = client {
            if sent < SIZE {
                if let Ok(n) = net.a.send(c, &payload[sent..]) {
                    sent += n;
                }
            }
            while let Ok(n) = net.a.recv(c, &mut buf) {
                if n == 0 {
                    break;
                }
                back.extend_from_slice(&buf[..n]);
            }
            if back.len() == SIZE && done_at.is_none() {
                done_at = Some(net.now);
            }
        }
        if server.is_none() {
            match net.b.accept(l) {
                Ok(s) => server = Some(s),
                Err(Errno::EAGAIN) => {}
                Err(e) => panic!("accept: {e}"),
            }
        }
        if let Some(s) = server {
            while let Ok(n) = net.b.recv(s, &mut buf) {
                if n == 0 {
                    break;
                }
                at_server.extend_from_slice(&buf[..n]);
            }
            if echoed < at_server.len() {
                if let Ok(n) = net.b.send(s, &at_server[echoed..]) {
                    echoed += n;
                }
            }
        }
        net.dispatch();
        net.step_until(Some(next_flood));
    }
    let c = net.b.counters();
    std::println!(
        "sim SYN flood: {syns} spoofed SYNs + {acks} blind ACKs in {:.3} s; the legitimate \
         64 KiB echo done at {:?} ms; cookies sent {}, accepted {}, failed {}; most half-open \
         {most_half_open}, most connections {most_conns} (backlog {BACKLOG}); {} segments to \
         spoofed sources",
        net.now.saturating_since(Instant::ZERO).as_secs_f64(),
        done_at.map(|t| t.as_millis()),
        c.syncookies_sent,
        c.syncookies_recv,
        c.syncookies_failed,
        net.offlink
    );
    assert!(done_at.is_some(), "the legitimate exchange did not finish");
    assert_eq!(at_server, payload);
    assert_eq!(back, payload);
    assert_eq!(most_half_open, BACKLOG, "the flood filled the SYN queue");
    assert!(c.syncookies_sent > 1000);
    // The only cookie that came back valid is the legitimate client's.
    assert_eq!(c.syncookies_recv, 1);
    assert!(c.syncookies_failed > 0 && c.syncookies_failed <= acks);
    assert_eq!(net.b.accept(l), Err(Errno::EAGAIN));
}

/// A valid cookie ACK into a full accept queue is dropped (as Linux does), creating nothing;
/// once `accept` makes room, the client's retransmitted ACK (or data) gets in.
#[test]
fn valid_cookie_into_a_full_accept_queue_waits_for_room() {
    let mut h = Harness::new();
    let l = h.tcp.listen(us(), 1).unwrap();
    // Port 1 is half-open (SYN queue full); port 3 gets a cookie.
    h.inject(seg(1000).syn().port(1));
    let a1 = h.expect();
    h.inject(seg(3000).syn().port(3));
    let a3 = h.expect();
    assert_eq!(h.counters().syncookies_sent, 1);
    // Port 1 completes: the accept queue (1) is full when port 3's ACK returns.
    h.inject(seg(1001).ack(a1.seq.wrapping_add(1)).port(1));
    let overflows = h.counters().listen_overflows;
    h.inject(seg(3001).ack(a3.seq.wrapping_add(1)).port(3).data(b"early"));
    h.expect_none();
    assert_eq!(h.counters().listen_overflows, overflows + 1);
    assert_eq!(h.counters().syncookies_recv, 0);
    assert_eq!(h.tcp.conns.len(), 1);
    // Room made: the same segment again now creates the connection.
    let first = h.tcp.accept(l).unwrap();
    assert_eq!(h.tcp.peer_addr(first).unwrap().port(), 1);
    h.inject(seg(3001).ack(a3.seq.wrapping_add(1)).port(3).data(b"early"));
    assert_eq!(h.counters().syncookies_recv, 1);
    let c = h.tcp.accept(l).unwrap();
    assert_eq!(h.tcp.peer_addr(c).unwrap().port(), 3);
    assert_eq!(h.read_all(c), b"early");
}
