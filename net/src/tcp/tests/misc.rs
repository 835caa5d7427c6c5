//! Scripted tests of bounds and of the socket-facing API: out-of-order memory bound, sender
//! SWS avoidance, SYN-ACK retries, orphan timeouts, ports, readiness and wake-ups, counters.

use super::script::*;
use crate::errno::Errno;
use crate::tcp::{Shutdown, Sock, State};
use crate::time::Duration;
use crate::wire::tcp::flags;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};

#[test]
fn out_of_order_queue_is_bounded_by_memory_not_by_holes() {
    let mut h = Harness::new();
    let l = h.tcp.listen(us(), 4).unwrap();
    h.tcp.set_recv_buffer(l, 8192).unwrap();
    h.inject(seg(5000).syn());
    let sa = h.expect();
    h.inject(seg(5001).ack(sa.seq + 1));
    let c = h.tcp.accept(l).unwrap();
    // 1-byte segments with holes between them: each costs its byte plus the entry overhead.
    for i in 0..200u32 {
        h.inject(seg(5001 + 1 + 2 * i).ack(sa.seq + 1).data(&[i as u8]));
    }
    h.flush();
    h.out.clear();
    let drops = h.counters().ofo_drops;
    assert!(drops > 0, "the bound was never reached");
    let idx = c.idx as usize;
    let Some(Sock::Conn(t)) = h.tcp.slots[idx].sock.as_ref() else {
        panic!("connection gone");
    };
    assert!(t.ooo_mem <= 8192);
    assert!(
        t.ooo.len() > 50,
        "many holes are kept, not a small fixed number"
    );
    // What was queued is delivered once the holes fill, in order, with nothing lost.
    let queued = t.ooo.len() as u32;
    for i in 0..=queued {
        h.inject(seg(5001 + 2 * i).ack(sa.seq + 1).data(&[0xee]));
    }
    let data = h.read_all(c);
    assert_eq!(data.len() as u32, 2 * queued + 1);
    for i in 0..queued as usize {
        assert_eq!(data[2 * i], 0xee);
        assert_eq!(data[2 * i + 1], i as u8);
    }
}

#[test]
fn sender_sws_avoidance_waits_for_a_useful_window() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.set_nodelay(c, true).unwrap();
    // The peer's window shrinks to 100 bytes (max seen 65535): 100 bytes of a 1000-byte
    // write are not worth a segment.
    h.inject(seg(5001).ack(iss + 1).win(100));
    h.tcp.send(c, &[5; 1000]).unwrap();
    h.expect_none();
    // The persist timer's SWS override eventually sends what fits.
    h.advance_to_next_timer();
    let s = h.expect();
    assert_eq!(s.data.len(), 100);
    // A full window opening sends the rest at once.
    h.inject(seg(5001).ack(iss + 101).win(65535));
    assert_eq!(h.expect().data.len(), 900);
}

#[test]
fn unanswered_synack_gives_up_and_frees_the_child() {
    let mut h = Harness::new();
    let l = h.tcp.listen(us(), 4).unwrap();
    h.inject(seg(7000).syn());
    let sa = h.expect();
    for _ in 0..5 {
        h.advance_to_next_timer();
        let r = h.expect();
        assert!(r.is(flags::SYN | flags::ACK) && r.seq == sa.seq);
    }
    h.advance_to_next_timer();
    h.expect_none();
    assert_eq!(h.tcp.poll_at(), None);
    assert_eq!(h.counters().attempt_fails, 1);
    // The late ACK finds no connection: reset.
    h.inject(seg(7001).ack(sa.seq + 1));
    assert!(h.expect().is(flags::RST));
    assert_eq!(h.tcp.accept(l), Err(Errno::EAGAIN));
}

#[test]
fn orphaned_fin_wait_2_times_out() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.close(c).unwrap();
    let _fin = h.expect();
    h.inject(seg(5001).ack(iss + 2));
    assert!(h.tcp.poll_at().is_some());
    h.advance(Duration::from_secs(61));
    assert_eq!(h.tcp.poll_at(), None);
    h.inject(seg(5001).ack(iss + 2).data(b"late"));
    assert!(h.expect().is(flags::RST));
}

#[test]
fn data_for_a_closed_socket_resets_the_connection() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.close(c).unwrap();
    let _fin = h.expect();
    h.inject(seg(5001).ack(iss + 2).data(b"nobody reads this"));
    let r = h.expect();
    assert!(r.is(flags::RST));
    assert_eq!(h.counters().abort_on_data, 1);
}

