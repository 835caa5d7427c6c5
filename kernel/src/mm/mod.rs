//! Memory management above the frame allocator (`mem`): the page tables' rights (W^X, the
//! kernel supervisor-only, ring-3 stacks), kernel thread stacks (`kstack`) and user memory
//! access for system calls.
//!
//! Owns every page-table change after boot and every access to a user address; never hands
//! the kernel a user address it has not checked against the live page tables.

pub mod kstack;
pub mod paging;
pub mod space;
pub mod uaccess;
pub mod vma;

/// Zero `n` frames from physical `paddr` (through the direct map).
pub fn zero_frames(paddr: u64, n: usize) {
    // SAFETY: callers pass frames they own (fresh from the allocator, or a stack of their
    // program's); the direct map reaches all RAM.
    unsafe {
        core::ptr::write_bytes(
            crate::mem::phys_to_virt(paddr) as *mut u8,
            0,
            n * paging::PAGE as usize,
        )
    };
}
