//! The checks against small loopback servers written here: correct ones must pass, and each
//! deliberately broken one must fail with the reason a user would need (offset, byte counts).

use super::*;
use std::io::{Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::thread;

/// Serve each accepted connection with `handler` on its own thread; returns the address.
fn tcp_server(handler: fn(TcpStream, usize)) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for (k, s) in l.incoming().enumerate() {
            let Ok(s) = s else { return };
            thread::spawn(move || handler(s, k));
        }
    });
    addr
}

/// Echo until EOF, passing each chunk through `f(stream_offset, bytes)`, then close.
fn echo_with(mut s: TcpStream, f: impl Fn(usize, &mut Vec<u8>)) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut off = 0;
    loop {
        let n = match s.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut out = buf[..n].to_vec();
        f(off, &mut out);
        off += n;
        if s.write_all(&out).is_err() {
            return;
        }
    }
}

fn good_echo(s: TcpStream, _: usize) {
    echo_with(s, |_, _| {});
}

#[test]
fn echo_payloads_pass_against_a_correct_server() {
    let addr = tcp_server(good_echo);
    let r = echo_payloads(addr, &[1, 7, 1460, 1461, 65536, 300_000]).unwrap();
    assert_eq!(r.bytes, 1 + 7 + 1460 + 1461 + 65536 + 300_000);
    assert_eq!(r.steps.len(), 6);
}

#[test]
fn echo_payloads_report_the_corrupted_offset() {
    let addr = tcp_server(|s, _| {
        echo_with(s, |off, out| {
            if (off..off + out.len()).contains(&5000) {
                out[5000 - off] ^= 0x40;
            }
        })
    });
    let e = echo_payloads(addr, &[100, 20_000]).unwrap_err();
    assert!(e.contains("(20000 B)"), "{e}");
    assert!(e.contains("byte offset 5000 of 20000"), "{e}");
}

#[test]
fn echo_payloads_report_a_short_echo() {
    let addr = tcp_server(|mut s, _| {
        let mut buf = [0u8; 100];
        if s.read_exact(&mut buf).is_ok() {
            let _ = s.write_all(&buf);
        }
        // Drain to EOF so the close is a FIN, not a reset over unread data.
        let _ = std::io::copy(&mut s, &mut std::io::sink());
    });
    let e = echo_payloads(addr, &[1000]).unwrap_err();
    assert!(
        e.contains("server closed after echoing 100 of 1000 bytes"),
        "{e}"
    );
}

#[test]
fn echo_payloads_reject_bytes_after_the_echo() {
    let addr = tcp_server(|s, _| {
        let mut w = s.try_clone().unwrap();
        echo_with(s, |_, _| {});
        let _ = w.write_all(b"extra");
    });
    let e = echo_payloads(addr, &[64]).unwrap_err();
    // The extra bytes may arrive with the echo or after it.
    assert!(
        e.contains("5 unexpected bytes instead of the close")
            || e.contains("server sent 5 bytes beyond the 64 written"),
        "{e}"
    );
}

#[test]
fn echo_concurrent_passes_and_names_the_failing_connection() {
    let addr = tcp_server(good_echo);
    let r = echo_concurrent(addr, 20, 3000).unwrap();
    assert_eq!(r.bytes, 60_000);

    // Every connection but the 4th accepted is echoed faithfully.
    let addr = tcp_server(|s, k| {
        echo_with(s, move |off, out| {
            if k == 3 && off == 0 {
                out[0] = out[0].wrapping_add(1);
            }
        })
    });
    let e = echo_concurrent(addr, 10, 2000).unwrap_err();
    assert!(
        e.starts_with("1 of 10 concurrent connections failed"),
        "{e}"
    );
    assert!(e.contains("connection #3 of 10"), "{e}");
    assert!(e.contains("byte offset 0 of 2000"), "{e}");
}

#[test]
fn discard_bulk_passes_and_rejects_a_reply() {
    let addr = tcp_server(|mut s, _| {
        let mut buf = vec![0u8; 64 * 1024];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
    });
    let r = discard_bulk(addr, 3 << 20).unwrap();
    assert_eq!(r.bytes, 3 << 20);

    let addr = tcp_server(|mut s, _| {
        let mut buf = vec![0u8; 64 * 1024];
        while matches!(s.read(&mut buf), Ok(n) if n > 0) {}
        let _ = s.write_all(b"!");
    });
    let e = discard_bulk(addr, 100_000).unwrap_err();
    assert!(e.contains("sent 1 bytes back (first 0x21 '!')"), "{e}");
}

/// The RFC 864 stream built line by line from the ring, independently of `chargen_byte`.
fn chargen_lines(first_line: usize, lines: usize) -> Vec<u8> {
    let ring: Vec<u8> = (0x20u8..=0x7e).collect();
    let doubled = [ring.clone(), ring].concat();
    let mut out = Vec::new();
    for k in first_line..first_line + lines {
        let start = k % 95;
        out.extend_from_slice(&doubled[start..start + 72]);
        out.extend_from_slice(b"\r\n");
    }
    out
}