#[test]
fn the_reset_for_data_after_close_takes_its_sequence_number_from_the_segments_ack() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.close(c).unwrap();
    let fin = h.expect();
    assert!(fin.has(flags::FIN));
    // The peer has not seen our FIN: its ACK field (its RCV.NXT) is below our SND.MAX; a
    // reset at SND.MAX would draw a challenge ACK from an RFC 5961 peer.
    h.inject(seg(5001).ack(iss + 1).data(b"late"));
    let r = h.expect();
    assert!(r.is(flags::RST));
    assert_eq!(r.seq, iss + 1);
}

#[test]
fn ephemeral_ports_and_address_conflicts() {
    let mut h = Harness::new();
    let any = SocketAddrV4::new(US, 0);
    let a = h.tcp.connect(h.now, any, peer(), None).unwrap();
    let b = h.tcp.connect(h.now, any, peer(), None).unwrap();
    let pa = h.tcp.local_addr(a).unwrap().port();
    let pb = h.tcp.local_addr(b).unwrap().port();
    assert_ne!(pa, pb);
    assert!((32768..=60999).contains(&pa) && (32768..=60999).contains(&pb));
    let fixed = SocketAddrV4::new(US, 1234);
    h.tcp.connect(h.now, fixed, peer(), None).unwrap();
    assert_eq!(
        h.tcp.connect(h.now, fixed, peer(), None),
        Err(Errno::EADDRINUSE)
    );
    h.tcp.listen(us(), 1).unwrap();
    assert_eq!(h.tcp.listen(us(), 1), Err(Errno::EADDRINUSE));
    assert_eq!(
        h.tcp
            .listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, US_PORT), 1),
        Err(Errno::EADDRINUSE)
    );
    assert_eq!(
        h.tcp.connect(h.now, any, SocketAddrV4::new(PEER, 0), None),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        h.tcp.connect(
            h.now,
            SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            peer(),
            None
        ),
        Err(Errno::EINVAL)
    );
}

#[test]
fn readiness_and_wakeups() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    let mut woken = Vec::new();
    h.tcp.take_woken(&mut woken);
    assert!(
        woken.contains(&c),
        "establishing wakes the connecting socket"
    );
    woken.clear();
    let ev = h.tcp.poll_events(c).unwrap();
    assert!(ev.writable && !ev.readable && !ev.hup && !ev.error);
    h.inject(seg(5001).ack(iss + 1).data(b"pi"));
    h.inject(seg(5003).ack(iss + 1).data(b"ng"));
    // Woken once however many events happened (the list is bounded by the socket count).
    h.tcp.take_woken(&mut woken);
    assert_eq!(woken, [c]);
    assert!(h.tcp.poll_events(c).unwrap().readable);
    let mut buf = [0u8; 2];
    assert_eq!(h.tcp.peek(c, &mut buf), Ok(2));
    assert_eq!(&buf, b"pi");
    assert_eq!(h.read_all(c), b"ping");
    assert!(!h.tcp.poll_events(c).unwrap().readable);
    h.tcp.shutdown(c, Shutdown::Read).unwrap();
    assert_eq!(h.tcp.recv(c, &mut buf), Ok(0));
    assert!(h.tcp.poll_events(c).unwrap().readable);
    h.inject(seg(5005).ack(iss + 1).fin());
    h.tcp.shutdown(c, Shutdown::Write).unwrap();
    assert_eq!(h.state(c), State::LastAck);
    assert!(h.tcp.poll_events(c).unwrap().hup);
}

#[test]
fn stale_handles_are_ebadf() {
    let mut h = Harness::new();
    let (c, _) = h.connected_plain();
    h.tcp.abort(c).unwrap();
    assert!(h.expect().is(flags::RST | flags::ACK));
    assert_eq!(h.tcp.recv(c, &mut [0; 1]), Err(Errno::EBADF));
    assert_eq!(h.tcp.close(c), Err(Errno::EBADF));
    // The slot is reused with a new generation: the old handle stays dead.
    let (d, _) = h.connected_plain();
    assert_ne!(c, d);
    assert_eq!(h.tcp.state(c), Err(Errno::EBADF));
    assert_eq!(h.state(d), State::Established);
}

#[test]
fn socket_dump_and_port_use() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.inject(seg(5001).ack(iss + 1).data(b"abc"));
    h.tcp
        .listen(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 8080), 4)
        .unwrap();
    let mut s = alloc::string::String::new();
    h.tcp.dump_sockets(&mut s).unwrap();
    assert!(
        s.contains("10.0.0.1:80 10.0.0.2:40000 Established 0 3 0"),
        "{s}"
    );
    assert!(s.contains("0.0.0.0:8080 0.0.0.0:0 Listen"), "{s}");
    assert!(h.tcp.port_in_use(us()));
    assert!(h.tcp.port_in_use(SocketAddrV4::new(US, 8080)));
    assert!(!h.tcp.port_in_use(SocketAddrV4::new(US, 81)));
    let _ = c;
}

