//! Host-side clients for the classic inetd services a guest serves: echo (RFC 862), discard
//! (RFC 863) and chargen (RFC 864), over TCP and UDP, driven from real host sockets (std::net
//! only) through QEMU's hostfwd on 127.0.0.1.
//!
//! Every check returns `Result<Report, String>`: a [`Report`] with timings on success, or a
//! sentence that says exactly what went wrong (which connection, which byte offset, how many
//! bytes came back). Every socket operation has a timeout ([`IO_TIMEOUT`]), so a wedged guest
//! makes a check fail, never hang. This module never starts or stops guests and never talks to
//! anything but the address it is given.

use std::collections::HashSet;
use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// Longest a single read, write or connect may block before the check fails. Generous because
/// a TCG guest can stall for seconds (another QEMU on the same 2 cores, a GC-like pause in the
/// guest); a healthy guest answers in milliseconds.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// RFC 864 line: 72 printable characters then CR LF.
pub const CHARGEN_LINE: usize = 72;
/// The printable ASCII ring 0x20..=0x7E the chargen lines rotate through.
pub const CHARGEN_RING: usize = 95;

/// Payload sizes `echo_payloads` is meant to be run with: tiny, one MSS (1460 on a 1500 MTU),
/// one past it, around the 64 KiB window/buffer boundary, and bulk.
pub const ECHO_SIZES: [usize; 8] = [1, 7, 1460, 1461, 65535, 65536, 1 << 20, 4 << 20];
/// UDP echo datagram sizes: minimal, classic, the largest unfragmented on a 1500 MTU (1472 =
/// 1500 - 20 IP - 8 UDP), and one that must be fragmented and reassembled both ways.
pub const UDP_SIZES: [usize; 4] = [1, 512, 1472, 8192];

/// The host-side addresses of one guest's services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Endpoints {
    pub echo: SocketAddr,
    pub discard: SocketAddr,
    pub chargen: SocketAddr,
    pub udp_echo: SocketAddr,
}

impl Endpoints {
    /// The layout qemu-run.sh (`--port-base`) and linux-peer (base 17000) use: host port
    /// base+7, base+9, base+19 forward to the guest's 7, 9, 19; UDP echo on base+7.
    pub fn from_base(host: IpAddr, base: u16) -> Self {
        let at = |off: u16| SocketAddr::new(host, base.saturating_add(off));
        Endpoints {
            echo: at(7),
            discard: at(9),
            chargen: at(19),
            udp_echo: at(7),
        }
    }
}

/// One timed part of a check (one payload size, one datagram size...).
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub label: String,
    pub elapsed: Duration,
    /// Payload bytes this step verified (counted once, not per direction).
    pub bytes: u64,
}

/// What a successful check measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub check: &'static str,
    pub elapsed: Duration,
    /// Payload bytes verified in total (counted once, not per direction).
    pub bytes: u64,
    /// A one-line summary: counts, retries, anything worth noticing.
    pub detail: String,
    pub steps: Vec<Step>,
}

impl Report {
    /// Payload throughput over the whole check, in MB/s (10^6 bytes).
    pub fn mb_per_s(&self) -> f64 {
        mb_per_s(self.bytes, self.elapsed)
    }
}

fn mb_per_s(bytes: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 {
        bytes as f64 / s / 1e6
    } else {
        0.0
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: ok in {:.3} s, {} bytes ({:.2} MB/s); {}",
            self.check,
            self.elapsed.as_secs_f64(),
            self.bytes,
            self.mb_per_s(),
            self.detail
        )?;
        for s in &self.steps {
            write!(
                f,
                "\n    {:<24} {:>9.3} s  {:>10} B  {:>8.2} MB/s",
                s.label,
                s.elapsed.as_secs_f64(),
                s.bytes,
                mb_per_s(s.bytes, s.elapsed)
            )?;
        }
        Ok(())
    }
}

/// SplitMix64: a tiny deterministic generator for payloads (reproducible failures: the same
/// seed gives the same bytes on every run).
#[derive(Debug, Clone)]
pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Self {
        Prng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// `len` pseudo-random bytes determined by `seed`.
pub fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    Prng::new(seed).fill(&mut v);
    v
}

