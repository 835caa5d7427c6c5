//! Runs every services check (echo, discard, chargen over TCP; echo over UDP) against a guest
//! that is already running, e.g. the linux-peer baseline:
//!
//! `cargo run --release --bin svccheck -- 127.0.0.1 17000 [--quick] [--discard BYTES]
//!  [--chargen BYTES] [--max-echo BYTES] [--concurrent N] [--udp-count N] [--boot-timeout SECS]`
//!
//! Ports: base+7 echo (TCP and UDP), base+9 discard, base+19 chargen. Exit status 0 when every
//! check passed, 1 otherwise, 2 on bad arguments.

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

use rinet::services::{run_all, Endpoints, Plan};

const USAGE: &str = "usage: svccheck HOST PORT_BASE [--quick] [--discard BYTES] [--chargen BYTES] \
[--max-echo BYTES] [--concurrent N] [--udp-count N] [--boot-timeout SECS]";

fn parse(args: &[String]) -> Result<(Endpoints, Plan), String> {
    let host: IpAddr = args
        .first()
        .ok_or("missing HOST")?
        .parse()
        .map_err(|e| format!("HOST: {e}"))?;
    let base: u16 = args
        .get(1)
        .ok_or("missing PORT_BASE")?
        .parse()
        .map_err(|e| format!("PORT_BASE: {e}"))?;
    if base > u16::MAX - 19 {
        return Err("PORT_BASE + 19 must fit in a port number".into());
    }
    let mut plan = Plan::full();
    let mut rest = args[2..].iter();
    while let Some(flag) = rest.next() {
        if flag == "--quick" {
            plan.echo_sizes.retain(|&s| s <= 1 << 20);
            plan.discard_bytes = 8 << 20;
            plan.chargen_bytes = 1 << 20;
            continue;
        }
        let value: u64 = rest
            .next()
            .ok_or(format!("{flag} needs a value"))?
            .parse()
            .map_err(|e| format!("{flag}: {e}"))?;
        match flag.as_str() {
            "--discard" => plan.discard_bytes = value,
            "--chargen" => plan.chargen_bytes = value,
            "--max-echo" => plan.echo_sizes.retain(|&s| s as u64 <= value),
            "--concurrent" => plan.concurrent = value as usize,
            "--udp-count" => plan.udp_count = value as usize,
            "--boot-timeout" => plan.boot_timeout = Duration::from_secs(value),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok((Endpoints::from_base(host, base), plan))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (ep, plan) = match parse(&args) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("svccheck: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    println!(
        "svccheck: echo {} discard {} chargen {} udp-echo {}",
        ep.echo, ep.discard, ep.chargen, ep.udp_echo
    );
    let failed = run_all(&ep, &plan, |name, result| match result {
        Ok(report) => println!("PASS {report}"),
        Err(why) => println!("FAIL {name}: {why}"),
    });
    if failed == 0 {
        println!("svccheck: all checks passed");
        ExitCode::SUCCESS
    } else {
        println!("svccheck: {failed} check(s) failed");
        ExitCode::FAILURE
    }
}
