//! TCP echo (RFC 862) checks: waiting for the first echo while the guest boots, payloads of
//! every size on fresh connections, and many simultaneous connections. Never starts guests.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use super::{connect, io_err, payload, show_byte, Report, Step};

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
/// Doubled after each connect that needed a retransmitted SYN (QEMU accepts slower on a loaded
/// host), up to [`CONNECT_PACE_MAX`].
pub const CONNECT_PACE: Duration = Duration::from_millis(2);
pub const CONNECT_PACE_MAX: Duration = Duration::from_millis(50);
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
    let mut pace = CONNECT_PACE;
    for i in 0..n {
        if i > 0 {
            thread::sleep(pace);
        }
        let t = Instant::now();
        streams.push(connect(
            addr,
            &format!("concurrent connection #{i} of {n}"),
        )?);
        if t.elapsed() >= SYN_RETRANSMIT_HINT {
            slow_connects += 1;
            pace = (pace * 2).min(CONNECT_PACE_MAX);
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
             ({slow_connects} connects took over {} ms: SYN dropped on a full accept queue; \
             final pace {} ms)",
            connected.as_secs_f64(),
            SYN_RETRANSMIT_HINT.as_millis(),
            pace.as_millis()
        ),
        steps: Vec::new(),
    })
}