/// The byte RFC 864 chargen sends at stream offset `offset`: line k (0-based) is the 72
/// characters starting at position k mod 95 of the ring 0x20..=0x7E, then "\r\n".
pub fn chargen_byte(offset: u64) -> u8 {
    let per_line = (CHARGEN_LINE + 2) as u64;
    let line = offset / per_line;
    let col = (offset % per_line) as usize;
    match col {
        c if c < CHARGEN_LINE => {
            let pos = (line % CHARGEN_RING as u64) as usize + c;
            0x20 + (pos % CHARGEN_RING) as u8
        }
        c if c == CHARGEN_LINE => b'\r',
        _ => b'\n',
    }
}

/// First offset where `got` differs from the chargen stream starting at `start`, if any.
pub fn chargen_mismatch(start: u64, got: &[u8]) -> Option<u64> {
    got.iter()
        .enumerate()
        .find(|&(i, &b)| b != chargen_byte(start + i as u64))
        .map(|(i, _)| start + i as u64)
}

fn show_byte(b: u8) -> String {
    if (0x20..0x7f).contains(&b) {
        format!("0x{b:02x} {:?}", b as char)
    } else {
        format!("0x{b:02x}")
    }
}

fn connect(addr: SocketAddr, what: &str) -> Result<TcpStream, String> {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .map_err(|e| format!("{what}: connect to {addr} failed: {e}"))?;
    s.set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|_| s.set_write_timeout(Some(IO_TIMEOUT)))
        .and_then(|_| s.set_nodelay(true))
        .map_err(|e| format!("{what}: socket options on {addr}: {e}"))?;
    Ok(s)
}

fn io_err(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            format!("timed out after {} s ({e})", IO_TIMEOUT.as_secs())
        }
        _ => e.to_string(),
    }
}

/// Retry connect + a 1-byte echo round trip until one works (the guest is booting) or
/// `timeout` passes. The report's `elapsed` is the time until the first good round trip.
///
/// Under QEMU user networking the host-side connect succeeds as soon as QEMU listens, even
/// before the guest does; the round trip is what proves the guest serves.
pub fn wait_for_echo(addr: SocketAddr, timeout: Duration) -> Result<Report, String> {
    let start = Instant::now();
    let deadline = start + timeout;
    let mut attempts = 0u32;
    let mut last_err = String::from("no attempt made");
    while Instant::now() < deadline {
        attempts += 1;
        let left = deadline.saturating_duration_since(Instant::now());
        let per_try = left
            .min(Duration::from_secs(2))
            .max(Duration::from_millis(1));
        match echo_one_byte(addr, per_try, attempts) {
            Ok(()) => {
                return Ok(Report {
                    check: "wait_for_echo",
                    elapsed: start.elapsed(),
                    bytes: 1,
                    detail: format!("first 1-byte echo after {attempts} attempts"),
                    steps: Vec::new(),
                })
            }
            Err(e) => last_err = e,
        }
        let pause = Duration::from_millis(50);
        if Instant::now() + pause < deadline {
            thread::sleep(pause);
        } else {
            break;
        }
    }
    Err(format!(
        "wait_for_echo: no 1-byte echo from {addr} within {:.1} s ({attempts} attempts); last: {last_err}",
        timeout.as_secs_f64()
    ))
}

fn echo_one_byte(addr: SocketAddr, limit: Duration, attempt: u32) -> Result<(), String> {
    let s = TcpStream::connect_timeout(&addr, limit).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(limit))
        .and_then(|_| s.set_write_timeout(Some(limit)))
        .map_err(|e| format!("socket options: {e}"))?;
    let probe = [b'a' + (attempt % 26) as u8];
    (&s).write_all(&probe).map_err(|e| format!("write: {e}"))?;
    let mut got = [0u8; 1];
    match (&s).read(&mut got) {
        Ok(0) => Err("connection closed before the echo (guest not listening yet?)".into()),
        Ok(_) if got == probe => Ok(()),
        Ok(_) => Err(format!(
            "echoed {} instead of {}",
            show_byte(got[0]),
            show_byte(probe[0])
        )),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Err(format!(
            "no echo within {:.1} s after connect and write succeeded (under user networking \
             the host side connects even when the guest never answers QEMU's SYN)",
            limit.as_secs_f64()
        )),
        Err(e) => Err(format!("read: {e}")),
    }
}

