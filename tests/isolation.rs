//! Hostile ring-3 programs against the kernel (`init=hostile-test`, kernel/src/programs/
//! hostile_test.rs): bad pointers in every pointer-taking system call get EFAULT, huge lengths
//! get short counts or errors, thread and program floods get EAGAIN, and each program that
//! reads, writes or jumps into the kernel (or runs its own stack or data) is killed with
//! status 139 while the services it started keep answering. Runs on microvm, q35 and pc, with
//! 128, 16 and 8 MiB of RAM; after the guest reports its verdict the host checks TCP and UDP
//! echo through the NIC, and the console must show no kernel panic or exception.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use rinet::initramfs::Member;
use rinet::services::{echo_payloads, udp_echo, wait_for_echo, Endpoints};
use rinet::{free_port_base, Guest, Machine, Net};

/// From QEMU start to the guest's verdict: the cases take about a second under TCG; the
/// margin is for a host loaded by other builds.
const VERDICT_TIMEOUT: Duration = Duration::from_secs(120);
const PASSED: &str = "hostile-test: all 7 cases passed";

/// An initramfs with only what the suite starts (`/bin/services`): the default one holds
/// every program of programs/, more than 8 MiB of RAM can unpack.
fn small_initramfs() -> std::path::PathBuf {
    let services = std::fs::read(std::path::Path::new(env!("RINET_PROGRAMS")).join("services"))
        .expect("read the services program");
    let image = rinet::initramfs::newc(&[
        Member::Dir("bin"),
        Member::File("bin/services", 0o755, &services),
    ]);
    let path = std::env::temp_dir().join(format!("rinet-isolation-{}.cpio", std::process::id()));
    std::fs::write(&path, image).expect("write the initramfs");
    path
}

fn hostile_suite(machine: Machine, memory: &str) {
    let base = free_port_base();
    let initrd = small_initramfs();
    let mut guest = Guest::new(machine)
        .net(Net::User { port_base: base })
        .initrd(&initrd)
        .memory(memory)
        .append("init=hostile-test")
        .spawn();
    let verdict = guest.wait_for(PASSED, VERDICT_TIMEOUT);
    let ep = Endpoints::from_base(IpAddr::V4(Ipv4Addr::LOCALHOST), base);
    let host_checks = verdict
        .ok_or_else(|| "no verdict from hostile-test".to_string())
        .and_then(|_| {
            wait_for_echo(ep.echo, Duration::from_secs(30))?;
            echo_payloads(ep.echo, &[1, 1000, 100_000])?;
            udp_echo(ep.udp_echo, 5, &[1, 1000])
        });
    let out = guest.kill();
    let console = &out.console;
    let bad = ["FAIL", "PANIC", "rinet: EXCEPTION", "rinet: failure"]
        .into_iter()
        .find(|b| console.contains(b));
    if host_checks.is_err() || bad.is_some() {
        let lines: Vec<&str> = console.lines().collect();
        let tail = &lines[lines.len().saturating_sub(80)..];
        panic!(
            "{} -m {memory}: host checks {:?}, console shows {:?}\n--- guest console (last {} lines) ---\n{}",
            machine.name(),
            host_checks.err(),
            bad,
            tail.len(),
            tail.join("\n")
        );
    }
    // The kernel named each killed program's fault, with the address and RIP.
    assert!(console.contains("program hostile-write-text killed: page fault at RIP"));
    assert!(console.contains("program hostile-exec-stack exited with status 139"));
}

#[test]
fn hostile_programs_on_microvm() {
    hostile_suite(Machine::Microvm, "128M");
}

#[test]
fn hostile_programs_on_q35() {
    hostile_suite(Machine::Q35, "128M");
}

#[test]
fn hostile_programs_on_pc() {
    hostile_suite(Machine::Pc, "128M");
}

#[test]
fn hostile_programs_in_16m_on_every_machine() {
    for m in Machine::ALL {
        hostile_suite(m, "16M");
    }
}

#[test]
fn hostile_programs_in_8m_on_every_machine() {
    for m in Machine::ALL {
        hostile_suite(m, "8M");
    }
}
