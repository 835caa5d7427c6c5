//! Tests of the options servers set on their sockets, judged by what a program or the wire
//! sees: SO_REUSEPORT (several listeners or UDP sockets on one port, arrivals spread among
//! them), IP_TOS (the byte in every IPv4 header the socket sends) and TCP_DEFER_ACCEPT
//! (no connection to accept before its data).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use super::*;
use crate::config::{IpConfig, StaticConfig};
use crate::host::HostConfig;
use crate::sim::Hub;
use crate::stack::Stack;
use crate::tcp::{Tcp, TcpConfig};
use crate::wire::MacAddr;

/// One host's socket layer and descriptors, with its own clock.
struct Side {
    net: NetSys,
    fds: FdTable,
}

impl Side {
    fn loopback() -> Side {
        let host = Host::new(
            Stack::new_loopback_only(7),
            Tcp::new(TcpConfig::default(), [3; 16], 11),
        );
        Side {
            net: NetSys::new(host),
            fds: FdTable::new(crate::sockfs::DEFAULT_FD_LIMIT),
        }
    }

    /// A host with address 10.0.0.`i` on the hub.
    fn on_hub(hub: &Hub, i: u8, now: Instant) -> Side {
        let nic = hub.attach(MacAddr([2, 0, 0, 0, 0, i]));
        let stack = Stack::new(Box::new(nic), u64::from(i));
        let tcp = Tcp::new(TcpConfig::default(), [i; 16], u64::from(i) * 7);
        let cfg = HostConfig {
            ip: IpConfig::Static(StaticConfig {
                address: Ipv4Addr::new(10, 0, 0, i),
                prefix_len: 24,
                gateway: None,
            }),
            nameserver: None,
            seed: u64::from(i) * 1000,
        };
        Side {
            net: NetSys::new(Host::with_config(stack, tcp, now, &cfg).unwrap()),
            fds: FdTable::new(crate::sockfs::DEFAULT_FD_LIMIT),
        }
    }

    fn socket(&mut self, ty: i32) -> i32 {
        self.net
            .socket(&mut self.fds, AF_INET, ty | SOCK_NONBLOCK, 0)
            .unwrap()
    }

    fn set(&mut self, fd: i32, level: i32, name: i32, v: i32) -> Result<(), Errno> {
        self.net
            .setsockopt(&self.fds, fd, level, name, &v.to_ne_bytes())
    }

    fn get(&mut self, fd: i32, level: i32, name: i32) -> i32 {
        let mut b = [0u8; 4];
        assert_eq!(
            self.net.getsockopt(&self.fds, fd, level, name, &mut b),
            Ok(4)
        );
        i32::from_ne_bytes(b)
    }

    fn bind(&mut self, fd: i32, addr: SocketAddrV4) -> Result<(), Errno> {
        self.net.bind(&self.fds, fd, &sockaddr_in_bytes(addr))
    }

    fn connect(&mut self, now: Instant, fd: i32, to: SocketAddrV4) {
        let r = self.net.connect(now, &self.fds, fd, &sockaddr_in_bytes(to));
        assert!(matches!(r, Ok(()) | Err(Errno::EINPROGRESS)), "{r:?}");
    }

    fn accept(&mut self, now: Instant, fd: i32) -> Result<i32, Errno> {
        self.net.accept(now, &mut self.fds, fd, 0).map(|(a, _)| a)
    }

    fn readable(&self, fd: i32) -> bool {
        self.net.poll_fd(&self.fds, fd).0 & POLLIN != 0
    }
}

const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// Run one loopback host for `ms` simulated milliseconds.
fn settle(s: &mut Side, now: &mut Instant, ms: u64) {
    for _ in 0..ms {
        *now = *now + Duration::from_millis(1);
        s.net.poll(*now);
    }
}

