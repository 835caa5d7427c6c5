//! `init=selftest [-- HOST PORT]`: in-guest tests of the socket layer, over loopback against the
//! `services` program it starts, and (with HOST PORT: an echo server reachable through the NIC)
//! over the NIC: TCP and UDP echo round trips, large transfers, many simultaneous connections,
//! chargen's pattern, and every errno path. Prints `selftest: <check> ok` per check and exits
//! 0 (QEMU status 33) only if all pass. Runs in ring 3: only `crate::user` may be called.

use core::net::Ipv4Addr;

use net::socket::{SOL_TCP, SO_ERROR, TCP_NODELAY};
use net::Errno;

use super::services::{chargen_fill, CHARGEN_PORT, DISCARD_PORT, ECHO_PORT};
use crate::uprintln;
use crate::user::{self, PollFd, SockaddrIn};

const LOCALHOST: [u8; 4] = [127, 0, 0, 1];
/// Simultaneous connections in the concurrency check.
const CONNECTIONS: usize = 64;
/// Bytes pushed through echo in the large-transfer check.
const LARGE: usize = 4 * 1024 * 1024;

type Check = (&'static str, fn() -> Result<(), &'static str>);

const CHECKS: &[Check] = &[
    ("tcp echo round trip over loopback", tcp_echo_small),
    ("tcp large transfer through echo", tcp_echo_large),
    ("many simultaneous connections", many_connections),
    ("udp echo round trip", udp_echo),
    ("chargen pattern", chargen_pattern),
    ("discard swallows a megabyte", discard_megabyte),
    ("EBADF", ebadf),
    ("ENOTSOCK", enotsock),
    ("EINVAL", einval),
    ("ECONNREFUSED", econnrefused),
    ("EADDRINUSE", eaddrinuse),
    ("EAGAIN", eagain),
    ("EINPROGRESS, then poll and SO_ERROR", einprogress),
    ("ENOTCONN", enotconn),
    ("EPIPE", epipe),
    ("EMFILE", emfile),
    ("EFAULT", efault),
    ("ENOSYS", enosys),
];

/// Arguments for the NIC check (set once by `main`, before any thread starts).
#[link_section = ".user_data"]
static NIC_PEER: spin::Once<([u8; 4], u16)> = spin::Once::new();

pub fn main(args: &[&str]) -> i32 {
    if user::program_spawn("services") < 0 {
        uprintln!("selftest: FAIL cannot start services");
        return 1;
    }
    if wait_for_echo().is_err() {
        uprintln!("selftest: FAIL services never answered on 127.0.0.1:7");
        return 1;
    }
    if let (Some(h), Some(p)) = (args.first(), args.get(1)) {
        match (h.parse::<Ipv4Addr>(), p.parse::<u16>()) {
            (Ok(ip), Ok(port)) => {
                NIC_PEER.call_once(|| (ip.octets(), port));
            }
            _ => {
                uprintln!("selftest: FAIL usage: selftest [-- HOST PORT]");
                return 1;
            }
        }
    }
    let mut failed = 0;
    let nic: &[Check] = &[("tcp echo over the NIC", nic_echo)];
    let extra = if NIC_PEER.get().is_some() { nic } else { &[] };
    for (name, check) in CHECKS.iter().chain(extra) {
        match check() {
            Ok(()) => uprintln!("selftest: {name} ok"),
            Err(detail) => {
                uprintln!("selftest: FAIL {name}: {detail}");
                failed += 1;
            }
        }
    }
    if failed == 0 {
        uprintln!("selftest: all checks passed");
        0
    } else {
        uprintln!("selftest: {failed} checks failed");
        1
    }
}

fn errno(ret: isize) -> Option<Errno> {
    (ret < 0).then(|| Errno::from_code((-ret) as i32)).flatten()
}

