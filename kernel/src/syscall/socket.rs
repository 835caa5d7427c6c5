//! Socket system calls: the descriptor's open file must be a socket (`files::socket`,
//! `ENOTSOCK` otherwise, `EBADF` for a closed descriptor), reached through
//! `netstack::with(|net| ...)` and `net::sys::NetSys`'s file-based calls. `read`, `write`,
//! `close`, `poll` and `fcntl` of any descriptor live in `fs_io` and `fs_poll`, which come
//! back here for sockets ([`read_socket`], [`write_socket`], [`linger_wait`]).
//!
//! `NetSys` never blocks; this module does. A call that gets `EAGAIN` (or `EINPROGRESS` from a
//! stream connect) on a blocking file, without `MSG_DONTWAIT`, sleeps on the socket's wait key
//! until woken or until its `SO_RCVTIMEO`/`SO_SNDTIMEO` passes (then `EAGAIN`, or
//! `EINPROGRESS` for connect, as Linux), and retries. The key's generation is read before each
//! attempt, so a wakeup between the attempt and the sleep is never lost. A program that is
//! being ended gets `EINTR` instead of sleeping again. `close` with SO_LINGER on and a timeout
//! waits for the connection's FIN to be acknowledged, up to that timeout.
//!
//! Owns the sockaddr copy-in/copy-out (`addrlen` honoured: at most 16 bytes copied out, 16
//! written back). Never holds the descriptor table across a sleep or a network call.

use alloc::sync::Arc;

use net::socket::{MSG_DONTWAIT, SOCK_CLOEXEC, SOCK_NONBLOCK};
use net::sockfs::FileId;
use net::sys::{sockaddr_in_bytes, Direction, NetSys, WaitInfo, SOCKADDR_IN_LEN};
use net::time::{Duration, Instant};
use net::Errno;
use vfs::OpenFile;

use super::{uaccess, SysResult};
use crate::files::socket::{adopt, socket_id};
use crate::process::Process;
use crate::{netstack, sched, time, wait};

/// Largest address a caller may pass (`sizeof(struct sockaddr_storage)`), as Linux checks.
const SOCKADDR_MAX: usize = 128;
/// Largest option value copied in (every option we set is an int, a timeval or a linger
/// struct; Linux's own limit is the option's size).
const SOCKOPT_MAX: usize = 64;
/// Largest option value copied out: the biggest we answer is TCP_INFO's full `struct
/// tcp_info` (iperf3 reads its retransmission count near the end). A longer buffer gets the
/// option's own length back, as on Linux.
const GETSOCKOPT_MAX: usize = net::tcp::info::TCP_INFO_LEN;

fn current() -> Result<Arc<Process>, Errno> {
    sched::current_process().ok_or(Errno::EPERM)
}

/// Run `f` on the network (`ENETDOWN` before it is up).
fn net<R>(f: impl FnOnce(&mut NetSys) -> Result<R, Errno>) -> Result<R, Errno> {
    netstack::with(f)?
}

/// The socket behind `fd`: its open file (kept for `O_NONBLOCK`) and sockfs file.
fn sock(p: &Process, fd: i32) -> Result<(Arc<OpenFile>, FileId), Errno> {
    let file = p.files.lock().get(fd)?;
    let id = socket_id(&file).ok_or(Errno::ENOTSOCK)?;
    Ok((file, id))
}

