//! The kernel's page tables after boot: W^X, NX and the kernel out of ring 3's reach.
//!
//! `arch::boot` maps the first 4 GiB of physical memory with 2 MiB pages twice, from one PDPT:
//! at [`PHYS_OFFSET`] (PML4 entry 256, the direct map: how the kernel reaches any physical
//! address, supervisor-only at the top level) and at 0 (the identity alias, needed only to run
//! the image, which is linked at its physical address). [`init`] turns on EFER.NXE and CR0.WP,
//! gives every page its final rights, and then keeps of the identity alias only the 2 MiB pages
//! holding the image: PML4 entry 0 gets a PDPT and page directory of its own whose entries
//! point at the same 4 KiB tables as the direct map's for those pages. Every leaf is thus
//! shared by both aliases, and one change of rights applies to both:
//!
//! | range (physical) | rights |
//! |---|---|
//! | kernel `.text` | read + execute, supervisor-only |
//! | kernel `.rodata` | read-only, no-execute, supervisor-only |
//! | the rest of the image (`.data`, `.bss`: page tables, IDT, GDT, TSS, boot stack, ...) | read-write, no-execute, supervisor-only |
//! | the guard pages of the boot stack, the IST stacks and the thread stacks | not present |
//! | all other RAM below 3 GiB (heap, frames, thread stacks) | read-write, no-execute, supervisor-only |
//! | 3–4 GiB (MMIO) | read-write, no-execute, uncached, supervisor-only |
//!
//! No leaf of the kernel's is user-accessible: ring 3 reaches nothing of the kernel through
//! either alias (the direct map's PML4 entry is supervisor-only as well). The identity alias
//! ends at
//! `mm::space::USER_START` (the linker script keeps the image below it); the rest of PML4
//! entry 0 belongs to programs (`mm::space`), and an identity access to any other physical
//! address faults. Programs' pages (code, data, stacks) live in each program's own half. [`update`] splits a 2 MiB page into 4 KiB pages on demand (the table
//! comes from the frame allocator and is kept); guard pages use it. [`user_range_ok`] walks
//! the loaded tables for `uaccess`.
//!
//! Owns every entry of the kernel's tables after boot: the direct map and the image alias.
//! Never maps anything that is not RAM or MMIO below 4 GiB, and never makes a page both
//! writable and executable.
//!
//! [`enable_smep_smap`], first thing at boot, turns on SMEP (ring 0 never executes a user page)
//! and SMAP (ring 0 touches a user page only inside `uaccess`'s copy routine, between `stac`
//! and `clac`) when the CPU has them (TCG's `-cpu max` does); [`init`] turns them off again
//! only if the command line says `nosmep` or `nosmap`.

use core::arch::asm;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use x86_64::registers::control::{Cr4, Cr4Flags};
use x86_64::structures::paging::{PageTable, PageTableFlags as F};
use x86_64::PhysAddr;

use crate::mem::{phys_to_virt, PHYS_OFFSET};

pub const PAGE: u64 = 4096;
const HUGE_PAGE: u64 = 2 << 20;
/// The boot map's RAM part ends here; 3–4 GiB is MMIO (arch::boot).
const MMIO_START: u64 = 3 << 30;
/// The boot map covers the first 4 GiB: one PDPT, four page directories.
const MAPPED_END: u64 = 4 << 30;
/// The direct map's PML4 entry (256).
const DIRECT_MAP_ENTRY: usize = ((PHYS_OFFSET >> 39) & 511) as usize;
/// The identity alias of the image ends here (`mm::space::USER_START`; the linker script
/// asserts the image ends below it).
const IMAGE_ALIAS_LIMIT: u64 = super::space::USER_START;
const IA32_EFER: u32 = 0xc000_0080;
const EFER_NXE: u64 = 1 << 11;

extern "C" {
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static boot_stack_guard: u8;
}

/// Page tables taken from the frame allocator to split 2 MiB pages (never returned).
static SPLIT_TABLES: AtomicUsize = AtomicUsize::new(0);
/// End of the image's identity alias (its 2 MiB pages), set by [`init`].
static IMAGE_ALIAS_END: AtomicU64 = AtomicU64::new(0);

/// Frames held as 4 KiB page tables.
pub fn split_tables() -> usize {
    SPLIT_TABLES.load(Ordering::Relaxed)
}

