//! Bad pointers in every pointer-taking system call: each kernel address of [`Targets`], the
//! first page, an unmapped one, non-canonical ones and the top of the address space (a
//! pointer that wraps with any length) must be `EFAULT` wherever the kernel reads from or
//! writes to it, and so must this program's own code and constants wherever the kernel would
//! write. Raw calls (`progkit::sys::syscall`): the exact errno is the point.
//!
//! The calls a libc needs (rinet's issue 13 list) and the socket calls must answer `EFAULT`;
//! the others ([`Need::Optional`]) may be `ENOSYS` in rinet, reported once as a note.
//!
//! [`Targets`]: crate::targets::Targets

use std::collections::BTreeSet;
use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;

use libc::{c_long, sockaddr_in};
use progkit::sys::{self, syscall};
use progkit::{on_rinet, program_path, CheckResult, Errno};

use crate::{config, rinet_differs};

/// Whether a call must exist.
#[derive(Clone, Copy, PartialEq)]
enum Need {
    Required,
    /// `ENOSYS` in rinet is a note, not a failure.
    Optional,
}

type Ret = Result<usize, Errno>;

/// A call given the bad address `b`.
type Call<'a> = (&'static str, Need, Box<dyn Fn(u64) -> Ret + 'a>);

fn sc(nr: c_long, a: [u64; 6]) -> Ret {
    syscall(nr, a)
}

/// The descriptors and good buffers the calls use besides the bad address.
struct Fixture {
    udp: RawFd,
    me: sockaddr_in,
    tcp: RawFd,
    pipe: [RawFd; 2],
    file: RawFd,
    dir: RawFd,
    path: CString,
}

impl Fixture {
    fn new() -> Result<Fixture, String> {
        let udp = sys::socket(libc::AF_INET, libc::SOCK_DGRAM)
            .map_err(|e| format!("udp socket: {}", e.name()))?;
        sys::bind(udp, &sys::sockaddr_in([127, 0, 0, 1], 0))
            .map_err(|e| format!("udp bind: {}", e.name()))?;
        let me = sys::getsockname(udp).map_err(|e| format!("getsockname: {}", e.name()))?;
        let tcp = sys::socket(libc::AF_INET, libc::SOCK_STREAM)
            .map_err(|e| format!("tcp socket: {}", e.name()))?;
        let mut fds = [0i32; 2];
        sc(
            libc::SYS_pipe2,
            [fds.as_mut_ptr() as u64, libc::O_CLOEXEC as u64, 0, 0, 0, 0],
        )
        .map_err(|e| format!("pipe2: {}", e.name()))?;
        let path = CString::new(program_path("hostile-test").as_os_str().as_bytes())
            .map_err(|_| "program path")?;
        let file = open(&path, libc::O_RDONLY)?;
        let dir = open(c"/", libc::O_RDONLY | libc::O_DIRECTORY)?;
        Ok(Fixture {
            udp,
            me,
            tcp,
            pipe: fds,
            file,
            dir,
            path,
        })
    }

    /// A byte in the pipe, so that a read reaches its copy-out.
    fn fill_pipe(&self) {
        let _ = sys::write(self.pipe[1], b"x");
    }

    /// A datagram queued on the UDP socket, so that a receive reaches its copy-out.
    fn queue_datagram(&self) {
        let _ = sys::sendto(self.udp, b"x", 0, &self.me);
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for fd in [self.udp, self.tcp, self.pipe[0], self.pipe[1], self.file, self.dir] {
            let _ = sys::close(fd);
        }
    }
}

fn open(path: &std::ffi::CStr, flags: i32) -> Result<RawFd, String> {
    sc(
        libc::SYS_openat,
        [libc::AT_FDCWD as u64, path.as_ptr() as u64, flags as u64, 0, 0, 0],
    )
    .map(|fd| fd as RawFd)
    .map_err(|e| format!("open {path:?}: {}", e.name()))
}

