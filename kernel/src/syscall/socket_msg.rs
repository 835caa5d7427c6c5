//! `sendmsg` and `recvmsg` (Linux's `struct msghdr` with its iovec array): gathered into and
//! scattered from one kernel buffer, so a datagram stays one datagram. Control data
//! (ancillary messages) is not offered: `recvmsg` reports none (`msg_controllen = 0`), and
//! `sendmsg` with control data is `EINVAL` unless it is empty.
//!
//! Owns `struct msghdr`'s layout and the iovec bounds (at most `IOV_MAX` = 1024 entries, at
//! most [`super::socket::BOUNCE`] bytes moved per call). `sendmmsg` and `recvmmsg` repeat
//! these calls over an array of `struct mmsghdr` (`socket_mmsg.rs`).

use alloc::vec::Vec;

use uapi::Errno;

use super::bounce::Bounce;
use super::socket::{recv_msg_into, send_msg_from, BOUNCE};
use super::{uaccess, SysResult};

const IOV_MAX: u64 = 1024;

/// `struct msghdr` (x86-64: 56 bytes).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(super) struct MsgHdr {
    pub name: u64,
    pub namelen: u32,
    _pad0: u32,
    pub iov: u64,
    pub iovlen: u64,
    pub control: u64,
    pub controllen: u64,
    pub flags: i32,
    _pad1: i32,
}

/// The (base, len) pairs of an iovec array, and their total (capped at [`BOUNCE`]).
pub(super) fn iovecs(iov: u64, count: u64) -> Result<(Vec<(u64, usize)>, usize), Errno> {
    if count > IOV_MAX {
        return Err(Errno::EMSGSIZE);
    }
    let mut out = Vec::new();
    out.try_reserve(count as usize).map_err(|_| Errno::ENOMEM)?;
    let mut total = 0usize;
    for i in 0..count {
        let [base, len]: [u64; 2] = uaccess::read(iov + i * 16)?;
        if len > isize::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        let take = (len as usize).min(BOUNCE - total);
        out.push((base, take));
        total += take;
    }
    Ok((out, total))
}

/// The bytes of `h`'s iovecs (at most [`BOUNCE`]), gathered into one kernel buffer.
pub(super) fn gather(h: &MsgHdr) -> Result<Bounce, Errno> {
    let (iov, total) = iovecs(h.iov, h.iovlen)?;
    let mut data = Bounce::new(total)?;
    let mut at = 0;
    for (base, len) in iov {
        uaccess::copy_from_user(&mut data[at..at + len], base)?;
        at += len;
    }
    Ok(data)
}

/// Spread `bytes` over the iovecs `iov` in order (what does not fit is dropped).
pub(super) fn scatter(iov: &[(u64, usize)], bytes: &[u8]) -> Result<(), Errno> {
    let mut at = 0;
    for &(base, len) in iov {
        if at >= bytes.len() {
            break;
        }
        let k = len.min(bytes.len() - at);
        uaccess::copy_to_user(base, &bytes[at..at + k])?;
        at += k;
    }
    Ok(())
}

pub fn sendmsg(fd: i32, msg: u64, flags: i32) -> SysResult {
    sendmsg_counted(fd, msg, flags).map(|(sent, _)| sent as i64)
}

/// `sendmsg`, saying how many bytes went and how many the iovecs held (`sendmmsg` stops at
/// a message that went only in part, as Linux does).
pub(super) fn sendmsg_counted(fd: i32, msg: u64, flags: i32) -> Result<(usize, usize), Errno> {
    let h: MsgHdr = uaccess::read(msg)?;
    if h.controllen != 0 {
        return Err(Errno::EINVAL);
    }
    let data = gather(&h)?;
    let dest = if h.name != 0 && h.namelen != 0 {
        let len = (h.namelen as usize).min(128);
        let mut b = [0u8; 128];
        uaccess::copy_from_user(&mut b[..len], h.name)?;
        Some((b, len))
    } else {
        None
    };
    let sent = send_msg_from(fd, &data, flags, dest.as_ref().map(|(b, l)| &b[..*l]))?;
    Ok((sent as usize, data.len()))
}

pub fn recvmsg(fd: i32, msg: u64, flags: i32) -> SysResult {
    let mut h: MsgHdr = uaccess::read(msg)?;
    let (iov, total) = iovecs(h.iov, h.iovlen)?;
    let mut data = Bounce::new(total)?;
    let (n, from) = recv_msg_into(fd, &mut data, flags)?;
    scatter(&iov, &data[..n])?;
    if h.name != 0 {
        match from {
            Some(sa) => {
                let bytes = net::sys::sockaddr_in_bytes(sa);
                let k = (h.namelen as usize).min(bytes.len());
                uaccess::copy_to_user(h.name, &bytes[..k])?;
                h.namelen = bytes.len() as u32;
            }
            None => h.namelen = 0,
        }
    }
    h.controllen = 0;
    h.flags = 0;
    uaccess::write(msg, h)?;
    Ok(n as i64)
}
