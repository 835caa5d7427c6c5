//! Host tests on the simulated Ethernet hub: a host configured by DHCP from a small DHCP server
//! (written here, with its own parser and builder) that also answers DNS, and TCP between two
//! hosts through the real IPv4, ARP and Ethernet layers.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use super::*;
use crate::config::StaticConfig;
use crate::dns::DNS_PORT;
use crate::sim::{Hub, SimNic};
use crate::stack::UdpHandle;
use crate::tcp::{State, TcpConfig};
use crate::time::Duration;
use crate::wire::MacAddr;

const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const OFFERED: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 50);
const ECHO_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 7);
const LEASE_SECS: u32 = 600;

fn mac(i: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 0, i])
}

fn host_on(hub: &Hub, i: u8, now: Instant, ip: IpConfig, ns: Option<Ipv4Addr>) -> Host {
    host_with(hub.attach(mac(i)), i, now, ip, ns, TcpConfig::default())
}

fn host_with(
    nic: SimNic,
    i: u8,
    now: Instant,
    ip: IpConfig,
    ns: Option<Ipv4Addr>,
    tcp_cfg: TcpConfig,
) -> Host {
    let stack = Stack::new(Box::new(nic), u64::from(i));
    let tcp = Tcp::new(tcp_cfg, [i; 16], u64::from(i) * 7);
    let cfg = HostConfig {
        ip,
        nameserver: ns,
        seed: u64::from(i) * 1000,
    };
    Host::with_config(stack, tcp, now, &cfg).unwrap()
}

fn static_ip(i: u8) -> IpConfig {
    IpConfig::Static(StaticConfig {
        address: Ipv4Addr::new(10, 0, 0, i),
        prefix_len: 24,
        gateway: (i != 1).then_some(SERVER_IP),
    })
}

/// A client message as the test server reads it (test code: a malformed one panics, which
/// fails the test).
struct ClientMsg {
    xid: u32,
    ciaddr: Ipv4Addr,
    chaddr: [u8; 6],
    msg_type: u8,
}

fn parse_client(b: &[u8]) -> ClientMsg {
    assert_eq!(b[0], 1, "BOOTREQUEST");
    assert_eq!(&b[236..240], &[99, 130, 83, 99], "magic cookie");
    let mut msg_type = 0;
    let mut i = 240;
    while b[i] != 255 {
        if b[i] == 0 {
            i += 1;
            continue;
        }
        let len = b[i + 1] as usize;
        if b[i] == 53 {
            msg_type = b[i + 2];
        }
        i += 2 + len;
    }
    ClientMsg {
        xid: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        ciaddr: Ipv4Addr::new(b[12], b[13], b[14], b[15]),
        chaddr: b[28..34].try_into().unwrap(),
        msg_type,
    }
}

fn dhcp_reply(m: &ClientMsg, msg_type: u8) -> Vec<u8> {
    let mut b = vec![0u8; 240];
    b[0] = 2;
    b[1] = 1;
    b[2] = 6;
    b[4..8].copy_from_slice(&m.xid.to_be_bytes());
    b[16..20].copy_from_slice(&OFFERED.octets());
    b[28..34].copy_from_slice(&m.chaddr);
    b[236..240].copy_from_slice(&[99, 130, 83, 99]);
    let ip = SERVER_IP.octets();
    b.extend_from_slice(&[53, 1, msg_type]);
    b.extend_from_slice(&[54, 4, ip[0], ip[1], ip[2], ip[3]]);
    b.extend_from_slice(&[51, 4]);
    b.extend_from_slice(&LEASE_SECS.to_be_bytes());
    b.extend_from_slice(&[1, 4, 255, 255, 255, 0]);
    b.extend_from_slice(&[3, 4, ip[0], ip[1], ip[2], ip[3]]);
    b.extend_from_slice(&[6, 4, ip[0], ip[1], ip[2], ip[3]]);
    b.push(255);
    b
}

