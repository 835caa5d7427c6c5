//! Transmit offloads against the fake device: what gets negotiated for which offer, the
//! virtio-net header a partial-checksum frame and a super-segment carry, and the software
//! fallbacks.

use core::net::Ipv4Addr;

use net::offload::{complete_tcp_checksum, finish_frame, partial_tcp_checksum, TxOffload};
use net::wire::checksum;
use std::string::ToString;

use super::*;

const FEATURE_CSUM: u64 = 1 << 0;
pub(super) const FEATURE_GUEST_CSUM: u64 = 1 << 1;
pub(super) const FEATURE_GUEST_TSO4: u64 = 1 << 7;
const FEATURE_HOST_TSO4: u64 = 1 << 11;
const FEATURE_CTRL_VQ: u64 = 1 << 17;
/// What QEMU's virtio-net offers with a tap backend that has vnet headers (among others).
pub(super) const TAP_OFFER: u64 = FEATURE_MAC
    | FEATURE_STATUS
    | FEATURE_VERSION_1
    | FEATURE_CSUM
    | FEATURE_GUEST_CSUM
    | FEATURE_GUEST_TSO4
    | FEATURE_HOST_TSO4
    | FEATURE_MRG_RXBUF
    | FEATURE_CTRL_VQ;

const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 2);
const DST: Ipv4Addr = Ipv4Addr::new(192, 168, 77, 1);
/// TCP header with a timestamp option.
pub(super) const TCP_HDR: usize = 32;
const TCP_CWR: u8 = 0x80;
pub(super) const TCP_ACK: u8 = 0x10;
pub(super) const TCP_PSH: u8 = 0x08;

/// An Ethernet/IPv4/TCP frame carrying `payload` bytes, its TCP checksum left partial (as the
/// stack leaves it for a device with checksum offload).
pub(super) fn tcp_frame(payload: usize, flags: u8) -> Vec<u8> {
    let total = 20 + TCP_HDR + payload;
    let mut f = std::vec![0u8; 14 + total];
    f[..6].copy_from_slice(&[0x02, 0, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&MAC);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&0x1234u16.to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&SRC.octets());
    ip[16..20].copy_from_slice(&DST.octets());
    let c = checksum::checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let tcp = &mut f[34..];
    tcp[..2].copy_from_slice(&19u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&40000u16.to_be_bytes());
    tcp[4..8].copy_from_slice(&0xffff_f000u32.to_be_bytes());
    tcp[8..12].copy_from_slice(&77u32.to_be_bytes());
    tcp[12] = ((TCP_HDR / 4) as u8) << 4;
    tcp[13] = flags;
    tcp[14..16].copy_from_slice(&65535u16.to_be_bytes());
    tcp[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 7]);
    for (i, b) in tcp[TCP_HDR..].iter_mut().enumerate() {
        *b = (i * 7 % 251) as u8;
    }
    let partial = partial_tcp_checksum(SRC, DST, (TCP_HDR + payload) as u16);
    tcp[16..18].copy_from_slice(&partial.to_be_bytes());
    f
}

/// The header fields of a transmitted chain (the fake's bytes: header, then frame).
fn header_of(sent: &[u8]) -> NetHdr {
    let le = |i: usize| u16::from_le_bytes([sent[i], sent[i + 1]]);
    NetHdr {
        flags: sent[0],
        gso_type: sent[1],
        hdr_len: le(2),
        gso_size: le(4),
        csum_start: le(6),
        csum_offset: le(8),
    }
}

