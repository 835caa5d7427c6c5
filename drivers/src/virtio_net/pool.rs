//! The driver's DMA buffers: a pool of equal buffers in one run of DMA pages, and a fixed-size
//! stack of free buffer numbers.
//!
//! Owns the pages from the kernel's DMA allocator and gives them back on drop; hands out views
//! of one buffer at a time. Never decides who owns a buffer (the driver's token bookkeeping
//! does) and never allocates from the heap.

use crate::hal::{self, PAGE_SIZE};

/// `count` buffers of `size` bytes in one run of DMA pages (`base`: physical).
pub(super) struct BufPool {
    base: u64,
    pages: usize,
    size: usize,
}

impl BufPool {
    pub(super) fn new(count: usize, size: usize) -> Option<BufPool> {
        let pages = (count * size).div_ceil(PAGE_SIZE);
        let base = hal::dma_alloc(pages)?;
        Some(BufPool { base, pages, size })
    }

    /// Buffer `i`'s bytes. `i` is always below the pool's count (callers index with buffer
    /// numbers they got from this pool's bookkeeping).
    pub(super) fn buf(&mut self, i: usize) -> &mut [u8] {
        assert!((i + 1) * self.size <= self.pages * PAGE_SIZE);
        // SAFETY: the pool exclusively owns `pages` DMA pages from physical `base`, reached at
        // their kernel address; buffer `i` lies inside them (asserted), and the `&mut self`
        // borrow keeps this the only CPU-side view. The device may own the buffer at the same time only between the
        // driver adding it to a queue and taking it back from the used ring, during which the
        // driver does not touch it.
        unsafe {
            core::slice::from_raw_parts_mut(
                (hal::phys_to_virt(self.base) as usize + i * self.size) as *mut u8,
                self.size,
            )
        }
    }
}

impl Drop for BufPool {
    fn drop(&mut self) {
        hal::dma_free(self.base, self.pages);
    }
}

/// A stack of free buffer numbers `0..N`.
pub(super) struct FreeList<const N: usize> {
    ids: [u16; N],
    len: usize,
}

impl<const N: usize> FreeList<N> {
    /// Every buffer free.
    pub(super) fn full() -> Self {
        FreeList {
            ids: core::array::from_fn(|i| i as u16),
            len: N,
        }
    }

    /// Only `0..n` free (`n` at most `N`): a pool smaller than the list.
    pub(super) fn first(n: usize) -> Self {
        FreeList {
            ids: core::array::from_fn(|i| i as u16),
            len: n.min(N),
        }
    }

    pub(super) fn pop(&mut self) -> Option<u16> {
        self.len = self.len.checked_sub(1)?;
        Some(self.ids[self.len])
    }

    /// Gives buffer `id` back; ignored if the list is already full (a double completion).
    pub(super) fn push(&mut self, id: u16) {
        if let Some(slot) = self.ids.get_mut(self.len) {
            *slot = id;
            self.len += 1;
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }
}
