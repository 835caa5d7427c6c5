//! DHCP client tests against a small DHCP server written here: it parses the client's messages
//! with its own code (not the client's parser) and answers with bytes it builds itself.

use super::*;
use alloc::vec;
use std::vec::Vec;

const MAC: MacAddr = MacAddr([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
const OTHER_SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);
const ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
const ROUTER: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 1);
const DNS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);
const LEASE: u32 = 3600;

fn secs(s: u64) -> Instant {
    Instant::from_millis(s * 1000)
}

/// A client message as the test server sees it.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    src: SocketAddrV4,
    dst: SocketAddrV4,
    len: usize,
    xid: u32,
    flags: u16,
    ciaddr: Ipv4Addr,
    chaddr: [u8; 6],
    msg_type: u8,
    requested_ip: Option<Ipv4Addr>,
    server_id: Option<Ipv4Addr>,
    client_id: Option<Vec<u8>>,
    params: Vec<u8>,
}

/// The server's own parse of a client message (test code: panics on a malformed one, which
/// fails the test).
fn parse_client(at: Instant, t: &DhcpTransmit) -> Seen {
    let b = &t.payload;
    assert_eq!(b[0], 1, "op must be BOOTREQUEST");
    assert_eq!((b[1], b[2]), (1, 6), "htype/hlen must be Ethernet");
    assert_eq!(&b[236..240], &[99, 130, 83, 99], "magic cookie");
    let ip = |o: usize| Ipv4Addr::new(b[o], b[o + 1], b[o + 2], b[o + 3]);
    let mut seen = Seen {
        at,
        src: t.src,
        dst: t.dst,
        len: b.len(),
        xid: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        flags: u16::from_be_bytes([b[10], b[11]]),
        ciaddr: ip(12),
        chaddr: b[28..34].try_into().unwrap(),
        msg_type: 0,
        requested_ip: None,
        server_id: None,
        client_id: None,
        params: Vec::new(),
    };
    let mut i = 240;
    loop {
        match b[i] {
            0 => i += 1,
            255 => break,
            code => {
                let len = b[i + 1] as usize;
                let d = &b[i + 2..i + 2 + len];
                match code {
                    53 => seen.msg_type = d[0],
                    50 => seen.requested_ip = Some(Ipv4Addr::new(d[0], d[1], d[2], d[3])),
                    54 => seen.server_id = Some(Ipv4Addr::new(d[0], d[1], d[2], d[3])),
                    61 => seen.client_id = Some(d.to_vec()),
                    55 => seen.params = d.to_vec(),
                    _ => {}
                }
                i += 2 + len;
            }
        }
    }
    seen
}

/// Build a server reply. `opts` are raw TLVs placed in the options field.
fn reply(xid: u32, chaddr: [u8; 6], yiaddr: Ipv4Addr, opts: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 240];
    b[0] = 2;
    b[1] = 1;
    b[2] = 6;
    b[4..8].copy_from_slice(&xid.to_be_bytes());
    b[16..20].copy_from_slice(&yiaddr.octets());
    b[28..34].copy_from_slice(&chaddr);
    b[236..240].copy_from_slice(&[99, 130, 83, 99]);
    b.extend_from_slice(opts);
    b.push(255);
    b
}

fn tlv(code: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![code, data.len() as u8];
    v.extend_from_slice(data);
    v
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Answer everything.
    Normal,
    /// Answer nothing.
    Silent,
    /// Answer DISCOVERs and broadcast REQUESTs, ignore unicast ones.
    BroadcastOnly,
    /// NAK every REQUEST.
    NakRequests,
    /// Answer DISCOVERs only.
    OfferOnly,
}

struct TestServer {
    id: Ipv4Addr,
    mode: Mode,
    lease: u32,
    seen: Vec<Seen>,
}

impl TestServer {
    fn new() -> Self {
        TestServer {
            id: SERVER,
            mode: Mode::Normal,
            lease: LEASE,
            seen: Vec::new(),
        }
    }

