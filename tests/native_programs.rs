//! The programs of `programs/` (plain std programs built for x86_64-unknown-linux-musl) run
//! natively on the Linux host: `services` passes every service check the QEMU tests run
//! against the guest's, `echo-client` resolves a name through the libc's /etc/hosts and
//! echoes through it, `selftest`, `socket-test` and `user-test` pass their checks with the
//! markers and statuses the QEMU tests look for, the crash programs die of SIGSEGV, and their
//! ELF files have the load plans rinet's `exec` computes for a static-pie executable.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, TcpListener, UdpSocket};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use rinet::free_port_base;
use rinet::services::{run_all, Endpoints, Plan};

/// Every program the programs workspace builds.
const PROGRAMS: [&str; 10] = [
    "services",
    "echo-client",
    "selftest",
    "socket-test",
    "syscall-bench",
    "user-test",
    "crash-user",
    "crash-user-gp",
    "crash-user-stack",
    "exit-group-user",
];

fn program(name: &str) -> PathBuf {
    PathBuf::from(env!("RINET_PROGRAMS")).join(name)
}

/// Runs program `name` with `args` (stdin at end of file) to its end: its status and output.
fn run(name: &str, args: &[&str]) -> (ExitStatus, String) {
    let out = Command::new(program(name))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status, text)
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
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stdout).contains("echo-client: connect: ECONNREFUSED"));
    let (status, text) = run("echo-client", &["127.0.0.1", "notaport"]);
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains("PORT is not a number"), "{text}");
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
    for name in PROGRAMS {
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

/// A base port N with N+1 to N+7 free for TCP and UDP on 127.0.0.1 (socket-test's ports),
/// below Linux's ephemeral range (32768 and up by default): a connection's local port, or its
/// TIME_WAIT remains, can never take one of them between this choice and the check's bind.
fn free_seven_ports() -> u16 {
    let seed = std::process::id() as usize;
    for i in 0..200 {
        let base = 20_000 + ((seed * 7919 + i * 104_729) % 12_000) as u16;
        let free = (1..=7).all(|off| {
            TcpListener::bind(("127.0.0.1", base + off)).is_ok()
                && UdpSocket::bind(("127.0.0.1", base + off)).is_ok()
        });
        if free {
            return base;
        }
    }
    panic!("no 7 consecutive free ports below 32000");
}

#[test]
fn selftest_passes_natively_over_loopback_and_a_nic_peer() {
    let base = free_port_base();
    let _services = start_services(base);
    let base_arg = base.to_string();
    let echo = (base + 7).to_string();
    let (status, text) = run(
        "selftest",
        &[
            "--port-base",
            &base_arg,
            "--services-running",
            "127.0.0.1",
            &echo,
        ],
    );
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    for marker in [
        "selftest: tcp large transfer through echo ok",
        "selftest: chargen pattern ok",
        "selftest: EMFILE ok",
        "selftest: EINPROGRESS, then poll and SO_ERROR ok",
        "selftest: tcp echo over the NIC ok",
        "selftest: all checks passed",
    ] {
        assert!(text.contains(marker), "no '{marker}' in:\n{text}");
    }
}

#[test]
fn selftest_fails_without_services_and_rejects_bad_arguments() {
    // Nothing listens on the echo port: a verdict of failure, not a hang.
    let base = free_port_base().to_string();
    let (status, text) = run("selftest", &["--port-base", &base, "--services-running"]);
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(
        text.contains("selftest: FAIL services never answered"),
        "{text}"
    );
    let (status, text) = run("selftest", &["10.0.2.2"]);
    assert_eq!(status.code(), Some(2), "{text}");
    assert!(text.contains("usage: selftest"), "{text}");
}

#[test]
fn socket_test_passes_natively() {
    let base = free_seven_ports().to_string();
    let (status, text) = run("socket-test", &["--port-base", &base]);
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    assert!(
        text.contains("socket-test: SO_LINGER close waits until the peer has everything ok"),
        "{text}"
    );
    assert!(text.contains("socket-test: all 7 checks passed"), "{text}");
    let (status, text) = run("socket-test", &["--port-base"]);
    assert_eq!(status.code(), Some(2), "{text}");
}

#[test]
fn user_test_passes_natively_and_its_crash_programs_die_of_sigsegv() {
    let (status, text) = run("user-test", &[]);
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    for marker in [
        "user-test: hello from ring 3",
        "user-test: sched_yield interleaves threads ok",
        "user-test: a ring-3 busy loop is preempted ok",
        "user-test: CPU-time clocks ok",
        "user-test: bad pointers are EFAULT ok",
        "crash-user: reading unmapped address 0x7fffdead0000",
        "user-test: crash-user ended with status 139",
        "user-test: crash-user-gp ended with status 139",
        "user-test: crash-user-stack ended with status 139",
        "exit-group-user ended with status 7",
        "user-test: all 17 checks passed",
    ] {
        assert!(text.contains(marker), "no '{marker}' in:\n{text}");
    }
}

#[test]
fn crash_programs_end_as_a_shell_would_report_them() {
    for name in ["crash-user", "crash-user-gp", "crash-user-stack"] {
        let (status, text) = run(name, &[]);
        assert_eq!(status.signal(), Some(11), "{name}: {status:?}\n{text}");
        assert!(text.contains(&format!("{name}: ")), "{name}: {text}");
        // std's stack-overflow report (and its abort) must not replace the fault.
        assert!(!text.contains("overflowed"), "{name}: {text}");
    }
    let (status, _) = run("exit-group-user", &[]);
    assert_eq!(status.code(), Some(7));
}

#[test]
fn syscall_bench_reports_a_cost_per_call() {
    let (status, text) = run("syscall-bench", &["2000"]);
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(
        text.contains("syscall-bench: round 2: 2000 getpid calls, "),
        "{text}"
    );
    let best = text
        .lines()
        .find_map(|l| l.strip_prefix("syscall-bench: best "))
        .and_then(|rest| rest.strip_suffix(" ns/call"))
        .unwrap_or_else(|| panic!("no best line in:\n{text}"));
    assert!(best.parse::<u64>().is_ok(), "{text}");
}

// --- epoll-test and tokio-echo (the event interfaces): natively, as in rinet (tests/events.rs).

#[test]
fn epoll_test_passes_natively() {
    let (status, text) = run("epoll-test", &[]);
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(text.contains("epoll-test: all 11 checks passed"), "{text}");
}

#[test]
fn tokio_echo_echoes_natively() {
    use std::io::{Read, Write};
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").expect("pick a port");
        l.local_addr().unwrap().port()
    };
    let mut child = Command::new(program("tokio-echo"))
        .arg(port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start tokio-echo");
    let out = child.stdout.take().unwrap();
    let _running = Running(child);
    let mut first = String::new();
    BufReader::new(out)
        .read_line(&mut first)
        .expect("read the ready line");
    assert_eq!(first.trim(), format!("tokio-echo: listening on {port}"));
    let conns: Vec<_> = (0..20u8)
        .map(|i| {
            thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
                let data: Vec<u8> = (0..8192u32).map(|k| (k as u8) ^ i).collect();
                s.write_all(&data).expect("send");
                let mut back = vec![0u8; data.len()];
                s.read_exact(&mut back).expect("echo");
                assert!(back == data, "connection {i}: echo differs");
            })
        })
        .collect();
    for c in conns {
        c.join().expect("a connection failed");
    }
}

