//! The user-side runtime: what ring-3 programs call instead of the kernel. Compiled into the
//! kernel image but only ever executed in ring 3.
//!
//! Raw `syscall0`..`syscall6` (Linux x86_64 convention), typed wrappers with the C names
//! (returning the raw `isize`: a value, or `-errno`), `print!`-style output to fd 1
//! ([`uprint!`], [`uprintln!`]), `sockaddr_in` helpers, and [`rt::spawn`] for more threads.
//!
//! Rules for code running in ring 3 (a violation faults and ends the program, never the
//! kernel): use only this module, `core` and plain data from `net` (constants, `Errno`); no
//! heap (`alloc` takes an interrupt-masking lock: `cli` faults in ring 3), no `log`, no
//! kernel functions, no panics (the kernel's panic handler would fault too). A program's
//! `static`s need `#[link_section = ".user_data"]`: the rest of the kernel's data is
//! supervisor-only (`mm::paging`), so touching it ends the program with status 139. Those
//! statics are shared by all built-in programs (each has its own stacks, not its own statics).
//! Program arguments arrive copied onto the first thread's stack.

pub mod fmt;
pub mod rt;

use core::arch::asm;

pub use net::Errno;

pub use net::socket::{
    AF_INET, IPPROTO_TCP, IPPROTO_UDP, MSG_DONTWAIT, POLLERR, POLLHUP, POLLIN, POLLOUT, SHUT_RD,
    SHUT_RDWR, SHUT_WR, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET, SO_RCVTIMEO,
    SO_REUSEADDR, SO_SNDTIMEO,
};
pub use net::sockfs::O_NONBLOCK;

pub use crate::syscall::Timespec;
use crate::syscall::*;

/// `syscall` with no argument.
#[inline(always)]
pub fn syscall0(nr: u64) -> isize {
    let ret: isize;
    // SAFETY: the `syscall` instruction enters the kernel, which preserves every register but
    // rax (result), rcx and r11 (clobbered by the instruction itself).
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, lateout("rcx") _, lateout("r11") _,
             options(nostack))
    };
    ret
}

#[inline(always)]
pub fn syscall1(nr: u64, a0: u64) -> isize {
    let ret: isize;
    // SAFETY: as in `syscall0`.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a0,
             lateout("rcx") _, lateout("r11") _, options(nostack))
    };
    ret
}

#[inline(always)]
pub fn syscall2(nr: u64, a0: u64, a1: u64) -> isize {
    let ret: isize;
    // SAFETY: as in `syscall0`.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a0, in("rsi") a1,
             lateout("rcx") _, lateout("r11") _, options(nostack))
    };
    ret
}

#[inline(always)]
pub fn syscall3(nr: u64, a0: u64, a1: u64, a2: u64) -> isize {
    let ret: isize;
    // SAFETY: as in `syscall0`.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a0, in("rsi") a1,
             in("rdx") a2, lateout("rcx") _, lateout("r11") _, options(nostack))
    };
    ret
}

#[inline(always)]
pub fn syscall4(nr: u64, a0: u64, a1: u64, a2: u64, a3: u64) -> isize {
    let ret: isize;
    // SAFETY: as in `syscall0`.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a0, in("rsi") a1,
             in("rdx") a2, in("r10") a3, lateout("rcx") _, lateout("r11") _, options(nostack))
    };
    ret
}

#[inline(always)]
pub fn syscall5(nr: u64, a0: u64, a1: u64, a2: u64, a3: u64, a4: u64) -> isize {
    let ret: isize;
    // SAFETY: as in `syscall0`.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a0, in("rsi") a1,
             in("rdx") a2, in("r10") a3, in("r8") a4, lateout("rcx") _, lateout("r11") _,
             options(nostack))
    };
    ret
}

#[inline(always)]
pub fn syscall6(nr: u64, a0: u64, a1: u64, a2: u64, a3: u64, a4: u64, a5: u64) -> isize {
    let ret: isize;
    // SAFETY: as in `syscall0`.
    unsafe {
        asm!("syscall", inlateout("rax") nr as isize => ret, in("rdi") a0, in("rsi") a1,
             in("rdx") a2, in("r10") a3, in("r8") a4, in("r9") a5, lateout("rcx") _,
             lateout("r11") _, options(nostack))
    };
    ret
}

/// A failed call's errno (the positive number), named when `net::Errno` knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Error(pub i32);

impl Error {
    pub fn errno(self) -> Option<Errno> {
        Errno::from_code(self.0)
    }
    pub fn name(self) -> &'static str {
        self.errno().map_or("E?", Errno::name)
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} ({})", self.name(), self.0)
    }
}

