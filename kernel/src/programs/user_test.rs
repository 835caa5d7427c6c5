//! `init=user-test`: a ring-3 program checking the system-call layer and the scheduler from
//! the program's side. Prints `user-test: <check> ok` per check, and exits 0 (QEMU status 33)
//! only if all pass; a failed check prints `user-test: FAIL <check>: <detail>` and exits 1.
//!
//! Also the ring-3 crash programs (`crash-user`, started by `crash-test -- user` and by
//! user-test itself). Runs in ring 3: only `crate::user` may be called.

use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};

use net::Errno;

use crate::user::{self, SockaddrIn, Timespec};
use crate::{uprint, uprintln};

type Check = (&'static str, fn() -> Result<(), &'static str>);

const CHECKS: &[Check] = &[
    ("write to stdout", write_stdout),
    ("clock advances across nanosleep", clock_and_nanosleep),
    ("getrandom", getrandom),
    ("sched_yield interleaves threads", yield_interleaves),
    ("a ring-3 busy loop is preempted", busy_loop_preempted),
    ("unknown syscall is ENOSYS", unknown_syscall),
    ("bad pointers are EFAULT", bad_pointers),
    ("close(99) is EBADF", close_bad_fd),
    (
        "socket calls on the console are ENOTSOCK",
        console_not_socket,
    ),
    ("socket() answers", socket_answers),
    ("poll: console, bad fd, timeout", poll_checks),
    ("console fds: read EOF, fcntl", console_fds),
    (
        "a file under /tmp: create, write, read back, list, rename, cwd, unlink",
        file_round_trip,
    ),
    ("pipe round trip and dup2", pipe_and_dup2),
    ("gethostbyname argument checks", gethostbyname_checks),
    ("faulting programs are killed, we go on", faulting_programs),
    (
        "exit_group ends sleeping and spinning threads",
        exit_group_ends_threads,
    ),
];

pub fn main(_args: &[&str]) -> i32 {
    let mut failed = 0;
    for (name, check) in CHECKS {
        match check() {
            Ok(()) => uprintln!("user-test: {name} ok"),
            Err(detail) => {
                uprintln!("user-test: FAIL {name}: {detail}");
                failed += 1;
            }
        }
    }
    if failed == 0 {
        uprintln!("user-test: all {} checks passed", CHECKS.len());
        0
    } else {
        uprintln!("user-test: {failed} of {} checks failed", CHECKS.len());
        1
    }
}

fn write_stdout() -> Result<(), &'static str> {
    let msg = b"user-test: hello from ring 3\n";
    if user::write(1, msg) != msg.len() as isize {
        return Err("write(1) did not write every byte");
    }
    if user::write(2, b"") != 0 {
        return Err("empty write(2) did not return 0");
    }
    Ok(())
}

fn clock_and_nanosleep() -> Result<(), &'static str> {
    let mut t0 = Timespec::default();
    if user::clock_gettime(crate::syscall::CLOCK_MONOTONIC, &mut t0) != 0 {
        return Err("clock_gettime failed");
    }
    if user::sleep_ms(20) != 0 {
        return Err("nanosleep failed");
    }
    let mut t1 = Timespec::default();
    user::clock_gettime(crate::syscall::CLOCK_MONOTONIC, &mut t1);
    let ns = |t: Timespec| t.tv_sec as i128 * 1_000_000_000 + t.tv_nsec as i128;
    let slept = ns(t1) - ns(t0);
    if slept < 20_000_000 {
        uprintln!("user-test: slept only {slept} ns");
        return Err("the clock advanced by less than 20 ms");
    }
    let bad = Timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000_000,
    };
    if user::nanosleep(&bad, None) != user::neg(Errno::EINVAL) {
        return Err("nanosleep accepted tv_nsec = 1e9");
    }
    if user::clock_gettime(12345, &mut t1) != user::neg(Errno::EINVAL) {
        return Err("clock_gettime accepted an unknown clock");
    }
    Ok(())
}

fn getrandom() -> Result<(), &'static str> {
    let mut a = [0u8; 32];
    let mut b = [0u8; 32];
    if user::getrandom(&mut a, 0) != 32 || user::getrandom(&mut b, 0) != 32 {
        return Err("getrandom did not fill 32 bytes");
    }
    if a == [0; 32] || a == b {
        return Err("getrandom bytes are zero or repeat");
    }
    if user::getrandom(&mut a, 0x80) != user::neg(Errno::EINVAL) {
        return Err("getrandom accepted unknown flags");
    }
    Ok(())
}

