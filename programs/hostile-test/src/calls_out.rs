//! The pointer-taking calls that write to the bad address they are given: data read,
//! socket addresses and lengths, times, stat buffers, limits, signal sets.

use crate::fixture::{sc, Call, Fixture, Need};

/// Calls that write to the bad address. (`allow_einval`: the address holds a length the
/// kernel reads first; a readable one may hold a negative one, EINVAL as in Linux.)
pub fn writing_calls(f: &Fixture) -> Vec<Call<'_>> {
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
        (
            "read from a pipe",
            Required,
            Box::new(move |b| {
                f.fill_pipe();
                sc(libc::SYS_read, [r, b, 8, 0, 0, 0])
            }),
        ),
        (
            "read from a udp socket",
            Required,
            Box::new(move |b| {
                f.queue_datagram();
                sc(libc::SYS_read, [udp, b, 16, 0, 0, 0])
            }),
        ),
        (
            "readv iov_base",
            Required,
            Box::new(move |b| {
                f.fill_pipe();
                let iov = [b, 8];
                sc(libc::SYS_readv, [r, iov.as_ptr() as u64, 1, 0, 0, 0])
            }),
        ),
        (
            "readv iovec array",
            Required,
            Box::new(move |b| {
                f.fill_pipe();
                sc(libc::SYS_readv, [r, b, 1, 0, 0, 0])
            }),
        ),
        (
            "pread64",
            Required,
            Box::new(move |b| sc(libc::SYS_pread64, [file, b, 8, 0, 0, 0])),
        ),
        (
            "recvfrom buf",
            Required,
            Box::new(move |b| {
                f.queue_datagram();
                sc(libc::SYS_recvfrom, [udp, b, 16, dontwait, 0, 0])
            }),
        ),
        (
            "recvfrom addr",
            Required,
            Box::new(move |b| {
                f.queue_datagram();
                sc(libc::SYS_recvfrom, [udp, ok, 16, dontwait, b, len])
            }),
        ),
        (
            "getsockname addr",
            Required,
            Box::new(move |b| sc(libc::SYS_getsockname, [udp, b, len, 0, 0, 0])),
        ),
        (
            "getsockname len",
            Required,
            Box::new(move |b| sc(libc::SYS_getsockname, [udp, ok, b, 0, 0, 0])),
        ),
        (
            "getsockopt value",
            Required,
            Box::new(move |b| sc(libc::SYS_getsockopt, [udp, sol, so_type, b, len, 0])),
        ),
        (
            "getsockopt len",
            Required,
            Box::new(move |b| sc(libc::SYS_getsockopt, [udp, sol, so_type, ok, b, 0])),
        ),
        (
            "ioctl FIONREAD",
            Required,
            Box::new(move |b| sc(libc::SYS_ioctl, [udp, libc::FIONREAD as u64, b, 0, 0, 0])),
        ),
        (
            "clock_gettime",
            Required,
            Box::new(move |b| sc(libc::SYS_clock_gettime, [mono, b, 0, 0, 0, 0])),
        ),
        (
            "clock_getres",
            Required,
            Box::new(move |b| sc(libc::SYS_clock_getres, [mono, b, 0, 0, 0, 0])),
        ),
        (
            "gettimeofday",
            Required,
            Box::new(move |b| sc(libc::SYS_gettimeofday, [b, 0, 0, 0, 0, 0])),
        ),
        (
            "time",
            Required,
            Box::new(move |b| sc(libc::SYS_time, [b, 0, 0, 0, 0, 0])),
        ),
        (
            "getrandom",
            Required,
            Box::new(move |b| sc(libc::SYS_getrandom, [b, 16, 0, 0, 0, 0])),
        ),
        (
            "uname",
            Required,
            Box::new(move |b| sc(libc::SYS_uname, [b, 0, 0, 0, 0, 0])),
        ),
        (
            "sysinfo",
            Required,
            Box::new(move |b| sc(libc::SYS_sysinfo, [b, 0, 0, 0, 0, 0])),
        ),
        (
            "getcwd",
            Required,
            Box::new(move |b| sc(libc::SYS_getcwd, [b, 256, 0, 0, 0, 0])),
        ),
        (
            "fstat buf",
            Required,
            Box::new(move |b| sc(libc::SYS_fstat, [file, b, 0, 0, 0, 0])),
        ),
        (
            "stat buf",
            Required,
            Box::new(move |b| sc(libc::SYS_stat, [path, b, 0, 0, 0, 0])),
        ),
        (
            "newfstatat buf",
            Required,
            Box::new(move |b| sc(libc::SYS_newfstatat, [cwd, path, b, 0, 0, 0])),
        ),
        (
            "statx buf",
            Required,
            Box::new(move |b| {
                sc(
                    libc::SYS_statx,
                    [cwd, path, 0, libc::STATX_BASIC_STATS as u64, b, 0],
                )
            }),
        ),
        (
            "getdents64",
            Required,
            Box::new(move |b| {
                let _ = sc(libc::SYS_lseek, [dir, 0, libc::SEEK_SET as u64, 0, 0, 0]);
                sc(libc::SYS_getdents64, [dir, b, 4096, 0, 0, 0])
            }),
        ),
        (
            "getrlimit",
            Required,
            Box::new(move |b| {
                sc(
                    libc::SYS_getrlimit,
                    [libc::RLIMIT_NOFILE as u64, b, 0, 0, 0, 0],
                )
            }),
        ),
        (
            "prlimit64 old limit",
            Required,
            Box::new(move |b| {
                sc(
                    libc::SYS_prlimit64,
                    [0, libc::RLIMIT_NOFILE as u64, 0, b, 0, 0],
                )
            }),
        ),
        (
            "pipe2",
            Optional,
            Box::new(move |b| sc(libc::SYS_pipe2, [b, libc::O_CLOEXEC as u64, 0, 0, 0, 0])),
        ),
        (
            "rt_sigaction oldact",
            Optional,
            Box::new(move |b| {
                sc(
                    libc::SYS_rt_sigaction,
                    [libc::SIGUSR1 as u64, 0, b, 8, 0, 0],
                )
            }),
        ),
        (
            "rt_sigprocmask oldset",
            Optional,
            Box::new(move |b| {
                sc(
                    libc::SYS_rt_sigprocmask,
                    [libc::SIG_BLOCK as u64, 0, b, 8, 0, 0],
                )
            }),
        ),
    ]
}