#[test]
fn reuseport_listeners_share_a_port_and_connections_are_spread_among_them() {
    let mut s = Side::loopback();
    let mut now = Instant::from_millis(1);
    let at = SocketAddrV4::new(LO, 8080);
    let mut listeners = Vec::new();
    for _ in 0..2 {
        let l = s.socket(SOCK_STREAM);
        s.set(l, SOL_SOCKET, SO_REUSEPORT, 1).unwrap();
        assert_eq!(s.get(l, SOL_SOCKET, SO_REUSEPORT), 1);
        s.bind(l, at).unwrap();
        s.net.listen(&s.fds, l, 64).unwrap();
        listeners.push(l);
    }
    const CLIENTS: usize = 16;
    for _ in 0..CLIENTS {
        let c = s.socket(SOCK_STREAM);
        s.connect(now, c, at);
    }
    settle(&mut s, &mut now, 20);
    let mut per = [0usize; 2];
    for (i, &l) in listeners.iter().enumerate() {
        while let Ok(a) = s.accept(now, l) {
            // The child inherits the option, as Linux's clone of the listener does.
            assert_eq!(s.get(a, SOL_SOCKET, SO_REUSEPORT), 1);
            per[i] += 1;
        }
    }
    assert_eq!(
        per[0] + per[1],
        CLIENTS,
        "every connection was accepted once"
    );
    assert!(per[0] > 0 && per[1] > 0, "both listeners got some: {per:?}");
}

#[test]
fn without_reuseport_on_both_a_second_bind_is_eaddrinuse() {
    let mut s = Side::loopback();
    let at = SocketAddrV4::new(LO, 8081);
    for (first, second) in [(false, false), (true, false), (false, true)] {
        let a = s.socket(SOCK_STREAM);
        s.set(a, SOL_SOCKET, SO_REUSEPORT, i32::from(first))
            .unwrap();
        s.bind(a, at).unwrap();
        s.net.listen(&s.fds, a, 4).unwrap();
        let b = s.socket(SOCK_STREAM);
        s.set(b, SOL_SOCKET, SO_REUSEPORT, i32::from(second))
            .unwrap();
        assert_eq!(s.bind(b, at), Err(Errno::EADDRINUSE));
        let u1 = s.socket(SOCK_DGRAM);
        let u2 = s.socket(SOCK_DGRAM);
        s.set(u1, SOL_SOCKET, SO_REUSEPORT, i32::from(first))
            .unwrap();
        s.set(u2, SOL_SOCKET, SO_REUSEPORT, i32::from(second))
            .unwrap();
        s.bind(u1, at).unwrap();
        assert_eq!(s.bind(u2, at), Err(Errno::EADDRINUSE));
        for fd in [a, b, u1, u2] {
            s.net.close(Instant::ZERO, &mut s.fds, fd).unwrap();
        }
    }
}

#[test]
fn reuseport_udp_sockets_share_a_port_and_datagrams_are_spread_among_them() {
    let mut s = Side::loopback();
    let mut now = Instant::from_millis(1);
    let at = SocketAddrV4::new(LO, 5353);
    let servers: Vec<i32> = (0..2)
        .map(|_| {
            let u = s.socket(SOCK_DGRAM);
            s.set(u, SOL_SOCKET, SO_REUSEPORT, 1).unwrap();
            s.bind(u, at).unwrap();
            u
        })
        .collect();
    const SENDERS: usize = 16;
    for i in 0..SENDERS {
        let c = s.socket(SOCK_DGRAM);
        let to = sockaddr_in_bytes(at);
        s.net
            .sendto(now, &s.fds, c, &[i as u8], 0, Some(&to))
            .unwrap();
    }
    settle(&mut s, &mut now, 5);
    let mut per = [0usize; 2];
    let mut buf = [0u8; 8];
    for (i, &u) in servers.iter().enumerate() {
        while s.net.recvfrom(now, &s.fds, u, &mut buf, 0).is_ok() {
            per[i] += 1;
        }
    }
    assert_eq!(per[0] + per[1], SENDERS, "each datagram went to one socket");
    assert!(per[0] > 0 && per[1] > 0, "both sockets got some: {per:?}");
}

/// The TOS byte of each IPv4 frame sent from hub port `port` with IP protocol `proto`.
fn sent_tos(frames: &[(usize, Vec<u8>)], port: usize, proto: u8) -> Vec<u8> {
    frames
        .iter()
        .filter(|(p, f)| *p == port && f.len() >= 34 && f[12..14] == [0x08, 0x00] && f[23] == proto)
        .map(|(_, f)| f[15])
        .collect()
}

