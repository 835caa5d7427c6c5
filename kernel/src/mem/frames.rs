//! The physical frame allocator: one bit per 4 KiB frame (1 = free) from physical address 0 up
//! to the end of the highest usable RAM below 4 GiB. Only RAM ranges of the memory map (type 1)
//! above the kernel image become free; everything else stays allocated forever.
//!
//! Owns the bitmap (placed in the first usable range large enough). Hands out physically
//! contiguous runs of frames; never hands out a frame twice, and refuses to free a frame that
//! is already free.

use crate::bootinfo::{MemRegion, MEM_TYPE_RAM};

pub const FRAME_SIZE: u64 = 4096;
/// The boot page tables (direct map) cover only the first 4 GiB; RAM above it is ignored.
pub const MAPPED_LIMIT: u64 = 1 << 32;

pub struct FrameAllocator {
    /// One bit per frame, frame `i` is bit `i % 64` of word `i / 64`.
    bitmap: &'static mut [u64],
    frames: usize,
    free: usize,
    /// Where the next search starts: just after the last allocation, or the lowest frame
    /// freed since, whichever is lower (see [`FrameAllocator::free`]).
    hint: usize,
}

#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub total_usable: usize,
    pub free: usize,
    pub bitmap_paddr: u64,
    pub bitmap_bytes: usize,
}

fn align_up(x: u64) -> u64 {
    x.div_ceil(FRAME_SIZE) * FRAME_SIZE
}

fn align_down(x: u64) -> u64 {
    x / FRAME_SIZE * FRAME_SIZE
}

/// Frame-aligned part of `r` usable by the allocator: RAM, above `reserved_end`, below 4 GiB.
fn usable(r: &MemRegion, reserved_end: u64) -> Option<(u64, u64)> {
    if r.kind != MEM_TYPE_RAM {
        return None;
    }
    let start = align_up(r.addr.max(reserved_end));
    let end = align_down(r.addr.saturating_add(r.size).min(MAPPED_LIMIT));
    (start < end).then_some((start, end))
}

