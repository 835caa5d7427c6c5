//! Waiting for a booting guest: overlapping connect + 1-byte TCP echo attempts until the first
//! round trip completes. Never starts guests; leaves no thread or socket behind when it returns.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::{show_byte, Report};

/// A new attempt starts this often, whether or not earlier ones have finished: under user
/// networking an attempt made while the guest is down hangs in QEMU (its SYN to the guest goes
/// unanswered), so waiting for it would quantize the measured boot time to its timeout.
pub const WAIT_INTERVAL: Duration = Duration::from_millis(50);
/// How long one attempt waits for its echo before it is abandoned.
pub const WAIT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Attempts in flight at once (= attempt timeout / interval): bounds threads and QEMU sockets.
const MAX_IN_FLIGHT: usize = 40;

/// Start a fresh connect + 1-byte echo attempt every [`WAIT_INTERVAL`] (overlapping, at most
/// [`MAX_IN_FLIGHT`] at once) until one round trip completes or `timeout` passes. The report's
/// `elapsed` is the time from the call to the first good round trip.
///
/// Under QEMU user networking the host-side connect succeeds as soon as QEMU listens, even
/// before the guest does; only the round trip proves the guest serves.
pub fn wait_for_echo(addr: SocketAddr, timeout: Duration) -> Result<Report, String> {
    let start = Instant::now();
    let deadline = start + timeout;
    let (tx, rx) = mpsc::channel::<(u32, Result<(), String>)>();
    let open: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let (mut launched, mut in_flight) = (0u32, 0usize);
    let mut next_launch = start;
    let mut last_err = String::from("no attempt finished");
    let mut winner = None;
    while winner.is_none() {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if now >= next_launch && in_flight < MAX_IN_FLIGHT {
            launched += 1;
            in_flight += 1;
            next_launch = now + WAIT_INTERVAL;
            let (tx, open, stop) = (tx.clone(), Arc::clone(&open), Arc::clone(&stop));
            let n = launched;
            thread::spawn(move || {
                let _ = tx.send((n, attempt(addr, n, &open, &stop)));
            });
        }
        let wake = next_launch
            .max(now + Duration::from_millis(1))
            .min(deadline);
        match rx.recv_timeout(wake.saturating_duration_since(now)) {
            Ok((n, Ok(()))) => winner = Some((n, start.elapsed())),
            Ok((_, Err(e))) => {
                in_flight -= 1;
                last_err = e;
            }
            Err(_) => {}
        }
    }
    // Cut every attempt still waiting, then collect them so none outlives this call.
    stop.store(true, Ordering::SeqCst);
    for s in open.lock().unwrap_or_else(|p| p.into_inner()).iter() {
        let _ = s.shutdown(Shutdown::Both);
    }
    if winner.is_some() {
        in_flight -= 1;
    }
    let drain_until = Instant::now() + WAIT_ATTEMPT_TIMEOUT + Duration::from_secs(1);
    while in_flight > 0 {
        let left = drain_until.saturating_duration_since(Instant::now());
        if rx.recv_timeout(left).is_err() {
            break;
        }
        in_flight -= 1;
    }
    match winner {
        Some((n, elapsed)) => Ok(Report {
            check: "wait_for_echo",
            elapsed,
            bytes: 1,
            detail: format!("first 1-byte echo on attempt #{n} ({launched} started)"),
            steps: Vec::new(),
        }),
        None => Err(format!(
            "wait_for_echo: no 1-byte echo from {addr} within {:.1} s ({launched} attempts); last: {last_err}",
            timeout.as_secs_f64()
        )),
    }
}

/// One attempt: connect, send one byte, read it back, within [`WAIT_ATTEMPT_TIMEOUT`].
fn attempt(
    addr: SocketAddr,
    n: u32,
    open: &Mutex<Vec<TcpStream>>,
    stop: &AtomicBool,
) -> Result<(), String> {
    let limit = WAIT_ATTEMPT_TIMEOUT;
    let s = TcpStream::connect_timeout(&addr, limit).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(limit))
        .and_then(|_| s.set_write_timeout(Some(limit)))
        .map_err(|e| format!("socket options: {e}"))?;
    if let Ok(clone) = s.try_clone() {
        open.lock().unwrap_or_else(|p| p.into_inner()).push(clone);
    }
    if stop.load(Ordering::SeqCst) {
        return Err("stopped".into());
    }
    let probe = [b'a' + (n % 26) as u8];
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
