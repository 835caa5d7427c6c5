//! `init=services` (the default program): the classic inetd services over TCP and UDP — echo
//! on port 7 (RFC 862), discard on 9 (RFC 863) and chargen on 19 (RFC 864) — each serving many
//! clients at once, one thread per TCP connection. Runs in ring 3: only `crate::user` may be
//! called (no heap, no kernel functions).

use crate::uprintln;
use crate::user::{self, rt, SockaddrIn};

pub const ECHO_PORT: u16 = 7;
pub const DISCARD_PORT: u16 = 9;
pub const CHARGEN_PORT: u16 = 19;

/// Pending connections a listener queues before new SYNs are dropped.
const LISTEN_BACKLOG: i32 = 128;
/// Bytes moved per read/write: large enough for bulk transfers (half a 64 KiB super-segment
/// per call), small enough for the 128 KiB user stack.
const IO_CHUNK: usize = 32 * 1024;
/// Largest UDP datagram (65535 − 8 − 20).
const MAX_UDP: usize = 65507;

/// Bit of a TCP listener thread's argument (above the port) asking it to log connections.
const VERBOSE_BIT: usize = 1 << 16;

/// `init=services [-- [-v] [SECONDS]]`: serve forever, or for SECONDS and then exit with
/// success (so a test boot ends, with the kernel's exit-time reports such as `nicstats`);
/// `-v` prints a line per accepted TCP connection (quiet by default: a console line per
/// connection costs more than the connection under load).
pub fn main(args: &[&str]) -> i32 {
    let verbose = args.first() == Some(&"-v");
    let args = if verbose { &args[1..] } else { args };
    let lifetime_s = match args.first() {
        None => None,
        Some(a) => match a.parse::<u64>() {
            Ok(s) if s > 0 => Some(s),
            _ => {
                uprintln!("services: usage: init=services [-- [-v] [SECONDS]] (got '{a}')");
                return 2;
            }
        },
    };
    for port in [ECHO_PORT, DISCARD_PORT, CHARGEN_PORT] {
        let flags = if verbose { VERBOSE_BIT } else { 0 };
        if rt::spawn(tcp_listener, usize::from(port) | flags) < 0 {
            uprintln!("services: cannot start the TCP listener for port {port}");
            return 1;
        }
        if rt::spawn(udp_server, usize::from(port)) < 0 {
            uprintln!("services: cannot start the UDP server for port {port}");
            return 1;
        }
    }
    uprintln!("services: echo, discard and chargen on TCP and UDP ports 7, 9 and 19");
    if let Some(seconds) = lifetime_s {
        user::sleep_ms(seconds.saturating_mul(1000));
        uprintln!("services: served {seconds} s, exiting");
        return 0;
    }
    // The program lives as long as its server threads; this thread has nothing left to do.
    loop {
        user::sleep_ms(3_600_000);
    }
}

fn fail(what: &str, port: u16, ret: isize) {
    uprintln!("services: {what} for port {port} failed: errno {}", -ret);
}

fn tcp_listener(arg: usize) {
    let verbose = arg & VERBOSE_BIT != 0;
    let port = arg as u16;
    let fd = user::socket(user::AF_INET, user::SOCK_STREAM, 0) as i32;
    if fd < 0 {
        return fail("socket", port, fd as isize);
    }
    user::setsockopt_int(fd, user::SOL_SOCKET, user::SO_REUSEADDR, 1);
    let r = user::bind(fd, &SockaddrIn::new([0, 0, 0, 0], port));
    if r < 0 {
        return fail("bind", port, r);
    }
    let r = user::listen(fd, LISTEN_BACKLOG);
    if r < 0 {
        return fail("listen", port, r);
    }
    loop {
        let mut peer = SockaddrIn::default();
        let c = user::accept(fd, Some(&mut peer));
        if c < 0 {
            // EMFILE/ENOBUFS under load: back off briefly rather than spin.
            user::sleep_ms(10);
            continue;
        }
        if verbose {
            let [a, b, cc, d] = peer.ip();
            uprintln!(
                "services: tcp/{port} connection from {a}.{b}.{cc}.{d}:{}",
                peer.port()
            );
        }
        let arg = (c as usize) | (usize::from(port) << 32);
        if rt::spawn(serve_connection, arg) < 0 {
            uprintln!("services: no thread for a tcp/{port} connection; closing it");
            user::close(c as i32);
        }
    }
}

