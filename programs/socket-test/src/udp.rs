//! The UDP checks: a datagram over loopback with its names and options, receive timeouts
//! and `MSG_DONTWAIT`, and `poll` sleeping until a datagram arrives.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use progkit::sys::{self, expect_errno};
use progkit::{CheckResult, Errno};

use crate::{port, Port};

fn udp_socket() -> Result<UdpSocket, String> {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("socket/bind: {e}"))
}

fn bound(p: u16) -> Result<UdpSocket, String> {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, p)).map_err(|e| format!("bind 127.0.0.1:{p}: {e}"))
}

pub fn udp_loopback() -> CheckResult {
    let p = port(Port::UdpLoopback);
    let rx = bound(p)?;
    let tx = sys::socket(libc::AF_INET, libc::SOCK_DGRAM).map_err(|e| e.name().to_string())?;
    let name = sys::getsockname(rx.as_raw_fd()).map_err(|e| e.name().to_string())?;
    if sys::port_of(&name) != p {
        return Err(format!("getsockname does not show port {p}"));
    }
    // An unbound socket's sendto binds it to an ephemeral port.
    if sys::sendto(tx, b"hello", 0, &sys::sockaddr_in([127, 0, 0, 1], p)) != Ok(5) {
        return Err("sendto did not send 5 bytes".into());
    }
    let mut buf = [0u8; 16];
    let (n, from) = rx
        .recv_from(&mut buf)
        .map_err(|e| format!("blocking recvfrom: {e}"))?;
    if &buf[..n] != b"hello" {
        return Err(format!("recvfrom returned {n} bytes, not the datagram"));
    }
    let txname = sys::getsockname(tx).map_err(|e| e.name().to_string())?;
    if from != SocketAddr::from((Ipv4Addr::LOCALHOST, sys::port_of(&txname))) {
        return Err(format!("recvfrom's source {from} is not the sender"));
    }
    if sys::getsockopt_int(rx.as_raw_fd(), libc::SOL_SOCKET, libc::SO_TYPE) != Ok(libc::SOCK_DGRAM)
    {
        return Err("getsockopt(SO_TYPE) is not SOCK_DGRAM".into());
    }
    if sys::close(tx) != Ok(0) {
        return Err("close failed".into());
    }
    expect_errno(sys::close(tx), Errno::EBADF, "second close")
}

pub fn udp_timeouts() -> CheckResult {
    let s = bound(port(Port::UdpTimeouts))?;
    let mut buf = [0u8; 8];
    let t0 = Instant::now();
    expect_errno(
        sys::recv(s.as_raw_fd(), &mut buf, libc::MSG_DONTWAIT),
        Errno::EAGAIN,
        "recv(MSG_DONTWAIT) on an empty socket",
    )?;
    // struct timeval { 0 s, 50000 us }
    let mut tv = [0u8; 16];
    tv[8..].copy_from_slice(&50_000i64.to_ne_bytes());
    sys::setsockopt(s.as_raw_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv)
        .map_err(|e| format!("setsockopt(SO_RCVTIMEO): {}", e.name()))?;
    let dontwait = t0.elapsed();
    let t1 = Instant::now();
    let r = sys::recv(s.as_raw_fd(), &mut buf, 0);
    let waited = t1.elapsed();
    expect_errno(r, Errno::EAGAIN, "recv past SO_RCVTIMEO")?;
    if waited < Duration::from_millis(50) || dontwait > Duration::from_millis(50) {
        return Err(format!(
            "MSG_DONTWAIT took {dontwait:?}, SO_RCVTIMEO of 50 ms waited {waited:?}"
        ));
    }
    Ok(())
}

pub fn poll_wakes() -> CheckResult {
    let p = port(Port::PollWakes);
    let rx = bound(p)?;
    let tx = Arc::new(udp_socket()?);
    let mut pfd = [sys::pollfd(rx.as_raw_fd(), libc::POLLIN)];
    let t0 = Instant::now();
    if sys::poll(&mut pfd, 30) != Ok(0) || t0.elapsed() < Duration::from_millis(30) {
        return Err("poll on an empty socket did not time out after 30 ms".into());
    }
    let sender = {
        let tx = Arc::clone(&tx);
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            tx.send_to(b"wake", (Ipv4Addr::LOCALHOST, p))
        })
    };
    let t1 = Instant::now();
    let n = sys::poll(&mut pfd, 5_000);
    let waited = t1.elapsed();
    let sent = sender.join().map_err(|_| "the sender thread panicked")?;
    sent.map_err(|e| format!("the sender's sendto: {e}"))?;
    if n != Ok(1) || pfd[0].revents & libc::POLLIN == 0 {
        return Err("poll did not report POLLIN after a datagram arrived".into());
    }
    if waited < Duration::from_millis(20) {
        return Err("poll returned before the datagram was sent".into());
    }
    Ok(())
}
