//! User memory access for system calls (Linux's `copy_from_user` / `copy_to_user`).
//!
//! A user range is usable only if it is non-empty-or-zero-length, starts above the first page,
//! does not wrap, lies below the canonical-address hole, and every page of it is present and
//! user-accessible (writable too, for the kernel to write into it) in the live page tables
//! ([`super::paging::user_range_ok`]): kernel text, data, heap, stacks and page tables are
//! supervisor-only, guard pages are not present, the kernel's direct map of physical memory
//! lies above the canonical hole, so all of those are `EFAULT`.
//!
//! Every copy goes through one routine whose loads and stores are all covered by the
//! exception table: should the page vanish between the check and the copy, the page-fault
//! handler resumes at the fix-up ([`fixup`]) and the call returns `EFAULT` instead of the
//! kernel faulting. Every access copies: the kernel never keeps a reference into user memory
//! (another thread of the program may unmap it while a call sleeps). A page of the program's
//! map not touched yet is committed first (`process::memory::populate`).
//!
//! Owns the copy routine and its exception table. Never dereferences an unchecked user address.

use core::arch::global_asm;

use crate::mem::string::forward_copy_asm;

use net::Errno;

/// The first page is never valid (null pointers and small offsets from them).
const FIRST_VALID: u64 = 4096;
/// Top of the lower canonical half: user pointers are below it.
const USER_TOP: u64 = 1 << 47;

global_asm!(concat!(
    r#"
.section .text.rinet_copy_user, "ax", @progbits
.global rinet_copy_user
.global rinet_copy_user_start
.global rinet_copy_user_end
.global rinet_copy_user_fixup
/* rinet_copy_user(dst: rdi, src: rsi, len: rdx, smap: rcx) -> rax: 0 copied, 1 faulted.
   With SMAP on (rcx != 0), user pages are reachable only between stac and clac.
   The copy is memcpy's (mem::string::forward_copy_asm: 64 bytes per iteration in plain moves;
   QEMU's TCG runs each iteration of a `rep movs` on its own). Every load and store lies
   between rinet_copy_user_start and rinet_copy_user_end: the exception table. */
rinet_copy_user:
    test rcx, rcx
    jz rinet_copy_user_start
    stac
rinet_copy_user_start:
"#,
    forward_copy_asm!(),
    r#"
rinet_copy_user_end:
    test rcx, rcx
    jz 2f
    clac
2:
    xor eax, eax
    ret
rinet_copy_user_fixup:
    test rcx, rcx
    jz 6f
    clac
6:
    mov eax, 1
    ret
"#
));

extern "C" {
    fn rinet_copy_user(dst: *mut u8, src: *const u8, len: usize, smap: u64) -> u64;
    static rinet_copy_user_start: u8;
    static rinet_copy_user_end: u8;
    static rinet_copy_user_fixup: u8;
}

/// Whether SMAP is on (`super::paging`): the copy routine then opens user access with
/// `stac` for the copy alone.
pub(crate) static SMAP_ON: core::sync::atomic::AtomicBool =
    core::sync::atomic::AtomicBool::new(false);

fn smap() -> u64 {
    u64::from(SMAP_ON.load(core::sync::atomic::Ordering::Relaxed))
}

/// `len` bytes from `src` to `dst` through the copy routine: `EFAULT` if it faulted.
///
/// # Safety
/// `dst` and `src` are kernel memory valid for `len` bytes, or a user range whose fault can
/// only be a page gone missing (the exception table then resumes at the fix-up).
unsafe fn copy_raw(dst: *mut u8, src: *const u8, len: usize) -> Result<(), Errno> {
    // SAFETY: the caller's contract.
    match unsafe { rinet_copy_user(dst, src, len, smap()) } {
        0 => Ok(()),
        _ => Err(Errno::EFAULT),
    }
}

/// Record that CR4.SMAP is now set.
pub fn set_smap(on: bool) {
    SMAP_ON.store(on, core::sync::atomic::Ordering::Relaxed);
}

/// The exception table: where a page fault at `rip` in ring 0 resumes, if `rip` is a user
/// copy's instruction (the page-fault handler asks).
pub fn fixup(rip: u64) -> Option<u64> {
    let start = (&raw const rinet_copy_user_start) as u64;
    let end = (&raw const rinet_copy_user_end) as u64;
    (start..end)
        .contains(&rip)
        .then_some((&raw const rinet_copy_user_fixup) as u64)
}

/// Copy from `addr` with the checks skipped, so the copy itself faults: `addr` must be an
/// unmapped page (a guard page). Shows the exception table at work (kernel-test); Err(EFAULT)
/// is the only right answer.
pub fn probe_fault_recovery(addr: u64) -> Result<(), Errno> {
    let mut buf = [0u8; 16];
    if super::paging::user_range_ok(addr, 16, false) {
        return Err(Errno::EINVAL); // mapped for ring 3: not a probe
    }
    // SAFETY: `buf` is ours; the source is an unmapped page (the caller's contract; a present
    // page would merely be read), so the copy faults and resumes at the fix-up.
    unsafe { copy_raw(buf.as_mut_ptr(), addr as *const u8, buf.len()) }
}

