//! Scripted tests of SACK (RFC 2018) and SACK-based loss recovery (RFC 6675).

use super::script::*;
use crate::tcp::{Handle, State};
use alloc::vec::Vec;

/// Connected with SACK (no timestamps, so 4 blocks fit), nodelay, a round trip of
/// [`SACK_RTT`].
fn sack_connected(h: &mut Harness) -> (Handle, u32) {
    let c = h.tcp.connect(h.now, us(), peer(), None).unwrap();
    let syn = h.expect();
    assert!(syn.opts.sack_permitted);
    h.advance(SACK_RTT);
    h.inject(seg(5000).syn().ack(syn.seq + 1).mss(1460).sack_perm());
    let _ = h.expect();
    assert_eq!(h.state(c), State::Established);
    h.tcp.set_nodelay(c, true).unwrap();
    (c, syn.seq)
}

#[test]
fn synack_offers_sack_only_if_the_syn_did() {
    let mut h = Harness::new();
    h.tcp.listen(us(), 4).unwrap();
    h.inject(seg(1000).syn().port(1));
    assert!(!h.expect().opts.sack_permitted);
    h.inject(seg(1000).syn().sack_perm().port(2));
    assert!(h.expect().opts.sack_permitted);
}

#[test]
fn receiver_reports_most_recent_block_first() {
    let mut h = Harness::new();
    let (c, iss) = sack_connected(&mut h);
    h.inject(seg(5001 + 100).ack(iss + 1).data(&[1; 100]));
    let a = h.expect();
    assert_eq!(a.ack, 5001);
    assert_eq!(
        &a.opts.sack_blocks[..usize::from(a.opts.sack_count)],
        &[(5101, 5201)]
    );
    h.inject(seg(5001 + 300).ack(iss + 1).data(&[2; 100]));
    let a = h.expect();
    assert_eq!(
        &a.opts.sack_blocks[..usize::from(a.opts.sack_count)],
        &[(5301, 5401), (5101, 5201)]
    );
    // Adjacent runs are reported as one block; the most recent block comes first.
    h.inject(seg(5001 + 200).ack(iss + 1).data(&[3; 100]));
    let a = h.expect();
    assert_eq!(
        &a.opts.sack_blocks[..usize::from(a.opts.sack_count)],
        &[(5101, 5401)]
    );
    // Filling the hole: cumulative ACK, no blocks left.
    h.inject(seg(5001).ack(iss + 1).data(&[0; 100]));
    let a = h.expect();
    assert_eq!((a.ack, a.opts.sack_count), (5401, 0));
    assert_eq!(h.read_all(c).len(), 400);
}

#[test]
fn sender_retransmits_holes_from_the_scoreboard() {
    let mut h = Harness::new();
    let (c, iss) = sack_connected(&mut h);
    let una = iss + 1;
    let m = 1460u32;
    let data: Vec<u8> = (0..10 * m).map(|i| i as u8).collect();
    h.tcp.send(c, &data).unwrap();
    let segs: Vec<Out> = (0..10).map(|_| h.expect()).collect();
    assert_eq!(segs[9].seq, una + 9 * m);
    // Segments 0 and 3 are lost; the others arrive and are SACKed one by one.
    let s = |a: u32, b: u32| (una + a * m, una + b * m);
    h.inject(seg(5001).ack(una).sack(&[s(1, 2)]));
    h.inject(seg(5001).ack(una).sack(&[s(1, 3)]));
    h.flush();
    h.out.clear(); // limited transmit has nothing new to send
    h.inject(seg(5001).ack(una).sack(&[s(4, 5), s(1, 3)]));
    // More than 2 segments SACKed above SND.UNA: the head is retransmitted.
    let r = h.expect();
    assert_eq!(r.seq, una);
    assert_eq!(h.counters().fast_retransmits, 1);
    // As later segments are SACKed the pipe drains and the second hole goes too, before any
    // cumulative ACK moves (NewReno alone would wait a round trip).
    for k in 6..=10 {
        h.inject(seg(5001).ack(una).sack(&[s(4, k), s(1, 3)]));
    }
    h.flush();
    let rexmits: Vec<u32> = h.out.drain(..).map(|o| o.seq).collect();
    assert!(
        rexmits.contains(&(una + 3 * m)),
        "hole 3 not retransmitted: {rexmits:?}"
    );
    assert!(!rexmits.contains(&(una + m)), "SACKed data was resent");
    // Everything acknowledged: recovery over, nothing outstanding.
    h.inject(seg(5001).ack(una + 10 * m));
    assert_eq!(h.tcp.poll_at(), None);
}

