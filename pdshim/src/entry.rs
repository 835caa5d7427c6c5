//! The `extern "C"` functions whose addresses `packetdrill_interface_init` puts in the
//! interface: one per packetdrill call, each converting pointers (see `cptr.rs`) and calling
//! [`Shim`]. Unsupported calls set `errno = ENOSYS` and return -1.

use std::ffi::{c_int, c_longlong, c_uint, c_ulong, c_void};

use net::Errno;

use crate::cptr::{gather, iov_len, put_addr, run, scatter, slice, slice_mut};
use crate::shim::{self, Shim};
use crate::{os, IoVec, MsgHdr, PollFd, TimeVal, Ud};

pub(crate) unsafe extern "C" fn pd_free(ud: Ud) {
    if !ud.is_null() {
        // SAFETY: `ud` came from Box::into_raw in init and packetdrill frees it once, after
        // its syscall thread has been joined. The backing fds of sockets left open were
        // already closed by packetdrill itself and may have been reused: they are not
        // touched.
        drop(unsafe { Box::from_raw(ud as *mut Shim) });
    }
}

pub(crate) unsafe extern "C" fn pd_socket(ud: Ud, domain: c_int, ty: c_int, proto: c_int) -> c_int {
    run(ud, -1, |s| s.socket(domain, ty, proto))
}

pub(crate) unsafe extern "C" fn pd_bind(ud: Ud, fd: c_int, addr: *const u8, len: u32) -> c_int {
    run(ud, -1, |s| {
        // SAFETY: packetdrill passes a sockaddr of `len` bytes.
        let a = unsafe { slice(addr, len as usize)? };
        s.bind(fd, a).map(|_| 0)
    })
}

pub(crate) unsafe extern "C" fn pd_listen(ud: Ud, fd: c_int, backlog: c_int) -> c_int {
    run(ud, -1, |s| s.listen(fd, backlog).map(|_| 0))
}

pub(crate) unsafe extern "C" fn pd_accept(
    ud: Ud,
    fd: c_int,
    addr: *mut u8,
    len: *mut u32,
) -> c_int {
    run(ud, -1, |s| {
        let (nfd, peer) = s.accept(fd)?;
        // SAFETY: `addr` holds `*len` bytes (packetdrill passes 128) when non-null.
        unsafe { put_addr(&peer, addr, len) };
        Ok(nfd)
    })
}

pub(crate) unsafe extern "C" fn pd_connect(ud: Ud, fd: c_int, addr: *const u8, len: u32) -> c_int {
    run(ud, -1, |s| {
        // SAFETY: packetdrill passes a sockaddr of `len` bytes.
        let a = unsafe { slice(addr, len as usize)? };
        s.connect(fd, a).map(|_| 0)
    })
}

pub(crate) unsafe extern "C" fn pd_recvfrom(
    ud: Ud,
    fd: c_int,
    buf: *mut u8,
    n: usize,
    flags: c_int,
    src: *mut u8,
    srclen: *mut u32,
) -> isize {
    run(ud, -1, |s| {
        // SAFETY: `buf` is writable for `n` bytes (the caller's buffer).
        let b = unsafe { slice_mut(buf, n)? };
        let (got, from) = s.recv(fd, b, flags)?;
        if let Some(a) = from {
            // SAFETY: `src` holds `*srclen` bytes when non-null.
            unsafe { put_addr(&a, src, srclen) };
        }
        Ok(got as isize)
    })
}

