//! The TCP checks: connect, accept, echo and close; a non-blocking connect; TCP's host-wide
//! memory limit holding back writers nobody reads; and a lingering close.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::thread;
use std::time::{Duration, Instant};

use progkit::sys::{self, sockaddr_in};
use progkit::{on_rinet, CheckResult, Errno};

use crate::{port, Port};

/// A listener on 127.0.0.1:`p` with `SO_REUSEADDR`, with room for `backlog` pending
/// connections (made with the raw calls: std picks its own backlog).
fn listen(p: u16, backlog: i32) -> Result<TcpListener, String> {
    let fd = sys::socket(libc::AF_INET, libc::SOCK_STREAM)
        .map_err(|e| format!("socket(SOCK_STREAM): {}", e.name()))?;
    let fd = owned(fd);
    let _ = sys::setsockopt_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1);
    sys::bind(fd.as_raw_fd(), &sockaddr_in([127, 0, 0, 1], p))
        .and_then(|_| sys::listen(fd.as_raw_fd(), backlog))
        .map_err(|e| format!("bind/listen on 127.0.0.1:{p}: {}", e.name()))?;
    Ok(TcpListener::from(fd))
}

fn connect(p: u16) -> Result<TcpStream, String> {
    TcpStream::connect((Ipv4Addr::LOCALHOST, p)).map_err(|e| format!("connect to {p}: {e}"))
}

/// Accepts one connection on `l` and echoes until end of file.
fn echo_server(l: TcpListener) -> std::io::Result<()> {
    let (mut c, _) = l.accept()?;
    let mut buf = [0u8; 256];
    loop {
        let n = c.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        c.write_all(&buf[..n])?;
    }
}

pub fn tcp_echo() -> CheckResult {
    let p = port(Port::TcpEcho);
    let l = listen(p, 4)?;
    let server = thread::spawn(move || echo_server(l));
    let mut c = connect(p)?;
    match c.peer_addr() {
        Ok(a) if a.port() == p => {}
        other => return Err(format!("getpeername shows {other:?}, not port {p}")),
    }
    let msg = b"ping over loopback";
    if c.write(msg).map_err(|e| format!("write: {e}"))? != msg.len() {
        return Err("write did not take the whole message".into());
    }
    let mut back = [0u8; 64];
    c.read_exact(&mut back[..msg.len()])
        .map_err(|e| format!("read before the echo came back: {e}"))?;
    if &back[..msg.len()] != msg {
        return Err("the echo differs".into());
    }
    c.shutdown(Shutdown::Write)
        .map_err(|e| format!("shutdown(SHUT_WR): {e}"))?;
    // The server sees end of file, closes; we see end of file too.
    match c.read(&mut back) {
        Ok(0) => {}
        other => return Err(format!("read after the server closed: {other:?}, not 0")),
    }
    match server.join() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("echo server: {e}")),
        Err(_) => Err("the echo server thread panicked".into()),
    }
}

pub fn nonblocking_connect() -> CheckResult {
    let p = port(Port::NonblockingConnect);
    let l = listen(p, 4)?;
    let c = sys::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK)
        .map_err(|e| format!("socket(SOCK_NONBLOCK): {}", e.name()))?;
    let c = owned(c);
    match sys::connect(c.as_raw_fd(), &sockaddr_in([127, 0, 0, 1], p)) {
        Ok(_) | Err(Errno::EINPROGRESS) => {}
        Err(e) => {
            return Err(format!(
                "non-blocking connect neither connected nor said EINPROGRESS: {}",
                e.name()
            ))
        }
    }
    let mut pfd = [sys::pollfd(c.as_raw_fd(), libc::POLLOUT)];
    if sys::poll(&mut pfd, 5_000) != Ok(1) || pfd[0].revents & libc::POLLOUT == 0 {
        return Err("poll never reported the connection writable".into());
    }
    if sys::getsockopt_int(c.as_raw_fd(), libc::SOL_SOCKET, libc::SO_ERROR) != Ok(0) {
        return Err("SO_ERROR after connecting is not 0".into());
    }
    let (a, _) = sys::accept4(l.as_raw_fd(), libc::SOCK_NONBLOCK)
        .map_err(|e| format!("accept4 after the connection completed: {}", e.name()))?;
    let a = owned(a);
    let flags = sys::fcntl(a.as_raw_fd(), libc::F_GETFL, 0)
        .map_err(|e| format!("fcntl(F_GETFL): {}", e.name()))?;
    if flags & libc::O_NONBLOCK as usize == 0 {
        return Err("accept4(SOCK_NONBLOCK) socket is blocking".into());
    }
    Ok(())
}

