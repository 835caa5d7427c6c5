//! Stack tests on a simulated Ethernet segment: several stacks on one [`Hub`], a deterministic
//! clock, raw frames injected from a port no stack owns.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use super::*;
use crate::neigh::{NeighState, DELAY_FIRST_PROBE, REACHABLE_TIME, RETRANS_TIME, UCAST_PROBES};
use crate::sim::{Hub, SimNic};
use crate::time::Duration;
use crate::wire::ethernet::ethertype;
use crate::wire::ipv4::{protocol, Ipv4Repr};

fn mac(i: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 0, i])
}

fn ip(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, i)
}

fn sa(a: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(a, port)
}

/// Hosts 10.0.0.1, 10.0.0.2, ... on one segment, plus a raw port for injected frames.
struct Net {
    hub: Hub,
    hosts: Vec<Stack>,
    raw: SimNic,
    now: Instant,
}

impl Net {
    fn new(n: u8) -> Net {
        let hub = Hub::new();
        let mut hosts = Vec::new();
        let now = Instant::from_millis(1_000);
        for i in 1..=n {
            let nic = hub.attach(mac(i));
            let mut s = Stack::new(Box::new(nic), u64::from(i));
            s.configure(now, ip(i), 24, None).unwrap();
            hosts.push(s);
        }
        let raw = hub.attach(mac(200));
        let mut net = Net {
            hub,
            hosts,
            raw,
            now,
        };
        net.settle();
        net
    }

    /// Poll every host until nothing moves at the current time.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            let mut work = false;
            for h in self.hosts.iter_mut() {
                work |= h.poll(self.now, &mut NoTransport);
            }
            let due = self
                .hosts
                .iter()
                .filter_map(|h| h.poll_at())
                .any(|t| t <= self.now);
            // Drain the raw port so it never fills.
            self.raw.receive(usize::MAX, &mut |_| {});
            if !work && !due {
                return;
            }
        }
        panic!("network did not settle");
    }

    /// Let `d` pass, firing every timer on the way.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.settle();
            let next = self
                .hosts
                .iter()
                .filter_map(|h| h.poll_at())
                .filter(|t| *t > self.now)
                .min();
            match next {
                Some(t) if t <= end => self.now = t,
                _ => {
                    self.now = end;
                    self.settle();
                    return;
                }
            }
        }
    }

    fn inject(&mut self, frame: &[u8]) {
        self.hub.inject(self.raw.port(), frame);
        self.settle();
    }
}

fn eth_frame(dst: MacAddr, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + payload.len()];
    f[..6].copy_from_slice(&dst.0);
    f[6..12].copy_from_slice(&mac(200).0);
    f[12..14].copy_from_slice(&ethertype.to_be_bytes());
    f[14..].copy_from_slice(payload);
    f
}

fn ip_packet(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, payload: &[u8]) -> (Ipv4Repr, Vec<u8>) {
    let r = Ipv4Repr {
        src,
        dst,
        protocol: proto,
        ttl: 64,
        tos: 0,
        ident: 4242,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        payload_len: payload.len(),
    };
    (r, emit_ip(&r, payload))
}

fn emit_ip(r: &Ipv4Repr, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 20 + payload.len()];
    r.emit(&mut p).unwrap();
    p[20..].copy_from_slice(payload);
    p
}

