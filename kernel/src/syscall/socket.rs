//! Descriptor system calls: the console on fds 0-2, sockets (fd >= 3) through
//! `netstack::with(|net| ...)` and `net::sys::NetSys`.
//!
//! `NetSys` never blocks; this module does. A call that gets `EAGAIN` (or `EINPROGRESS` from a
//! stream connect) on a blocking file, without `MSG_DONTWAIT`, sleeps on the socket's wait key
//! until woken or until its `SO_RCVTIMEO`/`SO_SNDTIMEO` passes (then `EAGAIN`, or
//! `EINPROGRESS` for connect, as Linux), and retries. The key's generation is read before each
//! attempt, so a wakeup between the attempt and the sleep is never lost. A program that is
//! being ended gets `EINTR` instead of sleeping again. `close` with SO_LINGER on and a timeout
//! waits for the connection's FIN to be acknowledged, up to that timeout.
//!
//! Owns the console fds' semantics and the sockaddr copy-in/copy-out (`addrlen` honoured: at
//! most 16 bytes copied out, 16 written back). Never holds the descriptor table across a sleep.

use alloc::sync::Arc;
use alloc::vec::Vec;

use net::socket::{MSG_DONTWAIT, POLLERR, POLLHUP, POLLIN, POLLNVAL, POLLOUT};
use net::sockfs::{FdTable, O_RDWR};
use net::sys::{sockaddr_in_bytes, Direction, NetSys, WaitInfo, SOCKADDR_IN_LEN};
use net::time::{Duration, Instant};
use net::Errno;

use super::{uaccess, SysResult};
use crate::process::Process;
use crate::{console, netstack, sched, time, wait};

/// Largest address a caller may pass (`sizeof(struct sockaddr_storage)`), as Linux checks.
const SOCKADDR_MAX: usize = 128;
/// Largest option value copied in or out (every option we know is an int, a timeval or a
/// linger struct; Linux's own limit is the option's size).
const SOCKOPT_MAX: usize = 64;
/// Bound on one `poll` call's descriptors (the descriptor table's own limit).
const POLL_MAX_FDS: u64 = net::sockfs::DEFAULT_FD_LIMIT as u64;

const F_GETFD: i32 = 1;
const F_SETFD: i32 = 2;
const F_GETFL: i32 = 3;
const F_SETFL: i32 = 4;

fn current() -> Result<Arc<Process>, Errno> {
    sched::current_process().ok_or(Errno::EPERM)
}

fn is_console(fd: i32) -> bool {
    (0..3).contains(&fd)
}

/// Run `f` on the network with the program's descriptor table.
fn net<R>(
    p: &Process,
    f: impl FnOnce(&mut NetSys, &mut FdTable) -> Result<R, Errno>,
) -> Result<R, Errno> {
    let mut fds = p.fds.lock();
    netstack::with(|n| f(n, &mut fds))?
}

/// The socket behind `fd` must exist: `ENOTSOCK` for the console, `EBADF` for a closed fd.
fn sock_fd(p: &Process, fd: i32) -> Result<(), Errno> {
    if is_console(fd) {
        return Err(Errno::ENOTSOCK);
    }
    p.fds.lock().get(fd).map(|_| ())
}

/// Retry `op` until it stops returning `EAGAIN`, sleeping on the socket's wait key in between
/// (see the module doc).
fn blocking<R>(
    p: &Process,
    fd: i32,
    dir: Direction,
    dontwait: bool,
    mut op: impl FnMut(&mut NetSys, &mut FdTable, Instant) -> Result<R, Errno>,
) -> Result<R, Errno> {
    retry_blocking(
        || net(p, |n, fds| n.wait_info(fds, fd, dir)),
        dontwait,
        || p.is_ending(),
        Errno::EAGAIN,
        || net(p, |n, fds| op(n, fds, time::now())),
    )
}

/// The blocking discipline on its own (the kernel-test drives it with a fake socket): read the
/// wait info and the key's generation, try `op`; on `EAGAIN` from a blocking file (and no
/// `dontwait`) sleep until the key is woken or the file's timeout passes (then `timeout_err`),
/// and try again. `ending` says the caller's program is being ended (`EINTR`).
pub fn retry_blocking<R>(
    mut info: impl FnMut() -> Result<WaitInfo, Errno>,
    dontwait: bool,
    ending: impl Fn() -> bool,
    timeout_err: Errno,
    mut op: impl FnMut() -> Result<R, Errno>,
) -> Result<R, Errno> {
    let mut deadline: Option<Option<Instant>> = None;
    loop {
        let info = info()?;
        let gen = wait::generation(info.wait_key);
        match op() {
            Err(Errno::EAGAIN) if !info.nonblocking && !dontwait => {}
            r => return r,
        }
        let dl = *deadline.get_or_insert_with(|| info.timeout.map(|t| time::now() + t));
        if ending() {
            return Err(Errno::EINTR);
        }
        if wait::sleep_on_if_unchanged(info.wait_key, gen, dl) == wait::WakeReason::TimedOut {
            return Err(timeout_err);
        }
    }
}

