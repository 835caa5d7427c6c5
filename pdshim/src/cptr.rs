//! Pointer plumbing for the C entry points: turning packetdrill's pointers into slices and
//! back, and running a call with `-1`/`errno` on failure and no unwinding into C.
//!
//! Owns nothing but these conversions; each `unsafe fn` states what its caller guarantees.

use std::ffi::c_int;
use std::panic::{catch_unwind, AssertUnwindSafe};

use net::Errno;

use crate::shim::{self, Shim};
use crate::{os, IoVec, Ud};

/// Run `f` with the shim, mapping `Err` (and a panic, reported as EIO) to `-1` + errno.
pub(crate) fn run<T: Copy>(ud: Ud, fail: T, f: impl FnOnce(&Shim) -> Result<T, Errno>) -> T {
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
pub(crate) unsafe fn slice<'a>(p: *const u8, len: usize) -> Result<&'a [u8], Errno> {
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
pub(crate) unsafe fn slice_mut<'a>(p: *mut u8, len: usize) -> Result<&'a mut [u8], Errno> {
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
pub(crate) unsafe fn put_addr(a: &[u8; 16], addr: *mut u8, len: *mut u32) {
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
pub(crate) unsafe fn gather(iov: *const IoVec, cnt: c_int) -> Result<Vec<u8>, Errno> {
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
pub(crate) unsafe fn scatter(iov: *const IoVec, cnt: c_int, mut data: &[u8]) {
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
pub(crate) unsafe fn iov_len(iov: *const IoVec, cnt: c_int) -> Result<usize, Errno> {
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
