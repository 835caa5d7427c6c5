//! Raw calls std does not offer, as the test programs need them: the return value checked
//! against an exact errno, so every call here returns `Result<_, Errno>` straight from the
//! system call (the libc's wrappers only for plain calls; `syscall` where the libc would
//! check or translate arguments first). The only module of the workspace with `unsafe`.

use std::os::fd::RawFd;

use crate::Errno;

/// The errno a failed call left (`EIO` stands in for a number `uapi` does not know).
fn last_errno() -> Errno {
    let code = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    Errno::from_code(code).unwrap_or(Errno::EIO)
}

/// `Ok(value)` for a non-negative libc return, else the errno.
fn cvt(ret: isize) -> Result<usize, Errno> {
    if ret < 0 {
        Err(last_errno())
    } else {
        Ok(ret as usize)
    }
}

/// The name of `e`, for messages (`EAGAIN`).
pub fn name(r: Result<usize, Errno>) -> String {
    match r {
        Ok(v) => format!("success ({v})"),
        Err(e) => e.name().to_string(),
    }
}

/// `Err(message)` unless `r` is exactly `Err(want)`.
pub fn expect_errno(r: Result<usize, Errno>, want: Errno, what: &str) -> Result<(), String> {
    if r == Err(want) {
        Ok(())
    } else {
        Err(format!("{what}: got {}, want {}", name(r), want.name()))
    }
}

/// `syscall(nr, args...)`: the raw system call, arguments passed as they are.
pub fn syscall(nr: i64, a: [u64; 6]) -> Result<usize, Errno> {
    // SAFETY: the arguments are plain numbers; a pointer among them is either valid for the
    // call or deliberately invalid (the kernel checks it and answers EFAULT, never touching
    // memory of ours it was not given).
    let r = unsafe { libc::syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]) };
    cvt(r as isize)
}

/// `socket(domain, ty, 0)`.
pub fn socket(domain: i32, ty: i32) -> Result<RawFd, Errno> {
    // SAFETY: no pointers.
    cvt(unsafe { libc::socket(domain, ty, 0) } as isize).map(|fd| fd as RawFd)
}

pub fn close(fd: RawFd) -> Result<usize, Errno> {
    // SAFETY: closing a descriptor this program owns (or a bad number: EBADF).
    cvt(unsafe { libc::close(fd) } as isize)
}

pub fn read(fd: RawFd, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: `buf` is valid for `buf.len()` bytes of writing.
    cvt(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) })
}

pub fn write(fd: RawFd, buf: &[u8]) -> Result<usize, Errno> {
    // SAFETY: `buf` is valid for `buf.len()` bytes of reading.
    cvt(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })
}

/// Writes all of `data`, looping over short writes.
pub fn write_all(fd: RawFd, mut data: &[u8]) -> Result<(), Errno> {
    while !data.is_empty() {
        match write(fd, data)? {
            0 => return Err(Errno::EIO),
            n => data = &data[n..],
        }
    }
    Ok(())
}

pub fn send(fd: RawFd, buf: &[u8], flags: i32) -> Result<usize, Errno> {
    // SAFETY: `buf` is valid for `buf.len()` bytes of reading.
    cvt(unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), flags) })
}

pub fn recv(fd: RawFd, buf: &mut [u8], flags: i32) -> Result<usize, Errno> {
    // SAFETY: `buf` is valid for `buf.len()` bytes of writing.
    cvt(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) })
}

/// `struct sockaddr_in` for `ip:port` (host order parts).
pub fn sockaddr_in(ip: [u8; 4], port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes(ip),
        },
        sin_zero: [0; 8],
    }
}

/// The port of a `sockaddr_in`, host order.
pub fn port_of(a: &libc::sockaddr_in) -> u16 {
    u16::from_be(a.sin_port)
}

const SOCKADDR_IN_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_in>() as _;

fn zero_sockaddr() -> libc::sockaddr_in {
    sockaddr_in([0; 4], 0)
}

pub fn bind(fd: RawFd, addr: &libc::sockaddr_in) -> Result<usize, Errno> {
    // SAFETY: `addr` is a whole `sockaddr_in`, its length passed.
    cvt(unsafe {
        libc::bind(
            fd,
            (addr as *const libc::sockaddr_in).cast(),
            SOCKADDR_IN_LEN,
        )
    } as isize)
}

pub fn connect(fd: RawFd, addr: &libc::sockaddr_in) -> Result<usize, Errno> {
    // SAFETY: `addr` is a whole `sockaddr_in`, its length passed.
    cvt(unsafe {
        libc::connect(
            fd,
            (addr as *const libc::sockaddr_in).cast(),
            SOCKADDR_IN_LEN,
        )
    } as isize)
}

pub fn listen(fd: RawFd, backlog: i32) -> Result<usize, Errno> {
    // SAFETY: no pointers.
    cvt(unsafe { libc::listen(fd, backlog) } as isize)
}