    fn lease_opts(&self) -> Vec<u8> {
        let mut o = Vec::new();
        o.extend(tlv(54, &self.id.octets()));
        o.extend(tlv(1, &[255, 255, 255, 0]));
        o.extend(tlv(3, &ROUTER.octets()));
        o.extend(tlv(6, &[DNS.octets(), [8, 8, 8, 8]].concat()));
        o.extend(tlv(51, &self.lease.to_be_bytes()));
        o
    }

    fn handle(&mut self, at: Instant, t: &DhcpTransmit) -> Option<Vec<u8>> {
        let m = parse_client(at, t);
        self.seen.push(m.clone());
        let unicast = t.dst.ip() != &Ipv4Addr::BROADCAST;
        match (self.mode, m.msg_type) {
            (Mode::Silent, _) => None,
            (Mode::BroadcastOnly, 3) if unicast => None,
            (_, 1) => {
                let mut o = tlv(53, &[2]);
                o.extend(self.lease_opts());
                Some(reply(m.xid, m.chaddr, ADDR, &o))
            }
            (Mode::OfferOnly, _) => None,
            (Mode::NakRequests, 3) => {
                let mut o = tlv(53, &[6]);
                o.extend(tlv(54, &self.id.octets()));
                Some(reply(m.xid, m.chaddr, Ipv4Addr::UNSPECIFIED, &o))
            }
            (_, 3) => {
                let wanted = m.requested_ip.unwrap_or(m.ciaddr);
                let (kind, yiaddr) = if wanted == ADDR {
                    (5, ADDR)
                } else {
                    (6, Ipv4Addr::UNSPECIFIED)
                };
                let mut o = tlv(53, &[kind]);
                o.extend(self.lease_opts());
                Some(reply(m.xid, m.chaddr, yiaddr, &o))
            }
            _ => None,
        }
    }
}

/// A simulated link: the client, the server and a clock.
struct Sim {
    now: Instant,
    client: DhcpClient,
    server: TestServer,
    events: Vec<(Instant, DhcpEvent)>,
}

impl Sim {
    fn new() -> Self {
        Sim {
            now: Instant::ZERO,
            client: DhcpClient::new(MAC, 7, Instant::ZERO),
            server: TestServer::new(),
            events: Vec::new(),
        }
    }

    fn drain(&mut self) {
        while let Some(out) = self.client.poll(self.now) {
            match out {
                DhcpOutput::Transmit(t) => {
                    if let Some(r) = self.server.handle(self.now, &t) {
                        self.client.receive(self.now, &r);
                    }
                }
                DhcpOutput::Event(e) => self.events.push((self.now, e)),
            }
        }
    }

    /// Run the client's timers up to and including `end`.
    fn run_until(&mut self, end: Instant) {
        loop {
            self.drain();
            match self.client.poll_at() {
                Some(t) if t <= end => self.now = self.now.max(t),
                _ => break,
            }
        }
        self.now = end;
        self.drain();
    }

    fn sent_of(&self, msg_type: u8) -> Vec<Seen> {
        self.server
            .seen
            .iter()
            .filter(|s| s.msg_type == msg_type)
            .cloned()
            .collect()
    }

