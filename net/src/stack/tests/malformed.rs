//! Hostile input: every malformed class is dropped and counted; bounds hold.

use super::*;

/// Inject `packet` (an IPv4 packet) to host 2 and return how its counters changed.
fn inject_ip(n: &mut Net, packet: &[u8]) -> (Counters, Counters) {
    let before = n.hosts[1].counters();
    n.inject(&eth_frame(mac(2), ethertype::IPV4, packet));
    (before, n.hosts[1].counters())
}

#[test]
fn malformed_ipv4_headers_are_dropped_and_counted() {
    let mut n = Net::new(2);
    let (_, good) = ip_packet(
        ip(1),
        ip(2),
        protocol::UDP,
        &udp_bytes(ip(1), ip(2), 1, 9, b"x"),
    );

    let mut p = good.clone();
    p[0] = 0x44; // IHL 4
    refill_checksum(&mut p);
    let (b, a) = inject_ip(&mut n, &p);
    assert_eq!(a.ip_drops.bad_ihl - b.ip_drops.bad_ihl, 1);
    assert_eq!(a.ip.in_hdr_errors - b.ip.in_hdr_errors, 1);

    let mut p = good.clone();
    p[0] = 0x4f; // 60-byte header, 29-byte total length
    let (b, a) = inject_ip(&mut n, &[p.clone(), vec![0; 40]].concat());
    assert_eq!(
        a.ip_drops.ihl_beyond_total_len - b.ip_drops.ihl_beyond_total_len,
        1
    );

    let mut p = good.clone();
    p[2..4].copy_from_slice(&200u16.to_be_bytes());
    refill_checksum(&mut p);
    let (b, a) = inject_ip(&mut n, &p);
    assert_eq!(a.ip.in_truncated_pkts - b.ip.in_truncated_pkts, 1);

    let mut p = good.clone();
    p[10] ^= 0x55;
    let (b, a) = inject_ip(&mut n, &p);
    assert_eq!(a.ip.in_csum_errors - b.ip.in_csum_errors, 1);

    let mut p = good.clone();
    p[8] = 0;
    refill_checksum(&mut p);
    let (b, a) = inject_ip(&mut n, &p);
    assert_eq!(a.ip_drops.ttl_zero - b.ip_drops.ttl_zero, 1);

    let mut p = good.clone();
    p[0] = 0x65;
    let (b, a) = inject_ip(&mut n, &p);
    assert_eq!(a.ip_drops.bad_version - b.ip_drops.bad_version, 1);

    // Options: a 24-byte header whose option has length 0, 1, or runs past the header.
    for opt in [[7u8, 0, 0, 0], [7, 1, 0, 0], [7, 9, 0, 0]] {
        let udp = udp_bytes(ip(1), ip(2), 1, 9, b"x");
        let mut p = vec![0u8; 24 + udp.len()];
        p[..20].copy_from_slice(&good[..20]);
        p[0] = 0x46;
        p[2..4].copy_from_slice(&((24 + udp.len()) as u16).to_be_bytes());
        p[20..24].copy_from_slice(&opt);
        p[24..].copy_from_slice(&udp);
        refill_checksum(&mut p);
        let (b, a) = inject_ip(&mut n, &p);
        assert_eq!(
            a.ip_drops.bad_options - b.ip_drops.bad_options,
            1,
            "{opt:?}"
        );
    }
    // Valid options (NOP, NOP, EOL) are skipped and the datagram delivered.
    let s = n.hosts[1].udp_open().unwrap();
    n.hosts[1].udp_bind(s, sa(ip(2), 9)).unwrap();
    let udp = udp_bytes(ip(1), ip(2), 1, 9, b"x");
    let mut p = vec![0u8; 24 + udp.len()];
    p[..20].copy_from_slice(&good[..20]);
    p[0] = 0x46;
    p[2..4].copy_from_slice(&((24 + udp.len()) as u16).to_be_bytes());
    p[20..24].copy_from_slice(&[1, 1, 0, 0]);
    p[24..].copy_from_slice(&udp);
    refill_checksum(&mut p);
    inject_ip(&mut n, &p);
    assert_eq!(n.hosts[1].udp_recv(s).unwrap().data, b"x");

    // Not for us: counted, never forwarded.
    let (_, p) = ip_packet(
        ip(1),
        ip(77),
        protocol::UDP,
        &udp_bytes(ip(1), ip(77), 1, 9, b"x"),
    );
    let (b, a) = inject_ip(&mut n, &p);
    assert_eq!(a.ip.in_addr_errors - b.ip.in_addr_errors, 1);
}