/// A DNS answer to query `q`: one A record for `echo.rinet.test`, NXDOMAIN for anything else.
fn dns_answer(q: &[u8]) -> Vec<u8> {
    let mut i = 12;
    let mut labels = Vec::new();
    while q[i] != 0 {
        let n = q[i] as usize;
        labels.push(String::from_utf8(q[i + 1..i + 1 + n].to_vec()).unwrap());
        i += 1 + n;
    }
    let question = &q[12..i + 5];
    let known = labels.join(".") == "echo.rinet.test";
    let mut b = Vec::new();
    b.extend_from_slice(&q[0..2]);
    b.extend_from_slice(&(if known { 0x8180u16 } else { 0x8183 }).to_be_bytes());
    b.extend_from_slice(&[0, 1, 0, u8::from(known), 0, 0, 0, 0]);
    b.extend_from_slice(question);
    if known {
        b.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        b.extend_from_slice(&ECHO_IP.octets());
    }
    b
}

/// The server host: DHCP on port 67 and DNS on port 53 of 10.0.0.1.
struct Server {
    host: Host,
    dhcp: UdpHandle,
    dns: UdpHandle,
    answer_dhcp: bool,
    /// Every client message seen, as (type, ciaddr, sent to broadcast).
    seen: Vec<(u8, Ipv4Addr, bool)>,
}

impl Server {
    fn new(hub: &Hub, now: Instant) -> Server {
        let mut host = host_on(hub, 1, now, static_ip(1), None);
        let s = &mut host.stack;
        let dhcp = s.udp_open().unwrap();
        s.udp_bind(dhcp, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 67))
            .unwrap();
        let dns = s.udp_open().unwrap();
        s.udp_bind(dns, SocketAddrV4::new(SERVER_IP, DNS_PORT))
            .unwrap();
        Server {
            host,
            dhcp,
            dns,
            answer_dhcp: true,
            seen: Vec::new(),
        }
    }

    fn serve(&mut self, now: Instant) {
        let s = &mut self.host.stack;
        while let Ok(d) = s.udp_recv(self.dhcp) {
            let m = parse_client(&d.data);
            self.seen
                .push((m.msg_type, m.ciaddr, d.to == Ipv4Addr::BROADCAST));
            if !self.answer_dhcp {
                continue;
            }
            // DISCOVER → OFFER, REQUEST → ACK; renewals (ciaddr set) are answered unicast.
            let reply = match m.msg_type {
                1 => dhcp_reply(&m, 2),
                3 => dhcp_reply(&m, 5),
                _ => continue,
            };
            let dst = if m.ciaddr.is_unspecified() {
                Ipv4Addr::BROADCAST
            } else {
                m.ciaddr
            };
            s.udp_send_to(now, self.dhcp, &reply, Some(SocketAddrV4::new(dst, 68)))
                .unwrap();
        }
        while let Ok(d) = s.udp_recv(self.dns) {
            let a = dns_answer(&d.data);
            s.udp_send_to(now, self.dns, &a, Some(d.from)).unwrap();
        }
    }
}

/// Poll every host at `now` until no device has frames left.
fn settle(hosts: &mut [&mut Host], server: Option<&mut Server>, now: Instant) {
    let mut server = server;
    for _ in 0..100 {
        let mut work = false;
        if let Some(s) = server.as_deref_mut() {
            work |= s.host.poll(now);
            s.serve(now);
        }
        for h in hosts.iter_mut() {
            work |= h.poll(now);
        }
        if !work {
            return;
        }
    }
    panic!("the segment never went quiet");
}

/// Advance by `d` (see [`run_until`]).
fn run_for(client: &mut Host, server: &mut Server, now: &mut Instant, d: Duration) {
    let until = *now + d;
    run_until(client, server, now, until);
}

/// Advance to `until`, stopping at each deadline of `client` on the way.
fn run_until(client: &mut Host, server: &mut Server, now: &mut Instant, until: Instant) {
    while *now < until {
        settle(&mut [&mut *client], Some(&mut *server), *now);
        let next = [client.poll_at(), server.host.poll_at()]
            .into_iter()
            .flatten()
            .filter(|t| *t > *now)
            .min()
            .unwrap_or(until);
        *now = next.min(until);
    }
    settle(&mut [&mut *client], Some(&mut *server), *now);
}