/// Retry `op` until it stops returning `EAGAIN`, sleeping on the socket's wait key in between
/// (see the module doc).
fn blocking<R>(
    p: &Process,
    file: &OpenFile,
    id: FileId,
    dir: Direction,
    dontwait: bool,
    mut op: impl FnMut(&mut NetSys, Instant) -> Result<R, Errno>,
) -> Result<R, Errno> {
    retry_blocking(
        || net(|n| n.wait_info_file(id, dir, file.nonblocking())),
        dontwait,
        || crate::process::signal::interrupted(p),
        Errno::EAGAIN,
        || net(|n| op(n, time::now())),
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
    uaccess::copy_from_user(&mut buf[..len], addr)?;
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
    uaccess::copy_to_user(addr, &bytes[..n])?;
    uaccess::write(lenp, SOCKADDR_IN_LEN as u32)
}

use super::bounce::Bounce;
pub use super::bounce::BOUNCE;

/// Receive into the user buffer `buf` (at most [`BOUNCE`] bytes per call).
fn recv_to_user(
    p: &Process,
    file: &OpenFile,
    id: FileId,
    buf: u64,
    len: usize,
    flags: i32,
) -> Result<(usize, Option<core::net::SocketAddrV4>), Errno> {
    let len = len.min(BOUNCE);
    // A stream socket copies straight into the caller's buffer; any other receives into a
    // kernel buffer (the stream attempt already checked the user range, so a bad buffer
    // never consumes a datagram).
    match recv_stream_to_user(p, file, id, buf, len, flags) {
        Err(Errno::EOPNOTSUPP) => {}
        r => return r.map(|n| (n, None)),
    }
    let mut k = Bounce::new(len)?;
    let (n, from) = blocking(
        p,
        file,
        id,
        Direction::Read,
        flags & MSG_DONTWAIT != 0,
        |net, now| net.recvfrom_file(now, id, &mut k, flags),
    )?;
    uaccess::copy_to_user(buf, &k[..n.min(len)])?;
    Ok((n, from))
}

/// A byte-stream receive straight into the user buffer `[buf, buf + len)`; `EOPNOTSUPP` for
/// a socket without one (the caller then receives through a kernel buffer).
fn recv_stream_to_user(
    p: &Process,
    file: &OpenFile,
    id: FileId,
    buf: u64,
    len: usize,
    flags: i32,
) -> Result<usize, Errno> {
    let mut out = uaccess::UserOut::new(buf, len)?;
    let mut recv = || {
        blocking(
            p,
            file,
            id,
            Direction::Read,
            flags & MSG_DONTWAIT != 0,
            |net, now| net.recv_stream_file(now, id, &mut out, flags),
        )
    };
    match recv() {
        // A page of the buffer went away while the call slept (another thread unmapped or
        // discarded it; nothing was consumed): check again, which commits a page mapped anew,
        // and try once more, as Linux's copy would fault the page in.
        Err(Errno::EFAULT) => {
            uaccess::check(buf, len)?;
            recv()
        }
        r => r,
    }
}

/// Send the user bytes `[buf, buf + len)`, a [`BOUNCE`]-sized piece at a time: the first
/// piece may block; later ones are sent only as far as they go without blocking (the count
/// so far is returned, as a short write).
fn send_from_user(
    p: &Process,
    file: &OpenFile,
    id: FileId,
    buf: u64,
    len: usize,
    flags: i32,
    dest: Option<&[u8]>,
) -> SysResult {
    let mut k = Bounce::new(len)?;
    let mut total = 0usize;
    loop {
        let m = (len - total).min(BOUNCE);
        let at = buf.checked_add(total as u64).ok_or(Errno::EFAULT)?;
        if let Err(e) = uaccess::copy_from_user(&mut k[..m], at) {
            return if total > 0 { Ok(total as i64) } else { Err(e) };
        }
        let dontwait = flags & MSG_DONTWAIT != 0 || total > 0;
        let r = blocking(p, file, id, Direction::Write, dontwait, |net, now| {
            net.sendto_file(now, id, &k[..m], flags, dest)
        });
        match r {
            Ok(sent) => {
                total += sent;
                if sent < m || total >= len {
                    return Ok(total as i64);
                }
            }
            Err(_) if total > 0 => return Ok(total as i64),
            Err(e) => return Err(e),
        }
    }
}

/// `recvmsg`'s receive: into a kernel buffer, with the sender's address.
pub fn recv_msg_into(
    fd: i32,
    buf: &mut [u8],
    flags: i32,
) -> Result<(usize, Option<core::net::SocketAddrV4>), Errno> {
    let p = current()?;
    let (file, id) = sock(&p, fd)?;
    blocking(
        &p,
        &file,
        id,
        Direction::Read,
        flags & MSG_DONTWAIT != 0,
        |net, now| net.recvfrom_file(now, id, buf, flags),
    )
}

/// `sendmsg`'s send: one kernel buffer, to `dest` if given.
pub fn send_msg_from(fd: i32, data: &[u8], flags: i32, dest: Option<&[u8]>) -> SysResult {
    let p = current()?;
    let (file, id) = sock(&p, fd)?;
    blocking(
        &p,
        &file,
        id,
        Direction::Write,
        flags & MSG_DONTWAIT != 0,
        |net, now| {
            net.sendto_file(now, id, data, flags, dest)
                .map(|k| k as i64)
        },
    )
}

/// `read` of a socket.
pub fn read_socket(p: &Process, file: &OpenFile, id: FileId, buf: u64, len: usize) -> SysResult {
    recv_to_user(p, file, id, buf, len, 0).map(|(n, _)| n as i64)
}

/// `write` of a socket.
pub fn write_socket(p: &Process, file: &OpenFile, id: FileId, buf: u64, len: usize) -> SysResult {
    send_from_user(p, file, id, buf, len, 0, None)
}

/// `readv` of a socket: one receive into a kernel buffer of at most `len` bytes (a datagram
/// is never split between receives), then scattered by the caller.
pub fn recv_into(p: &Process, file: &OpenFile, id: FileId, buf: &mut [u8]) -> SysResult {
    blocking(p, file, id, Direction::Read, false, |n, now| {
        n.recvfrom_file(now, id, buf, 0).map(|(k, _)| k as i64)
    })
}

/// `writev` of a socket: one send of the gathered bytes.
pub fn send_from(p: &Process, file: &OpenFile, id: FileId, data: &[u8]) -> SysResult {
    blocking(p, file, id, Direction::Write, false, |n, now| {
        n.sendto_file(now, id, data, 0, None).map(|k| k as i64)
    })
}

/// SO_LINGER with a timeout: after the last close, wait until the FIN is acknowledged or the
/// time is up (then the connection finishes on its own); close returns 0 either way, as on
/// Linux. An orphan wakes nobody, so look again every [`LINGER_POLL`].
pub fn linger_wait(p: &Process, h: net::tcp::Handle, deadline: Instant) {
    while time::now() < deadline && !p.is_ending() {
        if !netstack::with(|n| n.lingering(h)).unwrap_or(false) {
            break;
        }
        time::sleep(LINGER_POLL.min(deadline.saturating_since(time::now())));
    }
}

/// How often a lingering close looks at its connection.
const LINGER_POLL: Duration = Duration::from_millis(5);

/// Put a new socket file in the caller's table (`EMFILE` releases it again).
fn install(p: &Process, id: FileId, flags: i32) -> SysResult {
    let file = adopt(id, flags & SOCK_NONBLOCK != 0)?;
    let fd = p.files.lock().install(file, flags & SOCK_CLOEXEC != 0)?;
    Ok(i64::from(fd))
}

pub fn socket(domain: i32, ty: i32, protocol: i32) -> SysResult {
    let p = current()?;
    let id = net(|n| n.socket_file(domain, ty, protocol))?;
    install(&p, id, ty)
}

pub fn bind(fd: i32, addr: u64, len: i32) -> SysResult {
    let p = current()?;
    let (_, id) = sock(&p, fd)?;
    let (buf, len) = sockaddr_in(addr, len)?;
    net(|n| n.bind_file(id, &buf[..len])).map(|_| 0)
}

pub fn listen(fd: i32, backlog: i32) -> SysResult {
    let p = current()?;
    let (_, id) = sock(&p, fd)?;
    net(|n| n.listen_file(id, backlog)).map(|_| 0)
}

pub fn connect(fd: i32, addr: u64, len: i32) -> SysResult {
    let p = current()?;
    let (file, id) = sock(&p, fd)?;
    let (buf, len) = sockaddr_in(addr, len)?;
    let first = net(|n| n.connect_file(time::now(), id, &buf[..len]));
    if first != Err(Errno::EINPROGRESS) {
        return first.map(|_| 0);
    }
    if file.nonblocking() {
        return Err(Errno::EINPROGRESS);
    }
    // Still in progress: wait for the outcome (`None` reads as EAGAIN to the retry loop).
    let r = retry_blocking(
        || net(|n| n.wait_info_file(id, Direction::Write, file.nonblocking())),
        false,
        || crate::process::signal::interrupted(&p),
        Errno::EINPROGRESS,
        || match net(|n| Ok(n.connect_result_file(id)))? {
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
    let (file, id) = sock(&p, fd)?;
    let want = sockaddr_out_check(addr, lenp)?;
    let (child, peer) = blocking(&p, &file, id, Direction::Read, false, |n, now| {
        n.accept_file(now, id, flags)
    })?;
    let newfd = install(&p, child, flags)?;
    if let Some(len) = want {
        sockaddr_out(addr, lenp, len, peer)?;
    }
    Ok(newfd)
}

pub fn sendto(fd: i32, buf: u64, len: usize, flags: i32, addr: u64, addrlen: i32) -> SysResult {
    let p = current()?;
    let (file, id) = sock(&p, fd)?;
    let dest = if addr != 0 {
        Some(sockaddr_in(addr, addrlen)?)
    } else {
        None
    };
    let dest = dest.as_ref().map(|(b, l)| &b[..*l]);
    send_from_user(&p, &file, id, buf, len, flags, dest)
}

pub fn recvfrom(fd: i32, buf: u64, len: usize, flags: i32, addr: u64, lenp: u64) -> SysResult {
    let p = current()?;
    let (file, id) = sock(&p, fd)?;
    let want = sockaddr_out_check(addr, lenp)?;
    let (k, from) = recv_to_user(&p, &file, id, buf, len, flags)?;
    if let (Some(len), Some(sa)) = (want, from) {
        sockaddr_out(addr, lenp, len, sa)?;
    }
    Ok(k as i64)
}

pub fn shutdown(fd: i32, how: i32) -> SysResult {
    let p = current()?;
    let (_, id) = sock(&p, fd)?;
    net(|n| n.shutdown_file(time::now(), id, how)).map(|_| 0)
}

pub fn getname(fd: i32, addr: u64, lenp: u64, peer: bool) -> SysResult {
    let p = current()?;
    let (_, id) = sock(&p, fd)?;
    let len: i32 = uaccess::read(lenp)?;
    let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    uaccess::check(addr, len.min(SOCKADDR_IN_LEN))?;
    let sa = net(|n| {
        if peer {
            n.getpeername_file(id)
        } else {
            n.getsockname_file(id)
        }
    })?;
    sockaddr_out(addr, lenp, len, sa).map(|_| 0)
}

pub fn setsockopt(fd: i32, level: i32, name: i32, val: u64, len: i32) -> SysResult {
    let p = current()?;
    let (_, id) = sock(&p, fd)?;
    let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    let mut value = [0u8; SOCKOPT_MAX];
    let value = &mut value[..len.min(SOCKOPT_MAX)];
    uaccess::copy_from_user(value, val)?;
    net(|n| n.setsockopt_file(id, level, name, value)).map(|_| 0)
}

pub fn getsockopt(fd: i32, level: i32, name: i32, val: u64, lenp: u64) -> SysResult {
    let p = current()?;
    let (_, id) = sock(&p, fd)?;
    let len: i32 = uaccess::read(lenp)?;
    let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    let mut buf = [0u8; GETSOCKOPT_MAX];
    let out = &mut buf[..len.min(GETSOCKOPT_MAX)];
    uaccess::check(val, out.len())?;
    let k = net(|n| n.getsockopt_file(id, level, name, out))?;
    uaccess::copy_to_user(val, &out[..k.min(out.len())])?;
    uaccess::write(lenp, k as u32)?;
    Ok(0)
}

/// Readiness of a socket for `poll`, with its wait key and the key's generation read before
/// the readiness (so a change in between is never missed).
pub fn poll_socket(id: FileId) -> Result<(u16, u64, u64), Errno> {
    net(|n| {
        let info = n.wait_info_file(id, Direction::Read, true)?;
        let gen = wait::generation(info.wait_key);
        Ok((n.poll_file(id).0, info.wait_key, gen))
    })
}
