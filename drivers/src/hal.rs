//! The bridge between virtio-drivers' `Hal` trait and the kernel's DMA page allocator.
//!
//! The kernel registers its allocator once with [`set_dma_ops`]; memory is identity mapped
//! (physical == virtual) in the first 4 GiB, so sharing a buffer with the device is just taking
//! its address. Owns no memory itself; must never be used before `set_dma_ops`.

use core::ptr::NonNull;

use spin::Once;
use virtio_drivers::{BufferDirection, Hal, PhysAddr};

/// Page size the DMA allocator works in (virtio-drivers' `PAGE_SIZE`).
pub const PAGE_SIZE: usize = 4096;

/// The kernel's DMA allocator: contiguous, zeroed, identity-mapped pages.
#[derive(Clone, Copy)]
struct DmaOps {
    alloc: fn(usize) -> Option<u64>,
    free: fn(u64, usize),
}

static DMA_OPS: Once<DmaOps> = Once::new();

/// Registers the kernel's DMA page allocator. `alloc(n)` returns the physical (== virtual)
/// address of `n` zeroed contiguous pages; `free(paddr, n)` gives them back. Only the first call
/// has an effect.
pub fn set_dma_ops(alloc: fn(usize) -> Option<u64>, free: fn(u64, usize)) {
    DMA_OPS.call_once(|| DmaOps { alloc, free });
}

/// Allocates `pages` zeroed contiguous pages; `None` if no allocator is registered or it is out
/// of memory.
pub fn dma_alloc(pages: usize) -> Option<u64> {
    let ops = DMA_OPS.get()?;
    (ops.alloc)(pages).filter(|&p| p != 0)
}

/// Frees pages obtained from [`dma_alloc`].
pub fn dma_free(paddr: u64, pages: usize) {
    if let Some(ops) = DMA_OPS.get() {
        (ops.free)(paddr, pages);
    }
}

/// virtio-drivers' view of the kernel: identity-mapped DMA through the registered allocator.
pub struct KernelHal;

// SAFETY: `dma_alloc` returns page-aligned, zeroed, exclusively owned memory from the kernel's
// allocator (or the null physical address 0, which virtio-drivers treats as failure), and the
// pointer is valid because physical == virtual for all of it. `mmio_phys_to_virt` and `share`
// rely on the same identity mapping.
unsafe impl Hal for KernelHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        match dma_alloc(pages) {
            Some(paddr) => match NonNull::new(paddr as usize as *mut u8) {
                Some(vaddr) => (paddr, vaddr),
                None => (0, NonNull::dangling()),
            },
            None => (0, NonNull::dangling()),
        }
    }

    unsafe fn dma_dealloc(paddr: PhysAddr, _vaddr: NonNull<u8>, pages: usize) -> i32 {
        dma_free(paddr, pages);
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, _size: usize) -> NonNull<u8> {
        // Identity mapping: every MMIO region below 4 GiB is reachable at its physical address.
        NonNull::new(paddr as usize as *mut u8).unwrap_or(NonNull::dangling())
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        buffer.as_ptr().cast::<u8>() as usize as PhysAddr
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}
