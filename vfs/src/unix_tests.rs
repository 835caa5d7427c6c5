//! Socket pairs as a program sees them through read, write, shutdown and poll.

use super::*;
use alloc::vec;

fn pair(ty: i32) -> (Arc<OpenFile>, Arc<OpenFile>) {
    socketpair(ty, 0, Timespec::new(5, 0)).unwrap()
}

fn end(f: &OpenFile) -> &UnixEnd {
    f.ops().as_any().downcast_ref::<UnixEnd>().unwrap()
}

#[test]
fn stream_bytes_flow_both_ways_in_order() {
    let (a, b) = pair(SOCK_STREAM);
    assert_eq!(a.write(b"ping ").unwrap(), 5);
    assert_eq!(a.write(b"pong").unwrap(), 4);
    assert_eq!(b.write(b"back").unwrap(), 4);
    let mut buf = [0u8; 6];
    assert_eq!(b.read(&mut buf).unwrap(), 6);
    assert_eq!(&buf, b"ping p");
    assert_eq!(b.ioctl(FIONREAD, 0).unwrap(), IoctlReply::StoreInt(3));
    assert_eq!(b.read(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"ong");
    assert_eq!(b.read(&mut buf).unwrap_err(), Errno::EAGAIN);
    assert_eq!(a.read(&mut buf).unwrap(), 4);
    assert_eq!(&buf[..4], b"back");
    let s = a.stat().unwrap();
    assert_eq!(s.mode & 0o170000, S_IFSOCK);
    assert_ne!(s.ino, b.stat().unwrap().ino);
}

#[test]
fn peek_leaves_the_data() {
    let (a, b) = pair(SOCK_STREAM);
    a.write(b"abc").unwrap();
    let mut buf = [0u8; 8];
    let r = end(&b).receive(&mut buf, true).unwrap();
    assert_eq!(r.copied, 3);
    assert_eq!(b.read(&mut buf).unwrap(), 3);
    assert_eq!(&buf[..3], b"abc");
}

#[test]
fn closing_an_end_is_end_of_file_rdhup_and_hup_for_the_peer() {
    let (a, b) = pair(SOCK_STREAM);
    a.write(b"last").unwrap();
    assert_eq!(b.poll() & (POLLRDHUP | POLLHUP), 0);
    drop(a);
    let ev = b.poll();
    assert_ne!(ev & POLLRDHUP, 0, "nginx's start-up check");
    assert_ne!(ev & POLLHUP, 0);
    assert_ne!(ev & POLLIN, 0);
    let mut buf = [0u8; 8];
    assert_eq!(b.read(&mut buf).unwrap(), 4, "queued data first");
    assert_eq!(b.read(&mut buf).unwrap(), 0, "then end of file");
    assert_eq!(b.write(b"x").unwrap_err(), Errno::EPIPE);
}

#[test]
fn shutdown_wr_is_end_of_file_for_the_peer_only_one_way() {
    let (a, b) = pair(SOCK_STREAM);
    end(&a).shutdown(SHUT_WR).unwrap();
    assert_eq!(a.write(b"x").unwrap_err(), Errno::EPIPE);
    let ev = b.poll();
    assert_ne!(ev & POLLRDHUP, 0);
    assert_eq!(ev & POLLHUP, 0, "b can still send");
    let mut buf = [0u8; 4];
    assert_eq!(b.read(&mut buf).unwrap(), 0);
    assert_eq!(b.write(b"ok").unwrap(), 2);
    assert_eq!(a.read(&mut buf).unwrap(), 2);
    end(&b).shutdown(SHUT_WR).unwrap();
    assert_ne!(a.poll() & POLLHUP, 0, "both directions shut");
    assert_eq!(end(&a).shutdown(7).unwrap_err(), Errno::EINVAL);
}

#[test]
fn a_stream_direction_is_bounded() {
    let (a, b) = pair(SOCK_STREAM | SOCK_NONBLOCK);
    assert!(a.nonblocking() && b.nonblocking());
    let big = vec![7u8; UNIX_BUFFER + 1000];
    assert_eq!(a.write(&big).unwrap(), UNIX_BUFFER);
    assert_eq!(a.write(b"x").unwrap_err(), Errno::EAGAIN);
    assert_eq!(a.poll() & POLLOUT, 0);
    let mut buf = vec![0u8; 1000];
    assert_eq!(b.read(&mut buf).unwrap(), 1000);
    assert_ne!(a.poll() & POLLOUT, 0);
}

#[test]
fn datagrams_keep_their_boundaries_and_truncate() {
    let (a, b) = pair(SOCK_DGRAM);
    a.write(b"first").unwrap();
    a.write(b"second").unwrap();
    a.write(b"").unwrap();
    assert_eq!(b.ioctl(FIONREAD, 0).unwrap(), IoctlReply::StoreInt(5));
    let mut buf = [0u8; 3];
    let r = end(&b).receive(&mut buf, false).unwrap();
    assert_eq!(r, Received { copied: 3, full: 5 });
    assert_eq!(&buf, b"fir");
    let mut buf = [0u8; 16];
    assert_eq!(b.read(&mut buf).unwrap(), 6);
    assert_eq!(&buf[..6], b"second");
    assert_eq!(b.read(&mut buf).unwrap(), 0, "an empty datagram");
    assert_eq!(b.read(&mut buf).unwrap_err(), Errno::EAGAIN);
    let huge = vec![0u8; UNIX_BUFFER + 1];
    assert_eq!(a.write(&huge).unwrap_err(), Errno::EMSGSIZE);
    drop(b);
    assert_eq!(a.write(b"x").unwrap_err(), Errno::ECONNREFUSED);
}

#[test]
fn seqpacket_is_messages_with_end_of_file() {
    let (a, b) = pair(SOCK_SEQPACKET);
    a.write(b"one").unwrap();
    drop(a);
    let mut buf = [0u8; 8];
    assert_eq!(b.read(&mut buf).unwrap(), 3);
    assert_eq!(b.read(&mut buf).unwrap(), 0);
    assert_ne!(b.poll() & POLLHUP, 0);
    assert_eq!(b.write(b"x").unwrap_err(), Errno::EPIPE);
}

#[test]
fn arguments_are_checked_as_linux_does() {
    let now = Timespec::default();
    assert_eq!(socketpair(4, 0, now).unwrap_err(), Errno::ESOCKTNOSUPPORT);
    assert_eq!(socketpair(12, 0, now).unwrap_err(), Errno::EINVAL);
    let (raw, _peer) = socketpair(3, 0, now).unwrap();
    assert_eq!(
        end(&raw).socket_type(),
        UnixType::Datagram,
        "SOCK_RAW is a datagram pair"
    );
    assert_eq!(
        socketpair(SOCK_STREAM, 6, now).unwrap_err(),
        Errno::EPROTONOSUPPORT
    );
    assert_eq!(
        socketpair(SOCK_STREAM | 0x100, 0, now).unwrap_err(),
        Errno::EINVAL
    );
    assert!(socketpair(SOCK_STREAM, AF_UNIX, now).is_ok());
    let (a, _b) = socketpair(SOCK_STREAM | SOCK_CLOEXEC, 0, now).unwrap();
    assert!(!a.nonblocking());
    assert_eq!(end(&a).socket_type(), UnixType::Stream);
}
