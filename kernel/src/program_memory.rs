//! A program's memory: its address space (`mm::space`) with the ranges `execve`, `brk` and
//! `mmap` placed in it (`mm::vma`: code, data, heap and every stack, its threads' included,
//! which a libc maps for itself), and the kernel stacks of its ended threads, kept for its next
//! threads. Everything goes back to the frame allocator with the space when the program is
//! dropped.
//!
//! Owns one program's memory map, space and spare kernel stacks; never maps one program's
//! frames into another's space.

use alloc::vec::Vec;

use crate::mm::kstack::SpareStack;
use crate::mm::space::AddressSpace;
use crate::mm::vma::MemoryMap;

/// Kernel stacks a program keeps from its ended threads for its next ones: a server that had
/// a few connection threads gets new ones without the frame allocator.
pub const POOL_KEEP: usize = 4;

pub struct ProgramMemory {
    /// Ranges from `execve`, `brk` and `mmap`.
    map: MemoryMap,
    space: AddressSpace,
    /// Kernel stacks of the program's ended threads (guard pages still unmapped), reused by
    /// its next threads: a program that had N threads can have N again
    /// even when the kernel heap has since taken every other frame.
    kernel_stacks: Vec<SpareStack>,
}

impl ProgramMemory {
    pub fn new() -> Result<Self, &'static str> {
        Ok(ProgramMemory {
            map: MemoryMap::default(),
            space: AddressSpace::new()?,
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

    /// A kernel stack an ended thread of this program left, if any.
    pub fn take_kernel_stack(&mut self) -> Option<SpareStack> {
        self.kernel_stacks.pop()
    }

    /// Keep an ended thread's kernel stack (guard page still unmapped), unless [`POOL_KEEP`]
    /// are kept already: then it is returned, for the caller to free.
    pub fn release_kernel_stack(&mut self, stack: SpareStack) -> Option<SpareStack> {
        if self.kernel_stacks.len() >= POOL_KEEP {
            return Some(stack);
        }
        self.kernel_stacks.push(stack);
        None
    }
}

impl Drop for ProgramMemory {
    fn drop(&mut self) {
        self.map.clear(&mut self.space);
        // No thread of the program is left (the last one held the program alive), so nothing
        // runs in the space any more; its tables go with `space` right after this.
        for stack in self.kernel_stacks.drain(..) {
            stack.free();
        }
    }
}
