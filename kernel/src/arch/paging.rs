//! Changes to the boot page tables after boot: stack guard pages. The
//! 4 KiB page below the boot stack is unmapped (its 2 MiB page is split into 4 KiB pages with a
//! static page table), so a kernel stack overflow raises a page fault, which escalates to a
//! double fault reported on its IST stack, instead of silently overwriting the page tables.
//!
//! Kernel threads' stacks get the same kind of guard ([`unmap_guard`], done by `mm::paging`,
//! which owns every mapping after boot).
//!
//! The boot tables are changed through the direct map (PML4 entry 256), whose page directories
//! the image's identity alias shares (`arch::boot`), so the guard is missing in both aliases.
//!
//! Owns `GUARD_PT`; never changes any other mapping.

use core::arch::asm;

extern "C" {
    static boot_stack_guard: u8;
    static boot_stack_bottom: u8;
    static boot_stack_top: u8;
}

const PRESENT: u64 = 1 << 0;
const HUGE: u64 = 1 << 7;
/// Flags a 2 MiB entry shares with 4 KiB entries (P, RW, US, PWT, PCD, A, D).
const SHARED_FLAGS: u64 = 0x7f & !HUGE;
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

#[repr(C, align(4096))]
struct PageTable([u64; 512]);

static mut GUARD_PT: PageTable = PageTable([0; 512]);

/// The page-table entry `index` of the table at physical address `table`.
fn entry_addr(table: u64, index: u64) -> *mut u64 {
    crate::mem::phys_to_virt(table + index * 8) as *mut u64
}

/// Unmap the guard page below the boot stack.
pub fn install_stack_guard() -> Result<(), &'static str> {
    let guard = core::ptr::addr_of!(boot_stack_guard) as u64;
    // The image's identity address is its physical address; walk its direct-map alias.
    let alias = crate::mem::phys_to_virt(guard);
    let (cr3, _) = x86_64::registers::control::Cr3::read_raw();
    let pml4 = cr3.start_address().as_u64();
    // SAFETY: the boot page tables are kernel .bss (arch::boot), reached through the direct
    // map; this runs on one CPU before interrupts are enabled, and it only replaces the 2 MiB
    // entry covering the guard page with an equivalent table of 4 KiB entries, minus the guard
    // page itself.
    unsafe {
        let pml4e = *entry_addr(pml4, (alias >> 39) & 511);
        if pml4e & PRESENT == 0 {
            return Err("guard page not mapped at PML4 level");
        }
        let pdpte = *entry_addr(pml4e & ADDR_MASK, (alias >> 30) & 511);
        if pdpte & PRESENT == 0 || pdpte & HUGE != 0 {
            return Err("unexpected PDPT entry for the guard page");
        }
        let pde_ptr = entry_addr(pdpte & ADDR_MASK, (alias >> 21) & 511);
        let pde = *pde_ptr;
        if pde & PRESENT == 0 || pde & HUGE == 0 {
            return Err("guard page not in a 2 MiB mapping (already installed?)");
        }
        let pt = &mut *core::ptr::addr_of_mut!(GUARD_PT);
        let base = pde & ADDR_MASK & !0x1f_ffff;
        for (i, e) in pt.0.iter_mut().enumerate() {
            *e = (base + i as u64 * 4096) | (pde & SHARED_FLAGS);
        }
        pt.0[((guard >> 12) & 511) as usize] = 0;
        let pt_paddr = crate::mem::virt_to_phys(pt as *const PageTable as u64);
        *pde_ptr = pt_paddr | (pde & SHARED_FLAGS & !0x18) | PRESENT;
        asm!("invlpg [{}]", in(reg) guard, options(nostack));
        asm!("invlpg [{}]", in(reg) alias, options(nostack));
        // Flush the whole 2 MiB range's translations: reload CR3 (no global pages in use).
        asm!("mov {0}, cr3", "mov cr3, {0}", out(reg) _, options(nostack));
    }
    Ok(())
}

/// Unmap the 4 KiB page at physical `addr` (a thread's stack guard) in every alias; undo with
/// [`remap_guard`].
pub fn unmap_guard(addr: u64) -> Result<(), &'static str> {
    crate::mm::paging::unmap(addr)
}

/// Frames held as page tables for guard pages and user pages.
pub fn split_tables() -> usize {
    crate::mm::paging::split_tables()
}

/// Map a page unmapped by [`unmap_guard`] again (before its frame goes back to the allocator).
pub fn remap_guard(addr: u64) {
    if let Err(e) = crate::mm::paging::remap(addr) {
        log::error!("paging: cannot remap guard page {addr:#x}: {e}");
    }
}

/// Whether `addr` lies in the stack guard page (the exception report names the overflow).
pub fn is_stack_guard(addr: u64) -> bool {
    let guard = core::ptr::addr_of!(boot_stack_guard) as u64;
    (guard..guard + 4096).contains(&addr)
}

/// Bytes of the boot stack ever used: the stack starts zeroed, so the lowest non-zero byte
/// marks the deepest point reached (an estimate: a frame may store zeros).
pub fn stack_high_water() -> usize {
    let bottom = core::ptr::addr_of!(boot_stack_bottom) as usize;
    let top = core::ptr::addr_of!(boot_stack_top) as usize;
    let mut p = bottom;
    // Scan a word at a time.
    while p < top {
        // SAFETY: [bottom, top) is the boot stack, mapped and readable; words below the live
        // stack pointer are not concurrently written (one CPU, interrupts use this stack only
        // above the current pointer).
        if unsafe { core::ptr::read_volatile(p as *const u64) } != 0 {
            break;
        }
        p += 8;
    }
    top - p
}
