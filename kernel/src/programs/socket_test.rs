//! `init=socket-test`: the socket system calls from ring 3 over loopback (127.0.0.1): UDP and
//! TCP data, blocking calls that sleep and are woken, timeouts (`SO_RCVTIMEO`), `MSG_DONTWAIT`,
//! `poll`, non-blocking connect, names and options, and TCP's host-wide memory limit (many
//! connections nobody reads). Exits 0 only if every check passes.
//!
//! Needs the network runtime (a `NetSys` and a poll thread); without it every check reports
//! `ENETDOWN`. Runs in ring 3: only `crate::user` may be called.

use net::socket::{POLLIN, POLLOUT, SOL_SOCKET, SO_ERROR, SO_LINGER, SO_RCVTIMEO, SO_TYPE};
use net::Errno;

use crate::uprintln;
use crate::user::{self, PollFd, SockaddrIn};

type Check = (&'static str, fn() -> Result<(), &'static str>);

const CHECKS: &[Check] = &[
    ("udp datagram over loopback", udp_loopback),
    ("udp recv timeout and MSG_DONTWAIT", udp_timeouts),
    ("poll wakes on data", poll_wakes),
    ("tcp connect, accept, echo, close", tcp_echo),
    ("non-blocking connect completes", tcp_nonblocking_connect),
    (
        "tcp memory stays bounded when nobody reads",
        tcp_memory_bounded,
    ),
    (
        "SO_LINGER close waits until the peer has everything",
        tcp_linger_close,
    ),
];

const LOOPBACK: [u8; 4] = [127, 0, 0, 1];

pub fn main(_args: &[&str]) -> i32 {
    let mut failed = 0;
    for (name, check) in CHECKS {
        match check() {
            Ok(()) => uprintln!("socket-test: {name} ok"),
            Err(e) => {
                uprintln!("socket-test: FAIL {name}: {e}");
                failed += 1;
            }
        }
    }
    if failed == 0 {
        uprintln!("socket-test: all {} checks passed", CHECKS.len());
        0
    } else {
        1
    }
}

fn errno_text(ret: isize) -> &'static str {
    user::check(ret).err().map_or("no error", |e| e.name())
}

fn udp_socket() -> Result<i32, &'static str> {
    let fd = user::socket(user::AF_INET, user::SOCK_DGRAM, 0);
    if fd < 0 {
        uprintln!("socket-test: socket(SOCK_DGRAM): {}", errno_text(fd));
        return Err("socket(SOCK_DGRAM) failed");
    }
    Ok(fd as i32)
}

fn udp_loopback() -> Result<(), &'static str> {
    let rx = udp_socket()?;
    let tx = udp_socket()?;
    if user::bind(rx, &SockaddrIn::new(LOOPBACK, 5001)) != 0 {
        return Err("bind 127.0.0.1:5001 failed");
    }
    let mut name = SockaddrIn::default();
    if user::getsockname(rx, &mut name) != 0 || name.port() != 5001 {
        return Err("getsockname does not show port 5001");
    }
    let to = SockaddrIn::new(LOOPBACK, 5001);
    if user::sendto(tx, b"hello", 0, Some(&to)) != 5 {
        return Err("sendto did not send 5 bytes");
    }
    let mut buf = [0u8; 16];
    let mut from = SockaddrIn::default();
    let n = user::recvfrom(rx, &mut buf, 0, Some(&mut from));
    if n != 5 || &buf[..5] != b"hello" {
        uprintln!("socket-test: recvfrom -> {n} ({})", errno_text(n));
        return Err("blocking recvfrom did not return the datagram");
    }
    let mut txname = SockaddrIn::default();
    user::getsockname(tx, &mut txname);
    if from.ip() != LOOPBACK || from.port() != txname.port() {
        return Err("recvfrom's source address is not the sender");
    }
    let mut ty = [0u8; 4];
    if user::getsockopt(rx, SOL_SOCKET, SO_TYPE, &mut ty) != 4
        || i32::from_ne_bytes(ty) != user::SOCK_DGRAM
    {
        return Err("getsockopt(SO_TYPE) is not SOCK_DGRAM");
    }
    if user::close(rx) != 0 || user::close(tx) != 0 {
        return Err("close failed");
    }
    if user::close(rx) != user::neg(Errno::EBADF) {
        return Err("second close was not EBADF");
    }
    Ok(())
}

