//! Unit tests of the UDP socket table (exchanges through a stack live in `stack_tests`).

use super::*;
use alloc::vec;

const ME: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn local(ip: Ipv4Addr) -> bool {
    ip == ME
}

fn sa(ip: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(ip, port)
}

#[test]
fn bind_conflicts_and_reuse_addr() {
    let mut t = UdpTable::new();
    let mut rng = Rng::new(1);
    let a = t.open().unwrap();
    let b = t.open().unwrap();
    t.bind(a, sa(Ipv4Addr::UNSPECIFIED, 53), &local, &mut rng)
        .unwrap();
    assert_eq!(
        t.bind(b, sa(ME, 53), &local, &mut rng),
        Err(Errno::EADDRINUSE)
    );
    assert_eq!(
        t.bind(b, sa(PEER, 54), &local, &mut rng),
        Err(Errno::EADDRNOTAVAIL)
    );
    assert_eq!(t.bind(a, sa(ME, 55), &local, &mut rng), Err(Errno::EINVAL));
    // Both with SO_REUSEADDR: allowed.
    let c = t.open().unwrap();
    let d = t.open().unwrap();
    t.set_reuse_addr(c, true).unwrap();
    t.set_reuse_addr(d, true).unwrap();
    t.bind(c, sa(ME, 67), &local, &mut rng).unwrap();
    t.bind(d, sa(Ipv4Addr::UNSPECIFIED, 67), &local, &mut rng)
        .unwrap();
    // A stale handle is EBADF.
    t.close(a).unwrap();
    assert_eq!(t.close(a), Err(Errno::EBADF));
    let e = t.open().unwrap();
    t.bind(e, sa(ME, 53), &local, &mut rng).unwrap();
}

#[test]
fn ephemeral_ports_are_random_in_range_and_distinct() {
    let mut t = UdpTable::new();
    let mut rng = Rng::new(7);
    let mut ports = Vec::new();
    for _ in 0..50 {
        let h = t.open().unwrap();
        let l = t
            .bind(h, sa(Ipv4Addr::UNSPECIFIED, 0), &local, &mut rng)
            .unwrap();
        assert!((EPHEMERAL_FIRST..=EPHEMERAL_LAST).contains(&l.port()));
        ports.push(l.port());
    }
    let mut sorted = ports.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 50);
    // Not a sequence: successive ports are not consecutive.
    assert!(ports.windows(2).any(|w| w[1] != w[0].wrapping_add(1)));
}

#[test]
fn receive_queue_is_bounded() {
    let mut t = UdpTable::new();
    let mut rng = Rng::new(1);
    let h = t.open().unwrap();
    t.bind(h, sa(ME, 9), &local, &mut rng).unwrap();
    for _ in 0..UDP_RCVBUF_DATAGRAMS + 5 {
        assert!(t.deliver(sa(PEER, 1), sa(ME, 9), false, b"x"));
    }
    assert_eq!(t.stats.rcvbuf_errors, 5);
    assert_eq!(t.stats.in_datagrams, UDP_RCVBUF_DATAGRAMS as u64);
    let mut buf = [0u8; 4];
    assert_eq!(t.recv_from(h, &mut buf), Ok((1, sa(PEER, 1))));
}

#[test]
fn connected_socket_filters_and_reports_refused_once() {
    let mut t = UdpTable::new();
    let mut rng = Rng::new(1);
    let h = t.open().unwrap();
    t.connect(h, sa(PEER, 7), ME, &mut rng).unwrap();
    let me = t.local_addr(h).unwrap().unwrap();
    assert!(!t.deliver(
        sa(Ipv4Addr::new(10, 0, 0, 3), 7),
        sa(ME, me.port()),
        false,
        b"no"
    ));
    assert!(t.deliver(sa(PEER, 7), sa(ME, me.port()), false, b"yes"));
    assert!(t.icmp_error(sa(ME, me.port()), sa(PEER, 7), Errno::ECONNREFUSED, false));
    assert!(t.readiness(h).unwrap().error);
    // Listed once for wake-up although two events arrived.
    assert_eq!(t.take_wakeups(), vec![h]);
    assert!(t.take_wakeups().is_empty());
    assert_eq!(t.recv(h), Err(Errno::ECONNREFUSED));
    assert_eq!(t.recv(h).unwrap().data, b"yes");
    assert_eq!(t.recv(h), Err(Errno::EAGAIN));
    // Unconnected sockets ignore forged network errors.
    let u = t.open().unwrap();
    t.bind(u, sa(ME, 99), &local, &mut rng).unwrap();
    assert!(!t.icmp_error(sa(ME, 99), sa(PEER, 7), Errno::ECONNREFUSED, false));
    assert_eq!(
        t.prepare_send(u, None, 10, &mut rng),
        Err(Errno::EDESTADDRREQ)
    );
    assert_eq!(
        t.prepare_send(u, Some(sa(PEER, 7)), UDP_MAX_PAYLOAD + 1, &mut rng),
        Err(Errno::EMSGSIZE)
    );
}
