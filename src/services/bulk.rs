//! Bulk TCP checks: discard (RFC 863) as a sink, chargen (RFC 864) as a source whose every
//! byte is checked against the rotating 72-column pattern. Never starts guests.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::time::Instant;

use super::{connect, io_err, payload, show_byte, Report};

/// RFC 864 line: 72 printable characters then CR LF.
pub const CHARGEN_LINE: usize = 72;
/// The printable ASCII ring 0x20..=0x7E the chargen lines rotate through.
pub const CHARGEN_RING: usize = 95;

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
