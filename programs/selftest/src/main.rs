//! `selftest [--port-base N] [--services-running] [HOST PORT]`: tests of the socket layer over
//! loopback against the `services` program it starts (`/bin/services`, or the sibling file
//! natively), and with HOST PORT (an echo server reachable through the NIC) over the NIC: TCP
//! and UDP echo round trips, large transfers, many simultaneous connections, chargen's
//! pattern, and every errno path. Prints `selftest: <check> ok` per check, then
//! `selftest: all checks passed` and exits 0 only if all pass (1 otherwise, 2 on bad
//! arguments).
//!
//! `--port-base N` puts the services on N+7, N+9 and N+19 (passed on to the services it
//! starts); `--services-running` uses services someone else started (the host test does, so
//! that it can stop them). rinet's defaults: ports 7, 9, 19, services started here (they end
//! with this program, the init program).

mod errnos;
mod loopback;

use std::net::{Ipv4Addr, SocketAddrV4, TcpStream};
use std::process::{Command, ExitCode};
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use progkit::{program_path, run_checks, Check};

const USAGE: &str = "usage: selftest [--port-base N] [--services-running] [HOST PORT]";

/// Where the services and the NIC peer are.
pub struct Config {
    pub port_base: u16,
    pub nic_peer: Option<SocketAddrV4>,
}

static CONFIG: OnceLock<Config> = OnceLock::new();

/// The configuration `main` set before running any check.
pub fn config() -> &'static Config {
    CONFIG.get().expect("main sets the configuration first")
}

pub fn echo_port() -> u16 {
    config().port_base + 7
}
pub fn discard_port() -> u16 {
    config().port_base + 9
}
pub fn chargen_port() -> u16 {
    config().port_base + 19
}

const CHECKS: &[Check] = &[
    (
        "tcp echo round trip over loopback",
        loopback::tcp_echo_small,
    ),
    ("tcp large transfer through echo", loopback::tcp_echo_large),
    ("many simultaneous connections", loopback::many_connections),
    ("udp echo round trip", loopback::udp_echo),
    ("chargen pattern", loopback::chargen_pattern),
    ("discard swallows a megabyte", loopback::discard_megabyte),
    ("EBADF", errnos::ebadf),
    ("ENOTSOCK", errnos::enotsock),
    ("EINVAL", errnos::einval),
    ("ECONNREFUSED", errnos::econnrefused),
    ("EADDRINUSE", errnos::eaddrinuse),
    ("EAGAIN", errnos::eagain),
    ("EINPROGRESS, then poll and SO_ERROR", errnos::einprogress),
    ("ENOTCONN", errnos::enotconn),
    ("EPIPE", errnos::epipe),
    ("EMFILE", errnos::emfile),
    ("EFAULT", errnos::efault),
    ("ENOSYS", errnos::enosys),
];

const NIC_CHECKS: &[Check] = &[("tcp echo over the NIC", loopback::nic_echo)];

/// Options and whether to start the services.
fn parse(args: &[String]) -> Result<(Config, bool), String> {
    let mut port_base = 0u16;
    let mut start_services = true;
    let mut positional = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--port-base" => {
                let v = it.next().ok_or("--port-base needs a value")?;
                port_base = v
                    .parse()
                    .ok()
                    .filter(|b: &u16| b.checked_add(19).is_some())
                    .ok_or(format!("--port-base: '{v}' is not a number below 65517"))?;
            }
            "--services-running" => start_services = false,
            _ => positional.push(a),
        }
    }
    let nic_peer = match positional.as_slice() {
        [] => None,
        [host, port] => {
            let ip: Ipv4Addr = host
                .parse()
                .map_err(|_| format!("HOST '{host}' is not an IPv4 address"))?;
            let port: u16 = port
                .parse()
                .map_err(|_| format!("PORT '{port}' is not a number from 1 to 65535"))?;
            Some(SocketAddrV4::new(ip, port))
        }
        _ => return Err(USAGE.into()),
    };
    Ok((
        Config {
            port_base,
            nic_peer,
        },
        start_services,
    ))
}

/// Waits (up to 10 s: under TCG a new program takes a while to start) until echo on 127.0.0.1 accepts a connection.
fn wait_for_echo() -> bool {
    for _ in 0..1000 {
        if TcpStream::connect((Ipv4Addr::LOCALHOST, echo_port())).is_ok() {
            return true;
        }
        thread::sleep(Duration::from_millis(10));
    }
    false
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cfg, start_services) = match parse(&args) {
        Ok(c) => c,
        Err(e) => {
            println!("selftest: FAIL {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let port_base = cfg.port_base;
    let _ = CONFIG.set(cfg);
    if start_services {
        // Not waited for: in rinet the services end with this program (the init program).
        let started = Command::new(program_path("services"))
            .args(["--port-base", &port_base.to_string()])
            .spawn();
        if let Err(e) = started {
            println!("selftest: FAIL cannot start services: {e}");
            return ExitCode::FAILURE;
        }
    }
    if !wait_for_echo() {
        println!(
            "selftest: FAIL services never answered on 127.0.0.1:{}",
            echo_port()
        );
        return ExitCode::FAILURE;
    }
    let nic = if config().nic_peer.is_some() {
        NIC_CHECKS
    } else {
        &[]
    };
    let failed = run_checks("selftest", CHECKS) + run_checks("selftest", nic);
    if failed == 0 {
        println!("selftest: all checks passed");
        ExitCode::SUCCESS
    } else {
        println!("selftest: {failed} checks failed");
        ExitCode::FAILURE
    }
}