/// Connected with SACK, MSS 1000, nodelay, a round trip of [`SACK_RTT`]; returns (handle,
/// SND.UNA).
pub(super) fn sack_connected_1000(h: &mut Harness) -> (Handle, u32) {
    let c = h.tcp.connect(h.now, us(), peer(), None).unwrap();
    let syn = h.expect();
    h.advance(SACK_RTT);
    h.inject(seg(5000).syn().ack(syn.seq + 1).mss(1000).sack_perm());
    let _ = h.expect();
    h.tcp.set_nodelay(c, true).unwrap();
    (c, syn.seq + 1)
}

/// RFC 6675 IsLost: a hole counts as lost only with DupThresh SACKed ranges or more than
/// (DupThresh − 1)·SMSS SACKed bytes above it. SACK 1001:3001 and 8001:9001 (relative) make
/// 1:1001 lost (3000 bytes above) but not 3001:8001 (1000 bytes, one range above): only the
/// head is resent, and the pipe counts the reordered hole as in flight.
#[test]
fn only_holes_with_dupthresh_sacked_above_are_resent() {
    let mut h = Harness::new();
    let (c, una) = sack_connected_1000(&mut h);
    h.tcp.send(c, &[6; 9000]).unwrap();
    h.flush();
    assert_eq!(h.out.drain(..).count(), 9);
    let r = |a: u32, b: u32| (una + a, una + b);
    h.inject(seg(5001).ack(una).sack(&[r(1000, 2000)]));
    h.inject(seg(5001).ack(una).sack(&[r(1000, 3000)]));
    h.inject(seg(5001).ack(una).sack(&[r(8000, 9000), r(1000, 3000)]));
    h.flush();
    let sent: Vec<u32> = h.out.drain(..).map(|o| o.seq - una).collect();
    assert_eq!(sent, [0], "only the head is lost");
    assert_eq!(h.counters().retrans_segs, 1);
    // The reordered segments arrive: everything is acknowledged, nothing else was resent.
    h.inject(seg(5001).ack(una + 9000));
    h.expect_none();
    assert_eq!(h.counters().retrans_segs, 1);
}

/// PRR (RFC 6937): during recovery the sender keeps sending, ssthresh / RecoverFS of what is
/// delivered, instead of falling silent until the pipe drops below ssthresh and then sending
/// one for one. 20 segments in flight, the first lost; NewReno and CUBIC.
#[test]
fn prr_spreads_the_reduction_over_the_recovery() {
    // (algorithm, segments sent in all, of which before the 8th SACK at least)
    for (cc, want, early) in [("reno", 10, 4), ("cubic", 14, 5)] {
        let mut h = Harness::with_config(crate::tcp::TcpConfig {
            initial_window: 20,
            ..crate::tcp::TcpConfig::default()
        });
        let (c, una) = sack_connected_1000(&mut h);
        h.tcp.set_congestion(c, cc).unwrap();
        h.tcp.send(c, &[8; 40_000]).unwrap();
        h.flush();
        assert_eq!(h.out.drain(..).count(), 20);
        let m = 1000u32;
        let mut sent_after = Vec::new();
        let (mut total, mut snd_max) = (0, una + 20 * m);
        for k in 2..=20 {
            h.inject(seg(5001).ack(una).sack(&[(una + m, una + k * m)]));
            h.flush();
            for o in h.out.drain(..).filter(|o| !o.data.is_empty()) {
                total += 1;
                snd_max = snd_max.max(o.seq + o.data.len() as u32);
            }
            sent_after.push(total);
        }
        // Limited transmit sends one segment for each of the first two SACKs; recovery starts
        // at the third (with the head's retransmission), and from then on segments leave in
        // proportion: ssthresh 10 (CUBIC 14) of RecoverFS 22 segments, over 17 ACKs.
        assert_eq!(h.counters().fast_retransmits, 1);
        assert!(
            sent_after[7] >= early,
            "{cc}: silent at the start of recovery: {sent_after:?}"
        );
        assert_eq!(total, want, "{cc}: {sent_after:?}");
        let (p, ss) = (h.counters().prr_proportional, h.counters().prr_slow_start);
        assert!(
            p > 0 && p + ss == 17,
            "{p} proportional, {ss} slow-start bound"
        );
        h.inject(seg(5001).ack(snd_max));
        assert_eq!(h.counters().retrans_segs, 1);
    }
}

