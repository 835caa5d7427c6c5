//! Traffic between stacks: ARP, ping, UDP, routes, loopback, DHCP bootstrap, the transport
//! hook, counters.

use super::*;

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
    fn dispatch(&mut self, _: Instant, tx: &mut SegmentSink<'_>) {
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

/// A transport that builds its segments in the stack's frame buffer, in two appends.
#[derive(Default)]
struct InPlace {
    outgoing: Vec<(Ipv4Addr, Vec<u8>)>,
    results: Vec<Result<(), Errno>>,
}

impl TransportHandler for InPlace {
    fn protocol(&self) -> u8 {
        protocol::TCP
    }
    fn receive(&mut self, _: Instant, _: Ipv4Addr, _: Ipv4Addr, _: &[u8], _: bool) {}
    fn icmp_error(&mut self, _: Instant, _: IcmpError, _: &[u8]) {}
    fn dispatch_in_place(&mut self, _: Instant, tx: &mut AppendSink<'_>) {
        for (d, p) in self.outgoing.drain(..) {
            let (a, b) = p.split_at(p.len() / 2);
            let r = tx(
                Ipv4Addr::UNSPECIFIED,
                d,
                0,
                TxOffload::NONE,
                &mut |buf: &mut Vec<u8>| {
                    buf.extend_from_slice(a);
                    buf.extend_from_slice(b);
                },
            );
            self.results.push(r);
        }
    }
}

#[test]
fn transport_builds_segments_in_place_resolved_unresolved_and_oversized() {
    let mut n = Net::new(3);
    let mut ta = InPlace::default();
    let mut tb = Recorder::default();
    // Host 2 is resolved after settle; host 3 is not known to host 1 yet (queued behind ARP);
    // a segment over the MTU with DF set is refused.
    assert_eq!(n.hosts[0].neighbour(ip(3)), None);
    ta.outgoing.push((ip(2), b"in-place segment".to_vec()));
    n.hosts[0].poll(n.now, &mut NoTransport);
    let fresh = n.hosts[0].counters().ip.out_requests;
    ta.outgoing.push((ip(3), b"to an unresolved peer".to_vec()));
    ta.outgoing.push((ip(2), vec![7u8; 1481]));
    let mut tc = Recorder::default();
    n.hosts[0].poll(n.now, &mut ta);
    assert_eq!(
        n.hosts[0].neighbour(ip(3)).map(|e| e.0),
        Some(NeighState::Incomplete)
    );
    for _ in 0..5 {
        n.hosts[0].poll(n.now, &mut ta);
        n.hosts[1].poll(n.now, &mut tb);
        n.hosts[2].poll(n.now, &mut tc);
    }
    assert_eq!(
        ta.results,
        vec![Ok(()), Ok(()), Err(Errno::EMSGSIZE)],
        "fast path, neighbour queue, DF over the MTU"
    );
    assert_eq!(
        tb.received,
        vec![(ip(1), ip(2), b"in-place segment".to_vec())]
    );
    assert_eq!(
        tc.received,
        vec![(ip(1), ip(3), b"to an unresolved peer".to_vec())]
    );
    let c = n.hosts[0].counters().ip;
    assert_eq!(c.out_requests, fresh + 3);
    assert_eq!(c.frag_fails, 1);
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

#[test]
fn renewing_the_same_address_keeps_neighbours_and_a_new_one_drops_them() {
    let mut n = Net::new(2);
    let s = n.hosts[0].udp_open().unwrap();
    let now = n.now;
    n.hosts[0]
        .udp_send_to(now, s, b"x", Some(sa(ip(2), 9)))
        .unwrap();
    n.settle();
    assert!(n.hosts[0].neighbour(ip(2)).is_some());
    n.hosts[0].configure(now, ip(1), 24, Some(ip(2))).unwrap();
    assert_eq!(
        n.hosts[0].neighbour(ip(2)).unwrap().0,
        NeighState::Reachable
    );
    assert_eq!(
        n.hosts[0]
            .route(Ipv4Addr::new(9, 9, 9, 9))
            .unwrap()
            .next_hop,
        ip(2)
    );
    n.hosts[0].configure(now, ip(3), 24, None).unwrap();
    assert!(n.hosts[0].neighbour(ip(2)).is_none());
    assert_eq!(n.hosts[0].address().map(|a| a.addr), Some(ip(3)));
    assert_eq!(
        n.hosts[0].route(Ipv4Addr::new(9, 9, 9, 9)).err(),
        Some(Errno::ENETUNREACH)
    );
    assert_eq!(
        n.hosts[0].configure(now, Ipv4Addr::new(10, 0, 0, 255), 24, None),
        Err(Errno::EINVAL)
    );
}

#[test]
fn stale_entry_is_reconfirmed_by_a_unicast_probe() {
    let mut n = Net::new(2);
    let s = n.hosts[0].udp_open().unwrap();
    let now = n.now;
    n.hosts[0]
        .udp_send_to(now, s, b"x", Some(sa(ip(2), 9)))
        .unwrap();
    n.settle();
    n.advance(REACHABLE_TIME);
    assert_eq!(n.hosts[0].neighbour(ip(2)).unwrap().0, NeighState::Stale);
    let now = n.now;
    n.hosts[0]
        .udp_send_to(now, s, b"y", Some(sa(ip(2), 9)))
        .unwrap();
    let requests = n.hosts[0].counters().arp.out_requests;
    n.advance(DELAY_FIRST_PROBE + Duration::from_millis(1));
    assert_eq!(
        n.hosts[0].neighbour(ip(2)).unwrap().0,
        NeighState::Reachable
    );
    assert_eq!(n.hosts[0].counters().arp.out_requests, requests + 1);
}

#[test]
fn arp_requests_are_rate_limited() {
    let mut n = Net::new(1);
    let now = n.now;
    for i in 0..50u8 {
        n.hosts[0]
            .send_ipv4(now, None, Ipv4Addr::new(10, 0, 0, 100 + i), 99, b"x")
            .unwrap();
    }
    let c = n.hosts[0].counters();
    let burst = u64::from(crate::neigh::ARP_REQUEST_BURST);
    assert_eq!(c.arp.out_requests, burst);
    assert_eq!(c.arp.requests_rate_limited, 50 - burst);
}

#[test]
fn loopback_closed_port_refuses_too() {
    let mut n = Net::new(1);
    let s = n.hosts[0].udp_open().unwrap();
    n.hosts[0]
        .udp_connect(s, sa(Ipv4Addr::LOCALHOST, 53))
        .unwrap();
    let now = n.now;
    n.hosts[0].udp_send_to(now, s, b"query", None).unwrap();
    n.settle();
    assert_eq!(n.hosts[0].udp_recv(s), Err(Errno::ECONNREFUSED));
    let c = n.hosts[0].counters();
    assert_eq!(
        (
            c.udp.no_ports,
            c.icmp.out_dest_unreachs,
            c.icmp.in_dest_unreachs
        ),
        (1, 1, 1)
    );
}

#[test]
fn route_lookups_follow_every_configuration_change() {
    let mut n = Net::new(1);
    let now = n.now;
    let h = &mut n.hosts[0];
    let far = Ipv4Addr::new(192, 0, 2, 1);
    assert_eq!(h.route(far), Err(Errno::ENETUNREACH));
    assert_eq!(h.route(ip(1)).unwrap().iface, LOOPBACK_IFACE);
    h.configure(now, ip(1), 24, Some(ip(254))).unwrap();
    assert_eq!(h.route(far).unwrap().next_hop, ip(254));
    h.add_route(Ipv4Addr::new(192, 0, 2, 0), 24, Some(ip(253)))
        .unwrap();
    assert_eq!(h.route(far).unwrap().next_hop, ip(253));
    h.remove_route(Ipv4Addr::new(192, 0, 2, 0), 24).unwrap();
    assert_eq!(h.route(far).unwrap().next_hop, ip(254));
    // A new address: the old one is no longer local, the old subnet no longer on-link.
    h.configure(now, Ipv4Addr::new(10, 0, 1, 1), 24, None)
        .unwrap();
    assert_eq!(h.route(far), Err(Errno::ENETUNREACH));
    assert_eq!(h.route(ip(1)), Err(Errno::ENETUNREACH));
    let r = h.route(Ipv4Addr::new(10, 0, 1, 9)).unwrap();
    assert_eq!((r.iface, r.source), (NIC_IFACE, Ipv4Addr::new(10, 0, 1, 1)));
    h.deconfigure();
    assert_eq!(h.route(Ipv4Addr::new(10, 0, 1, 9)), Err(Errno::ENETUNREACH));
}

/// A NIC whose transmit ring holds `RING` frames until the test drains it.
struct SlowNic {
    ring: alloc::rc::Rc<core::cell::RefCell<Vec<Vec<u8>>>>,
}

const RING: usize = 3;

impl Device for SlowNic {
    fn mac(&self) -> MacAddr {
        mac(1)
    }
    fn mtu(&self) -> usize {
        1500
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            max_frame: 1514,
            ..Capabilities::default()
        }
    }
    fn receive(&mut self, _: usize, _: &mut dyn FnMut(&[u8])) -> usize {
        0
    }
    fn transmit(&mut self, frame: &[u8]) -> Result<(), TxError> {
        let mut r = self.ring.borrow_mut();
        if r.len() >= RING {
            return Err(TxError::Full);
        }
        r.push(frame.to_vec());
        Ok(())
    }
    fn stats(&self) -> DevStats {
        DevStats::default()
    }
}

#[test]
fn frames_refused_by_a_full_ring_wait_in_order_and_only_a_bounded_backlog_is_dropped() {
    let ring = alloc::rc::Rc::new(core::cell::RefCell::new(Vec::new()));
    let mut s = Stack::new(Box::new(SlowNic { ring: ring.clone() }), 1);
    let mut now = Instant::from_millis(1);
    s.configure(now, ip(1), 24, None).unwrap();
    let u = s.udp_open().unwrap();
    // The subnet broadcast: no ARP in the way.
    let group = sa(Ipv4Addr::new(10, 0, 0, 255), 9);
    // Ten datagrams at once: the ring fills, the rest wait.
    for i in 0..10u8 {
        s.udp_send_to(now, u, &[i; 100], Some(group)).unwrap();
    }
    assert_eq!(ring.borrow().len(), RING);
    assert_eq!(s.counters().ip.out_discards, 0);
    // Retry soon, not at once: a host with nothing else to do sleeps meanwhile.
    assert_eq!(
        s.poll_at(),
        Some(now + TX_RETRY),
        "poll again soon while frames wait"
    );
    // The device sends what it holds; each poll moves the next frames onto the ring.
    let mut sent = Vec::new();
    for _ in 0..10 {
        sent.append(&mut ring.borrow_mut());
        now = now + Duration::from_millis(1);
        s.poll(now, &mut NoTransport);
    }
    sent.append(&mut ring.borrow_mut());
    // (The gratuitous ARP of `configure` went first.)
    let firsts: Vec<u8> = sent
        .iter()
        .filter(|f| f[12..14] == [0x08, 0x00])
        .map(|f| *f.last().unwrap())
        .collect();
    assert_eq!(
        firsts,
        (0..10).collect::<Vec<u8>>(),
        "every datagram, in order"
    );
    assert_eq!(s.counters().ip.out_discards, 0);
    // A device that stays full: the backlog stops at its bound and the rest is dropped
    // and counted.
    for i in 0..400u32 {
        let _ = s.udp_send_to(now, u, &[i as u8; 1400], Some(group));
    }
    let dropped = s.counters().ip.out_discards;
    let kept = 400 - RING as u64 - dropped;
    assert!(dropped > 0);
    assert!(kept * 1442 <= TX_BACKLOG_BYTES as u64, "{kept} frames kept");
    assert!(
        kept * 1442 > TX_BACKLOG_BYTES as u64 / 2,
        "{kept} frames kept"
    );
}

/// A TCP super-segment whose next hop is not resolved yet waits for ARP cut into segments,
/// each with its own IPv4 header, and they arrive whole, in order and with good checksums.
#[test]
fn a_super_segment_waiting_for_arp_is_cut_into_segments_that_arrive_whole() {
    use crate::wire::tcp::{flags, TcpOptions, TcpRepr};
    let mut n = Net::new(2);
    let payload: Vec<u8> = (0..4000u32).map(|i| (i % 239) as u8).collect();
    let repr = TcpRepr {
        src_port: 1000,
        dst_port: 2000,
        seq: 77,
        ack: 5,
        flags: flags::ACK | flags::PSH,
        window: 100,
        options: TcpOptions::default(),
    };
    let offload = TxOffload {
        tcp_checksum: true,
        tcp_mss: 1000,
    };
    let opts = SendOptions {
        dont_frag: true,
        ..SendOptions::default()
    };
    n.hosts[0]
        .queue_ipv4_append(
            n.now,
            Some(ip(1)),
            ip(2),
            protocol::TCP,
            opts,
            offload,
            &mut |b| repr.emit_append_with(ip(1), ip(2), [&payload, &[]], b, true),
        )
        .unwrap();
    let mut rec = Recorder::default();
    for _ in 0..10 {
        n.hosts[0].poll(n.now, &mut NoTransport);
        n.hosts[1].poll(n.now, &mut rec);
    }
    assert_eq!(rec.received.len(), 4);
    let mut stream = Vec::new();
    for (i, (src, dst, seg)) in rec.received.iter().enumerate() {
        assert_eq!((*src, *dst), (ip(1), ip(2)));
        assert!(crate::wire::checksum::verify_transport(
            ip(1),
            ip(2),
            protocol::TCP,
            seg
        ));
        let seq = u32::from_be_bytes([seg[4], seg[5], seg[6], seg[7]]);
        assert_eq!(seq, 77 + 1000 * i as u32);
        assert_eq!(seg[13] & flags::PSH != 0, i == 3);
        stream.extend_from_slice(&seg[20..]);
    }
    assert!(stream == payload);
    let c = n.hosts[0].counters();
    assert_eq!(c.link.out_gso_software, 1);
    // One IP output request per segment on the wire.
    assert_eq!(c.ip.out_requests, 4);
}
