//! A program's memory: its address space (`mm::space`) and the ring-3 stacks mapped in it,
//! one slot per thread. A stack of an ended thread stays mapped and is reused by the next
//! thread; all of them go back to the frame allocator with the space when the program is
//! dropped — a stack stays the program's memory as long as any of its threads might hold a
//! pointer into it (a system call checks a pointer once, then uses it).
//!
//! Its threads' kernel stacks are kept the same way (in the kernel half, with their guard
//! pages), so a program can always have again as many threads as it once had.
//!
//! Owns the stack frames and slots of one program; never maps one program's frames into
//! another's space.

use alloc::vec::Vec;

use crate::mem::{self, frames::FRAME_SIZE};
use crate::mm::space::{AddressSpace, MAX_SLOTS};
use crate::process::USER_STACK_FRAMES;

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
    space: AddressSpace,
    free: Vec<UserStack>,
    used: Vec<UserStack>,
    next_slot: usize,
    /// Kernel stacks of the program's ended threads (their guard page's address, still
    /// unmapped), reused by its next threads: a program that had N threads can have N again
    /// even when the kernel heap has since taken every other frame.
    kernel_stacks: Vec<u64>,
}

impl ProgramMemory {
    pub fn new() -> Result<Self, &'static str> {
        Ok(ProgramMemory {
            space: AddressSpace::new()?,
            free: Vec::new(),
            used: Vec::new(),
            next_slot: 0,
            kernel_stacks: Vec::new(),
        })
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
        if self.next_slot >= MAX_SLOTS {
            return None;
        }
        let paddr = mem::alloc_program_frames(USER_STACK_FRAMES)?;
        let s = UserStack {
            slot: self.next_slot,
            paddr,
        };
        if let Err(e) = self
            .space
            .map_stack(s.bottom(), paddr, USER_STACK_FRAMES as u64)
        {
            log::error!("program: cannot map a user stack: {e}");
            // Not reachable by the program unless mapped; the slot is not reused, so a
            // partial mapping never aliases later frames.
            self.next_slot += 1;
            let _ = mem::free_frames(paddr, USER_STACK_FRAMES);
            return None;
        }
        self.next_slot += 1;
        self.used.push(s);
        Some(s)
    }

    /// A kernel stack an ended thread of this program left (guard page address), if any.
    pub fn take_kernel_stack(&mut self) -> Option<u64> {
        self.kernel_stacks.pop()
    }

    /// Keep an ended thread's kernel stack (guard page at `guard`, still unmapped).
    pub fn release_kernel_stack(&mut self, guard: u64) {
        self.kernel_stacks.push(guard);
    }

    /// The thread using the stack at `paddr` ended: keep the stack for the next thread.
    pub fn release_stack(&mut self, paddr: u64) {
        if let Some(i) = self.used.iter().position(|s| s.paddr == paddr) {
            let s = self.used.swap_remove(i);
            self.free.push(s);
        }
    }
}

impl Drop for ProgramMemory {
    fn drop(&mut self) {
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