fn expect_errno(ret: isize, want: Errno, what: &'static str) -> Result<(), &'static str> {
    if errno(ret) == Some(want) {
        Ok(())
    } else {
        uprintln!("selftest: {what}: got {ret}, want -{}", want.name());
        Err(what)
    }
}

fn tcp_connect(ip: [u8; 4], port: u16) -> Result<i32, &'static str> {
    let fd = user::socket(user::AF_INET, user::SOCK_STREAM, 0);
    if fd < 0 {
        return Err("socket failed");
    }
    let fd = fd as i32;
    if user::connect(fd, &SockaddrIn::new(ip, port)) < 0 {
        user::close(fd);
        return Err("connect failed");
    }
    Ok(fd)
}

fn wait_for_echo() -> Result<(), &'static str> {
    for _ in 0..200 {
        if let Ok(fd) = tcp_connect(LOCALHOST, ECHO_PORT) {
            user::close(fd);
            return Ok(());
        }
        user::sleep_ms(10);
    }
    Err("no echo service")
}

fn write_all(fd: i32, data: &[u8]) -> Result<(), &'static str> {
    user::write_all(fd, data).map_err(|_| "write failed")
}

fn read_exact(fd: i32, buf: &mut [u8]) -> Result<(), &'static str> {
    user::read_exact(fd, buf).map_err(|r| {
        if r == 0 {
            "connection closed early"
        } else {
            "read failed"
        }
    })
}

/// Push `total` bytes through an echo connection in chunks and compare what comes back.
fn echo_through(fd: i32, total: usize, seed: u8) -> Result<(), &'static str> {
    let mut out = [0u8; 8192];
    let mut back = [0u8; 8192];
    let mut done = 0;
    while done < total {
        let len = out.len().min(total - done);
        for (i, b) in out[..len].iter_mut().enumerate() {
            *b = ((done + i) as u8).wrapping_mul(7) ^ seed;
        }
        write_all(fd, &out[..len])?;
        read_exact(fd, &mut back[..len])?;
        if back[..len] != out[..len] {
            return Err("echoed bytes differ");
        }
        done += len;
    }
    Ok(())
}

fn tcp_echo_small() -> Result<(), &'static str> {
    let fd = tcp_connect(LOCALHOST, ECHO_PORT)?;
    let r = echo_through(fd, 13, 1);
    user::close(fd);
    r
}

fn tcp_echo_large() -> Result<(), &'static str> {
    let fd = tcp_connect(LOCALHOST, ECHO_PORT)?;
    user::setsockopt_int(fd, SOL_TCP, TCP_NODELAY, 1);
    let r = echo_through(fd, LARGE, 2);
    user::close(fd);
    r
}

fn many_connections() -> Result<(), &'static str> {
    let mut fds = [-1i32; CONNECTIONS];
    let mut result = Ok(());
    for slot in fds.iter_mut() {
        match tcp_connect(LOCALHOST, ECHO_PORT) {
            Ok(fd) => *slot = fd,
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    if result.is_ok() {
        for (i, &fd) in fds.iter().enumerate() {
            let msg = [i as u8; 100];
            if let Err(e) = write_all(fd, &msg) {
                result = Err(e);
                break;
            }
        }
    }
    if result.is_ok() {
        for (i, &fd) in fds.iter().enumerate() {
            let mut back = [0u8; 100];
            if let Err(e) = read_exact(fd, &mut back) {
                result = Err(e);
                break;
            }
            if back != [i as u8; 100] {
                result = Err("a connection got another's bytes");
                break;
            }
        }
    }
    for fd in fds.into_iter().filter(|&fd| fd >= 0) {
        user::close(fd);
    }
    result
}

fn udp_echo() -> Result<(), &'static str> {
    let fd = user::socket(user::AF_INET, user::SOCK_DGRAM, 0) as i32;
    if fd < 0 {
        return Err("socket failed");
    }
    let to = SockaddrIn::new(LOCALHOST, ECHO_PORT);
    let msg = b"rinet udp echo";
    let mut result = Err("no reply");
    for _ in 0..5 {
        user::sendto(fd, msg, 0, Some(&to));
        let mut pfd = [PollFd {
            fd,
            events: user::POLLIN as i16,
            revents: 0,
        }];
        if user::poll(&mut pfd, 500) <= 0 {
            continue;
        }
        let mut buf = [0u8; 64];
        let mut from = SockaddrIn::default();
        let n = user::recvfrom(fd, &mut buf, 0, Some(&mut from));
        result = if n as usize == msg.len() && &buf[..msg.len()] == msg && from.port() == ECHO_PORT
        {
            Ok(())
        } else {
            Err("wrong reply")
        };
        break;
    }
    user::close(fd);
    result
}

