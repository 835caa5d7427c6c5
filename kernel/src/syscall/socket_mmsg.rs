//! `sendmmsg` and `recvmmsg`: `sendmsg` / `recvmsg` over an array of `struct mmsghdr` (a
//! `struct msghdr` and the `unsigned int msg_len` the call fills in, 64 bytes on x86-64),
//! as Linux's `__sys_sendmmsg` / `do_recvmmsg`.
//!
//! Owns the array walk and Linux's rules for it: `vlen` is capped at `UIO_MAXIOV` (1024); the
//! result is the number of messages moved; an error after at least one message ends the walk
//! and the count is returned (Linux keeps the error as the socket's pending error for the
//! next call; rinet simply drops it, which the man page allows a program to see as "the
//! next call fails again"); `sendmmsg` stops after a message that went only in part;
//! `recvmmsg`'s `MSG_WAITFORONE` makes every receive after the first non-blocking, and its
//! timeout is checked after each datagram, as Linux documents (BUGS: a receive that blocks
//! is not cut short by it); the time left is written back, as Linux does.
//! Each message's bytes pass through `sendmsg`/`recvmsg`'s one bounded kernel buffer in turn.

use net::socket::MSG_DONTWAIT;
use net::time::{Duration, Instant};
use uapi::Errno;

use super::socket_msg::{recvmsg, sendmsg_counted};
use super::unix;
use super::{uaccess, SysResult, Timespec};
use crate::time;

/// Most messages one call moves (Linux's `UIO_MAXIOV`); a larger `vlen` is cut to it.
const UIO_MAXIOV: u32 = 1024;
/// `sizeof(struct mmsghdr)` on x86-64: the 56-byte `msghdr`, `msg_len`, 4 bytes of padding.
const MMSGHDR_LEN: u64 = 64;
/// Offset of `msg_len` in `struct mmsghdr`.
const MSG_LEN_AT: u64 = 56;
/// `MSG_WAITFORONE`: block for the first message only.
const MSG_WAITFORONE: i32 = 0x10000;

/// The address of entry `i` of the caller's array (`EFAULT` when it would wrap).
fn entry(base: u64, i: u32) -> Result<u64, Errno> {
    base.checked_add(u64::from(i) * MMSGHDR_LEN)
        .ok_or(Errno::EFAULT)
}

/// What a walk over the array ends with: the count when at least one message moved, else
/// the error (or 0 for an empty array).
fn outcome(done: u32, err: Option<Errno>) -> SysResult {
    match err {
        Some(e) if done == 0 => Err(e),
        _ => Ok(i64::from(done)),
    }
}

/// One `sendmsg` of the walk: a socket-pair end's (`pair`, looked up once per call) or the
/// network's.
fn send_one(fd: i32, pair: bool, at: u64, flags: i32) -> Result<(usize, usize), Errno> {
    if pair {
        unix::sendmsg_fd(fd, at, flags).unwrap_or(Err(Errno::EBADF))
    } else {
        sendmsg_counted(fd, at, flags)
    }
}

/// One `recvmsg` of the walk (see [`send_one`]).
fn receive_one(fd: i32, pair: bool, at: u64, flags: i32) -> SysResult {
    if pair {
        unix::recvmsg_fd(fd, at, flags).unwrap_or(Err(Errno::EBADF))
    } else {
        recvmsg(fd, at, flags)
    }
}

pub fn sendmmsg(fd: i32, vec: u64, vlen: u32, flags: i32) -> SysResult {
    let pair = unix::names_end(fd);
    let vlen = vlen.min(UIO_MAXIOV);
    let mut done = 0;
    let mut err = None;
    while done < vlen {
        let step = entry(vec, done).and_then(|at| {
            let (sent, total) = send_one(fd, pair, at, flags)?;
            uaccess::write(at + MSG_LEN_AT, sent as u32)?;
            Ok((sent, total))
        });
        match step {
            Ok((sent, total)) => {
                done += 1;
                if sent < total {
                    break;
                }
            }
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    outcome(done, err)
}

/// The caller's timeout: its end, or `EINVAL` / `EFAULT`. NULL: none.
fn deadline(tsp: u64) -> Result<Option<Instant>, Errno> {
    if tsp == 0 {
        return Ok(None);
    }
    let ts: Timespec = uaccess::read(tsp)?;
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    let d = Duration::from_secs(ts.tv_sec as u64) + Duration::from_nanos(ts.tv_nsec as u64);
    Ok(Some(time::now().saturating_add(d)))
}

pub fn recvmmsg(fd: i32, vec: u64, vlen: u32, flags: i32, tsp: u64) -> SysResult {
    let pair = unix::names_end(fd);
    let end = deadline(tsp)?;
    let vlen = vlen.min(UIO_MAXIOV);
    let wait_for_one = flags & MSG_WAITFORONE != 0;
    let mut flags = flags & !MSG_WAITFORONE;
    let mut done = 0;
    let mut err = None;
    let mut left = Duration::ZERO;
    while done < vlen {
        let step = entry(vec, done).and_then(|at| {
            let n = receive_one(fd, pair, at, flags)?;
            uaccess::write(at + MSG_LEN_AT, n as u32)
        });
        if let Err(e) = step {
            err = Some(e);
            break;
        }
        done += 1;
        if wait_for_one {
            flags |= MSG_DONTWAIT;
        }
        if let Some(end) = end {
            left = end.saturating_since(time::now());
            if left.is_zero() {
                break;
            }
        }
    }
    if end.is_some() && done > 0 {
        let ts = Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        uaccess::write(tsp, ts)?;
    }
    outcome(done, err)
}
