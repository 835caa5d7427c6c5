//! Floods until refused: threads (`EAGAIN`), programs (`EAGAIN`, or `ENOMEM` when memory
//! runs out first), memory (`ENOMEM`), and UDP receive queues (dropped and counted, never
//! the kernel's memory). The floods run in a process of their own (`hostile-test --child
//! threads|memory|programs`, whose status is the verdict), so that what they take ends with
//! them; `--child sleep PORT` is the program the program flood starts.

use std::io::{ErrorKind, Read};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitCode};
use std::sync::RwLock;
use std::thread;
use std::time::{Duration, Instant};

use progkit::sys::{self, syscall};
use progkit::{on_rinet, program_path, CheckResult, Errno};

use crate::{rinet_differs, services_still_answer};

/// Threads the thread flood tries at most: far beyond any limit rinet or a Linux process
/// under [`THREADS_AS_LIMIT`] has.
const MAX_THREADS: usize = 10_000;
/// Their stacks: small, so that the flood reaches the thread limit rather than memory.
const THREAD_STACK: usize = 64 * 1024;
/// RLIMIT_AS of the thread flood's process: where Linux refuses threads (EAGAIN).
const THREADS_AS_LIMIT: u64 = 96 << 20;
/// RLIMIT_AS of the memory flood's process: where Linux refuses memory (ENOMEM).
const MEMORY_AS_LIMIT: u64 = 256 << 20;
/// How long a flood may take before it is ended and the check fails.
const FLOOD_TIMEOUT: Duration = Duration::from_secs(90);
/// How often the flood's end is looked for.
const FLOOD_POLL: Duration = Duration::from_millis(50);
/// The memory flood's step.
const CHUNK: usize = 1 << 20;
/// Programs the program flood starts at most: more than rinet's limit.
const MAX_PROGRAMS: usize = 100;
/// UDP sockets the flood fills (below the 1024 descriptors a program may have).
const FLOOD_SOCKETS: usize = 900;

/// Lowers this process's RLIMIT_AS (ignored where the call is missing).
fn limit_address_space(bytes: u64) {
    let lim = [bytes, bytes];
    let _ = syscall(
        libc::SYS_prlimit64,
        [0, libc::RLIMIT_AS as u64, lim.as_ptr() as u64, 0, 0, 0],
    );
}

/// `hostile-test --child WHAT [ARG]`.
pub fn child(what: &str) -> ExitCode {
    let ok = match what {
        "threads" => child_threads(),
        "memory" => child_memory(),
        "sleep" => child_sleep(),
        "programs" => child_programs(),
        _ => {
            eprintln!("hostile-test: --child threads|memory|programs|sleep PORT");
            return ExitCode::from(2);
        }
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Held for writing while the flood's threads exist: each blocks reading it.
static GATE: RwLock<()> = RwLock::new(());

fn child_threads() -> bool {
    limit_address_space(THREADS_AS_LIMIT);
    let gate = GATE.write();
    let mut handles = Vec::new();
    let refusal = loop {
        if handles.len() == MAX_THREADS {
            break None;
        }
        let spawned = thread::Builder::new()
            .stack_size(THREAD_STACK)
            .spawn(|| drop(GATE.read()));
        match spawned {
            Ok(h) => handles.push(h),
            Err(e) => break Some(e),
        }
    };
    drop(gate);
    let made = handles.len();
    let ended = handles.into_iter().filter_map(|h| h.join().ok()).count();
    let errno = refusal.as_ref().and_then(|e| e.raw_os_error());
    println!("hostile-test: {made} threads made, then {refusal:?}; {ended} ended");
    errno == Some(libc::EAGAIN) && ended == made
}

fn child_memory() -> bool {
    limit_address_space(MEMORY_AS_LIMIT);
    let mut held: Vec<Vec<u8>> = Vec::new();
    let errno = loop {
        if held.len() * CHUNK >= 1 << 40 {
            break None;
        }
        let mut chunk = Vec::new();
        if chunk.try_reserve_exact(CHUNK).is_err() {
            break std::io::Error::last_os_error().raw_os_error();
        }
        // Touched: every page committed.
        chunk.resize(CHUNK, 0x5a);
        held.push(chunk);
    };
    println!(
        "hostile-test: {} MiB allocated and touched, then errno {errno:?}",
        (held.len() * CHUNK) >> 20
    );
    errno == Some(libc::ENOMEM)
}

/// Connects to the flood's listener and waits for it to go away.
fn child_sleep() -> bool {
    let port = std::env::args().nth(3).and_then(|p| p.parse::<u16>().ok());
    let Some(mut s) = port.and_then(|p| TcpStream::connect((Ipv4Addr::LOCALHOST, p)).ok()) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(120)));
    let mut b = [0u8; 1];
    let _ = s.read(&mut b);
    true
}

pub fn threads_until_refused() -> CheckResult {
    run_flood("threads", "clone without memory for the thread is EAGAIN")
}

pub fn memory_until_refused() -> CheckResult {
    run_flood(
        "memory",
        "mmap and brk beyond RLIMIT_AS or the commit limit are ENOMEM",
    )
}

/// The program flood runs in a process of its own: where memory runs out before the limit
/// on programs, the one killed is the flood, never this program (init in rinet).
pub fn programs_until_refused() -> CheckResult {
    run_flood(
        "programs",
        "fork and execve without memory for the program are ENOMEM",
    )
}

