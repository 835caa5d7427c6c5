//! rinet's packetdrill shim: a shared object implementing packetdrill's
//! `struct packetdrill_interface`, so that `packetdrill --so_filename=libpdshim.so` drives
//! rinet's TCP/IP stack instead of the host kernel's.
//!
//! This file owns the C ABI only: the interface struct, `packetdrill_interface_init`, and one
//! `extern "C"` entry point per call that checks and converts pointers, runs the call in
//! [`shim::Shim`] behind `catch_unwind`, and returns the result the Linux way (`-1` and the
//! thread's `errno`). Everything else is safe Rust: `flags.rs` parses `--so_flags`, `link.rs`
//! bridges bare IPv4 datagrams to the stack's Ethernet device, `shim.rs` holds the stack, the
//! virtual clock and the blocking rules, `os.rs` the host calls (backing fds, errno).

mod epoll;
mod flags;
mod link;
mod os;
mod shim;

#[cfg(test)]
mod tests;

use std::ffi::{c_char, c_int, c_longlong, c_uint, c_ulong, c_void, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use net::Errno;
use shim::Shim;

/// `struct iovec`.
#[repr(C)]
pub struct IoVec {
    pub base: *mut u8,
    pub len: usize,
}

/// glibc's `struct msghdr`.
#[repr(C)]
pub struct MsgHdr {
    pub name: *mut c_void,
    pub namelen: u32,
    pub iov: *mut IoVec,
    pub iovlen: usize,
    pub control: *mut c_void,
    pub controllen: usize,
    pub flags: c_int,
}

/// `struct pollfd`.
#[repr(C)]
pub struct PollFd {
    pub fd: c_int,
    pub events: i16,
    pub revents: i16,
}

/// `struct timeval`.
#[repr(C)]
pub struct TimeVal {
    pub sec: i64,
    pub usec: i64,
}

type Ud = *mut c_void;

/// packetdrill's `struct packetdrill_interface`; the member order is the ABI.
#[repr(C)]
#[derive(Default)]
#[allow(clippy::type_complexity)]
pub struct PacketdrillInterface {
    pub userdata: Ud,
    pub free: Option<unsafe extern "C" fn(Ud)>,
    pub socket: Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int) -> c_int>,
    pub bind: Option<unsafe extern "C" fn(Ud, c_int, *const u8, u32) -> c_int>,
    pub listen: Option<unsafe extern "C" fn(Ud, c_int, c_int) -> c_int>,
    pub accept: Option<unsafe extern "C" fn(Ud, c_int, *mut u8, *mut u32) -> c_int>,
    pub connect: Option<unsafe extern "C" fn(Ud, c_int, *const u8, u32) -> c_int>,
    pub read: Option<unsafe extern "C" fn(Ud, c_int, *mut u8, usize) -> isize>,
    pub readv: Option<unsafe extern "C" fn(Ud, c_int, *const IoVec, c_int) -> isize>,
    pub recv: Option<unsafe extern "C" fn(Ud, c_int, *mut u8, usize, c_int) -> isize>,
    pub recvfrom:
        Option<unsafe extern "C" fn(Ud, c_int, *mut u8, usize, c_int, *mut u8, *mut u32) -> isize>,
    pub recvmsg: Option<unsafe extern "C" fn(Ud, c_int, *mut MsgHdr, c_int) -> isize>,
    pub write: Option<unsafe extern "C" fn(Ud, c_int, *const u8, usize) -> isize>,
    pub writev: Option<unsafe extern "C" fn(Ud, c_int, *const IoVec, c_int) -> isize>,
    pub send: Option<unsafe extern "C" fn(Ud, c_int, *const u8, usize, c_int) -> isize>,
    pub sendto:
        Option<unsafe extern "C" fn(Ud, c_int, *const u8, usize, c_int, *const u8, u32) -> isize>,
    pub sendmsg: Option<unsafe extern "C" fn(Ud, c_int, *const MsgHdr, c_int) -> isize>,
    pub fcntl: Option<unsafe extern "C" fn(Ud, c_int, c_int, usize) -> c_int>,
    pub ioctl: Option<unsafe extern "C" fn(Ud, c_int, c_ulong, usize) -> c_int>,
    pub close: Option<unsafe extern "C" fn(Ud, c_int) -> c_int>,
    pub shutdown: Option<unsafe extern "C" fn(Ud, c_int, c_int) -> c_int>,
    pub getsockopt:
        Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int, *mut u8, *mut u32) -> c_int>,
    pub setsockopt: Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int, *const u8, u32) -> c_int>,
    pub poll: Option<unsafe extern "C" fn(Ud, *mut PollFd, u64, c_int) -> c_int>,
    pub netdev_send: Option<unsafe extern "C" fn(Ud, *const u8, usize) -> c_int>,
    pub netdev_receive:
        Option<unsafe extern "C" fn(Ud, *mut u8, *mut usize, *mut c_longlong) -> c_int>,
    pub usleep: Option<unsafe extern "C" fn(Ud, c_uint) -> c_int>,
    pub gettimeofday: Option<unsafe extern "C" fn(Ud, *mut TimeVal, *mut c_void) -> c_int>,
    pub epoll_create: Option<unsafe extern "C" fn(Ud, c_int) -> c_int>,
    pub epoll_ctl: Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int, *mut c_void) -> c_int>,
    pub epoll_wait: Option<unsafe extern "C" fn(Ud, c_int, *mut c_void, c_int, c_int) -> c_int>,
    pub pipe: Option<unsafe extern "C" fn(Ud, *mut c_int) -> c_int>,
    pub splice:
        Option<unsafe extern "C" fn(Ud, c_int, *mut i64, c_int, *mut i64, usize, c_uint) -> c_int>,
}

