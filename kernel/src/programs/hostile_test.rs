//! `init=hostile-test`: a ring-3 program that attacks the kernel through every door a program
//! has, and checks it gets what Linux would give: `EFAULT` for kernel, unmapped, guard-page,
//! non-canonical and wrapping pointers passed to every pointer-taking system call; short
//! results or `EFAULT` for huge lengths; `EAGAIN` once it has made as many threads or
//! programs as it may; death with status 139 (SIGSEGV) for each program of
//! [`hostile_faults::CASES`] (reading, writing or jumping into the kernel, executing its own
//! stack or data). After every case the `services` it started must still answer TCP and UDP
//! echo on 127.0.0.1:7.
//!
//! Prints `hostile-test: <case> ok` per case and `hostile-test: all N cases passed`, then keeps
//! running (so the host can check the services through the NIC); a failure prints
//! `hostile-test: FAIL <case>: <detail>` and the program exits 1 once all cases ran.
//! Runs in ring 3: only `crate::user` may be called.

use core::sync::atomic::{AtomicUsize, Ordering};

use net::Errno;

use super::hostile_faults::{self, SURVIVED};
use super::hostile_pointers as pointers;
use crate::user::{self, PollFd, SockaddrIn};
use crate::{uprint, uprintln};

type Case = (&'static str, fn() -> Result<(), &'static str>);

const CASES: &[Case] = &[
    (
        "bad pointers are EFAULT in every call",
        pointers::bad_pointers,
    ),
    ("own stack edges: guard page and top", pointers::stack_edges),
    ("huge and wrapping lengths", pointers::huge_lengths),
    ("faulting programs are killed with 139", faulting_programs),
    ("threads until EAGAIN", threads_until_refused),
    ("programs until EAGAIN", programs_until_refused),
    ("udp queues cannot exhaust kernel memory", udp_flood),
];

pub(super) const LOCALHOST: [u8; 4] = [127, 0, 0, 1];
const ECHO_PORT: u16 = 7;

pub fn main(_args: &[&str]) -> i32 {
    if user::program_spawn("services") < 0 {
        uprintln!("hostile-test: FAIL cannot start services");
        return 1;
    }
    if services_answer(200).is_err() {
        uprintln!("hostile-test: FAIL services never answered");
        return 1;
    }
    let mut failed = 0;
    for (name, case) in CASES {
        let r = case().and_then(|()| services_answer(50).map_err(|_| "services stopped answering"));
        match r {
            Ok(()) => uprintln!("hostile-test: {name} ok"),
            Err(detail) => {
                uprintln!("hostile-test: FAIL {name}: {detail}");
                failed += 1;
            }
        }
    }
    if failed > 0 {
        uprintln!("hostile-test: {failed} of {} cases failed", CASES.len());
        return 1;
    }
    uprintln!("hostile-test: all {} cases passed", CASES.len());
    loop {
        user::sleep_ms(1000);
    }
}

pub(super) fn errno(ret: isize) -> Option<Errno> {
    (ret < 0).then(|| Errno::from_code((-ret) as i32)).flatten()
}

/// TCP and UDP echo round trips to the services over loopback (`tries` connection attempts
/// 10 ms apart).
fn services_answer(tries: usize) -> Result<(), &'static str> {
    let mut fd = -1;
    for _ in 0..tries {
        fd = user::socket(user::AF_INET, user::SOCK_STREAM, 0) as i32;
        if fd < 0 {
            return Err("socket");
        }
        if user::connect(fd, &SockaddrIn::new(LOCALHOST, ECHO_PORT)) == 0 {
            break;
        }
        user::close(fd);
        fd = -1;
        user::sleep_ms(10);
    }
    if fd < 0 {
        return Err("tcp connect");
    }
    let mut buf = [0u8; 4];
    let ok = user::write_all(fd, b"ping").is_ok()
        && user::read_exact(fd, &mut buf).is_ok()
        && &buf == b"ping";
    user::close(fd);
    if !ok {
        return Err("tcp echo");
    }
    let u = user::socket(user::AF_INET, user::SOCK_DGRAM, 0) as i32;
    if u < 0 {
        return Err("udp socket");
    }
    let dest = SockaddrIn::new(LOCALHOST, ECHO_PORT);
    let mut got = false;
    for _ in 0..5 {
        user::sendto(u, b"pong", 0, Some(&dest));
        let mut p = [PollFd {
            fd: u,
            events: user::POLLIN as i16,
            revents: 0,
        }];
        if user::poll(&mut p, 1000) == 1 && user::recvfrom(u, &mut buf, 0, None) == 4 {
            got = &buf == b"pong";
            break;
        }
    }
    user::close(u);
    if got {
        Ok(())
    } else {
        Err("udp echo")
    }
}