/// RACK (RFC 8985 §6.2): segments sent before a SACKed one are lost once they are older than
/// RACK.rtt plus the reordering window (min RTT / 4); the reordering timer finds them when no
/// further ACK comes, and fast recovery resends only them, without a timeout or a probe.
#[test]
fn rack_timer_resends_the_holes_below_sacked_data_without_a_timeout() {
    let mut h = Harness::new();
    let (c, iss) = sack_connected(&mut h);
    let una = iss + 1;
    let m = 1460u32;
    h.tcp.send(c, &[9u8; 5 * 1460]).unwrap();
    for _ in 0..5 {
        let _ = h.expect();
    }
    // A round trip later segments 2 and 3 are SACKed (one ACK: no DupThresh), then silence.
    h.advance(SACK_RTT);
    h.inject(seg(5001).ack(una).sack(&[(una + 2 * m, una + 4 * m)]));
    h.expect_none();
    // RACK.rtt (20 ms) + min RTT / 4 (5 ms) after they left, 0 and 1 are lost; the timer
    // fires then, and PRR lets the first go at once.
    let waited = h.advance_to_next_timer();
    assert_eq!(waited, crate::time::Duration::from_millis(5));
    assert_eq!(h.expect().seq, una);
    h.expect_none();
    assert_eq!(h.counters().rack_marks, 2);
    assert_eq!(h.counters().rack_timeouts, 1);
    assert_eq!(h.counters().fast_retransmits, 1);
    // Segment 0 arrives, and so had 4 (it is SACKed now): 1 is resent, nothing else.
    h.advance(SACK_RTT);
    h.inject(seg(5001).ack(una + m).sack(&[(una + 2 * m, una + 5 * m)]));
    let next: Vec<u32> = h.out.drain(..).map(|o| o.seq).collect();
    assert_eq!(next, [una + m]);
    // Segment 1 arrives: everything is in.
    h.inject(seg(5001).ack(una + 5 * m));
    h.expect_none();
    assert_eq!(h.counters().retrans_segs, 2);
    assert_eq!(h.counters().timeouts, 0);
    assert_eq!(h.counters().loss_probes, 0);
    assert_eq!(h.tcp.poll_at(), None);
}

/// A lost retransmission (RFC 8985 §6.2): data sent after the head's retransmission is SACKed
/// while the head is not; RACK.rtt plus the reordering window after the retransmission left,
/// the head goes again, without waiting for the retransmission timeout.
#[test]
fn lost_retransmission_of_the_head_is_resent_without_a_timeout() {
    let mut h = Harness::new();
    let (c, iss) = sack_connected(&mut h);
    let una = iss + 1;
    let m = 1460u32;
    h.tcp.send(c, &[4u8; 20 * 1460]).unwrap();
    h.flush();
    assert_eq!(h.out.drain(..).count(), 10);
    h.advance(SACK_RTT);
    let s = |a: u32, b: u32| (una + a * m, una + b * m);
    // Segment 0 lost; 1..=3 SACKed: fast retransmit of the head, then (PRR) new data as more
    // SACKs arrive.
    for k in 2..=8 {
        h.inject(seg(5001).ack(una).sack(&[s(1, k)]));
    }
    h.flush();
    let sent: Vec<u32> = h.out.drain(..).map(|o| (o.seq - una) / m).collect();
    assert_eq!(sent.iter().filter(|&&x| x == 0).count(), 1, "{sent:?}");
    let first_new = *sent
        .iter()
        .skip_while(|&&x| x != 0)
        .find(|&&x| x >= 10)
        .expect("no new data after the retransmission");
    // A round trip later that new data (sent after the head) is SACKed, the head still is not: its retransmission
    // was lost too. It goes again once RACK.rtt + 5 ms have passed since it left.
    h.advance(SACK_RTT);
    h.inject(
        seg(5001)
            .ack(una)
            .sack(&[s(1, 10), s(first_new, first_new + 1)]),
    );
    assert!(!h.out.drain(..).any(|o| o.seq == una), "resent too early");
    h.advance(crate::time::Duration::from_millis(5));
    assert!(h.out.drain(..).any(|o| o.seq == una), "head not resent");
    assert_eq!(h.counters().lost_retransmits, 1);
    assert_eq!(h.counters().timeouts, 0);
}