// The interface is 33 pointer-sized members.
const _: () = assert!(core::mem::size_of::<PacketdrillInterface>() == 33 * 8);

/// Run `f` with the shim, mapping `Err` (and a panic, reported as EIO) to `-1` + errno.
fn run<T: Copy>(ud: Ud, fail: T, f: impl FnOnce(&Shim) -> Result<T, Errno>) -> T {
    if ud.is_null() {
        os::set_errno(Errno::EINVAL.code());
        return fail;
    }
    // SAFETY: `ud` is the pointer `packetdrill_interface_init` created with Box::into_raw
    // and only `pd_free` releases; packetdrill passes it back unchanged and calls nothing
    // after free. Shim is Sync (a Mutex and a Condvar), so a shared reference from both of
    // packetdrill's threads is sound.
    let shim = unsafe { &*(ud as *const Shim) };
    match catch_unwind(AssertUnwindSafe(|| f(shim))) {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => {
            os::set_errno(e.code());
            fail
        }
        Err(_) => {
            os::set_errno(Errno::EIO.code());
            fail
        }
    }
}

/// A byte slice from a C pointer; `EFAULT` for NULL with a non-zero length.
///
/// # Safety
/// `p` must be valid for reads of `len` bytes for the returned lifetime.
unsafe fn slice<'a>(p: *const u8, len: usize) -> Result<&'a [u8], Errno> {
    if len == 0 {
        return Ok(&[]);
    }
    if p.is_null() {
        return Err(Errno::EFAULT);
    }
    // SAFETY: non-null, and the caller guarantees `len` readable bytes.
    Ok(unsafe { std::slice::from_raw_parts(p, len) })
}

/// A mutable byte slice from a C pointer, at most [`shim::MAX_IO`] long.
///
/// # Safety
/// `p` must be valid for writes of `len` bytes for the returned lifetime.
unsafe fn slice_mut<'a>(p: *mut u8, len: usize) -> Result<&'a mut [u8], Errno> {
    if len == 0 {
        return Ok(&mut []);
    }
    if p.is_null() {
        return Err(Errno::EFAULT);
    }
    // SAFETY: non-null, and the caller guarantees `len` writable bytes.
    Ok(unsafe { std::slice::from_raw_parts_mut(p, len.min(shim::MAX_IO)) })
}

