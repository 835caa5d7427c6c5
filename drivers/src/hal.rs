//! The bridge between virtio-drivers' `Hal` trait and the kernel's memory: its DMA page
//! allocator and where it sees physical memory.
//!
//! The kernel registers both once with [`set_mem_ops`]. Devices work with physical addresses,
//! the CPU with the kernel's virtual ones: [`phys_to_virt`] gives the pointer to a DMA page or
//! an MMIO register, [`virt_to_phys`] the bus address of a buffer handed to a device. Owns no
//! memory itself; must never be used before `set_mem_ops` (until then addresses are taken as
//! identity, which is what the host tests want).

use core::ptr::NonNull;

use spin::Once;
use virtio_drivers::{BufferDirection, Hal, PhysAddr};

/// Page size the DMA allocator works in (virtio-drivers' `PAGE_SIZE`).
pub const PAGE_SIZE: usize = 4096;

/// What the kernel tells the drivers about memory.
#[derive(Clone, Copy)]
pub struct MemOps {
    /// `n` zeroed, physically contiguous pages: their physical address.
    pub alloc: fn(usize) -> Option<u64>,
    /// Give back pages from `alloc` (physical address, count).
    pub free: fn(u64, usize),
    /// The kernel address at which a physical address (RAM or MMIO below 4 GiB) is reached.
    pub phys_to_virt: fn(u64) -> u64,
    /// The physical address behind a kernel address (heap, stacks, statics, DMA pages).
    pub virt_to_phys: fn(u64) -> u64,
}

static MEM_OPS: Once<MemOps> = Once::new();

/// Registers the kernel's memory operations. Only the first call has an effect.
pub fn set_mem_ops(ops: MemOps) {
    MEM_OPS.call_once(|| ops);
}

/// Allocates `pages` zeroed contiguous pages: their physical address; `None` if no allocator
/// is registered or it is out of memory.
pub fn dma_alloc(pages: usize) -> Option<u64> {
    let ops = MEM_OPS.get()?;
    (ops.alloc)(pages).filter(|&p| p != 0)
}

/// Frees pages obtained from [`dma_alloc`].
pub fn dma_free(paddr: u64, pages: usize) {
    if let Some(ops) = MEM_OPS.get() {
        (ops.free)(paddr, pages);
    }
}

/// The kernel address of physical address `paddr` (identity before [`set_mem_ops`]).
pub fn phys_to_virt(paddr: u64) -> u64 {
    MEM_OPS.get().map_or(paddr, |ops| (ops.phys_to_virt)(paddr))
}

/// The physical address of kernel address `vaddr` (identity before [`set_mem_ops`]).
pub fn virt_to_phys(vaddr: u64) -> u64 {
    MEM_OPS.get().map_or(vaddr, |ops| (ops.virt_to_phys)(vaddr))
}

/// virtio-drivers' view of the kernel: DMA through the registered allocator, every address
/// translated by the registered operations.
pub struct KernelHal;

// SAFETY: `dma_alloc` returns page-aligned, zeroed, exclusively owned memory from the kernel's
// allocator (or the null physical address 0, which virtio-drivers treats as failure), and the
// pointer is its kernel address (`phys_to_virt`). `mmio_phys_to_virt` gives the kernel address
// of a device region below 4 GiB, and `share` the physical address behind a kernel buffer.
unsafe impl Hal for KernelHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        match dma_alloc(pages) {
            Some(paddr) => match NonNull::new(phys_to_virt(paddr) as usize as *mut u8) {
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
        // Every MMIO region below 4 GiB is in the kernel's map of physical memory.
        NonNull::new(phys_to_virt(paddr) as usize as *mut u8).unwrap_or(NonNull::dangling())
    }

    unsafe fn share(buffer: NonNull<[u8]>, _direction: BufferDirection) -> PhysAddr {
        virt_to_phys(buffer.as_ptr().cast::<u8>() as usize as u64)
    }

    unsafe fn unshare(_paddr: PhysAddr, _buffer: NonNull<[u8]>, _direction: BufferDirection) {}
}
