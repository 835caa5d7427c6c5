//! The pointer-taking calls that read from the bad address they are given: data, paths,
//! socket addresses, option values, timespecs, limits, signal sets.

use libc::sockaddr_in;
use progkit::Errno;

use crate::fixture::{sc, Call, Fixture, Need};

/// Calls that read from the bad address.
pub fn reading_calls(f: &Fixture) -> Vec<Call<'_>> {
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
        (
            "write",
            Required,
            Box::new(move |b| sc(libc::SYS_write, [1, b, 8, 0, 0, 0])),
        ),
        (
            "write to a pipe",
            Required,
            Box::new(move |b| sc(libc::SYS_write, [w, b, 8, 0, 0, 0])),
        ),
        (
            "writev iovec array",
            Required,
            Box::new(move |b| sc(libc::SYS_writev, [w, b, 1, 0, 0, 0])),
        ),
        (
            "writev iov_base",
            Required,
            Box::new(move |b| {
                let iov = [b, 8];
                sc(libc::SYS_writev, [w, iov.as_ptr() as u64, 1, 0, 0, 0])
            }),
        ),
        (
            "sendto buf",
            Required,
            Box::new(move |b| sc(libc::SYS_sendto, [udp, b, 8, 0, me, 16])),
        ),
        (
            "sendto addr",
            Required,
            Box::new(move |b| sc(libc::SYS_sendto, [udp, ok, 8, 0, b, 16])),
        ),
        (
            "sendmsg msghdr",
            Optional,
            Box::new(move |b| sc(libc::SYS_sendmsg, [udp, b, 0, 0, 0, 0])),
        ),
        (
            "connect",
            Required,
            Box::new(move |b| sc(libc::SYS_connect, [tcp, b, 16, 0, 0, 0])),
        ),
        (
            "bind",
            Required,
            Box::new(move |b| sc(libc::SYS_bind, [tcp, b, 16, 0, 0, 0])),
        ),
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
        (
            "nanosleep",
            Required,
            Box::new(move |b| sc(libc::SYS_nanosleep, [b, 0, 0, 0, 0, 0])),
        ),
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
        (
            "poll",
            Required,
            Box::new(move |b| sc(libc::SYS_poll, [b, 1, 0, 0, 0, 0])),
        ),
        (
            "open path",
            Required,
            Box::new(move |b| sc(libc::SYS_open, [b, 0, 0, 0, 0, 0])),
        ),
        (
            "openat path",
            Required,
            Box::new(move |b| sc(libc::SYS_openat, [cwd, b, 0, 0, 0, 0])),
        ),
        (
            "stat path",
            Required,
            Box::new(move |b| sc(libc::SYS_stat, [b, ok, 0, 0, 0, 0])),
        ),
        (
            "lstat path",
            Required,
            Box::new(move |b| sc(libc::SYS_lstat, [b, ok, 0, 0, 0, 0])),
        ),
        (
            "newfstatat path",
            Required,
            Box::new(move |b| sc(libc::SYS_newfstatat, [cwd, b, ok, 0, 0, 0])),
        ),
        (
            "access path",
            Required,
            Box::new(move |b| sc(libc::SYS_access, [b, 0, 0, 0, 0, 0])),
        ),
        (
            "faccessat path",
            Required,
            Box::new(move |b| sc(libc::SYS_faccessat, [cwd, b, 0, 0, 0, 0])),
        ),
        (
            "chdir path",
            Required,
            Box::new(move |b| sc(libc::SYS_chdir, [b, 0, 0, 0, 0, 0])),
        ),
        (
            "mkdir path",
            Required,
            Box::new(move |b| sc(libc::SYS_mkdir, [b, 0o755, 0, 0, 0, 0])),
        ),
        (
            "unlink path",
            Required,
            Box::new(move |b| sc(libc::SYS_unlink, [b, 0, 0, 0, 0, 0])),
        ),
        (
            "rename old path",
            Required,
            Box::new(move |b| sc(libc::SYS_rename, [b, nowhere, 0, 0, 0, 0])),
        ),
        (
            "readlink path",
            Required,
            Box::new(move |b| sc(libc::SYS_readlink, [b, ok, 64, 0, 0, 0])),
        ),
        (
            "execve path",
            Required,
            Box::new(move |b| sc(libc::SYS_execve, [b, null_list, null_list, 0, 0, 0])),
        ),
        (
            "prlimit64 new limit",
            Required,
            Box::new(move |b| {
                sc(
                    libc::SYS_prlimit64,
                    [0, libc::RLIMIT_NOFILE as u64, b, 0, 0, 0],
                )
            }),
        ),
        (
            "rt_sigaction act",
            Optional,
            Box::new(move |b| {
                sc(
                    libc::SYS_rt_sigaction,
                    [libc::SIGUSR1 as u64, b, 0, 8, 0, 0],
                )
            }),
        ),
        (
            "rt_sigprocmask set",
            Optional,
            Box::new(move |b| {
                sc(
                    libc::SYS_rt_sigprocmask,
                    [libc::SIG_BLOCK as u64, b, 0, 8, 0, 0],
                )
            }),
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