/// Rights of an ordinary kernel data page.
const KERNEL_DATA: F = F::PRESENT.union(F::WRITABLE).union(F::NO_EXECUTE);
/// Upper levels leave the decision to the leaves.
const TABLE: F = F::PRESENT.union(F::WRITABLE).union(F::USER_ACCESSIBLE);

/// The final rights of the 4 KiB page at `addr` in the 2 MiB pages holding the kernel image
/// (below it: low memory, the start info; above it: free frames), all kernel data but for the
/// sections named in the module doc.
fn image_page_flags(addr: u64) -> F {
    let text = (&raw const __text_start) as u64..(&raw const __text_end) as u64;
    let rodata = (&raw const __rodata_start) as u64..(&raw const __rodata_end) as u64;
    let guard = (&raw const boot_stack_guard) as u64;
    if addr == guard || crate::arch::gdt::ist_guard_pages().contains(&addr) {
        F::empty()
    } else if text.contains(&addr) {
        F::PRESENT
    } else if rodata.contains(&addr) {
        F::PRESENT | F::NO_EXECUTE
    } else {
        KERNEL_DATA
    }
}

/// The table at physical address `paddr`.
///
/// # Safety
/// `paddr` is a page table of the live hierarchy (reached through the direct map), interrupts
/// are off on our single CPU, and the caller holds no other reference to it.
unsafe fn table(paddr: PhysAddr) -> &'static mut PageTable {
    // SAFETY: by the caller's contract.
    unsafe { &mut *(phys_to_virt(paddr.as_u64()) as *mut PageTable) }
}

/// The direct map's page directory covering physical `addr` (below 4 GiB) in the live tables
/// (the image alias shares its 4 KiB tables).
///
/// # Safety
/// As for [`table`].
unsafe fn pd_for(addr: u64) -> Option<&'static mut PageTable> {
    if addr >= MAPPED_END {
        return None;
    }
    let (cr3, _) = x86_64::registers::control::Cr3::read_raw();
    // SAFETY: CR3 holds the live PML4, whose direct-map entry is the kernel's in every space;
    // the boot tables are kernel memory.
    unsafe {
        let pml4 = table(cr3.start_address());
        let pdpt = table(pml4[DIRECT_MAP_ENTRY].addr());
        let pdpte = &pdpt[((addr >> 30) & 511) as usize];
        if !pdpte.flags().contains(F::PRESENT) || pdpte.flags().contains(F::HUGE_PAGE) {
            return None;
        }
        Some(table(pdpte.addr()))
    }
}

fn flush_all() {
    // SAFETY: reloading CR3 with its own value only flushes the TLB (no global pages in use).
    unsafe { asm!("mov {0}, cr3", "mov cr3, {0}", out(reg) _, options(nostack)) };
}

/// Drop the cached translations of physical page `addr`: its direct-map address and, for the
/// image's pages, its identity address.
fn flush_page(addr: u64) {
    let flush = |va: u64| {
        // SAFETY: invlpg only drops a cached translation.
        unsafe { asm!("invlpg [{}]", in(reg) va, options(nostack)) };
    };
    flush(phys_to_virt(addr));
    if addr < IMAGE_ALIAS_END.load(Ordering::Relaxed) {
        flush(addr);
    }
}

/// Run `f` with interrupts off (the tables are changed by one CPU with nothing else walking
/// them in software meanwhile).
fn without_interrupts<R>(f: impl FnOnce() -> R) -> R {
    x86_64::instructions::interrupts::without_interrupts(f)
}