/// What the device does for NEEDS_CSUM: sums from `csum_start` to the end and stores the
/// result at `csum_start + csum_offset`.
fn device_completes_checksum(frame: &mut [u8], h: &NetHdr) {
    let start = usize::from(h.csum_start);
    let at = start + usize::from(h.csum_offset);
    let c = !checksum::sum(0, &frame[start..]);
    frame[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

pub(super) fn tcp_checksum_ok(frame: &[u8]) -> bool {
    checksum::verify_transport(SRC, DST, 6, &frame[34..])
}

#[test]
fn a_device_without_offloads_is_driven_as_before() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (mut dev, fake) = device(&PENDING);
    assert_eq!(
        dev.capabilities(),
        Capabilities {
            rx_checksum_verified: false,
            tx_checksum: false,
            max_frame: MAX_FRAME,
            tso_max: 0,
            rx_owned: false,
        }
    );
    assert_eq!(dev.offloads(), Offloads::default());
    assert_eq!(
        fake.0.borrow().accepted,
        FEATURE_MAC | FEATURE_STATUS | FEATURE_VERSION_1
    );
    // A frame that asks for a checksum anyway is finished in software, header zeroed.
    let mut f = tcp_frame(100, TCP_ACK);
    let offload = TxOffload {
        tcp_checksum: true,
        tcp_mss: 0,
    };
    assert_eq!(dev.transmit_offload(&mut f, offload), Ok(()));
    let sent = fake.take_tx();
    assert_eq!(sent.len(), 1);
    assert_eq!(header_of(&sent[0]), NetHdr::default());
    assert!(tcp_checksum_ok(&sent[0][HDR..]));
    assert_eq!(dev.counters().tx_sw_fallback, 1);
}

#[test]
fn checksum_and_tso_are_negotiated_when_offered_and_nothing_else() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (dev, fake) = device_offering(&PENDING, TAP_OFFER);
    assert_eq!(
        fake.0.borrow().accepted,
        FEATURE_MAC
            | FEATURE_STATUS
            | FEATURE_VERSION_1
            | FEATURE_CSUM
            | FEATURE_HOST_TSO4
            | FEATURE_GUEST_CSUM
            | FEATURE_GUEST_TSO4
            | FEATURE_MRG_RXBUF,
        "receive segmentation with mergeable buffers, no control queue"
    );
    let caps = dev.capabilities();
    assert!(caps.tx_checksum);
    assert_eq!(caps.tso_max, TSO_MAX);
    assert!(caps.rx_checksum_verified);
    assert_eq!(caps.max_frame, MAX_FRAME);
    assert_eq!(dev.offloads().to_string(), "csum+tso4+rxcsum+rxtso4");
}

#[test]
fn tso_is_not_taken_without_checksum_offload() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (dev, fake) = device_offering(&PENDING, TAP_OFFER & !FEATURE_CSUM);
    assert_eq!(fake.0.borrow().accepted & FEATURE_HOST_TSO4, 0);
    assert_eq!(dev.capabilities().tso_max, 0);
    assert!(!dev.capabilities().tx_checksum);
}

#[test]
fn a_partial_checksum_frame_carries_needs_csum_and_the_device_can_finish_it() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (mut dev, fake) = device_offering(&PENDING, TAP_OFFER);
    let mut f = tcp_frame(1000, TCP_ACK | TCP_PSH);
    let original = f.clone();
    let offload = TxOffload {
        tcp_checksum: true,
        tcp_mss: 0,
    };
    assert_eq!(dev.transmit_offload(&mut f, offload), Ok(()));
    let sent = fake.take_tx();
    assert_eq!(sent.len(), 1);
    let h = header_of(&sent[0]);
    assert_eq!(
        h,
        NetHdr {
            flags: hdr::F_NEEDS_CSUM,
            gso_type: hdr::GSO_NONE,
            hdr_len: 0,
            gso_size: 0,
            csum_start: 34,
            csum_offset: 16,
        }
    );
    let mut wire = sent[0][HDR..].to_vec();
    assert_eq!(wire, original, "frame handed over unchanged");
    assert!(
        !tcp_checksum_ok(&wire),
        "the driver left the checksum partial"
    );
    device_completes_checksum(&mut wire, &h);
    assert!(tcp_checksum_ok(&wire));
    assert_eq!(dev.counters().tx_csum_offloaded, 1);
    assert_eq!(dev.counters().tx_tso_frames, 0);
}

