//! Per-program address spaces. Each program gets its own top-level page table (PML4): the
//! kernel half — PML4 entry 0, the identity map of the first 4 GiB with the kernel
//! supervisor-only and the built-in programs' code user-accessible (`super::paging`) — is the
//! same table in every space, shared, so kernel mappings change everywhere at once; the user
//! half is the program's own: its ring-3 stacks, at [`STACKS_BASE`] upwards, one slot of
//! [`SLOT_PAGES`] pages per stack with the slot's first page left unmapped as the guard. A
//! program cannot name another program's stack: it is not in its page tables.
//!
//! The scheduler calls [`AddressSpace::activate`] when it switches to a thread of a program
//! (threads of the same program share a space: no CR3 reload between them; kernel threads run
//! in whatever space is loaded, using only the shared kernel half).
//!
//! Owns the PML4 and the user-half tables of each space (freed when the space is dropped,
//! after switching away from it); never maps a user page writable and executable, never
//! touches the shared kernel half.

use alloc::vec::Vec;

use x86_64::structures::paging::{PageTable, PageTableFlags as F};
use x86_64::PhysAddr;

use super::paging::PAGE;

/// Where ring-3 stacks live in every program's user half (PML4 entry 224).
pub const STACKS_BASE: u64 = 0x0000_7000_0000_0000;
/// Pages of one stack slot: the guard page and the stack.
pub const SLOT_PAGES: u64 = crate::process::USER_STACK_FRAMES as u64 + 1;
/// Slots per program: one per thread it may have at once.
pub const MAX_SLOTS: usize = crate::process::MAX_THREADS_PER_PROGRAM;

const USER_STACK: F = F::PRESENT
    .union(F::WRITABLE)
    .union(F::USER_ACCESSIBLE)
    .union(F::NO_EXECUTE);
const TABLE: F = F::PRESENT.union(F::WRITABLE).union(F::USER_ACCESSIBLE);

extern "C" {
    /// The boot PML4 (arch::boot): the kernel's own space, and the source of the shared half.
    static boot_pml4: u8;
}

/// The kernel's own PML4.
fn kernel_pml4() -> u64 {
    (&raw const boot_pml4) as u64
}

/// The table at `paddr`.
///
/// # Safety
/// `paddr` is a page table owned by the caller's space (or the shared kernel half, read
/// only), identity-mapped; interrupts are off or the space is not yet visible to anyone else.
unsafe fn table(paddr: u64) -> &'static mut PageTable {
    // SAFETY: by the caller's contract.
    unsafe { &mut *(paddr as *mut PageTable) }
}

/// A zeroed frame for a page table.
fn new_table() -> Result<u64, &'static str> {
    let f = crate::mem::alloc_program_frames(1).ok_or("no frame for a page table")?;
    // SAFETY: the frame was just taken from the allocator: ours alone, identity-mapped.
    unsafe { core::ptr::write_bytes(f as *mut u8, 0, PAGE as usize) };
    Ok(f)
}

pub struct AddressSpace {
    pml4: u64,
    /// Frames of the user half's tables (PDPT, PD, PT), freed with the space.
    tables: Vec<u64>,
}