/// `Ok(value)` or `Err(errno)` from a raw return value.
pub fn check(ret: isize) -> Result<usize, Error> {
    if ret < 0 {
        Err(Error((-ret) as i32))
    } else {
        Ok(ret as usize)
    }
}

/// The raw return value a call gives for `e` (`-errno`), for comparisons in programs.
pub fn neg(e: Errno) -> isize {
    -(e.code() as isize)
}

/// `struct sockaddr_in` (16 bytes, fields in network byte order).
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct SockaddrIn {
    pub sin_family: u16,
    pub sin_port: u16,
    pub sin_addr: u32,
    pub sin_zero: [u8; 8],
}

impl SockaddrIn {
    /// An AF_INET address from host-order parts.
    pub fn new(ip: [u8; 4], port: u16) -> Self {
        SockaddrIn {
            sin_family: AF_INET as u16,
            sin_port: htons(port),
            sin_addr: u32::from_ne_bytes(ip),
            sin_zero: [0; 8],
        }
    }
    pub fn port(&self) -> u16 {
        ntohs(self.sin_port)
    }
    pub fn ip(&self) -> [u8; 4] {
        self.sin_addr.to_ne_bytes()
    }
}

/// Size of `struct sockaddr_in`, the `addrlen` to pass.
pub const SOCKADDR_IN_LEN: u32 = 16;

pub fn htons(v: u16) -> u16 {
    v.to_be()
}
pub fn ntohs(v: u16) -> u16 {
    u16::from_be(v)
}
pub fn htonl(v: u32) -> u32 {
    v.to_be()
}
pub fn ntohl(v: u32) -> u32 {
    u32::from_be(v)
}

/// `struct pollfd`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct PollFd {
    pub fd: i32,
    pub events: i16,
    pub revents: i16,
}

/// Write all of `data`, looping over short writes; on failure the failing call's return value
/// (`-errno`, or 0 when a write made no progress).
pub fn write_all(fd: i32, mut data: &[u8]) -> Result<(), isize> {
    while !data.is_empty() {
        let n = write(fd, data);
        if n <= 0 {
            return Err(n);
        }
        data = &data[n as usize..];
    }
    Ok(())
}

/// Fill all of `buf`, looping over short reads; `Err(0)` when the stream ends first,
/// `Err(-errno)` when a read fails.
pub fn read_exact(fd: i32, mut buf: &mut [u8]) -> Result<(), isize> {
    while !buf.is_empty() {
        let n = read(fd, buf);
        if n <= 0 {
            return Err(n);
        }
        buf = &mut buf[n as usize..];
    }
    Ok(())
}

pub fn read(fd: i32, buf: &mut [u8]) -> isize {
    syscall3(
        SYS_READ,
        fd as u64,
        buf.as_mut_ptr() as u64,
        buf.len() as u64,
    )
}
pub fn write(fd: i32, buf: &[u8]) -> isize {
    syscall3(SYS_WRITE, fd as u64, buf.as_ptr() as u64, buf.len() as u64)
}
pub fn close(fd: i32) -> isize {
    syscall1(SYS_CLOSE, fd as u64)
}
pub fn poll(fds: &mut [PollFd], timeout_ms: i32) -> isize {
    syscall3(
        SYS_POLL,
        fds.as_mut_ptr() as u64,
        fds.len() as u64,
        timeout_ms as i64 as u64,
    )
}

/// `getpid()`: the program's id (never fails).
pub fn getpid() -> isize {
    syscall0(SYS_GETPID)
}