/// Whether the kernel reads one byte at `addr` for this program (written into the pipe and
/// drained again).
fn readable(f: &Fixture, addr: u64) -> bool {
    let w = f.pipe[1] as u64;
    if syscall(libc::SYS_write, [w, addr, 1, 0, 0, 0]) != Ok(1) {
        return false;
    }
    let mut b = [0u8; 1];
    let _ = sys::read(f.pipe[0], &mut b);
    true
}

/// Calls that read from the bad address.
fn reading_calls(f: &Fixture) -> Vec<Call<'_>> {
    use Need::*;
    let me = &f.me as *const sockaddr_in as u64;
    let ok = Box::leak(Box::new([0u8; 64])).as_ptr() as u64;
    let zero = Box::leak(Box::new(libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    })) as *const libc::timespec as u64;
    let null_list = Box::leak(Box::new([0u64; 1])).as_ptr() as u64;
    let nowhere = c"/hostile-test-nowhere".as_ptr() as u64;
    let (udp, tcp, w) = (f.udp as u64, f.tcp as u64, f.pipe[1] as u64);
    let cwd = libc::AT_FDCWD as u64;
    vec![
        ("write", Required, Box::new(move |b| sc(libc::SYS_write, [1, b, 8, 0, 0, 0]))),
        ("write to a pipe", Required, Box::new(move |b| sc(libc::SYS_write, [w, b, 8, 0, 0, 0]))),
        ("writev iovec array", Required, Box::new(move |b| sc(libc::SYS_writev, [w, b, 1, 0, 0, 0]))),
        (
            "writev iov_base",
            Required,
            Box::new(move |b| {
                let iov = [b, 8];
                sc(libc::SYS_writev, [w, iov.as_ptr() as u64, 1, 0, 0, 0])
            }),
        ),
        ("sendto buf", Required, Box::new(move |b| sc(libc::SYS_sendto, [udp, b, 8, 0, me, 16]))),
        ("sendto addr", Required, Box::new(move |b| sc(libc::SYS_sendto, [udp, ok, 8, 0, b, 16]))),
        ("sendmsg msghdr", Optional, Box::new(move |b| sc(libc::SYS_sendmsg, [udp, b, 0, 0, 0, 0]))),
        ("connect", Required, Box::new(move |b| sc(libc::SYS_connect, [tcp, b, 16, 0, 0, 0]))),
        ("bind", Required, Box::new(move |b| sc(libc::SYS_bind, [tcp, b, 16, 0, 0, 0]))),
        (
            "setsockopt",
            Required,
            Box::new(move |b| {
                let (lvl, opt) = (libc::SOL_SOCKET as u64, libc::SO_REUSEADDR as u64);
                sc(libc::SYS_setsockopt, [udp, lvl, opt, b, 4, 0])
            }),
        ),
        (
            "ioctl FIONBIO",
            Required,
            Box::new(move |b| sc(libc::SYS_ioctl, [udp, libc::FIONBIO as u64, b, 0, 0, 0])),
        ),
        ("nanosleep", Required, Box::new(move |b| sc(libc::SYS_nanosleep, [b, 0, 0, 0, 0, 0]))),
        (
            "clock_nanosleep",
            Required,
            Box::new(move |b| {
                let clock = libc::CLOCK_MONOTONIC as u64;
                // Returns the error itself, as pthread functions do.
                match sc(libc::SYS_clock_nanosleep, [clock, 0, b, 0, 0, 0]) {
                    Ok(n) if n > 0 => Err(Errno::from_code(n as i32).unwrap_or(Errno::EIO)),
                    r => r,
                }
            }),
        ),
        ("poll", Required, Box::new(move |b| sc(libc::SYS_poll, [b, 1, 0, 0, 0, 0]))),
        ("open path", Required, Box::new(move |b| sc(libc::SYS_open, [b, 0, 0, 0, 0, 0]))),
        ("openat path", Required, Box::new(move |b| sc(libc::SYS_openat, [cwd, b, 0, 0, 0, 0]))),
        ("stat path", Required, Box::new(move |b| sc(libc::SYS_stat, [b, ok, 0, 0, 0, 0]))),
        ("lstat path", Required, Box::new(move |b| sc(libc::SYS_lstat, [b, ok, 0, 0, 0, 0]))),
        (
            "newfstatat path",
            Required,
            Box::new(move |b| sc(libc::SYS_newfstatat, [cwd, b, ok, 0, 0, 0])),
        ),
        ("access path", Required, Box::new(move |b| sc(libc::SYS_access, [b, 0, 0, 0, 0, 0]))),
        ("faccessat path", Required, Box::new(move |b| sc(libc::SYS_faccessat, [cwd, b, 0, 0, 0, 0]))),
        ("chdir path", Required, Box::new(move |b| sc(libc::SYS_chdir, [b, 0, 0, 0, 0, 0]))),
        ("mkdir path", Required, Box::new(move |b| sc(libc::SYS_mkdir, [b, 0o755, 0, 0, 0, 0]))),
        ("unlink path", Required, Box::new(move |b| sc(libc::SYS_unlink, [b, 0, 0, 0, 0, 0]))),
        ("rename old path", Required, Box::new(move |b| sc(libc::SYS_rename, [b, nowhere, 0, 0, 0, 0]))),
        ("readlink path", Required, Box::new(move |b| sc(libc::SYS_readlink, [b, ok, 64, 0, 0, 0]))),
        (
            "execve path",
            Required,
            Box::new(move |b| sc(libc::SYS_execve, [b, null_list, null_list, 0, 0, 0])),
        ),
        (
            "prlimit64 new limit",
            Required,
            Box::new(move |b| sc(libc::SYS_prlimit64, [0, libc::RLIMIT_NOFILE as u64, b, 0, 0, 0])),
        ),
        (
            "rt_sigaction act",
            Optional,
            Box::new(move |b| sc(libc::SYS_rt_sigaction, [libc::SIGUSR1 as u64, b, 0, 8, 0, 0])),
        ),
        (
            "rt_sigprocmask set",
            Optional,
            Box::new(move |b| sc(libc::SYS_rt_sigprocmask, [libc::SIG_BLOCK as u64, b, 0, 8, 0, 0])),
        ),
        (
            "futex wait",
            Optional,
            Box::new(move |b| sc(libc::SYS_futex, [b, libc::FUTEX_WAIT as u64, 0, zero, 0, 0])),
        ),
        (
            "select readfds",
            Optional,
            Box::new(move |b| sc(libc::SYS_select, [1, b, 0, 0, zero, 0])),
        ),
    ]
}