/// D-SACK (RFC 2883): a duplicate below RCV.NXT, a partly old segment and a duplicate of
/// queued out-of-order data are each reported once, as the first block of the next ACK.
#[test]
fn receiver_reports_duplicates_with_dsack() {
    let mut h = Harness::new();
    let (c, iss) = sack_connected(&mut h);
    h.inject(seg(5001).ack(iss + 1).data(&[1; 100]));
    h.advance(crate::time::Duration::from_millis(200));
    h.out.clear();
    let blocks = |a: &Out| a.opts.sack_blocks[..usize::from(a.opts.sack_count)].to_vec();
    // The same segment again: entirely old.
    h.inject(seg(5001).ack(iss + 1).data(&[1; 100]));
    let a = h.expect();
    assert_eq!((a.ack, blocks(&a)), (5101, alloc::vec![(5001, 5101)]));
    assert_eq!(h.counters().dsack_old_sent, 1);
    // Reported once: the next ACK carries no block.
    h.inject(seg(5101).ack(iss + 1).data(&[2; 100]));
    let a = h.expect(); // still in the quick-ACK period of the connection's start
    assert_eq!((a.ack, a.opts.sack_count), (5201, 0));
    h.inject(seg(5201).ack(iss + 1).data(&[2; 100]));
    let a = h.expect();
    assert_eq!((a.ack, a.opts.sack_count), (5301, 0));
    // Partly old: 5251..5351 holds 50 old bytes.
    h.inject(seg(5251).ack(iss + 1).data(&[2; 100]));
    let a = h.expect();
    assert_eq!((a.ack, blocks(&a)), (5351, alloc::vec![(5251, 5301)]));
    // Out-of-order data, then part of it again: D-SACK first, then the block holding it.
    h.inject(seg(5451).ack(iss + 1).data(&[3; 100]));
    let a = h.expect();
    assert_eq!(blocks(&a), alloc::vec![(5451, 5551)]);
    h.inject(seg(5501).ack(iss + 1).data(&[3; 100]));
    let a = h.expect();
    assert_eq!(blocks(&a), alloc::vec![(5501, 5551), (5451, 5601)]);
    assert_eq!(h.counters().dsack_ofo_sent, 1);
    assert_eq!(h.read_all(c).len(), 350);
}

/// D-SACK (RFC 2883 §4): an in-order segment that repeats bytes already queued out of order
/// (here 5201..5251) reports them, like a duplicate below RCV.NXT.
#[test]
fn in_order_segment_overlapping_queued_data_is_dsacked() {
    let mut h = Harness::new();
    let (c, iss) = sack_connected(&mut h);
    let blocks = |a: &Out| a.opts.sack_blocks[..usize::from(a.opts.sack_count)].to_vec();
    h.inject(seg(5201).ack(iss + 1).data(&[2; 100]));
    let a = h.expect();
    assert_eq!((a.ack, blocks(&a)), (5001, alloc::vec![(5201, 5301)]));
    h.inject(seg(5001).ack(iss + 1).data(&[1; 250]));
    let a = h.expect();
    assert_eq!((a.ack, blocks(&a)), (5301, alloc::vec![(5201, 5251)]));
    assert_eq!(h.counters().dsack_old_sent, 1);
    // A queued run covered entirely by the in-order segment is reported whole.
    h.inject(seg(5401).ack(iss + 1).data(&[4; 50]));
    let _ = h.expect();
    h.inject(seg(5301).ack(iss + 1).data(&[3; 200]));
    let a = h.expect();
    assert_eq!((a.ack, blocks(&a)), (5501, alloc::vec![(5401, 5451)]));
    assert_eq!(h.counters().dsack_old_sent, 2);
    let got = h.read_all(c);
    assert_eq!(got.len(), 500);
    assert!(got[..250].iter().all(|&b| b == 1) && got[250..300].iter().all(|&b| b == 2));
}