impl AddressSpace {
    /// A new space: the kernel half shared, the user half empty.
    pub fn new() -> Result<Self, &'static str> {
        let pml4 = new_table()?;
        // SAFETY: `pml4` is our fresh table; the kernel PML4 is only read (its entries are set
        // at boot and never change afterwards: all kernel mappings live below entry 0).
        unsafe {
            let k = table(kernel_pml4());
            let t = table(pml4);
            for (i, e) in k.iter().enumerate() {
                if !e.is_unused() {
                    t[i].set_addr(e.addr(), e.flags());
                }
            }
        }
        Ok(AddressSpace {
            pml4,
            tables: Vec::new(),
        })
    }

    /// The physical address of this space's PML4 (CR3 value).
    pub fn root(&self) -> u64 {
        self.pml4
    }

    /// The table an entry points at, making it (zeroed, from the frame allocator) if absent.
    fn next(&mut self, parent: u64, index: usize) -> Result<u64, &'static str> {
        // SAFETY: `parent` is one of this space's user-half tables (or its PML4); the space
        // is only changed by its own program's threads with interrupts off (map/unmap).
        let e = unsafe { &mut table(parent)[index] };
        if !e.is_unused() {
            return Ok(e.addr().as_u64());
        }
        let t = new_table()?;
        self.tables.push(t);
        e.set_addr(PhysAddr::new(t), TABLE);
        Ok(t)
    }

    /// The page-table entry slot for user address `va` (tables made on the way).
    fn leaf(&mut self, va: u64) -> Result<(u64, usize), &'static str> {
        if va >> 39 == 0 || va >= 1 << 47 {
            return Err("not a user-half address");
        }
        let pdpt = self.next(self.pml4, ((va >> 39) & 511) as usize)?;
        let pd = self.next(pdpt, ((va >> 30) & 511) as usize)?;
        let pt = self.next(pd, ((va >> 21) & 511) as usize)?;
        Ok((pt, ((va >> 12) & 511) as usize))
    }

    /// Map `pages` frames from `paddr` at user address `va` as ring-3 stack memory.
    pub fn map_stack(&mut self, va: u64, paddr: u64, pages: u64) -> Result<(), &'static str> {
        x86_64::instructions::interrupts::without_interrupts(|| {
            for i in 0..pages {
                let (pt, idx) = self.leaf(va + i * PAGE)?;
                // SAFETY: a table of this space (made by `leaf`); interrupts off.
                let e = unsafe { &mut table(pt)[idx] };
                e.set_addr(PhysAddr::new(paddr + i * PAGE), USER_STACK);
                flush(va + i * PAGE);
            }
            Ok(())
        })
    }

    /// Unmap `pages` pages from user address `va` (tables stay; a later `map_stack` reuses
    /// them). Pages not mapped are skipped.
    pub fn unmap(&mut self, va: u64, pages: u64) {
        x86_64::instructions::interrupts::without_interrupts(|| {
            for i in 0..pages {
                let a = va + i * PAGE;
                if let Some((pt, idx)) = self.existing_leaf(a) {
                    // SAFETY: a table of this space; interrupts off.
                    unsafe { table(pt)[idx].set_unused() };
                    flush(a);
                }
            }
        })
    }

    /// The page-table entry slot for user address `va`, if its tables exist.
    fn existing_leaf(&self, va: u64) -> Option<(u64, usize)> {
        if va >> 39 == 0 || va >= 1 << 47 {
            return None;
        }
        let mut t = self.pml4;
        for shift in [39u64, 30, 21] {
            // SAFETY: `t` is this space's PML4 or one of its user-half tables; read only.
            let e = unsafe { &table(t)[((va >> shift) & 511) as usize] };
            if e.is_unused() {
                return None;
            }
            t = e.addr().as_u64();
        }
        Some((t, ((va >> 12) & 511) as usize))
    }

    /// The user address of stack slot `slot`'s lowest stack page (above its guard page).
    pub fn slot_bottom(slot: usize) -> u64 {
        STACKS_BASE + (slot as u64 * SLOT_PAGES + 1) * PAGE
    }
}

impl Drop for AddressSpace {
    fn drop(&mut self) {
        x86_64::instructions::interrupts::without_interrupts(|| {
            let (cur, _) = x86_64::registers::control::Cr3::read_raw();
            if cur.start_address().as_u64() == self.pml4 {
                load(kernel_pml4());
            }
        });
        for t in self.tables.drain(..).chain(core::iter::once(self.pml4)) {
            if let Err(e) = crate::mem::free_frames(t, 1) {
                log::error!("mm: page table {t:#x} not freed: {e}");
            }
        }
    }
}

/// Load the space whose PML4 is at `root` ([`AddressSpace::root`]) into CR3 unless it is
/// loaded already. The caller keeps that space alive while it is loaded (the scheduler: the
/// running thread holds its program).
pub fn activate(root: u64) {
    let (cur, _) = x86_64::registers::control::Cr3::read_raw();
    if cur.start_address().as_u64() != root {
        load(root);
    }
}

fn load(pml4: u64) {
    // SAFETY: `pml4` is a complete top-level table whose kernel half is the shared one, so
    // the code, stack and data in use stay mapped at the same addresses across the switch.
    unsafe {
        core::arch::asm!("mov cr3, {}", in(reg) pml4, options(nostack));
    }
}

fn flush(va: u64) {
    // SAFETY: invlpg only drops a cached translation.
    unsafe { core::arch::asm!("invlpg [{}]", in(reg) va, options(nostack)) };
}