/// Calls that write to the bad address. (`allow_einval`: the address holds a length the
/// kernel reads first; a readable one may hold a negative one, EINVAL as in Linux.)
fn writing_calls(f: &Fixture) -> Vec<Call<'_>> {
    use Need::*;
    let ok = Box::leak(Box::new([0u8; 512])).as_mut_ptr() as u64;
    let len = Box::leak(Box::new(16u32)) as *mut u32 as u64;
    let (udp, r, file, dir) = (f.udp as u64, f.pipe[0] as u64, f.file as u64, f.dir as u64);
    let path = f.path.as_ptr() as u64;
    let cwd = libc::AT_FDCWD as u64;
    let mono = libc::CLOCK_MONOTONIC as u64;
    let (sol, so_type) = (libc::SOL_SOCKET as u64, libc::SO_TYPE as u64);
    let dontwait = libc::MSG_DONTWAIT as u64;
    vec![
        ("read from a pipe", Required, Box::new(move |b| {
            f.fill_pipe();
            sc(libc::SYS_read, [r, b, 8, 0, 0, 0])
        })),
        ("read from a udp socket", Required, Box::new(move |b| {
            f.queue_datagram();
            sc(libc::SYS_read, [udp, b, 16, 0, 0, 0])
        })),
        ("readv iov_base", Required, Box::new(move |b| {
            f.fill_pipe();
            let iov = [b, 8];
            sc(libc::SYS_readv, [r, iov.as_ptr() as u64, 1, 0, 0, 0])
        })),
        ("readv iovec array", Required, Box::new(move |b| {
            f.fill_pipe();
            sc(libc::SYS_readv, [r, b, 1, 0, 0, 0])
        })),
        ("pread64", Required, Box::new(move |b| sc(libc::SYS_pread64, [file, b, 8, 0, 0, 0]))),
        ("recvfrom buf", Required, Box::new(move |b| {
            f.queue_datagram();
            sc(libc::SYS_recvfrom, [udp, b, 16, dontwait, 0, 0])
        })),
        ("recvfrom addr", Required, Box::new(move |b| {
            f.queue_datagram();
            sc(libc::SYS_recvfrom, [udp, ok, 16, dontwait, b, len])
        })),
        ("getsockname addr", Required, Box::new(move |b| {
            sc(libc::SYS_getsockname, [udp, b, len, 0, 0, 0])
        })),
        ("getsockname len", Required, Box::new(move |b| {
            sc(libc::SYS_getsockname, [udp, ok, b, 0, 0, 0])
        })),
        ("getsockopt value", Required, Box::new(move |b| {
            sc(libc::SYS_getsockopt, [udp, sol, so_type, b, len, 0])
        })),
        ("getsockopt len", Required, Box::new(move |b| {
            sc(libc::SYS_getsockopt, [udp, sol, so_type, ok, b, 0])
        })),
        ("ioctl FIONREAD", Required, Box::new(move |b| {
            sc(libc::SYS_ioctl, [udp, libc::FIONREAD as u64, b, 0, 0, 0])
        })),
        ("clock_gettime", Required, Box::new(move |b| sc(libc::SYS_clock_gettime, [mono, b, 0, 0, 0, 0]))),
        ("clock_getres", Required, Box::new(move |b| sc(libc::SYS_clock_getres, [mono, b, 0, 0, 0, 0]))),
        ("gettimeofday", Required, Box::new(move |b| sc(libc::SYS_gettimeofday, [b, 0, 0, 0, 0, 0]))),
        ("time", Required, Box::new(move |b| sc(libc::SYS_time, [b, 0, 0, 0, 0, 0]))),
        ("getrandom", Required, Box::new(move |b| sc(libc::SYS_getrandom, [b, 16, 0, 0, 0, 0]))),
        ("uname", Required, Box::new(move |b| sc(libc::SYS_uname, [b, 0, 0, 0, 0, 0]))),
        ("sysinfo", Required, Box::new(move |b| sc(libc::SYS_sysinfo, [b, 0, 0, 0, 0, 0]))),
        ("getcwd", Required, Box::new(move |b| sc(libc::SYS_getcwd, [b, 256, 0, 0, 0, 0]))),
        ("fstat buf", Required, Box::new(move |b| sc(libc::SYS_fstat, [file, b, 0, 0, 0, 0]))),
        ("stat buf", Required, Box::new(move |b| sc(libc::SYS_stat, [path, b, 0, 0, 0, 0]))),
        ("newfstatat buf", Required, Box::new(move |b| {
            sc(libc::SYS_newfstatat, [cwd, path, b, 0, 0, 0])
        })),
        ("statx buf", Required, Box::new(move |b| {
            sc(libc::SYS_statx, [cwd, path, 0, libc::STATX_BASIC_STATS as u64, b, 0])
        })),
        ("getdents64", Required, Box::new(move |b| {
            let _ = sc(libc::SYS_lseek, [dir, 0, libc::SEEK_SET as u64, 0, 0, 0]);
            sc(libc::SYS_getdents64, [dir, b, 4096, 0, 0, 0])
        })),
        ("getrlimit", Required, Box::new(move |b| {
            sc(libc::SYS_getrlimit, [libc::RLIMIT_NOFILE as u64, b, 0, 0, 0, 0])
        })),
        ("prlimit64 old limit", Required, Box::new(move |b| {
            sc(libc::SYS_prlimit64, [0, libc::RLIMIT_NOFILE as u64, 0, b, 0, 0])
        })),
        ("pipe2", Optional, Box::new(move |b| sc(libc::SYS_pipe2, [b, libc::O_CLOEXEC as u64, 0, 0, 0, 0]))),
        ("rt_sigaction oldact", Optional, Box::new(move |b| {
            sc(libc::SYS_rt_sigaction, [libc::SIGUSR1 as u64, 0, b, 8, 0, 0])
        })),
        ("rt_sigprocmask oldset", Optional, Box::new(move |b| {
            sc(libc::SYS_rt_sigprocmask, [libc::SIG_BLOCK as u64, 0, b, 8, 0, 0])
        })),
    ]
}

