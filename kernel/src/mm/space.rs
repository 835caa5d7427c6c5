//! Per-program address spaces. Each program gets its own top-level page table (PML4):
//!
//! | PML4 entry | what | whose |
//! |---|---|---|
//! | 0, below [`USER_START`] | the kernel image's identity alias: its 4 KiB tables, every page supervisor-only (`super::paging`) | the kernel's tables, shared |
//! | 0, from [`USER_START`] | free for the program (a PDPT and page directory of its own) | the program's |
//! | 1–255 | the program's: what `execve`, `brk` and `mmap` place there (`mm::vma`), its stacks included | the program's |
//! | 256–511 | the kernel half: the direct map of physical memory (supervisor-only) and anything else the kernel maps | the kernel's PML4 entries, shared |
//!
//! Kernel mappings change everywhere at once (shared tables); a program cannot name another
//! program's memory: it is not in its page tables. Physical memory the kernel uses (heap,
//! frames, page tables) appears in a program's half nowhere.
//!
//! The scheduler calls [`AddressSpace::activate`] when it switches to a thread of a program
//! (threads of the same program share a space: no CR3 reload between them; kernel threads run
//! in whatever space is loaded, using only the shared kernel half).
//!
//! Owns the PML4 and the user-half tables of each space (freed when the space is dropped,
//! after switching away from it); never maps a user page writable and executable, never
//! touches the shared kernel tables.

use alloc::vec::Vec;

use x86_64::structures::paging::{PageTable, PageTableFlags as F};
use x86_64::PhysAddr;

use super::paging::PAGE;

/// The lowest address a program may map: below it lies the kernel image's identity alias
/// (1–4 MiB; the linker script keeps the image below it). Linux `ET_EXEC` programs are linked
/// at this address.
pub const USER_START: u64 = 0x40_0000;

const TABLE: F = F::PRESENT.union(F::WRITABLE).union(F::USER_ACCESSIBLE);

/// Software bit of a leaf entry: the frame belongs to the space's memory map (`mm::vma`),
/// which frees it when the page is unmapped.
const OWNED: F = F::BIT_9;

/// Rights of a program page (from `mmap`/`mprotect`/an ELF segment). Present pages are
/// always readable on x86; `PROT_NONE` pages are simply never mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PageProt {
    pub write: bool,
    pub exec: bool,
}

impl PageProt {
    fn flags(self) -> F {
        let mut f = F::PRESENT | F::USER_ACCESSIBLE;
        if self.write {
            f |= F::WRITABLE | F::NO_EXECUTE;
        } else if !self.exec {
            f |= F::NO_EXECUTE;
        }
        f
    }
}

/// The first PML4 entry of the kernel half (the direct map).
const KERNEL_HALF: usize = ((crate::mem::PHYS_OFFSET >> 39) & 511) as usize;

extern "C" {
    /// The boot PML4 (arch::boot): the kernel's own space, and the source of the shared half.
    static boot_pml4: u8;
}

/// The kernel's own PML4 (physical address: an image address is its physical address).
fn kernel_pml4() -> u64 {
    crate::mem::virt_to_phys((&raw const boot_pml4) as u64)
}

/// The table at physical address `paddr`.
///
/// # Safety
/// `paddr` is a page table owned by the caller's space (or the shared kernel tables, read
/// only), reached through the direct map; interrupts are off or the space is not yet visible
/// to anyone else.
unsafe fn table(paddr: u64) -> &'static mut PageTable {
    // SAFETY: by the caller's contract.
    unsafe { &mut *(crate::mem::phys_to_virt(paddr) as *mut PageTable) }
}

/// Page tables a space may take from the kernel's reserve when nothing else is left: enough
/// for a small program's text, heap, stack and a few threads' stacks, as its first pages may
/// (`mm::vma::MIN_WORKING_SET`), so that they can be mapped at all.
const MIN_TABLES: usize = 32;

/// A zeroed frame for a page table; `made` is how many the space has already.
fn new_table(made: usize) -> Result<u64, &'static str> {
    let f = crate::mem::alloc_program_frames(1)
        .or_else(|| {
            (made < MIN_TABLES)
                .then(|| crate::mem::alloc_first_program_frames(1))
                .flatten()
        })
        .ok_or("no frame for a page table")?;
    // SAFETY: the frame was just taken from the allocator: ours alone, in the direct map.
    unsafe { core::ptr::write_bytes(crate::mem::phys_to_virt(f) as *mut u8, 0, PAGE as usize) };
    Ok(f)
}

pub struct AddressSpace {
    pml4: u64,
    /// Frames of the user half's tables (PDPT, PD, PT), freed with the space.
    tables: Vec<u64>,
}