#[test]
fn dhcp_configures_renews_at_t1_and_resolves_through_the_leased_server() {
    let hub = Hub::new();
    let mut now = Instant::from_millis(1_000);
    let mut server = Server::new(&hub, now);
    let mut client = host_on(&hub, 2, now, IpConfig::Dhcp, None);
    assert!(!client.is_configured());
    assert_eq!(
        client.resolve_start(now, "echo.rinet.test"),
        Err(Errno::ENETUNREACH)
    );
    run_for(&mut client, &mut server, &mut now, Duration::from_secs(1));

    assert!(client.is_configured());
    assert_eq!(
        client.address(),
        Some(IfAddr {
            addr: OFFERED,
            prefix_len: 24
        })
    );
    assert_eq!(client.gateway(), Some(SERVER_IP));
    assert_eq!(client.nameservers(), &[SERVER_IP]);
    assert_eq!(client.dhcp_state(), Some(DhcpState::Bound));
    assert_eq!(
        client
            .stack
            .route(Ipv4Addr::new(8, 8, 8, 8))
            .unwrap()
            .next_hop,
        SERVER_IP
    );
    assert_eq!(
        server.seen.iter().map(|s| s.0).collect::<Vec<_>>(),
        [1, 3],
        "DISCOVER then REQUEST"
    );
    assert!(server.seen.iter().all(|s| s.2), "both broadcast");

    // T1 is half the lease: the renewal is a REQUEST unicast from the leased address.
    let t1 = client.dhcp_lease().unwrap().t1_at();
    run_until(
        &mut client,
        &mut server,
        &mut now,
        t1 + Duration::from_secs(1),
    );
    assert_eq!(server.seen.len(), 3);
    assert_eq!(server.seen[2], (3, OFFERED, false));
    assert_eq!(client.dhcp_counters().unwrap().leases_renewed, 1);
    assert_eq!(client.dhcp_state(), Some(DhcpState::Bound));
    assert_eq!(client.address().unwrap().addr, OFFERED);
    assert_eq!(client.counters().leases_applied, 2);

    // DNS through the server the lease named.
    let q = client.resolve_start(now, "echo.rinet.test").unwrap();
    assert_eq!(client.resolve_result(q), None);
    settle(&mut [&mut client], Some(&mut server), now);
    assert_eq!(client.resolve_result(q), Some(Ok(vec![ECHO_IP])));
    let q = client.resolve_start(now, "nope.rinet.test").unwrap();
    settle(&mut [&mut client], Some(&mut server), now);
    assert_eq!(client.resolve_result(q), Some(Err(Errno::ENOENT)));
    assert_eq!(client.dns_counters().in_nxdomain, 1);
}

#[test]
fn a_lease_that_cannot_be_renewed_expires_and_deconfigures_the_interface() {
    let hub = Hub::new();
    let mut now = Instant::from_millis(1_000);
    let mut server = Server::new(&hub, now);
    let mut client = host_on(&hub, 2, now, IpConfig::Dhcp, None);
    run_for(&mut client, &mut server, &mut now, Duration::from_secs(1));
    assert!(client.is_configured());
    let expires = client.dhcp_lease().unwrap().expires_at();
    server.answer_dhcp = false;
    run_until(
        &mut client,
        &mut server,
        &mut now,
        expires + Duration::from_millis(1),
    );
    assert!(!client.is_configured());
    assert_eq!(client.gateway(), None);
    assert!(client.nameservers().is_empty());
    assert_eq!(client.counters().deconfigured, 1);
    assert_eq!(
        client.stack.route(Ipv4Addr::new(8, 8, 8, 8)).err(),
        Some(Errno::ENETUNREACH)
    );
    // The server answers again: the client starts over and gets its address back.
    server.answer_dhcp = true;
    run_for(&mut client, &mut server, &mut now, Duration::from_secs(70));
    assert_eq!(client.address().map(|a| a.addr), Some(OFFERED));
}

#[test]
fn nameserver_parameter_overrides_the_leases_servers() {
    let hub = Hub::new();
    let mut now = Instant::from_millis(1_000);
    let mut server = Server::new(&hub, now);
    let other = Ipv4Addr::new(10, 0, 0, 99);
    let mut client = host_on(&hub, 2, now, IpConfig::Dhcp, Some(other));
    assert_eq!(client.nameservers(), &[other]);
    run_for(&mut client, &mut server, &mut now, Duration::from_secs(1));
    assert!(client.is_configured());
    assert_eq!(client.nameservers(), &[other]);
}