/// Send `data` on `stream` from a second thread while this one reads the echo back and compares
/// it byte for byte; the writer half-closes (shutdown(Write)) once everything is written, and
/// after the last echoed byte the server must close too (read returns 0) without sending more.
/// `what` names the connection in error messages. `others` are the payloads of sibling
/// connections, used only to say whose bytes arrived when the echo is wrong.
fn echo_stream(stream: TcpStream, data: &[u8], what: &str, others: &[&[u8]]) -> Result<(), String> {
    let writer_stream = stream
        .try_clone()
        .map_err(|e| format!("{what}: cannot clone the socket: {e}"))?;
    thread::scope(|scope| {
        let writer = scope.spawn(|| -> Result<(), String> {
            let mut w = &writer_stream;
            let mut sent = 0usize;
            for chunk in data.chunks(64 * 1024) {
                w.write_all(chunk).map_err(|e| {
                    format!(
                        "write failed within bytes {sent}..{} of {}: {}",
                        sent + chunk.len(),
                        data.len(),
                        io_err(&e)
                    )
                })?;
                sent += chunk.len();
            }
            writer_stream
                .shutdown(Shutdown::Write)
                .map_err(|e| format!("shutdown(Write) after {sent} bytes failed: {e}"))
        });
        let read_result = read_echo(&stream, data, others);
        if read_result.is_err() {
            // Unblock the writer if it is stuck on a full window.
            let _ = stream.shutdown(Shutdown::Both);
        }
        let write_result = writer
            .join()
            .unwrap_or_else(|_| Err("writer thread panicked".into()));
        match (read_result, write_result) {
            (Ok(()), Ok(())) => Ok(()),
            (Err(r), Ok(())) => Err(format!("{what}: {r}")),
            (Ok(()), Err(w)) => Err(format!("{what}: {w}")),
            (Err(r), Err(w)) => Err(format!("{what}: {r} (writer: {w})")),
        }
    })
}

fn read_echo(stream: &TcpStream, data: &[u8], others: &[&[u8]]) -> Result<(), String> {
    let mut r = stream;
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0usize;
    while got < data.len() {
        let n = match r.read(&mut buf) {
            Ok(0) => {
                return Err(format!(
                    "server closed after echoing {got} of {} bytes",
                    data.len()
                ))
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(format!(
                    "read failed after {got} of {} bytes echoed: {}",
                    data.len(),
                    io_err(&e)
                ))
            }
        };
        let expect_len = n.min(data.len() - got);
        let want = &data[got..got + expect_len];
        if let Some(i) = (0..expect_len).find(|&i| buf[i] != want[i]) {
            let off = got + i;
            let mut msg = format!(
                "echo differs at byte offset {off} of {}: expected {}, got {}",
                data.len(),
                show_byte(data[off]),
                show_byte(buf[i])
            );
            let seg = &buf[i..expect_len];
            if let Some(j) = others
                .iter()
                .position(|o| o.len() >= off + seg.len() && &o[off..off + seg.len()] == seg)
            {
                msg.push_str(&format!(
                    " (these bytes belong to connection #{j}'s payload)"
                ));
            }
            return Err(msg);
        }
        if n > expect_len {
            return Err(format!(
                "server sent {} bytes beyond the {} written",
                n - expect_len,
                data.len()
            ));
        }
        got += n;
    }
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => {
                return Err(format!(
                    "all {} bytes echoed, but then {n} unexpected bytes instead of the close",
                    data.len()
                ))
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(format!(
                "all {} bytes echoed, but the server did not close after our shutdown(Write): {}",
                data.len(),
                io_err(&e)
            ))
            }
        }
    }
}