/// Copy a `sockaddr_in` out to the caller's `(addr, *len)` (truncated like Linux; `*len` set
/// to the full size).
///
/// # Safety
/// `addr` must be writable for `*len` bytes and `len` valid, when non-null.
unsafe fn put_addr(a: &[u8; 16], addr: *mut u8, len: *mut u32) {
    if addr.is_null() || len.is_null() {
        return;
    }
    // SAFETY: checked non-null; the caller guarantees `*len` writable bytes at `addr`.
    unsafe {
        let n = (*len as usize).min(a.len());
        std::ptr::copy_nonoverlapping(a.as_ptr(), addr, n);
        *len = a.len() as u32;
    }
}

/// Gather iovecs into one buffer (at most [`shim::MAX_IO`] bytes).
///
/// # Safety
/// `iov` must point at `cnt` valid iovecs whose buffers are readable.
unsafe fn gather(iov: *const IoVec, cnt: c_int) -> Result<Vec<u8>, Errno> {
    let cnt = usize::try_from(cnt).map_err(|_| Errno::EINVAL)?;
    if cnt == 0 {
        return Ok(Vec::new());
    }
    if iov.is_null() {
        return Err(Errno::EFAULT);
    }
    // SAFETY: non-null, `cnt` iovecs per the caller.
    let v = unsafe { std::slice::from_raw_parts(iov, cnt) };
    let mut out = Vec::new();
    for e in v {
        let take = e.len.min(shim::MAX_IO - out.len());
        // SAFETY: each iovec's buffer is readable for its length per the caller.
        out.extend_from_slice(unsafe { slice(e.base, take)? });
    }
    Ok(out)
}

/// Scatter `data` over iovecs.
///
/// # Safety
/// `iov` must point at `cnt` valid iovecs whose buffers are writable.
unsafe fn scatter(iov: *const IoVec, cnt: c_int, mut data: &[u8]) {
    if iov.is_null() || cnt <= 0 {
        return;
    }
    // SAFETY: non-null, `cnt` iovecs per the caller.
    let v = unsafe { std::slice::from_raw_parts(iov, cnt as usize) };
    for e in v {
        let n = e.len.min(data.len());
        if n > 0 {
            // SAFETY: the iovec's buffer is writable for `e.len >= n` bytes.
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), e.base, n) };
        }
        data = &data[n..];
    }
}

/// Total capacity of iovecs (bounded by [`shim::MAX_IO`]).
///
/// # Safety
/// As [`scatter`].
unsafe fn iov_len(iov: *const IoVec, cnt: c_int) -> Result<usize, Errno> {
    let cnt = usize::try_from(cnt).map_err(|_| Errno::EINVAL)?;
    if cnt == 0 {
        return Ok(0);
    }
    if iov.is_null() {
        return Err(Errno::EFAULT);
    }
    // SAFETY: non-null, `cnt` iovecs per the caller.
    let v = unsafe { std::slice::from_raw_parts(iov, cnt) };
    Ok(v.iter()
        .fold(0usize, |a, e| a.saturating_add(e.len))
        .min(shim::MAX_IO))
}

unsafe extern "C" fn pd_free(ud: Ud) {
    if !ud.is_null() {
        // SAFETY: `ud` came from Box::into_raw in init and packetdrill frees it once, after
        // its syscall thread has been joined. The backing fds of sockets left open were
        // already closed by packetdrill itself and may have been reused: they are not
        // touched.
        drop(unsafe { Box::from_raw(ud as *mut Shim) });
    }
}

unsafe extern "C" fn pd_socket(ud: Ud, domain: c_int, ty: c_int, proto: c_int) -> c_int {
    run(ud, -1, |s| s.socket(domain, ty, proto))
}

unsafe extern "C" fn pd_bind(ud: Ud, fd: c_int, addr: *const u8, len: u32) -> c_int {
    run(ud, -1, |s| {
        // SAFETY: packetdrill passes a sockaddr of `len` bytes.
        let a = unsafe { slice(addr, len as usize)? };
        s.bind(fd, a).map(|_| 0)
    })
}

unsafe extern "C" fn pd_listen(ud: Ud, fd: c_int, backlog: c_int) -> c_int {
    run(ud, -1, |s| s.listen(fd, backlog).map(|_| 0))
}

unsafe extern "C" fn pd_accept(ud: Ud, fd: c_int, addr: *mut u8, len: *mut u32) -> c_int {
    run(ud, -1, |s| {
        let (nfd, peer) = s.accept(fd)?;
        // SAFETY: `addr` holds `*len` bytes (packetdrill passes 128) when non-null.
        unsafe { put_addr(&peer, addr, len) };
        Ok(nfd)
    })
}