fn udp_timeouts() -> Result<(), &'static str> {
    let fd = udp_socket()?;
    if user::bind(fd, &SockaddrIn::new(LOOPBACK, 5002)) != 0 {
        return Err("bind failed");
    }
    let mut buf = [0u8; 8];
    let t0 = user::monotonic_ns();
    if user::recv(fd, &mut buf, user::MSG_DONTWAIT) != user::neg(Errno::EAGAIN) {
        return Err("recv(MSG_DONTWAIT) on an empty socket was not EAGAIN");
    }
    // struct timeval { 0 s, 50000 us }
    let mut tv = [0u8; 16];
    tv[8..].copy_from_slice(&50_000i64.to_ne_bytes());
    if user::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv) != 0 {
        return Err("setsockopt(SO_RCVTIMEO) failed");
    }
    let t1 = user::monotonic_ns();
    let r = user::recv(fd, &mut buf, 0);
    let waited = user::monotonic_ns() - t1;
    if r != user::neg(Errno::EAGAIN) {
        uprintln!("socket-test: recv with SO_RCVTIMEO -> {r}");
        return Err("recv past SO_RCVTIMEO was not EAGAIN");
    }
    if waited < 50_000_000 || t1 - t0 > 50_000_000 {
        uprintln!("socket-test: recv waited {} us", waited / 1000);
        return Err("MSG_DONTWAIT slept or SO_RCVTIMEO did not wait 50 ms");
    }
    user::close(fd);
    Ok(())
}

fn poll_wakes() -> Result<(), &'static str> {
    let rx = udp_socket()?;
    let tx = udp_socket()?;
    if user::bind(rx, &SockaddrIn::new(LOOPBACK, 5003)) != 0 {
        return Err("bind failed");
    }
    let mut pfd = [PollFd {
        fd: rx,
        events: POLLIN as i16,
        revents: 0,
    }];
    let t0 = user::monotonic_ns();
    if user::poll(&mut pfd, 30) != 0 || user::monotonic_ns() - t0 < 30_000_000 {
        return Err("poll on an empty socket did not time out after 30 ms");
    }
    SENDER_FD.store(tx as usize, core::sync::atomic::Ordering::SeqCst);
    if user::rt::spawn(delayed_sender, 5003) < 0 {
        return Err("spawn failed");
    }
    let t1 = user::monotonic_ns();
    let n = user::poll(&mut pfd, 5_000);
    let waited = user::monotonic_ns() - t1;
    if n != 1 || pfd[0].revents & POLLIN as i16 == 0 {
        return Err("poll did not report POLLIN after a datagram arrived");
    }
    if waited < 20_000_000 {
        return Err("poll returned before the datagram was sent");
    }
    user::close(rx);
    user::close(tx);
    Ok(())
}

#[link_section = ".user_data"]
static SENDER_FD: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

fn delayed_sender(port: usize) {
    user::sleep_ms(20);
    let fd = SENDER_FD.load(core::sync::atomic::Ordering::SeqCst) as i32;
    user::sendto(
        fd,
        b"wake",
        0,
        Some(&SockaddrIn::new(LOOPBACK, port as u16)),
    );
}

fn tcp_socket() -> Result<i32, &'static str> {
    let fd = user::socket(user::AF_INET, user::SOCK_STREAM, 0);
    if fd < 0 {
        uprintln!("socket-test: socket(SOCK_STREAM): {}", errno_text(fd));
        return Err("socket(SOCK_STREAM) failed");
    }
    Ok(fd as i32)
}