/// TCP echo of one random payload per size, each on a fresh connection; byte-exact comparison
/// and an orderly close by the server after our half-close.
pub fn echo_payloads(addr: SocketAddr, sizes: &[usize]) -> Result<Report, String> {
    let start = Instant::now();
    let mut steps = Vec::new();
    for (k, &size) in sizes.iter().enumerate() {
        let what = format!("echo connection #{k} ({size} B)");
        let t = Instant::now();
        let data = payload(0xEC40_0000 ^ size as u64, size);
        let s = connect(addr, &what)?;
        echo_stream(s, &data, &what, &[])?;
        steps.push(Step {
            label: format!("{size} B"),
            elapsed: t.elapsed(),
            bytes: size as u64,
        });
    }
    Ok(Report {
        check: "echo_payloads",
        elapsed: start.elapsed(),
        bytes: sizes.iter().map(|&s| s as u64).sum(),
        detail: format!("{} sizes, one connection each", sizes.len()),
        steps,
    })
}

/// Pause between the connects of [`echo_concurrent`]. QEMU's user networking (libslirp) listens
/// on each hostfwd port with a backlog of 1: back-to-back connects overflow the host's accept
/// queue before QEMU's main loop accepts, the host drops the SYN and the client retransmits it
/// after 1 s (measured: 100 back-to-back connects took 20 s, 100 paced by 2 ms took 0.23 s).
pub const CONNECT_PACE: Duration = Duration::from_millis(2);
/// A connect slower than this was most likely a retransmitted SYN (the first retry is at 1 s).
const SYN_RETRANSMIT_HINT: Duration = Duration::from_millis(900);

/// `n` simultaneous echo connections: all are connected before any byte is sent, then each
/// echoes its own distinct `size`-byte payload at the same time, each verified.
pub fn echo_concurrent(addr: SocketAddr, n: usize, size: usize) -> Result<Report, String> {
    let start = Instant::now();
    let payloads: Vec<Vec<u8>> = (0..n)
        .map(|i| payload(0xC0C0_0000 + i as u64, size))
        .collect();
    let others: Vec<&[u8]> = payloads.iter().map(|p| p.as_slice()).collect();
    let mut streams = Vec::with_capacity(n);
    let mut slow_connects = 0;
    for i in 0..n {
        if i > 0 {
            thread::sleep(CONNECT_PACE);
        }
        let t = Instant::now();
        streams.push(connect(
            addr,
            &format!("concurrent connection #{i} of {n}"),
        )?);
        if t.elapsed() >= SYN_RETRANSMIT_HINT {
            slow_connects += 1;
        }
    }
    let connected = start.elapsed();
    let barrier = Barrier::new(n);
    let results: Vec<Result<(), String>> = thread::scope(|scope| {
        let handles: Vec<_> = streams
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let (barrier, data, others) = (&barrier, &payloads[i], &others);
                thread::Builder::new()
                    .stack_size(256 * 1024)
                    .spawn_scoped(scope, move || {
                        barrier.wait();
                        let what = format!("concurrent connection #{i} of {n}");
                        echo_stream(s, data, &what, others)
                    })
            })
            .collect();
        handles
            .into_iter()
            .enumerate()
            .map(|(i, h)| match h {
                Ok(h) => h
                    .join()
                    .unwrap_or_else(|_| Err(format!("connection #{i}: thread panicked"))),
                Err(e) => Err(format!("connection #{i}: cannot start a thread: {e}")),
            })
            .collect()
    });
    let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    if let Some(first) = failed.first() {
        return Err(format!(
            "{} of {n} concurrent connections failed; first: {first}",
            failed.len()
        ));
    }
    Ok(Report {
        check: "echo_concurrent",
        elapsed: start.elapsed(),
        bytes: (n * size) as u64,
        detail: format!(
            "{n} connections x {size} B, all connected in {:.3} s before any data \
             ({slow_connects} connects took over {} ms: SYN dropped on a full accept queue)",
            connected.as_secs_f64(),
            SYN_RETRANSMIT_HINT.as_millis()
        ),
        steps: Vec::new(),
    })
}

