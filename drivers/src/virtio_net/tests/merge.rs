//! Receive segmentation against the fake device: GUEST_TSO4 with mergeable buffers negotiated
//! when offered, super-segments spread over several buffers gathered into one frame, hostile
//! `num_buffers` and lengths dropped and counted, every buffer re-posted.

use super::offload::{
    finished_tcp_frame, tcp_frame, FEATURE_GUEST_CSUM, FEATURE_GUEST_TSO4, TAP_OFFER, TCP_ACK,
    TCP_HDR, TCP_PSH,
};
use std::string::ToString;

use super::*;

/// Payload of a super-segment filling the largest IPv4 packet.
const BIG_PAYLOAD: usize = 65535 - 20 - TCP_HDR;

/// A receive header: `flags`, `gso_type` and `num_buffers`.
fn header(flags: u8, gso_type: u8, num_buffers: u16) -> Vec<u8> {
    let mut h = std::vec![0u8; HDR];
    h[0] = flags;
    h[1] = gso_type;
    h[10..12].copy_from_slice(&num_buffers.to_le_bytes());
    h
}

/// Spreads header + `frame` over as many posted buffers as it needs, as a device with
/// mergeable buffers does; `num_buffers` is that count unless `claimed`. Returns the count.
fn deliver_merged(
    fake: &FakeNet,
    flags: u8,
    gso_type: u8,
    frame: &[u8],
    claimed: Option<u16>,
) -> usize {
    let size = fake.rx_buffer_len();
    let n = (HDR + frame.len()).div_ceil(size);
    let mut bytes = header(flags, gso_type, claimed.unwrap_or(n as u16));
    bytes.extend_from_slice(frame);
    for piece in bytes.chunks(size) {
        assert!(fake.deliver_piece(piece, None), "buffer posted");
    }
    n
}

/// A super-segment as the host's stack hands it over: one TCPv4 packet of `payload` bytes, its
/// checksum partial.
fn super_segment(payload: usize) -> Vec<u8> {
    tcp_frame(payload, TCP_ACK | TCP_PSH)
}

/// Checks a whole ring's worth of single-buffer frames can still be delivered and received:
/// every buffer went back to the device.
fn assert_ring_restocked(dev: &mut VirtioNet<FakeNet>, fake: &FakeNet) {
    for i in 0..QUEUE_SIZE as u16 {
        assert!(
            fake.deliver_flagged(&frame(i, 60), None, 0),
            "buffer {i} re-posted"
        );
    }
    let mut n = 0;
    while n < QUEUE_SIZE {
        let got = collect(dev, 64);
        assert!(!got.is_empty());
        n += got.len();
    }
}

#[test]
fn receive_segmentation_is_taken_with_mergeable_buffers_and_guest_csum_only() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (dev, fake) = device_offering(&PENDING, TAP_OFFER);
    let rx_gso = FEATURE_GUEST_TSO4 | FEATURE_MRG_RXBUF;
    assert_eq!(fake.0.borrow().accepted & rx_gso, rx_gso);
    assert!(dev.offloads().rx_tso4);
    assert_eq!(fake.rx_buffer_len(), MERGE_BUF_SIZE, "page-sized buffers");
    drop(dev);

    for offer in [
        TAP_OFFER & !FEATURE_MRG_RXBUF,
        TAP_OFFER & !FEATURE_GUEST_CSUM,
        TAP_OFFER & !FEATURE_GUEST_TSO4,
    ] {
        let (dev, fake) = device_offering(&PENDING, offer);
        assert_eq!(fake.0.borrow().accepted & rx_gso, 0, "offer {offer:#x}");
        assert!(!dev.offloads().rx_tso4);
        assert_eq!(fake.rx_buffer_len(), BUF_SIZE);
        assert!(!dev.offloads().to_string().contains("rxtso4"));
    }
}

#[test]
fn a_super_segment_spread_over_buffers_is_handed_up_whole() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (mut dev, fake) = device_offering(&PENDING, TAP_OFFER);
    let big = super_segment(BIG_PAYLOAD);
    assert_eq!(big.len(), 14 + 65535);
    let pieces = deliver_merged(&fake, hdr::F_NEEDS_CSUM, hdr::GSO_TCPV4, &big, None);
    assert_eq!(
        pieces, MAX_MERGE_BUFFERS,
        "the largest frame takes the most buffers"
    );
    // A small frame right behind it, in one buffer.
    assert!(fake.deliver_flagged(&frame(7, 60), None, 0));
    let got = collect(&mut dev, 1);
    assert_eq!(got.len(), 1, "the budget counts frames, not buffers");
    assert!(got[0] == big, "the gathered frame is the one sent");
    assert_eq!(collect(&mut dev, 8), [frame(7, 60)]);
    let c = dev.counters();
    assert_eq!((c.rx_gso_frames, c.rx_merged_frames), (1, 1));
    assert_eq!(
        c.rx_csum_device, 1,
        "a partial checksum is the device's word"
    );
    assert_eq!(dev.stats().rx_packets, 2);
    assert_eq!(dev.stats().rx_bytes, (big.len() + 60) as u64);
    assert_ring_restocked(&mut dev, &fake);
}