impl AddressSpace {
    /// A new space: the kernel half and the image alias shared, the rest of the user half
    /// empty.
    pub fn new() -> Result<Self, &'static str> {
        let mut space = AddressSpace {
            pml4: new_table(0)?,
            tables: Vec::new(),
        };
        // Dropping `space` on an error frees whatever tables were made.
        let pdpt = space.next(space.pml4, 0)?;
        let pd = space.next(pdpt, 0)?;
        // SAFETY: `pml4` and `pd` are our fresh tables; the kernel's are only read (its PML4
        // entries 256.. are set at boot and never change afterwards, entry 0 is set once by
        // `paging::init` before any program exists).
        unsafe {
            let k = table(kernel_pml4());
            let t = table(space.pml4);
            for (i, e) in k.iter().enumerate().skip(KERNEL_HALF) {
                if !e.is_unused() {
                    t[i].set_addr(e.addr(), e.flags());
                }
            }
            // The image alias: the kernel PD's entries below USER_START (its 4 KiB tables).
            let kpdpt = table(k[0].addr().as_u64());
            let kpd = table(kpdpt[0].addr().as_u64());
            let own = table(pd);
            for i in 0..(USER_START >> 21) as usize {
                if !kpd[i].is_unused() {
                    own[i].set_addr(kpd[i].addr(), kpd[i].flags());
                }
            }
        }
        Ok(space)
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
        let t = new_table(self.tables.len() + 1)?;
        self.tables.push(t);
        e.set_addr(PhysAddr::new(t), TABLE);
        Ok(t)
    }

    /// The page-table entry slot for user address `va` (tables made on the way).
    fn leaf(&mut self, va: u64) -> Result<(u64, usize), &'static str> {
        if !(USER_START..1 << 47).contains(&va) {
            return Err("not a user-half address");
        }
        let pdpt = self.next(self.pml4, ((va >> 39) & 511) as usize)?;
        let pd = self.next(pdpt, ((va >> 30) & 511) as usize)?;
        let pt = self.next(pd, ((va >> 21) & 511) as usize)?;
        Ok((pt, ((va >> 12) & 511) as usize))
    }

    /// The page-table entry slot for user address `va`, if its tables exist.
    fn existing_leaf(&self, va: u64) -> Option<(u64, usize)> {
        if !(USER_START..1 << 47).contains(&va) {
            return None;
        }
        let mut t = self.pml4;
        for shift in [39u64, 30, 21] {
            // SAFETY: `t` is this space's PML4 or one of its own tables (`va` is above the
            // image alias); read only.
            let e = unsafe { &table(t)[((va >> shift) & 511) as usize] };
            if e.is_unused() {
                return None;
            }
            t = e.addr().as_u64();
        }
        Some((t, ((va >> 12) & 511) as usize))
    }

    /// The physical address `va` translates to in this space (whatever the rights), if it is
    /// mapped.
    pub fn translate(&self, va: u64) -> Option<u64> {
        super::paging::translate(self.pml4, va)
    }

    /// Map the frame at `paddr` at user page `va` with `prot`, marked as owned by the space
    /// (the memory map frees it when the page is unmapped). W^X: a page asked to be writable
    /// and executable is mapped writable and not executable. A page already mapped there is
    /// replaced (the caller took it out first).
    pub fn map_owned(&mut self, va: u64, paddr: u64, prot: PageProt) -> Result<(), &'static str> {
        x86_64::instructions::interrupts::without_interrupts(|| {
            let (pt, idx) = self.leaf(va)?;
            // SAFETY: a table of this space (made by `leaf`); interrupts off.
            let e = unsafe { &mut table(pt)[idx] };
            // A not-present entry is never in the TLB: only a replaced one is flushed. (Under
            // QEMU's TCG an invlpg drops the kernel's whole TLB once the kernel has used a
            // large page, so a flush per demand fault cost every fault a TLB refill.)
            let was_present = e.flags().contains(F::PRESENT);
            e.set_addr(PhysAddr::new(paddr), prot.flags() | OWNED);
            if was_present {
                flush(va);
            }
            Ok(())
        })
    }

    /// Unmap user page `va`; the frame behind it if the space owned it (for the caller to
    /// free). Pages not mapped, or mapped but not owned (ring-3 stacks), give None.
    pub fn unmap_owned(&mut self, va: u64) -> Option<u64> {
        let mut batch = FlushBatch::new(self);
        self.unmap_owned_in(va, &mut batch)
    }

    /// [`unmap_owned`](Self::unmap_owned) whose TLB flush `batch` does, once for the whole
    /// range, when it is dropped.
    pub fn unmap_owned_in(&mut self, va: u64, batch: &mut FlushBatch) -> Option<u64> {
        x86_64::instructions::interrupts::without_interrupts(|| {
            let (pt, idx) = self.existing_leaf(va)?;
            // SAFETY: a table of this space; interrupts off.
            let e = unsafe { &mut table(pt)[idx] };
            if e.is_unused() || !e.flags().contains(OWNED) {
                return None;
            }
            let frame = e.addr().as_u64();
            let was_present = e.flags().contains(F::PRESENT);
            e.set_unused();
            if was_present {
                batch.add(va);
            }
            Some(frame)
        })
    }

    /// Change the rights of user page `va` if it holds an owned frame (mprotect); `None`
    /// (`PROT_NONE`) keeps the frame in a not-present entry.
    /// The TLB flush is `batch`'s, done once for the whole range when it is dropped.
    pub fn protect(&mut self, va: u64, prot: Option<PageProt>, batch: &mut FlushBatch) {
        x86_64::instructions::interrupts::without_interrupts(|| {
            if let Some((pt, idx)) = self.existing_leaf(va) {
                // SAFETY: a table of this space; interrupts off.
                let e = unsafe { &mut table(pt)[idx] };
                if !e.is_unused() && e.flags().contains(OWNED) {
                    let frame = e.addr();
                    let flags = prot.map_or(F::empty(), PageProt::flags);
                    let was_present = e.flags().contains(F::PRESENT);
                    e.set_addr(frame, flags | OWNED);
                    if was_present {
                        batch.add(va);
                    }
                }
            }
        })
    }

    /// Keep the owned frame at `paddr` for user page `va` without mapping it (`PROT_NONE`).
    pub fn map_owned_hidden(&mut self, va: u64, paddr: u64) -> Result<(), &'static str> {
        x86_64::instructions::interrupts::without_interrupts(|| {
            let (pt, idx) = self.leaf(va)?;
            // SAFETY: a table of this space (made by `leaf`); interrupts off.
            let e = unsafe { &mut table(pt)[idx] };
            let was_present = e.flags().contains(F::PRESENT);
            e.set_addr(PhysAddr::new(paddr), OWNED);
            if was_present {
                flush(va);
            }
            Ok(())
        })
    }

    /// The frame behind user page `va`, whether it is present, and whether it is writable;
    /// None if nothing (not even a `PROT_NONE` frame) is there.
    pub fn page(&self, va: u64) -> Option<(u64, bool, bool)> {
        let (pt, idx) = self.existing_leaf(va)?;
        // SAFETY: a table of this space; read only.
        let e = unsafe { &table(pt)[idx] };
        let f = e.flags();
        (!e.is_unused()).then(|| {
            (
                e.addr().as_u64(),
                f.contains(F::PRESENT),
                f.contains(F::WRITABLE),
            )
        })
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
    // SAFETY: `pml4` is a complete top-level table whose kernel half and image alias are the
    // shared ones, so the code, stack and data in use stay mapped at the same addresses across
    // the switch.
    unsafe {
        core::arch::asm!("mov cr3, {}", in(reg) pml4, options(nostack));
    }
}