/// One in-order segment repeating two adjoining queued runs is reported as one D-SACK block
/// covering both (RFC 2883 §4: the contiguous duplicate space; Linux's tcp_dsack_mult), and a
/// separate queued run later in the segment is not merged into it.
#[test]
fn dsack_covers_adjoining_queued_runs_repeated_by_one_segment() {
    let mut h = Harness::new();
    let (_c, iss) = sack_connected(&mut h);
    let blocks = |a: &Out| a.opts.sack_blocks[..usize::from(a.opts.sack_count)].to_vec();
    for (seq, len) in [(6001, 1000), (7001, 1000), (9001, 1000)] {
        h.inject(seg(seq).ack(iss + 1).data(&alloc::vec![5u8; len]));
        let _ = h.expect();
    }
    // 5001..11001 in one go: it repeats 6001:8001 (two runs, adjoining) and 9001:10001.
    h.inject(seg(5001).ack(iss + 1).data(&[6u8; 6000]));
    let a = h.expect();
    assert_eq!((a.ack, blocks(&a)[0]), (11001, (6001, 8001)));
}

/// The sender counts D-SACKs it receives and does not take them for new SACK information.
#[test]
fn sender_counts_received_dsacks() {
    let mut h = Harness::new();
    let (c, iss) = sack_connected(&mut h);
    h.tcp.send(c, &[9; 3 * 1460]).unwrap();
    h.flush();
    assert_eq!(h.out.drain(..).count(), 3);
    // Everything acknowledged, with a D-SACK for the first segment (spuriously resent).
    h.inject(
        seg(5001)
            .ack(iss + 1 + 3 * 1460)
            .sack(&[(iss + 1, iss + 1 + 1460)]),
    );
    assert_eq!(h.counters().dsack_recv, 1);
    assert_eq!(h.counters().fast_retransmits, 0);
    h.expect_none();
}

/// A D-SACK riding on a full-sized data segment still fits the MSS (options count against it).
#[test]
fn dsack_on_data_segments_fits_the_mss() {
    let mut h = Harness::new();
    let (c, iss) = sack_connected(&mut h);
    h.inject(seg(5001).ack(iss + 1).data(&[1; 100]));
    h.advance(crate::time::Duration::from_millis(200));
    h.out.clear();
    // Data waits to go out when the duplicate arrives: the D-SACK rides on it.
    h.tcp.send(c, &[5; 4 * 1460]).unwrap();
    let dup = seg(5001).ack(iss + 1).data(&[1; 100]).bytes();
    h.tcp.input(h.now, PEER, US, &dup, false);
    h.flush();
    let segs: Vec<Out> = h.out.drain(..).collect();
    assert!(segs.len() >= 2);
    assert_eq!(segs[0].opts.sack_blocks[0], (5001, 5101));
    assert!(
        !segs[0].data.is_empty(),
        "the D-SACK went on a data segment"
    );
    for s in &segs {
        assert!(
            s.data.len() + s.raw_opts.len() <= 1460,
            "{} + {}",
            s.data.len(),
            s.raw_opts.len()
        );
    }
}

