//! `AF_UNIX` socket pairs in the system-call layer: `socketpair`, and every socket call whose
//! descriptor names an end of one (`vfs::unix::UnixEnd`), plus `read`/`write` of such an end
//! (which `fs_io` hands over, so a datagram stays one message).
//!
//! A call that finds nothing to read, or no room, on a blocking end without `MSG_DONTWAIT`
//! sleeps on `files::FILES_KEY` (read before each try, so no wake-up is lost) and tries again;
//! every change wakes that key. A blocking stream send goes on until every byte is queued, as
//! Linux's does; `MSG_WAITALL` makes a stream receive wait for the whole count (or the end).
//!
//! Deliberate differences from Linux, where this kernel has no file-system namespace for
//! sockets: `bind` is `EOPNOTSUPP`, and `connect` or a datagram `sendto` with an address is
//! `ENOENT` (no socket has a path here, so every lookup fails as Linux's would), ancillary data on `sendmsg` is `EINVAL` (no
//! `SCM_RIGHTS`), and one datagram is at most [`BOUNCE`] bytes (`EMSGSIZE` above).

use alloc::sync::Arc;

use vfs::unix::{UnixEnd, UnixType, AF_UNIX, UNIX_BUFFER};
use vfs::{Errno, OpenFile};

use super::bounce::{Bounce, BOUNCE};
use super::fs::current;
use super::fs_io::install_pair;
use super::socket_msg::{gather, iovecs, scatter, MsgHdr};
use super::{uaccess, SysResult};
use super::{
    SYS_ACCEPT, SYS_ACCEPT4, SYS_BIND, SYS_CONNECT, SYS_GETPEERNAME, SYS_GETSOCKNAME,
    SYS_GETSOCKOPT, SYS_LISTEN, SYS_RECVFROM, SYS_RECVMSG, SYS_SENDMSG, SYS_SENDTO, SYS_SETSOCKOPT,
    SYS_SHUTDOWN,
};
use crate::files::FILES_KEY;
use crate::process::Process;
use crate::wait;

pub const SYS_SOCKETPAIR: u64 = 53;

const AF_INET: i32 = 2;
const MSG_PEEK: i32 = 0x2;
const MSG_OOB: i32 = 0x1;
const MSG_TRUNC: i32 = 0x20;
const MSG_DONTWAIT: i32 = 0x40;
const MSG_WAITALL: i32 = 0x100;

const SOL_SOCKET: i32 = 1;
const SO_TYPE: i32 = 3;
const SO_ERROR: i32 = 4;
const SO_SNDBUF: i32 = 7;
const SO_RCVBUF: i32 = 8;
const SO_ACCEPTCONN: i32 = 30;
const SO_PROTOCOL: i32 = 38;
const SO_DOMAIN: i32 = 39;

pub fn call(nr: u64, a: [u64; 6]) -> Option<SysResult> {
    match nr {
        SYS_SOCKETPAIR => Some(socketpair(a[0] as i32, a[1] as i32, a[2] as i32, a[3])),
        SYS_SENDTO | SYS_RECVFROM | SYS_SENDMSG | SYS_RECVMSG | SYS_SHUTDOWN | SYS_BIND
        | SYS_LISTEN | SYS_GETSOCKNAME | SYS_GETPEERNAME | SYS_SETSOCKOPT | SYS_GETSOCKOPT
        | SYS_CONNECT | SYS_ACCEPT | SYS_ACCEPT4 => {
            let p = current().ok()?;
            let file = p.files.lock().get(a[0] as i32).ok()?;
            end_of(&file)?;
            Some(on_end(nr, a, &p, &file))
        }
        _ => None,
    }
}

/// The socket-pair end behind an open file, if it is one.
pub fn end_of(file: &OpenFile) -> Option<&UnixEnd> {
    file.ops().as_any().downcast_ref::<UnixEnd>()
}