#[test]
fn merged_frames_the_device_did_not_vouch_for_are_verified() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (mut dev, fake) = device_offering(&PENDING, TAP_OFFER);
    let good = finished_tcp_frame(20000);
    let mut bad = good.clone();
    bad[14 + 20 + TCP_HDR + 12345] ^= 0x40;
    deliver_merged(&fake, 0, hdr::GSO_TCPV4, &good, None);
    deliver_merged(&fake, 0, hdr::GSO_TCPV4, &bad, None);
    let got = collect(&mut dev, 8);
    assert_eq!(got.len(), 1);
    assert!(got[0] == good);
    let c = dev.counters();
    assert_eq!((c.rx_csum_verified, c.rx_csum_errors), (1, 1));
    assert_eq!(c.rx_gso_frames, 1, "only frames handed up count");
    assert_eq!(dev.stats().rx_dropped, 1);
}

#[test]
fn hostile_buffer_counts_and_lengths_are_dropped_counted_and_buffers_reposted() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (mut dev, fake) = device_offering(&PENDING, TAP_OFFER);
    let small = frame(1, 60);
    // num_buffers 0: no such frame.
    deliver_merged(&fake, 0, 0, &small, Some(0));
    // A first buffer shorter than the header.
    assert!(fake.deliver_piece(&header(0, 0, 1), Some(3)));
    // num_buffers far above what a 64 KiB frame needs: its 39 followers are consumed with it.
    deliver_merged(&fake, 0, 0, &small, Some(40));
    for _ in 0..39 {
        assert!(fake.deliver_piece(&frame(2, 60), None));
    }
    // Within the buffer count, but the pieces claim more bytes than any frame may have (the
    // lengths are clamped to the buffers, which still add up to too much).
    let mut first = header(0, hdr::GSO_TCPV4, MAX_MERGE_BUFFERS as u16);
    first.extend_from_slice(&super_segment(8000));
    assert!(fake.deliver_piece(&first, Some(70_000)));
    for _ in 1..MAX_MERGE_BUFFERS {
        assert!(fake.deliver_piece(&[0x55; 100], Some(70_000)));
    }
    // A good super-segment after all that is gathered correctly.
    let big = super_segment(30000);
    deliver_merged(&fake, hdr::F_NEEDS_CSUM, hdr::GSO_TCPV4, &big, None);

    let got = collect(&mut dev, 64);
    assert_eq!(got.len(), 1, "only the good frame is handed up");
    assert!(got[0] == big);
    let c = dev.counters();
    assert_eq!(c.rx_merge_errors, 3);
    assert_eq!(c.rx_errors, 1);
    assert_eq!((c.rx_merged_frames, c.rx_gso_frames), (1, 1));
    assert_eq!(dev.stats().rx_dropped, 4);
    assert_eq!(c.rx_repost_failures, 0);
    assert_ring_restocked(&mut dev, &fake);
}

#[test]
fn a_merged_frame_completed_in_a_later_round_is_gathered_across_rounds() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (mut dev, fake) = device_offering(&PENDING, TAP_OFFER);
    let big = super_segment(40000);
    let size = fake.rx_buffer_len();
    let n = (HDR + big.len()).div_ceil(size);
    let mut bytes = header(hdr::F_NEEDS_CSUM, hdr::GSO_TCPV4, n as u16);
    bytes.extend_from_slice(&big);
    let pieces: Vec<&[u8]> = bytes.chunks(size).collect();
    for p in &pieces[..4] {
        assert!(fake.deliver_piece(p, None));
    }
    assert!(collect(&mut dev, 8).is_empty(), "frame not complete yet");
    assert!(fake.rx_interrupts_enabled(), "waiting for the rest");
    for p in &pieces[4..] {
        assert!(fake.deliver_piece(p, None));
    }
    let got = collect(&mut dev, 8);
    assert_eq!(got.len(), 1);
    assert!(got[0] == big);

    // Three super-segments, a budget of two: two now, the third on the next round.
    for _ in 0..3 {
        deliver_merged(&fake, hdr::F_NEEDS_CSUM, hdr::GSO_TCPV4, &big, None);
    }
    PENDING.store(false, Ordering::Release);
    assert_eq!(collect(&mut dev, 2).len(), 2);
    assert!(PENDING.load(Ordering::Acquire), "budget spent: poll again");
    assert_eq!(collect(&mut dev, 2).len(), 1);
    assert_eq!(dev.counters().rx_gso_frames, 4);
}

