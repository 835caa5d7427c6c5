//! End-to-end tests of the guest's inetd services (`init=services`): each test boots one rinet
//! guest on each machine type (microvm, q35, pc) under TCG with user networking, waits for the first TCP echo, and drives
//! one service from real host sockets through hostfwd (127.0.0.1:base+7/9/19, TCP and UDP).
//!
//! The same checks pass against the linux-peer Linux guest (`cargo run --bin svccheck -- 127.0.0.1
//! 17000`); sizes are the full ones (4 MiB echo, 64 MiB discard): Linux under TCG runs each
//! check in 0.05-1.6 s (echo payloads 0.4-1.0 s, 100 connections 0.6 s, 64 MiB discard
//! 0.9-1.6 s, 4 MiB chargen 0.2-0.5 s, UDP 0.04-0.2 s). The tests take turns (one guest at a time) so that bulk transfers do not
//! compete for the host's two cores with another test's guest.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Mutex;
use std::time::Duration;

use rinet::services::{
    chargen_check, discard_bulk, echo_concurrent, echo_payloads, echo_unread_flood, udp_echo,
    wait_for_echo, Endpoints, Report, ECHO_SIZES, UDP_SIZES,
};
use rinet::{free_port_base, on_every_machine, Guest, Machine, Net};

/// From QEMU start to the first 1-byte echo. The guest's NIC is up 0.05 s after kernel entry
/// under TCG (linux-peer answers its first echo ~9 s after launch); the margin is for a host
/// loaded by other builds. While the guest does not serve, each test fails after this long.
const BOOT_TIMEOUT: Duration = Duration::from_secs(60);

/// One guest at a time from this file (see the module comment).
static ONE_GUEST: Mutex<()> = Mutex::new(());

/// Boot a services guest, wait until it echoes, run `check`, stop the guest; panic with the
/// check's reason and the guest's console if anything failed.
fn with_services_guest(machine: Machine, check: impl FnOnce(&Endpoints) -> Result<Report, String>) {
    with_services_guest_in(machine, "128M", check)
}

/// [`with_services_guest`] with `memory` of guest RAM (QEMU's `-m`).
fn with_services_guest_in(
    machine: Machine,
    memory: &str,
    check: impl FnOnce(&Endpoints) -> Result<Report, String>,
) {
    let _turn = ONE_GUEST.lock().unwrap_or_else(|p| p.into_inner());
    let base = free_port_base();
    let guest = Guest::new(machine)
        .net(Net::User { port_base: base })
        .memory(memory)
        .append("init=services")
        .spawn();
    let ep = Endpoints::from_base(IpAddr::V4(Ipv4Addr::LOCALHOST), base);
    let result = wait_for_echo(ep.echo, BOOT_TIMEOUT).and_then(|boot| {
        println!("{boot}");
        check(&ep)
    });
    let out = guest.kill();
    match result {
        Ok(report) => println!("{report}"),
        Err(why) => {
            let lines: Vec<&str> = out.console.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            panic!(
                "{why}\n--- guest console (last {} lines) ---\n{}\n--- qemu stderr ---\n{}",
                tail.len(),
                tail.join("\n"),
                out.stderr
            );
        }
    }
}

on_every_machine! {
    fn tcp_echo_returns_every_payload_size_byte_exact(machine) {
        with_services_guest(machine, |ep| echo_payloads(ep.echo, &ECHO_SIZES));
    }
}

on_every_machine! {
    fn tcp_echo_serves_100_concurrent_connections(machine) {
        with_services_guest(machine, |ep| echo_concurrent(ep.echo, 100, 10_000));
    }
}

on_every_machine! {
    /// A client writes 1 MiB to each of 32 echo connections in a 32 MiB guest before reading
    /// anything: the guest keeps serving a newcomer meanwhile, and every byte comes back once the
    /// client reads. (How much the guest itself must hold depends on how much the host's socket
    /// buffers absorb; before TCP had a host-wide memory limit this run once ended in an
    /// allocation failure. The deterministic version is socket-test's loopback check.)
    fn tcp_echo_survives_unread_flood_in_32_mib(machine) {
        with_services_guest_in(machine, "32M", |ep| {
            echo_unread_flood(ep.echo, 32, 1 << 20, Duration::from_secs(3))
        });
    }
}

on_every_machine! {
    fn tcp_discard_swallows_64_mib_and_closes(machine) {
        with_services_guest(machine, |ep| discard_bulk(ep.discard, 64 << 20));
    }
}

on_every_machine! {
    fn tcp_chargen_sends_the_rfc_864_pattern(machine) {
        with_services_guest(machine, |ep| chargen_check(ep.chargen, 4 << 20));
    }
}

on_every_machine! {
    fn udp_echo_returns_every_datagram_including_fragmented(machine) {
        with_services_guest(machine, |ep| udp_echo(ep.udp_echo, 20, &UDP_SIZES));
    }
}
