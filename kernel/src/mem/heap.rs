//! The kernel heap: talc, growing on demand. It starts empty; whenever talc runs out, the OOM
//! handler takes a contiguous run of frames (at least `GROW_FRAMES`) from the frame allocator
//! and claims it as another heap arena. Memory is never returned to the frame allocator.
//!
//! Owns the `#[global_allocator]`. The lock masks interrupts, but interrupt handlers still must
//! not allocate (see `arch::irq`).

use core::alloc::Layout;
use core::sync::atomic::{AtomicUsize, Ordering};

use talc::{OomHandler, Span, Talc, Talck};

use super::frames::FRAME_SIZE;
use crate::sync::IrqRawMutex;

/// Smallest growth step: 256 KiB, so small allocations do not each cost an arena header.
const GROW_FRAMES: usize = 64;
/// Room for talc's per-arena bookkeeping and its metadata in the first arena (~1 KiB).
const ARENA_OVERHEAD: usize = 2048;

static HEAP_BYTES: AtomicUsize = AtomicUsize::new(0);

struct GrowFromFrames;

impl OomHandler for GrowFromFrames {
    fn handle_oom(talc: &mut Talc<Self>, layout: Layout) -> Result<(), ()> {
        let need = layout.size() + layout.align() + ARENA_OVERHEAD;
        let need_frames = need.div_ceil(FRAME_SIZE as usize);
        let (paddr, frames) = match super::alloc_frames(need_frames.max(GROW_FRAMES)) {
            Some(p) => (p, need_frames.max(GROW_FRAMES)),
            None => (super::alloc_frames(need_frames).ok_or(())?, need_frames),
        };
        let bytes = frames * FRAME_SIZE as usize;
        let base = super::phys_to_virt(paddr) as *mut u8;
        // SAFETY: the frames were just taken from the frame allocator, so nobody else uses
        // them; they are RAM below 4 GiB reached through the direct map (never a null
        // pointer: the direct map starts in the upper half).
        unsafe { talc.claim(Span::from_base_size(base, bytes)) }?;
        HEAP_BYTES.fetch_add(bytes, Ordering::Relaxed);
        log::debug!("heap: grew by {} KiB at {paddr:#x}", bytes / 1024);
        Ok(())
    }
}

#[global_allocator]
static ALLOCATOR: Talck<IrqRawMutex, GrowFromFrames> = Talc::new(GrowFromFrames).lock();

/// Bytes of RAM claimed by the heap so far.
pub fn heap_bytes() -> usize {
    HEAP_BYTES.load(Ordering::Relaxed)
}
