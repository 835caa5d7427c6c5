//! `services [-v] [--port-base N] [SECONDS]`: the classic inetd services over TCP and UDP —
//! echo on port 7 (RFC 862), discard on 9 (RFC 863), chargen on 19 (RFC 864) — many clients at
//! once, a thread per TCP connection. With `--port-base N` the ports are N+7, N+9 and N+19
//! (for a host without the privilege to bind below 1024); with SECONDS it exits with status 0
//! after that long; `-v` prints a line per accepted TCP connection.
//!
//! A plain std program: the same binary runs on Linux and in rinet.

use progkit::chargen;

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::thread;
use std::time::Duration;

const ECHO: u16 = 7;
const DISCARD: u16 = 9;
const CHARGEN: u16 = 19;
/// Bytes moved per read/write: half a 64 KiB TCP super-segment per call.
const IO_CHUNK: usize = 32 * 1024;
/// Largest UDP datagram (65535 − 8 − 20).
const MAX_UDP: usize = 65507;
/// Stack of a connection thread: its buffers are on the heap.
const THREAD_STACK: usize = 64 * 1024;
const USAGE: &str = "usage: services [-v] [--port-base N] [SECONDS]";

struct Options {
    verbose: bool,
    port_base: u16,
    lifetime: Option<Duration>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        verbose: false,
        port_base: 0,
        lifetime: None,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-v" => o.verbose = true,
            "--port-base" => {
                let v = it.next().ok_or("--port-base needs a value")?;
                o.port_base = v
                    .parse()
                    .ok()
                    .filter(|b: &u16| b.checked_add(CHARGEN).is_some())
                    .ok_or(format!("--port-base: '{v}' is not a number below 65517"))?;
            }
            s => {
                let secs: u64 = s
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or(format!("'{s}' is not a number of seconds"))?;
                o.lifetime = Some(Duration::from_secs(secs));
            }
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("services: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    // Every port is bound before any is served: once one answers, all of them do (a client
    // that saw echo answer may go on to discard at once).
    let mut sockets = Vec::new();
    for service in [ECHO, DISCARD, CHARGEN] {
        let port = opts.port_base + service;
        let tcp = match TcpListener::bind((Ipv4Addr::UNSPECIFIED, port)) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("services: cannot listen on TCP port {port}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let udp = match UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("services: cannot bind UDP port {port}: {e}");
                return ExitCode::FAILURE;
            }
        };
        sockets.push((service, port, tcp, udp));
    }
    for (service, port, tcp, udp) in sockets {
        let verbose = opts.verbose;
        thread::spawn(move || accept_loop(tcp, service, port, verbose));
        thread::spawn(move || udp_loop(udp, service));
    }
    println!(
        "services: echo, discard and chargen on TCP and UDP ports {}, {} and {}",
        opts.port_base + ECHO,
        opts.port_base + DISCARD,
        opts.port_base + CHARGEN
    );
    match opts.lifetime {
        Some(d) => {
            thread::sleep(d);
            println!("services: served {} s, exiting", d.as_secs());
            ExitCode::SUCCESS
        }
        None => loop {
            thread::park();
        },
    }
}

fn accept_loop(listener: TcpListener, service: u16, port: u16, verbose: bool) {
    loop {
        let (stream, peer) = match listener.accept() {
            Ok(c) => c,
            Err(_) => {
                // EMFILE/ENOBUFS under load: back off briefly rather than spin.
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        if verbose {
            println!("services: tcp/{port} connection from {peer}");
        }
        let spawned = thread::Builder::new()
            .stack_size(THREAD_STACK)
            .spawn(move || serve(stream, service));
        if spawned.is_err() {
            eprintln!("services: no thread for a tcp/{port} connection; closing it");
        }
    }
}

fn serve(mut s: TcpStream, service: u16) {
    let _ = s.set_nodelay(true);
    let _ = match service {
        ECHO => echo(&mut s),
        DISCARD => discard(&mut s),
        _ => chargen::stream(&mut s),
    };
}

fn echo(s: &mut TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; IO_CHUNK];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        s.write_all(&buf[..n])?;
    }
}

fn discard(s: &mut TcpStream) -> io::Result<()> {
    let mut buf = vec![0u8; IO_CHUNK];
    while s.read(&mut buf)? > 0 {}
    Ok(())
}

fn udp_loop(sock: UdpSocket, service: u16) {
    let mut buf = vec![0u8; MAX_UDP];
    let mut line = 0u64;
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let _ = match service {
            ECHO => sock.send_to(&buf[..n], from),
            DISCARD => Ok(0),
            _ => {
                // RFC 864 over UDP: a datagram of lines per datagram received.
                let len = chargen::LINE * chargen::UDP_LINES;
                chargen::fill(&mut buf[..len], line * chargen::LINE as u64);
                line += 1;
                sock.send_to(&buf[..len], from)
            }
        };
    }
}