#[test]
fn static_configuration_applies_at_once_without_dhcp_traffic() {
    let hub = Hub::new();
    hub.capture(true);
    let now = Instant::from_millis(1_000);
    let mut server = Server::new(&hub, now);
    let mut client = host_on(&hub, 2, now, static_ip(2), Some(SERVER_IP));
    assert!(client.is_configured());
    assert_eq!(client.dhcp_state(), None);
    assert_eq!(client.gateway(), Some(SERVER_IP));
    let q = client.resolve_start(now, "echo.rinet.test").unwrap();
    settle(&mut [&mut client], Some(&mut server), now);
    assert_eq!(client.resolve_result(q), Some(Ok(vec![ECHO_IP])));
    assert!(server.seen.is_empty(), "no DHCP message was sent");
    // A ping through the host helper.
    client.ping(now, SERVER_IP, 9, 1, b"hi").unwrap();
    settle(&mut [&mut client], Some(&mut server), now);
    let r = client.stack.icmp_recv_echo_reply_for(9).unwrap();
    assert_eq!((r.from, r.seq, &r.data[..]), (SERVER_IP, 1, &b"hi"[..]));
    let mut dump = String::new();
    client.dump_counters(&mut dump).unwrap();
    assert!(dump.contains("Dns:") && dump.contains("Ip:"));
}

#[test]
fn resolver_times_out_when_the_server_is_silent() {
    let hub = Hub::new();
    let mut now = Instant::from_millis(1_000);
    let mut server = Server::new(&hub, now);
    // 10.0.0.1 answers ARP but its DNS socket is closed: its port unreachable errors reach the
    // resolver's socket and are consumed, each attempt times out, the query ends in ETIMEDOUT.
    let silent = Ipv4Addr::new(10, 0, 0, 1);
    let mut client = host_on(&hub, 2, now, static_ip(2), Some(silent));
    let s = &mut server.host.stack;
    s.udp_close(server.dns).unwrap();
    let q = client.resolve_start(now, "echo.rinet.test").unwrap();
    let end = now + Duration::from_secs(8);
    run_until(&mut client, &mut server, &mut now, end);
    assert_eq!(client.resolve_result(q), Some(Err(Errno::ETIMEDOUT)));
    assert_eq!(client.dns_counters().retransmits, 2);
}

/// Connect from host 2 to host 3 through the stack's IPv4/ARP, send `len` bytes, close both
/// sides; returns the received bytes.
fn tcp_transfer(len: usize) -> (Vec<u8>, Vec<u8>, Host, Host) {
    let hub = Hub::new();
    let a = hub.attach(mac(2));
    tcp_transfer_from(&hub, a, TcpConfig::default(), len)
}

/// A transfer of `len` bytes from a host on `nic` (port of `hub`) with `tcp_cfg` to a host
/// with default settings, both closing at the end.
fn tcp_transfer_from(
    hub: &Hub,
    nic: SimNic,
    tcp_cfg: TcpConfig,
    len: usize,
) -> (Vec<u8>, Vec<u8>, Host, Host) {
    let hub = hub.clone();
    let mut now = Instant::from_millis(1_000);
    let mut a = host_with(nic, 2, now, static_ip(2), None, tcp_cfg);
    let mut b = host_on(&hub, 3, now, static_ip(3), None);
    let listen_at = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 3), 5000);
    let l = b.tcp.listen(listen_at, 4).unwrap();
    let route = a.stack.route(*listen_at.ip()).unwrap();
    let local = SocketAddrV4::new(route.source, 0);
    let c = a
        .tcp
        .connect(now, local, listen_at, Some(route.mtu as u16))
        .unwrap();
    a.flush(now);

    let data: Vec<u8> = (0..len).map(|i| (i * 31 + i / 977) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let mut server_conn = None;
    let mut a_closed = false;
    let mut b_closed = false;
    let mut buf = vec![0u8; 16 * 1024];
    for _round in 0..200_000 {
        a.poll(now);
        b.poll(now);
        if server_conn.is_none() {
            server_conn = b.tcp.accept(l).ok();
        }
        if sent < data.len() {
            match a.tcp.send(c, &data[sent..]) {
                Ok(n) => sent += n,
                Err(Errno::EAGAIN) => {}
                Err(e) => panic!("send: {e:?}"),
            }
        } else if !a_closed {
            a.tcp.close(c).unwrap();
            a_closed = true;
        }
        a.flush(now);
        if let Some(s) = server_conn {
            loop {
                match b.tcp.recv(s, &mut buf) {
                    Ok(0) => {
                        if !b_closed {
                            b.tcp.close(s).unwrap();
                            b_closed = true;
                        }
                        break;
                    }
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(Errno::EAGAIN) => break,
                    Err(e) => panic!("recv: {e:?}"),
                }
            }
            b.flush(now);
        }
        if b_closed
            && a.tcp
                .state(c)
                .map_or(true, |s| s == State::TimeWait || s == State::Closed)
        {
            break;
        }
        // Time moves 1 ms per round (no link latency: a round moves a window).
        now = now + Duration::from_millis(1);
    }
    settle(&mut [&mut a, &mut b], None, now);
    (data, got, a, b)
}

