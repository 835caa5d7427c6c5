//! Host-side clients for the classic inetd services a guest serves: echo (RFC 862), discard
//! (RFC 863) and chargen (RFC 864), over TCP and UDP, driven from real host sockets (std::net
//! only) through QEMU's hostfwd on 127.0.0.1.
//!
//! Every check returns `Result<Report, String>`: a [`Report`] with timings on success, or a
//! sentence that says exactly what went wrong (which connection, which byte offset, how many
//! bytes came back). Every socket operation has a timeout ([`IO_TIMEOUT`]), so a wedged guest
//! makes a check fail, never hang. This module never starts or stops guests and never talks to
//! anything but the address it is given.
//!
//! Split by concern: `wait` (first echo while booting), `echo` (TCP echo), `bulk` (discard, chargen), `udp` (UDP echo), `load` (connection bursts and sequences); this file
//! holds what they share (endpoints, reports, payload generator, socket helpers) and `run_all`.

use std::fmt;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

mod bulk;
mod echo;
mod flood;
mod load;
mod udp;
mod wait;

pub use bulk::{
    chargen_byte, chargen_check, chargen_mismatch, discard_bulk, CHARGEN_LINE, CHARGEN_RING,
};
pub use echo::{echo_concurrent, echo_payloads, CONNECT_PACE, CONNECT_PACE_MAX};
pub use flood::echo_unread_flood;
pub use load::{boot_burst, echo_sequential, BurstReport, BURST_TIMEOUT};
pub use udp::{udp_echo, UDP_TRIES, UDP_WAIT_FIRST, UDP_WAIT_MAX};
pub use wait::{wait_for_echo, WAIT_ATTEMPT_TIMEOUT, WAIT_INTERVAL};

/// Longest a single read, write or connect may block before the check fails. Generous because
/// a TCG guest can stall for seconds (another QEMU on the same 2 cores, a GC-like pause in the
/// guest); a healthy guest answers in milliseconds.
pub const IO_TIMEOUT: Duration = Duration::from_secs(30);

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

pub(crate) fn show_byte(b: u8) -> String {
    if (0x20..0x7f).contains(&b) {
        format!("0x{b:02x} {:?}", b as char)
    } else {
        format!("0x{b:02x}")
    }
}

pub(crate) fn connect(addr: SocketAddr, what: &str) -> Result<TcpStream, String> {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .map_err(|e| format!("{what}: connect to {addr} failed: {e}"))?;
    s.set_read_timeout(Some(IO_TIMEOUT))
        .and_then(|_| s.set_write_timeout(Some(IO_TIMEOUT)))
        .and_then(|_| s.set_nodelay(true))
        .map_err(|e| format!("{what}: socket options on {addr}: {e}"))?;
    Ok(s)
}

pub(crate) fn io_err(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => {
            format!("timed out after {} s ({e})", IO_TIMEOUT.as_secs())
        }
        _ => e.to_string(),
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