/// Accepts one connection on the listener `fd` and echoes until end of file.
fn echo_server(fd: usize) {
    let mut peer = SockaddrIn::default();
    let c = user::accept(fd as i32, Some(&mut peer));
    if c < 0 {
        uprintln!("socket-test: accept: {}", errno_text(c));
        return;
    }
    let mut buf = [0u8; 256];
    loop {
        let n = user::read(c as i32, &mut buf);
        if n <= 0 {
            break;
        }
        let mut off = 0;
        while off < n as usize {
            let w = user::write(c as i32, &buf[off..n as usize]);
            if w <= 0 {
                break;
            }
            off += w as usize;
        }
    }
    user::close(c as i32);
}

fn tcp_echo() -> Result<(), &'static str> {
    let l = tcp_socket()?;
    user::setsockopt_int(l, SOL_SOCKET, user::SO_REUSEADDR, 1);
    if user::bind(l, &SockaddrIn::new(LOOPBACK, 7007)) != 0 || user::listen(l, 4) != 0 {
        return Err("bind/listen on 127.0.0.1:7007 failed");
    }
    if user::rt::spawn(echo_server, l as usize) < 0 {
        return Err("spawn failed");
    }
    let c = tcp_socket()?;
    let r = user::connect(c, &SockaddrIn::new(LOOPBACK, 7007));
    if r != 0 {
        uprintln!("socket-test: connect: {}", errno_text(r));
        return Err("blocking connect failed");
    }
    let mut peer = SockaddrIn::default();
    if user::getpeername(c, &mut peer) != 0 || peer.port() != 7007 {
        return Err("getpeername does not show port 7007");
    }
    let msg = b"ping over loopback";
    if user::write(c, msg) != msg.len() as isize {
        return Err("write did not take the whole message");
    }
    let mut back = [0u8; 64];
    let mut got = 0;
    while got < msg.len() {
        let n = user::read(c, &mut back[got..]);
        if n <= 0 {
            uprintln!("socket-test: read -> {n} ({})", errno_text(n));
            return Err("read ended before the echo came back");
        }
        got += n as usize;
    }
    if &back[..got] != msg {
        return Err("the echo differs");
    }
    if user::shutdown(c, user::SHUT_WR) != 0 {
        return Err("shutdown(SHUT_WR) failed");
    }
    // The server sees end of file, closes; we see end of file too.
    let n = user::read(c, &mut back);
    if n != 0 {
        uprintln!("socket-test: read after shutdown -> {n}");
        return Err("no end of file after the server closed");
    }
    user::close(c);
    user::close(l);
    Ok(())
}

fn tcp_nonblocking_connect() -> Result<(), &'static str> {
    let l = tcp_socket()?;
    if user::bind(l, &SockaddrIn::new(LOOPBACK, 7008)) != 0 || user::listen(l, 4) != 0 {
        return Err("bind/listen on 127.0.0.1:7008 failed");
    }
    let c = user::socket(user::AF_INET, user::SOCK_STREAM | user::SOCK_NONBLOCK, 0);
    if c < 0 {
        return Err("socket(SOCK_NONBLOCK) failed");
    }
    let c = c as i32;
    let r = user::connect(c, &SockaddrIn::new(LOOPBACK, 7008));
    if r != 0 && r != user::neg(Errno::EINPROGRESS) {
        uprintln!("socket-test: non-blocking connect: {}", errno_text(r));
        return Err("non-blocking connect neither connected nor said EINPROGRESS");
    }
    let mut pfd = [PollFd {
        fd: c,
        events: POLLOUT as i16,
        revents: 0,
    }];
    if user::poll(&mut pfd, 5_000) != 1 || pfd[0].revents & POLLOUT as i16 == 0 {
        return Err("poll never reported the connection writable");
    }
    let mut err = [0xffu8; 4];
    if user::getsockopt(c, SOL_SOCKET, SO_ERROR, &mut err) != 4 || err != [0; 4] {
        return Err("SO_ERROR after connecting is not 0");
    }
    let a = user::accept4(l, None, user::SOCK_NONBLOCK);
    if a < 0 {
        uprintln!("socket-test: accept4: {}", errno_text(a));
        return Err("accept4 after the connection completed failed");
    }
    if user::fcntl(a as i32, user::F_GETFL, 0) & user::O_NONBLOCK as isize == 0 {
        return Err("accept4(SOCK_NONBLOCK) socket is blocking");
    }
    user::close(a as i32);
    user::close(c);
    user::close(l);
    Ok(())
}

