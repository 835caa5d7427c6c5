//! User memory access for system calls: a user pointer is usable only if it is non-null, its
//! range does not overflow, and the whole range lies in RAM the memory map reports (inside the
//! user-accessible identity map below 3 GiB), outside the boot page tables and boot stack.
//! Anything else is `EFAULT`, so the kernel never faults on a program's behalf.
//!
//! Owns the list of user-accessible RAM ranges. The ranges checked here are identity-mapped
//! and stay mapped forever, which is what makes the slices handed out sound to use (a program
//! racing the kernel on its own buffer only sees its own bytes change).

use net::Errno;
use spin::Once;

use crate::bootinfo::{MemRegion, MEM_TYPE_RAM};

/// The user-accessible part of the identity map (boot.rs sets U/S on 0-3 GiB).
const USER_LIMIT: u64 = 3 << 30;
/// The first page is never valid (null pointers and small offsets from them).
const FIRST_VALID: u64 = 4096;
/// Ranges kept from the memory map (PVH maps have a handful).
const MAX_RANGES: usize = 32;

struct Ranges {
    ram: [(u64, u64); MAX_RANGES],
    n: usize,
    /// Kernel-private: the boot page tables and the boot stack (arch::boot).
    private: (u64, u64),
}

static RANGES: Once<Ranges> = Once::new();

extern "C" {
    static boot_pml4: u8;
    static boot_stack_top: u8;
}

/// Record the RAM ranges of the memory map (call once at boot).
pub fn init(memmap: &[MemRegion]) {
    RANGES.call_once(|| {
        let mut r = Ranges {
            ram: [(0, 0); MAX_RANGES],
            n: 0,
            private: (
                core::ptr::addr_of!(boot_pml4) as u64,
                core::ptr::addr_of!(boot_stack_top) as u64,
            ),
        };
        for m in memmap.iter().filter(|m| m.kind == MEM_TYPE_RAM) {
            let start = m.addr.max(FIRST_VALID);
            let end = m.addr.saturating_add(m.size).min(USER_LIMIT);
            if start < end && r.n < MAX_RANGES {
                r.ram[r.n] = (start, end);
                r.n += 1;
            }
        }
        r
    });
}

/// Whether `[addr, addr + len)` is user memory.
pub fn check(addr: u64, len: usize) -> Result<(), Errno> {
    if len == 0 {
        return Ok(());
    }
    let end = addr.checked_add(len as u64).ok_or(Errno::EFAULT)?;
    let r = RANGES.get().ok_or(Errno::EFAULT)?;
    if addr < FIRST_VALID {
        return Err(Errno::EFAULT);
    }
    if addr < r.private.1 && end > r.private.0 {
        return Err(Errno::EFAULT);
    }
    if r.ram[..r.n].iter().any(|&(s, e)| addr >= s && end <= e) {
        Ok(())
    } else {
        Err(Errno::EFAULT)
    }
}

/// The user bytes `[addr, addr + len)` for reading.
pub fn slice(addr: u64, len: usize) -> Result<&'static [u8], Errno> {
    check(addr, len)?;
    if len == 0 {
        return Ok(&[]);
    }
    // SAFETY: `check` proved the range is RAM in the permanent identity map, not the kernel's
    // boot structures; the program owns its contents (u8 has no invalid values).
    Ok(unsafe { core::slice::from_raw_parts(addr as *const u8, len) })
}

/// The user bytes `[addr, addr + len)` for writing.
pub fn slice_mut(addr: u64, len: usize) -> Result<&'static mut [u8], Errno> {
    check(addr, len)?;
    if len == 0 {
        return Ok(&mut []);
    }
    // SAFETY: as in `slice`; the kernel holds no other reference into program memory while a
    // system call runs.
    Ok(unsafe { core::slice::from_raw_parts_mut(addr as *mut u8, len) })
}

/// Copy a plain value in from user memory.
pub fn read<T: Copy>(addr: u64) -> Result<T, Errno> {
    check(addr, core::mem::size_of::<T>())?;
    // SAFETY: checked range; `T: Copy` and callers only use integer types and structs of them,
    // for which every bit pattern is valid; unaligned reads are allowed.
    Ok(unsafe { core::ptr::read_unaligned(addr as *const T) })
}

/// Copy a plain value out to user memory.
pub fn write<T: Copy>(addr: u64, value: T) -> Result<(), Errno> {
    check(addr, core::mem::size_of::<T>())?;
    // SAFETY: checked range in user RAM; unaligned writes are allowed.
    unsafe { core::ptr::write_unaligned(addr as *mut T, value) };
    Ok(())
}