fn serve_connection(arg: usize) {
    let fd = (arg & 0xffff_ffff) as i32;
    let port = (arg >> 32) as u16;
    user::setsockopt_int(fd, net::socket::SOL_TCP, net::socket::TCP_NODELAY, 1);
    match port {
        ECHO_PORT => echo(fd),
        DISCARD_PORT => discard(fd),
        _ => chargen(fd),
    }
    user::close(fd);
}

fn echo(fd: i32) {
    let mut buf = [0u8; IO_CHUNK];
    loop {
        let n = user::read(fd, &mut buf);
        if n <= 0 || user::write_all(fd, &buf[..n as usize]).is_err() {
            return;
        }
    }
}

fn discard(fd: i32) {
    let mut buf = [0u8; IO_CHUNK];
    while user::read(fd, &mut buf) > 0 {}
}

/// Fill `out` with the chargen stream starting at byte `pos` of the infinite pattern; the
/// pattern's line k is the 72 printable characters starting at offset k mod 95 of the ring
/// 0x20..=0x7E, then CR LF.
pub fn chargen_fill(out: &mut [u8], mut pos: u64) {
    const LINE: u64 = 74;
    for byte in out.iter_mut() {
        let line = pos / LINE;
        let col = pos % LINE;
        *byte = match col {
            72 => b'\r',
            73 => b'\n',
            _ => 0x20 + ((line + col) % 95) as u8,
        };
        pos += 1;
    }
}

/// The chargen stream repeats every 95 lines (each line starts one character later in the
/// 95-character ring), so one cycle is computed once and then written over and over.
const CHARGEN_CYCLE: usize = 95 * 74;

/// Whole cycles chargen hands to one write (52 KiB): each write gives TCP enough for a large
/// super-segment on a NIC with segmentation offload, instead of one per 7 KiB write.
const CHARGEN_WRITE_CYCLES: usize = 7;

fn chargen(fd: i32) {
    // One cycle more than a write takes, so any write can start anywhere in the first cycle
    // and still send whole cycles' worth of bytes.
    let mut cycles = [0u8; (CHARGEN_WRITE_CYCLES + 1) * CHARGEN_CYCLE];
    chargen_fill(&mut cycles, 0);
    let mut at = 0;
    loop {
        let n = user::write(fd, &cycles[at..at + CHARGEN_WRITE_CYCLES * CHARGEN_CYCLE]);
        if n <= 0 {
            return;
        }
        at = (at + n as usize) % CHARGEN_CYCLE;
    }
}

fn udp_server(port: usize) {
    let port = port as u16;
    let fd = user::socket(user::AF_INET, user::SOCK_DGRAM, 0) as i32;
    if fd < 0 {
        return fail("udp socket", port, fd as isize);
    }
    let r = user::bind(fd, &SockaddrIn::new([0, 0, 0, 0], port));
    if r < 0 {
        return fail("udp bind", port, r);
    }
    let mut buf = [0u8; MAX_UDP];
    let mut line = 0u64;
    loop {
        let mut from = SockaddrIn::default();
        let n = user::recvfrom(fd, &mut buf, 0, Some(&mut from));
        if n < 0 {
            continue;
        }
        match port {
            ECHO_PORT => {
                user::sendto(fd, &buf[..n as usize], 0, Some(&from));
            }
            DISCARD_PORT => {}
            _ => {
                // RFC 864 UDP: one datagram of 0..=512 characters per datagram received.
                let len = 74 * 6;
                chargen_fill(&mut buf[..len], line * 74);
                line += 1;
                user::sendto(fd, &buf[..len], 0, Some(&from));
            }
        }
    }
}
