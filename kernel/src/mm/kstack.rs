//! Kernel thread stacks: frames of RAM reached through the direct map, with an unmapped guard
//! page below each (an overflow faults instead of writing the frame beneath).
//!
//! Owns every access the kernel makes to a thread stack's memory other than the thread's own
//! use of it: laying out the first frame of a thread ([`SpareStack::lay_out`], for
//! `arch::context`), the overflow canary at the lowest word, and the high-water scan at exit.
//! A stack is either a [`SpareStack`] (no thread runs on it: its memory may be written) or a
//! [`KernelStack`] (a thread's: only read, at the canary). Never hands out a stack twice.

use crate::mem::{self, frames::FRAME_SIZE};

/// Written at the lowest word of each thread stack and checked at every switch away from the
/// thread: a second overflow detector, for a stack whose guard page could not be unmapped (the
/// guard page below each stack turns an overflow into a double fault report).
const STACK_CANARY: u64 = 0x5354_4143_4b5f_4f4b;

/// Whom a new stack's frames are charged to (see `mem`'s reserve).
#[derive(Debug, Clone, Copy)]
pub enum StackFor {
    /// A kernel thread (the network poll thread above all): what the reserve is kept for.
    Kernel,
    /// A thread of a program; `small`: one of its first threads, which may dip into the
    /// reserve as a program's first pages may (`mm::vma`), so a small server keeps serving
    /// when network traffic has grown the kernel heap into the reserve.
    Program { small: bool },
}

/// A stack no thread runs on: fresh from the allocator, or left by a thread that ended.
/// Owns its frames (and the guard frame below them) until [`SpareStack::free`].
#[derive(Debug)]
pub struct SpareStack {
    /// Lowest usable address (direct map), one frame above the guard page.
    base: u64,
    frames: usize,
}

/// The stack a thread runs on (made by [`SpareStack::lay_out`]).
#[derive(Debug)]
pub struct KernelStack {
    base: u64,
    frames: usize,
}

impl SpareStack {
    /// Take `frames` frames plus a guard frame below them and unmap the guard page (if that
    /// fails the stack still works, guarded only by the canary; logged with `name`).
    pub fn alloc(frames: usize, charge: StackFor, name: &str) -> Result<Self, &'static str> {
        let guard = match charge {
            StackFor::Kernel => mem::alloc_frames(frames + 1),
            StackFor::Program { small } => mem::alloc_program_frames(frames + 1).or_else(|| {
                small
                    .then(|| mem::alloc_first_program_frames(frames + 1))
                    .flatten()
            }),
        }
        .ok_or("no frames for a kernel stack")?;
        if let Err(e) = crate::arch::paging::unmap_guard(guard) {
            log::debug!("sched: no guard page for thread {name}: {e}");
        }
        Ok(SpareStack {
            base: mem::phys_to_virt(guard + FRAME_SIZE),
            frames,
        })
    }

    /// Usable frames (the guard aside).
    pub fn frames(&self) -> usize {
        self.frames
    }

    /// Give the frames back to the allocator (the guard page mapped again first).
    pub fn free(self) {
        let guard = mem::virt_to_phys(self.base) - FRAME_SIZE;
        crate::arch::paging::remap_guard(guard);
        let _ = mem::free_frames(guard, self.frames + 1);
    }

    /// Make this the stack of a new thread: zero it if `zero` (so [`SpareStack::high_water`]
    /// can measure it at exit), write the canary at its lowest word, and `words` ending 16
    /// bytes below its top. Returns the stack and the address of `words[0]` (the new thread's
    /// first stack pointer).
    pub fn lay_out(self, zero: bool, words: &[u64]) -> (KernelStack, u64) {
        let top = self.base + self.frames as u64 * FRAME_SIZE;
        let rsp = top - 16 - 8 * words.len() as u64;
        assert!(rsp >= self.base + 8, "initial frame larger than the stack");
        // SAFETY: the frames are this value's alone (taken from the allocator for it, or left
        // by a thread that ended: no thread runs on them) and are RAM reached through the
        // direct map; every write stays inside [base, top) (checked above).
        unsafe {
            if zero {
                core::ptr::write_bytes(self.base as *mut u8, 0, (top - self.base) as usize);
            }
            core::ptr::write_volatile(self.base as *mut u64, STACK_CANARY);
            for (i, w) in words.iter().enumerate() {
                core::ptr::write_volatile((rsp + 8 * i as u64) as *mut u64, *w);
            }
        }
        (
            KernelStack {
                base: self.base,
                frames: self.frames,
            },
            rsp,
        )
    }

    /// Bytes of the stack ever written since it was zeroed by [`SpareStack::lay_out`]: the
    /// lowest non-zero word above the canary marks the deepest point (an estimate: a frame
    /// may store zeros). Meaningless unless it was laid out with `zero`.
    pub fn high_water(&self) -> usize {
        let top = self.base + self.frames as u64 * FRAME_SIZE;
        let mut p = self.base + 8;
        while p < top {
            // SAFETY: the stack's own frames, still allocated and mapped (direct map); no
            // thread runs on a spare stack.
            if unsafe { core::ptr::read_volatile(p as *const u64) } != 0 {
                break;
            }
            p += 8;
        }
        (top - p) as usize
    }
}

impl KernelStack {
    /// One past the highest address (the stack pointer of an empty stack).
    pub fn top(&self) -> u64 {
        self.base + self.frames as u64 * FRAME_SIZE
    }

    /// Whether the canary at the stack's lowest word is still there (no overflow reached it).
    pub fn canary_intact(&self) -> bool {
        // SAFETY: the lowest word of this stack's own frames (allocated, direct map); a
        // volatile read of a word no Rust reference covers (the thread's frames live above).
        unsafe { core::ptr::read_volatile(self.base as *const u64) == STACK_CANARY }
    }

    /// The thread that ran on this stack has ended (the scheduler reaps only dead threads):
    /// its frames may be reused or freed.
    pub fn retire(self) -> SpareStack {
        SpareStack {
            base: self.base,
            frames: self.frames,
        }
    }
}