fn chargen_pattern() -> Result<(), &'static str> {
    let fd = tcp_connect(LOCALHOST, CHARGEN_PORT)?;
    let mut got = [0u8; 3000];
    let r = read_exact(fd, &mut got);
    user::close(fd);
    r?;
    let mut want = [0u8; 3000];
    chargen_fill(&mut want, 0);
    if got == want {
        Ok(())
    } else {
        Err("pattern differs from RFC 864")
    }
}

fn discard_megabyte() -> Result<(), &'static str> {
    let fd = tcp_connect(LOCALHOST, DISCARD_PORT)?;
    let chunk = [0x5au8; 8192];
    let mut r = Ok(());
    for _ in 0..128 {
        if let Err(e) = write_all(fd, &chunk) {
            r = Err(e);
            break;
        }
    }
    if r.is_ok() {
        user::shutdown(fd, user::SHUT_WR);
        let mut buf = [0u8; 16];
        let n = user::read(fd, &mut buf);
        if n != 0 {
            r = Err("discard sent something back or failed instead of closing");
        }
    }
    user::close(fd);
    r
}

fn ebadf() -> Result<(), &'static str> {
    expect_errno(user::close(99), Errno::EBADF, "close(99)")?;
    let mut b = [0u8; 4];
    expect_errno(user::read(77, &mut b), Errno::EBADF, "read(77)")
}

fn enotsock() -> Result<(), &'static str> {
    expect_errno(
        user::bind(1, &SockaddrIn::new(LOCALHOST, 1234)),
        Errno::ENOTSOCK,
        "bind(stdout)",
    )
}

fn einval() -> Result<(), &'static str> {
    let fd = user::socket(user::AF_INET, user::SOCK_STREAM, 0) as i32;
    user::bind(fd, &SockaddrIn::new(LOCALHOST, 0));
    let r = expect_errno(
        user::bind(fd, &SockaddrIn::new(LOCALHOST, 0)),
        Errno::EINVAL,
        "second bind",
    );
    let r2 = expect_errno(user::shutdown(fd, 7), Errno::EINVAL, "shutdown(how=7)");
    user::close(fd);
    r.and(r2)
}

fn econnrefused() -> Result<(), &'static str> {
    let fd = user::socket(user::AF_INET, user::SOCK_STREAM, 0) as i32;
    let r = expect_errno(
        user::connect(fd, &SockaddrIn::new(LOCALHOST, 1)),
        Errno::ECONNREFUSED,
        "connect to a closed port",
    );
    user::close(fd);
    r
}

fn eaddrinuse() -> Result<(), &'static str> {
    let fd = user::socket(user::AF_INET, user::SOCK_STREAM, 0) as i32;
    let r = expect_errno(
        user::bind(fd, &SockaddrIn::new([0; 4], ECHO_PORT)),
        Errno::EADDRINUSE,
        "bind to echo's port",
    );
    user::close(fd);
    r
}

fn eagain() -> Result<(), &'static str> {
    let fd = tcp_connect(LOCALHOST, ECHO_PORT)?;
    let mut b = [0u8; 8];
    let r = expect_errno(
        user::recv(fd, &mut b, user::MSG_DONTWAIT),
        Errno::EAGAIN,
        "recv with nothing queued",
    );
    user::close(fd);
    r
}

