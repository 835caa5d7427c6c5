//! Tests of the file-based socket API the kernel uses (no descriptor table in `net`): sockets
//! created and accepted as sockfs files, driven over loopback, and released the way the
//! kernel releases a socket file whose last descriptor is gone.

use alloc::vec;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use super::*;
use crate::stack::Stack;
use crate::tcp::{Tcp, TcpConfig};

struct World {
    net: NetSys,
    now: Instant,
}

fn lo(port: u16) -> [u8; SOCKADDR_IN_LEN] {
    sockaddr_in_bytes(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

impl World {
    fn new() -> Self {
        let host = Host::new(
            Stack::new_loopback_only(7),
            Tcp::new(TcpConfig::default(), [3; 16], 11),
        );
        World {
            net: NetSys::new(host),
            now: Instant::from_millis(1),
        }
    }

    fn settle(&mut self) {
        for _ in 0..20 {
            self.now = self.now + Duration::from_millis(1);
            self.net.poll(self.now);
        }
    }

    /// A connected pair (client, accepted, listener) of socket files on `port`.
    fn pair(&mut self, port: u16) -> (FileId, FileId, FileId) {
        let l = self.net.socket_file(AF_INET, SOCK_STREAM, 0).unwrap();
        self.net.bind_file(l, &lo(port)).unwrap();
        self.net.listen_file(l, 8).unwrap();
        let c = self.net.socket_file(AF_INET, SOCK_STREAM, 0).unwrap();
        assert_eq!(
            self.net.connect_file(self.now, c, &lo(port)),
            Err(Errno::EINPROGRESS)
        );
        self.settle();
        assert_eq!(self.net.connect_result_file(c), Some(Ok(())));
        let (a, peer) = self.net.accept_file(self.now, l, SOCK_NONBLOCK).unwrap();
        assert_eq!(peer, self.net.getsockname_file(c).unwrap());
        assert_eq!(self.net.getpeername_file(a).unwrap(), peer);
        (c, a, l)
    }

    fn recv(&mut self, f: FileId, n: usize) -> Result<Vec<u8>, Errno> {
        let mut buf = vec![0u8; n];
        let (got, _) = self.net.recvfrom_file(self.now, f, &mut buf, 0)?;
        buf.truncate(got);
        Ok(buf)
    }
}

#[test]
fn socket_files_carry_data_and_release_ends_the_connection() {
    let mut w = World::new();
    let (c, a, l) = w.pair(7);
    assert_eq!(w.net.sockets(), 3);
    assert_eq!(w.net.sendto_file(w.now, c, b"hello", 0, None), Ok(5));
    w.settle();
    assert_eq!(w.recv(a, 16).unwrap(), b"hello");
    assert_eq!(w.recv(a, 16), Err(Errno::EAGAIN), "nothing more yet");

    assert_eq!(w.net.release_file(w.now, c), Ok(None));
    assert_eq!(w.net.sockets(), 2, "the client's socket is gone");
    w.settle();
    assert_eq!(w.recv(a, 16).unwrap(), b"", "the peer sees the FIN");
    // A released file is no socket any more, for every call.
    assert_eq!(w.net.release_file(w.now, c), Err(Errno::EBADF));
    assert_eq!(
        w.net.sendto_file(w.now, c, b"x", 0, None),
        Err(Errno::EBADF)
    );
    assert!(w.net.poll_file(c).contains(POLLNVAL));
    assert_eq!(
        w.net.wait_info_file(c, Direction::Read, false),
        Err(Errno::EBADF)
    );
    w.net.release_file(w.now, a).unwrap();
    w.net.release_file(w.now, l).unwrap();
    assert_eq!(w.net.sockets(), 0);
}

#[test]
fn release_wakes_the_sockets_waiters() {
    let mut w = World::new();
    let (c, a, _) = w.pair(7);
    let info = w.net.wait_info_file(a, Direction::Read, true).unwrap();
    assert!(
        info.nonblocking,
        "the caller's O_NONBLOCK is passed through"
    );
    assert!(
        !w.net
            .wait_info_file(a, Direction::Read, false)
            .unwrap()
            .nonblocking
    );
    let mut keys = Vec::new();
    w.net.take_woken(&mut keys);
    keys.clear();
    w.net.release_file(w.now, a).unwrap();
    w.net.take_woken(&mut keys);
    assert!(keys.contains(&info.wait_key));
    let _ = c;
}

#[test]
fn release_with_linger_zero_resets_and_with_a_timeout_reports_the_wait() {
    let mut w = World::new();
    let (c, a, _) = w.pair(7);
    let linger0: Vec<u8> = [1i32.to_ne_bytes(), 0i32.to_ne_bytes()].concat();
    w.net
        .setsockopt_file(c, SOL_SOCKET, SO_LINGER, &linger0)
        .unwrap();
    assert_eq!(w.net.release_file(w.now, c), Ok(None));
    w.settle();
    assert_eq!(w.recv(a, 10), Err(Errno::ECONNRESET));

    let (c, a, _) = w.pair(8);
    let linger5: Vec<u8> = [1i32.to_ne_bytes(), 5i32.to_ne_bytes()].concat();
    w.net
        .setsockopt_file(c, SOL_SOCKET, SO_LINGER, &linger5)
        .unwrap();
    assert_eq!(w.net.sendto_file(w.now, c, &[7u8; 3000], 0, None), Ok(3000));
    let (h, deadline) = w
        .net
        .release_file(w.now, c)
        .unwrap()
        .expect("a lingering release waits for the FIN's ACK");
    assert_eq!(deadline, w.now + Duration::from_secs(5));
    assert!(w.net.lingering(h));
    w.settle();
    assert!(!w.net.lingering(h));
    assert_eq!(w.recv(a, 5000).unwrap(), [7u8; 3000]);
    assert_eq!(w.recv(a, 10).unwrap(), b"");
}

#[test]
fn releasing_a_listener_resets_its_unaccepted_connections() {
    let mut w = World::new();
    let l = w.net.socket_file(AF_INET, SOCK_STREAM, 0).unwrap();
    w.net.listen_file(l, 4).unwrap();
    let port = w.net.getsockname_file(l).unwrap().port();
    assert_ne!(port, 0, "listen binds an ephemeral port");
    let c = w.net.socket_file(AF_INET, SOCK_STREAM, 0).unwrap();
    let _ = w.net.connect_file(w.now, c, &lo(port));
    w.settle();
    assert_eq!(w.net.connect_result_file(c), Some(Ok(())));
    w.net.release_file(w.now, l).unwrap();
    w.settle();
    assert_eq!(w.recv(c, 10), Err(Errno::ECONNRESET));
    assert_eq!(w.net.sockets(), 1);
}

#[test]
fn queued_bytes_for_fionread_and_siocoutq() {
    let mut w = World::new();
    let (c, a, l) = w.pair(7);
    assert_eq!(w.net.queued_file(l), Err(Errno::EINVAL), "listener: EINVAL");
    assert_eq!(w.net.queued_file(a), Ok((0, 0)));
    assert_eq!(w.net.sendto_file(w.now, c, b"12345678", 0, None), Ok(8));
    w.settle();
    assert_eq!(w.net.queued_file(a).unwrap().0, 8);
    assert_eq!(w.net.queued_file(c).unwrap().1, 0, "all acknowledged");
    let u = w.net.socket_file(AF_INET, SOCK_DGRAM, 0).unwrap();
    w.net.bind_file(u, &lo(9000)).unwrap();
    assert_eq!(w.net.queued_file(u), Ok((0, 0)), "no datagram yet");
    let v = w.net.socket_file(AF_INET, SOCK_DGRAM, 0).unwrap();
    for len in [300, 20] {
        let d = vec![1u8; len];
        assert_eq!(w.net.sendto_file(w.now, v, &d, 0, Some(&lo(9000))), Ok(len));
    }
    w.settle();
    assert_eq!(
        w.net.queued_file(u),
        Ok((300, 0)),
        "the oldest datagram's size, not the sum"
    );
    let r = w.net.socket_file(AF_INET, SOCK_RAW, 1);
    if let Ok(r) = r {
        assert_eq!(w.net.queued_file(r), Err(Errno::ENOTTY));
    }
}

#[test]
fn bad_arguments_are_refused_without_a_socket_left_behind() {
    let mut w = World::new();
    assert_eq!(
        w.net.socket_file(AF_INET + 1, SOCK_STREAM, 0),
        Err(Errno::EAFNOSUPPORT)
    );
    assert_eq!(
        w.net.socket_file(AF_INET, SOCK_STREAM | 0x1000, 0),
        Err(Errno::EINVAL)
    );
    assert_eq!(w.net.sockets(), 0);
    let l = w.net.socket_file(AF_INET, SOCK_STREAM, 0).unwrap();
    w.net.listen_file(l, 1).unwrap();
    assert_eq!(w.net.accept_file(w.now, l, 0x4000_0000), Err(Errno::EINVAL));
    assert_eq!(w.net.accept_file(w.now, l, 0), Err(Errno::EAGAIN));
    assert_eq!(w.net.sockets(), 1);
}

/// A receive buffer that takes `room` bytes, then fails like a program's buffer whose pages
/// went away, recording what it was given.
struct FailingBuf {
    len: usize,
    room: usize,
    got: Vec<u8>,
}

impl crate::recvbuf::RecvBuf for FailingBuf {
    fn len(&self) -> usize {
        self.len
    }

    fn put(&mut self, at: usize, bytes: &[u8]) -> Result<(), Errno> {
        assert_eq!(at, self.got.len(), "pieces come front to back");
        if self.got.len() + bytes.len() > self.room {
            return Err(Errno::EFAULT);
        }
        self.got.extend_from_slice(bytes);
        Ok(())
    }
}

#[test]
fn stream_receive_into_a_failing_buffer_consumes_only_what_it_copied() {
    let mut w = World::new();
    let (c, a, _) = w.pair(7);
    // Two writes: the receive queue holds them in separate pieces or one; either way a
    // buffer failing at once gets EFAULT and loses nothing.
    assert_eq!(w.net.sendto_file(w.now, c, b"hello ", 0, None), Ok(6));
    w.settle();
    assert_eq!(w.net.sendto_file(w.now, c, b"world", 0, None), Ok(5));
    w.settle();
    let mut none = FailingBuf {
        len: 64,
        room: 0,
        got: Vec::new(),
    };
    assert_eq!(
        w.net.recv_stream_file(w.now, a, &mut none, 0),
        Err(Errno::EFAULT)
    );
    // MSG_PEEK leaves the bytes queued.
    let mut peek = FailingBuf {
        len: 4,
        room: 64,
        got: Vec::new(),
    };
    assert_eq!(w.net.recv_stream_file(w.now, a, &mut peek, MSG_PEEK), Ok(4));
    assert_eq!(peek.got, b"hell");
    // Then everything, in order.
    let mut part = FailingBuf {
        len: 64,
        room: 64,
        got: Vec::new(),
    };
    assert_eq!(w.net.recv_stream_file(w.now, a, &mut part, 0), Ok(11));
    assert_eq!(part.got, b"hello world");
    assert_eq!(w.recv(a, 16), Err(Errno::EAGAIN), "everything was read");
    // A datagram socket has no stream receive: its caller uses recvfrom_file.
    let u = w.net.socket_file(AF_INET, SOCK_DGRAM, 0).unwrap();
    assert_eq!(
        w.net.recv_stream_file(w.now, u, &mut none, 0),
        Err(Errno::EOPNOTSUPP)
    );
}