#[test]
fn a_super_segment_goes_whole_with_a_tcpv4_gso_header() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (mut dev, fake) = device_offering(&PENDING, TAP_OFFER);
    let payload = 65535 - 20 - TCP_HDR;
    let mut f = tcp_frame(payload, TCP_ACK | TCP_PSH);
    let original = f.clone();
    let offload = TxOffload {
        tcp_checksum: true,
        tcp_mss: 1448,
    };
    assert_eq!(dev.transmit_offload(&mut f, offload), Ok(()));
    dev.flush();
    let sent = fake.take_tx();
    assert_eq!(sent.len(), 1, "one chain: the device cuts it");
    let h = header_of(&sent[0]);
    assert_eq!(h.flags, hdr::F_NEEDS_CSUM);
    assert_eq!(h.gso_type, hdr::GSO_TCPV4);
    assert_eq!(h.gso_size, 1448);
    assert_eq!(usize::from(h.hdr_len), 14 + 20 + TCP_HDR);
    assert_eq!((h.csum_start, h.csum_offset), (34, 16));
    assert_eq!(sent[0][HDR..], original[..]);
    assert_eq!(dev.counters().tx_tso_frames, 1);
    assert_eq!(dev.stats().tx_packets, 1);
    assert_eq!(dev.stats().tx_bytes, original.len() as u64);
    // A super-segment whose payload fits one segment needs only the checksum.
    let mut small = tcp_frame(1000, TCP_ACK);
    assert_eq!(dev.transmit_offload(&mut small, offload), Ok(()));
    let h = header_of(&fake.take_tx()[0]);
    assert_eq!((h.flags, h.gso_type, h.gso_size), (hdr::F_NEEDS_CSUM, 0, 0));
}

#[test]
fn large_buffers_run_out_then_come_back() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (mut dev, fake) = device_offering(&PENDING, TAP_OFFER);
    let offload = TxOffload {
        tcp_checksum: true,
        tcp_mss: 1448,
    };
    for _ in 0..LARGE_BUFFERS {
        assert_eq!(
            dev.transmit_offload(&mut tcp_frame(30000, TCP_ACK), offload),
            Ok(())
        );
    }
    assert_eq!(
        dev.transmit_offload(&mut tcp_frame(30000, TCP_ACK), offload),
        Err(TxError::Full)
    );
    // Small frames still have their own buffers.
    assert_eq!(dev.transmit(&frame(1, 60)), Ok(()));
    assert_eq!(fake.take_tx().len(), LARGE_BUFFERS + 1);
    dev.flush();
    assert_eq!(
        dev.transmit_offload(&mut tcp_frame(30000, TCP_ACK), offload),
        Ok(())
    );
    assert_eq!(dev.stats().tx_dropped, 0, "a full ring is not a drop");
}

#[test]
fn a_super_segment_with_cwr_is_cut_in_software() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (mut dev, fake) = device_offering(&PENDING, TAP_OFFER);
    let mut f = tcp_frame(4000, TCP_ACK | TCP_CWR);
    let offload = TxOffload {
        tcp_checksum: true,
        tcp_mss: 1448,
    };
    let mut expected = Vec::new();
    finish_frame(&f, offload, &mut |seg| expected.push(seg.to_vec())).unwrap();
    assert_eq!(expected.len(), 3);
    assert_eq!(dev.transmit_offload(&mut f, offload), Ok(()));
    let sent = fake.take_tx();
    assert_eq!(sent.len(), 3);
    for (s, e) in sent.iter().zip(&expected) {
        assert_eq!(header_of(s), NetHdr::default());
        assert_eq!(&s[HDR..], &e[..]);
        assert!(tcp_checksum_ok(&s[HDR..]));
    }
    assert_eq!(dev.counters().tx_sw_fallback, 1);
    assert_eq!(dev.counters().tx_tso_frames, 0);
}

#[test]
fn an_offload_request_for_a_non_tcp_frame_is_dropped_and_counted() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (mut dev, fake) = device_offering(&PENDING, TAP_OFFER);
    let offload = TxOffload {
        tcp_checksum: true,
        tcp_mss: 0,
    };
    let mut udp = tcp_frame(100, 0);
    udp[14 + 9] = 17;
    let mut lying = tcp_frame(100, 0);
    lying[16..18].copy_from_slice(&9000u16.to_be_bytes());
    let mut runt = std::vec![0u8; 20];
    for f in [&mut udp, &mut lying, &mut runt] {
        assert_eq!(dev.transmit_offload(f, offload), Err(TxError::TooLarge));
    }
    assert!(fake.take_tx().is_empty());
    assert_eq!(dev.counters().tx_bad_offload, 3);
    assert_eq!(dev.stats().tx_dropped, 3);
}