// --- hostile-test (programs/hostile-test): one block, kept together ---

/// The hostile suite natively, with Linux's own kernel addresses (its defaults): every case
/// passes as Linux answers it, each faulting program dies of SIGSEGV, and nothing is excused
/// as a rinet difference.
#[test]
fn hostile_test_passes_natively_with_linux_addresses() {
    let base = free_port_base().to_string();
    let (status, text) = run("hostile-test", &["--port-base", &base, "--exit"]);
    assert_eq!(status.code(), Some(0), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    assert!(!text.contains("rinet differs"), "{text}");
    for marker in [
        "hostile-test: kernel text at 0xffffffff81000000",
        "hostile-test: bad pointers are EFAULT in every call ok",
        "hostile-test: own stack edges: guard page ok",
        "hostile-test: huge and wrapping lengths ok",
        "hostile-fault: writing 0xffffffff81000000",
        "hostile-test: hostile-write-text ended with status 139",
        "hostile-test: hostile-exec-stack ended with status 139",
        "hostile-test: hostile-read-other-process ended with status 139",
        "hostile-test: faulting programs are killed with 139 ok",
        "hostile-test: threads until EAGAIN ok",
        "hostile-test: memory until ENOMEM ok",
        "hostile-test: a busy program does not hold up the services ok",
        "hostile-test: all 9 cases passed",
    ] {
        assert!(text.contains(marker), "no '{marker}' in:\n{text}");
    }
    // hostile-fault dies reading a kernel address it is given; a malformed address is a
    // usage error.
    let (status, text) = run("hostile-fault", &["read", "0xffff888000100000"]);
    assert_eq!(status.signal(), Some(11), "{text}");
    let (status, text) = run("hostile-test", &["text=nowhere"]);
    assert_eq!(status.code(), Some(2), "{text}");
    assert!(text.contains("usage: hostile-test"), "{text}");
}

// --- end of the hostile-test block ---