/// Calls whose bad address holds a length the kernel reads before it writes.
const LENGTH_POINTERS: [&str; 3] = ["getsockname len", "getsockopt len", "readv iovec array"];

/// This program's own code and constants: readable, never writable.
fn own_read_only() -> [(&'static str, u64); 2] {
    [
        ("own code", bad_pointers as fn() -> CheckResult as usize as u64),
        ("own rodata", OWN_RODATA.as_ptr() as u64),
    ]
}

static OWN_RODATA: &str = "hostile-test: a constant";

pub fn bad_pointers() -> CheckResult {
    let f = Fixture::new()?;
    let targets = &config().targets;
    let rinet = on_rinet();
    let mut wrong = 0usize;
    // A readable kernel address would feed the calls kernel bytes as paths, addresses and
    // lengths (mkdir and rename then succeed): refused, or reported and skipped.
    let mut unreadable = Vec::new();
    let mut readable_kernel = Vec::new();
    for (what, b) in targets.unreadable() {
        if readable(&f, b) {
            readable_kernel.push(what);
        } else {
            unreadable.push((what, b));
            continue;
        }
        let known = what.starts_with("kernel text") || what.starts_with("kernel rodata");
        if !(known
            && rinet_differs(
                &format!("{what} at {b:#x} is readable by ring 3 and system calls"),
                "no kernel page is a program's: EFAULT",
            ))
        {
            println!("hostile-test: {what} at {b:#x} is readable through write(2)");
            wrong += 1;
        }
    }
    let mut missing = BTreeSet::new();
    let mut judge = |call: &'static str, need: Need, what: &str, ret: Ret, einval_ok: bool| {
        match ret {
            Err(Errno::EFAULT) => {}
            Err(Errno::EINVAL) if einval_ok => {}
            Err(Errno::ENOSYS) if need == Need::Optional && rinet => {
                missing.insert(call);
            }
            other => {
                println!(
                    "hostile-test: {call} with {what}: got {}, want EFAULT",
                    sys::name(other)
                );
                wrong += 1;
            }
        }
    };
    let reads = reading_calls(&f);
    for (what, b) in unreadable {

        for (call, need, c) in &reads {
            judge(call, *need, what, c(b), false);
        }
    }
    let writes = writing_calls(&f);
    let own = own_read_only();
    for (what, b) in targets.unwritable().into_iter().chain(own) {
        let readable = own.iter().any(|&(w, _)| w == what) || readable_kernel.contains(&what);
        for (call, need, c) in &writes {
            let einval_ok = readable && LENGTH_POINTERS.contains(call);
            judge(call, *need, what, c(b), einval_ok);
        }
    }
    // Drain what the calls left queued.
    let mut buf = [0u8; 64];
    while sys::recv(f.udp, &mut buf, libc::MSG_DONTWAIT).is_ok() {}
    let _ = sys::fcntl(f.pipe[0], libc::F_SETFL, libc::O_NONBLOCK as i64);
    while matches!(sys::read(f.pipe[0], &mut buf), Ok(n) if n > 0) {}
    for call in &missing {
        println!("hostile-test: note: {call} is ENOSYS here");
    }
    if wrong == 0 {
        Ok(())
    } else {
        Err(format!("{wrong} calls did not return EFAULT (lines above)"))
    }
}