#[test]
fn a_legacy_device_gets_the_ten_byte_header() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    // Without receive segmentation, mergeable buffers (which have a 12-byte header) are not
    // taken either.
    let offer = TAP_OFFER & !FEATURE_VERSION_1 & !FEATURE_GUEST_TSO4;
    let (mut dev, fake) = device_offering(&PENDING, offer);
    assert_eq!(fake.0.borrow().accepted & FEATURE_MRG_RXBUF, 0);
    let mut f = tcp_frame(500, TCP_ACK);
    let offload = TxOffload {
        tcp_checksum: true,
        tcp_mss: 0,
    };
    assert_eq!(dev.transmit_offload(&mut f, offload), Ok(()));
    let sent = fake.take_tx();
    assert_eq!(sent[0].len(), hdr::HDR_LEN_LEGACY + f.len());
    assert_eq!(header_of(&sent[0]).csum_start, 34);
    assert_eq!(&sent[0][hdr::HDR_LEN_LEGACY..], &f[..]);
}

/// A TCP frame with its checksum complete (as a remote sender puts it on the wire).
pub(super) fn finished_tcp_frame(payload: usize) -> Vec<u8> {
    let mut f = tcp_frame(payload, TCP_ACK);
    complete_tcp_checksum(&mut f[34..]).unwrap();
    assert!(tcp_checksum_ok(&f));
    f
}

/// `f` turned into UDP (checksum field `udp_checksum`, length fields as they were).
fn as_udp(mut f: Vec<u8>, udp_checksum: u16) -> Vec<u8> {
    f[14 + 9] = 17;
    let ip_total = usize::from(u16::from_be_bytes([f[16], f[17]]));
    f[38..40].copy_from_slice(&((ip_total - 20) as u16).to_be_bytes());
    f[40..42].copy_from_slice(&udp_checksum.to_be_bytes());
    f
}

#[test]
fn with_guest_csum_the_driver_verifies_what_the_device_did_not_vouch_for() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (mut dev, fake) = device_offering(&PENDING, TAP_OFFER);
    let good = finished_tcp_frame(600);
    let mut bad = good.clone();
    bad[100] ^= 0x40;
    // A host-local sender's frame: checksum still partial, flagged NEEDS_CSUM.
    let partial = tcp_frame(700, TCP_ACK);
    let mut arp = std::vec![0u8; 60];
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    // A fragment cannot be checked alone: the stack checks the reassembled datagram.
    let mut fragment = bad.clone();
    fragment[14 + 6] = 0x20; // MF
    let udp_none = as_udp(good.clone(), 0);
    let udp_bad = as_udp(good.clone(), 0x1234);
    let deliveries: [(&[u8], u8); 8] = [
        (&good, 0),
        (&bad, 0),
        (&partial, hdr::F_NEEDS_CSUM),
        (&bad, hdr::F_DATA_VALID),
        (&arp, 0),
        (&fragment, 0),
        (&udp_none, 0),
        (&udp_bad, 0),
    ];
    for (f, flags) in &deliveries {
        assert!(fake.deliver_flagged(f, None, *flags));
    }
    let got = collect(&mut dev, 64);
    let want: Vec<&[u8]> = std::vec![&good, &partial, &bad, &arp, &fragment, &udp_none];
    assert_eq!(
        got, want,
        "the two bad unflagged packets are dropped, the rest go up"
    );
    let c = dev.counters();
    assert_eq!(c.rx_csum_device, 2);
    assert_eq!(
        c.rx_csum_verified, 2,
        "the good TCP and the checksum-less UDP"
    );
    assert_eq!(c.rx_csum_errors, 2);
    assert_eq!(dev.stats().rx_dropped, 2);
    assert_eq!(dev.stats().rx_packets, 6);
}

#[test]
fn without_guest_csum_bad_checksums_are_left_to_the_stack() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (mut dev, fake) = device_offering(&PENDING, TAP_OFFER & !FEATURE_GUEST_CSUM);
    assert!(!dev.capabilities().rx_checksum_verified);
    let mut bad = finished_tcp_frame(600);
    bad[100] ^= 0x40;
    assert!(fake.deliver(&bad, None));
    assert_eq!(collect(&mut dev, 8), [bad]);
    assert_eq!(dev.counters().rx_csum_errors, 0);
    assert_eq!(dev.stats().rx_dropped, 0);
}
