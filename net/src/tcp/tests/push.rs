//! Scripted tests of what the sender marks and holds: PSH on the last byte of each write and
//! at the end of a burst, MSG_EOR record boundaries, MSG_MORE and TCP_CORK.

use super::script::*;
use crate::tcp::SendFlags;
use crate::time::Duration;
use crate::wire::tcp::flags;

#[test]
fn uncorking_sends_the_held_tail_once() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.set_cork(c, true).unwrap();
    h.tcp.send(c, &[1u8; 40]).unwrap();
    h.advance(Duration::from_millis(50));
    h.tcp.send(c, &[2u8; 40]).unwrap();
    h.expect_none();
    h.tcp.set_cork(c, false).unwrap();
    h.tcp.push_pending(c).unwrap();
    let s = h.expect();
    assert_eq!((s.seq, s.data.len()), (iss + 1, 80));
    assert!(s.has(flags::PSH));
    h.expect_none();
    let _ = SendFlags::default();
}

/// Send `n` bytes and collect the segments that leave at once.
fn burst(h: &mut Harness, c: crate::tcp::Handle, n: usize) -> alloc::vec::Vec<Out> {
    h.tcp.send(c, &alloc::vec![7u8; n]).unwrap();
    h.flush();
    h.out.drain(..).collect()
}

#[test]
fn psh_closes_each_burst_but_not_a_limited_transmit_segment() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    let mss = 1460u32;
    // 15 segments queued, the initial window of 10 lets 10 go: only the last has PSH.
    let first = burst(&mut h, c, 15 * mss as usize);
    assert_eq!(first.len(), 10);
    let pushed: alloc::vec::Vec<bool> = first.iter().map(|s| s.has(flags::PSH)).collect();
    assert_eq!(pushed.iter().filter(|&&p| p).count(), 1);
    assert!(pushed[9]);
    // Two duplicate ACKs: limited transmit sends one new segment each, without PSH.
    for i in 0..2 {
        h.inject(seg(5001).ack(iss + 1));
        let s = h.expect();
        assert_eq!(s.seq, iss + 1 + (10 + i) * mss);
        assert!(!s.has(flags::PSH), "limited transmit segment {i} pushed");
    }
    // A cumulative ACK of 3 segments (two of them announced by the duplicate ACKs): one
    // segment newly delivered grows the window by one, room for a burst of two; its last
    // segment carries PSH, the one before it does not.
    h.inject(seg(5001).ack(iss + 1 + 3 * mss));
    h.flush();
    let b: alloc::vec::Vec<Out> = h.out.drain(..).collect();
    assert_eq!(b.len(), 2, "{b:?}");
    assert!(b[..b.len() - 1].iter().all(|s| !s.has(flags::PSH)));
    assert!(b[b.len() - 1].has(flags::PSH));
}

#[test]
fn psh_marks_the_last_byte_of_each_write_even_mid_queue() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.set_nodelay(c, true).unwrap();
    // Two writes queued back to back: 1.5 segments, then 1 segment.
    h.tcp.send(c, &[1u8; 2190]).unwrap();
    h.tcp.send(c, &[2u8; 1460]).unwrap();
    h.flush();
    let segs: alloc::vec::Vec<Out> = h.out.drain(..).collect();
    let view: alloc::vec::Vec<(u32, usize, bool)> = segs
        .iter()
        .map(|s| (s.seq - iss, s.data.len(), s.has(flags::PSH)))
        .collect();
    // The first write ends inside the second segment: that segment is pushed; so is the last.
    assert_eq!(
        view,
        [(1, 1460, false), (1461, 1460, true), (2921, 730, true)]
    );
}