#[test]
fn counters_dump_in_proc_net_snmp_style() {
    let mut h = Harness::new();
    let (_c, _) = h.connected_plain();
    let mut s = alloc::string::String::new();
    h.tcp.counters().dump(&mut s).unwrap();
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines.len(), 4);
    let names: Vec<&str> = lines[0].split(' ').collect();
    let values: Vec<&str> = lines[1].split(' ').collect();
    assert_eq!(names.len(), values.len());
    let get = |n: &str| values[names.iter().position(|x| *x == n).unwrap()];
    assert_eq!(get("ActiveOpens"), "1");
    assert_eq!(get("CurrEstab"), "1");
    assert_eq!(get("MaxConn"), "-1");
    assert!(lines[2].starts_with("TcpExt: ListenOverflows ListenDrops"));
}

/// Timestamps give an RTT sample on every ACK, whatever the connection's TSval offset: one
/// with the top bit set used to look "older than the last timeout" (which starts at 0) and
/// fell back to timing one segment per round trip.
#[test]
fn timestamp_rtt_samples_with_any_tsval_offset() {
    let mut h = Harness::new();
    // A peer port whose TSval offset has the top bit set.
    let port = (40000u16..41000)
        .find(|&p| {
            crate::tcp::isn::ts_offset(&KEY, us(), SocketAddrV4::new(PEER, p)) >= 0x8000_0000
        })
        .expect("some port");
    let c = h
        .tcp
        .connect(h.now, us(), SocketAddrV4::new(PEER, port), Some(1500))
        .unwrap();
    let syn = h.expect();
    h.advance(Duration::from_millis(10));
    h.inject(
        seg(5000)
            .syn()
            .ack(syn.seq + 1)
            .mss(1460)
            .ws(0)
            .ts(100, syn.tsval())
            .port(port),
    );
    h.expect();
    h.tcp.set_nodelay(c, true).unwrap();
    h.tcp.send(c, &[1; 2 * 1448]).unwrap();
    let d1 = h.expect();
    let d2 = h.expect();
    let srtt = |h: &Harness| h.tcp.conn(c.idx as usize).and_then(|t| t.srtt_us).unwrap();
    h.advance(Duration::from_millis(50));
    h.inject(seg(5001).ack(d2.seq).ts(101, d1.tsval()).port(port));
    let after_first = srtt(&h);
    // The second ACK's echo measures 100 ms: only a timestamp sample can see it (the timed
    // segment was the first).
    h.advance(Duration::from_millis(50));
    h.inject(seg(5001).ack(d2.seq + 1448).ts(102, d2.tsval()).port(port));
    assert!(srtt(&h) > after_first, "{} vs {after_first}", srtt(&h));
}

#[test]
fn restarted_timer_does_not_fire_at_its_old_deadline() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.send(c, &[1; 100]).unwrap();
    let _first = h.expect();
    let old = h
        .tcp
        .poll_at()
        .expect("a timer is armed for the data in flight");
    // Halfway there the peer acknowledges, and new data restarts the timer further out.
    h.now = h.now + old.saturating_since(h.now) / 2;
    h.inject(seg(5001).ack(iss + 101));
    h.tcp.send(c, &[2; 100]).unwrap();
    let second = h.expect();
    let new = h.tcp.poll_at().expect("re-armed for the new data");
    assert!(new > old, "the restarted timer is later");
    // The old deadline passes without a retransmission, and the new one is still reported.
    h.now = old;
    h.tcp.poll(h.now);
    h.expect_none();
    assert_eq!(h.counters().retrans_segs, 0);
    assert_eq!(h.tcp.poll_at(), Some(new));
    // At the new deadline the unacknowledged segment goes out again.
    h.advance_to_next_timer();
    assert_eq!(h.expect().seq, second.seq);
}

#[test]
fn an_abort_carries_ack_and_timestamps_the_peer_can_check() {
    let mut h = Harness::new();
    let (c, iss) = h.connected();
    h.inject(seg(5001).ack(iss + 1).ts(300, 0).data(b"unread"));
    let ack = h.expect();
    h.advance(Duration::from_secs(1));
    h.tcp.close(c).unwrap();
    let rst = h.expect();
    assert!(rst.is(flags::RST | flags::ACK));
    assert_eq!(rst.ack, 5007);
    // TSecr echoes the peer's latest TSval (PAWS on the peer accepts the reset); TSval is our
    // clock, a second after the ACK's.
    let (val, ecr) = rst.opts.timestamp.expect("timestamps on the RST");
    assert_eq!(ecr, 300);
    assert_eq!(val.wrapping_sub(ack.tsval()), 1000);
}