/// Give every page its final rights (see the module doc) and turn on NX and write
/// protection, and SMEP and SMAP where wanted (`smep`, `smap`) and the CPU has them. Call
/// once, after `mem::init` (split tables come from the frame allocator) and before any
/// program starts.
pub fn init(smep: bool, smap: bool) -> Result<(), &'static str> {
    without_interrupts(|| {
        // SAFETY: EFER exists on every x86_64 CPU; NXE only makes bit 63 of entries meaningful
        // (none is set yet).
        unsafe {
            let efer = crate::arch::rdmsr(IA32_EFER);
            crate::arch::wrmsr(IA32_EFER, efer | EFER_NXE);
        }
        let image_end = crate::mem::kernel_end();
        let image_huge_end = image_end.div_ceil(HUGE_PAGE) * HUGE_PAGE;
        if image_huge_end > IMAGE_ALIAS_LIMIT {
            return Err("kernel image ends above mm::space::USER_START");
        }
        // The image's 2 MiB pages, as 4 KiB pages with per-section rights.
        let mut huge = 0;
        while huge < image_huge_end {
            let pt = split(huge)?;
            for (i, e) in pt.iter_mut().enumerate() {
                let addr = huge + i as u64 * PAGE;
                let flags = image_page_flags(addr);
                if flags.is_empty() {
                    e.set_unused();
                } else {
                    e.set_addr(PhysAddr::new(addr), flags);
                }
            }
            // SAFETY: interrupts are off; the boot tables are ours.
            if let Some(pd) = unsafe { pd_for(huge) } {
                pd[((huge >> 21) & 511) as usize].set_flags(TABLE);
            }
            huge += HUGE_PAGE;
        }
        // Everything else: supervisor-only, no-execute.
        let mut addr = image_huge_end;
        while addr < MAPPED_END {
            // SAFETY: interrupts are off; the boot tables are ours.
            let pd = unsafe { pd_for(addr) }.ok_or("boot tables do not map 4 GiB")?;
            let e = &mut pd[((addr >> 21) & 511) as usize];
            let mut flags = e.flags();
            if flags.contains(F::PRESENT) {
                if flags.contains(F::HUGE_PAGE) {
                    flags.remove(F::USER_ACCESSIBLE);
                    flags.insert(F::NO_EXECUTE);
                    if addr < MMIO_START {
                        flags.insert(F::WRITABLE);
                    }
                    let frame = e.addr();
                    e.set_addr(frame, flags);
                } else {
                    // Already split (a guard page): its leaves become kernel data.
                    // SAFETY: a table of the live hierarchy; interrupts off.
                    let pt = unsafe { table(e.addr()) };
                    for l in pt.iter_mut() {
                        let f = l.flags();
                        if f.contains(F::PRESENT) {
                            let a = l.addr();
                            l.set_addr(a, (f - F::USER_ACCESSIBLE) | F::NO_EXECUTE);
                        }
                    }
                    e.set_flags(TABLE);
                }
            }
            addr += HUGE_PAGE;
        }
        keep_image_alias_only(image_huge_end)?;
        // SAFETY: CR0.WP only makes ring 0 honour read-only pages; the only read-only pages
        // are .text and .rodata, which the kernel never writes.
        unsafe {
            x86_64::registers::control::Cr0::update(|c| {
                c.insert(x86_64::registers::control::Cr0Flags::WRITE_PROTECT)
            })
        };
        flush_all();
        keep_smep_smap(smep, smap);
        Ok(())
    })
}

/// SMEP (CPUID.(7,0):EBX[7]) and SMAP (EBX[20]) when the CPU has them, as Linux turns them on:
/// a jump from ring 0 into a user page faults, and so does a ring-0 access to a user page
/// outside `uaccess`'s copy routine (which opens one with `stac`). First thing at boot, with
/// `arch::enable_cpu_features`; [`init`] keeps them or turns them off as the command line says.
pub fn enable_smep_smap() {
    let on = smep_smap_supported();
    if on.contains(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION) {
        // The copy routine must open user access before the bit makes it necessary.
        super::uaccess::set_smap(true);
    }
    // SAFETY: no kernel page is user-accessible (the boot tables' leaves are supervisor-only,
    // and see the module doc), so the kernel never executes a user page, and it reads or
    // writes user pages only in `uaccess`'s copy routine, which brackets the access with
    // stac/clac once `set_smap(true)` is recorded.
    unsafe { Cr4::update(|c| c.insert(on)) };
}

/// The SMEP and SMAP bits the CPU has.
fn smep_smap_supported() -> Cr4Flags {
    let cpuid = crate::arch::cpuid;
    let mut on = Cr4Flags::empty();
    if cpuid(0, 0).eax < 7 {
        return on;
    }
    let ebx = cpuid(7, 0).ebx;
    if ebx & (1 << 7) != 0 {
        on |= Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION;
    }
    if ebx & (1 << 20) != 0 {
        on |= Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION;
    }
    on
}