fn faulting_programs() -> Result<(), &'static str> {
    let mut wrong = 0;
    for (name, _) in hostile_faults::CASES {
        let pid = user::program_spawn(name);
        if pid < 0 {
            uprintln!("hostile-test: cannot start {name}: {pid}");
            wrong += 1;
            continue;
        }
        let status = user::program_wait(pid);
        if status != 139 {
            let why = if status == SURVIVED as isize {
                " (it was not stopped)"
            } else {
                ""
            };
            uprintln!("hostile-test: {name} ended with status {status}, want 139{why}");
            wrong += 1;
        }
        if services_answer(50).is_err() {
            uprintln!("hostile-test: services stopped answering after {name}");
            wrong += 1;
        }
    }
    if wrong == 0 {
        Ok(())
    } else {
        Err("a hostile program was not killed (lines above)")
    }
}

#[link_section = ".user_data"]
static STOP: AtomicUsize = AtomicUsize::new(0);
#[link_section = ".user_data"]
static ALIVE: AtomicUsize = AtomicUsize::new(0);

fn waiter(_: usize) {
    ALIVE.fetch_add(1, Ordering::SeqCst);
    while STOP.load(Ordering::SeqCst) == 0 {
        user::sleep_ms(5);
    }
    ALIVE.fetch_sub(1, Ordering::SeqCst);
}

fn threads_until_refused() -> Result<(), &'static str> {
    STOP.store(0, Ordering::SeqCst);
    let mut made = 0usize;
    let last = loop {
        let r = crate::user::rt::spawn(waiter, 0);
        if r < 0 {
            break r;
        }
        made += 1;
        if made > crate::process::MAX_THREADS_PER_PROGRAM {
            break 0;
        }
    };
    uprint!("hostile-test: {made} threads made, then {last}\n");
    // Let them all start, then stop them.
    user::sleep_ms(100);
    STOP.store(1, Ordering::SeqCst);
    for _ in 0..1000 {
        if ALIVE.load(Ordering::SeqCst) == 0 {
            break;
        }
        user::sleep_ms(10);
    }
    if errno(last) != Some(Errno::EAGAIN) {
        return Err("thread creation never refused with EAGAIN");
    }
    if ALIVE.load(Ordering::SeqCst) != 0 {
        return Err("the threads did not all end");
    }
    Ok(())
}

fn programs_until_refused() -> Result<(), &'static str> {
    let mut pids = [0isize; crate::process::MAX_PROGRAMS + 1];
    let mut made = 0usize;
    let last = loop {
        let r = user::program_spawn("hostile-sleeper");
        if r < 0 {
            break r;
        }
        pids[made] = r;
        made += 1;
        if made == pids.len() {
            break 0;
        }
    };
    uprintln!("hostile-test: {made} programs started, then {last}");
    let mut wrong = 0;
    for &pid in &pids[..made] {
        if user::program_wait(pid) != 0 {
            wrong += 1;
        }
    }
    if errno(last) != Some(Errno::EAGAIN) {
        return Err("program_spawn never refused with EAGAIN");
    }
    if wrong > 0 {
        return Err("a sleeper did not end with status 0");
    }
    Ok(())
}

/// UDP sockets the flood fills (below the 1024 descriptors a program may have).
const FLOOD_SOCKETS: usize = 900;
/// First port of the flooded sockets.
const FLOOD_PORT: u16 = 20000;

/// Fill the receive queues of many UDP sockets with large datagrams over loopback: far more
/// than RAM if every queue took its 212992 bytes. The kernel must drop (and count) what it
/// cannot hold, and keep serving.
fn udp_flood() -> Result<(), &'static str> {
    let mut fds = [-1i32; FLOOD_SOCKETS];
    let mut n = 0;
    for (i, slot) in fds.iter_mut().enumerate() {
        let u = user::socket(user::AF_INET, user::SOCK_DGRAM, 0) as i32;
        if u < 0 {
            break;
        }
        *slot = u;
        n += 1;
        if user::bind(u, &SockaddrIn::new(LOCALHOST, FLOOD_PORT + i as u16)) < 0 {
            break;
        }
    }
    let tx = user::socket(user::AF_INET, user::SOCK_DGRAM, 0) as i32;
    let payload = [0x55u8; 60_000];
    let mut sent = 0usize;
    for i in 0..n {
        let dest = SockaddrIn::new(LOCALHOST, FLOOD_PORT + i as u16);
        for _ in 0..4 {
            if user::sendto(tx, &payload, 0, Some(&dest)) > 0 {
                sent += 1;
            }
        }
    }
    uprintln!("hostile-test: {n} udp sockets, {sent} datagrams of 60000 bytes sent");
    let alive = services_answer(50);
    user::close(tx);
    for &fd in &fds[..n] {
        user::close(fd);
    }
    alive.map_err(|_| "services stopped answering during the flood")
}