#[test]
fn malformed_arp_is_dropped_and_counted() {
    let mut n = Net::new(2);
    let b = n.hosts[1].counters();
    n.inject(&eth_frame(
        MacAddr::BROADCAST,
        ethertype::ARP,
        &[0, 1, 8, 0, 6],
    ));
    let mut bad = [0u8; 28];
    bad[..8].copy_from_slice(&[0, 1, 8, 0, 16, 4, 0, 1]);
    n.inject(&eth_frame(MacAddr::BROADCAST, ethertype::ARP, &bad));
    bad[4] = 6;
    bad[5] = 16;
    n.inject(&eth_frame(MacAddr::BROADCAST, ethertype::ARP, &bad));
    n.inject(&eth_frame(MacAddr::BROADCAST, ethertype::ARP, &bad[..20]));
    let a = n.hosts[1].counters();
    assert_eq!(a.arp.in_runts - b.arp.in_runts, 1);
    assert_eq!(a.arp.in_bad_lengths - b.arp.in_bad_lengths, 3);
    assert_eq!(a.link.in_runts, 0);
    n.inject(&eth_frame(mac(2), ethertype::ARP, &[])[..13]);
    assert_eq!(n.hosts[1].counters().link.in_runts, 1);
}

fn frag(ident: u16, off: u16, mf: bool, data: &[u8]) -> Vec<u8> {
    let r = Ipv4Repr {
        src: ip(1),
        dst: ip(2),
        protocol: protocol::UDP,
        ttl: 64,
        tos: 0,
        ident,
        dont_frag: false,
        more_frags: mf,
        frag_offset: off,
        payload_len: data.len(),
    };
    emit_ip(&r, data)
}

#[test]
fn bad_fragments_are_dropped_and_counted() {
    let mut n = Net::new(2);
    let s = n.hosts[1].udp_open().unwrap();
    n.hosts[1].udp_bind(s, sa(ip(2), 9)).unwrap();
    let udp = udp_bytes(ip(1), ip(2), 1, 9, &[7u8; 40]);
    // Overlap: the set is discarded, the datagram never delivered.
    inject_ip(&mut n, &frag(1, 0, true, &udp[..24]));
    inject_ip(&mut n, &frag(1, 16, false, &udp[16..]));
    let c = n.hosts[1].counters();
    assert_eq!(c.ip_drops.reasm_overlaps, 1);
    assert_eq!(c.ip.reasm_fails, 1);
    assert_eq!(n.hosts[1].udp_recv(s), Err(Errno::EAGAIN));
    // Duplicate: dropped, the datagram still completes once.
    inject_ip(&mut n, &frag(2, 0, true, &udp[..24]));
    inject_ip(&mut n, &frag(2, 0, true, &udp[..24]));
    inject_ip(&mut n, &frag(2, 24, false, &udp[24..]));
    assert_eq!(n.hosts[1].counters().ip_drops.reasm_duplicates, 1);
    assert_eq!(n.hosts[1].udp_recv(s).unwrap().data, vec![7u8; 40]);
    // Offset + length beyond 65535.
    let (b, a) = inject_ip(&mut n, &frag(3, 65528, false, &[0; 16]));
    assert_eq!(a.ip_drops.reasm_oversize - b.ip_drops.reasm_oversize, 1);
    // Never completing: freed after 30 s, counted, and the sender told (time exceeded).
    inject_ip(&mut n, &frag(4, 0, true, &udp[..24]));
    let b = n.hosts[1].counters();
    n.advance(crate::ipv4::REASM_TIMEOUT);
    let a = n.hosts[1].counters();
    assert_eq!(a.ip.reasm_timeout - b.ip.reasm_timeout, 1);
    assert_eq!(a.ip.reasm_fails - b.ip.reasm_fails, 1);
    assert_eq!(a.icmp.out_time_excds - b.icmp.out_time_excds, 1);
}