/// Write `bytes` into discard, half-close, and require the server to close (read returns 0)
/// without ever sending anything back. The time runs until that close, i.e. until the guest
/// has read everything.
pub fn discard_bulk(addr: SocketAddr, bytes: u64) -> Result<Report, String> {
    let what = "discard connection";
    let start = Instant::now();
    let s = connect(addr, what)?;
    let chunk = payload(0xD15C_A4D0, 64 * 1024);
    let mut sent = 0u64;
    let mut w = &s;
    while sent < bytes {
        let len = (bytes - sent).min(chunk.len() as u64) as usize;
        if let Err(e) = w.write_all(&chunk[..len]) {
            let mut msg = format!(
                "{what}: write failed within bytes {sent}..{} of {bytes}: {}",
                sent + len as u64,
                io_err(&e)
            );
            // A reset usually means the server closed early; say whether it also sent data.
            s.set_nonblocking(true).ok();
            let mut b = [0u8; 1];
            if let Ok(n) = (&s).read(&mut b) {
                if n > 0 {
                    msg.push_str(" (and the server sent data back)");
                }
            }
            return Err(msg);
        }
        sent += len as u64;
    }
    let written = start.elapsed();
    s.shutdown(Shutdown::Write)
        .map_err(|e| format!("{what}: shutdown(Write) after {bytes} bytes: {e}"))?;
    let mut buf = [0u8; 4096];
    let mut back = 0usize;
    let mut first_back = None;
    loop {
        match (&s).read(&mut buf) {
            Ok(0) => match first_back {
                None => break,
                Some(b) => {
                    return Err(format!(
                        "{what}: the server sent {back} bytes back (first {}) before closing",
                        show_byte(b)
                    ))
                }
            },
            Ok(n) => {
                first_back.get_or_insert(buf[0]);
                back += n;
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if back > 0 => {
                return Err(format!(
                    "{what}: the server sent {back} bytes back, then: {}",
                    io_err(&e)
                ))
            }
            Err(e) => {
                return Err(format!(
                    "{what}: all {bytes} bytes written, but the server did not close after our shutdown(Write): {}",
                    io_err(&e)
                ))
            }
        }
    }
    let elapsed = start.elapsed();
    Ok(Report {
        check: "discard_bulk",
        elapsed,
        bytes,
        detail: format!(
            "writes done after {:.3} s, server close after {:.3} s",
            written.as_secs_f64(),
            elapsed.as_secs_f64()
        ),
        steps: Vec::new(),
    })
}

/// Read `bytes` from chargen and check each against the RFC 864 pattern ([`chargen_byte`]),
/// wherever the reads happen to split lines. Then close our end.
pub fn chargen_check(addr: SocketAddr, bytes: u64) -> Result<Report, String> {
    let what = "chargen connection";
    let start = Instant::now();
    let s = connect(addr, what)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0u64;
    let mut reads = 0u64;
    let mut first_byte = None;
    while got < bytes {
        let want = (bytes - got).min(buf.len() as u64) as usize;
        let n = match (&s).read(&mut buf[..want]) {
            Ok(0) => {
                return Err(format!(
                    "{what}: server closed after {got} of {bytes} bytes"
                ))
            }
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(format!(
                    "{what}: read failed after {got} of {bytes} bytes: {}",
                    io_err(&e)
                ))
            }
        };
        first_byte.get_or_insert_with(|| start.elapsed());
        if let Some(off) = chargen_mismatch(got, &buf[..n]) {
            let per_line = (CHARGEN_LINE + 2) as u64;
            let i = (off - got) as usize;
            let ctx_end = (i + 16).min(n);
            return Err(format!(
                "{what}: byte offset {off} (line {}, column {}) is {}, expected {}; received from there: {:?}",
                off / per_line,
                off % per_line,
                show_byte(buf[i]),
                show_byte(chargen_byte(off)),
                String::from_utf8_lossy(&buf[i..ctx_end])
            ));
        }
        got += n as u64;
        reads += 1;
    }
    let elapsed = start.elapsed();
    let _ = s.shutdown(Shutdown::Both);
    Ok(Report {
        check: "chargen_check",
        elapsed,
        bytes,
        detail: format!(
            "{} full lines + {} bytes in {reads} reads; first data after {:.3} s",
            bytes / (CHARGEN_LINE as u64 + 2),
            bytes % (CHARGEN_LINE as u64 + 2),
            first_byte.unwrap_or_default().as_secs_f64()
        ),
        steps: Vec::new(),
    })
}