    fn configured(&self) -> Vec<Lease> {
        self.events
            .iter()
            .filter_map(|(_, e)| match e {
                DhcpEvent::Configured(l) => Some(l.clone()),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn full_exchange_configures_the_address() {
    let mut sim = Sim::new();
    sim.run_until(secs(10));
    assert_eq!(sim.client.state(), DhcpState::Bound);
    let leases = sim.configured();
    assert_eq!(leases.len(), 1);
    let l = &leases[0];
    assert_eq!(l.address, ADDR);
    assert_eq!(l.prefix_len, 24);
    assert_eq!(l.netmask(), Ipv4Addr::new(255, 255, 255, 0));
    assert_eq!(l.router, Some(ROUTER));
    assert_eq!(&l.dns_servers[..], &[DNS, Ipv4Addr::new(8, 8, 8, 8)]);
    assert_eq!(l.server_id, SERVER);
    assert_eq!(l.lease_time, Duration::from_secs(3600));
    assert_eq!(l.t1, Duration::from_secs(1800));
    assert_eq!(l.t2, Duration::from_secs(3150));

    let seen = &sim.server.seen;
    assert_eq!(seen.len(), 2, "one DISCOVER and one REQUEST");
    let (d, r) = (&seen[0], &seen[1]);
    assert_eq!((d.msg_type, r.msg_type), (1, 3));
    for m in [d, r] {
        assert_eq!(m.src, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 68));
        assert_eq!(m.dst, SocketAddrV4::new(Ipv4Addr::BROADCAST, 67));
        assert!(m.len >= 300, "padded to the BOOTP minimum");
        assert_eq!(m.flags & 0x8000, 0x8000, "broadcast bit while unconfigured");
        assert_eq!(m.chaddr, MAC.0);
        assert_eq!(
            m.client_id.as_deref(),
            Some(&[1, 0x52, 0x54, 0, 0x12, 0x34, 0x56][..])
        );
        for p in [1, 3, 6, 51, 54, 58, 59] {
            assert!(m.params.contains(&p), "option {p} requested");
        }
    }
    assert_eq!(r.xid, d.xid, "REQUEST keeps the OFFER's xid");
    assert_eq!(r.requested_ip, Some(ADDR));
    assert_eq!(r.server_id, Some(SERVER));
    assert_eq!(r.ciaddr, Ipv4Addr::UNSPECIFIED);
    let c = sim.client.counters();
    assert_eq!((c.in_offers, c.in_acks, c.leases_acquired), (1, 1, 1));
    assert_eq!(
        c.in_malformed + c.in_foreign + c.in_unexpected + c.in_invalid,
        0
    );
    assert_eq!(sim.client.poll_at(), Some(secs(1800)), "next timer is T1");
}

#[test]
fn renewal_at_t1_is_unicast_and_extends_the_lease() {
    let mut sim = Sim::new();
    sim.run_until(secs(1799));
    assert_eq!(sim.server.seen.len(), 2, "nothing sent before T1");
    sim.run_until(secs(1800));
    assert_eq!(sim.server.seen.len(), 3);
    let r = &sim.server.seen[2];
    assert_eq!(r.msg_type, 3);
    assert_eq!(r.at, secs(1800));
    assert_eq!(
        r.dst,
        SocketAddrV4::new(SERVER, 67),
        "unicast to the server"
    );
    assert_eq!(r.src, SocketAddrV4::new(ADDR, 68));
    assert_eq!(r.ciaddr, ADDR);
    assert_eq!((r.requested_ip, r.server_id), (None, None));
    assert_eq!(r.flags & 0x8000, 0);
    assert_ne!(r.xid, sim.server.seen[0].xid, "a new transaction");

    assert_eq!(sim.client.state(), DhcpState::Bound);
    let leases = sim.configured();
    assert_eq!(leases.len(), 2);
    assert_eq!(leases[1].address, ADDR);
    assert_eq!(
        leases[1].expires_at(),
        secs(1800 + 3600),
        "lease counts from the renewal"
    );
    assert_eq!(sim.client.counters().leases_renewed, 1);
    // The old expiry passes without incident.
    sim.run_until(secs(3700));
    assert!(!sim
        .events
        .iter()
        .any(|(_, e)| *e == DhcpEvent::Deconfigured));
    assert_eq!(
        sim.server.seen.len(),
        4,
        "next renewal at the new T1 (3600 s)"
    );
}

#[test]
fn unanswered_renewal_rebinds_by_broadcast_at_t2() {
    let mut sim = Sim::new();
    sim.run_until(secs(10));
    sim.server.mode = Mode::BroadcastOnly;
    sim.run_until(secs(3149));
    assert_eq!(sim.client.state(), DhcpState::Renewing);
    let renews: Vec<Seen> = sim.sent_of(3).into_iter().skip(1).collect();
    // T1 = 1800, T2 = 3150: retransmit after half the remaining time, at least 60 s.
    let times: Vec<u64> = renews.iter().map(|s| s.at.as_millis() / 1000).collect();
    assert_eq!(times, vec![1800, 2475, 2812, 2981, 3065, 3125]);
    assert!(renews.iter().all(|s| s.dst.ip() == &SERVER));
    sim.run_until(secs(3150));
    let last = sim.server.seen.last().unwrap().clone();
    assert_eq!(last.at, secs(3150));
    assert_eq!(last.dst, SocketAddrV4::new(Ipv4Addr::BROADCAST, 67));
    assert_eq!(last.src, SocketAddrV4::new(ADDR, 68));
    assert_eq!(last.ciaddr, ADDR);
    assert_eq!(
        sim.client.state(),
        DhcpState::Bound,
        "rebound by the broadcast ACK"
    );
    assert_eq!(sim.configured().len(), 2);
    assert_eq!(sim.client.lease().unwrap().expires_at(), secs(3150 + 3600));
}

#[test]
fn lease_expiry_deconfigures_and_restarts() {
    let mut sim = Sim::new();
    sim.run_until(secs(10));
    sim.server.mode = Mode::Silent;
    sim.run_until(secs(3599));
    assert_eq!(sim.client.state(), DhcpState::Rebinding);
    assert!(sim
        .events
        .iter()
        .all(|(_, e)| *e != DhcpEvent::Deconfigured));
    let seen_before = sim.server.seen.len();
    sim.run_until(secs(3600));
    assert_eq!(
        sim.events.last(),
        Some(&(secs(3600), DhcpEvent::Deconfigured))
    );
    assert!(sim.client.lease().is_none());
    assert_eq!(sim.client.state(), DhcpState::Selecting);
    let d = &sim.server.seen[seen_before..];
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].msg_type, 1, "a DISCOVER right after expiry");
    assert_eq!(d[0].src.ip(), &Ipv4Addr::UNSPECIFIED);
    assert_eq!(sim.client.counters().leases_expired, 1);
}

#[test]
fn nak_restarts_from_discover() {
    let mut sim = Sim::new();
    sim.server.mode = Mode::NakRequests;
    sim.run_until(secs(0));
    assert_eq!(sim.client.state(), DhcpState::Init);
    assert_eq!(sim.client.counters().in_naks, 1);
    sim.server.mode = Mode::Normal;
    sim.run_until(secs(2));
    let discovers = sim.sent_of(1);
    assert_eq!(discovers.len(), 2);
    assert_eq!(discovers[1].at, secs(1));
    assert_ne!(discovers[1].xid, discovers[0].xid);
    assert_eq!(sim.client.state(), DhcpState::Bound);
    assert_eq!(sim.configured().len(), 1);
    assert!(sim
        .events
        .iter()
        .all(|(_, e)| *e != DhcpEvent::Deconfigured));
}

#[test]
fn nak_while_renewing_deconfigures() {
    let mut sim = Sim::new();
    sim.run_until(secs(10));
    sim.server.mode = Mode::NakRequests;
    sim.run_until(secs(1800));
    assert_eq!(
        sim.events.last(),
        Some(&(secs(1800), DhcpEvent::Deconfigured))
    );
    assert_eq!(sim.client.state(), DhcpState::Init);
    sim.run_until(secs(1801));
    assert_eq!(sim.sent_of(1).len(), 2, "DISCOVER again");
}

#[test]
fn discover_retransmissions_back_off_to_64_seconds() {
    let mut sim = Sim::new();
    sim.server.mode = Mode::Silent;
    sim.run_until(secs(400));
    let d = sim.sent_of(1);
    assert!(d.iter().all(|s| s.xid == d[0].xid));
    let gaps: Vec<u64> = d
        .windows(2)
        .map(|w| w[1].at.saturating_since(w[0].at).as_millis() as u64)
        .collect();
    let want = [4_000, 8_000, 16_000, 32_000, 64_000, 64_000, 64_000];
    assert!(gaps.len() >= want.len(), "{gaps:?}");
    for (g, w) in gaps.iter().zip(want) {
        assert!(
            g + 1_000 >= w && *g <= w + 1_000,
            "gap {g} ms, want {w}±1000"
        );
    }
    assert!(gaps.iter().any(|g| g % 1000 != 0), "randomised");
    let c = sim.client.counters();
    assert_eq!(c.retransmits, c.out_discovers - 1);
    // `secs` grows with the acquisition.
    assert!(d.last().unwrap().at > secs(200));
}

#[test]
fn unanswered_requests_go_back_to_discover() {
    let mut sim = Sim::new();
    sim.server.mode = Mode::OfferOnly;
    sim.run_until(secs(59));
    assert_eq!(sim.client.state(), DhcpState::Requesting);
    assert_eq!(sim.sent_of(3).len(), 4);
    sim.run_until(secs(70));
    assert_eq!(sim.client.counters().request_timeouts, 1);
    assert_eq!(sim.sent_of(1).len(), 2, "a fresh DISCOVER");
}

/// Start a client and return it in SELECTING with the DISCOVER's xid.
fn selecting() -> (DhcpClient, u32) {
    let mut c = DhcpClient::new(MAC, 99, Instant::ZERO);
    let Some(DhcpOutput::Transmit(t)) = c.poll(Instant::ZERO) else {
        panic!("no DISCOVER")
    };
    (c, parse_client(Instant::ZERO, &t).xid)
}

fn offer(xid: u32) -> Vec<u8> {
    let mut o = tlv(53, &[2]);
    o.extend(tlv(54, &SERVER.octets()));
    reply(xid, MAC.0, ADDR, &o)
}

#[test]
fn malformed_and_foreign_replies_are_dropped_and_counted() {
    let (mut c, xid) = selecting();
    let t = Instant::ZERO;
    c.receive(t, &offer(xid.wrapping_add(1)));
    c.receive(t, &reply(xid, [1, 2, 3, 4, 5, 6], ADDR, &tlv(53, &[2])));
    assert_eq!(c.counters().in_foreign, 2);

    let mut bad_cookie = offer(xid);
    bad_cookie[239] = 0;
    let mut not_reply = offer(xid);
    not_reply[0] = 1;
    let mut runs_past_end = offer(xid);
    runs_past_end.truncate(runs_past_end.len() - 1);
    runs_past_end.extend_from_slice(&[6, 200, 1, 2, 3, 4]);
    let bad_len = reply(
        xid,
        MAC.0,
        ADDR,
        &[tlv(53, &[2]), tlv(54, &[1, 2, 3])].concat(),
    );
    let no_type = reply(xid, MAC.0, ADDR, &tlv(54, &SERVER.octets()));
    let bad_overload = reply(xid, MAC.0, ADDR, &[tlv(53, &[2]), tlv(52, &[9])].concat());
    for m in [
        &offer(xid)[..100],
        &bad_cookie[..],
        &not_reply[..],
        &runs_past_end[..],
        &bad_len[..],
        &no_type[..],
        &bad_overload[..],
    ] {
        c.receive(t, m);
    }
    assert_eq!(c.counters().in_malformed, 7);

    // Ours but unusable, or the wrong type for SELECTING.
    c.receive(t, &reply(xid, MAC.0, ADDR, &tlv(53, &[2])));
    c.receive(
        t,
        &reply(xid, MAC.0, Ipv4Addr::BROADCAST, &offer(xid)[240..]),
    );
    assert_eq!(c.counters().in_invalid, 2);
    c.receive(
        t,
        &reply(
            xid,
            MAC.0,
            ADDR,
            &[tlv(53, &[5]), tlv(54, &SERVER.octets())].concat(),
        ),
    );
    assert_eq!(c.counters().in_unexpected, 1);
    assert_eq!(c.state(), DhcpState::Selecting);
    assert_eq!(c.counters().in_messages, 12);

    c.receive(t, &offer(xid));
    assert_eq!(c.state(), DhcpState::Requesting);
}

#[test]
fn ack_from_another_server_is_ignored_while_requesting() {
    let (mut c, xid) = selecting();
    c.receive(Instant::ZERO, &offer(xid));
    let _ = c.poll(Instant::ZERO);
    let mut o = tlv(53, &[5]);
    o.extend(tlv(54, &OTHER_SERVER.octets()));
    o.extend(tlv(51, &LEASE.to_be_bytes()));
    c.receive(Instant::ZERO, &reply(xid, MAC.0, ADDR, &o));
    assert_eq!(c.counters().in_unexpected, 1);
    assert_eq!(c.state(), DhcpState::Requesting);
    // An ACK without a lease time cannot be used.
    let o = [tlv(53, &[5]), tlv(54, &SERVER.octets())].concat();
    c.receive(Instant::ZERO, &reply(xid, MAC.0, ADDR, &o));
    assert_eq!(c.counters().in_invalid, 1);
    assert!(c.lease().is_none());
}

#[test]
fn overloaded_file_field_carries_options() {
    let (mut c, xid) = selecting();
    c.receive(Instant::ZERO, &offer(xid));
    let _ = c.poll(Instant::ZERO);
    let mut m = reply(xid, MAC.0, ADDR, &[tlv(52, &[1]), tlv(53, &[5])].concat());
    let in_file = [
        tlv(54, &SERVER.octets()),
        tlv(51, &120u32.to_be_bytes()),
        tlv(1, &[255, 255, 0, 0]),
        vec![255],
    ]
    .concat();
    m[108..108 + in_file.len()].copy_from_slice(&in_file);
    c.receive(Instant::ZERO, &m);
    assert_eq!(c.state(), DhcpState::Bound);
    let Some(DhcpOutput::Event(DhcpEvent::Configured(l))) = c.poll(Instant::ZERO) else {
        panic!("no Configured event")
    };
    assert_eq!(l.prefix_len, 16);
    assert_eq!(l.lease_time, Duration::from_secs(120));
    // Without the overload option the same file field is ignored: no server id, no lease.
    let (mut c, xid) = selecting();
    let mut m = reply(xid, MAC.0, ADDR, &tlv(53, &[2]));
    m[108..108 + in_file.len()].copy_from_slice(&in_file);
    c.receive(Instant::ZERO, &m);
    assert_eq!(c.counters().in_invalid, 1);
}

#[test]
fn short_leases_are_clamped_and_bad_timers_replaced() {
    let (mut c, xid) = selecting();
    c.receive(Instant::ZERO, &offer(xid));
    let _ = c.poll(Instant::ZERO);
    let o = [
        tlv(53, &[5]),
        tlv(54, &SERVER.octets()),
        tlv(51, &0u32.to_be_bytes()),
        tlv(58, &500u32.to_be_bytes()),
        tlv(59, &100u32.to_be_bytes()),
    ]
    .concat();
    c.receive(Instant::ZERO, &reply(xid, MAC.0, ADDR, &o));
    let l = c.lease().unwrap();
    assert_eq!(l.lease_time, Duration::from_secs(60));
    assert!(l.t1 <= l.t2 && l.t2 <= l.lease_time);
    assert_eq!(l.prefix_len, 8, "classful default for 10/8");
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
            let _ = parse_reply(&bytes);
        }

