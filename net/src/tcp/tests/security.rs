//! Scripted tests of the defences: RFC 5961 (blind RST, SYN and data injection), PAWS, TIME-WAIT
//! reuse, malformed options, bad checksums, listen backlog bounds, ICMP errors.

use super::script::*;
use crate::errno::Errno;
use crate::tcp::{IcmpError, State, TcpConfig};
use crate::time::Duration;
use crate::wire::tcp::flags;
use core::net::SocketAddrV4;

#[test]
fn in_window_rst_not_at_rcv_nxt_draws_challenge_ack() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.inject(seg(5001 + 100).rst());
    assert_eq!(h.state(c), State::Established);
    let ch = h.expect();
    assert!(ch.is(flags::ACK));
    assert_eq!((ch.seq, ch.ack), (iss + 1, 5001));
    assert_eq!(h.counters().challenge_acks, 1);
    // Out of window: silently dropped.
    h.inject(seg(5001u32.wrapping_sub(1_000_000)).rst());
    h.expect_none();
    assert_eq!(h.state(c), State::Established);
    // Exactly RCV.NXT: reset.
    h.inject(seg(5001).rst());
    assert_eq!(h.state(c), State::Closed);
    assert_eq!(h.tcp.take_error(c), Ok(Some(Errno::ECONNRESET)));
}

#[test]
fn syn_in_established_draws_challenge_ack() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    // In window and out of window alike (RFC 5961 §4.2).
    h.inject(seg(5001 + 10).syn());
    let ch = h.expect();
    assert!(ch.is(flags::ACK) && ch.ack == 5001 && ch.seq == iss + 1);
    h.inject(seg(5001 + 10).syn().ack(iss + 1));
    assert!(h.expect().is(flags::ACK));
    assert_eq!(h.state(c), State::Established);
    assert_eq!(h.counters().challenge_acks, 2);
}

#[test]
fn challenge_acks_are_rate_limited() {
    let mut h = Harness::with_config(TcpConfig {
        challenge_ack_limit: 2,
        ..TcpConfig::default()
    });
    let (_c, _) = h.connected_plain();
    for i in 0..5 {
        h.inject(seg(5001 + 10 + i).rst());
    }
    assert!(h.expect().is(flags::ACK));
    assert!(h.expect().is(flags::ACK));
    h.expect_none();
    assert_eq!(h.counters().challenge_acks, 2);
    assert_eq!(h.counters().challenge_acks_suppressed, 3);
    // The budget is per connection (a shared one is a side channel, CVE-2016-5696): another
    // connection still gets its challenge ACK.
    let other = SocketAddrV4::new(PEER, 40001);
    let c2 = h.tcp.connect(h.now, us(), other, None).unwrap();
    let syn = h.expect();
    h.inject(seg(9000).port(40001).syn().ack(syn.seq + 1));
    let _ = h.expect();
    assert_eq!(h.state(c2), State::Established);
    h.inject(seg(9001 + 10).port(40001).rst());
    assert!(h.expect().is(flags::ACK));
    assert_eq!(h.counters().challenge_acks, 3);
    // A second later the first connection's budget is back.
    h.advance(Duration::from_secs(1));
    h.inject(seg(5001 + 10).rst());
    assert!(h.expect().is(flags::ACK));
}

#[test]
fn ack_of_unsent_data_is_challenged_and_its_data_ignored() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.inject(seg(5001).ack(iss + 1000).data(b"evil"));
    let ch = h.expect();
    assert!(ch.is(flags::ACK) && ch.ack == 5001);
    assert_eq!(h.tcp.recv(c, &mut [0; 8]), Err(Errno::EAGAIN));
    // Too old an ACK (before SND.UNA − MAX.SND.WND) too.
    h.inject(seg(5001).ack(iss.wrapping_sub(200_000)).data(b"evil"));
    assert!(h.expect().is(flags::ACK));
    assert_eq!(h.tcp.recv(c, &mut [0; 8]), Err(Errno::EAGAIN));
    assert_eq!(h.counters().challenge_acks, 2);
}