pub(crate) unsafe extern "C" fn pd_recv(
    ud: Ud,
    fd: c_int,
    buf: *mut u8,
    n: usize,
    flags: c_int,
) -> isize {
    // SAFETY: forwarded with the same buffer contract.
    unsafe {
        pd_recvfrom(
            ud,
            fd,
            buf,
            n,
            flags,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
}

pub(crate) unsafe extern "C" fn pd_read(ud: Ud, fd: c_int, buf: *mut u8, n: usize) -> isize {
    // SAFETY: forwarded with the same buffer contract.
    unsafe {
        pd_recvfrom(
            ud,
            fd,
            buf,
            n,
            0,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
}

/// Read into iovecs with `flags`; `name`/`namelen` receive the sender when non-null.
///
/// # Safety
/// iovecs as [`scatter`]; `name` writable for `*namelen` bytes when non-null.
pub(crate) unsafe fn recv_iov(
    s: &Shim,
    fd: c_int,
    iov: *const IoVec,
    cnt: c_int,
    flags: c_int,
    name: *mut u8,
    namelen: *mut u32,
) -> Result<isize, Errno> {
    // SAFETY: per this function's contract.
    let cap = unsafe { iov_len(iov, cnt)? };
    let mut tmp = vec![0u8; cap];
    let (got, from) = s.recv(fd, &mut tmp, flags)?;
    // SAFETY: per this function's contract.
    unsafe { scatter(iov, cnt, &tmp[..got]) };
    if let Some(a) = from {
        // SAFETY: per this function's contract.
        unsafe { put_addr(&a, name, namelen) };
    }
    Ok(got as isize)
}

pub(crate) unsafe extern "C" fn pd_readv(
    ud: Ud,
    fd: c_int,
    iov: *const IoVec,
    cnt: c_int,
) -> isize {
    run(ud, -1, |s| {
        // SAFETY: packetdrill passes `cnt` valid iovecs.
        unsafe {
            recv_iov(
                s,
                fd,
                iov,
                cnt,
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        }
    })
}

pub(crate) unsafe extern "C" fn pd_recvmsg(
    ud: Ud,
    fd: c_int,
    msg: *mut MsgHdr,
    flags: c_int,
) -> isize {
    run(ud, -1, |s| {
        if msg.is_null() {
            return Err(Errno::EFAULT);
        }
        // SAFETY: non-null msghdr from packetdrill, valid for the call.
        let m = unsafe { &mut *msg };
        let iovlen = c_int::try_from(m.iovlen).map_err(|_| Errno::EMSGSIZE)?;
        let name = m.name as *mut u8;
        let namelen: *mut u32 = &mut m.namelen;
        m.flags = 0;
        let room = m.controllen;
        m.controllen = 0;
        // SAFETY: the msghdr's iovecs and name buffer are the caller's, valid for the call.
        let n = unsafe { recv_iov(s, fd, m.iov, iovlen, flags, name, namelen) }?;
        if let Some(inq) = s.inq_hint(fd)? {
            if m.control.is_null() || room < CMSG_INT_SPACE {
                m.flags |= MSG_CTRUNC;
            } else {
                // struct cmsghdr { size_t len; int level; int type; } then the int.
                let mut c = [0u8; CMSG_INT_SPACE];
                c[..8].copy_from_slice(&(CMSG_INT_LEN as u64).to_ne_bytes());
                c[8..12].copy_from_slice(&net::socket::SOL_TCP.to_ne_bytes());
                c[12..16].copy_from_slice(&net::socket::TCP_CM_INQ.to_ne_bytes());
                c[16..20].copy_from_slice(&inq.to_ne_bytes());
                // SAFETY: the caller's control buffer holds `room` ≥ CMSG_INT_SPACE bytes.
                let out = unsafe { slice_mut(m.control as *mut u8, CMSG_INT_SPACE)? };
                out.copy_from_slice(&c);
                m.controllen = CMSG_INT_SPACE;
            }
        }
        Ok(n)
    })
}

/// `CMSG_LEN(sizeof(int))` and `CMSG_SPACE(sizeof(int))` on x86_64.
const CMSG_INT_LEN: usize = 20;
const CMSG_INT_SPACE: usize = 24;
/// `MSG_CTRUNC`: control data did not fit.
const MSG_CTRUNC: c_int = 0x8;

pub(crate) unsafe extern "C" fn pd_sendto(
    ud: Ud,
    fd: c_int,
    buf: *const u8,
    n: usize,
    flags: c_int,
    dst: *const u8,
    dstlen: u32,
) -> isize {
    run(ud, -1, |s| {
        // SAFETY: `buf` is readable for `n` bytes (the caller's data).
        let data = unsafe { slice(buf, n.min(shim::MAX_IO))? };
        let addr = if dst.is_null() {
            None
        } else {
            // SAFETY: `dst` is readable for `dstlen` bytes.
            Some(unsafe { slice(dst, dstlen as usize)? })
        };
        s.send(fd, data, flags, addr).map(|n| n as isize)
    })
}

pub(crate) unsafe extern "C" fn pd_send(
    ud: Ud,
    fd: c_int,
    buf: *const u8,
    n: usize,
    flags: c_int,
) -> isize {
    // SAFETY: forwarded with the same buffer contract.
    unsafe { pd_sendto(ud, fd, buf, n, flags, std::ptr::null(), 0) }
}

pub(crate) unsafe extern "C" fn pd_write(ud: Ud, fd: c_int, buf: *const u8, n: usize) -> isize {
    // SAFETY: forwarded with the same buffer contract.
    unsafe { pd_sendto(ud, fd, buf, n, 0, std::ptr::null(), 0) }
}

pub(crate) unsafe extern "C" fn pd_writev(
    ud: Ud,
    fd: c_int,
    iov: *const IoVec,
    cnt: c_int,
) -> isize {
    run(ud, -1, |s| {
        // SAFETY: packetdrill passes `cnt` valid iovecs.
        let data = unsafe { gather(iov, cnt)? };
        s.send(fd, &data, 0, None).map(|n| n as isize)
    })
}

pub(crate) unsafe extern "C" fn pd_sendmsg(
    ud: Ud,
    fd: c_int,
    msg: *const MsgHdr,
    flags: c_int,
) -> isize {
    run(ud, -1, |s| {
        if msg.is_null() {
            return Err(Errno::EFAULT);
        }
        // SAFETY: non-null msghdr from packetdrill, valid for the call.
        let m = unsafe { &*msg };
        let cnt = c_int::try_from(m.iovlen).map_err(|_| Errno::EMSGSIZE)?;
        // SAFETY: the msghdr's iovecs are valid for the call.
        let data = unsafe { gather(m.iov, cnt)? };
        let addr = if m.name.is_null() {
            None
        } else {
            // SAFETY: the msghdr's name is readable for `namelen` bytes.
            Some(unsafe { slice(m.name as *const u8, m.namelen as usize)? })
        };
        s.send(fd, &data, flags, addr).map(|n| n as isize)
    })
}

pub(crate) unsafe extern "C" fn pd_fcntl(ud: Ud, fd: c_int, cmd: c_int, arg: usize) -> c_int {
    run(ud, -1, |s| {
        s.fcntl(fd, cmd, arg as u64)
            .map(|v| c_int::try_from(v).unwrap_or(c_int::MAX))
    })
}

pub(crate) unsafe extern "C" fn pd_ioctl(ud: Ud, fd: c_int, req: c_ulong, arg: usize) -> c_int {
    run(ud, -1, |s| {
        if req != shim::FIONREAD {
            s.fcntl(fd, net::sys::F_GETFD, 0)?;
            return Err(Errno::EOPNOTSUPP);
        }
        let n = s.ioctl_fionread(fd)?;
        let out = arg as *mut c_int;
        if out.is_null() {
            return Err(Errno::EFAULT);
        }
        // SAFETY: for FIONREAD the third argument is the caller's `int *`.
        unsafe { *out = n };
        Ok(0)
    })
}

pub(crate) unsafe extern "C" fn pd_close(ud: Ud, fd: c_int) -> c_int {
    run(ud, -1, |s| s.close(fd).map(|_| 0))
}

pub(crate) unsafe extern "C" fn pd_shutdown(ud: Ud, fd: c_int, how: c_int) -> c_int {
    run(ud, -1, |s| s.shutdown(fd, how).map(|_| 0))
}

pub(crate) unsafe extern "C" fn pd_getsockopt(
    ud: Ud,
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut u8,
    len: *mut u32,
) -> c_int {
    run(ud, -1, |s| {
        if len.is_null() {
            return Err(Errno::EFAULT);
        }
        // SAFETY: `len` non-null, the caller's socklen_t.
        let cap = unsafe { *len } as usize;
        // SAFETY: `val` is writable for `*len` bytes.
        let out = unsafe { slice_mut(val, cap)? };
        let n = s.getsockopt(fd, level, name, out)?;
        // SAFETY: `len` non-null, checked above.
        unsafe { *len = n as u32 };
        Ok(0)
    })
}

pub(crate) unsafe extern "C" fn pd_setsockopt(
    ud: Ud,
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const u8,
    len: u32,
) -> c_int {
    run(ud, -1, |s| {
        // SAFETY: `val` is readable for `len` bytes.
        let v = unsafe { slice(val, len as usize)? };
        s.setsockopt(fd, level, name, v).map(|_| 0)
    })
}

pub(crate) unsafe extern "C" fn pd_poll(
    ud: Ud,
    fds: *mut PollFd,
    nfds: u64,
    timeout: c_int,
) -> c_int {
    run(ud, -1, |s| {
        let n = usize::try_from(nfds).map_err(|_| Errno::EINVAL)?;
        if n > net::sockfs::DEFAULT_FD_LIMIT {
            return Err(Errno::EINVAL);
        }
        if n > 0 && fds.is_null() {
            return Err(Errno::EFAULT);
        }
        let p: &mut [PollFd] = if n == 0 {
            &mut []
        } else {
            // SAFETY: non-null array of `nfds` pollfds owned by the caller.
            unsafe { std::slice::from_raw_parts_mut(fds, n) }
        };
        let mut v: Vec<(i32, i16, i16)> = p.iter().map(|x| (x.fd, x.events, 0)).collect();
        let ready = s.poll(&mut v, timeout)?;
        for (dst, src) in p.iter_mut().zip(&v) {
            dst.revents = src.2;
        }
        Ok(ready as c_int)
    })
}

pub(crate) unsafe extern "C" fn pd_netdev_send(ud: Ud, buf: *const u8, count: usize) -> c_int {
    run(ud, -1, |s| {
        // SAFETY: packetdrill's buffer of `count` bytes, valid for the call.
        let d = unsafe { slice(buf, count)? };
        s.netdev_send(d).map(|_| 0)
    })
}

pub(crate) unsafe extern "C" fn pd_netdev_receive(
    ud: Ud,
    buf: *mut u8,
    count: *mut usize,
    time_usecs: *mut c_longlong,
) -> c_int {
    run(ud, -1, |s| {
        if count.is_null() || time_usecs.is_null() {
            return Err(Errno::EFAULT);
        }
        // SAFETY: `count` non-null, packetdrill's in/out size.
        let cap = unsafe { *count };
        match s.netdev_receive() {
            Some((t, d)) => {
                if d.len() > cap {
                    return Err(Errno::EMSGSIZE);
                }
                // SAFETY: `buf` is writable for `cap >= d.len()` bytes; `count` and
                // `time_usecs` are non-null out-parameters.
                unsafe {
                    std::ptr::copy_nonoverlapping(d.as_ptr(), buf, d.len());
                    *count = d.len();
                    *time_usecs = t as c_longlong;
                }
            }
            // No packet can come: count 0 makes packetdrill fail the expectation at once.
            // SAFETY: non-null out-parameter.
            None => unsafe { *count = 0 },
        }
        Ok(0)
    })
}

pub(crate) unsafe extern "C" fn pd_usleep(ud: Ud, usec: c_uint) -> c_int {
    run(ud, -1, |s| {
        s.usleep(u64::from(usec));
        Ok(0)
    })
}

pub(crate) unsafe extern "C" fn pd_gettimeofday(
    ud: Ud,
    tv: *mut TimeVal,
    _tz: *mut c_void,
) -> c_int {
    run(ud, -1, |s| {
        let t = s.gettimeofday();
        if !tv.is_null() {
            // SAFETY: the caller's timeval, non-null.
            unsafe {
                (*tv).sec = (t / 1_000_000) as i64;
                (*tv).usec = (t % 1_000_000) as i64;
            }
        }
        Ok(0)
    })
}

/// Size of `struct epoll_event`: packed `{u32 events; u64 data}` on x86-64, naturally
/// aligned elsewhere.
#[cfg(target_arch = "x86_64")]
pub(crate) const EPOLL_EVENT_LEN: usize = 12;
#[cfg(not(target_arch = "x86_64"))]
pub(crate) const EPOLL_EVENT_LEN: usize = 16;
/// Offset of `data` in `struct epoll_event`.
pub(crate) const EPOLL_DATA_AT: usize = EPOLL_EVENT_LEN - 8;

pub(crate) unsafe extern "C" fn pd_epoll_create(ud: Ud, size: c_int) -> c_int {
    run(ud, -1, |s| s.epoll_create(size))
}

pub(crate) unsafe extern "C" fn pd_epoll_ctl(
    ud: Ud,
    ep: c_int,
    op: c_int,
    fd: c_int,
    ev: *mut c_void,
) -> c_int {
    run(ud, -1, |s| {
        let ev = if ev.is_null() {
            None
        } else {
            // SAFETY: a non-null `struct epoll_event` of the caller, readable for its size.
            let b = unsafe { slice(ev as *const u8, EPOLL_EVENT_LEN)? };
            let events = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
            let mut d = [0u8; 8];
            d.copy_from_slice(&b[EPOLL_DATA_AT..EPOLL_EVENT_LEN]);
            Some((events, u64::from_ne_bytes(d)))
        };
        s.epoll_ctl(ep, op, fd, ev).map(|_| 0)
    })
}

pub(crate) unsafe extern "C" fn pd_epoll_wait(
    ud: Ud,
    ep: c_int,
    evs: *mut c_void,
    max: c_int,
    t: c_int,
) -> c_int {
    run(ud, -1, |s| {
        if evs.is_null() {
            return Err(Errno::EFAULT);
        }
        let got = s.epoll_wait(ep, max, t)?;
        for (k, (events, data)) in got.iter().enumerate() {
            let mut b = [0u8; EPOLL_EVENT_LEN];
            b[0..4].copy_from_slice(&events.to_ne_bytes());
            b[EPOLL_DATA_AT..].copy_from_slice(&data.to_ne_bytes());
            // SAFETY: the caller's array holds `max` events and `got.len() <= max`.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    b.as_ptr(),
                    (evs as *mut u8).add(k * EPOLL_EVENT_LEN),
                    EPOLL_EVENT_LEN,
                )
            };
        }
        Ok(got.len() as c_int)
    })
}

pub(crate) unsafe extern "C" fn pd_pipe(_ud: Ud, _fds: *mut c_int) -> c_int {
    os::set_errno(Errno::ENOSYS.code());
    -1
}

pub(crate) unsafe extern "C" fn pd_splice(
    _ud: Ud,
    _fd_in: c_int,
    _off_in: *mut i64,
    _fd_out: c_int,
    _off_out: *mut i64,
    _len: usize,
    _flags: c_uint,
) -> c_int {
    os::set_errno(Errno::ENOSYS.code());
    -1
}