#[test]
fn ip_tos_is_in_every_header_the_socket_sends_and_children_inherit_it() {
    let hub = Hub::new();
    let mut now = Instant::from_millis(1_000);
    let mut client = Side::on_hub(&hub, 2, now);
    let mut server = Side::on_hub(&hub, 3, now);
    let at = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 3), 9000);
    let l = server.socket(SOCK_STREAM);
    // A stream socket's ECN bits are TCP's: they are dropped, as Linux drops them.
    server.set(l, IPPROTO_IP, IP_TOS, 0x48 | 3).unwrap();
    assert_eq!(server.get(l, IPPROTO_IP, IP_TOS), 0x48);
    server.bind(l, at).unwrap();
    server.net.listen(&server.fds, l, 4).unwrap();
    let c = client.socket(SOCK_STREAM);
    client.set(c, IPPROTO_IP, IP_TOS, 0x28).unwrap();
    let u = client.socket(SOCK_DGRAM);
    // A datagram socket keeps all eight bits.
    client.set(u, IPPROTO_IP, IP_TOS, 0xb9).unwrap();
    assert_eq!(client.get(u, IPPROTO_IP, IP_TOS), 0xb9);
    hub.capture(true);
    client.connect(now, c, at);
    let mut accepted = None;
    for _ in 0..50 {
        now = now + Duration::from_millis(1);
        client.net.poll(now);
        server.net.poll(now);
        if accepted.is_none() {
            accepted = server.accept(now, l).ok();
        }
    }
    let a = accepted.expect("accepted");
    assert_eq!(server.get(a, IPPROTO_IP, IP_TOS), 0x48, "inherited");
    client
        .net
        .sendto(now, &client.fds, c, b"ping", 0, None)
        .unwrap();
    server
        .net
        .sendto(now, &server.fds, a, b"pong", 0, None)
        .unwrap();
    let to = sockaddr_in_bytes(SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 3), 7));
    client
        .net
        .sendto(now, &client.fds, u, b"d", 0, Some(&to))
        .unwrap();
    for _ in 0..20 {
        now = now + Duration::from_millis(1);
        client.net.poll(now);
        server.net.poll(now);
    }
    // An abort (SO_LINGER 0) sends its RST with the socket's TOS too.
    let linger = [1i32.to_ne_bytes(), 0i32.to_ne_bytes()].concat();
    client
        .net
        .setsockopt(&client.fds, c, SOL_SOCKET, SO_LINGER, &linger)
        .unwrap();
    client.net.close(now, &mut client.fds, c).unwrap();
    for _ in 0..5 {
        now = now + Duration::from_millis(1);
        client.net.poll(now);
        server.net.poll(now);
    }
    let frames = hub.take_captured();
    let rst_from_client = frames
        .iter()
        .any(|(p, f)| *p == 0 && f.len() >= 54 && f[23] == 6 && f[47] & 0x04 != 0);
    assert!(rst_from_client, "the abort sent a RST");
    let (cport, sport) = (0, 1);
    let tcp_out = sent_tos(&frames, cport, 6);
    let tcp_back = sent_tos(&frames, sport, 6);
    assert!(tcp_out.len() >= 4, "SYN, ACK, data, RST: {tcp_out:?}");
    assert!(tcp_out.iter().all(|&t| t == 0x28), "{tcp_out:x?}");
    assert!(tcp_back.len() >= 2, "SYN-ACK, data: {tcp_back:?}");
    assert!(tcp_back.iter().all(|&t| t == 0x48), "{tcp_back:x?}");
    assert_eq!(sent_tos(&frames, cport, 17), [0xb9]);
}

