//! The kernel heap: talc, growing on demand. It starts empty; whenever talc runs out, the OOM
//! handler takes a contiguous run of frames (at least `GROW_FRAMES`) from the frame allocator
//! and claims it as another heap arena. [`trim`] hands arenas that have become empty back to
//! the frame allocator (all but the first, which holds talc's metadata): when a program or a
//! thread stack cannot be had, and when a program ends, so that memory a burst of sockets or
//! buffers took is not lost to programs for good.
//!
//! Owns the `#[global_allocator]`. The lock masks interrupts, but interrupt handlers still must
//! not allocate (see `arch::irq`).

use core::alloc::Layout;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use talc::{OomHandler, Span, Talc, Talck};

use super::frames::FRAME_SIZE;
use crate::sync::{IrqMutex, IrqRawMutex};

/// Smallest growth step: 256 KiB, so small allocations do not each cost an arena header.
const GROW_FRAMES: usize = 64;
/// Room for talc's per-arena bookkeeping and its metadata in the first arena (~1 KiB).
const ARENA_OVERHEAD: usize = 2048;

static HEAP_BYTES: AtomicUsize = AtomicUsize::new(0);

/// An arena claimed from the frame allocator: talc's span (`base`..`acme`) inside the run of
/// `frames` frames at `paddr`.
#[derive(Clone, Copy)]
struct Arena {
    base: usize,
    acme: usize,
    paddr: u64,
    frames: usize,
}

impl Arena {
    fn span(&self) -> Span {
        Span::new(self.base as *mut u8, self.acme as *mut u8)
    }
}

/// Arenas tracked for [`trim`]; one claimed while the table is full is simply kept for good.
const MAX_ARENAS: usize = 256;
/// Set once the first arena (talc's metadata) is claimed.
static METADATA_ARENA: AtomicBool = AtomicBool::new(false);
/// Taken only with the allocator's lock held (in `handle_oom` and [`trim`]), after it.
static ARENAS: IrqMutex<[Option<Arena>; MAX_ARENAS]> = IrqMutex::new([None; MAX_ARENAS]);

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
        let span = match unsafe { talc.claim(Span::from_base_size(base, bytes)) } {
            Ok(span) => span,
            Err(()) => {
                let _ = super::free_frames(paddr, frames);
                return Err(());
            }
        };
        HEAP_BYTES.fetch_add(bytes, Ordering::Relaxed);
        // The first arena holds talc's metadata: kept for good, so never tracked.
        if !METADATA_ARENA.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        if let (Some((base, acme)), Some(slot)) = (
            span.get_base_acme(),
            ARENAS.lock().iter_mut().find(|a| a.is_none()),
        ) {
            *slot = Some(Arena {
                base: base as usize,
                acme: acme as usize,
                paddr,
                frames,
            });
        }
        // No logging here: it could allocate, and the allocator's lock is held.
        Ok(())
    }
}

#[global_allocator]
static ALLOCATOR: Talck<IrqRawMutex, GrowFromFrames> = Talc::new(GrowFromFrames).lock();

/// Hand every empty arena but the first back to the frame allocator; the frames freed.
pub fn trim() -> usize {
    let mut emptied = [None; MAX_ARENAS];
    {
        let mut talc = ALLOCATOR.lock();
        let mut arenas = ARENAS.lock();
        for (slot, out) in arenas.iter_mut().zip(emptied.iter_mut()) {
            let Some(arena) = *slot else { continue };
            // SAFETY: `span` is what `claim` returned for this arena, which is still a heap
            // of this allocator (it leaves the table when truncated); the lock is held, so
            // nothing is allocated in it between the check and the truncation.
            let empty = unsafe { talc.get_allocated_span(arena.span()) }.is_empty();
            if empty {
                // SAFETY: as above; truncating to nothing is valid for an arena with no
                // allocation in it, and talc no longer touches its memory afterwards.
                unsafe { talc.truncate(arena.span(), Span::empty()) };
                *slot = None;
                *out = Some(arena);
            }
        }
    }
    let mut freed = 0;
    for arena in emptied.iter().flatten() {
        if super::free_frames(arena.paddr, arena.frames).is_ok() {
            freed += arena.frames;
            HEAP_BYTES.fetch_sub(arena.frames * FRAME_SIZE as usize, Ordering::Relaxed);
        }
    }
    if freed > 0 {
        log::debug!(
            "heap: {} KiB handed back",
            freed * FRAME_SIZE as usize / 1024
        );
    }
    freed
}

/// Bytes of RAM claimed by the heap so far.
pub fn heap_bytes() -> usize {
    HEAP_BYTES.load(Ordering::Relaxed)
}