pub fn sched_yield() -> isize {
    syscall0(SYS_SCHED_YIELD)
}
pub fn nanosleep(req: &Timespec, rem: Option<&mut Timespec>) -> isize {
    let rem = rem.map_or(0, |r| r as *mut Timespec as u64);
    syscall2(SYS_NANOSLEEP, req as *const Timespec as u64, rem)
}
/// Sleep for `ms` milliseconds.
pub fn sleep_ms(ms: u64) -> isize {
    let ts = Timespec {
        tv_sec: (ms / 1000) as i64,
        tv_nsec: ((ms % 1000) * 1_000_000) as i64,
    };
    nanosleep(&ts, None)
}
pub fn clock_gettime(clock: i32, tp: &mut Timespec) -> isize {
    syscall2(SYS_CLOCK_GETTIME, clock as u64, tp as *mut Timespec as u64)
}
/// CLOCK_MONOTONIC in nanoseconds (0 if the call failed).
pub fn monotonic_ns() -> u64 {
    let mut ts = Timespec::default();
    if clock_gettime(crate::syscall::CLOCK_MONOTONIC, &mut ts) != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
pub fn getrandom(buf: &mut [u8], flags: u32) -> isize {
    syscall3(
        SYS_GETRANDOM,
        buf.as_mut_ptr() as u64,
        buf.len() as u64,
        flags as u64,
    )
}
/// End this thread (the program ends with its last thread).
pub fn exit(status: i32) -> ! {
    syscall1(SYS_EXIT, status as u64);
    loop {
        core::hint::spin_loop();
    }
}
/// End the whole program.
pub fn exit_group(status: i32) -> ! {
    syscall1(SYS_EXIT_GROUP, status as u64);
    loop {
        core::hint::spin_loop();
    }
}

pub fn socket(domain: i32, ty: i32, protocol: i32) -> isize {
    syscall3(SYS_SOCKET, domain as u64, ty as u64, protocol as u64)
}
pub fn bind(fd: i32, addr: &SockaddrIn) -> isize {
    syscall3(
        SYS_BIND,
        fd as u64,
        addr as *const _ as u64,
        SOCKADDR_IN_LEN as u64,
    )
}
pub fn listen(fd: i32, backlog: i32) -> isize {
    syscall2(SYS_LISTEN, fd as u64, backlog as u64)
}
pub fn connect(fd: i32, addr: &SockaddrIn) -> isize {
    syscall3(
        SYS_CONNECT,
        fd as u64,
        addr as *const _ as u64,
        SOCKADDR_IN_LEN as u64,
    )
}
/// `accept`; the peer's address goes to `peer` if given.
pub fn accept(fd: i32, peer: Option<&mut SockaddrIn>) -> isize {
    accept4(fd, peer, 0)
}
pub fn accept4(fd: i32, peer: Option<&mut SockaddrIn>, flags: i32) -> isize {
    let mut len = SOCKADDR_IN_LEN;
    let (addr, lenp) = match peer {
        Some(p) => (p as *mut _ as u64, &mut len as *mut u32 as u64),
        None => (0, 0),
    };
    syscall4(SYS_ACCEPT4, fd as u64, addr, lenp, flags as u64)
}
pub fn sendto(fd: i32, buf: &[u8], flags: i32, dest: Option<&SockaddrIn>) -> isize {
    let (addr, len) = dest.map_or((0, 0), |d| (d as *const _ as u64, SOCKADDR_IN_LEN as u64));
    syscall6(
        SYS_SENDTO,
        fd as u64,
        buf.as_ptr() as u64,
        buf.len() as u64,
        flags as u64,
        addr,
        len,
    )
}
pub fn send(fd: i32, buf: &[u8], flags: i32) -> isize {
    sendto(fd, buf, flags, None)
}
pub fn recvfrom(fd: i32, buf: &mut [u8], flags: i32, from: Option<&mut SockaddrIn>) -> isize {
    let mut len = SOCKADDR_IN_LEN;
    let (addr, lenp) = match from {
        Some(p) => (p as *mut _ as u64, &mut len as *mut u32 as u64),
        None => (0, 0),
    };
    syscall6(
        SYS_RECVFROM,
        fd as u64,
        buf.as_mut_ptr() as u64,
        buf.len() as u64,
        flags as u64,
        addr,
        lenp,
    )
}
pub fn recv(fd: i32, buf: &mut [u8], flags: i32) -> isize {
    recvfrom(fd, buf, flags, None)
}
pub fn shutdown(fd: i32, how: i32) -> isize {
    syscall2(SYS_SHUTDOWN, fd as u64, how as u64)
}
pub fn getsockname(fd: i32, addr: &mut SockaddrIn) -> isize {
    let mut len = SOCKADDR_IN_LEN;
    syscall3(
        SYS_GETSOCKNAME,
        fd as u64,
        addr as *mut _ as u64,
        &mut len as *mut u32 as u64,
    )
}
pub fn getpeername(fd: i32, addr: &mut SockaddrIn) -> isize {
    let mut len = SOCKADDR_IN_LEN;
    syscall3(
        SYS_GETPEERNAME,
        fd as u64,
        addr as *mut _ as u64,
        &mut len as *mut u32 as u64,
    )
}
pub fn setsockopt(fd: i32, level: i32, name: i32, value: &[u8]) -> isize {
    syscall5(
        SYS_SETSOCKOPT,
        fd as u64,
        level as u64,
        name as u64,
        value.as_ptr() as u64,
        value.len() as u64,
    )
}
/// `setsockopt` with an `int` value.
pub fn setsockopt_int(fd: i32, level: i32, name: i32, value: i32) -> isize {
    setsockopt(fd, level, name, &value.to_ne_bytes())
}
/// `getsockopt`: the option is written to `out`; returns its length or `-errno`.
pub fn getsockopt(fd: i32, level: i32, name: i32, out: &mut [u8]) -> isize {
    let mut len = out.len() as u32;
    let r = syscall5(
        SYS_GETSOCKOPT,
        fd as u64,
        level as u64,
        name as u64,
        out.as_mut_ptr() as u64,
        &mut len as *mut u32 as u64,
    );
    if r < 0 {
        r
    } else {
        len as isize
    }
}
pub fn fcntl(fd: i32, cmd: i32, arg: u64) -> isize {
    syscall3(SYS_FCNTL, fd as u64, cmd as u64, arg)
}
pub const F_GETFL: i32 = 3;
pub const F_SETFL: i32 = 4;

pub use vfs::flags::{AT_FDCWD, O_CREAT, O_DIRECTORY, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC};

/// `openat(dirfd, path, flags, mode)`; `path` must end with a NUL byte.
pub fn openat(dirfd: i32, path: &[u8], flags: u32, mode: u32) -> isize {
    syscall4(
        crate::syscall::fs::SYS_OPENAT,
        dirfd as i64 as u64,
        path.as_ptr() as u64,
        u64::from(flags),
        u64::from(mode),
    )
}
/// `mkdir(path, mode)`; `path` NUL-terminated.
pub fn mkdir(path: &[u8], mode: u32) -> isize {
    syscall2(
        crate::syscall::fs::SYS_MKDIR,
        path.as_ptr() as u64,
        u64::from(mode),
    )
}
/// `unlink(path)`; `path` NUL-terminated.
pub fn unlink(path: &[u8]) -> isize {
    syscall1(crate::syscall::fs::SYS_UNLINK, path.as_ptr() as u64)
}
/// `rename(old, new)`; both NUL-terminated.
pub fn rename(old: &[u8], new: &[u8]) -> isize {
    syscall2(
        crate::syscall::fs::SYS_RENAME,
        old.as_ptr() as u64,
        new.as_ptr() as u64,
    )
}
/// `lseek(fd, offset, whence)`.
pub fn lseek(fd: i32, offset: i64, whence: u32) -> isize {
    syscall3(
        crate::syscall::fs::SYS_LSEEK,
        fd as u64,
        offset as u64,
        u64::from(whence),
    )
}
/// `getdents64(fd, buf)`: bytes of `linux_dirent64` records.
pub fn getdents64(fd: i32, buf: &mut [u8]) -> isize {
    syscall3(
        crate::syscall::fs::SYS_GETDENTS64,
        fd as u64,
        buf.as_mut_ptr() as u64,
        buf.len() as u64,
    )
}
/// `pipe2(fds, flags)`: read end in `fds[0]`, write end in `fds[1]`.
pub fn pipe2(fds: &mut [i32; 2], flags: u32) -> isize {
    syscall2(
        crate::syscall::fs::SYS_PIPE2,
        fds.as_mut_ptr() as u64,
        u64::from(flags),
    )
}
/// `chdir(path)`; `path` NUL-terminated.
pub fn chdir(path: &[u8]) -> isize {
    syscall1(crate::syscall::fs::SYS_CHDIR, path.as_ptr() as u64)
}
/// `getcwd(buf)`: the length including the NUL, or `-errno`.
pub fn getcwd(buf: &mut [u8]) -> isize {
    syscall2(
        crate::syscall::fs::SYS_GETCWD,
        buf.as_mut_ptr() as u64,
        buf.len() as u64,
    )
}
/// `dup2(oldfd, newfd)`.
pub fn dup2(oldfd: i32, newfd: i32) -> isize {
    syscall2(crate::syscall::fs::SYS_DUP2, oldfd as u64, newfd as u64)
}

/// Start built-in program `name` as a separate program; its pid or `-errno`.
pub fn program_spawn(name: &str) -> isize {
    syscall2(SYS_PROGRAM_SPAWN, name.as_ptr() as u64, name.len() as u64)
}
/// Resolve `name` to an IPv4 address (`out`, network order octets): 0 or `-errno` (`ENOENT`:
/// no such name; `ENETDOWN`: no network). The kernel's private system call 1003.
pub fn gethostbyname(name: &str, out: &mut [u8; 4]) -> isize {
    syscall3(
        SYS_GETHOSTBYNAME,
        name.as_ptr() as u64,
        name.len() as u64,
        out.as_mut_ptr() as u64,
    )
}

/// Wait for program `pid` to end; its exit status or `-errno`.
pub fn program_wait(pid: isize) -> isize {
    syscall1(SYS_PROGRAM_WAIT, pid as u64)
}