/// How many times one UDP datagram is sent before it counts as never echoed.
pub const UDP_TRIES: u32 = 10;
/// Wait for the echo after the first send; doubled after each loss up to [`UDP_WAIT_MAX`].
pub const UDP_WAIT_FIRST: Duration = Duration::from_millis(250);
pub const UDP_WAIT_MAX: Duration = Duration::from_secs(2);

/// UDP echo: for each size, `count` datagrams, one outstanding at a time, each re-sent until
/// it is echoed ([`UDP_TRIES`] sends at most, since user networking can drop). Every datagram
/// must eventually come back byte-exact; a stale echo of an earlier datagram is ignored,
/// anything else is a failure.
///
/// Datagrams of 8+ bytes carry a unique tag (run nonce, size, sequence number) in their first 8
/// bytes, so a stale echo cannot pass for a fresh one; shorter ones rotate through distinct
/// byte values.
pub fn udp_echo(addr: SocketAddr, count: usize, sizes: &[usize]) -> Result<Report, String> {
    let start = Instant::now();
    let local: SocketAddr = match addr {
        SocketAddr::V4(_) => "0.0.0.0:0",
        SocketAddr::V6(_) => "[::]:0",
    }
    .parse()
    .map_err(|e| format!("udp: local address: {e}"))?;
    let sock = UdpSocket::bind(local).map_err(|e| format!("udp: bind: {e}"))?;
    sock.connect(addr)
        .map_err(|e| format!("udp: connect to {addr}: {e}"))?;
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let nonce = (std::process::id() as u64) << 40 ^ clock;
    let mut buf = vec![0u8; 65536];
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let (mut resends, mut stale, mut lost_first) = (0u64, 0u64, 0u64);
    let mut steps = Vec::new();
    for &size in sizes {
        let t = Instant::now();
        for seq in 0..count {
            let mut dgram = payload(nonce ^ ((size as u64) << 32) ^ seq as u64, size);
            if size >= 8 {
                let tag = (nonce & 0xFFFF_FFFF) << 32 | (size as u64) << 16 | seq as u64 & 0xFFFF;
                dgram[..8].copy_from_slice(&tag.to_be_bytes());
            } else if size > 0 {
                dgram[0] = (seq % 256) as u8;
            }
            let what = format!("udp datagram #{seq} of {size} B");
            let mut wait = UDP_WAIT_FIRST;
            let mut echoed = false;
            for attempt in 0..UDP_TRIES {
                if attempt > 0 {
                    resends += 1;
                    if attempt == 1 {
                        lost_first += 1;
                    }
                }
                sock.send(&dgram)
                    .map_err(|e| format!("{what}: send (attempt {}): {e}", attempt + 1))?;
                let deadline = Instant::now() + wait;
                loop {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    sock.set_read_timeout(Some(left))
                        .map_err(|e| format!("udp: set timeout: {e}"))?;
                    let n = match sock.recv(&mut buf) {
                        Ok(n) => n,
                        Err(e)
                            if matches!(
                                e.kind(),
                                ErrorKind::WouldBlock
                                    | ErrorKind::TimedOut
                                    | ErrorKind::Interrupted
                            ) =>
                        {
                            continue
                        }
                        // An ICMP error (port unreachable) surfaces here on a connected
                        // socket; under user networking it can be transient while booting.
                        Err(e) if e.kind() == ErrorKind::ConnectionRefused => continue,
                        Err(e) => return Err(format!("{what}: recv: {e}")),
                    };
                    let got = &buf[..n];
                    if got == dgram.as_slice() {
                        echoed = true;
                        break;
                    }
                    if seen.contains(got) {
                        stale += 1;
                        continue;
                    }
                    return Err(udp_mismatch(&what, &dgram, got));
                }
                if echoed {
                    break;
                }
                wait = (wait * 2).min(UDP_WAIT_MAX);
            }
            if !echoed {
                return Err(format!(
                    "{what}: never echoed after {UDP_TRIES} sends over {:.1} s",
                    t.elapsed().as_secs_f64()
                ));
            }
            seen.insert(dgram);
        }
        steps.push(Step {
            label: format!("{count} x {size} B"),
            elapsed: t.elapsed(),
            bytes: (count * size) as u64,
        });
    }
    Ok(Report {
        check: "udp_echo",
        elapsed: start.elapsed(),
        bytes: sizes.iter().map(|&s| (s * count) as u64).sum(),
        detail: format!(
            "{} datagrams all echoed; {lost_first} needed a resend, {resends} resends in all, {stale} stale echoes ignored",
            count * sizes.len()
        ),
        steps,
    })
}

