//! Boot data the loader left in RAM (the PVH start info, module list, command line and memory
//! map), read through the direct map before the frame allocator exists.
//!
//! Owns those reads. Before [`super::init`] no RAM outside the kernel image belongs to
//! anything in the kernel (no heap, no frames handed out), so copying from it aliases nothing;
//! afterwards [`copy`] refuses.

use super::frames::MAPPED_LIMIT;
use super::{kernel_end, phys_to_virt, FRAMES};

/// Where the kernel image is loaded (linker.ld): its bytes are never boot data.
const KERNEL_START: u64 = 0x10_0000;

/// Copy the bytes at physical `[paddr, paddr + buf.len())` into `buf`. Refused (nothing
/// copied) if `paddr` is 0, the range reaches past the direct map's RAM ([`MAPPED_LIMIT`]) or
/// into the kernel image, or the frame allocator is already up (`mem::init` ran).
pub fn copy(paddr: u64, buf: &mut [u8]) -> Result<(), &'static str> {
    let end = paddr
        .checked_add(buf.len() as u64)
        .ok_or("boot data range overflows")?;
    if paddr == 0 || end > MAPPED_LIMIT {
        return Err("boot data outside the direct map");
    }
    if paddr < kernel_end() && end > KERNEL_START {
        return Err("boot data inside the kernel image");
    }
    if FRAMES.lock().is_some() {
        return Err("boot data read after the frame allocator took RAM");
    }
    let src = phys_to_virt(paddr) as *const u8;
    for (i, b) in buf.iter_mut().enumerate() {
        // SAFETY: the range lies below MAPPED_LIMIT (direct map, checked above) and outside
        // the kernel image; before `mem::init` nothing in the kernel owns or references that
        // RAM, so this byte read aliases nothing.
        *b = unsafe { core::ptr::read_volatile(src.add(i)) };
    }
    Ok(())
}