/// Copy a caller's sockaddr in (`EINVAL` for a negative or oversized length).
fn sockaddr_in(addr: u64, len: i32) -> Result<([u8; SOCKADDR_MAX], usize), Errno> {
    let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    if len > SOCKADDR_MAX {
        return Err(Errno::EINVAL);
    }
    let mut buf = [0u8; SOCKADDR_MAX];
    buf[..len].copy_from_slice(uaccess::slice(addr, len)?);
    Ok((buf, len))
}

/// Check an output sockaddr (`addr`, `*addrlen`) before the operation; returns the caller's
/// length (None when `addr` is null: no address wanted).
fn sockaddr_out_check(addr: u64, lenp: u64) -> Result<Option<usize>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let len: i32 = uaccess::read(lenp)?;
    let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    uaccess::check(addr, len.min(SOCKADDR_IN_LEN))?;
    Ok(Some(len))
}

/// Copy `sa` out: min(len, 16) bytes, and 16 into `*addrlen`.
fn sockaddr_out(
    addr: u64,
    lenp: u64,
    len: usize,
    sa: core::net::SocketAddrV4,
) -> Result<(), Errno> {
    let bytes = sockaddr_in_bytes(sa);
    let n = len.min(SOCKADDR_IN_LEN);
    uaccess::slice_mut(addr, n)?.copy_from_slice(&bytes[..n]);
    uaccess::write(lenp, SOCKADDR_IN_LEN as u32)
}

/// Linux's rw_verify_area: a count that is negative as `ssize_t` is EINVAL.
fn verify_count(len: usize) -> Result<(), Errno> {
    if (len as isize) < 0 {
        Err(Errno::EINVAL)
    } else {
        Ok(())
    }
}

pub fn read(fd: i32, buf: u64, len: usize) -> SysResult {
    verify_count(len)?;
    let p = current()?;
    if is_console(fd) {
        uaccess::check(buf, len)?;
        return Ok(0); // the console has no input: end of file
    }
    let out = uaccess::slice_mut(buf, len)?;
    sock_fd(&p, fd)?;
    blocking(&p, fd, Direction::Read, false, |n, fds, now| {
        n.recvfrom(now, fds, fd, out, 0).map(|(k, _)| k as i64)
    })
}

/// Most bytes one `write` to the console takes (the rest is a short write): bounds the time
/// a program keeps the kernel busy with the serial port.
pub const CONSOLE_WRITE_MAX: usize = 4096;

pub fn write(fd: i32, buf: u64, len: usize) -> SysResult {
    verify_count(len)?;
    let p = current()?;
    match fd {
        1 | 2 => {
            // Bounded work per call: a short write, as a slow terminal gives.
            let data = uaccess::slice(buf, len.min(CONSOLE_WRITE_MAX))?;
            console::write_raw(data);
            Ok(data.len() as i64)
        }
        0 => Err(Errno::EBADF),
        _ => {
            let data = uaccess::slice(buf, len)?;
            sock_fd(&p, fd)?;
            blocking(&p, fd, Direction::Write, false, |n, fds, now| {
                n.sendto(now, fds, fd, data, 0, None).map(|k| k as i64)
            })
        }
    }
}

pub fn close(fd: i32) -> SysResult {
    let p = current()?;
    if is_console(fd) {
        return Ok(0);
    }
    p.fds.lock().get(fd)?;
    let linger = net(&p, |n, fds| n.close_lingering(time::now(), fds, fd))?;
    // SO_LINGER with a timeout: wait until the FIN is acknowledged or the time is up (then
    // the connection finishes on its own); close returns 0 either way, as on Linux. An
    // orphan wakes nobody, so look again every LINGER_POLL.
    if let Some((h, deadline)) = linger {
        while time::now() < deadline && !p.is_ending() {
            if !netstack::with(|n| n.lingering(h)).unwrap_or(false) {
                break;
            }
            time::sleep(LINGER_POLL.min(deadline.saturating_since(time::now())));
        }
    }
    Ok(0)
}