#[test]
fn many_incomplete_fragment_sets_stay_bounded() {
    let mut n = Net::new(2);
    for id in 0..200u16 {
        inject_ip(&mut n, &frag(id, 0, true, &[0; 1000]));
    }
    let c = n.hosts[1].counters();
    assert_eq!(c.ip.reasm_reqds, 200);
    assert_eq!(
        c.ip_drops.reasm_evictions,
        200 - crate::ipv4::REASM_MAX_SETS as u64
    );
    assert_eq!(c.ip.reasm_fails, c.ip_drops.reasm_evictions);
}

#[test]
fn malformed_udp_is_dropped_and_counted() {
    let mut n = Net::new(2);
    let s = n.hosts[1].udp_open().unwrap();
    n.hosts[1].udp_bind(s, sa(ip(2), 9)).unwrap();
    let mut u = udp_bytes(ip(1), ip(2), 1, 9, b"data");
    u[8] ^= 1;
    let (_, p) = ip_packet(ip(1), ip(2), protocol::UDP, &u);
    let (b, a) = inject_ip(&mut n, &p);
    assert_eq!(a.udp.in_csum_errors - b.udp.in_csum_errors, 1);
    let mut u = udp_bytes(ip(1), ip(2), 1, 9, b"data");
    u[4..6].copy_from_slice(&40u16.to_be_bytes());
    let (_, p) = ip_packet(ip(1), ip(2), protocol::UDP, &u);
    let (b, a) = inject_ip(&mut n, &p);
    assert_eq!(a.udp.in_errors - b.udp.in_errors, 1);
    let mut u = udp_bytes(ip(1), ip(2), 1, 9, b"data");
    u[4..6].copy_from_slice(&4u16.to_be_bytes());
    let (_, p) = ip_packet(ip(1), ip(2), protocol::UDP, &u);
    let (b, a) = inject_ip(&mut n, &p);
    assert_eq!(a.udp.in_errors - b.udp.in_errors, 1);
    assert_eq!(n.hosts[1].udp_recv(s), Err(Errno::EAGAIN));
    // Checksum zero means none: delivered.
    let mut u = udp_bytes(ip(1), ip(2), 1, 9, b"data");
    u[6] = 0;
    u[7] = 0;
    let (_, p) = ip_packet(ip(1), ip(2), protocol::UDP, &u);
    inject_ip(&mut n, &p);
    assert_eq!(n.hosts[1].udp_recv(s).unwrap().data, b"data");
}

#[test]
fn unknown_protocol_gets_protocol_unreachable_but_broadcast_gets_nothing() {
    let mut n = Net::new(2);
    let (_, p) = ip_packet(ip(1), ip(2), 99, b"????????");
    let (b, a) = inject_ip(&mut n, &p);
    assert_eq!(a.ip.in_unknown_protos - b.ip.in_unknown_protos, 1);
    assert_eq!(a.icmp.out_dest_unreachs - b.icmp.out_dest_unreachs, 1);
    let (_, p) = ip_packet(ip(1), ip(255), 99, b"????????");
    let before = n.hosts[1].counters();
    n.inject(&eth_frame(MacAddr::BROADCAST, ethertype::IPV4, &p));
    let after = n.hosts[1].counters();
    assert_eq!(after.ip.in_unknown_protos - before.ip.in_unknown_protos, 1);
    assert_eq!(after.icmp.out_dest_unreachs, before.icmp.out_dest_unreachs);
}

