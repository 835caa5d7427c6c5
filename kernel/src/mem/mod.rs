//! Physical memory: the frame allocator over the PVH memory map, the growing kernel heap, DMA
//! pages for the drivers, and the boot data the loader left in RAM (`boot_data`).
//!
//! The kernel reaches physical memory through the direct map: physical `p` (RAM or MMIO below
//! [`frames::MAPPED_LIMIT`]) is at virtual [`PHYS_OFFSET`]` + p` (PML4 entry 256, set up by
//! `arch::boot`, supervisor-only). A physical address is never a pointer: [`phys_to_virt`] makes
//! one. The only other kernel addresses are the image's own (linked at its physical address,
//! 1 MiB, and kept identity-mapped below `mm::space::USER_START`), which [`virt_to_phys`] also
//! accepts. Owns `FRAMES`; never maps or unmaps pages.

pub mod boot_data;
pub mod dma;
pub mod frames;
pub mod heap;
pub(crate) mod string;

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::bootinfo::MemRegion;
use crate::sync::IrqMutex;
use frames::{FrameAllocator, FRAME_SIZE};

static FRAMES: IrqMutex<Option<FrameAllocator>> = IrqMutex::new(None);

/// Frames only the kernel heap, DMA and kernel page tables may take ([`alloc_frames`]);
/// thread stacks and programs' page tables ([`alloc_program_frames`]) stop short of them, so
/// the threads and programs a program or a peer makes cannot leave the heap unable to grow
/// (which would be a panic, not an errno). A quarter of the free frames at boot (the TCP
/// buffers' limit is a quarter of free RAM too), at least 1 MiB.
static RESERVE: AtomicUsize = AtomicUsize::new(0);
/// Smallest reserve, in frames (1 MiB), unless RAM is smaller still.
const MIN_RESERVE_FRAMES: usize = 256;
/// Program allocations refused to keep the reserve.
static RESERVE_REFUSALS: AtomicUsize = AtomicUsize::new(0);
/// Usable RAM frames at boot (`sysinfo`'s totalram).
static TOTAL_FRAMES: AtomicUsize = AtomicUsize::new(0);

extern "C" {
    /// End of the kernel image including .bss (linker.ld).
    static __kernel_end: u8;
}

/// Build the frame allocator from the memory map; the heap grows from it on first use.
pub fn init(memmap: &[MemRegion]) -> Result<(), &'static str> {
    // Only the symbol's address is taken (no read), which needs no unsafe.
    let kernel_end = core::ptr::addr_of!(__kernel_end) as u64;
    let (fa, stats) = FrameAllocator::new(memmap, kernel_end)?;
    TOTAL_FRAMES.store(stats.total_usable, Ordering::Relaxed);
    let reserve = (stats.free / 4).max(MIN_RESERVE_FRAMES.min(stats.free / 2));
    RESERVE.store(reserve, Ordering::Relaxed);
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

/// Where the direct map of physical memory starts: the first address of the upper canonical
/// half (PML4 entry 256), out of every program's reach.
pub const PHYS_OFFSET: u64 = 0xffff_8000_0000_0000;

/// The kernel virtual address at which physical address `paddr` (RAM or MMIO below
/// [`frames::MAPPED_LIMIT`]) is reached. Every access the kernel makes to memory it knows by
/// physical address (frames, page tables, DMA, boot data) goes through this.
pub fn phys_to_virt(paddr: u64) -> u64 {
    PHYS_OFFSET.wrapping_add(paddr)
}

/// The physical address behind a kernel address: one of the direct map ([`phys_to_virt`]'s
/// inverse), or one of the kernel image (statics, the boot stack), whose virtual address is its
/// physical address.
pub fn virt_to_phys(vaddr: u64) -> u64 {
    if vaddr >= PHYS_OFFSET {
        vaddr - PHYS_OFFSET
    } else {
        vaddr
    }
}

/// End of the kernel image including .bss.
pub fn kernel_end() -> u64 {
    core::ptr::addr_of!(__kernel_end) as u64
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
/// allocator: RAM below 4 GiB (direct map) that nothing else writes until it is freed.
pub fn boot_module(paddr: u64, len: u64) -> Option<&'static [u8]> {
    let end = paddr.checked_add(len)?;
    if paddr == 0 || end > frames::MAPPED_LIMIT {
        return None;
    }
    // SAFETY: the range is RAM below 4 GiB (checked above), reached through the direct map,
    // holding the boot module the loader placed there; its frames were reserved at boot, so
    // the allocator hands none of them out, and nothing writes them. The caller frees them
    // only once nothing refers to the slice (`fs::unpack` keeps them for good when files
    // live in them).
    Some(unsafe { core::slice::from_raw_parts(phys_to_virt(paddr) as *const u8, len as usize) })
}