#[test]
fn answers_to_unacceptable_empty_segments_are_rate_limited() {
    let mut h = Harness::new();
    let (_c, iss) = h.connected_plain();
    // Old pure ACKs (below RCV.NXT): one answer, then silence for 500 ms.
    for _ in 0..5 {
        h.inject(seg(4000).ack(iss + 1));
    }
    assert!(h.expect().is(flags::ACK));
    h.expect_none();
    assert_eq!(h.counters().oow_acks_suppressed, 4);
    // Old data is always answered: the sender needs to learn RCV.NXT.
    h.inject(seg(4000).ack(iss + 1).data(b"old"));
    assert_eq!(h.expect().ack, 5001);
    h.advance(Duration::from_millis(500));
    h.inject(seg(4000).ack(iss + 1));
    assert!(h.expect().is(flags::ACK));
}

#[test]
fn paws_drops_segments_with_old_timestamps() {
    let mut h = Harness::new();
    let (c, iss) = h.connected();
    h.inject(seg(5001).ack(iss + 1).ts(200, 0).data(b"new"));
    h.inject(seg(5004).ack(iss + 1).ts(150, 0).data(b"old"));
    // The first data of a connection is acknowledged at once (quick-ACK).
    assert_eq!(h.expect().ack, 5004);
    let ack = h.expect();
    assert_eq!(
        ack.ack, 5004,
        "the PAWS-rejected segment is answered with an ACK"
    );
    assert_eq!(h.read_all(c), b"new");
    assert_eq!(h.counters().paws_rejected, 1);
    // Timestamps older by a wrap-around distance are old too; newer ones pass.
    h.inject(seg(5004).ack(iss + 1).ts(201, 0).data(b"ok"));
    assert_eq!(h.read_all(c), b"ok");
    // Our own timestamps echo the peer's most recent one.
    h.advance(Duration::from_millis(100));
    assert_eq!(h.expect().opts.timestamp.unwrap().1, 201);
}

#[test]
fn time_wait_is_reused_by_a_newer_syn() {
    let mut h = Harness::new();
    let l = h.tcp.listen(us(), 4).unwrap();
    h.inject(seg(1000).syn().mss(1460));
    let synack = h.expect();
    h.inject(seg(1001).ack(synack.seq + 1));
    let c = h.tcp.accept(l).unwrap();
    // We close first and end in TIME-WAIT.
    h.tcp.close(c).unwrap();
    let fin = h.expect();
    h.inject(seg(1001).ack(fin.seq + 1).fin());
    let _ack = h.expect();
    assert_eq!(h.counters().time_wait_reused, 0);
    // An older SYN does not reopen it: challenge ACK.
    h.inject(seg(900).syn());
    let ch = h.expect();
    assert!(ch.is(flags::ACK));
    // A newer one does, with an ISS above the old incarnation's.
    h.inject(seg(50_000).syn().mss(1460));
    let synack2 = h.expect();
    assert!(synack2.is(flags::SYN | flags::ACK));
    assert_eq!(synack2.ack, 50_001);
    assert!(synack2.seq.wrapping_sub(fin.seq + 1) as i32 > 0);
    assert_eq!(h.counters().time_wait_reused, 1);
    h.inject(seg(50_001).ack(synack2.seq + 1));
    assert!(h.tcp.accept(l).is_ok());
}

#[test]
fn time_wait_reuse_leaves_a_held_handle_closed_not_dangling() {
    let mut h = Harness::new();
    let l = h.tcp.listen(us(), 4).unwrap();
    h.inject(seg(1000).syn());
    let sa = h.expect();
    h.inject(seg(1001).ack(sa.seq + 1));
    let c = h.tcp.accept(l).unwrap();
    // Half-close from our side, the peer's FIN: TIME-WAIT with the handle still held.
    h.tcp.shutdown(c, crate::tcp::Shutdown::Write).unwrap();
    let fin = h.expect();
    h.inject(seg(1001).ack(fin.seq + 1).fin());
    let _ = h.expect();
    assert_eq!(h.state(c), State::TimeWait);
    h.inject(seg(90_000).syn());
    let sa2 = h.expect();
    assert!(sa2.is(flags::SYN | flags::ACK));
    assert_eq!(h.state(c), State::Closed);
    h.tcp.close(c).unwrap();
    // Closing the old handle left the new incarnation intact.
    h.inject(seg(90_001).ack(sa2.seq + 1).data(b"new"));
    let c2 = h.tcp.accept(l).unwrap();
    assert_eq!(h.read_all(c2), b"new");
    assert_eq!(h.counters().time_wait_reused, 1);
}

