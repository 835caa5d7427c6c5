//! The unread-echo flood: many echo connections whose client writes and never reads, the
//! remote memory-exhaustion pattern (each connection fills the guest's receive and send
//! buffers). The guest must stay up and keep serving, and once the client reads again every
//! connection must get its bytes back exactly. Never starts guests.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use super::echo::echo_payloads;
use super::{connect, payload, show_byte, Report, Step, CONNECT_PACE};

/// Longest the drain phase may go without a byte moving before the check gives up.
const DRAIN_STALL: Duration = Duration::from_secs(30);

struct Conn {
    stream: TcpStream,
    data: Vec<u8>,
    sent: usize,
    got: usize,
    shut: bool,
    eof: bool,
}

/// Write what `c` takes without blocking; returns whether any byte went.
fn push(c: &mut Conn, i: usize) -> Result<bool, String> {
    let mut moved = false;
    while c.sent < c.data.len() {
        let end = (c.sent + 64 * 1024).min(c.data.len());
        match c.stream.write(&c.data[c.sent..end]) {
            Ok(0) => return Err(format!("flood connection #{i}: write returned 0")),
            Ok(n) => {
                c.sent += n;
                moved = true;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(format!(
                    "flood connection #{i}: write failed after {} bytes: {e}",
                    c.sent
                ))
            }
        }
    }
    Ok(moved)
}

/// Read and verify what `c` has; returns whether any byte came.
fn pull(c: &mut Conn, i: usize, buf: &mut [u8]) -> Result<bool, String> {
    let mut moved = false;
    loop {
        match c.stream.read(buf) {
            Ok(0) if c.got == c.data.len() => {
                c.eof = true;
                return Ok(true);
            }
            Ok(0) => {
                return Err(format!(
                    "flood connection #{i}: server closed after echoing {} of {} bytes",
                    c.got,
                    c.data.len()
                ))
            }
            Ok(n) => {
                let want = &c.data[c.got..(c.got + n).min(c.data.len())];
                if n > want.len() {
                    return Err(format!(
                        "flood connection #{i}: echo longer than the payload"
                    ));
                }
                if let Some(k) = (0..n).find(|&k| buf[k] != want[k]) {
                    return Err(format!(
                        "flood connection #{i}: echo differs at byte {}: expected {}, got {}",
                        c.got + k,
                        show_byte(want[k]),
                        show_byte(buf[k])
                    ));
                }
                c.got += n;
                moved = true;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(moved),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(format!(
                    "flood connection #{i}: read failed after {} bytes echoed: {e}",
                    c.got
                ))
            }
        }
    }
}

/// `conns` echo connections each write `per_conn` bytes and read nothing for `stall`; then a
/// fresh connection must still echo, and finally every flooded connection reads its whole
/// echo back, byte-exact, and sees the server close after its half-close.
pub fn echo_unread_flood(
    addr: SocketAddr,
    conns: usize,
    per_conn: usize,
    stall: Duration,
) -> Result<Report, String> {
    let start = Instant::now();
    let mut all = Vec::with_capacity(conns);
    for i in 0..conns {
        if i > 0 {
            thread::sleep(CONNECT_PACE);
        }
        let stream = connect(addr, &format!("flood connection #{i}"))?;
        stream
            .set_nonblocking(true)
            .map_err(|e| format!("flood connection #{i}: set_nonblocking: {e}"))?;
        all.push(Conn {
            stream,
            data: payload(0xF100_D000 + i as u64, per_conn),
            sent: 0,
            got: 0,
            shut: false,
            eof: false,
        });
    }
    // Phase 1: write, never read.
    let t = Instant::now();
    while t.elapsed() < stall {
        let mut moved = false;
        for (i, c) in all.iter_mut().enumerate() {
            moved |= push(c, i)?;
        }
        if !moved {
            thread::sleep(Duration::from_millis(10));
        }
    }
    let flooded: usize = all.iter().map(|c| c.sent).sum();
    let mut steps = vec![Step {
        label: format!("{conns} conns written, unread"),
        elapsed: t.elapsed(),
        bytes: flooded as u64,
    }];
    // The guest must still serve a newcomer while the flood holds its buffers.
    let t = Instant::now();
    echo_payloads(addr, &[1000])
        .map_err(|e| format!("while {conns} connections held {flooded} unread bytes: {e}"))?;
    steps.push(Step {
        label: "fresh echo during flood".into(),
        elapsed: t.elapsed(),
        bytes: 1000,
    });
    // Phase 2: read everything back, finish writing, half-close, expect the close.
    let t = Instant::now();
    let mut buf = vec![0u8; 64 * 1024];
    let mut last_move = Instant::now();
    while all.iter().any(|c| !c.eof) {
        let mut moved = false;
        for (i, c) in all.iter_mut().enumerate() {
            if c.eof {
                continue;
            }
            moved |= pull(c, i, &mut buf)?;
            moved |= push(c, i)?;
            if c.sent == c.data.len() && !c.shut {
                c.stream
                    .shutdown(Shutdown::Write)
                    .map_err(|e| format!("flood connection #{i}: shutdown(Write): {e}"))?;
                c.shut = true;
            }
        }
        if moved {
            last_move = Instant::now();
        } else if last_move.elapsed() > DRAIN_STALL {
            let got: usize = all.iter().map(|c| c.got).sum();
            let sent: usize = all.iter().map(|c| c.sent).sum();
            return Err(format!(
                "drain stalled for {} s: {sent} bytes written, {got} echoed of {}",
                DRAIN_STALL.as_secs(),
                conns * per_conn
            ));
        } else {
            thread::sleep(Duration::from_millis(2));
        }
    }
    steps.push(Step {
        label: "drained, all echoed".into(),
        elapsed: t.elapsed(),
        bytes: (conns * per_conn) as u64,
    });
    Ok(Report {
        check: "echo_unread_flood",
        elapsed: start.elapsed(),
        bytes: (conns * per_conn) as u64,
        detail: format!(
            "{conns} connections × {per_conn} B; {flooded} B written before anything was read"
        ),
        steps,
    })
}