/// Whether `[addr, addr + len)` is user memory (writable by the kernel with `write`).
pub fn check_access(addr: u64, len: usize, write: bool) -> Result<(), Errno> {
    if len == 0 {
        return Ok(());
    }
    let end = addr.checked_add(len as u64).ok_or(Errno::EFAULT)?;
    if addr < FIRST_VALID || end > USER_TOP {
        return Err(Errno::EFAULT);
    }
    if super::paging::user_range_ok(addr, len as u64, write) {
        return Ok(());
    }
    // Pages of the program's map not touched yet: commit them, then check again.
    if crate::process::memory::populate(addr, len as u64, write)
        && super::paging::user_range_ok(addr, len as u64, write)
    {
        Ok(())
    } else {
        Err(Errno::EFAULT)
    }
}

/// Whether `[addr, addr + len)` is user memory the kernel may write (the stricter check,
/// for callers that only validate an output pointer up front).
pub fn check(addr: u64, len: usize) -> Result<(), Errno> {
    check_access(addr, len, true)
}

/// `copy_from_user`: fill `dst` from user memory at `addr`.
pub fn copy_from_user(dst: &mut [u8], addr: u64) -> Result<(), Errno> {
    check_access(addr, dst.len(), false)?;
    // SAFETY: `dst` is kernel memory we borrow mutably; the source range was checked, and a
    // fault inside the copy resumes at the fix-up (exception table) instead of crashing.
    unsafe { copy_raw(dst.as_mut_ptr(), addr as *const u8, dst.len()) }
}

/// `copy_to_user`: store `src` in user memory at `addr`.
pub fn copy_to_user(addr: u64, src: &[u8]) -> Result<(), Errno> {
    check_access(addr, src.len(), true)?;
    // SAFETY: as in `copy_from_user`, in the other direction.
    unsafe { copy_raw(addr as *mut u8, src.as_ptr(), src.len()) }
}

/// A program's buffer, checked for writing when made, that a socket receive fills piece by
/// piece straight from its queue ([`net::recvbuf::RecvBuf`]): one copy instead of two through
/// a kernel buffer. Each piece goes through the copy routine, so a page unmapped since the
/// check (another thread, while this one slept) is `EFAULT`, never a kernel fault.
pub struct UserOut {
    addr: u64,
    len: usize,
}

impl UserOut {
    /// `[addr, addr + len)` checked as [`check`] does (its untouched pages committed).
    pub fn new(addr: u64, len: usize) -> Result<Self, Errno> {
        check(addr, len)?;
        Ok(UserOut { addr, len })
    }
}

impl net::recvbuf::RecvBuf for UserOut {
    fn len(&self) -> usize {
        self.len
    }

    fn put(&mut self, at: usize, bytes: &[u8]) -> Result<(), Errno> {
        let end = at.checked_add(bytes.len()).ok_or(Errno::EFAULT)?;
        if end > self.len {
            return Err(Errno::EFAULT);
        }
        let dst = self.addr + at as u64;
        // SAFETY: `[dst, dst + bytes.len())` lies inside the range checked in `new`; should
        // it have been unmapped since, the copy faults and resumes at the fix-up (exception
        // table) instead of crashing. `bytes` is kernel memory we borrow.
        unsafe { copy_raw(dst as *mut u8, bytes.as_ptr(), bytes.len()) }
    }
}

/// Copy a plain value in from user memory. `T` must be a plain-data type (integers and structs
/// of them) for which every bit pattern is valid.
pub fn read<T: Copy + Default>(addr: u64) -> Result<T, Errno> {
    let mut v = T::default();
    // SAFETY: `v` is a live `T` we own; viewed as its bytes only to be overwritten with bytes
    // of a valid `T` (every bit pattern is, per the contract above).
    let bytes = unsafe {
        core::slice::from_raw_parts_mut((&raw mut v).cast::<u8>(), core::mem::size_of::<T>())
    };
    copy_from_user(bytes, addr)?;
    Ok(v)
}

/// Copy a plain value out to user memory.
pub fn write<T: Copy>(addr: u64, value: T) -> Result<(), Errno> {
    // SAFETY: reading a `Copy` plain-data value's bytes (no padding in the types used:
    // integers, arrays and `repr(C)` structs of equal-sized integers).
    let bytes = unsafe {
        core::slice::from_raw_parts((&raw const value).cast::<u8>(), core::mem::size_of::<T>())
    };
    copy_to_user(addr, bytes)
}