/// After a timeout the go-back-N pass resends in order; one of its retransmissions lost again
/// is found by RACK (later data SACKed, RFC 8985 §6.2) and resent once RACK.rtt plus the
/// reordering window have passed, not at the next (backed-off) retransmission timeout.
#[test]
fn lost_retransmission_after_a_timeout_is_resent_without_another_timeout() {
    let mut h = Harness::new();
    let (c, iss) = sack_connected(&mut h);
    let una = iss + 1;
    let m = 1460u32;
    h.tcp.send(c, &[7u8; 4 * 1460]).unwrap();
    h.flush();
    assert_eq!(h.out.drain(..).count(), 4);
    // Everything is lost, the probe too: the timeout resends the head.
    while h.counters().timeouts == 0 {
        h.advance_to_next_timer();
        h.flush();
        h.out.clear();
    }
    h.flush();
    h.out.clear();
    // The head's retransmission arrives: slow start resends 1 and 2.
    h.advance(SACK_RTT);
    h.inject(seg(5001).ack(una + m));
    h.flush();
    let sent: Vec<u32> = h.out.drain(..).map(|o| (o.seq - una) / m).collect();
    assert_eq!(sent, [1, 2]);
    // 1 is lost again, 2 arrives (SACKed); the pass goes on with 3.
    h.advance(SACK_RTT);
    h.inject(seg(5001).ack(una + m).sack(&[(una + 2 * m, una + 3 * m)]));
    h.flush();
    h.out.clear();
    // RACK.rtt + min RTT / 4 after it left, 1 goes again; no second timeout.
    h.advance(crate::time::Duration::from_millis(10));
    h.flush();
    let sent: Vec<u32> = h.out.drain(..).map(|o| (o.seq - una) / m).collect();
    assert_eq!(sent, [1], "the lost retransmission is resent");
    assert_eq!(h.counters().timeouts, 1);
    assert_eq!(h.counters().lost_retransmits, 1);
}

/// A recovery ends with an ACK exactly at its recovery point; the first segment after it
/// (sent during that recovery) is lost and later ones are SACKed. That is a new loss in a new
/// window (RFC 6675 §5: recovery ended when SND.UNA reached RecoveryPoint): fast recovery
/// resends it, no timeout. (Requiring SND.UNA beyond `recover`, NewReno's rule, left it to
/// the retransmission timer: SND.UNA cannot pass the lost segment.)
#[test]
fn a_loss_right_after_the_recovery_point_starts_a_new_recovery() {
    let mut h = Harness::new();
    let (c, iss) = sack_connected(&mut h);
    let una = iss + 1;
    let m = 1460u32;
    h.tcp.send(c, &[5u8; 30 * 1460]).unwrap();
    h.flush();
    assert_eq!(h.out.drain(..).count(), 10);
    h.advance(SACK_RTT);
    let s = |a: u32, b: u32| (una + a * m, una + b * m);
    // Segment 0 lost, 1..=9 SACKed one by one: fast recovery, recovery point 10.
    for k in 2..=10 {
        h.inject(seg(5001).ack(una).sack(&[s(1, k)]));
    }
    h.flush();
    let sent: Vec<u32> = h.out.drain(..).map(|o| (o.seq - una) / m).collect();
    // Limited transmit may have sent some before the fast retransmit: the recovery point
    // is what had been sent then.
    let at = sent.iter().position(|&x| x == 0).expect("fast retransmit");
    let rp = sent[..at].iter().max().map_or(10, |&x| x + 1);
    let new: Vec<u32> = sent[at + 1..].to_vec();
    assert!(new.len() >= 3, "PRR sent new data: {sent:?}");
    assert_eq!(h.counters().fast_retransmits, 1);
    // The retransmission arrives: the ACK reaches the recovery point exactly. The first
    // segment sent in recovery was lost; the others are SACKed.
    assert_eq!(new[0], rp);
    h.advance(SACK_RTT);
    h.inject(seg(5001).ack(una + rp * m));
    let last = *new.last().unwrap();
    for k in rp + 2..=last + 1 {
        h.inject(seg(5001).ack(una + rp * m).sack(&[s(rp + 1, k)]));
    }
    h.flush();
    h.advance(crate::time::Duration::from_millis(10));
    h.flush();
    let sent: Vec<u32> = h.out.drain(..).map(|o| (o.seq - una) / m).collect();
    assert!(sent.contains(&rp), "segment {rp} not resent: {sent:?}");
    assert_eq!(h.counters().fast_retransmits, 2);
    assert_eq!(h.counters().timeouts, 0);
}