pub fn shutdown(fd: RawFd, how: i32) -> Result<usize, Errno> {
    // SAFETY: no pointers.
    cvt(unsafe { libc::shutdown(fd, how) } as isize)
}

/// `accept4`, with the peer's address.
pub fn accept4(fd: RawFd, flags: i32) -> Result<(RawFd, libc::sockaddr_in), Errno> {
    let mut peer = zero_sockaddr();
    let mut len = SOCKADDR_IN_LEN;
    // SAFETY: `peer` has room for `len` bytes, `len` is a valid `socklen_t`.
    let r = unsafe {
        libc::accept4(
            fd,
            (&mut peer as *mut libc::sockaddr_in).cast(),
            &mut len,
            flags,
        )
    };
    cvt(r as isize).map(|fd| (fd as RawFd, peer))
}

pub fn sendto(fd: RawFd, buf: &[u8], flags: i32, to: &libc::sockaddr_in) -> Result<usize, Errno> {
    // SAFETY: `buf` readable for its length, `to` a whole `sockaddr_in`.
    cvt(unsafe {
        libc::sendto(
            fd,
            buf.as_ptr().cast(),
            buf.len(),
            flags,
            (to as *const libc::sockaddr_in).cast(),
            SOCKADDR_IN_LEN,
        )
    })
}

fn sock_name(
    fd: RawFd,
    f: unsafe extern "C" fn(i32, *mut libc::sockaddr, *mut libc::socklen_t) -> i32,
) -> Result<libc::sockaddr_in, Errno> {
    let mut a = zero_sockaddr();
    let mut len = SOCKADDR_IN_LEN;
    // SAFETY: `a` has room for `len` bytes (`f` is getsockname or getpeername).
    let r = unsafe { f(fd, (&mut a as *mut libc::sockaddr_in).cast(), &mut len) };
    cvt(r as isize).map(|_| a)
}

pub fn getsockname(fd: RawFd) -> Result<libc::sockaddr_in, Errno> {
    sock_name(fd, libc::getsockname)
}

/// `setsockopt` with the raw option bytes.
pub fn setsockopt(fd: RawFd, level: i32, name: i32, value: &[u8]) -> Result<usize, Errno> {
    // SAFETY: `value` readable for its length.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            value.as_ptr().cast(),
            value.len() as libc::socklen_t,
        )
    } as isize)
}

pub fn setsockopt_int(fd: RawFd, level: i32, name: i32, value: i32) -> Result<usize, Errno> {
    setsockopt(fd, level, name, &value.to_ne_bytes())
}

/// `getsockopt` into `out`; the length the kernel wrote.
pub fn getsockopt(fd: RawFd, level: i32, name: i32, out: &mut [u8]) -> Result<usize, Errno> {
    let mut len = out.len() as libc::socklen_t;
    // SAFETY: `out` writable for `len` bytes.
    let r = unsafe { libc::getsockopt(fd, level, name, out.as_mut_ptr().cast(), &mut len) };
    cvt(r as isize).map(|_| len as usize)
}

/// An `int` socket option.
pub fn getsockopt_int(fd: RawFd, level: i32, name: i32) -> Result<i32, Errno> {
    let mut v = [0u8; 4];
    match getsockopt(fd, level, name, &mut v)? {
        4 => Ok(i32::from_ne_bytes(v)),
        _ => Err(Errno::EINVAL),
    }
}

pub fn fcntl(fd: RawFd, cmd: i32, arg: i64) -> Result<usize, Errno> {
    // SAFETY: the commands used take an integer argument.
    cvt(unsafe { libc::fcntl(fd, cmd, arg) } as isize)
}

/// `poll(fds, timeout_ms)` over `(fd, events)` pairs; the count and each `revents`.
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> Result<usize, Errno> {
    // SAFETY: `fds` is a valid array of `fds.len()` entries.
    cvt(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) } as isize)
}

/// One `struct pollfd` asking for `events`.
pub fn pollfd(fd: RawFd, events: i16) -> libc::pollfd {
    libc::pollfd {
        fd,
        events,
        revents: 0,
    }
}

pub fn sched_yield() {
    // SAFETY: no arguments.
    unsafe { libc::sched_yield() };
}

/// `RLIMIT_NOFILE`'s soft limit.
pub fn nofile_limit() -> Result<u64, Errno> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid `struct rlimit` to fill.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } as isize)?;
    Ok(r.rlim_cur)
}

/// Lowers `RLIMIT_NOFILE`'s soft limit to `limit`.
pub fn set_nofile_limit(limit: u64) -> Result<usize, Errno> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid `struct rlimit`, read then written.
    cvt(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } as isize)?;
    r.rlim_cur = limit.min(r.rlim_max);
    // SAFETY: as above.
    cvt(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } as isize)
}

/// `uname()`'s sysname, release and version, or `None` when the call fails.
pub fn uname() -> Option<[String; 3]> {
    // SAFETY: `utsname` is plain bytes; all zeroes is a valid value.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `u` is a whole `struct utsname` to fill.
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    let text = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Some([text(&u.sysname), text(&u.release), text(&u.version)])
}