/// Order in which the two threads ran their steps: b'a' (main) and b'b' (the spawned one).
#[link_section = ".user_data"]
static TRACE: [AtomicU8; 8] = [const { AtomicU8::new(0) }; 8];
#[link_section = ".user_data"]
static TRACE_LEN: AtomicUsize = AtomicUsize::new(0);
#[link_section = ".user_data"]
static OTHER_DONE: AtomicUsize = AtomicUsize::new(0);

fn trace(c: u8) {
    let i = TRACE_LEN.fetch_add(1, Ordering::SeqCst);
    if let Some(slot) = TRACE.get(i) {
        slot.store(c, Ordering::SeqCst);
    }
}

fn other_thread(steps: usize) {
    for _ in 0..steps {
        trace(b'b');
        user::sched_yield();
    }
    OTHER_DONE.store(1, Ordering::SeqCst);
}

fn yield_interleaves() -> Result<(), &'static str> {
    if user::rt::spawn(other_thread, 3) < 0 {
        return Err("spawn failed");
    }
    for _ in 0..3 {
        trace(b'a');
        user::sched_yield();
    }
    let mut spins = 0;
    while OTHER_DONE.load(Ordering::SeqCst) == 0 {
        user::sched_yield();
        spins += 1;
        if spins > 1000 {
            return Err("the spawned thread never finished");
        }
    }
    let mut t = [0u8; 6];
    for (o, slot) in t.iter_mut().zip(TRACE.iter()) {
        *o = slot.load(Ordering::SeqCst);
    }
    uprintln!(
        "user-test: thread trace {}",
        core::str::from_utf8(&t).unwrap_or("?")
    );
    // Each yield hands the CPU to the other thread ("ababab"); a time slice ending in the
    // middle (a slow host) may shift a step, but one thread never runs all its steps first.
    if t.iter().filter(|&&c| c == b'a').count() != 3
        || t.iter().filter(|&&c| c == b'b').count() != 3
    {
        return Err("a thread's steps are missing");
    }
    if t == *b"aaabbb" || t == *b"bbbaaa" {
        return Err("the threads did not interleave");
    }
    Ok(())
}

#[link_section = ".user_data"]
static STOP_SPINNING: AtomicUsize = AtomicUsize::new(0);
/// 1 = the spinner saw the flag, 2 = it gave up after its time bound.
#[link_section = ".user_data"]
static SPINNER_RESULT: AtomicUsize = AtomicUsize::new(0);

/// Spins in ring 3 without any system call that could yield (clock reads do not).
fn spinner(_: usize) {
    let start = user::monotonic_ns();
    loop {
        if STOP_SPINNING.load(Ordering::SeqCst) != 0 {
            SPINNER_RESULT.store(1, Ordering::SeqCst);
            return;
        }
        if user::monotonic_ns().saturating_sub(start) > 2_000_000_000 {
            SPINNER_RESULT.store(2, Ordering::SeqCst);
            return;
        }
        core::hint::spin_loop();
    }
}

/// While another thread spins in ring 3, this one's 5 ms sleep still ends (the timer preempts
/// the spinner), and it can stop the spinner.
fn busy_loop_preempted() -> Result<(), &'static str> {
    if user::rt::spawn(spinner, 0) < 0 {
        return Err("spawn failed");
    }
    user::sched_yield(); // the spinner starts
    let t0 = user::monotonic_ns();
    user::sleep_ms(5);
    let woke = user::monotonic_ns();
    STOP_SPINNING.store(1, Ordering::SeqCst);
    while SPINNER_RESULT.load(Ordering::SeqCst) == 0 {
        user::sched_yield();
    }
    uprintln!(
        "user-test: slept 5 ms beside a spinner, woke after {} us",
        (woke - t0) / 1000
    );
    if SPINNER_RESULT.load(Ordering::SeqCst) != 1 {
        return Err("the sleeper only ran after the spinner gave up (no preemption)");
    }
    Ok(())
}

fn unknown_syscall() -> Result<(), &'static str> {
    if user::syscall0(999) != user::neg(Errno::ENOSYS) {
        return Err("syscall 999 did not return -ENOSYS");
    }
    if user::syscall1(5000, 1) != user::neg(Errno::ENOSYS) {
        return Err("syscall 5000 did not return -ENOSYS");
    }
    Ok(())
}

