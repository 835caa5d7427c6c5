//! A program's memory: its address space (`mm::space`) and the ring-3 stacks mapped in it,
//! one slot per thread. A stack of an ended thread is kept for the next thread (up to
//! [`POOL_KEEP`]) or unmapped and freed — but only while no system call of the program is
//! running that may hold a pointer into it (a system call checks a pointer once, then uses
//! it); otherwise it stays mapped. Everything goes back to the frame allocator with the space
//! when the program is dropped.
//!
//! Its threads' kernel stacks are kept the same way (in the kernel half, with their guard
//! pages), so a program can always have again as many threads as it once had.
//!
//! Owns the stack frames and slots of one program; never maps one program's frames into
//! another's space.

use alloc::vec::Vec;

use crate::mem::{self, frames::FRAME_SIZE};
use crate::mm::space::{AddressSpace, MAX_SLOTS};
use crate::mm::vma::MemoryMap;
use crate::process::USER_STACK_FRAMES;

/// Stacks (ring-3 and kernel) a program keeps from its ended threads for its next ones: a
/// server that had a few connection threads gets new ones without the frame allocator.
pub const POOL_KEEP: usize = 4;

/// A ring-3 stack: its slot in the space and its frames.
#[derive(Clone, Copy, Debug)]
pub struct UserStack {
    pub slot: usize,
    /// Physical address of the lowest stack frame (also its kernel alias).
    pub paddr: u64,
}

impl UserStack {
    /// User address of the lowest stack byte.
    pub fn bottom(&self) -> u64 {
        AddressSpace::slot_bottom(self.slot)
    }

    /// User address just above the stack.
    pub fn top(&self) -> u64 {
        self.bottom() + USER_STACK_FRAMES as u64 * FRAME_SIZE
    }
}

pub struct ProgramMemory {
    /// Ranges from `execve`, `brk` and `mmap` (ELF programs; built-in programs have none).
    map: MemoryMap,
    space: AddressSpace,
    free: Vec<UserStack>,
    used: Vec<UserStack>,
    next_slot: usize,
    /// Slots whose stack was unmapped and freed, for reuse.
    free_slots: Vec<usize>,
    /// Kernel stacks of the program's ended threads (their guard page's address, still
    /// unmapped), reused by its next threads: a program that had N threads can have N again
    /// even when the kernel heap has since taken every other frame.
    kernel_stacks: Vec<u64>,
}

impl ProgramMemory {
    pub fn new() -> Result<Self, &'static str> {
        Ok(ProgramMemory {
            map: MemoryMap::default(),
            space: AddressSpace::new()?,
            free: Vec::new(),
            used: Vec::new(),
            next_slot: 0,
            free_slots: Vec::new(),
            kernel_stacks: Vec::new(),
        })
    }

    /// The address space and the memory map, to change both.
    pub fn parts(&mut self) -> (&mut AddressSpace, &mut MemoryMap) {
        (&mut self.space, &mut self.map)
    }

    /// The memory map.
    pub fn map(&self) -> &MemoryMap {
        &self.map
    }

    /// The space's CR3 value.
    pub fn root(&self) -> u64 {
        self.space.root()
    }

    /// A stack for a new thread: an ended thread's, or fresh frames mapped in a new slot.
    /// None when the slots or the frames (beyond the heap's reserve) are used up.
    pub fn take_stack(&mut self) -> Option<UserStack> {
        if let Some(s) = self.free.pop() {
            self.used.push(s);
            return Some(s);
        }
        let slot = match self.free_slots.last() {
            Some(&slot) => slot,
            None if self.next_slot < MAX_SLOTS => self.next_slot,
            None => return None,
        };
        let paddr = mem::alloc_program_frames(USER_STACK_FRAMES)?;
        let s = UserStack { slot, paddr };
        if let Err(e) = self
            .space
            .map_stack(s.bottom(), paddr, USER_STACK_FRAMES as u64)
        {
            log::error!("program: cannot map a user stack: {e}");
            // Take back what was mapped before the frames are freed.
            self.space.unmap(s.bottom(), USER_STACK_FRAMES as u64);
            let _ = mem::free_frames(paddr, USER_STACK_FRAMES);
            return None;
        }
        if self.free_slots.last() == Some(&slot) {
            self.free_slots.pop();
        } else {
            self.next_slot += 1;
        }
        self.used.push(s);
        Some(s)
    }

    /// A kernel stack an ended thread of this program left (guard page address), if any.
    pub fn take_kernel_stack(&mut self) -> Option<u64> {
        self.kernel_stacks.pop()
    }

    /// Keep an ended thread's kernel stack (guard page at `guard`, still unmapped), unless
    /// [`POOL_KEEP`] are kept already: then it is returned, for the caller to free.
    pub fn release_kernel_stack(&mut self, guard: u64) -> Option<u64> {
        if self.kernel_stacks.len() >= POOL_KEEP {
            return Some(guard);
        }
        self.kernel_stacks.push(guard);
        None
    }

    /// The thread using the stack at `paddr` ended: keep the stack for the next thread.
    /// `referenced`: a system call of the program may hold a pointer into it, so it must stay
    /// mapped; else beyond [`POOL_KEEP`] kept stacks it is unmapped and its frames freed.
    pub fn release_stack(&mut self, paddr: u64, referenced: bool) {
        let Some(i) = self.used.iter().position(|s| s.paddr == paddr) else {
            return;
        };
        let s = self.used.swap_remove(i);
        if referenced || self.free.len() < POOL_KEEP {
            self.free.push(s);
            return;
        }
        self.space.unmap(s.bottom(), USER_STACK_FRAMES as u64);
        let _ = mem::free_frames(s.paddr, USER_STACK_FRAMES);
        self.free_slots.push(s.slot);
    }
}

impl Drop for ProgramMemory {
    fn drop(&mut self) {
        self.map.clear(&mut self.space);
        // No thread of the program is left (the last one held the program alive), so nothing
        // runs in the space any more; its tables go with `space` right after this.
        for s in self.free.drain(..).chain(self.used.drain(..)) {
            let _ = mem::free_frames(s.paddr, USER_STACK_FRAMES);
        }
        for guard in self.kernel_stacks.drain(..) {
            crate::sched::free_kernel_stack(guard, crate::sched::USER_THREAD_KERNEL_STACK_FRAMES);
        }
    }
}
