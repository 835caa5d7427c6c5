//! UDP echo (RFC 862) check: datagrams of several sizes, fragmented ones included, each re-sent
//! until echoed since user networking may drop. Never starts guests.

use std::collections::HashSet;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use super::{payload, show_byte, Report, Step};

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