/// Turn SMEP and SMAP off where the command line refused them (`nosmep`, `nosmap`), and log
/// their state.
fn keep_smep_smap(smep: bool, smap: bool) {
    let mut off = Cr4Flags::empty();
    if !smep {
        off |= Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION;
    }
    if !smap {
        off |= Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION;
    }
    // SAFETY: clearing SMEP or SMAP only lifts a check; with SMAP off the copy routine's
    // stac/clac are not needed, so the flag is dropped after the bit.
    unsafe { Cr4::update(|c| c.remove(off)) };
    if !smap {
        super::uaccess::set_smap(false);
    }
    let on = Cr4::read();
    let state = |flag, wanted| match (on.contains(flag), wanted) {
        (true, _) => "on",
        (false, false) => "off (command line)",
        (false, true) => "off (CPU lacks it)",
    };
    log::info!(
        "paging: SMEP {}, SMAP {}",
        state(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION, smep),
        state(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION, smap)
    );
}

/// A zeroed frame for one of the kernel's own tables (never freed).
fn new_table() -> Result<u64, &'static str> {
    let frame = crate::mem::alloc_frames(1).ok_or("no frame for a page table")?;
    // SAFETY: the frame was just taken from the allocator, so nobody else uses it; RAM in the
    // direct map.
    unsafe { table(PhysAddr::new(frame)) }.zero();
    Ok(frame)
}

/// Replace the boot tables' identity map of 4 GiB in the loaded (kernel) PML4 by the image's
/// 2 MiB pages below `image_huge_end` only: a PDPT and a page directory of their own whose
/// entries point at the direct map's 4 KiB tables for those pages (already split, so rights
/// stay shared). Every other identity address faults from now on. Interrupts must be off; we
/// run from the image, which stays mapped across the switch.
fn keep_image_alias_only(image_huge_end: u64) -> Result<(), &'static str> {
    let pdpt = new_table()?;
    let pd = new_table()?;
    // SAFETY: interrupts are off; `pdpt` and `pd` are fresh tables of ours; the direct map's
    // directory is only read.
    unsafe {
        let direct = pd_for(0).ok_or("boot tables do not map the image")?;
        let alias = table(PhysAddr::new(pd));
        let mut addr = 0;
        while addr < image_huge_end {
            let i = ((addr >> 21) & 511) as usize;
            if direct[i].flags().contains(F::HUGE_PAGE) {
                return Err("an image page was not split");
            }
            alias[i].set_addr(direct[i].addr(), direct[i].flags());
            addr += HUGE_PAGE;
        }
        table(PhysAddr::new(pdpt))[0].set_addr(PhysAddr::new(pd), TABLE);
        let (cr3, _) = x86_64::registers::control::Cr3::read_raw();
        table(cr3.start_address())[0].set_addr(PhysAddr::new(pdpt), TABLE);
    }
    IMAGE_ALIAS_END.store(image_huge_end, Ordering::Relaxed);
    flush_all();
    Ok(())
}

/// The 4 KiB table behind the 2 MiB page at `addr`, splitting it first (same frames, same
/// rights) if it is still one page. Interrupts must be off.
fn split(addr: u64) -> Result<&'static mut PageTable, &'static str> {
    // SAFETY: the caller turned interrupts off; the tables are ours.
    let pd = unsafe { pd_for(addr) }.ok_or("address outside the mapped 4 GiB")?;
    let e = &mut pd[((addr >> 21) & 511) as usize];
    let flags = e.flags();
    if !flags.contains(F::PRESENT) {
        return Err("2 MiB page not mapped");
    }
    if !flags.contains(F::HUGE_PAGE) {
        // SAFETY: a table of the live hierarchy; interrupts off.
        return Ok(unsafe { table(e.addr()) });
    }
    let frame = crate::mem::alloc_frames(1).ok_or("no frame for a page table")?;
    SPLIT_TABLES.fetch_add(1, Ordering::Relaxed);
    // SAFETY: the frame was just taken from the allocator, so nobody else uses it; RAM in the
    // direct map. It is filled before the directory points at it.
    let pt = unsafe { table(PhysAddr::new(frame)) };
    let base = e.addr().as_u64();
    let leaf = flags - F::HUGE_PAGE;
    for (i, l) in pt.iter_mut().enumerate() {
        l.set_addr(PhysAddr::new(base + i as u64 * PAGE), leaf);
    }
    // Keep the caching bits of MMIO ranges on the leaves; the directory entry only points.
    e.set_addr(PhysAddr::new(frame), TABLE);
    flush_all();
    Ok(pt)
}