#[test]
fn tcp_between_two_hosts_moves_a_megabyte_byte_exact_and_closes() {
    let (sent, got, a, b) = tcp_transfer(1 << 20);
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "the received bytes differ from the sent ones");
    // It went through the real IPv4 layer and ARP of both hosts.
    assert!(a.stack.counters().ip.out_requests > 100);
    assert!(b.stack.counters().ip.in_delivers > 100);
    assert!(a.stack.counters().arp.out_requests + b.stack.counters().arp.out_requests >= 1);
    // Full-sized segments fit the 1500-byte MTU with DF set: none was refused.
    assert_eq!(a.stack.counters().ip.frag_fails, 0);
    assert_eq!(a.tcp.counters().retrans_segs, 0);
    assert_eq!(a.tcp.counters().curr_estab, 0);
    assert_eq!(b.tcp.counters().curr_estab, 0);
    assert_eq!(a.tcp.counters().active_opens, 1);
    assert_eq!(b.tcp.counters().passive_opens, 1);
}

fn offloading() -> TcpConfig {
    TcpConfig {
        tso_max: crate::tcp::TSO_MAX_PAYLOAD,
        checksum_offload: true,
        ..TcpConfig::default()
    }
}

#[test]
fn super_segments_are_cut_by_a_nic_with_tso() {
    let hub = Hub::new();
    let nic = hub.attach(mac(2)).with_offloads(true, 65535);
    let (sent, got, a, b) = tcp_transfer_from(&hub, nic, offloading(), 1 << 20);
    assert!(got == sent, "the received bytes differ from the sent ones");
    let link = a.stack.counters().link;
    assert!(link.out_tso_frames > 0, "super-segments went to the NIC");
    assert_eq!(link.out_gso_software, 0);
    // One checksum was finished by the stack: the SYN's, queued while ARP resolved (a
    // queued packet is finished before it waits).
    assert_eq!(link.out_csum_software, 1);
    // Every segment on the wire fit the MTU and had a good checksum.
    assert_eq!(b.tcp.counters().in_csum_errors, 0);
    assert_eq!(b.stack.counters().ip.in_hdr_errors, 0);
    assert!(
        a.stack
            .dev_stats(crate::stack::NIC_IFACE)
            .unwrap()
            .tx_packets
            > link.out_tso_frames
    );
}

#[test]
fn the_stack_cuts_super_segments_and_completes_checksums_for_a_nic_without_offloads() {
    let hub = Hub::new();
    let nic = hub.attach(mac(2));
    let (sent, got, a, b) = tcp_transfer_from(&hub, nic, offloading(), 1 << 20);
    assert!(got == sent, "the received bytes differ from the sent ones");
    let link = a.stack.counters().link;
    assert_eq!(link.out_tso_frames, 0);
    assert!(link.out_gso_software > 0, "super-segments cut in software");
    assert!(
        link.out_csum_software > 0,
        "checksums completed in software"
    );
    assert_eq!(b.tcp.counters().in_csum_errors, 0);
    assert_eq!(
        a.stack
            .dev_stats(crate::stack::NIC_IFACE)
            .unwrap()
            .tx_dropped,
        0
    );
}