#[test]
fn msg_eor_ends_a_segment_and_the_next_write_starts_a_new_one() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    let eor = SendFlags {
        eor: true,
        ..SendFlags::default()
    };
    // Nothing in flight yet, so Nagle lets the first small record go alone.
    h.tcp.send_msg(c, &[1u8; 400], eor).unwrap();
    h.tcp.send_msg(c, &[2u8; 400], eor).unwrap();
    h.tcp.send(c, &[3u8; 1000]).unwrap();
    h.flush();
    let view: alloc::vec::Vec<(u32, usize, bool)> = h
        .out
        .drain(..)
        .map(|s| (s.seq - iss, s.data.len(), s.has(flags::PSH)))
        .collect();
    // Each record is its own pushed segment, though the first two would fit in one MSS; the
    // second goes at once although the first is unacknowledged (it is not the queue's tail).
    assert_eq!(view, [(1, 400, true), (401, 400, true)]);
    // The sub-MSS tail waits for Nagle, then is pushed.
    h.inject(seg(5001).ack(iss + 801));
    let s = h.expect();
    assert_eq!(
        (s.seq - iss, s.data.len(), s.has(flags::PSH)),
        (801, 1000, true)
    );
}

#[test]
fn msg_more_holds_the_tail_without_psh_until_a_plain_write() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.set_nodelay(c, true).unwrap();
    let more = SendFlags {
        more: true,
        ..SendFlags::default()
    };
    h.tcp.send_msg(c, &[1u8; 100], more).unwrap();
    h.tcp.send_msg(c, &[2u8; 100], more).unwrap();
    h.expect_none();
    h.tcp.send(c, &[3u8; 5]).unwrap();
    let s = h.expect();
    assert_eq!((s.seq, s.data.len()), (iss + 1, 205));
    assert!(s.has(flags::PSH));
    h.inject(seg(5001).ack(iss + 206));
    // Full segments of a MSG_MORE write leave at once, without PSH; the sub-MSS rest waits.
    h.tcp.send_msg(c, &[4u8; 3000], more).unwrap();
    h.flush();
    let view: alloc::vec::Vec<(usize, bool)> = h
        .out
        .drain(..)
        .map(|s| (s.data.len(), s.has(flags::PSH)))
        .collect();
    assert_eq!(view, [(1460, false), (1460, false)]);
    // Once the next ACK arrives the rest goes (MSG_MORE applied only to that write's push).
    h.inject(seg(5001).ack(iss + 206 + 2920));
    let s = h.expect();
    assert_eq!((s.data.len(), s.has(flags::PSH)), (80, false));
}

#[test]
fn a_retransmission_carries_psh_only_if_it_holds_a_write_end() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    let segs = burst(&mut h, c, 3 * 1460);
    assert_eq!(segs.len(), 3);
    assert!(segs[2].has(flags::PSH));
    // No ACK: a loss probe resends the tail (a write end: pushed), then the retransmission
    // timeout resends the head, which ends no write.
    let mut head = None;
    for _ in 0..3 {
        h.advance_to_next_timer();
        h.flush();
        for s in h.out.drain(..) {
            if s.seq == iss + 1 + 2 * 1460 {
                assert!(s.has(flags::PSH), "tail resent without PSH");
            }
            if s.seq == iss + 1 {
                head = Some(s);
            }
        }
        if head.is_some() {
            break;
        }
    }
    let head = head.expect("head retransmitted");
    assert!(!head.has(flags::PSH));
}

#[test]
fn segments_sent_from_a_call_without_a_clock_keep_the_current_time() {
    let mut h = Harness::new();
    let (c, _iss) = h.connected_plain();
    h.tcp.set_cork(c, true).unwrap();
    h.tcp.send(c, &[1u8; 40]).unwrap();
    h.expect_none();
    // Socket options carry no clock: their output is dispatched with an old instant.
    h.tcp.set_cork(c, false).unwrap();
    h.tcp.push_pending(c).unwrap();
    let out = &mut h.out;
    h.tcp.dispatch(crate::time::Instant::ZERO, &mut |_, _, _| {
        out.push_back(out_marker())
    });
    assert_eq!(h.out.len(), 1);
    h.out.clear();
    // The retransmission timer runs from now, not from the old instant.
    h.advance(Duration::from_millis(10));
    h.expect_none();
    assert_eq!(h.counters().timeouts, 0);
}