#[test]
fn deferred_accept_waits_for_data_then_hands_the_connection_over() {
    let mut s = Side::loopback();
    let mut now = Instant::from_millis(1);
    let at = SocketAddrV4::new(LO, 8082);
    let l = s.socket(SOCK_STREAM);
    s.set(l, SOL_TCP, TCP_DEFER_ACCEPT, 5).unwrap();
    // Linux reports the seconds its retransmission count covers: 1 + 2 + 4.
    assert_eq!(s.get(l, SOL_TCP, TCP_DEFER_ACCEPT), 7);
    s.bind(l, at).unwrap();
    s.net.listen(&s.fds, l, 4).unwrap();
    let c = s.socket(SOCK_STREAM);
    s.connect(now, c, at);
    settle(&mut s, &mut now, 50);
    assert_eq!(s.net.connect_result(&s.fds, c), Some(Ok(())));
    assert_eq!(s.accept(now, l), Err(Errno::EAGAIN), "no data yet");
    assert!(!s.readable(l), "the listener is not readable before data");
    s.net.sendto(now, &s.fds, c, b"GET /", 0, None).unwrap();
    settle(&mut s, &mut now, 5);
    assert!(s.readable(l));
    let a = s.accept(now, l).expect("accepted after data");
    // Linux's clone clears the accept queue's settings.
    assert_eq!(s.get(a, SOL_TCP, TCP_DEFER_ACCEPT), 0);
    let mut buf = [0u8; 16];
    assert_eq!(s.net.recvfrom(now, &s.fds, a, &mut buf, 0), Ok((5, None)));
    assert_eq!(&buf[..5], b"GET /");
}

#[test]
fn deferred_accept_hands_a_silent_connection_over_after_the_timeout() {
    let mut s = Side::loopback();
    let mut now = Instant::from_millis(1);
    let at = SocketAddrV4::new(LO, 8083);
    let l = s.socket(SOCK_STREAM);
    s.set(l, SOL_TCP, TCP_DEFER_ACCEPT, 1).unwrap();
    assert_eq!(s.get(l, SOL_TCP, TCP_DEFER_ACCEPT), 1);
    s.bind(l, at).unwrap();
    s.net.listen(&s.fds, l, 4).unwrap();
    let c = s.socket(SOCK_STREAM);
    s.connect(now, c, at);
    settle(&mut s, &mut now, 50);
    assert_eq!(s.accept(now, l), Err(Errno::EAGAIN));
    let mut woken = Vec::new();
    s.net.take_woken(&mut woken);
    // Past the deferral: the connection is handed over without data, and the listener's
    // waiters are woken.
    s.net.poll(now + Duration::from_millis(1_100));
    s.net.take_woken(&mut woken);
    assert!(!woken.is_empty());
    assert!(s.readable(l));
    assert!(s.accept(now, l).is_ok());
}

#[test]
fn option_values_are_checked_and_unknown_ip_options_are_enoprotoopt() {
    let mut s = Side::loopback();
    let t = s.socket(SOCK_STREAM);
    assert_eq!(s.get(t, IPPROTO_IP, IP_TOS), 0);
    assert_eq!(s.get(t, SOL_SOCKET, SO_REUSEPORT), 0);
    assert_eq!(s.get(t, SOL_TCP, TCP_DEFER_ACCEPT), 0);
    for (set, got) in [(1, 1), (2, 3), (10, 15), (0, 0), (-3, 0)] {
        s.set(t, SOL_TCP, TCP_DEFER_ACCEPT, set).unwrap();
        assert_eq!(s.get(t, SOL_TCP, TCP_DEFER_ACCEPT), got, "set {set}");
    }
    s.set(t, SOL_TCP, TCP_DEFER_ACCEPT, i32::MAX).unwrap();
    assert!(s.get(t, SOL_TCP, TCP_DEFER_ACCEPT) > 0);
    assert_eq!(
        s.net.setsockopt(&s.fds, t, IPPROTO_IP, IP_TOS, &[]),
        Err(Errno::EINVAL)
    );
    assert_eq!(s.set(t, IPPROTO_IP, 99, 1), Err(Errno::ENOPROTOOPT));
    let u = s.socket(SOCK_DGRAM);
    assert_eq!(
        s.set(u, SOL_TCP, TCP_DEFER_ACCEPT, 1),
        Err(Errno::ENOPROTOOPT)
    );
    assert_eq!(s.set(u, IPPROTO_IP, 99, 1), Err(Errno::ENOPROTOOPT));
}