fn refill_checksum(p: &mut [u8]) {
    let hl = usize::from(p[0] & 0x0f) * 4;
    p[10] = 0;
    p[11] = 0;
    let c = crate::wire::checksum::checksum(&p[..hl.min(p.len())]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

fn udp_bytes(src: Ipv4Addr, dst: Ipv4Addr, sp: u16, dp: u16, data: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 8 + data.len()];
    crate::wire::udp::UdpRepr {
        src_port: sp,
        dst_port: dp,
    }
    .emit(&mut b, src, dst, data)
    .unwrap();
    b
}

#[test]
fn udp_exchange_between_two_stacks() {
    let mut n = Net::new(2);
    let a = n.hosts[0].udp_open().unwrap();
    let b = n.hosts[1].udp_open().unwrap();
    n.hosts[0].udp_bind(a, sa(ip(1), 5000)).unwrap();
    n.hosts[1]
        .udp_bind(b, sa(Ipv4Addr::UNSPECIFIED, 6000))
        .unwrap();
    let now = n.now;
    assert_eq!(
        n.hosts[0].udp_send_to(now, a, b"ping", Some(sa(ip(2), 6000))),
        Ok(4)
    );
    n.settle();
    let mut buf = [0u8; 16];
    assert_eq!(
        n.hosts[1].udp_recv_from(b, &mut buf),
        Ok((4, sa(ip(1), 5000)))
    );
    assert_eq!(&buf[..4], b"ping");
    n.hosts[1]
        .udp_send_to(now, b, b"pong!", Some(sa(ip(1), 5000)))
        .unwrap();
    n.settle();
    let d = n.hosts[0].udp_recv(a).unwrap();
    assert_eq!(
        (d.from, d.to, &d.data[..]),
        (sa(ip(2), 6000), ip(1), &b"pong!"[..])
    );
    assert_eq!(n.hosts[0].counters().udp.in_datagrams, 1);
    assert_eq!(n.hosts[0].counters().udp.out_datagrams, 1);
    assert_eq!(n.hosts[1].udp_recv(b), Err(Errno::EAGAIN));
    // A resolved its peer through ARP, and so did B (from A's request).
    assert_eq!(
        n.hosts[0].neighbour(ip(2)),
        Some((NeighState::Reachable, mac(2)))
    );
    assert!(n.hosts[1].neighbour(ip(1)).is_some());
}

#[test]
fn arp_entry_goes_stale_then_fails_when_the_peer_vanishes() {
    let mut n = Net::new(2);
    let s = n.hosts[0].udp_open().unwrap();
    let now = n.now;
    n.hosts[0]
        .udp_send_to(now, s, b"x", Some(sa(ip(2), 9)))
        .unwrap();
    n.settle();
    assert_eq!(
        n.hosts[0].neighbour(ip(2)).unwrap().0,
        NeighState::Reachable
    );
    n.advance(REACHABLE_TIME);
    assert_eq!(n.hosts[0].neighbour(ip(2)).unwrap().0, NeighState::Stale);
    n.hub.set_connected(1, false);
    let now = n.now;
    n.hosts[0]
        .udp_send_to(now, s, b"y", Some(sa(ip(2), 9)))
        .unwrap();
    assert_eq!(n.hosts[0].neighbour(ip(2)).unwrap().0, NeighState::Delay);
    n.advance(DELAY_FIRST_PROBE);
    assert_eq!(n.hosts[0].neighbour(ip(2)).unwrap().0, NeighState::Probe);
    n.advance(RETRANS_TIME * u32::from(UCAST_PROBES));
    assert_eq!(n.hosts[0].neighbour(ip(2)).unwrap().0, NeighState::Failed);
    assert_eq!(n.hosts[0].counters().arp.resolve_failures, 1);
}

#[test]
fn unresolvable_neighbour_drops_queue_and_sender_sees_ehostunreach() {
    let mut n = Net::new(1);
    let s = n.hosts[0].udp_open().unwrap();
    let now = n.now;
    for _ in 0..3 {
        n.hosts[0]
            .udp_send_to(now, s, b"hello?", Some(sa(ip(99), 7)))
            .unwrap();
    }
    assert_eq!(
        n.hosts[0].neighbour(ip(99)).unwrap().0,
        NeighState::Incomplete
    );
    n.advance(Duration::from_secs(5));
    let c = n.hosts[0].counters();
    assert_eq!(c.arp.resolve_failures, 1);
    assert_eq!(c.arp.queue_drops, 3);
    assert_eq!(c.arp.out_requests, 3);
    assert!(n.hosts[0].udp_readiness(s).unwrap().error);
    assert_eq!(n.hosts[0].udp_recv(s), Err(Errno::EHOSTUNREACH));
    assert_eq!(n.hosts[0].neighbour(ip(99)).unwrap().0, NeighState::Failed);
}

#[test]
fn ping_small_and_65507_bytes_through_fragmentation() {
    let mut n = Net::new(2);
    let now = n.now;
    n.hosts[0].icmp_send_echo(now, ip(2), 7, 1, b"abc").unwrap();
    n.settle();
    let r = n.hosts[0].icmp_recv_echo_reply().unwrap();
    assert_eq!(
        (r.from, r.ident, r.seq, &r.data[..]),
        (ip(2), 7, 1, &b"abc"[..])
    );
    assert_eq!(n.hosts[1].counters().icmp.in_echos, 1);
    assert_eq!(n.hosts[1].counters().icmp.out_echo_reps, 1);

    let big: Vec<u8> = (0..65507u32).map(|i| (i % 253) as u8).collect();
    n.hosts[0].icmp_send_echo(now, ip(2), 7, 2, &big).unwrap();
    n.settle();
    let r = n.hosts[0].icmp_recv_echo_reply().unwrap();
    assert_eq!(r.seq, 2);
    assert!(r.data == big, "the echo came back whole");
    let (ca, cb) = (n.hosts[0].counters(), n.hosts[1].counters());
    // 65515 bytes of ICMP at 1480 bytes per fragment: 45 fragments each way.
    assert_eq!(ca.ip.frag_creates, 45);
    assert_eq!(cb.ip.frag_creates, 45);
    assert_eq!(cb.ip.reasm_oks, 1);
    assert_eq!(ca.ip.reasm_oks, 1);
    // DF set and too big: EMSGSIZE.
    let r = n.hosts[0].send_ipv4_with(
        now,
        None,
        ip(2),
        protocol::UDP,
        &[0; 3000],
        SendOptions {
            dont_frag: true,
            ..Default::default()
        },
    );
    assert_eq!(r, Err(Errno::EMSGSIZE));
    assert_eq!(n.hosts[0].counters().ip.frag_fails, 1);
}

#[test]
fn udp_to_a_closed_port_refuses_the_connected_socket() {
    let mut n = Net::new(2);
    let s = n.hosts[0].udp_open().unwrap();
    n.hosts[0].udp_connect(s, sa(ip(2), 9999)).unwrap();
    let now = n.now;
    n.hosts[0].udp_send_to(now, s, b"anyone?", None).unwrap();
    n.settle();
    assert_eq!(n.hosts[1].counters().udp.no_ports, 1);
    assert_eq!(n.hosts[1].counters().icmp.out_dest_unreachs, 1);
    assert_eq!(n.hosts[0].counters().icmp.in_dest_unreachs, 1);
    assert!(n.hosts[0].udp_readiness(s).unwrap().error);
    assert_eq!(
        n.hosts[0].udp_send_to(now, s, b"again", None),
        Err(Errno::ECONNREFUSED)
    );
    // Reported once.
    assert_eq!(n.hosts[0].udp_send_to(now, s, b"again", None), Ok(5));
}

#[test]
fn route_selection() {
    let hub = Hub::new();
    let mut s = Stack::new(Box::new(hub.attach(mac(1))), 1);
    let now = Instant::ZERO;
    assert_eq!(s.route(ip(2)).err(), Some(Errno::ENETUNREACH));
    s.configure(now, ip(1), 24, Some(ip(254))).unwrap();
    s.add_route(Ipv4Addr::new(10, 1, 0, 0), 16, Some(ip(253)))
        .unwrap();
    let r = s.route(Ipv4Addr::new(10, 1, 2, 3)).unwrap();
    assert_eq!(
        (r.iface, r.next_hop, r.source, r.mtu),
        (NIC_IFACE, ip(253), ip(1), 1500)
    );
    assert_eq!(
        s.route(Ipv4Addr::new(8, 8, 8, 8)).unwrap().next_hop,
        ip(254)
    );
    assert_eq!(s.route(ip(7)).unwrap().next_hop, ip(7));
    let lo = s.route(Ipv4Addr::new(127, 0, 0, 1)).unwrap();
    assert_eq!((lo.iface, lo.mtu), (LOOPBACK_IFACE, 65535));
    assert_eq!(s.route(ip(1)).unwrap().iface, LOOPBACK_IFACE);
    s.remove_route(Ipv4Addr::UNSPECIFIED, 0).unwrap();
    assert_eq!(
        s.route(Ipv4Addr::new(8, 8, 8, 8)).err(),
        Some(Errno::ENETUNREACH)
    );
    assert_eq!(
        s.send_ipv4(now, None, Ipv4Addr::new(8, 8, 8, 8), protocol::UDP, b"x"),
        Err(Errno::ENETUNREACH)
    );
    assert_eq!(s.counters().ip.out_no_routes, 1);
    // A gateway outside the subnet is refused.
    assert_eq!(
        s.configure(now, ip(1), 24, Some(Ipv4Addr::new(192, 168, 0, 1))),
        Err(Errno::ENETUNREACH)
    );
    s.deconfigure();
    assert_eq!(s.route(ip(7)).err(), Some(Errno::ENETUNREACH));
}

#[test]
fn loopback_delivery() {
    let mut n = Net::new(1);
    let h = &mut n.hosts[0];
    let a = h.udp_open().unwrap();
    let b = h.udp_open().unwrap();
    h.udp_bind(a, sa(Ipv4Addr::LOCALHOST, 7)).unwrap();
    let now = n.now;
    h.udp_send_to(now, b, b"to myself", Some(sa(Ipv4Addr::LOCALHOST, 7)))
        .unwrap();
    // Our own NIC address is delivered through loopback too.
    let c = h.udp_open().unwrap();
    h.udp_bind(c, sa(ip(1), 8)).unwrap();
    h.udp_send_to(now, b, b"via lo", Some(sa(ip(1), 8)))
        .unwrap();
    h.icmp_send_echo(now, Ipv4Addr::new(127, 0, 0, 1), 1, 1, b"lo")
        .unwrap();
    n.settle();
    let h = &mut n.hosts[0];
    let d = h.udp_recv(a).unwrap();
    assert_eq!(d.data, b"to myself");
    assert_eq!(*d.from.ip(), Ipv4Addr::LOCALHOST);
    assert_eq!(h.udp_recv(c).unwrap().data, b"via lo");
    assert_eq!(h.icmp_recv_echo_reply().unwrap().data, b"lo");
    assert_eq!(h.dev_stats(NIC_IFACE).unwrap().tx_packets, 1); // the gratuitous ARP only
    assert!(h.dev_stats(LOOPBACK_IFACE).unwrap().tx_packets >= 4);
}

#[test]
fn dhcp_client_can_talk_before_it_has_an_address() {
    let hub = Hub::new();
    let now = Instant::from_millis(5);
    let mut server = Stack::new(Box::new(hub.attach(mac(1))), 1);
    server.configure(now, ip(1), 24, None).unwrap();
    let mut client = Stack::new(Box::new(hub.attach(mac(2))), 2);
    let raw = hub.attach(mac(200));
    hub.capture(true);
    let srv = server.udp_open().unwrap();
    server.udp_bind(srv, sa(Ipv4Addr::UNSPECIFIED, 67)).unwrap();
    let cli = client.udp_open().unwrap();
    client.udp_bind(cli, sa(Ipv4Addr::UNSPECIFIED, 68)).unwrap();
    client
        .udp_send_to(now, cli, b"DISCOVER", Some(sa(Ipv4Addr::BROADCAST, 67)))
        .unwrap();
    for _ in 0..3 {
        server.poll(now, &mut NoTransport);
        client.poll(now, &mut NoTransport);
    }
    let d = server.udp_recv(srv).unwrap();
    assert_eq!(
        (d.from, d.to),
        (sa(Ipv4Addr::UNSPECIFIED, 68), Ipv4Addr::BROADCAST)
    );
    server
        .udp_send_to(now, srv, b"OFFER", Some(sa(Ipv4Addr::BROADCAST, 68)))
        .unwrap();
    for _ in 0..3 {
        server.poll(now, &mut NoTransport);
        client.poll(now, &mut NoTransport);
    }
    assert_eq!(client.udp_recv(cli).unwrap().data, b"OFFER");
    // A unicast reply to the offered address and our MAC is taken too.
    let offered = ip(50);
    let (_, p) = ip_packet(
        ip(1),
        offered,
        protocol::UDP,
        &udp_bytes(ip(1), offered, 67, 68, b"ACK"),
    );
    hub.inject(raw.port(), &eth_frame(mac(2), ethertype::IPV4, &p));
    client.poll(now, &mut NoTransport);
    let d = client.udp_recv(cli).unwrap();
    assert_eq!((&d.data[..], d.to), (&b"ACK"[..], offered));
    // Configuring announces the address with a gratuitous ARP.
    hub.take_captured();
    client.configure(now, offered, 24, Some(ip(1))).unwrap();
    let frames = hub.take_captured();
    let garp = frames
        .iter()
        .find(|(_, f)| f[12..14] == ethertype::ARP.to_be_bytes())
        .expect("an ARP frame");
    let arp = crate::wire::arp::ArpRepr::parse(
        &crate::wire::arp::Packet::new_checked(&garp.1[14..]).unwrap(),
    )
    .unwrap();
    assert_eq!((arp.source_ip, arp.target_ip), (offered, offered));
    assert!(garp.1[..6] == [0xff; 6]);
    assert_eq!(
        client.route(Ipv4Addr::new(1, 1, 1, 1)).unwrap().next_hop,
        ip(1)
    );
    let _ = raw;
}

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

/// A transport that records what it gets and sends what it is given.
#[derive(Default)]
struct Recorder {
    received: Vec<(Ipv4Addr, Ipv4Addr, Vec<u8>)>,
    errors: Vec<IcmpError>,
    outgoing: Vec<(Ipv4Addr, Ipv4Addr, Vec<u8>)>,
}

impl TransportHandler for Recorder {
    fn protocol(&self) -> u8 {
        protocol::TCP
    }
    fn receive(&mut self, _: Instant, src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8], _: bool) {
        self.received.push((src, dst, payload.to_vec()));
    }
    fn icmp_error(&mut self, _: Instant, error: IcmpError, quoted: &[u8]) {
        assert!(crate::icmp::Quoted::parse(quoted).is_some());
        self.errors.push(error);
    }
    fn dispatch(
        &mut self,
        _: Instant,
        tx: &mut SegmentSink<'_>,
    ) {
        for (s, d, p) in self.outgoing.drain(..) {
            tx(s, d, &p).unwrap();
        }
    }
}