/// Connections of the memory check. Their per-socket buffers (512 KiB send + 256 KiB
/// receive) add up to 72 MiB, more than the guest's RAM allows TCP (a quarter of it).
const FLOOD_CONNS: usize = 96;
/// Stream byte `off` of flood connection `i`: position-dependent, different per connection.
fn flood_byte(i: usize, off: u64) -> u8 {
    ((off as u32)
        .wrapping_mul(2_654_435_761)
        .wrapping_add(i as u32 * 40_503)
        >> 24) as u8
}

/// Open `FLOOD_CONNS` loopback connections, write on every one without reading until the
/// stack refuses (`EAGAIN`), and check the writers were held back well before their socket
/// buffers filled: TCP's host-wide limit, not the heap, stopped them. Then read every stream
/// back and check each byte: nothing accepted was lost.
fn tcp_memory_bounded() -> Result<(), &'static str> {
    const PORT: u16 = 7010;
    let l = tcp_socket()?;
    user::setsockopt_int(l, SOL_SOCKET, user::SO_REUSEADDR, 1);
    if user::bind(l, &SockaddrIn::new(LOOPBACK, PORT)) != 0
        || user::listen(l, FLOOD_CONNS as i32) != 0
    {
        return Err("bind/listen on 127.0.0.1:7010 failed");
    }
    let mut clients = [0i32; FLOOD_CONNS];
    let mut servers = [0i32; FLOOD_CONNS];
    for c in clients.iter_mut() {
        *c = tcp_socket()?;
        if user::connect(*c, &SockaddrIn::new(LOOPBACK, PORT)) != 0 {
            return Err("connect to 127.0.0.1:7010 failed");
        }
    }
    // Pair each accepted socket with its client by port.
    for _ in 0..FLOOD_CONNS {
        let mut peer = SockaddrIn::default();
        let a = user::accept(l, Some(&mut peer));
        if a < 0 {
            uprintln!("socket-test: accept: {}", errno_text(a));
            return Err("accept failed");
        }
        let i = clients
            .iter()
            .position(|&c| {
                let mut name = SockaddrIn::default();
                user::getsockname(c, &mut name) == 0 && name.port() == peer.port()
            })
            .ok_or("an accepted connection matches no client")?;
        servers[i] = a as i32;
    }
    // Flood: write until three rounds in a row, 50 ms apart, took nothing.
    let mut written = [0u64; FLOOD_CONNS];
    let mut chunk = [0u8; 4096];
    let mut refused = 0u64;
    let mut idle_rounds = 0;
    while idle_rounds < 3 {
        let mut moved = false;
        for (i, &c) in clients.iter().enumerate() {
            loop {
                for (k, b) in chunk.iter_mut().enumerate() {
                    *b = flood_byte(i, written[i] + k as u64);
                }
                let n = user::send(c, &chunk, user::MSG_DONTWAIT);
                if n == user::neg(Errno::EAGAIN) {
                    refused += 1;
                    break;
                }
                if n <= 0 {
                    uprintln!("socket-test: flood send: {}", errno_text(n));
                    return Err("send failed during the flood");
                }
                written[i] += n as u64;
                moved = true;
            }
        }
        idle_rounds = if moved { 0 } else { idle_rounds + 1 };
        user::sleep_ms(50);
    }
    let total: u64 = written.iter().sum();
    let buffers = FLOOD_CONNS as u64 * (512 + 256) * 1024;
    uprintln!(
        "socket-test: {FLOOD_CONNS} unread connections took {} KiB of their {} KiB of socket buffers",
        total / 1024,
        buffers / 1024
    );
    if refused == 0 || total * 2 > buffers {
        return Err("writers were not held back by the memory limit");
    }
    // Drain: every byte written comes back, in order.
    let mut buf = [0u8; 4096];
    for i in 0..FLOOD_CONNS {
        let mut got = 0u64;
        while got < written[i] {
            let want = (written[i] - got).min(buf.len() as u64) as usize;
            let n = user::read(servers[i], &mut buf[..want]);
            if n <= 0 {
                uprintln!("socket-test: drain read -> {} ({})", n, errno_text(n));
                return Err("a stream ended before its bytes were read back");
            }
            if (0..n as usize).any(|k| buf[k] != flood_byte(i, got + k as u64)) {
                return Err("a flooded stream came back corrupted");
            }
            got += n as u64;
        }
        user::close(clients[i]);
        user::close(servers[i]);
    }
    user::close(l);
    Ok(())
}