/// Takes ownership of a descriptor `sys` just returned, so it is closed on every path.
fn owned(fd: i32) -> OwnedFd {
    // SAFETY: `fd` was just returned by socket/accept4 and nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// Connections of the memory check. Their per-socket buffers in rinet (512 KiB send + 256
/// KiB receive) add up to 72 MiB, more than the guest's RAM allows TCP (a quarter of it).
const FLOOD_CONNS: usize = 96;

/// Stream byte `off` of flood connection `i`: position-dependent, different per connection.
fn flood_byte(i: usize, off: u64) -> u8 {
    ((off as u32)
        .wrapping_mul(2_654_435_761)
        .wrapping_add(i as u32 * 40_503)
        >> 24) as u8
}

/// Opens `FLOOD_CONNS` loopback connections, writes on every one without reading until the
/// stack refuses (`EAGAIN`), and checks the writers were held back well before their socket
/// buffers filled: TCP's host-wide limit, not the heap, stopped them. Then reads every stream
/// back and checks each byte: nothing accepted was lost.
pub fn memory_bounded() -> CheckResult {
    let p = port(Port::MemoryBounded);
    let l = listen(p, FLOOD_CONNS as i32)?;
    let mut clients = Vec::with_capacity(FLOOD_CONNS);
    for _ in 0..FLOOD_CONNS {
        clients.push(connect(p)?);
    }
    // Pair each accepted socket with its client by port.
    let mut servers: Vec<Option<TcpStream>> = (0..FLOOD_CONNS).map(|_| None).collect();
    for _ in 0..FLOOD_CONNS {
        let (a, peer) = l.accept().map_err(|e| format!("accept: {e}"))?;
        let i = clients
            .iter()
            .position(|c| c.local_addr().ok() == Some(peer))
            .ok_or("an accepted connection matches no client")?;
        servers[i] = Some(a);
    }
    // Flood: write until three rounds in a row, 50 ms apart, took nothing.
    let mut written = [0u64; FLOOD_CONNS];
    let mut chunk = [0u8; 4096];
    let mut refused = 0u64;
    let mut idle_rounds = 0;
    while idle_rounds < 3 {
        let mut moved = false;
        for (i, c) in clients.iter().enumerate() {
            loop {
                for (k, b) in chunk.iter_mut().enumerate() {
                    *b = flood_byte(i, written[i] + k as u64);
                }
                match sys::send(c.as_raw_fd(), &chunk, libc::MSG_DONTWAIT) {
                    Err(Errno::EAGAIN) => {
                        refused += 1;
                        break;
                    }
                    Ok(n) if n > 0 => {
                        written[i] += n as u64;
                        moved = true;
                    }
                    other => return Err(format!("send during the flood: {}", sys::name(other))),
                }
            }
        }
        idle_rounds = if moved { 0 } else { idle_rounds + 1 };
        thread::sleep(Duration::from_millis(50));
    }
    let total: u64 = written.iter().sum();
    let buffers = FLOOD_CONNS as u64 * (512 + 256) * 1024;
    println!(
        "socket-test: {FLOOD_CONNS} unread connections took {} KiB of their {} KiB of socket buffers",
        total / 1024,
        buffers / 1024
    );
    if refused == 0 {
        return Err("no send was ever refused with EAGAIN".into());
    }
    // rinet's limit: a quarter of RAM for all of TCP, so a small guest holds the writers back
    // long before their buffers fill. A Linux host's limit (tcp_mem) is sized for its far
    // larger RAM and its buffers autotune to megabytes: there the flood fills them.
    if on_rinet() && total * 2 > buffers {
        return Err("writers were not held back by the memory limit".into());
    }
    // Drain: every byte written comes back, in order.
    let mut buf = [0u8; 4096];
    for (i, s) in servers.iter_mut().enumerate() {
        let s = s.as_mut().ok_or("a client was never accepted")?;
        let mut got = 0u64;
        while got < written[i] {
            let want = (written[i] - got).min(buf.len() as u64) as usize;
            let n = s
                .read(&mut buf[..want])
                .map_err(|e| format!("drain read: {e}"))?;
            if n == 0 {
                return Err("a stream ended before its bytes were read back".into());
            }
            if (0..n).any(|k| buf[k] != flood_byte(i, got + k as u64)) {
                return Err("a flooded stream came back corrupted".into());
            }
            got += n as u64;
        }
    }
    Ok(())
}

/// `SO_LINGER` on with a timeout: `close` returns only once the peer's stack acknowledged all
/// the data and the FIN, so right after it the peer reads everything and end of file without
/// ever waiting (`MSG_DONTWAIT` never says `EAGAIN`). Without the wait, most of the 192 KiB
/// would still be in flight (the window opens over several round trips).
pub fn linger_close() -> CheckResult {
    const LEN: usize = 192 * 1024;
    let p = port(Port::Linger);
    let l = listen(p, 1)?;
    let c = connect(p)?;
    let (a, _) = l.accept().map_err(|e| format!("accept: {e}"))?;
    // struct linger { l_onoff = 1, l_linger = 5 s }
    let mut linger = [0u8; 8];
    linger[..4].copy_from_slice(&1i32.to_ne_bytes());
    linger[4..].copy_from_slice(&5i32.to_ne_bytes());
    sys::setsockopt(c.as_raw_fd(), libc::SOL_SOCKET, libc::SO_LINGER, &linger)
        .map_err(|e| format!("setsockopt(SO_LINGER): {}", e.name()))?;
    let mut chunk = [0u8; 4096];
    let mut sent = 0usize;
    let mut c = c;
    while sent < LEN {
        for (k, b) in chunk.iter_mut().enumerate() {
            *b = flood_byte(1, (sent + k) as u64);
        }
        c.write_all(&chunk).map_err(|e| format!("write: {e}"))?;
        sent += chunk.len();
    }
    let t0 = Instant::now();
    let fd = std::os::fd::IntoRawFd::into_raw_fd(c);
    sys::close(fd).map_err(|e| format!("close: {}", e.name()))?;
    let waited = t0.elapsed();
    let mut got = 0usize;
    let mut buf = [0u8; 4096];
    loop {
        let n = match sys::recv(a.as_raw_fd(), &mut buf, libc::MSG_DONTWAIT) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => {
                return Err(format!(
                    "the peer did not have everything when close returned: after a {waited:?} \
                     lingering close, read {got} of {LEN}: {}",
                    e.name()
                ))
            }
        };
        if (0..n).any(|k| buf[k] != flood_byte(1, (got + k) as u64)) {
            return Err("lingered stream corrupted".into());
        }
        got += n;
    }
    if got != LEN {
        return Err(format!("end of file after {got} of {LEN} bytes"));
    }
    Ok(())
}
