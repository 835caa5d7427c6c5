//! The data-path checks: echo, discard and chargen over loopback, and echo through the NIC.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpStream, UdpSocket};
use std::time::Duration;

use progkit::{chargen, CheckResult};

use crate::{chargen_port, config, discard_port, echo_port};

/// Simultaneous connections in the concurrency check.
const CONNECTIONS: usize = 64;
/// Bytes pushed through echo in the large-transfer check.
const LARGE: usize = 4 * 1024 * 1024;

pub fn tcp_connect(port: u16) -> Result<TcpStream, String> {
    TcpStream::connect((Ipv4Addr::LOCALHOST, port))
        .map_err(|e| format!("connect to 127.0.0.1:{port}: {e}"))
}

/// Pushes `total` bytes through an echo connection in chunks and compares what comes back.
fn echo_through(s: &mut TcpStream, total: usize, seed: u8) -> CheckResult {
    let mut out = [0u8; 8192];
    let mut back = [0u8; 8192];
    let mut done = 0;
    while done < total {
        let len = out.len().min(total - done);
        for (i, b) in out[..len].iter_mut().enumerate() {
            *b = ((done + i) as u8).wrapping_mul(7) ^ seed;
        }
        s.write_all(&out[..len])
            .map_err(|e| format!("write: {e}"))?;
        s.read_exact(&mut back[..len])
            .map_err(|e| format!("read: {e}"))?;
        if back[..len] != out[..len] {
            return Err(format!("echoed bytes differ at offset {done}"));
        }
        done += len;
    }
    Ok(())
}

pub fn tcp_echo_small() -> CheckResult {
    echo_through(&mut tcp_connect(echo_port())?, 13, 1)
}

pub fn tcp_echo_large() -> CheckResult {
    let mut s = tcp_connect(echo_port())?;
    s.set_nodelay(true)
        .map_err(|e| format!("TCP_NODELAY: {e}"))?;
    echo_through(&mut s, LARGE, 2)
}

pub fn many_connections() -> CheckResult {
    let mut conns = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        conns.push(tcp_connect(echo_port())?);
    }
    for (i, s) in conns.iter_mut().enumerate() {
        s.write_all(&[i as u8; 100])
            .map_err(|e| format!("write: {e}"))?;
    }
    for (i, s) in conns.iter_mut().enumerate() {
        let mut back = [0u8; 100];
        s.read_exact(&mut back).map_err(|e| format!("read: {e}"))?;
        if back != [i as u8; 100] {
            return Err("a connection got another's bytes".into());
        }
    }
    Ok(())
}

pub fn udp_echo() -> CheckResult {
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).map_err(|e| format!("bind: {e}"))?;
    s.set_read_timeout(Some(Duration::from_millis(500)))
        .map_err(|e| format!("SO_RCVTIMEO: {e}"))?;
    let msg = b"rinet udp echo";
    // A datagram may be lost: five tries.
    for _ in 0..5 {
        s.send_to(msg, (Ipv4Addr::LOCALHOST, echo_port()))
            .map_err(|e| format!("sendto: {e}"))?;
        let mut buf = [0u8; 64];
        let Ok((n, from)) = s.recv_from(&mut buf) else {
            continue;
        };
        return if &buf[..n] == msg && from.port() == echo_port() {
            Ok(())
        } else {
            Err(format!("wrong reply: {n} bytes from {from}"))
        };
    }
    Err("no reply".into())
}

pub fn chargen_pattern() -> CheckResult {
    let mut s = tcp_connect(chargen_port())?;
    let mut got = [0u8; 3000];
    s.read_exact(&mut got).map_err(|e| format!("read: {e}"))?;
    let mut want = [0u8; 3000];
    chargen::fill(&mut want, 0);
    if got == want {
        Ok(())
    } else {
        Err("pattern differs from RFC 864".into())
    }
}

pub fn discard_megabyte() -> CheckResult {
    let mut s = tcp_connect(discard_port())?;
    let chunk = [0x5au8; 8192];
    for _ in 0..128 {
        s.write_all(&chunk).map_err(|e| format!("write: {e}"))?;
    }
    s.shutdown(Shutdown::Write)
        .map_err(|e| format!("shutdown: {e}"))?;
    let mut buf = [0u8; 16];
    match s.read(&mut buf) {
        Ok(0) => Ok(()),
        Ok(n) => Err(format!("discard sent {n} bytes back")),
        Err(e) => Err(format!("read after shutdown: {e} (want end of file)")),
    }
}

pub fn nic_echo() -> CheckResult {
    let peer = config().nic_peer.ok_or("no peer given")?;
    let mut s = TcpStream::connect(peer).map_err(|e| format!("connect to {peer}: {e}"))?;
    echo_through(&mut s, 256 * 1024, 3)
}