#[test]
fn segmentation_types_not_negotiated_are_dropped_and_counted() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (mut dev, fake) = device_offering(&PENDING, TAP_OFFER);
    const GSO_TCPV6: u8 = 4;
    const GSO_ECN: u8 = 0x80;
    let seg = super_segment(3000);
    deliver_merged(&fake, hdr::F_NEEDS_CSUM, GSO_TCPV6, &seg, None);
    deliver_merged(
        &fake,
        hdr::F_NEEDS_CSUM,
        hdr::GSO_TCPV4 | GSO_ECN,
        &seg,
        None,
    );
    assert!(collect(&mut dev, 8).is_empty());
    assert_eq!(dev.counters().rx_gso_unsupported, 2);
    drop(dev);

    // A device that did not negotiate GUEST_TSO4 must not send super-segments at all.
    let (mut dev, fake) = device_offering(&PENDING, TAP_OFFER & !FEATURE_GUEST_TSO4);
    let mut bytes = header(hdr::F_NEEDS_CSUM, hdr::GSO_TCPV4, 0);
    bytes.extend_from_slice(&super_segment(1000));
    assert!(fake.deliver_piece(&bytes, None));
    assert!(collect(&mut dev, 8).is_empty());
    assert_eq!(dev.counters().rx_gso_unsupported, 1);
    assert_eq!(dev.stats().rx_dropped, 1);
}

#[test]
fn with_merged_buffers_frames_are_handed_over_and_may_be_kept() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (dev, _fake) = device(&PENDING);
    assert!(
        !dev.capabilities().rx_owned,
        "nothing gathered: frames are lent"
    );
    drop(dev);
    let (mut dev, fake) = device_offering(&PENDING, TAP_OFFER);
    assert!(dev.capabilities().rx_owned);
    let first = super_segment(BIG_PAYLOAD);
    let second = super_segment(50000);
    deliver_merged(&fake, hdr::F_NEEDS_CSUM, hdr::GSO_TCPV4, &first, None);
    assert!(fake.deliver_flagged(&frame(3, 60), None, 0));
    deliver_merged(&fake, hdr::F_NEEDS_CSUM, hdr::GSO_TCPV4, &second, None);
    deliver_merged(&fake, hdr::F_NEEDS_CSUM, hdr::GSO_TCPV4, &first, None);
    // The stack keeps the first two super-segments, gives back everything else.
    let mut kept = Vec::new();
    let mut lent = Vec::new();
    let n = dev.receive_owned(16, &mut |f| {
        if f.len() > 1000 && kept.len() < 2 {
            kept.push(f);
            None
        } else {
            lent.push(f.clone());
            Some(f)
        }
    });
    assert_eq!(n, 4);
    assert_eq!(kept.len(), 2);
    assert!(kept[0] == first && kept[1] == second, "kept frames intact");
    assert_eq!(lent.len(), 2);
    assert_eq!(lent[0], frame(3, 60));
    assert!(
        lent[1] == first,
        "gathered into a fresh buffer after the last was kept"
    );
    assert_eq!(dev.counters().rx_merged_frames, 3);
    assert_eq!(dev.counters().rx_no_memory, 0);
    assert_eq!(dev.stats().rx_packets, 4);
}

#[test]
fn a_legacy_device_merges_with_the_twelve_byte_header() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (mut dev, fake) = device_offering(&PENDING, TAP_OFFER & !FEATURE_VERSION_1);
    assert_eq!(
        fake.0.borrow().accepted & FEATURE_MRG_RXBUF,
        FEATURE_MRG_RXBUF
    );
    assert!(dev.offloads().rx_tso4);
    let big = super_segment(30000);
    deliver_merged(&fake, hdr::F_NEEDS_CSUM, hdr::GSO_TCPV4, &big, None);
    let got = collect(&mut dev, 4);
    assert_eq!(got.len(), 1);
    assert!(got[0] == big, "header of num_buffers' length stripped");
}