/// Runs `hostile-test --child WHAT`: it must end with status 0. rinet commits memory when
/// it is touched and kills a program that touches memory it cannot have (SIGSEGV), where
/// Linux refuses the call (`linux`): tolerated in rinet, reported.
fn run_flood(what: &str, linux: &str) -> CheckResult {
    let mut child = Command::new(program_path("hostile-test"))
        .args(["--child", what])
        .spawn()
        .map_err(|e| format!("cannot start hostile-test --child {what}: {e}"))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() < FLOOD_TIMEOUT => thread::sleep(FLOOD_POLL),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    // On Linux, Rust's std gives every new thread a signal stack of its own, mapped by the
    // thread itself once it runs: when the address-space limit leaves room for a thread's
    // stack but not for that signal stack, std aborts the process (or, seen once, its last
    // thread never finishes starting and the flood hangs) instead of the spawn failing with
    // EAGAIN. That is the limit at work too (Linux refused the mapping); only where the
    // answer surfaces differs. In rinet neither outcome is accepted.
    let host_std_artefact = what == "threads"
        && !on_rinet()
        && status.is_none_or(|s| s.signal() == Some(libc::SIGABRT));
    let Some(status) = status else {
        return if host_std_artefact {
            println!("hostile-test: the Linux threads flood hung in std at the limit; ended");
            Ok(())
        } else {
            Err(format!(
                "the {what} flood did not end within {} s",
                FLOOD_TIMEOUT.as_secs()
            ))
        };
    };
    let known = status.signal() == Some(libc::SIGSEGV)
        && rinet_differs(
            &format!("the {what} flood was killed for lack of memory"),
            linux,
        );
    if status.success() || known || host_std_artefact {
        Ok(())
    } else {
        Err(format!(
            "the {what} flood ended with {status}: not refused as it should be"
        ))
    }
}

/// Programs that stay until this one lets them go, until refused (in rinet; Linux does not
/// limit root's processes: there every one must start and end).
fn child_programs() -> bool {
    match flood_programs() {
        Ok(()) => true,
        Err(e) => {
            println!("hostile-test: program flood: {e}");
            false
        }
    }
}

fn flood_programs() -> Result<(), String> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| e.to_string())?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    let mut children: Vec<Child> = Vec::new();
    let refusal = loop {
        if children.len() == MAX_PROGRAMS {
            break None;
        }
        let spawned = Command::new(program_path("hostile-test"))
            .args(["--child", "sleep", &port.to_string()])
            .spawn();
        match spawned {
            Ok(c) => children.push(c),
            Err(e) => break Some(e),
        }
    };
    let made = children.len();
    println!("hostile-test: {made} programs started, then {refusal:?}");
    // Let them go: accept each (they are connected or connecting) and close.
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let mut accepted = Vec::new();
    for _ in 0..200 {
        match listener.accept() {
            Ok((s, _)) => accepted.push(s),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if accepted.len() == made {
                    break;
                }
                thread::sleep(Duration::from_millis(50));
            }
            Err(_) => break,
        }
    }
    drop(accepted);
    drop(listener);
    let statuses: Vec<_> = children.iter_mut().map(|c| c.wait().ok()).collect();
    let ended_ok = statuses.iter().flatten().filter(|s| s.success()).count();
    let killed = statuses
        .iter()
        .flatten()
        .filter(|s| s.signal() == Some(libc::SIGSEGV))
        .count();
    let known = killed > 0
        && rinet_differs(
            &format!("{killed} of the flood's programs were killed for lack of memory"),
            "fork and execve without memory for the program are ENOMEM",
        );
    if ended_ok + if known { killed } else { 0 } != made {
        return Err(format!(
            "{} of {made} programs did not end with status 0",
            made - ended_ok
        ));
    }
    let errno = refusal.as_ref().and_then(|e| e.raw_os_error());
    match errno {
        Some(e) if e == libc::EAGAIN || e == libc::ENOMEM => Ok(()),
        // Programs killed for lack of memory never let the flood reach the limit.
        None if !on_rinet() || known => Ok(()),
        _ => Err(format!(
            "starting programs was never refused with EAGAIN: {refusal:?}"
        )),
    }
}

/// Fills the receive queues of many UDP sockets with large datagrams over loopback: far
/// more than RAM if every queue took its 212992 bytes. The kernel must drop (and count) what
/// it cannot hold, and keep serving.
pub fn udp_flood() -> CheckResult {
    let mut socks = Vec::new();
    for _ in 0..FLOOD_SOCKETS {
        let Ok(u) = sys::socket(libc::AF_INET, libc::SOCK_DGRAM) else {
            break;
        };
        socks.push(u);
        if sys::bind(u, &sys::sockaddr_in([127, 0, 0, 1], 0)).is_err() {
            break;
        }
    }
    let tx = sys::socket(libc::AF_INET, libc::SOCK_DGRAM).map_err(|e| e.name().to_string())?;
    let payload = vec![0x55u8; 60_000];
    let mut sent = 0usize;
    let mut refused = 0usize;
    for &u in &socks {
        let Ok(dest) = sys::getsockname(u) else {
            continue;
        };
        for _ in 0..4 {
            match sys::sendto(tx, &payload, 0, &dest) {
                Ok(_) => sent += 1,
                Err(Errno::ENOBUFS | Errno::ENOMEM | Errno::EAGAIN) => refused += 1,
                Err(_) => {}
            }
        }
    }
    println!(
        "hostile-test: {} udp sockets, {sent} datagrams of 60000 bytes sent, {refused} refused",
        socks.len()
    );
    let alive = services_still_answer();
    let _ = sys::close(tx);
    for u in socks {
        let _ = sys::close(u);
    }
    alive
}