#[test]
fn chargen_pattern_matches_rfc_864_lines() {
    let first = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n";
    let second = "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh\r\n";
    let got: Vec<u8> = (0..148).map(chargen_byte).collect();
    assert_eq!(got, [first, second].concat().as_bytes());
    // Line 94 starts at '~' and wraps to ' '; line 95 is line 0 again.
    let l94: Vec<u8> = (94 * 74..95 * 74).map(chargen_byte).collect();
    assert_eq!(&l94[..3], b"~ !");
    let l95: Vec<u8> = (95 * 74..96 * 74).map(chargen_byte).collect();
    assert_eq!(l95, first.as_bytes());
    let stream = chargen_lines(0, 300);
    assert_eq!(chargen_mismatch(0, &stream), None);
    assert_eq!(chargen_mismatch(74 * 7, &stream[74 * 7..]), None);
}

fn serve_chargen(mut s: TcpStream, stream: Vec<u8>) {
    // Odd-sized writes so reads end mid-line.
    for chunk in stream.chunks(37) {
        if s.write_all(chunk).is_err() {
            return;
        }
    }
}

#[test]
fn chargen_check_passes_across_split_lines() {
    let addr = tcp_server(|s, _| serve_chargen(s, chargen_lines(0, 500)));
    let r = chargen_check(addr, 30_001).unwrap();
    assert_eq!(r.bytes, 30_001);
}

#[test]
fn chargen_check_rejects_a_shifted_start_and_a_missing_cr() {
    let addr = tcp_server(|s, _| serve_chargen(s, chargen_lines(1, 100)));
    let e = chargen_check(addr, 1000).unwrap_err();
    assert!(
        e.contains("byte offset 0 (line 0, column 0) is 0x21 '!'"),
        "{e}"
    );

    let addr = tcp_server(|s, _| {
        let mut stream = chargen_lines(0, 100);
        stream[3 * 74 + 72] = b'\n';
        serve_chargen(s, stream)
    });
    let e = chargen_check(addr, 5000).unwrap_err();
    assert!(
        e.contains(&format!("byte offset {} (line 3, column 72)", 3 * 74 + 72)),
        "{e}"
    );
    assert!(e.contains("expected 0x0d"), "{e}");

    let addr = tcp_server(|s, _| serve_chargen(s, chargen_lines(0, 10)));
    let e = chargen_check(addr, 5000).unwrap_err();
    assert!(e.contains("server closed after 740 of 5000 bytes"), "{e}");
}

/// A UDP echo server that hands each datagram to `f(index, bytes)`, which returns the reply.
fn udp_server(f: fn(usize, &[u8]) -> Option<Vec<u8>>) -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        for k in 0.. {
            let Ok((n, from)) = s.recv_from(&mut buf) else {
                return;
            };
            if let Some(reply) = f(k, &buf[..n]) {
                let _ = s.send_to(&reply, from);
            }
        }
    });
    addr
}

#[test]
fn udp_echo_survives_loss_by_resending() {
    // Drops every other datagram it receives.
    let addr = udp_server(|k, d| (k % 2 == 1).then(|| d.to_vec()));
    let r = udp_echo(addr, 3, &[1, 512, 8192]).unwrap();
    assert_eq!(r.bytes, 3 * (1 + 512 + 8192));
    assert!(r.detail.contains("9 needed a resend"), "{}", r.detail);
}

#[test]
fn udp_echo_reports_corruption_and_truncation() {
    let addr = udp_server(|_, d| {
        let mut v = d.to_vec();
        if v.len() > 300 {
            v[300] ^= 1;
        }
        Some(v)
    });
    let e = udp_echo(addr, 2, &[7, 512]).unwrap_err();
    assert!(e.contains("udp datagram #0 of 512 B"), "{e}");
    assert!(e.contains("differs at byte offset 300"), "{e}");

    let addr = udp_server(|_, d| Some(d[..d.len().min(100)].to_vec()));
    let e = udp_echo(addr, 1, &[1472]).unwrap_err();
    assert!(e.contains("echo is 100 B long, 1472 B were sent"), "{e}");
}

#[test]
fn wait_for_echo_retries_until_the_server_answers() {
    // Accepts and closes at once (what user networking does while the guest is not listening)
    // for the first few connections, then echoes.
    let addr = tcp_server(|s, k| {
        if k >= 3 {
            good_echo(s, k)
        }
    });
    let r = wait_for_echo(addr, Duration::from_secs(10)).unwrap();
    // Attempts start 50 ms apart, so the 4th connection accepted is the 4th attempt or later.
    let winner: u32 = r
        .detail
        .split("attempt #")
        .nth(1)
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no attempt number in {:?}", r.detail));
    assert!(winner >= 4, "{}", r.detail);

    let addr = tcp_server(|_, _| {});
    let e = wait_for_echo(addr, Duration::from_millis(400)).unwrap_err();
    assert!(e.contains("no 1-byte echo"), "{e}");
    // Closed with our byte unread: a FIN or a reset, depending on timing.
    assert!(
        e.contains("connection closed before the echo") || e.contains("reset"),
        "{e}"
    );
}