/// How often a lingering close looks at its connection.
const LINGER_POLL: Duration = Duration::from_millis(5);

pub fn socket(domain: i32, ty: i32, protocol: i32) -> SysResult {
    let p = current()?;
    net(&p, |n, fds| n.socket(fds, domain, ty, protocol)).map(i64::from)
}

pub fn bind(fd: i32, addr: u64, len: i32) -> SysResult {
    let p = current()?;
    sock_fd(&p, fd)?;
    let (buf, len) = sockaddr_in(addr, len)?;
    net(&p, |n, fds| n.bind(fds, fd, &buf[..len])).map(|_| 0)
}

pub fn listen(fd: i32, backlog: i32) -> SysResult {
    let p = current()?;
    sock_fd(&p, fd)?;
    net(&p, |n, fds| n.listen(fds, fd, backlog)).map(|_| 0)
}

pub fn connect(fd: i32, addr: u64, len: i32) -> SysResult {
    let p = current()?;
    sock_fd(&p, fd)?;
    let (buf, len) = sockaddr_in(addr, len)?;
    let first = net(&p, |n, fds| n.connect(time::now(), fds, fd, &buf[..len]));
    if first != Err(Errno::EINPROGRESS) {
        return first.map(|_| 0);
    }
    let info = net(&p, |n, fds| n.wait_info(fds, fd, Direction::Write))?;
    if info.nonblocking {
        return Err(Errno::EINPROGRESS);
    }
    // Still in progress: wait for the outcome (`None` reads as EAGAIN to the retry loop).
    let r = retry_blocking(
        || net(&p, |n, fds| n.wait_info(fds, fd, Direction::Write)),
        false,
        || p.is_ending(),
        Errno::EINPROGRESS,
        || match net(&p, |n, fds| Ok(n.connect_result(fds, fd)))? {
            Some(r) => r.map(|_| 0),
            None => Err(Errno::EAGAIN),
        },
    );
    // A file made non-blocking meanwhile: the connect is still in progress.
    if r == Err(Errno::EAGAIN) {
        return Err(Errno::EINPROGRESS);
    }
    r
}

pub fn accept4(fd: i32, addr: u64, lenp: u64, flags: i32) -> SysResult {
    let p = current()?;
    sock_fd(&p, fd)?;
    let want = sockaddr_out_check(addr, lenp)?;
    let (newfd, peer) = blocking(&p, fd, Direction::Read, false, |n, fds, now| {
        n.accept(now, fds, fd, flags)
    })?;
    if let Some(len) = want {
        sockaddr_out(addr, lenp, len, peer)?;
    }
    Ok(i64::from(newfd))
}

pub fn sendto(fd: i32, buf: u64, len: usize, flags: i32, addr: u64, addrlen: i32) -> SysResult {
    let p = current()?;
    sock_fd(&p, fd)?;
    let data = uaccess::slice(buf, len)?;
    let dest = if addr != 0 {
        Some(sockaddr_in(addr, addrlen)?)
    } else {
        None
    };
    let dest = dest.as_ref().map(|(b, l)| &b[..*l]);
    blocking(
        &p,
        fd,
        Direction::Write,
        flags & MSG_DONTWAIT != 0,
        |n, fds, now| n.sendto(now, fds, fd, data, flags, dest).map(|k| k as i64),
    )
}

pub fn recvfrom(fd: i32, buf: u64, len: usize, flags: i32, addr: u64, lenp: u64) -> SysResult {
    let p = current()?;
    sock_fd(&p, fd)?;
    let out = uaccess::slice_mut(buf, len)?;
    let want = sockaddr_out_check(addr, lenp)?;
    let (k, from) = blocking(
        &p,
        fd,
        Direction::Read,
        flags & MSG_DONTWAIT != 0,
        |n, fds, now| n.recvfrom(now, fds, fd, out, flags),
    )?;
    if let (Some(len), Some(sa)) = (want, from) {
        sockaddr_out(addr, lenp, len, sa)?;
    }
    Ok(k as i64)
}

pub fn shutdown(fd: i32, how: i32) -> SysResult {
    let p = current()?;
    sock_fd(&p, fd)?;
    net(&p, |n, fds| n.shutdown(time::now(), fds, fd, how)).map(|_| 0)
}