fn on_end(nr: u64, a: [u64; 6], p: &Process, file: &Arc<OpenFile>) -> SysResult {
    let Some(end) = end_of(file) else {
        return Err(Errno::ENOTSOCK);
    };
    let ty = end.socket_type();
    match nr {
        SYS_SENDTO => {
            if a[4] != 0 && a[5] != 0 {
                if let Some(e) = address_error(ty, a[4], a[5], false) {
                    return Err(e);
                }
            }
            let len = (a[2] as usize).min(BOUNCE);
            let mut data = Bounce::new(len)?;
            uaccess::copy_from_user(&mut data, a[1])?;
            send(p, file, end, &data, a[3] as i32)
        }
        SYS_RECVFROM => {
            let (data, got) = receive(p, file, end, a[2] as usize, a[3] as i32)?;
            uaccess::copy_to_user(a[1], &data[..got.copied])?;
            if a[4] != 0 {
                no_address(a[5])?;
            }
            Ok(reported_len(got, a[3] as i32))
        }
        SYS_SENDMSG => sendmsg(p, file, end, a[1], a[2] as i32).map(|(sent, _)| sent as i64),
        SYS_RECVMSG => recvmsg(p, file, end, a[1], a[2] as i32),
        SYS_SHUTDOWN => {
            end.shutdown(a[1] as i32)?;
            wait::wake_all(FILES_KEY);
            Ok(0)
        }
        SYS_BIND => Err(Errno::EOPNOTSUPP),
        SYS_LISTEN | SYS_ACCEPT | SYS_ACCEPT4 => Err(if ty == UnixType::Datagram {
            Errno::EOPNOTSUPP
        } else {
            Errno::EINVAL
        }),
        // Every path lookup fails here; a datagram end's AF_UNSPEC "disconnect" is refused
        // with the rest (Linux would drop the peer).
        SYS_CONNECT => Err(address_error(ty, a[1], a[2], true).unwrap_or(Errno::EINVAL)),
        SYS_GETSOCKNAME | SYS_GETPEERNAME => {
            // An unnamed socket's address is its family alone (Linux's `unix_getname`).
            let family = (AF_UNIX as u16).to_ne_bytes();
            copy_out_sized(a[1], a[2], &family)
        }
        SYS_GETSOCKOPT => getsockopt(ty, a[1] as i32, a[2] as i32, a[3], a[4]),
        SYS_SETSOCKOPT => setsockopt(a[1] as i32, a[2] as i32, a[3], a[4] as i32),
        _ => Err(Errno::ENOSYS),
    }
}

/// The answer to a destination address on a pair end (`addr`, `len` from the caller), as
/// Linux gives it: `EINVAL` for an address too short or too long or of another family,
/// `EISCONN` for a stream send (already connected), and otherwise `ENOENT`, because no
/// socket has a path here (`connect` of any end and a datagram send look the path up).
/// `None`: the address is ignored (a seqpacket send, as Linux's `unix_seqpacket_sendmsg`).
fn address_error(ty: UnixType, addr: u64, len: u64, connecting: bool) -> Option<Errno> {
    if !connecting {
        match ty {
            UnixType::Stream => return Some(Errno::EISCONN),
            UnixType::SeqPacket => return None,
            UnixType::Datagram => {}
        }
    }
    // offsetof(struct sockaddr_un, sun_path) < len <= sizeof(struct sockaddr_un)
    if len <= 2 || len > 110 {
        return Some(Errno::EINVAL);
    }
    match uaccess::read::<u16>(addr) {
        Err(e) => Some(e),
        Ok(family) if i32::from(family) != AF_UNIX => Some(Errno::EINVAL),
        Ok(_) => Some(Errno::ENOENT),
    }
}

/// The receive's return value: the whole message's length with `MSG_TRUNC` (datagrams).
fn reported_len(got: vfs::unix::Received, flags: i32) -> i64 {
    if flags & MSG_TRUNC != 0 {
        got.full as i64
    } else {
        got.copied as i64
    }
}

/// `*addrlen = 0`: the peer of a pair has no address (after checking the pointer).
fn no_address(lenp: u64) -> Result<(), Errno> {
    let len: i32 = uaccess::read(lenp)?;
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    uaccess::write(lenp, 0i32)
}

/// Copy `value` out with Linux's truncation: at most `*lenp` bytes, then `*lenp` = its size.
fn copy_out_sized(addr: u64, lenp: u64, value: &[u8]) -> SysResult {
    let len: i32 = uaccess::read(lenp)?;
    let len = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    let n = len.min(value.len());
    uaccess::copy_to_user(addr, &value[..n])?;
    uaccess::write(lenp, value.len() as u32)?;
    Ok(0)
}