        #[test]
        fn arbitrary_options_after_a_valid_header_never_panic(
            opts in proptest::collection::vec(any::<u8>(), 0..400),
            file in proptest::collection::vec(any::<u8>(), 0..128),
        ) {
            let (mut c, xid) = selecting();
            let mut m = reply(xid, MAC.0, ADDR, &[]);
            m.truncate(240);
            m[108..108 + file.len()].copy_from_slice(&file);
            m.extend_from_slice(&opts);
            c.receive(Instant::ZERO, &m);
            let _ = c.poll(Instant::ZERO);
            prop_assert_eq!(c.counters().in_messages, 1);
        }

        #[test]
        fn arbitrary_replies_while_renewing_never_panic(
            msg_type in 0u8..10,
            opts in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let mut sim = Sim::new();
            sim.run_until(secs(10));
            sim.server.mode = Mode::Silent;
            sim.run_until(secs(1800));
            prop_assert_eq!(sim.client.state(), DhcpState::Renewing);
            let xid = sim.server.seen.last().unwrap().xid;
            let m = reply(xid, MAC.0, ADDR, &[tlv(53, &[msg_type]), opts].concat());
            sim.client.receive(sim.now, &m);
            sim.drain();
            // Whatever it was, the client is in a state that still has a way forward.
            prop_assert!(sim.client.poll_at().is_some());
            let state = sim.client.state();
            prop_assert!(matches!(state, DhcpState::Renewing | DhcpState::Bound | DhcpState::Init | DhcpState::Selecting));
            prop_assert_eq!(sim.client.lease().is_some(), matches!(state, DhcpState::Renewing | DhcpState::Bound));
        }
    }
}