#[test]
fn time_wait_reuse_by_newer_timestamp() {
    let mut h = Harness::new();
    let l = h.tcp.listen(us(), 4).unwrap();
    h.inject(seg(1000).syn().mss(1460).ts(1000, 0));
    let synack = h.expect();
    h.inject(seg(1001).ack(synack.seq + 1).ts(1001, synack.tsval()));
    let c = h.tcp.accept(l).unwrap();
    h.tcp.close(c).unwrap();
    let fin = h.expect();
    h.inject(seg(1001).ack(fin.seq + 1).fin().ts(1002, fin.tsval()));
    let _ = h.expect();
    // Lower sequence number but a newer timestamp: reused.
    h.inject(seg(10).syn().ts(5000, 0));
    let s = h.expect();
    assert!(s.is(flags::SYN | flags::ACK));
    assert_eq!(s.ack, 11);
}

#[test]
fn malformed_options_drop_the_segment_and_count() {
    let mut h = Harness::new();
    let _l = h.tcp.listen(us(), 4).unwrap();
    for opts in [
        &[2u8, 0][..],
        &[2, 1],
        &[1, 2, 4, 5],
        &[8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        &[3, 4, 1, 1],
    ] {
        h.inject(seg(1000).syn().raw_options(opts));
        h.expect_none();
    }
    assert_eq!(h.counters().malformed_options, 5);
    assert_eq!(h.counters().in_errs, 5);
    // Unknown options are skipped.
    h.inject(
        seg(1000)
            .syn()
            .raw_options(&[99, 6, 1, 2, 3, 4, 2, 4, 0x02, 0x00]),
    );
    let s = h.expect();
    assert!(s.is(flags::SYN | flags::ACK));
    assert_eq!(h.counters().malformed_options, 5);
}

#[test]
fn bad_checksum_and_truncation_are_counted() {
    let mut h = Harness::new();
    let _l = h.tcp.listen(us(), 4).unwrap();
    let mut b = seg(1000).syn().bytes();
    b[4] ^= 1;
    h.inject_raw(&b);
    h.expect_none();
    assert_eq!(h.counters().in_csum_errors, 1);
    h.inject_raw(&b[..12]);
    h.expect_none();
    assert_eq!(h.counters().in_errs, 2);
    // Verified by the device: the checksum is not looked at.
    h.tcp.input(h.now, PEER, US, &b, true);
    assert!(h.expect().has(flags::SYN));
}

#[test]
fn syn_fin_to_a_listener_is_dropped() {
    let mut h = Harness::new();
    let l = h.tcp.listen(us(), 4).unwrap();
    h.inject(seg(1000).syn().fin());
    h.expect_none();
    assert_eq!(h.tcp.accept(l), Err(Errno::EAGAIN));
    assert_eq!(h.counters().passive_opens, 0);
}

#[test]
fn backlog_bounds_syn_and_accept_queues() {
    // Without SYN cookies a full SYN queue drops (with them: tests/syncookies.rs).
    let mut h = Harness::with_config(TcpConfig {
        syncookies: false,
        ..TcpConfig::default()
    });
    let l = h.tcp.listen(us(), 1).unwrap();
    h.inject(seg(1000).syn().port(1));
    let sa = h.expect();
    // SYN queue full (1): the second SYN is dropped.
    h.inject(seg(2000).syn().port(2));
    h.expect_none();
    assert_eq!(h.counters().listen_drops, 1);
    // Complete the first: it moves to the accept queue, which is now full.
    h.inject(seg(1001).ack(sa.seq + 1).port(1));
    h.inject(seg(3000).syn().port(3));
    h.expect_none();
    assert_eq!(h.counters().listen_overflows, 1);
    assert_eq!(h.counters().listen_drops, 2);
    let c = h.tcp.accept(l).unwrap();
    assert_eq!(h.tcp.peer_addr(c).unwrap().port(), 1);
    h.inject(seg(3000).syn().port(3));
    assert!(h.expect().is(flags::SYN | flags::ACK));
}

#[test]
fn handshake_ack_into_full_accept_queue_is_dropped_and_synack_retried() {
    let mut h = Harness::new();
    let l = h.tcp.listen(us(), 2).unwrap();
    h.inject(seg(1000).syn().port(1));
    let a1 = h.expect();
    h.inject(seg(1001).ack(a1.seq + 1).port(1));
    h.inject(seg(2000).syn().port(2));
    let a2 = h.expect();
    h.inject(seg(3000).syn().port(3));
    let a3 = h.expect();
    h.inject(seg(2001).ack(a2.seq + 1).port(2));
    // The accept queue (2) is full: port 3's handshake-completing ACK is dropped.
    h.inject(seg(3001).ack(a3.seq + 1).port(3));
    assert_eq!(h.counters().listen_overflows, 1);
    h.tcp.accept(l).unwrap();
    h.tcp.accept(l).unwrap();
    assert_eq!(h.tcp.accept(l), Err(Errno::EAGAIN));
    // The SYN-ACK is retransmitted after the RTO; the client's ACK then completes.
    h.advance(Duration::from_millis(1001));
    let again = h.expect();
    assert!(again.is(flags::SYN | flags::ACK));
    assert_eq!(again.seq, a3.seq);
    h.inject(seg(3001).ack(a3.seq + 1).port(3));
    let c3 = h.tcp.accept(l).unwrap();
    assert_eq!(h.tcp.peer_addr(c3).unwrap().port(), 3);
}

#[test]
fn icmp_port_unreachable_refuses_a_connection_attempt() {
    let mut h = Harness::new();
    let c = h.tcp.connect(h.now, us(), peer(), None).unwrap();
    let syn = h.expect();
    let q = quote(&syn);
    // Wrong sequence number: not believed.
    let mut bad = q.clone();
    bad[24] ^= 0x80;
    h.tcp.icmp_error(h.now, IcmpError::PortUnreachable, &bad);
    assert_eq!(h.state(c), State::SynSent);
    assert_eq!(h.counters().icmp_ignored, 1);
    h.tcp.icmp_error(h.now, IcmpError::PortUnreachable, &q);
    assert_eq!(h.state(c), State::Closed);
    assert_eq!(h.tcp.take_error(c), Ok(Some(Errno::ECONNREFUSED)));
}

#[test]
fn icmp_errors_never_kill_an_established_connection() {
    let mut h = Harness::new();
    let (c, _) = h.connected_plain();
    h.tcp.send(c, b"data").unwrap();
    let d = h.expect();
    for k in [
        IcmpError::HostUnreachable,
        IcmpError::PortUnreachable,
        IcmpError::NetUnreachable,
    ] {
        h.tcp.icmp_error(h.now, k, &quote(&d));
    }
    assert_eq!(h.state(c), State::Established);
    // Fragmentation needed shrinks the MSS and resends smaller segments.
    h.tcp.icmp_error(
        h.now,
        IcmpError::FragmentationNeeded { mtu: 42 },
        &quote(&d),
    );
    h.tcp.send(c, &[1u8; 3000]).unwrap();
    h.tcp.icmp_error(
        h.now,
        IcmpError::FragmentationNeeded { mtu: 1000 },
        &quote(&d),
    );
    h.flush();
    assert!(h.out.iter().all(|o| o.data.len() <= 960));
}

/// RFC 1191 §5: the path MTU learned by one connection is kept for the next connection to the
/// same host (Linux: a route exception for 10 minutes): its segments are cut to it, while the
/// MSS its SYN announces (what we can receive) stays the interface's, as on Linux. Another
/// host and an expired entry get the full MSS.
#[test]
fn learned_path_mtu_is_kept_for_the_next_connection_to_the_host() {
    let mut h = Harness::new();
    let (c, _) = h.connected_plain();
    h.tcp.send(c, &[7u8; 100]).unwrap();
    let d = h.expect();
    h.tcp.icmp_error(
        h.now,
        IcmpError::FragmentationNeeded { mtu: 1200 },
        &quote(&d),
    );
    h.flush();
    h.out.clear();
    // A second connection to the same host: full MSS announced, 1160-byte segments sent.
    let local2 = SocketAddrV4::new(*us().ip(), 4242);
    let c2 = h.tcp.connect(h.now, local2, peer(), None).unwrap();
    h.flush();
    let syn = h
        .out
        .iter()
        .find(|o| o.is(flags::SYN) && o.src == local2)
        .cloned()
        .expect("a SYN");
    h.out.clear();
    assert_eq!(
        syn.opts.mss,
        Some(1460),
        "the announced MSS is the interface's"
    );
    let mut synack = seg(9000).syn().ack(syn.seq.wrapping_add(1)).mss(1460);
    synack.repr.dst_port = 4242;
    h.inject(synack);
    assert_eq!(h.state(c2), State::Established);
    h.tcp.send(c2, &[1u8; 3000]).unwrap();
    h.flush();
    let sizes: alloc::vec::Vec<usize> = h
        .out
        .iter()
        .filter(|o| o.src == local2 && !o.data.is_empty())
        .map(|o| o.data.len())
        .collect();
    assert_eq!(
        sizes.first(),
        Some(&1160),
        "segments cut to the learned path: {sizes:?}"
    );
    assert!(sizes.iter().all(|&n| n <= 1160), "{sizes:?}");
    h.out.clear();
    // Another destination is not affected; after ten minutes the entry has expired.
    let other = SocketAddrV4::new(core::net::Ipv4Addr::new(198, 51, 100, 9), 80);
    h.tcp.connect(h.now, local2, other, None).unwrap();
    h.advance(Duration::from_secs(601));
    h.flush();
    h.out.clear();
    let local3 = SocketAddrV4::new(*us().ip(), 4343);
    let c3 = h.tcp.connect(h.now, local3, peer(), None).unwrap();
    h.flush();
    let syn = h
        .out
        .iter()
        .find(|o| o.is(flags::SYN) && o.src == local3)
        .cloned()
        .expect("a SYN");
    let mut synack = seg(19000).syn().ack(syn.seq.wrapping_add(1)).mss(1460);
    synack.repr.dst_port = 4343;
    h.inject(synack);
    h.out.clear();
    h.tcp.send(c3, &[1u8; 3000]).unwrap();
    h.flush();
    assert!(h
        .out
        .iter()
        .any(|o| o.src == local3 && o.data.len() == 1460));
}

#[test]
fn soft_icmp_error_is_reported_when_the_connection_times_out() {
    let mut h = Harness::with_config(TcpConfig {
        syn_retries: 1,
        ..TcpConfig::default()
    });
    let c = h.tcp.connect(h.now, us(), peer(), None).unwrap();
    let syn = h.expect();
    h.tcp
        .icmp_error(h.now, IcmpError::HostUnreachable, &quote(&syn));
    assert_eq!(h.state(c), State::SynSent);
    h.advance(Duration::from_secs(10));
    assert_eq!(h.tcp.take_error(c), Ok(Some(Errno::EHOSTUNREACH)));
}

/// The IPv4 header + first 8 bytes of a segment we sent, as an ICMP error quotes them.
fn quote(o: &Out) -> alloc::vec::Vec<u8> {
    let mut q = alloc::vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0];
    q.extend_from_slice(&o.src.ip().octets());
    q.extend_from_slice(&o.dst.ip().octets());
    q.extend_from_slice(&o.src.port().to_be_bytes());
    q.extend_from_slice(&o.dst.port().to_be_bytes());
    q.extend_from_slice(&o.seq.to_be_bytes());
    q
}