fn bad_pointers() -> Result<(), &'static str> {
    let efault = user::neg(Errno::EFAULT);
    if user::syscall3(crate::syscall::SYS_WRITE, 1, 0, 5) != efault {
        return Err("write(1, NULL, 5) was not EFAULT");
    }
    if user::syscall3(crate::syscall::SYS_WRITE, 1, 0x7fff_dead_0000, 5) != efault {
        return Err("write from an unmapped address was not EFAULT");
    }
    if user::syscall3(crate::syscall::SYS_WRITE, 1, u64::MAX - 2, 5) != efault {
        return Err("write with a wrapping range was not EFAULT");
    }
    if user::syscall2(crate::syscall::SYS_CLOCK_GETTIME, 1, 0) != efault {
        return Err("clock_gettime(NULL) was not EFAULT");
    }
    if user::syscall2(crate::syscall::SYS_NANOSLEEP, 0xc000_0000, 0) != efault {
        return Err("nanosleep from MMIO space was not EFAULT");
    }
    Ok(())
}

fn close_bad_fd() -> Result<(), &'static str> {
    let ebadf = user::neg(Errno::EBADF);
    if user::close(99) != ebadf {
        return Err("close(99) was not EBADF");
    }
    if user::listen(99, 1) != ebadf {
        return Err("listen(99) was not EBADF");
    }
    let mut buf = [0u8; 4];
    if user::recv(99, &mut buf, 0) != ebadf {
        return Err("recv(99) was not EBADF");
    }
    Ok(())
}

fn console_not_socket() -> Result<(), &'static str> {
    let enotsock = user::neg(Errno::ENOTSOCK);
    if user::listen(1, 1) != enotsock {
        return Err("listen(1) was not ENOTSOCK");
    }
    let addr = SockaddrIn::new([127, 0, 0, 1], 7);
    if user::connect(2, &addr) != enotsock {
        return Err("connect(2) was not ENOTSOCK");
    }
    let mut fds = [user::PollFd {
        fd: 1,
        events: user::POLLOUT as i16,
        revents: 0,
    }];
    if user::poll(&mut fds, 0) != 1 || fds[0].revents != user::POLLOUT as i16 {
        return Err("poll did not report stdout writable");
    }
    Ok(())
}

fn socket_answers() -> Result<(), &'static str> {
    let fd = user::socket(user::AF_INET, user::SOCK_DGRAM, 0);
    if fd == user::neg(Errno::ENETDOWN) {
        uprintln!("user-test: socket() -> ENETDOWN (no network stack yet)");
        return Ok(());
    }
    if fd < 3 {
        uprintln!("user-test: socket() returned {fd}");
        return Err("socket() neither succeeded nor said ENETDOWN");
    }
    if user::close(fd as i32) != 0 {
        return Err("close of a new socket failed");
    }
    Ok(())
}

fn poll_checks() -> Result<(), &'static str> {
    let mut fds = [
        user::PollFd {
            fd: 1,
            events: (user::POLLOUT | user::POLLIN) as i16,
            revents: 0,
        },
        user::PollFd {
            fd: 99,
            events: user::POLLIN as i16,
            revents: 0,
        },
        user::PollFd {
            fd: -1,
            events: user::POLLIN as i16,
            revents: 7,
        },
    ];
    if user::poll(&mut fds, -1) != 2 {
        return Err("poll did not count stdout and the bad fd");
    }
    // The console reads end of file at once, so it is readable as well as writable.
    if fds[0].revents != (user::POLLOUT | user::POLLIN) as i16
        || fds[1].revents != net::socket::POLLNVAL as i16
        || fds[2].revents != 0
    {
        return Err("poll revents wrong (stdout POLLIN|POLLOUT, fd 99 POLLNVAL, fd -1 nothing)");
    }
    let t0 = user::monotonic_ns();
    if user::poll(&mut [], 30) != 0 {
        return Err("poll with no fds did not time out with 0");
    }
    if user::monotonic_ns() - t0 < 30_000_000 {
        return Err("poll returned before its 30 ms timeout");
    }
    Ok(())
}

fn console_fds() -> Result<(), &'static str> {
    let mut buf = [0u8; 8];
    if user::read(0, &mut buf) != 0 {
        return Err("read(0) is not end of file");
    }
    if user::fcntl(1, user::F_GETFL, 0) != net::sockfs::O_RDWR as isize {
        return Err("fcntl(1, F_GETFL) is not O_RDWR");
    }
    if user::fcntl(1, 12345, 0) != user::neg(Errno::EINVAL) {
        return Err("fcntl with an unknown command is not EINVAL");
    }
    Ok(())
}