/// Pages a range operation flushes one by one; past this it reloads CR3 instead (Linux's
/// `tlb_single_page_flush_ceiling`).
const FLUSH_CEILING: usize = 33;

/// The TLB invalidations a range operation (`munmap`, `mprotect`, `madvise`) owes for the
/// entries it changed, done when the batch is dropped, after the page-table walk: `invlpg`
/// for each of up to [`FLUSH_CEILING`] pages, else one reload of CR3 (when the space is the
/// loaded one; another space's entries go when it is loaded). Safe to defer on rinet's one
/// CPU: no ring-3 code runs before the drop, and the kernel does not touch the range's user
/// addresses in between.
///
/// Under QEMU's TCG the order matters: an `invlpg` drops the kernel's whole TLB once the
/// kernel has used a large page (QEMU widens one large-page region to cover them all), so
/// flushes interleaved with the walk (one per page, each followed by kernel accesses) cost a
/// refill each; back to back they cost one. A CR3 reload drops the program's entries too, so
/// it is kept for large ranges, as on Linux.
pub struct FlushBatch {
    pml4: u64,
    pages: usize,
    addrs: [u64; FLUSH_CEILING],
}

impl FlushBatch {
    pub fn new(space: &AddressSpace) -> Self {
        FlushBatch {
            pml4: space.pml4,
            pages: 0,
            addrs: [0; FLUSH_CEILING],
        }
    }

    fn add(&mut self, va: u64) {
        if let Some(slot) = self.addrs.get_mut(self.pages) {
            *slot = va;
        }
        self.pages += 1;
    }
}

impl Drop for FlushBatch {
    fn drop(&mut self) {
        match self.addrs.get(..self.pages) {
            Some(pages) => pages.iter().for_each(|&va| flush(va)),
            None => {
                let (cur, _) = x86_64::registers::control::Cr3::read_raw();
                if cur.start_address().as_u64() == self.pml4 {
                    load(self.pml4);
                }
            }
        }
    }
}

fn flush(va: u64) {
    // SAFETY: invlpg only drops a cached translation.
    unsafe { core::arch::asm!("invlpg [{}]", in(reg) va, options(nostack)) };
}
