//! `socket-test [--port-base N]`: the socket calls over loopback (127.0.0.1): UDP and TCP
//! data, blocking calls that sleep and are woken, timeouts (`SO_RCVTIMEO`), `MSG_DONTWAIT`,
//! `poll`, non-blocking connect, names and options, TCP's host-wide memory limit (many
//! connections nobody reads) and `SO_LINGER`. Prints `socket-test: <check> ok` per check and
//! `socket-test: all N checks passed`; exits 0 only if every check passes (1 otherwise, 2 on
//! bad arguments).
//!
//! The checks use seven fixed ports: rinet's 5001-5003, 7007, 7008, 7010 and 7011 by default,
//! N+1 to N+7 with `--port-base N` (the host test picks free ones).

mod tcp;
mod udp;

use std::process::ExitCode;
use std::sync::OnceLock;

use progkit::{run_checks, Check};

const USAGE: &str = "usage: socket-test [--port-base N]";

/// The ports of the checks, in the order of [`Port`].
static PORTS: OnceLock<[u16; 7]> = OnceLock::new();
const RINET_PORTS: [u16; 7] = [5001, 5002, 5003, 7007, 7008, 7010, 7011];

/// Which check a port is for.
#[derive(Clone, Copy)]
pub enum Port {
    UdpLoopback,
    UdpTimeouts,
    PollWakes,
    TcpEcho,
    NonblockingConnect,
    MemoryBounded,
    Linger,
}

/// The port for `p`'s check.
pub fn port(p: Port) -> u16 {
    PORTS.get().unwrap_or(&RINET_PORTS)[p as usize]
}

const CHECKS: &[Check] = &[
    ("udp datagram over loopback", udp::udp_loopback),
    ("udp recv timeout and MSG_DONTWAIT", udp::udp_timeouts),
    ("poll wakes on data", udp::poll_wakes),
    ("tcp connect, accept, echo, close", tcp::tcp_echo),
    ("non-blocking connect completes", tcp::nonblocking_connect),
    (
        "tcp memory stays bounded when nobody reads",
        tcp::memory_bounded,
    ),
    (
        "SO_LINGER close waits until the peer has everything",
        tcp::linger_close,
    ),
];

fn parse(args: &[String]) -> Result<[u16; 7], String> {
    match args {
        [] => Ok(RINET_PORTS),
        [flag, v] if flag == "--port-base" => {
            let base: u16 = v
                .parse()
                .ok()
                .filter(|b: &u16| b.checked_add(7).is_some())
                .ok_or(format!("--port-base: '{v}' is not a number below 65529"))?;
            Ok(std::array::from_fn(|i| base + 1 + i as u16))
        }
        _ => Err(USAGE.into()),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match parse(&args) {
        Ok(ports) => {
            let _ = PORTS.set(ports);
        }
        Err(e) => {
            println!("socket-test: FAIL {e}");
            return ExitCode::from(2);
        }
    }
    if run_checks("socket-test", CHECKS) == 0 {
        println!("socket-test: all {} checks passed", CHECKS.len());
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