#[test]
fn configuration_errors_are_reported() {
    let hub = Hub::new();
    let now = Instant::from_millis(1);
    let tcp = || Tcp::new(TcpConfig::default(), [1; 16], 1);
    // The subnet's broadcast address cannot be a host's.
    let stack = Stack::new(Box::new(hub.attach(mac(1))), 1);
    let bad = HostConfig {
        ip: IpConfig::Static(StaticConfig {
            address: Ipv4Addr::new(10, 0, 0, 255),
            prefix_len: 24,
            gateway: None,
        }),
        nameserver: None,
        seed: 1,
    };
    assert_eq!(
        Host::with_config(stack, tcp(), now, &bad).err(),
        Some(Errno::EINVAL)
    );
    // DHCP needs a NIC.
    let dhcp = HostConfig {
        ip: IpConfig::Dhcp,
        nameserver: None,
        seed: 1,
    };
    assert_eq!(
        Host::with_config(Stack::new_loopback_only(1), tcp(), now, &dhcp).err(),
        Some(Errno::ENETDOWN)
    );
}

#[test]
fn poll_at_includes_the_dhcp_and_resolver_timers() {
    let hub = Hub::new();
    let mut now = Instant::from_millis(1_000);
    let mut server = Server::new(&hub, now);
    let mut client = host_on(&hub, 2, now, IpConfig::Dhcp, None);
    // Before the first poll the DISCOVER is due at once.
    assert!(client.poll_at().is_some_and(|t| t <= now));
    run_for(&mut client, &mut server, &mut now, Duration::from_secs(1));
    let t1 = client.dhcp_lease().unwrap().t1_at();
    assert!(client.poll_at().is_some_and(|t| t <= t1));
    // A query to a server that never answers sets a deadline one second out.
    server.host.stack.udp_close(server.dns).unwrap();
    client.resolve_start(now, "echo.rinet.test").unwrap();
    assert!(client
        .poll_at()
        .is_some_and(|t| t <= now + Duration::from_secs(1)));
}

/// Over loopback (64 KiB frames the device hands over) large in-order segments stay in
/// their frames; mixed with small writes, partial reads and a receive window that fills,
/// the stream still arrives exact and in order.
#[test]
fn loopback_keeps_large_segments_in_their_frames_and_the_stream_exact() {
    let mut now = Instant::from_millis(1_000);
    let mut h = Host::new(
        Stack::new_loopback_only(5),
        Tcp::new(TcpConfig::default(), [5; 16], 5),
    );
    let at = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 7000);
    let l = h.tcp.listen(at, 4).unwrap();
    // The loopback route's MTU (64 KiB), as the socket layer's connect passes it.
    let mtu = h.stack.route(Ipv4Addr::LOCALHOST).unwrap().mtu as u16;
    h.tcp.set_mtu(l, mtu).unwrap();
    let c = h
        .tcp
        .connect(
            now,
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            at,
            Some(mtu),
        )
        .unwrap();
    let total = 3 << 20;
    let data: Vec<u8> = (0..total).map(|i| (i * 7 + i / 4093) as u8).collect();
    let (mut sent, mut got) = (0, Vec::new());
    let mut server = None;
    let mut buf = vec![0u8; 70_001];
    let mut round = 0usize;
    while got.len() < total {
        round += 1;
        assert!(round < 100_000, "stalled at {} of {total}", got.len());
        h.poll(now);
        if server.is_none() {
            server = h.tcp.accept(l).ok();
        }
        if sent < total {
            // Alternately large writes and small ones, so small segments queue behind kept
            // frames and frames behind copied bytes.
            let want = if round.is_multiple_of(3) {
                100
            } else {
                200_000
            };
            let end = (sent + want).min(total);
            match h.tcp.send(c, &data[sent..end]) {
                Ok(n) => sent += n,
                Err(Errno::EAGAIN) => {}
                Err(e) => panic!("send: {e:?}"),
            }
        }
        h.flush(now);
        if let Some(s) = server {
            // Read only every other round and in odd sizes, so the queue holds a mix.
            if round.is_multiple_of(2) {
                let size = 1 + (round * 7919) % buf.len();
                match h.tcp.recv(s, &mut buf[..size]) {
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(Errno::EAGAIN) => {}
                    Err(e) => panic!("recv: {e:?}"),
                }
                h.flush(now);
            }
        }
        now = now + Duration::from_micros(100);
    }
    assert!(got == data, "the received bytes differ from the sent ones");
    let c = h.tcp.counters();
    assert!(c.rcv_adopted > 0, "no segment was kept in its frame");
    assert_eq!(c.in_csum_errors, 0);
}