/// SO_LINGER on with a timeout: `close` returns only once the peer's stack acknowledged all
/// the data and the FIN, so right after it the peer reads everything and end of file without
/// ever waiting (`MSG_DONTWAIT` never says `EAGAIN`). Without the wait, most of the 192 KiB
/// would still be in flight (the window opens over several round trips).
fn tcp_linger_close() -> Result<(), &'static str> {
    const PORT: u16 = 7011;
    const LEN: usize = 192 * 1024;
    let l = tcp_socket()?;
    user::setsockopt_int(l, SOL_SOCKET, user::SO_REUSEADDR, 1);
    if user::bind(l, &SockaddrIn::new(LOOPBACK, PORT)) != 0 || user::listen(l, 1) != 0 {
        return Err("bind/listen on 127.0.0.1:7011 failed");
    }
    let c = tcp_socket()?;
    if user::connect(c, &SockaddrIn::new(LOOPBACK, PORT)) != 0 {
        return Err("connect to 127.0.0.1:7011 failed");
    }
    let a = user::accept(l, None);
    if a < 0 {
        return Err("accept failed");
    }
    let a = a as i32;
    let mut linger = [0u8; 8];
    linger[..4].copy_from_slice(&1i32.to_ne_bytes());
    linger[4..].copy_from_slice(&5i32.to_ne_bytes());
    if user::setsockopt(c, SOL_SOCKET, SO_LINGER, &linger) != 0 {
        return Err("setsockopt(SO_LINGER) failed");
    }
    let mut chunk = [0u8; 4096];
    let mut sent = 0usize;
    while sent < LEN {
        for (k, b) in chunk.iter_mut().enumerate() {
            *b = flood_byte(1, (sent + k) as u64);
        }
        if user::write_all(c, &chunk).is_err() {
            return Err("write failed");
        }
        sent += chunk.len();
    }
    let t0 = user::monotonic_ns();
    if user::close(c) != 0 {
        return Err("close failed");
    }
    let waited_ms = (user::monotonic_ns() - t0) / 1_000_000;
    let mut got = 0usize;
    let mut buf = [0u8; 4096];
    loop {
        let n = user::recv(a, &mut buf, user::MSG_DONTWAIT);
        if n == 0 {
            break;
        }
        if n < 0 {
            uprintln!(
                "socket-test: after a {waited_ms} ms lingering close, read {got} of {LEN}: {}",
                errno_text(n)
            );
            return Err("the peer did not have everything when close returned");
        }
        if (0..n as usize).any(|k| buf[k] != flood_byte(1, (got + k) as u64)) {
            return Err("lingered stream corrupted");
        }
        got += n as usize;
    }
    if got != LEN {
        return Err("end of file before all the data");
    }
    user::close(a);
    user::close(l);
    Ok(())
}