/// Try `op` until it stops answering `EAGAIN` (a blocking end without `dontwait`), sleeping
/// on [`FILES_KEY`] in between; every success wakes that key for the peer.
fn retry<R>(
    p: &Process,
    file: &OpenFile,
    dontwait: bool,
    mut op: impl FnMut() -> Result<R, Errno>,
) -> Result<R, Errno> {
    loop {
        let gen = wait::generation(FILES_KEY);
        match op() {
            Err(Errno::EAGAIN) if !file.nonblocking() && !dontwait => {
                if crate::process::signal::interrupted(p) {
                    return Err(Errno::EINTR);
                }
                wait::sleep_on_if_unchanged(FILES_KEY, gen, None);
            }
            r => {
                if r.is_ok() {
                    wait::wake_all(FILES_KEY);
                }
                return r;
            }
        }
    }
}

/// Receive up to `len` bytes (at most [`BOUNCE`]) into a kernel buffer.
fn receive(
    p: &Process,
    file: &OpenFile,
    end: &UnixEnd,
    len: usize,
    flags: i32,
) -> Result<(Bounce, vfs::unix::Received), Errno> {
    if flags & MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let len = len.min(BOUNCE);
    let mut data = Bounce::new(len)?;
    let peek = flags & MSG_PEEK != 0;
    let dontwait = flags & MSG_DONTWAIT != 0;
    let waitall = flags & MSG_WAITALL != 0 && !peek && end.socket_type() == UnixType::Stream;
    let mut got = retry(p, file, dontwait, || end.receive(&mut data, peek))?;
    while waitall && got.copied > 0 && got.copied < len {
        let more = retry(p, file, dontwait, || {
            end.receive(&mut data[got.copied..], false)
        });
        match more {
            Ok(m) if m.copied > 0 => {
                got.copied += m.copied;
                got.full = got.copied;
            }
            // End of stream, a signal or an error after some data: return what came.
            _ => break,
        }
    }
    Ok((data, got))
}