fn udp_mismatch(what: &str, sent: &[u8], got: &[u8]) -> String {
    match sent.iter().zip(got).position(|(a, b)| a != b) {
        Some(off) => format!(
            "{what}: echo of {} B differs at byte offset {off}: expected {}, got {}",
            got.len(),
            show_byte(sent[off]),
            show_byte(got[off])
        ),
        None => format!(
            "{what}: echo is {} B long, {} B were sent (common prefix equal)",
            got.len(),
            sent.len()
        ),
    }
}

/// Sizes for [`run_all`]. [`Plan::full`] is the whole list from the brief.
#[derive(Debug, Clone)]
pub struct Plan {
    pub boot_timeout: Duration,
    pub echo_sizes: Vec<usize>,
    pub concurrent: usize,
    pub concurrent_size: usize,
    pub discard_bytes: u64,
    pub chargen_bytes: u64,
    pub udp_count: usize,
    pub udp_sizes: Vec<usize>,
}

impl Plan {
    pub fn full() -> Self {
        Plan {
            boot_timeout: Duration::from_secs(180),
            echo_sizes: ECHO_SIZES.to_vec(),
            concurrent: 100,
            concurrent_size: 10_000,
            discard_bytes: 64 << 20,
            chargen_bytes: 4 << 20,
            udp_count: 20,
            udp_sizes: UDP_SIZES.to_vec(),
        }
    }
}

/// Every check in order, each verdict handed to `on_done` as soon as it is known; the first
/// check is [`wait_for_echo`]. The later checks run even if an earlier one failed, so one run
/// shows every problem. Returns how many checks failed.
pub fn run_all(
    ep: &Endpoints,
    plan: &Plan,
    mut on_done: impl FnMut(&'static str, &Result<Report, String>),
) -> usize {
    type Check<'a> = Box<dyn FnOnce() -> Result<Report, String> + 'a>;
    let checks: Vec<(&'static str, Check)> = vec![
        (
            "wait_for_echo",
            Box::new(|| wait_for_echo(ep.echo, plan.boot_timeout)),
        ),
        (
            "echo_payloads",
            Box::new(|| echo_payloads(ep.echo, &plan.echo_sizes)),
        ),
        (
            "echo_concurrent",
            Box::new(|| echo_concurrent(ep.echo, plan.concurrent, plan.concurrent_size)),
        ),
        (
            "discard_bulk",
            Box::new(|| discard_bulk(ep.discard, plan.discard_bytes)),
        ),
        (
            "chargen_check",
            Box::new(|| chargen_check(ep.chargen, plan.chargen_bytes)),
        ),
        (
            "udp_echo",
            Box::new(|| udp_echo(ep.udp_echo, plan.udp_count, &plan.udp_sizes)),
        ),
    ];
    let mut failed = 0;
    for (name, check) in checks {
        let result = check();
        if result.is_err() {
            failed += 1;
        }
        on_done(name, &result);
    }
    failed
}

#[cfg(test)]
mod tests;