/// A placeholder for a segment whose content the test does not inspect.
fn out_marker() -> Out {
    Out {
        src: us(),
        dst: peer(),
        seq: 0,
        ack: 0,
        flags: 0,
        window: 0,
        opts: Default::default(),
        raw_opts: alloc::vec::Vec::new(),
        data: alloc::vec::Vec::new(),
    }
}

#[test]
fn notsent_lowat_bounds_unsent_data_and_writability() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.set_notsent_lowat(c, 4000).unwrap();
    h.tcp.set_nodelay(c, true).unwrap();
    // The initial window sends 10 segments; then at most 4000 more bytes may wait unsent.
    let n = h.tcp.send(c, &[1u8; 40_000]).unwrap();
    assert_eq!(n, 10 * 1460 + 4000);
    h.flush();
    assert_eq!(h.out.drain(..).count(), 10);
    assert_eq!(h.tcp.send(c, &[1u8; 10]), Err(crate::errno::Errno::EAGAIN));
    assert!(!h.tcp.poll_events(c).unwrap().writable);
    // An ACK opens the window: the waiting data leaves, writable again.
    h.inject(seg(5001).ack(iss + 1 + 4 * 1460));
    h.flush();
    let sent: usize = h.out.drain(..).map(|s| s.data.len()).sum();
    assert_eq!(sent, 4000);
    assert!(h.tcp.poll_events(c).unwrap().writable);
    // A write fills what the window lets go at once, plus the mark (and a sub-MSS rest of
    // the window that sender SWS avoidance keeps back).
    let n = h.tcp.send(c, &[1u8; 40_000]).unwrap();
    h.flush();
    let sent: usize = h.out.drain(..).map(|s| s.data.len()).sum();
    assert!((4000..4000 + 1460).contains(&(n - sent)), "{n} - {sent}");
}

#[test]
fn a_loss_probe_resends_the_last_segment_as_it_was_a_lone_fin_stays_alone() {
    let mut h = Harness::new();
    let (c, iss) = h.connected_sack();
    h.tcp.set_nodelay(c, true).unwrap();
    let segs = burst(&mut h, c, 2 * 1460);
    assert_eq!(segs.len(), 2);
    h.advance(Duration::from_millis(1));
    h.tcp.shutdown(c, crate::tcp::Shutdown::Write).unwrap();
    let fin = h.expect();
    assert_eq!((fin.seq, fin.data.len()), (iss + 1 + 2 * 1460, 0));
    assert!(fin.has(flags::FIN));
    // No ACK: the probe is that FIN again, not the last data with it.
    h.advance_to_next_timer();
    let p = h.expect();
    assert_eq!((p.seq, p.data.len()), (iss + 1 + 2 * 1460, 0));
    assert!(p.has(flags::FIN));
    assert_eq!(h.counters().loss_probes, 1);
}

#[test]
fn push_marks_stay_bounded_and_the_queue_tail_keeps_its_push() {
    use crate::tcp::tcb::MAX_PUSH_MARKS;
    use crate::tcp::Sock;
    let mut h = Harness::new();
    let (c, iss) = h.connected_plain();
    h.tcp.set_nodelay(c, true).unwrap();
    // The peer's window is closed: every 1-byte write stays queued with its mark.
    h.inject(seg(5001).ack(iss + 1).win(0));
    let writes = MAX_PUSH_MARKS + 100;
    for _ in 0..writes {
        h.tcp.send(c, b"x").unwrap();
    }
    h.flush();
    h.out.clear();
    let Some(Sock::Conn(t)) = h.tcp.slots[c.idx as usize].sock.as_ref() else {
        panic!("connection gone");
    };
    assert_eq!(t.push_marks.len(), MAX_PUSH_MARKS);
    // The window opens: the queue leaves in one segment whose last byte ends the last write.
    h.inject(seg(5001).ack(iss + 1).win(65535));
    let mut last = None;
    h.flush();
    for s in h.out.drain(..) {
        if !s.data.is_empty() {
            last = Some(s);
        }
    }
    let last = last.expect("queued data sent");
    assert_eq!(last.seq - iss + last.data.len() as u32, 1 + writes as u32);
    assert!(last.has(flags::PSH));
}