/// Whether a `getdents64` listing of `buf[..len]` holds `name`.
fn listed(buf: &[u8], name: &[u8]) -> bool {
    let mut at = 0;
    while at + 19 <= buf.len() {
        let reclen = usize::from(u16::from_ne_bytes([buf[at + 16], buf[at + 17]]));
        if reclen < 20 || at + reclen > buf.len() {
            return false;
        }
        let rec = &buf[at + 19..at + reclen];
        let end = rec.iter().position(|&b| b == 0).unwrap_or(rec.len());
        if &rec[..end] == name {
            return true;
        }
        at += reclen;
    }
    false
}

fn file_round_trip() -> Result<(), &'static str> {
    let r = user::mkdir(b"/tmp\0", 0o1777);
    if r != 0 && r != user::neg(Errno::EEXIST) {
        return Err("mkdir /tmp failed");
    }
    let flags = user::O_CREAT | user::O_EXCL | user::O_RDWR;
    let fd = user::openat(user::AT_FDCWD, b"/tmp/user-test.txt\0", flags, 0o644);
    if fd < 3 {
        return Err("openat O_CREAT|O_EXCL did not give a new descriptor");
    }
    let fd = fd as i32;
    let again = user::openat(user::AT_FDCWD, b"/tmp/user-test.txt\0", flags, 0o644);
    if again != user::neg(Errno::EEXIST) {
        return Err("a second O_EXCL create was not EEXIST");
    }
    let text = b"written through raw syscalls\n";
    if user::write(fd, text) != text.len() as isize {
        return Err("write to the file was short");
    }
    if user::lseek(fd, 0, 0) != 0 {
        return Err("lseek to 0 failed");
    }
    let mut back = [0u8; 64];
    if user::read(fd, &mut back) != text.len() as isize || &back[..text.len()] != text {
        return Err("the bytes read back differ");
    }
    if user::read(fd, &mut back) != 0 {
        return Err("read at the end of the file is not 0");
    }
    user::close(fd);
    if user::rename(b"/tmp/user-test.txt\0", b"/tmp/renamed.txt\0") != 0 {
        return Err("rename failed");
    }
    let dir = user::openat(
        user::AT_FDCWD,
        b"/tmp\0",
        user::O_RDONLY | user::O_DIRECTORY,
        0,
    );
    if dir < 0 {
        return Err("opening /tmp as a directory failed");
    }
    let mut list = [0u8; 1024];
    let n = user::getdents64(dir as i32, &mut list);
    user::close(dir as i32);
    if n <= 0 {
        return Err("getdents64 of /tmp listed nothing");
    }
    let list = &list[..n as usize];
    if !listed(list, b"renamed.txt") || listed(list, b"user-test.txt") {
        return Err("the listing does not show the rename");
    }
    let gone = user::openat(user::AT_FDCWD, b"/tmp/user-test.txt\0", user::O_RDONLY, 0);
    if gone != user::neg(Errno::ENOENT) {
        return Err("the old name still opens");
    }
    // Relative names start at the working directory.
    let mut cwd = [0u8; 16];
    if user::chdir(b"/tmp\0") != 0 || user::getcwd(&mut cwd) != 5 || &cwd[..5] != b"/tmp\0" {
        return Err("chdir /tmp then getcwd did not give /tmp");
    }
    let rel = user::openat(user::AT_FDCWD, b"renamed.txt\0", user::O_RDONLY, 0);
    user::chdir(b"/\0");
    if rel < 0 {
        return Err("the relative name did not open from the working directory");
    }
    user::close(rel as i32);
    if user::unlink(b"/tmp/renamed.txt\0") != 0 {
        return Err("unlink failed");
    }
    if user::unlink(b"/tmp/renamed.txt\0") != user::neg(Errno::ENOENT) {
        return Err("a second unlink was not ENOENT");
    }
    Ok(())
}

fn pipe_and_dup2() -> Result<(), &'static str> {
    let mut fds = [-1i32; 2];
    if user::pipe2(&mut fds, 0) != 0 || fds[0] < 3 || fds[1] < 3 {
        return Err("pipe2 failed");
    }
    let [r, w] = fds;
    if user::write(w, b"through the pipe") != 16 {
        return Err("write to the pipe was short");
    }
    let mut buf = [0u8; 32];
    if user::read(r, &mut buf) != 16 || &buf[..16] != b"through the pipe" {
        return Err("the pipe gave other bytes back");
    }
    // dup2 onto a descriptor number of our choosing: it names the same pipe end.
    if user::dup2(w, 40) != 40 {
        return Err("dup2 did not return the new descriptor");
    }
    user::close(w);
    if user::write(40, b"dup") != 3 || user::read(r, &mut buf) != 3 || &buf[..3] != b"dup" {
        return Err("the duplicate does not write into the same pipe");
    }
    // With the last write end closed, the reader sees end of file instead of blocking.
    user::close(40);
    if user::read(r, &mut buf) != 0 {
        return Err("no end of file after the last write end closed");
    }
    user::close(r);
    if user::write(40, b"x") != user::neg(Errno::EBADF) {
        return Err("a closed duplicate still writes");
    }
    Ok(())
}

