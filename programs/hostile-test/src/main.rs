//! `hostile-test [--port-base N] [--services-running] [--exit] [NAME=ADDRESS ...]`: a program
//! that attacks the kernel through every door a program has, and checks it gets what Linux
//! gives: `EFAULT` for kernel, unmapped, guard-page, non-canonical and wrapping pointers
//! passed to every pointer-taking system call; short counts or errors for huge lengths;
//! `EAGAIN` or `ENOMEM` once it has made as many threads, programs or as much memory as it
//! may; death by SIGSEGV (status 139 in a shell) for each case of `hostile-fault` (reading,
//! writing or jumping into the kernel, into another process, executing its own stack, data
//! or heap); TCP and UDP echo round trips at once beside a program that computes without a
//! pause ([`busy`]). After every case the `services` it started must still answer TCP and UDP
//! echo.
//!
//! Prints `hostile-test: <case> ok` per case and `hostile-test: all N cases passed`; a failed
//! case prints `hostile-test: FAIL <case>: <detail>`, and once all ran `hostile-test: F of N
//! cases failed` and the program exits 1. On success it keeps running (rinet's init: the host
//! then checks the services through the NIC) unless `--exit` is given (exit 0).
//!
//! `NAME=ADDRESS` words set the kernel addresses to aim at ([`targets`]); `--port-base N` puts
//! the services on N+7 (passed on to them); `--services-running` uses services someone else
//! started. `hostile-test --child threads|memory|programs|sleep|spin` is this program started
//! by itself for the cases that must run in a process of their own ([`limits`], [`busy`]).

mod busy;
mod calls_in;
mod calls_out;
mod edges;
mod faults;
mod fixture;
mod limits;
mod pointers;
mod targets;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpStream, UdpSocket};
use std::process::{Child, Command, ExitCode};
use std::sync::OnceLock;
use std::thread;
use std::time::Duration;

use progkit::{program_path, Check};

use targets::Targets;

const USAGE: &str = "usage: hostile-test [--port-base N] [--services-running] [--exit] \
                     [NAME=ADDRESS ...] | hostile-test --child threads|memory|programs|sleep|spin";

/// Where the services are and what to aim at.
pub struct Config {
    pub port_base: u16,
    pub targets: Targets,
}

static CONFIG: OnceLock<Config> = OnceLock::new();

/// The configuration `main` set before running any case.
pub fn config() -> &'static Config {
    CONFIG.get().expect("main sets the configuration first")
}

const CASES: &[Check] = &[
    (
        "bad pointers are EFAULT in every call",
        pointers::bad_pointers,
    ),
    ("own stack edges: guard page", edges::stack_edges),
    ("huge and wrapping lengths", edges::huge_lengths),
    (
        "faulting programs are killed with 139",
        faults::faulting_programs,
    ),
    ("threads until EAGAIN", limits::threads_until_refused),
    ("programs until EAGAIN", limits::programs_until_refused),
    ("memory until ENOMEM", limits::memory_until_refused),
    ("udp queues cannot exhaust kernel memory", limits::udp_flood),
    (
        "a busy program does not hold up the services",
        busy::busy_program_beside_services,
    ),
];

struct Options {
    port_base: u16,
    start_services: bool,
    exit: bool,
    targets: Targets,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let (targets, rest) = Targets::parse(args)?;
    let mut o = Options {
        port_base: 0,
        start_services: true,
        exit: false,
        targets,
    };
    let mut it = rest.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--port-base" => {
                let v = it.next().ok_or("--port-base needs a number")?;
                o.port_base = v
                    .parse()
                    .ok()
                    .filter(|&b: &u16| b <= u16::MAX - 19)
                    .ok_or_else(|| format!("--port-base {v}: not a port base"))?;
            }
            "--services-running" => o.start_services = false,
            "--exit" => o.exit = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

/// A started `services`, ended with this program.
struct Services(Option<Child>);

