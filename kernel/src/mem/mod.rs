//! Physical memory: the frame allocator over the PVH memory map, the growing kernel heap, and
//! DMA pages for the drivers.
//!
//! All RAM the kernel uses is identity-mapped (physical == virtual) by the boot page tables, so
//! a frame's physical address is also its pointer. Owns `FRAMES`; never maps or unmaps pages.

pub mod frames;
pub mod heap;

use crate::bootinfo::MemRegion;
use crate::sync::IrqMutex;
use frames::{FrameAllocator, FRAME_SIZE};

static FRAMES: IrqMutex<Option<FrameAllocator>> = IrqMutex::new(None);

extern "C" {
    /// End of the kernel image including .bss (linker.ld).
    static __kernel_end: u8;
}

/// Build the frame allocator from the memory map; the heap grows from it on first use.
pub fn init(memmap: &[MemRegion]) -> Result<(), &'static str> {
    // Only the symbol's address is taken (no read), which needs no unsafe.
    let kernel_end = core::ptr::addr_of!(__kernel_end) as u64;
    let (fa, stats) = FrameAllocator::new(memmap, kernel_end)?;
    *FRAMES.lock() = Some(fa);
    let ram: u64 = memmap
        .iter()
        .filter(|r| r.kind == crate::bootinfo::MEM_TYPE_RAM)
        .map(|r| r.size)
        .sum();
    let above: u64 = memmap
        .iter()
        .filter(|r| r.kind == crate::bootinfo::MEM_TYPE_RAM)
        .map(|r| {
            let end = r.addr.saturating_add(r.size);
            end.saturating_sub(r.addr.max(frames::MAPPED_LIMIT))
        })
        .sum();
    if above > 0 {
        log::info!(
            "mem: ignoring {} MiB of RAM above 4 GiB (not mapped)",
            above >> 20
        );
    }
    for r in memmap {
        log::debug!(
            "mem: [{:#012x}-{:#012x}] type {}",
            r.addr,
            r.addr.saturating_add(r.size).saturating_sub(1),
            r.kind
        );
    }
    log::info!(
        "mem: {} KiB RAM, kernel image ends at {:#x}, {} KiB free in frames (bitmap {} bytes at {:#x})",
        ram / 1024,
        kernel_end,
        stats.free as u64 * FRAME_SIZE / 1024,
        stats.bitmap_bytes,
        stats.bitmap_paddr
    );
    Ok(())
}

/// Keeps the frames under `[paddr, paddr + len)` (boot data such as the initramfs) from being
/// handed out; returns how many were free before.
pub fn reserve(paddr: u64, len: u64) -> usize {
    FRAMES
        .lock()
        .as_mut()
        .map_or(0, |fa| fa.reserve(paddr, len))
}

/// The bytes of a boot module at `[paddr, paddr + len)`, which [`reserve`] kept out of the
/// allocator: identity-mapped RAM below 4 GiB that nothing else writes until it is freed.
pub fn boot_module(paddr: u64, len: u64) -> Option<&'static [u8]> {
    let end = paddr.checked_add(len)?;
    if paddr == 0 || end > frames::MAPPED_LIMIT {
        return None;
    }
    // SAFETY: the range is identity-mapped RAM below 4 GiB (checked above) holding the boot
    // module the loader placed there; its frames were reserved at boot, so the allocator
    // hands none of them out while this slice is used (the caller frees them afterwards).
    Some(unsafe { core::slice::from_raw_parts(paddr as *const u8, len as usize) })
}

/// Take `n` contiguous frames (not zeroed).
pub fn alloc_frames(n: usize) -> Option<u64> {
    FRAMES.lock().as_mut()?.alloc(n)
}

/// Return frames taken with `alloc_frames`.
pub fn free_frames(paddr: u64, n: usize) -> Result<(), &'static str> {
    FRAMES
        .lock()
        .as_mut()
        .ok_or("frame allocator not initialised")?
        .free(paddr, n)
}

/// Frames currently free.
pub fn free_frame_count() -> usize {
    FRAMES.lock().as_ref().map_or(0, |f| f.free_frames())
}

/// `n` zeroed, page-aligned, physically contiguous pages for device DMA; the address is both
/// physical and virtual (identity map). None if no such run is free.
pub fn dma_alloc_pages(n: usize) -> Option<u64> {
    let paddr = alloc_frames(n)?;
    // SAFETY: the frames were just allocated to us and are identity-mapped RAM.
    unsafe { core::ptr::write_bytes(paddr as *mut u8, 0, n * FRAME_SIZE as usize) };
    Some(paddr)
}

/// Give back pages from `dma_alloc_pages`. A bad address or double free is logged and ignored.
pub fn dma_free_pages(paddr: u64, n: usize) {
    if let Err(e) = free_frames(paddr, n) {
        log::error!("mem: dma_free_pages({paddr:#x}, {n}) rejected: {e}");
    }
}