fn gethostbyname_checks() -> Result<(), &'static str> {
    let mut out = [0u8; 4];
    if user::gethostbyname("", &mut out) != user::neg(Errno::EINVAL) {
        return Err("gethostbyname(\"\") was not EINVAL");
    }
    let r = user::syscall3(
        crate::syscall::SYS_GETHOSTBYNAME,
        0,
        5,
        out.as_mut_ptr() as u64,
    );
    if r != user::neg(Errno::EFAULT) {
        return Err("gethostbyname(NULL) was not EFAULT");
    }
    // Without a resolver (no network yet) ENETDOWN; with one, an answer either way.
    let r = user::gethostbyname("localhost.invalid", &mut out);
    uprintln!("user-test: gethostbyname(localhost.invalid) -> {r}");
    if r > 0 {
        return Err("gethostbyname returned a positive value");
    }
    Ok(())
}

fn faulting_programs() -> Result<(), &'static str> {
    for name in ["crash-user", "crash-user-gp", "crash-user-stack"] {
        let pid = user::program_spawn(name);
        if pid <= 0 {
            return Err("program_spawn of a crash program failed");
        }
        let status = user::program_wait(pid);
        uprintln!("user-test: {name} ended with status {status}");
        if status != crate::process::STATUS_KILLED as isize {
            return Err("a faulting program did not end with status 139");
        }
    }
    if user::program_spawn("no-such-program") != user::neg(Errno::ENOENT) {
        return Err("program_spawn of an unknown name was not ENOENT");
    }
    Ok(())
}

fn exit_group_ends_threads() -> Result<(), &'static str> {
    let t0 = user::monotonic_ns();
    let pid = user::program_spawn("exit-group-user");
    if pid <= 0 {
        return Err("program_spawn(exit-group-user) failed");
    }
    let status = user::program_wait(pid);
    let ms = (user::monotonic_ns() - t0) / 1_000_000;
    uprintln!("user-test: exit-group-user ended with status {status} after {ms} ms");
    if status != 7 {
        return Err("the program's status is not its exit_group(7)");
    }
    if ms > 5_000 {
        return Err("the program's other threads kept it alive");
    }
    Ok(())
}

fn sleep_long(_: usize) {
    user::sleep_ms(60_000);
}

fn spin_forever(_: usize) {
    loop {
        core::hint::spin_loop();
    }
}

/// `exit-group-user`: one thread sleeps for a minute, one spins forever in ring 3, and main
/// calls `exit_group(7)`: the program must end at once with status 7.
pub fn exit_group_user(_args: &[&str]) -> i32 {
    if user::rt::spawn(sleep_long, 0) < 0 || user::rt::spawn(spin_forever, 0) < 0 {
        return 1;
    }
    user::sched_yield();
    user::sched_yield();
    user::exit_group(7)
}

/// `crash-user-gp`: a privileged instruction in ring 3 (#GP).
pub fn crash_user_gp(_args: &[&str]) -> i32 {
    uprintln!("crash-user-gp: executing cli in ring 3");
    // SAFETY: deliberately faulting: `cli` at CPL 3 with IOPL 0 raises #GP.
    unsafe { core::arch::asm!("cli") };
    0
}

#[inline(never)]
fn deep(n: u64) -> u64 {
    let frame = core::hint::black_box([n; 64]);
    if n == u64::MAX {
        return frame[0];
    }
    deep(n + 1) + core::hint::black_box(frame[63])
}

/// `crash-user-stack`: unbounded recursion into the user stack's guard page.
pub fn crash_user_stack(_args: &[&str]) -> i32 {
    uprintln!("crash-user-stack: recursing");
    deep(0) as i32
}

/// `crash-user`: reads an unmapped address from ring 3.
pub fn crash_user(_args: &[&str]) -> i32 {
    uprint!("crash-user: reading unmapped address 0x7fffdead0000\n");
    // SAFETY: deliberately faulting: the address is unmapped, the kernel ends this program.
    let v = unsafe { core::ptr::read_volatile(0x0000_7fff_dead_0000 as *const u64) };
    uprintln!("crash-user: the read returned {v:#x}");
    0
}
