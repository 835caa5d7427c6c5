//! Load shapes that once wedged the NIC: a burst of new connections while the guest boots (a
//! monitoring probe or a load balancer opening a connection every 50 ms from the moment the VM
//! starts), and many short connections one after the other. Each connection sends one byte
//! and waits for it to come back through echo.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::{connect, Report, IO_TIMEOUT};

/// What [`boot_burst`] saw.
#[derive(Debug, Clone)]
pub struct BurstReport {
    /// From the start of the burst to the first echoed byte; `None` if none came back.
    pub first_echo: Option<Duration>,
    /// Connections opened, and how many of them echoed their byte.
    pub opened: usize,
    pub echoed: usize,
    /// Connections refused (RST to the SYN) before the first echo came back: the guest's
    /// stack answers before its echo service listens, as Linux's does.
    pub refused_early: usize,
    /// Connections that failed otherwise (a timeout, a reset after connecting, a wrong byte,
    /// or a refusal after the service had answered): each one is a fault.
    pub failed: usize,
    /// The first such failure.
    pub first_error: Option<String>,
}

impl BurstReport {
    /// Every connection either echoed or was refused before the service listened.
    pub fn all_served(&self) -> bool {
        self.echoed > 0 && self.failed == 0 && self.echoed + self.refused_early == self.opened
    }
}

/// How one connection of the burst ended.
enum Outcome {
    Echoed,
    Refused,
    Failed(String),
}

/// One connection of the burst: connect (at most `timeout`), send a byte, read it back.
fn probe_once(addr: SocketAddr, timeout: Duration) -> Outcome {
    match TcpStream::connect_timeout(&addr, timeout) {
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Outcome::Refused,
        Err(e) => Outcome::Failed(format!("connect: {e}")),
        Ok(s) => match echo_one_byte(s, timeout) {
            Ok(()) => Outcome::Echoed,
            Err(e) => Outcome::Failed(e),
        },
    }
}

fn echo_one_byte(mut s: TcpStream, timeout: Duration) -> Result<(), String> {
    s.set_read_timeout(Some(timeout))
        .and_then(|_| s.set_write_timeout(Some(timeout)))
        .map_err(|e| format!("socket options: {e}"))?;
    s.write_all(b"x").map_err(|e| format!("write: {e}"))?;
    let mut b = [0u8; 1];
    s.read_exact(&mut b).map_err(|e| format!("read: {e}"))?;
    if b != *b"x" {
        return Err(format!("echoed {:?} instead of 'x'", b[0]));
    }
    Ok(())
}

/// Opens a connection to echo at `addr` every `interval` for `duration` (at most `max_open`
/// unfinished at once), each sending one byte and waiting for it (each at most `timeout`);
/// returns when every connection has finished.
pub fn boot_burst(
    addr: SocketAddr,
    interval: Duration,
    duration: Duration,
    max_open: usize,
    timeout: Duration,
) -> BurstReport {
    let start = Instant::now();
    // (when the connection started, when it ended, how)
    let (tx, rx) = mpsc::channel::<(Instant, Instant, Outcome)>();
    let mut report = BurstReport {
        first_echo: None,
        opened: 0,
        echoed: 0,
        refused_early: 0,
        failed: 0,
        first_error: None,
    };
    let mut open = 0usize;
    let mut refusals = Vec::new();
    let mut record =
        |report: &mut BurstReport, (began, ended, how): (Instant, Instant, Outcome)| match how {
            Outcome::Echoed => {
                report.echoed += 1;
                let since = ended.duration_since(start);
                report.first_echo = Some(report.first_echo.map_or(since, |f| f.min(since)));
            }
            Outcome::Refused => refusals.push(began.duration_since(start)),
            Outcome::Failed(e) => {
                report.failed += 1;
                report.first_error.get_or_insert(e);
            }
        };
    let mut next = start;
    while start.elapsed() < duration {
        if open < max_open && Instant::now() >= next {
            let tx = tx.clone();
            let spawned = thread::Builder::new().stack_size(64 * 1024).spawn(move || {
                let began = Instant::now();
                let how = probe_once(addr, timeout);
                let _ = tx.send((began, Instant::now(), how));
            });
            if spawned.is_ok() {
                open += 1;
                report.opened += 1;
            }
            next += interval;
        }
        let wait = next.saturating_duration_since(Instant::now());
        if let Ok(done) = rx.recv_timeout(wait.max(Duration::from_millis(1))) {
            open -= 1;
            record(&mut report, done);
        }
    }
    drop(tx);
    while open > 0 {
        match rx.recv() {
            Ok(done) => {
                open -= 1;
                record(&mut report, done);
            }
            Err(_) => break,
        }
    }
    // A refusal is a fault once the service had answered: it was listening by then.
    for began in refusals {
        if report.first_echo.is_some_and(|first| began >= first) {
            report.failed += 1;
            report.first_error.get_or_insert(format!(
                "refused {} ms into the burst, after the first echo",
                began.as_millis()
            ));
        } else {
            report.refused_early += 1;
        }
    }
    report
}

/// `n` connections one after the other, each connecting, echoing one byte and closing.
pub fn echo_sequential(addr: SocketAddr, n: usize) -> Result<Report, String> {
    let start = Instant::now();
    for i in 0..n {
        let what = format!("sequential connection #{i} of {n}");
        let mut s = connect(addr, &what)?;
        let byte = [b'a' + (i % 26) as u8];
        s.write_all(&byte)
            .map_err(|e| format!("{what}: write: {e}"))?;
        let mut back = [0u8; 1];
        s.read_exact(&mut back)
            .map_err(|e| format!("{what}: read: {e}"))?;
        if back != byte {
            return Err(format!("{what}: echoed {:?}, sent {:?}", back[0], byte[0]));
        }
    }
    Ok(Report {
        check: "echo_sequential",
        elapsed: start.elapsed(),
        bytes: n as u64,
        detail: format!("{n} connections, one byte each, one after the other"),
        steps: Vec::new(),
    })
}

/// Default per-connection timeout of [`boot_burst`]: the shared I/O timeout.
pub const BURST_TIMEOUT: Duration = IO_TIMEOUT;