fn einprogress() -> Result<(), &'static str> {
    let fd = user::socket(user::AF_INET, user::SOCK_STREAM | user::SOCK_NONBLOCK, 0) as i32;
    let mut r = expect_errno(
        user::connect(fd, &SockaddrIn::new(LOCALHOST, ECHO_PORT)),
        Errno::EINPROGRESS,
        "non-blocking connect",
    );
    if r.is_ok() {
        let mut pfd = [PollFd {
            fd,
            events: user::POLLOUT as i16,
            revents: 0,
        }];
        if user::poll(&mut pfd, 2000) != 1 || pfd[0].revents & user::POLLOUT as i16 == 0 {
            r = Err("poll did not report the connection writable");
        } else {
            let mut e = [0xffu8; 4];
            user::getsockopt(fd, user::SOL_SOCKET, SO_ERROR, &mut e);
            if i32::from_ne_bytes(e) != 0 {
                r = Err("SO_ERROR is not 0 after a successful connect");
            }
        }
    }
    user::close(fd);
    r?;
    // And a refused one reports through SO_ERROR.
    let fd = user::socket(user::AF_INET, user::SOCK_STREAM | user::SOCK_NONBLOCK, 0) as i32;
    user::connect(fd, &SockaddrIn::new(LOCALHOST, 2));
    let mut pfd = [PollFd {
        fd,
        events: user::POLLOUT as i16,
        revents: 0,
    }];
    user::poll(&mut pfd, 2000);
    let mut e = [0u8; 4];
    user::getsockopt(fd, user::SOL_SOCKET, SO_ERROR, &mut e);
    user::close(fd);
    if i32::from_ne_bytes(e) == Errno::ECONNREFUSED.code() {
        Ok(())
    } else {
        Err("SO_ERROR is not ECONNREFUSED after a refused connect")
    }
}

fn enotconn() -> Result<(), &'static str> {
    let fd = user::socket(user::AF_INET, user::SOCK_STREAM, 0) as i32;
    let mut b = [0u8; 8];
    let r = expect_errno(
        user::recv(fd, &mut b, 0),
        Errno::ENOTCONN,
        "recv on an unconnected socket",
    );
    user::close(fd);
    r
}

fn epipe() -> Result<(), &'static str> {
    let fd = tcp_connect(LOCALHOST, DISCARD_PORT)?;
    user::shutdown(fd, user::SHUT_WR);
    let r = expect_errno(
        user::send(fd, b"late", net::socket::MSG_NOSIGNAL),
        Errno::EPIPE,
        "send after shutdown",
    );
    user::close(fd);
    r
}

fn emfile() -> Result<(), &'static str> {
    let mut opened = 0usize;
    let mut last = 0isize;
    for _ in 0..4096 {
        last = user::socket(user::AF_INET, user::SOCK_DGRAM, 0);
        if last < 0 {
            break;
        }
        opened += 1;
    }
    // Close what we opened: the descriptors above the ones in use before.
    let mut closed = 0;
    for fd in (3..4096).rev() {
        if closed == opened {
            break;
        }
        if user::close(fd) == 0 {
            closed += 1;
        }
    }
    expect_errno(last, Errno::EMFILE, "socket past the descriptor limit")
}

fn efault() -> Result<(), &'static str> {
    let fd = tcp_connect(LOCALHOST, ECHO_PORT)?;
    // write(fd, (void *)8, 16): an address no program owns.
    let r = expect_errno(
        user::syscall3(1, fd as u64, 8, 16),
        Errno::EFAULT,
        "write from address 8",
    );
    user::close(fd);
    r
}

fn enosys() -> Result<(), &'static str> {
    expect_errno(user::syscall0(999), Errno::ENOSYS, "syscall 999")
}

fn nic_echo() -> Result<(), &'static str> {
    let &(ip, port) = NIC_PEER.get().ok_or("no peer given")?;
    let fd = tcp_connect(ip, port)?;
    let r = echo_through(fd, 256 * 1024, 3);
    user::close(fd);
    r
}