#[test]
fn transport_hook_receives_sends_and_hears_errors() {
    let mut n = Net::new(2);
    let mut ta = Recorder::default();
    let mut tb = Recorder::default();
    ta.outgoing.push((ip(1), ip(2), b"segment-----".to_vec()));
    for _ in 0..5 {
        n.hosts[0].poll(n.now, &mut ta);
        n.hosts[1].poll(n.now, &mut tb);
    }
    assert_eq!(tb.received, vec![(ip(1), ip(2), b"segment-----".to_vec())]);
    // Host 2 without a TCP handler answers protocol unreachable; host 1's handler hears it.
    ta.outgoing
        .push((Ipv4Addr::UNSPECIFIED, ip(2), b"another-----".to_vec()));
    for _ in 0..5 {
        n.hosts[0].poll(n.now, &mut ta);
        n.hosts[1].poll(n.now, &mut NoTransport);
    }
    assert_eq!(
        ta.errors,
        vec![IcmpError::DstUnreachable {
            code: crate::wire::icmp::unreach::PROTOCOL
        }]
    );
}

#[test]
fn counters_dump_like_proc_net_snmp() {
    let n = Net::new(1);
    let mut s = String::new();
    n.hosts[0].dump_counters(&mut s).unwrap();
    assert!(s.contains("Ip: InReceives InHdrErrors"));
    assert!(s.contains("Udp: InDatagrams NoPorts"));
    assert!(s.contains("Arp: "));
    assert!(s.contains("eth1: rx_packets"));
}