pub fn getname(fd: i32, addr: u64, lenp: u64, peer: bool) -> SysResult {
    let p = current()?;
    sock_fd(&p, fd)?;
    let len: i32 = uaccess::read(lenp)?;
    let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    uaccess::check(addr, len.min(SOCKADDR_IN_LEN))?;
    let sa = net(&p, |n, fds| {
        if peer {
            n.getpeername(fds, fd)
        } else {
            n.getsockname(fds, fd)
        }
    })?;
    sockaddr_out(addr, lenp, len, sa).map(|_| 0)
}

pub fn setsockopt(fd: i32, level: i32, name: i32, val: u64, len: i32) -> SysResult {
    let p = current()?;
    sock_fd(&p, fd)?;
    let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    let value = uaccess::slice(val, len.min(SOCKOPT_MAX))?;
    net(&p, |n, fds| n.setsockopt(fds, fd, level, name, value)).map(|_| 0)
}

pub fn getsockopt(fd: i32, level: i32, name: i32, val: u64, lenp: u64) -> SysResult {
    let p = current()?;
    sock_fd(&p, fd)?;
    let len: i32 = uaccess::read(lenp)?;
    let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    let out = uaccess::slice_mut(val, len.min(SOCKOPT_MAX))?;
    let k = net(&p, |n, fds| n.getsockopt(fds, fd, level, name, out))?;
    uaccess::write(lenp, k as u32)?;
    Ok(0)
}

pub fn fcntl(fd: i32, cmd: i32, arg: u64) -> SysResult {
    let p = current()?;
    if is_console(fd) {
        return match cmd {
            F_GETFL => Ok(i64::from(O_RDWR)),
            F_SETFL | F_GETFD | F_SETFD => Ok(0),
            _ => Err(Errno::EINVAL),
        };
    }
    p.fds.lock().get(fd)?;
    match cmd {
        // No exec: close-on-exec is accepted and reads back as clear.
        F_GETFD | F_SETFD => Ok(0),
        _ => net(&p, |n, fds| n.fcntl(fds, fd, cmd, arg)),
    }
}

/// `struct pollfd`.
#[repr(C)]
#[derive(Clone, Copy)]
struct PollFd {
    fd: i32,
    events: i16,
    revents: i16,
}

pub fn poll(fds_ptr: u64, nfds: u64, timeout_ms: i32) -> SysResult {
    let p = current()?;
    if nfds > POLL_MAX_FDS {
        return Err(Errno::EINVAL);
    }
    let n = nfds as usize;
    let bytes = uaccess::slice_mut(fds_ptr, n * core::mem::size_of::<PollFd>())?;
    let deadline =
        (timeout_ms >= 0).then(|| time::now() + Duration::from_millis(timeout_ms as u64));
    let mut keys: Vec<(u64, u64)> = Vec::with_capacity(n);
    loop {
        keys.clear();
        let mut ready = 0;
        for i in 0..n {
            let at = i * core::mem::size_of::<PollFd>();
            // SAFETY: `bytes` is the validated user array of `n` pollfds; unaligned access is
            // used because the program chose the address.
            let mut e: PollFd = unsafe { core::ptr::read_unaligned(bytes[at..].as_ptr().cast()) };
            let events = e.events as u16;
            let always = POLLERR | POLLHUP | POLLNVAL;
            let mask = if e.fd < 0 {
                0
            } else if e.fd == 0 {
                POLLIN
            } else if is_console(e.fd) {
                POLLOUT
            } else if p.fds.lock().get(e.fd).is_err() {
                POLLNVAL
            } else {
                match net(&p, |n, fds| {
                    let info = n.wait_info(fds, e.fd, Direction::Read)?;
                    let gen = wait::generation(info.wait_key);
                    Ok((info.wait_key, gen, n.poll_fd(fds, e.fd).0))
                }) {
                    Ok((key, gen, mask)) => {
                        keys.push((key, gen));
                        mask
                    }
                    Err(_) => POLLERR,
                }
            };
            e.revents = (mask & (events | always)) as i16;
            if e.revents != 0 {
                ready += 1;
            }
            // SAFETY: as above.
            unsafe { core::ptr::write_unaligned(bytes[at..].as_mut_ptr().cast(), e) };
        }
        if ready > 0 || timeout_ms == 0 {
            return Ok(ready);
        }
        if deadline.is_some_and(|d| time::now() >= d) {
            return Ok(0);
        }
        if p.is_ending() {
            return Err(Errno::EINTR);
        }
        wait::sleep_on_any_if_unchanged(&keys, deadline);
    }
}