#[test]
fn icmp_errors_are_rate_limited() {
    let mut n = Net::new(2);
    let before = n.hosts[1].counters();
    for _ in 0..100 {
        let (_, p) = ip_packet(ip(1), ip(2), 99, b"x");
        n.hosts[1].poll(n.now, &mut NoTransport);
        n.hub
            .inject(n.raw.port(), &eth_frame(mac(2), ethertype::IPV4, &p));
    }
    n.settle();
    let after = n.hosts[1].counters();
    assert_eq!(
        after.ip.in_unknown_protos - before.ip.in_unknown_protos,
        100
    );
    let sent = after.icmp.out_dest_unreachs - before.icmp.out_dest_unreachs;
    assert_eq!(sent, u64::from(crate::icmp::ICMP_ERROR_BURST));
    assert_eq!(
        after.icmp.out_rate_limited - before.icmp.out_rate_limited,
        100 - sent
    );
}

/// Shape random bytes into a frame for host 2 that gets `depth` layers past the checks.
fn shaped_frame(kind: u8, body: &[u8]) -> Vec<u8> {
    match kind {
        0 => eth_frame(mac(2), ethertype::ARP, body),
        1 => eth_frame(mac(2), ethertype::IPV4, body),
        2 | 3 => {
            // A valid IPv4 header (random flags, offset, protocol) over random payload, or a
            // checksummed ICMP message of random type/code/content.
            let mut payload = body.get(4..).unwrap_or(&[]).to_vec();
            let proto = if kind == 3 {
                if payload.len() >= 8 {
                    payload[2] = 0;
                    payload[3] = 0;
                    let c = crate::wire::checksum::checksum(&payload);
                    payload[2..4].copy_from_slice(&c.to_be_bytes());
                }
                protocol::ICMP
            } else {
                [protocol::UDP, protocol::ICMP, protocol::TCP, 99]
                    [usize::from(body.first().copied().unwrap_or(0) % 4)]
            };
            let flags = body.get(1).copied().unwrap_or(0);
            let r = Ipv4Repr {
                src: ip(1),
                dst: ip(2),
                protocol: proto,
                ttl: 64,
                tos: 0,
                ident: u16::from(body.get(2).copied().unwrap_or(0)),
                dont_frag: false,
                more_frags: kind == 2 && flags & 1 == 1,
                frag_offset: if kind == 2 {
                    u16::from(flags >> 1) * 8
                } else {
                    0
                },
                payload_len: payload.len(),
            };
            eth_frame(mac(2), ethertype::IPV4, &emit_ip(&r, &payload))
        }
        _ => {
            let mut f = body.to_vec();
            if f.len() >= 6 {
                f[..6].copy_from_slice(&mac(2).0);
            }
            f
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]
    #[test]
    fn arbitrary_frames_never_panic_and_the_stack_keeps_working(
        frames in proptest::collection::vec(
            (0u8..5, proptest::collection::vec(proptest::prelude::any::<u8>(), 0..1600)),
            1..24,
        )
    ) {
        let mut n = Net::new(2);
        let s = n.hosts[1].udp_open().unwrap();
        n.hosts[1].udp_bind(s, sa(ip(2), 9)).unwrap();
        for (kind, body) in &frames {
            n.inject(&shaped_frame(*kind, body));
        }
        while n.hosts[1].udp_recv(s).is_ok() {}
        let a = n.hosts[0].udp_open().unwrap();
        let now = n.now;
        n.hosts[0].udp_send_to(now, a, b"still alive", Some(sa(ip(2), 9))).unwrap();
        n.settle();
        proptest::prop_assert_eq!(n.hosts[1].udp_recv(s).unwrap().data, b"still alive".to_vec());
    }
}

/// An ICMP error from 10.0.0.1 to host 2 quoting a UDP datagram `quoted_src:sp → 10.0.0.1:dp`.
fn icmp_error_frame(
    msg: u8,
    code: u8,
    mtu: u16,
    quoted_src: Ipv4Addr,
    sp: u16,
    dp: u16,
) -> Vec<u8> {
    let (_, q) = ip_packet(
        quoted_src,
        ip(1),
        protocol::UDP,
        &udp_bytes(quoted_src, ip(1), sp, dp, b"payload"),
    );
    let m = crate::icmp::build_error(msg, code, mtu, &q[..20], &q[20..]);
    let (_, p) = ip_packet(ip(1), ip(2), protocol::ICMP, &m);
    eth_frame(mac(2), ethertype::IPV4, &p)
}

#[test]
fn received_icmp_errors_reach_the_connected_socket_and_forgeries_do_not() {
    use crate::wire::icmp::{msg_type, unreach};
    let mut n = Net::new(2);
    let s = n.hosts[1].udp_open().unwrap();
    n.hosts[1].udp_connect(s, sa(ip(1), 53)).unwrap();
    let port = n.hosts[1].udp_local_addr(s).unwrap().unwrap().port();
    // About a port we do not use, or a datagram we did not send: counted, ignored.
    let b = n.hosts[1].counters();
    n.inject(&icmp_error_frame(
        msg_type::DST_UNREACHABLE,
        unreach::PORT,
        0,
        ip(7),
        port,
        53,
    ));
    assert_eq!(n.hosts[1].counters().icmp.in_errors - b.icmp.in_errors, 1);
    n.inject(&icmp_error_frame(
        msg_type::DST_UNREACHABLE,
        unreach::PORT,
        0,
        ip(2),
        port,
        54,
    ));
    assert!(!n.hosts[1].udp_readiness(s).unwrap().error);
    // Fragmentation needed → EMSGSIZE; time exceeded → EHOSTUNREACH.
    n.inject(&icmp_error_frame(
        msg_type::DST_UNREACHABLE,
        unreach::FRAG_NEEDED,
        576,
        ip(2),
        port,
        53,
    ));
    assert_eq!(n.hosts[1].udp_recv(s), Err(Errno::EMSGSIZE));
    n.inject(&icmp_error_frame(
        msg_type::TIME_EXCEEDED,
        0,
        0,
        ip(2),
        port,
        53,
    ));
    assert_eq!(n.hosts[1].udp_take_wakeups(), vec![s]);
    assert_eq!(n.hosts[1].udp_take_error(s), Ok(Some(Errno::EHOSTUNREACH)));
    let c = n.hosts[1].counters();
    assert_eq!(c.icmp.in_dest_unreachs - b.icmp.in_dest_unreachs, 3);
    assert_eq!(c.icmp.in_time_excds - b.icmp.in_time_excds, 1);
    // A frame cut short in flight is counted at the IP layer.
    let mut f = icmp_error_frame(msg_type::DST_UNREACHABLE, unreach::PORT, 0, ip(2), port, 53);
    f.truncate(f.len() - 30);
    let b = n.hosts[1].counters();
    n.inject(&f);
    assert_eq!(
        n.hosts[1].counters().ip.in_truncated_pkts - b.ip.in_truncated_pkts,
        1
    );
}

#[test]
fn udp_corrupted_in_flight_fails_its_checksum() {
    let mut n = Net::new(2);
    let s = n.hosts[1].udp_open().unwrap();
    n.hosts[1].udp_bind(s, sa(ip(2), 9)).unwrap();
    // Resolve first, then flip a payload bit of every IPv4 frame host 1 sends.
    let a = n.hosts[0].udp_open().unwrap();
    let now = n.now;
    n.hosts[0]
        .udp_send_to(now, a, b"clean", Some(sa(ip(2), 9)))
        .unwrap();
    n.settle();
    assert_eq!(n.hosts[1].udp_recv(s).unwrap().data, b"clean");
    n.hub.set_tap(Some(Box::new(|from, frame: &mut Vec<u8>| {
        if from == 0 && frame[12..14] == ethertype::IPV4.to_be_bytes() {
            let last = frame.len() - 1;
            frame[last] ^= 0x10;
        }
        crate::sim::TapVerdict::Pass
    })));
    n.hosts[0]
        .udp_send_to(now, a, b"dirty", Some(sa(ip(2), 9)))
        .unwrap();
    n.settle();
    assert_eq!(n.hosts[1].udp_recv(s), Err(Errno::EAGAIN));
    assert_eq!(n.hosts[1].counters().udp.in_csum_errors, 1);
}