/// Queue `data` for the peer: a stream end on a blocking file queues it all (waiting for
/// room), a non-blocking one what fits; a message end queues it whole.
fn send(p: &Process, file: &OpenFile, end: &UnixEnd, data: &[u8], flags: i32) -> SysResult {
    if flags & MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let dontwait = flags & MSG_DONTWAIT != 0;
    if end.socket_type() != UnixType::Stream {
        return retry(p, file, dontwait, || end.send(data)).map(|n| n as i64);
    }
    let mut done = 0;
    loop {
        match retry(p, file, dontwait, || end.send(&data[done..])) {
            Ok(n) => done += n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
        if done == data.len() || file.nonblocking() || dontwait {
            break;
        }
    }
    Ok(done as i64)
}

/// Whether descriptor `fd` of the calling program names a socket-pair end.
pub fn names_end(fd: i32) -> bool {
    let Ok(p) = current() else { return false };
    let file = p.files.lock().get(fd);
    file.is_ok_and(|f| end_of(&f).is_some())
}

/// `sendmsg` on descriptor `fd` when it names a socket-pair end (`sendmmsg`'s walk): bytes
/// sent and bytes offered. `None`: not such an end.
pub fn sendmsg_fd(fd: i32, msg: u64, flags: i32) -> Option<Result<(usize, usize), Errno>> {
    let p = current().ok()?;
    let file = p.files.lock().get(fd).ok()?;
    let end = end_of(&file)?;
    Some(sendmsg(&p, &file, end, msg, flags))
}

/// `recvmsg` on descriptor `fd` when it names a socket-pair end (`recvmmsg`'s walk).
pub fn recvmsg_fd(fd: i32, msg: u64, flags: i32) -> Option<SysResult> {
    let p = current().ok()?;
    let file = p.files.lock().get(fd).ok()?;
    let end = end_of(&file)?;
    Some(recvmsg(&p, &file, end, msg, flags))
}

/// Bytes sent and bytes the iovecs offered.
fn sendmsg(
    p: &Process,
    file: &OpenFile,
    end: &UnixEnd,
    msg: u64,
    flags: i32,
) -> Result<(usize, usize), Errno> {
    let h: MsgHdr = uaccess::read(msg)?;
    if h.controllen != 0 {
        return Err(Errno::EINVAL);
    }
    if h.name != 0 && h.namelen != 0 {
        if let Some(e) = address_error(end.socket_type(), h.name, u64::from(h.namelen), false) {
            return Err(e);
        }
    }
    let data = gather(&h)?;
    let sent = send(p, file, end, &data, flags)?;
    Ok((sent as usize, data.len()))
}

fn recvmsg(p: &Process, file: &OpenFile, end: &UnixEnd, msg: u64, flags: i32) -> SysResult {
    let mut h: MsgHdr = uaccess::read(msg)?;
    let (iov, total) = iovecs(h.iov, h.iovlen)?;
    let (data, got) = receive(p, file, end, total, flags)?;
    scatter(&iov, &data[..got.copied])?;
    h.namelen = 0;
    h.controllen = 0;
    h.flags = if got.full > got.copied { MSG_TRUNC } else { 0 };
    uaccess::write(msg, h)?;
    Ok(reported_len(got, flags))
}

/// `read` of a socket-pair end (a datagram end gives one message).
pub fn read(p: &Process, file: &OpenFile, end: &UnixEnd, buf: u64, len: usize) -> SysResult {
    let (data, got) = receive(p, file, end, len, 0)?;
    uaccess::copy_to_user(buf, &data[..got.copied])?;
    Ok(got.copied as i64)
}

/// `write` of a socket-pair end (a datagram end sends one message).
pub fn write(p: &Process, file: &OpenFile, end: &UnixEnd, buf: u64, len: usize) -> SysResult {
    if end.socket_type() != UnixType::Stream && len > BOUNCE {
        return Err(Errno::EMSGSIZE);
    }
    let mut data = Bounce::new(len.min(BOUNCE))?;
    uaccess::copy_from_user(&mut data, buf)?;
    send(p, file, end, &data, 0)
}

fn getsockopt(ty: UnixType, level: i32, name: i32, value: u64, lenp: u64) -> SysResult {
    if level != SOL_SOCKET {
        // Linux's `sock_no_getsockopt`: a socket pair has no protocol options.
        return Err(Errno::EOPNOTSUPP);
    }
    let v: i32 = match name {
        SO_TYPE => ty.number(),
        SO_ERROR | SO_ACCEPTCONN | SO_PROTOCOL => 0,
        SO_DOMAIN => AF_UNIX,
        SO_SNDBUF | SO_RCVBUF => UNIX_BUFFER as i32,
        _ => return Err(Errno::ENOPROTOOPT),
    };
    copy_out_sized(value, lenp, &v.to_ne_bytes())
}

fn setsockopt(level: i32, name: i32, value: u64, len: i32) -> SysResult {
    if level != SOL_SOCKET {
        return Err(Errno::EOPNOTSUPP);
    }
    match name {
        // Accepted and read, but the queues keep their fixed size (getsockopt reports it):
        // Linux too treats the value as a hint (it doubles and clamps it).
        SO_SNDBUF | SO_RCVBUF => {
            if len < 4 {
                return Err(Errno::EINVAL);
            }
            let _: i32 = uaccess::read(value)?;
            Ok(0)
        }
        _ => Err(Errno::ENOPROTOOPT),
    }
}

/// `socketpair(domain, type, protocol, sv)`: only `AF_UNIX` makes pairs (`EOPNOTSUPP` for
/// `AF_INET`, as Linux answers; `EAFNOSUPPORT` for other families).
fn socketpair(domain: i32, ty: i32, protocol: i32, sv: u64) -> SysResult {
    match domain {
        AF_UNIX => {}
        AF_INET => return Err(Errno::EOPNOTSUPP),
        _ => return Err(Errno::EAFNOSUPPORT),
    }
    let p = current()?;
    uaccess::check(sv, 8)?;
    let (a, b) = vfs::unix::socketpair(ty, protocol, crate::files::now())?;
    let fds = install_pair(&p, a, b, ty & vfs::unix::SOCK_CLOEXEC != 0)?;
    if let Err(e) = uaccess::write(sv, fds) {
        let _ = super::fs_io::close(fds[0]);
        let _ = super::fs_io::close(fds[1]);
        return Err(e);
    }
    Ok(0)
}