impl FrameAllocator {
    /// Build the allocator over `memmap`, keeping everything below `reserved_end` (the kernel
    /// image and the boot structures) out of it.
    pub fn new(memmap: &[MemRegion], reserved_end: u64) -> Result<(Self, Stats), &'static str> {
        let top = memmap
            .iter()
            .filter_map(|r| usable(r, reserved_end))
            .map(|(_, end)| end)
            .max()
            .ok_or("no usable RAM above the kernel image in the memory map")?;
        let frames = (top / FRAME_SIZE) as usize;
        let words = frames.div_ceil(64);
        let bitmap_bytes = align_up(words as u64 * 8);
        let bitmap_paddr = memmap
            .iter()
            .filter_map(|r| usable(r, reserved_end))
            .find(|(s, e)| e - s > bitmap_bytes)
            .map(|(s, _)| s)
            .ok_or("no RAM range large enough for the frame bitmap")?;
        let bitmap_vaddr = super::phys_to_virt(bitmap_paddr);
        // SAFETY: [bitmap_paddr, +bitmap_bytes) is usable RAM above the kernel image, below
        // 4 GiB (reached through the direct map), not yet handed to anyone; it is excluded from
        // the free frames below, so it is ours forever.
        let bitmap = unsafe {
            core::ptr::write_bytes(bitmap_vaddr as *mut u8, 0, bitmap_bytes as usize);
            core::slice::from_raw_parts_mut(bitmap_vaddr as *mut u64, words)
        };
        let mut fa = FrameAllocator {
            bitmap,
            frames,
            free: 0,
            hint: 0,
        };
        let (bitmap_first, bitmap_end) = (
            (bitmap_paddr / FRAME_SIZE) as usize,
            ((bitmap_paddr + bitmap_bytes) / FRAME_SIZE) as usize,
        );
        for (start, end) in memmap.iter().filter_map(|r| usable(r, reserved_end)) {
            let (first, end) = ((start / FRAME_SIZE) as usize, (end / FRAME_SIZE) as usize);
            // The range around the bitmap's own frames.
            fa.set_range_free(first, end.min(bitmap_first));
            fa.set_range_free(first.max(bitmap_end), end);
        }
        let stats = Stats {
            total_usable: fa.free,
            free: fa.free,
            bitmap_paddr,
            bitmap_bytes: bitmap_bytes as usize,
        };
        Ok((fa, stats))
    }

    fn is_free(&self, f: usize) -> bool {
        self.bitmap[f / 64] & (1 << (f % 64)) != 0
    }

    /// Mark the frames `[first, end)` free (boot: RAM the memory map offers), a bitmap word
    /// at a time where the range covers one whole (a frame at a time took 32k steps for 128
    /// MiB under TCG, a sizeable part of boot).
    fn set_range_free(&mut self, first: usize, end: usize) {
        let end = end.min(self.frames);
        let mut f = first;
        while f < end {
            if f.is_multiple_of(64) && f + 64 <= end {
                let word = &mut self.bitmap[f / 64];
                self.free += word.count_zeros() as usize;
                *word = u64::MAX;
                f += 64;
            } else {
                self.set_free(f, true);
                f += 1;
            }
        }
    }

    fn set_free(&mut self, f: usize, free: bool) {
        let was = self.is_free(f);
        if free {
            self.bitmap[f / 64] |= 1 << (f % 64);
        } else {
            self.bitmap[f / 64] &= !(1 << (f % 64));
        }
        match (was, free) {
            (false, true) => self.free += 1,
            (true, false) => self.free -= 1,
            _ => {}
        }
    }

    /// Find `n` consecutive free frames starting at or after `from` (first fit).
    fn find_run(&self, from: usize, n: usize) -> Option<usize> {
        let mut f = from;
        let mut run_start = from;
        let mut run_len = 0;
        while f < self.frames {
            if f.is_multiple_of(64) && self.bitmap[f / 64] == 0 {
                run_len = 0;
                f += 64;
                run_start = f;
                continue;
            }
            // A word of free frames (inside the bitmap) extends the run at once.
            if f.is_multiple_of(64) && f + 64 <= self.frames && self.bitmap[f / 64] == u64::MAX {
                if run_len == 0 {
                    run_start = f;
                }
                run_len += 64;
                if run_len >= n {
                    return Some(run_start);
                }
                f += 64;
                continue;
            }
            if self.is_free(f) {
                if run_len == 0 {
                    run_start = f;
                }
                run_len += 1;
                if run_len == n {
                    return Some(run_start);
                }
            } else {
                run_len = 0;
            }
            f += 1;
        }
        None
    }

    /// Allocate `n` physically contiguous frames; returns the physical address of the first.
    pub fn alloc(&mut self, n: usize) -> Option<u64> {
        if n == 0 || n > self.free {
            return None;
        }
        let start = self
            .find_run(self.hint, n)
            .or_else(|| self.find_run(0, n))?;
        for f in start..start + n {
            self.set_free(f, false);
        }
        self.hint = start + n;
        Some(start as u64 * FRAME_SIZE)
    }

    /// Return `n` frames starting at `paddr`. Rejects unaligned addresses, frames outside the
    /// bitmap and frames that are already free (a double free), changing nothing.
    pub fn free(&mut self, paddr: u64, n: usize) -> Result<(), &'static str> {
        if !paddr.is_multiple_of(FRAME_SIZE) {
            return Err("address is not frame-aligned");
        }
        let first = (paddr / FRAME_SIZE) as usize;
        let end = first.checked_add(n).ok_or("frame count overflows")?;
        if end > self.frames {
            return Err("frames outside the allocator's range");
        }
        if (first..end).any(|f| self.is_free(f)) {
            return Err("frame already free (double free)");
        }
        for f in first..end {
            self.set_free(f, true);
        }
        // Freed frames are handed out again first, lowest first, rather than the search
        // sweeping on through RAM nobody has touched yet: the memory a guest has touched stays
        // as small as its peak use. The host backs only what was touched, and under
        // transparent huge pages every newly touched 2 MiB of guest RAM costs it a zeroed huge
        // page (on this project's VMs, milliseconds each).
        self.hint = self.hint.min(first);
        Ok(())
    }

    pub fn free_frames(&self) -> usize {
        self.free
    }

    /// Takes the frames overlapping `[paddr, paddr + len)` out of the free set (boot data the
    /// loader put in RAM, such as the initramfs); frames outside the bitmap are ignored.
    /// Returns how many frames were taken.
    pub fn reserve(&mut self, paddr: u64, len: u64) -> usize {
        let first = (paddr / FRAME_SIZE) as usize;
        let end = (align_up(paddr.saturating_add(len)) / FRAME_SIZE) as usize;
        let mut taken = 0;
        for f in first..end.min(self.frames) {
            if self.is_free(f) {
                self.set_free(f, false);
                taken += 1;
            }
        }
        taken
    }
}