unsafe extern "C" fn pd_connect(ud: Ud, fd: c_int, addr: *const u8, len: u32) -> c_int {
    run(ud, -1, |s| {
        // SAFETY: packetdrill passes a sockaddr of `len` bytes.
        let a = unsafe { slice(addr, len as usize)? };
        s.connect(fd, a).map(|_| 0)
    })
}

unsafe extern "C" fn pd_recvfrom(
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

unsafe extern "C" fn pd_recv(ud: Ud, fd: c_int, buf: *mut u8, n: usize, flags: c_int) -> isize {
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

unsafe extern "C" fn pd_read(ud: Ud, fd: c_int, buf: *mut u8, n: usize) -> isize {
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
unsafe fn recv_iov(
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

unsafe extern "C" fn pd_readv(ud: Ud, fd: c_int, iov: *const IoVec, cnt: c_int) -> isize {
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

unsafe extern "C" fn pd_recvmsg(ud: Ud, fd: c_int, msg: *mut MsgHdr, flags: c_int) -> isize {
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
        m.controllen = 0;
        // SAFETY: the msghdr's iovecs and name buffer are the caller's, valid for the call.
        unsafe { recv_iov(s, fd, m.iov, iovlen, flags, name, namelen) }
    })
}

unsafe extern "C" fn pd_sendto(
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

unsafe extern "C" fn pd_send(ud: Ud, fd: c_int, buf: *const u8, n: usize, flags: c_int) -> isize {
    // SAFETY: forwarded with the same buffer contract.
    unsafe { pd_sendto(ud, fd, buf, n, flags, std::ptr::null(), 0) }
}

unsafe extern "C" fn pd_write(ud: Ud, fd: c_int, buf: *const u8, n: usize) -> isize {
    // SAFETY: forwarded with the same buffer contract.
    unsafe { pd_sendto(ud, fd, buf, n, 0, std::ptr::null(), 0) }
}

unsafe extern "C" fn pd_writev(ud: Ud, fd: c_int, iov: *const IoVec, cnt: c_int) -> isize {
    run(ud, -1, |s| {
        // SAFETY: packetdrill passes `cnt` valid iovecs.
        let data = unsafe { gather(iov, cnt)? };
        s.send(fd, &data, 0, None).map(|n| n as isize)
    })
}

unsafe extern "C" fn pd_sendmsg(ud: Ud, fd: c_int, msg: *const MsgHdr, flags: c_int) -> isize {
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

unsafe extern "C" fn pd_fcntl(ud: Ud, fd: c_int, cmd: c_int, arg: usize) -> c_int {
    run(ud, -1, |s| {
        s.fcntl(fd, cmd, arg as u64)
            .map(|v| c_int::try_from(v).unwrap_or(c_int::MAX))
    })
}

unsafe extern "C" fn pd_ioctl(ud: Ud, fd: c_int, req: c_ulong, arg: usize) -> c_int {
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

unsafe extern "C" fn pd_close(ud: Ud, fd: c_int) -> c_int {
    run(ud, -1, |s| s.close(fd).map(|_| 0))
}

unsafe extern "C" fn pd_shutdown(ud: Ud, fd: c_int, how: c_int) -> c_int {
    run(ud, -1, |s| s.shutdown(fd, how).map(|_| 0))
}

unsafe extern "C" fn pd_getsockopt(
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

unsafe extern "C" fn pd_setsockopt(
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

unsafe extern "C" fn pd_poll(ud: Ud, fds: *mut PollFd, nfds: u64, timeout: c_int) -> c_int {
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

unsafe extern "C" fn pd_netdev_send(ud: Ud, buf: *const u8, count: usize) -> c_int {
    run(ud, -1, |s| {
        // SAFETY: packetdrill's buffer of `count` bytes, valid for the call.
        let d = unsafe { slice(buf, count)? };
        s.netdev_send(d).map(|_| 0)
    })
}

unsafe extern "C" fn pd_netdev_receive(
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

unsafe extern "C" fn pd_usleep(ud: Ud, usec: c_uint) -> c_int {
    run(ud, -1, |s| {
        s.usleep(u64::from(usec));
        Ok(0)
    })
}

unsafe extern "C" fn pd_gettimeofday(ud: Ud, tv: *mut TimeVal, _tz: *mut c_void) -> c_int {
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
const EPOLL_EVENT_LEN: usize = 12;
#[cfg(not(target_arch = "x86_64"))]
const EPOLL_EVENT_LEN: usize = 16;
/// Offset of `data` in `struct epoll_event`.
const EPOLL_DATA_AT: usize = EPOLL_EVENT_LEN - 8;

unsafe extern "C" fn pd_epoll_create(ud: Ud, size: c_int) -> c_int {
    run(ud, -1, |s| s.epoll_create(size))
}

unsafe extern "C" fn pd_epoll_ctl(
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

unsafe extern "C" fn pd_epoll_wait(
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

unsafe extern "C" fn pd_pipe(_ud: Ud, _fds: *mut c_int) -> c_int {
    os::set_errno(Errno::ENOSYS.code());
    -1
}

unsafe extern "C" fn pd_splice(
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

/// packetdrill's entry point: parse `flags` (`--so_flags`, may be NULL), build the stack and
/// fill every member of `iface`. A bad `--so_flags` is fatal (the run would test the wrong
/// addresses): the message goes to stderr and the process exits with status 2.
///
/// # Safety
/// `flags` is NULL or a NUL-terminated string; `iface` points at a writable
/// `struct packetdrill_interface`.
#[no_mangle]
pub unsafe extern "C" fn packetdrill_interface_init(
    flags: *const c_char,
    iface: *mut PacketdrillInterface,
) {
    let text = if flags.is_null() {
        String::new()
    } else {
        // SAFETY: non-null, NUL-terminated per packetdrill's contract.
        unsafe { CStr::from_ptr(flags) }
            .to_string_lossy()
            .into_owned()
    };
    let built = catch_unwind(|| {
        let cfg = flags::parse(&text)?;
        Shim::new(cfg).map_err(|e| format!("configuring the stack: {e:?}"))
    });
    let shim = match built {
        Ok(Ok(s)) => s,
        Ok(Err(msg)) => {
            eprintln!("pdshim: {msg}");
            std::process::exit(2);
        }
        Err(_) => {
            eprintln!("pdshim: panic while building the stack");
            std::process::exit(2);
        }
    };
    if iface.is_null() {
        eprintln!("pdshim: NULL interface");
        std::process::exit(2);
    }
    let filled = PacketdrillInterface {
        userdata: Box::into_raw(Box::new(shim)) as Ud,
        free: Some(pd_free),
        socket: Some(pd_socket),
        bind: Some(pd_bind),
        listen: Some(pd_listen),
        accept: Some(pd_accept),
        connect: Some(pd_connect),
        read: Some(pd_read),
        readv: Some(pd_readv),
        recv: Some(pd_recv),
        recvfrom: Some(pd_recvfrom),
        recvmsg: Some(pd_recvmsg),
        write: Some(pd_write),
        writev: Some(pd_writev),
        send: Some(pd_send),
        sendto: Some(pd_sendto),
        sendmsg: Some(pd_sendmsg),
        fcntl: Some(pd_fcntl),
        ioctl: Some(pd_ioctl),
        close: Some(pd_close),
        shutdown: Some(pd_shutdown),
        getsockopt: Some(pd_getsockopt),
        setsockopt: Some(pd_setsockopt),
        poll: Some(pd_poll),
        netdev_send: Some(pd_netdev_send),
        netdev_receive: Some(pd_netdev_receive),
        usleep: Some(pd_usleep),
        gettimeofday: Some(pd_gettimeofday),
        epoll_create: Some(pd_epoll_create),
        epoll_ctl: Some(pd_epoll_ctl),
        epoll_wait: Some(pd_epoll_wait),
        pipe: Some(pd_pipe),
        splice: Some(pd_splice),
    };
    // SAFETY: `iface` is non-null and writable per the contract; the old (zeroed) contents
    // hold nothing to drop.
    unsafe { std::ptr::write(iface, filled) };
}