impl Drop for Services {
    fn drop(&mut self) {
        // Waited for only once killed (a kernel without kill(2) keeps it running).
        if let Some(c) = self.0.as_mut() {
            if c.kill().is_ok() {
                let _ = c.wait();
            }
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        if args.get(1).map(String::as_str) == Some("spin") {
            return busy::child_spin();
        }
        return limits::child(args.get(1).map_or("", String::as_str));
    }
    let opts = match parse(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("hostile-test: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    for t in &opts.targets.kernel {
        println!("hostile-test: {} at {:#x}", t.what, t.addr);
    }
    let _ = CONFIG.set(Config {
        port_base: opts.port_base,
        targets: opts.targets,
    });
    let mut services = Services(None);
    if opts.start_services {
        let mut cmd = Command::new(program_path("services"));
        if opts.port_base != 0 {
            cmd.args(["--port-base", &opts.port_base.to_string()]);
        }
        match cmd.spawn() {
            Ok(c) => services.0 = Some(c),
            Err(e) => {
                println!("hostile-test: FAIL cannot start services: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    if let Err(e) = services_answer(300) {
        println!("hostile-test: FAIL services never answered: {e}");
        return ExitCode::FAILURE;
    }
    let mut failed = 0;
    for (name, case) in CASES {
        match case().and_then(|()| services_still_answer()) {
            Ok(()) => println!("hostile-test: {name} ok"),
            Err(detail) => {
                println!("hostile-test: FAIL {name}: {detail}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        println!("hostile-test: {failed} of {} cases failed", CASES.len());
        return ExitCode::FAILURE;
    }
    println!("hostile-test: all {} cases passed", CASES.len());
    if opts.exit {
        return ExitCode::SUCCESS;
    }
    loop {
        thread::sleep(Duration::from_secs(1));
    }
}

/// A known difference of rinet's from Linux, tolerated in rinet only: prints
/// `hostile-test: rinet differs from Linux: WHAT (Linux: LINUX)` there and returns true;
/// natively returns false (the caller fails the check). Each is a kernel fix to make.
pub fn rinet_differs(what: &str, linux: &str) -> bool {
    if progkit::on_rinet() {
        println!("hostile-test: rinet differs from Linux: {what} (Linux: {linux})");
        true
    } else {
        false
    }
}

/// Every case ends with this: the services still answer (tries as in [`services_answer`]).
/// After a flood that ran the machine out of memory (8 MiB), the services may refuse a
/// connection or two while the flood's programs are still being torn down (no memory for a
/// connection's thread: they close it), which the suite allows ("what cannot be served is
/// refused"); they must answer again within [`RECOVERY`].
pub fn services_still_answer() -> Result<(), String> {
    let start = std::time::Instant::now();
    loop {
        match services_answer(50) {
            Ok(()) => return Ok(()),
            Err(e) if start.elapsed() >= RECOVERY => {
                return Err(format!("services stopped answering: {e}"))
            }
            Err(_) => thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// How long the services may take to answer again after a case.
const RECOVERY: Duration = Duration::from_secs(3);

/// TCP and UDP echo round trips to the services over loopback (`tries` connection attempts
/// 10 ms apart).
pub fn services_answer(tries: usize) -> Result<(), String> {
    let echo = SocketAddrV4::new(Ipv4Addr::LOCALHOST, config().port_base + 7);
    let mut tcp = None;
    for _ in 0..tries {
        match TcpStream::connect(echo) {
            Ok(s) => {
                tcp = Some(s);
                break;
            }
            Err(_) => thread::sleep(Duration::from_millis(10)),
        }
    }
    let mut s = tcp.ok_or("tcp connect")?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| format!("tcp timeout: {e}"))?;
    let mut buf = [0u8; 4];
    s.write_all(b"ping")
        .and_then(|()| s.read_exact(&mut buf))
        .map_err(|e| format!("tcp echo: {e}"))?;
    if &buf != b"ping" {
        return Err("tcp echo: wrong bytes".into());
    }
    drop(s);
    let u = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| format!("udp bind: {e}"))?;
    u.set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| format!("udp timeout: {e}"))?;
    for _ in 0..5 {
        let _ = u.send_to(b"pong", echo);
        if let Ok((4, _)) = u.recv_from(&mut buf) {
            if &buf == b"pong" {
                return Ok(());
            }
        }
    }
    Err("udp echo".into())
}