/// Change the rights of the 4 KiB page at physical `addr` (below 4 GiB) in every alias with
/// `f`, splitting its 2 MiB page if needed. `f` gets the current flags (empty if not present)
/// and returns the new ones (empty: not present). Never makes a page writable and executable.
pub fn update(addr: u64, f: impl FnOnce(F) -> F) -> Result<(), &'static str> {
    let addr = addr & !(PAGE - 1);
    without_interrupts(|| {
        let pt = split(addr)?;
        let e = &mut pt[((addr >> 12) & 511) as usize];
        let old = e.flags();
        let mut new = f(old);
        if new.contains(F::WRITABLE) {
            new.insert(F::NO_EXECUTE);
        }
        if new.is_empty() {
            // Not present; `remap` maps the page again (the frame is `addr` itself: the
            // tables map physical memory in order).
            e.set_unused();
        } else {
            e.set_addr(PhysAddr::new(addr), new);
        }
        flush_page(addr);
        Ok(())
    })
}

/// Unmap the 4 KiB page at physical `addr` (a guard page).
pub fn unmap(addr: u64) -> Result<(), &'static str> {
    update(addr, |_| F::empty())
}

/// Map a page [`unmap`] removed again, as kernel data.
pub fn remap(addr: u64) -> Result<(), &'static str> {
    update(addr, |_| KERNEL_DATA)
}

/// Whether every page of `[addr, addr + len)` is present and user-accessible in the loaded
/// address space (and writable at every level, with `write`). `len` > 0; the range must not
/// wrap and must lie in the lower canonical half.
pub fn user_range_ok(addr: u64, len: u64, write: bool) -> bool {
    let Some(last) = addr.checked_add(len - 1) else {
        return false;
    };
    if last >= 1 << 47 {
        return false;
    }
    let mut need = F::PRESENT | F::USER_ACCESSIBLE;
    if write {
        need |= F::WRITABLE;
    }
    let mut page = addr & !(PAGE - 1);
    without_interrupts(|| {
        let (cr3, _) = x86_64::registers::control::Cr3::read_raw();
        while page <= last {
            match user_page_span(cr3.start_address(), page, need) {
                Some(span) => page = (page & !(span - 1)) + span,
                None => return false,
            }
        }
        true
    })
}

/// Walk the tables from `pml4` for `va`: the size of the page mapping it (4 KiB, 2 MiB,
/// 1 GiB) if every level grants `need`, else None.
fn user_page_span(pml4: PhysAddr, va: u64, need: F) -> Option<u64> {
    let mut t = pml4;
    for (level, shift) in [39u64, 30, 21, 12].into_iter().enumerate() {
        // SAFETY: `t` is a table of the loaded hierarchy (direct map); interrupts are off
        // (caller), so nothing changes it meanwhile; read only.
        let e = &unsafe { table(t) }[((va >> shift) & 511) as usize];
        if !e.flags().contains(need) {
            return None;
        }
        if level == 3 || (level > 0 && e.flags().contains(F::HUGE_PAGE)) {
            return Some(1 << shift);
        }
        t = e.addr();
    }
    None
}

/// The physical address `va` translates to in the hierarchy whose PML4 is at `pml4` (present
/// at every level, whatever the rights), or None.
pub fn translate(pml4: u64, va: u64) -> Option<u64> {
    without_interrupts(|| {
        let mut t = PhysAddr::new(pml4);
        for (level, shift) in [39u64, 30, 21, 12].into_iter().enumerate() {
            // SAFETY: `t` is a table of a live hierarchy (direct map); interrupts are off, so
            // nothing changes it meanwhile; read only.
            let e = &unsafe { table(t) }[((va >> shift) & 511) as usize];
            if !e.flags().contains(F::PRESENT) {
                return None;
            }
            if level == 3 || (level > 0 && e.flags().contains(F::HUGE_PAGE)) {
                return Some(e.addr().as_u64() + (va & ((1 << shift) - 1)));
            }
            t = e.addr();
        }
        None
    })
}
