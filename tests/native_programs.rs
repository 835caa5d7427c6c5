//! The programs of `programs/` (plain std programs built for x86_64-unknown-linux-musl) run
//! natively on the Linux host: `services` passes every service check the QEMU tests run
//! against the guest's, `echo-client` resolves a name through the libc's /etc/hosts and
//! echoes through it, and their ELF files have the load plans rinet's `exec` computes for a
//! static-pie executable.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use rinet::free_port_base;
use rinet::services::{run_all, Endpoints, Plan};

fn program(name: &str) -> PathBuf {
    PathBuf::from(env!("RINET_PROGRAMS")).join(name)
}

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `services --port-base base` and waits for its ready line.
fn start_services(base: u16) -> Running {
    let mut child = Command::new(program("services"))
        .args(["--port-base", &base.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start services");
    let out = child.stdout.take().unwrap();
    let running = Running(child);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("services printed nothing");
    assert!(
        line.contains(&format!(
            "on TCP and UDP ports {}, {} and {}",
            base + 7,
            base + 9,
            base + 19
        )),
        "{line}"
    );
    running
}

#[test]
fn services_pass_every_service_check_natively() {
    let base = free_port_base();
    let _services = start_services(base);
    let ep = Endpoints::from_base(IpAddr::V4(Ipv4Addr::LOCALHOST), base);
    let mut failures = Vec::new();
    let failed = run_all(&ep, &Plan::full(), |name, result| match result {
        Ok(report) => println!("PASS {report}"),
        Err(why) => failures.push(format!("{name}: {why}")),
    });
    assert_eq!(failed, 0, "{failures:#?}");
}

#[test]
fn echo_client_resolves_localhost_and_echoes_natively() {
    let base = free_port_base();
    let _services = start_services(base);
    let out = Command::new(program("echo-client"))
        .args(["localhost", &(base + 7).to_string(), "5", "70000"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("echo-client: localhost is 127.0.0.1"),
        "{text}"
    );
    assert!(
        text.contains("5 rounds of 70000 bytes echoed intact"),
        "{text}"
    );
    // A refused connection is a failure with the reason.
    let refused = Command::new(program("echo-client"))
        .args(["127.0.0.1", "1", "1", "1"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stdout).contains("connect: "));
}

#[test]
fn services_reject_bad_arguments() {
    let out = Command::new(program("services"))
        .args(["--port-base", "70000"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("usage: services"));
}

#[test]
fn programs_are_static_pie_with_a_load_plan() {
    for name in ["services", "echo-client"] {
        let bytes = std::fs::read(program(name)).unwrap();
        let plan = exec::plan(&bytes, exec::DYN_BASE).unwrap();
        assert_eq!(
            plan.kind,
            exec::ElfKind::Dyn,
            "{name}: static-pie is ET_DYN"
        );
        assert_eq!(plan.interp, None, "{name}: static, no interpreter");
        assert!(
            plan.phdr > exec::DYN_BASE,
            "{name}: AT_PHDR inside the image"
        );
        assert!(plan.segments.iter().any(|s| s.prot.exec), "{name}");
        assert!(!plan.wx_requested, "{name}");
    }
}
