//! Load shapes for a guest's NIC, run from the host (inside the test's network namespace):
//!
//! `nicload burst HOST [INTERVAL_MS DURATION_MS MAX_OPEN]`: a new echo connection every
//! INTERVAL_MS (50) for DURATION_MS (3000), at most MAX_OPEN (64) unfinished, one byte each;
//! prints `burst: first_echo_ms=N opened=N echoed=N ...` and exits 0 when every connection
//! echoed (or was refused before the echo service listened, as on Linux).
//!
//! `nicload mixed HOST`: 100 concurrent echo connections, 1000 sequential
//! connect/echo/close, 64 MiB into discard; one `PASS`/`FAIL` line each, exit 0 when all
//! passed. Ports are the services' own: echo 7, discard 9. Exit status 2 on bad arguments.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use rinet::services::{
    boot_burst, discard_bulk, echo_concurrent, echo_sequential, Report, BURST_TIMEOUT,
};

const USAGE: &str =
    "usage: nicload burst HOST [INTERVAL_MS DURATION_MS MAX_OPEN] | nicload mixed HOST";
const ECHO_PORT: u16 = 7;
const DISCARD_PORT: u16 = 9;
/// The mixed load's sizes (issue 11).
const CONCURRENT: usize = 100;
const CONCURRENT_BYTES: usize = 1000;
const SEQUENTIAL: usize = 1000;
const DISCARD_BYTES: u64 = 64 << 20;

fn burst(host: IpAddr, nums: &[u64]) -> ExitCode {
    let interval = Duration::from_millis(nums.first().copied().unwrap_or(50));
    let duration = Duration::from_millis(nums.get(1).copied().unwrap_or(3000));
    let max_open = nums.get(2).copied().unwrap_or(64) as usize;
    let r = boot_burst(
        SocketAddr::new(host, ECHO_PORT),
        interval,
        duration,
        max_open,
        BURST_TIMEOUT,
    );
    let first = r
        .first_echo
        .map_or("none".to_string(), |d| d.as_millis().to_string());
    println!(
        "burst: first_echo_ms={first} opened={} echoed={} refused_before_listening={} failed={}",
        r.opened, r.echoed, r.refused_early, r.failed
    );
    if let Some(e) = &r.first_error {
        println!("burst: first failure: {e}");
    }
    if r.all_served() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// One named check of the mixed load.
type Check = Box<dyn Fn() -> Result<Report, String>>;

fn mixed(host: IpAddr) -> ExitCode {
    let echo = SocketAddr::new(host, ECHO_PORT);
    let checks: [(&str, Check); 3] = [
        (
            "echo_concurrent",
            Box::new(move || echo_concurrent(echo, CONCURRENT, CONCURRENT_BYTES)),
        ),
        (
            "echo_sequential",
            Box::new(move || echo_sequential(echo, SEQUENTIAL)),
        ),
        (
            "discard_bulk",
            Box::new(move || discard_bulk(SocketAddr::new(host, DISCARD_PORT), DISCARD_BYTES)),
        ),
    ];
    let mut failed = 0;
    for (name, check) in checks {
        match check() {
            Ok(report) => println!("PASS {report}"),
            Err(why) => {
                failed += 1;
                println!("FAIL {name}: {why}");
            }
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let host: Option<IpAddr> = args.get(1).and_then(|h| h.parse().ok());
    let nums: Result<Vec<u64>, _> = args.iter().skip(2).map(|a| a.parse::<u64>()).collect();
    match (args.first().map(String::as_str), host, nums) {
        (Some("burst"), Some(h), Ok(n)) if n.len() <= 3 => burst(h, &n),
        (Some("mixed"), Some(h), Ok(n)) if n.is_empty() => mixed(h),
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