/// Take `n` contiguous frames (not zeroed), the reserve included: for the heap, DMA and page
/// tables only.
pub fn alloc_frames(n: usize) -> Option<u64> {
    FRAMES.lock().as_mut()?.alloc(n)
}

/// Take `n` contiguous frames for what threads and programs cost (their stacks, a program's
/// own page tables), leaving the reserve (see [`RESERVE`]) free.
pub fn alloc_program_frames(n: usize) -> Option<u64> {
    alloc_above(n, RESERVE.load(Ordering::Relaxed))
}

/// A kernel cache that gives its memory back when programs run short (the socket layer's
/// spare bounce buffer); run before the heap is trimmed.
static SHRINKER: spin::Once<fn()> = spin::Once::new();

/// Register the cache [`alloc_above`] empties under memory pressure (once; later calls are
/// ignored).
pub fn set_shrinker(shrink: fn()) {
    SHRINKER.call_once(|| shrink);
}

/// Empty the registered cache, then hand the heap's empty arenas back; the frames freed.
fn reclaim() -> usize {
    if let Some(shrink) = SHRINKER.get() {
        shrink();
    }
    heap::trim()
}

/// `n` contiguous frames if `floor` frames stay free after taking them; when not, caches are
/// emptied and the heap's empty arenas handed back ([`reclaim`]), and it is tried once more.
fn alloc_above(n: usize, floor: usize) -> Option<u64> {
    let attempt = || {
        let mut g = FRAMES.lock();
        let fa = g.as_mut()?;
        if fa.free_frames().saturating_sub(n) < floor {
            return None;
        }
        fa.alloc(n)
    };
    attempt()
        .or_else(|| (reclaim() > 0).then(attempt).flatten())
        .or_else(|| {
            RESERVE_REFUSALS.fetch_add(1, Ordering::Relaxed);
            None
        })
}

/// Take `n` contiguous frames for a program's first pages, page tables or thread stacks (see
/// `mm::vma::MIN_WORKING_SET`): past [`alloc_program_frames`]'s limit, into the upper half of
/// the reserve but never the lower half, which stays the kernel heap's alone — however many
/// programs dip, the network stack can still grow its buffers.
pub fn alloc_first_program_frames(n: usize) -> Option<u64> {
    alloc_above(n, RESERVE.load(Ordering::Relaxed) / 2)
}

/// Program allocations refused so far to keep the reserve for the heap.
pub fn reserve_refusals() -> usize {
    RESERVE_REFUSALS.load(Ordering::Relaxed)
}

/// Return frames taken with `alloc_frames`.
pub fn free_frames(paddr: u64, n: usize) -> Result<(), &'static str> {
    FRAMES
        .lock()
        .as_mut()
        .ok_or("frame allocator not initialised")?
        .free(paddr, n)
}

/// Usable frames of RAM at boot.
pub fn total_frame_count() -> usize {
    TOTAL_FRAMES.load(Ordering::Relaxed)
}

/// Frames currently free.
pub fn free_frame_count() -> usize {
    FRAMES.lock().as_ref().map_or(0, |f| f.free_frames())
}

/// `n` zeroed, page-aligned, physically contiguous pages for device DMA: their physical
/// address (the kernel reaches them at [`phys_to_virt`] of it). None if no such run is free.
pub fn dma_alloc_pages(n: usize) -> Option<u64> {
    let paddr = alloc_frames(n)?;
    // SAFETY: the frames were just allocated to us; RAM reached through the direct map.
    unsafe { core::ptr::write_bytes(phys_to_virt(paddr) as *mut u8, 0, n * FRAME_SIZE as usize) };
    Some(paddr)
}

/// Give back pages from `dma_alloc_pages`. A bad address or double free is logged and ignored.
pub fn dma_free_pages(paddr: u64, n: usize) {
    if let Err(e) = free_frames(paddr, n) {
        log::error!("mem: dma_free_pages({paddr:#x}, {n}) rejected: {e}");
    }
}
