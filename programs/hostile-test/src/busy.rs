//! A program that computes without a pause (`hostile-test --child spin`, a process of its
//! own) beside the services: they keep answering at once, not one round trip per time slice
//! of the busy program (rinet did that: 89 echo round trips a second from the host, where
//! 5000 came without it). The busy program ends by itself after [`SPIN`] (rinet's `kill`
//! reaches only the calling program), which outlasts the round trips' [`DEADLINE`].

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream, UdpSocket};
use std::process::{Command, ExitCode};
use std::thread;
use std::time::{Duration, Instant};

use progkit::{program_path, CheckResult};

use crate::{config, services_still_answer};

/// TCP and UDP echo round trips made while the busy program runs...
const ROUND_TRIPS: usize = 300;
/// ... within this long: one per 10 ms time slice would take 6 s.
const DEADLINE: Duration = Duration::from_secs(3);

/// How long the busy program computes.
const SPIN: Duration = Duration::from_millis(3500);

/// `--child spin`: computes for [`SPIN`], looking at the clock (a system call) only every
/// million steps.
pub fn child_spin() -> ExitCode {
    let end = Instant::now() + SPIN;
    let mut x: u64 = 1;
    while Instant::now() < end {
        for _ in 0..1_000_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    ExitCode::SUCCESS
}

pub fn busy_program_beside_services() -> CheckResult {
    let mut child = Command::new(program_path("hostile-test"))
        .args(["--child", "spin"])
        .spawn()
        .map_err(|e| format!("cannot start hostile-test --child spin: {e}"))?;
    // Let it run a whole time slice first, so that it is the busy one.
    thread::sleep(Duration::from_millis(50));
    let result = round_trips();
    match child.wait() {
        Ok(status) if status.success() => {}
        other => return Err(format!("the busy program ended with {other:?}")),
    }
    result?;
    services_still_answer()
}

fn round_trips() -> CheckResult {
    let echo = SocketAddrV4::new(Ipv4Addr::LOCALHOST, config().port_base + 7);
    let started = Instant::now();
    let mut s = TcpStream::connect(echo).map_err(|e| format!("tcp connect: {e}"))?;
    s.set_nodelay(true).map_err(|e| format!("nodelay: {e}"))?;
    s.set_read_timeout(Some(DEADLINE))
        .map_err(|e| format!("tcp timeout: {e}"))?;
    let mut b = [0u8; 1];
    for i in 0..ROUND_TRIPS {
        s.write_all(&[i as u8])
            .and_then(|()| s.read_exact(&mut b))
            .map_err(|e| format!("tcp round trip {i}: {e}"))?;
        if b[0] != i as u8 {
            return Err(format!("tcp round trip {i}: wrong byte"));
        }
    }
    let tcp = started.elapsed();
    let u = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("udp bind: {e}"))?;
    u.set_read_timeout(Some(DEADLINE))
        .map_err(|e| format!("udp timeout: {e}"))?;
    for i in 0..ROUND_TRIPS {
        u.send_to(&[i as u8], echo)
            .map_err(|e| format!("udp send {i}: {e}"))?;
        match u.recv_from(&mut b) {
            Ok((1, _)) if b[0] == i as u8 => {}
            other => return Err(format!("udp round trip {i}: {other:?}")),
        }
    }
    let total = started.elapsed();
    println!(
        "hostile-test: beside a busy program, {ROUND_TRIPS} tcp echo round trips took {} ms, \
         {ROUND_TRIPS} udp {} ms",
        tcp.as_millis(),
        (total - tcp).as_millis()
    );
    if total > DEADLINE {
        return Err(format!(
            "{} round trips took {} ms beside a busy program (at most {} ms)",
            2 * ROUND_TRIPS,
            total.as_millis(),
            DEADLINE.as_millis()
        ));
    }
    Ok(())
}
