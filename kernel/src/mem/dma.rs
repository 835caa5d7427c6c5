//! DMA pages held as a value: zeroed, physically contiguous frames from [`super::dma_alloc_pages`]
//! whose bytes the owner reaches as a slice, given back when the value is dropped.
//!
//! Owns the frames of each [`DmaPages`] from allocation to drop; never hands out a slice that
//! outlives them.

use super::frames::FRAME_SIZE;
use super::{dma_alloc_pages, dma_free_pages, phys_to_virt};

/// `n` zeroed, page-aligned, physically contiguous pages, freed on drop.
#[derive(Debug)]
pub struct DmaPages {
    paddr: u64,
    n: usize,
}

impl DmaPages {
    /// Take `n` pages ([`dma_alloc_pages`]); None if no such run is free.
    pub fn alloc(n: usize) -> Option<Self> {
        let paddr = dma_alloc_pages(n)?;
        Some(DmaPages { paddr, n })
    }

    /// Their physical address (what a device is given).
    pub fn paddr(&self) -> u64 {
        self.paddr
    }

    /// Their bytes.
    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the frames were allocated to this value and stay so until it drops; RAM
        // reached through the direct map; the borrow of `self` keeps them for the slice's life.
        unsafe { core::slice::from_raw_parts(phys_to_virt(self.paddr) as *const u8, self.len()) }
    }

    /// Their bytes, to write.
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`; `&mut self` makes this the only slice over them.
        unsafe { core::slice::from_raw_parts_mut(phys_to_virt(self.paddr) as *mut u8, self.len()) }
    }

    fn len(&self) -> usize {
        self.n * FRAME_SIZE as usize
    }
}

impl Drop for DmaPages {
    fn drop(&mut self) {
        dma_free_pages(self.paddr, self.n);
    }
}
