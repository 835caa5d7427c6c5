//! The kernel's GDT and TSS (replacing the boot GDT).
//!
//! Layout (fixed, the `syscall`/`sysret` STAR layout needs it): 0x08 kernel code, 0x10 kernel
//! data, 0x18 user data, 0x20 user code, 0x28 TSS. The TSS carries the IST stacks for double
//! fault, NMI and machine check, so those are reported even when the kernel stack is broken.

use spin::Once;
use x86_64::instructions::segmentation::{Segment, CS, DS, ES, SS};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;
use x86_64::VirtAddr;

/// IST slots (1-based in the IDT, 0-based in the TSS table).
pub const IST_DOUBLE_FAULT: u8 = 1;
pub const IST_NMI: u8 = 2;
pub const IST_MACHINE_CHECK: u8 = 3;

/// Size of each IST stack: enough for the exception report's formatting.
const IST_STACK_SIZE: usize = 16 * 1024;

/// An IST stack with its guard page below it (unmapped by `mm::paging::init`, so an overflow
/// faults instead of running into the stack or data below).
#[repr(C, align(4096))]
struct Stack {
    guard: [u8; 4096],
    stack: [u8; IST_STACK_SIZE],
}

static mut IST_STACKS: [Stack; 3] = [const {
    Stack {
        guard: [0; 4096],
        stack: [0; IST_STACK_SIZE],
    }
}; 3];

/// Addresses of the IST stacks' guard pages.
pub fn ist_guard_pages() -> [u64; 3] {
    // SAFETY: only the addresses of the statics are taken (no reference).
    core::array::from_fn(|i| unsafe { core::ptr::addr_of!(IST_STACKS[i].guard) } as u64)
}

/// The kernel data selector (index 2, RPL 0): ring 0's SS, which the interrupt entry reloads
/// after an entry from ring 3 (`arch::idt`).
pub const KERNEL_DATA_SELECTOR: u16 = 0x10;

/// Segment selectors of the kernel GDT.
#[derive(Debug, Clone, Copy)]
pub struct Selectors {
    pub kernel_code: SegmentSelector,
    pub kernel_data: SegmentSelector,
    pub user_data: SegmentSelector,
    pub user_code: SegmentSelector,
    pub tss: SegmentSelector,
}

/// The TSS: IST stacks, and RSP0 (the kernel stack an interrupt from ring 3 switches to),
/// rewritten at every thread switch by [`set_kernel_stack`].
static mut TSS: TaskStateSegment = TaskStateSegment::new();
static GDT: Once<(GlobalDescriptorTable, Selectors)> = Once::new();

fn stack_top(i: usize) -> VirtAddr {
    // SAFETY: only the address of the static is taken (no reference), and each IST stack is
    // used by the CPU alone.
    let base = unsafe { core::ptr::addr_of!(IST_STACKS[i].stack) } as u64;
    VirtAddr::new(base + IST_STACK_SIZE as u64)
}

/// Build and load the GDT and TSS, reload the segment registers.
pub fn init() {
    // SAFETY: runs once on the boot CPU before interrupts and threads exist: nothing else
    // touches TSS; afterwards only `set_kernel_stack` writes it (interrupts off).
    let tss: &'static TaskStateSegment = unsafe {
        let tss = &mut *core::ptr::addr_of_mut!(TSS);
        tss.interrupt_stack_table[(IST_DOUBLE_FAULT - 1) as usize] = stack_top(0);
        tss.interrupt_stack_table[(IST_NMI - 1) as usize] = stack_top(1);
        tss.interrupt_stack_table[(IST_MACHINE_CHECK - 1) as usize] = stack_top(2);
        &*core::ptr::addr_of!(TSS)
    };
    let (gdt, sel) = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let kernel_code = gdt.append(Descriptor::kernel_code_segment());
        let kernel_data = gdt.append(Descriptor::kernel_data_segment());
        let user_data = gdt.append(Descriptor::user_data_segment());
        let user_code = gdt.append(Descriptor::user_code_segment());
        let tss = gdt.append(Descriptor::tss_segment(tss));
        (
            gdt,
            Selectors {
                kernel_code,
                kernel_data,
                user_data,
                user_code,
                tss,
            },
        )
    });
    assert_eq!(sel.kernel_data.0, KERNEL_DATA_SELECTOR, "GDT layout");
    gdt.load();
    // SAFETY: the selectors index descriptors of the GDT just loaded (which lives forever in
    // a static), and the code/data descriptors are flat 64-bit kernel segments.
    unsafe {
        CS::set_reg(sel.kernel_code);
        DS::set_reg(sel.kernel_data);
        ES::set_reg(sel.kernel_data);
        SS::set_reg(sel.kernel_data);
        load_tss(sel.tss);
    }
}

/// Set TSS.RSP0: the stack the CPU switches to when an interrupt or exception arrives in
/// ring 3. Called by the scheduler (interrupts off) when a thread starts running.
pub fn set_kernel_stack(top: u64) {
    // SAFETY: an 8-byte store into the TSS, which the CPU only reads when it takes an
    // interrupt from ring 3 (impossible here: we run in ring 0 with interrupts off). The TSS is
    // packed (RSP0 sits at offset 4), hence the unaligned store.
    unsafe {
        core::ptr::write_unaligned(
            core::ptr::addr_of_mut!(TSS.privilege_stack_table[0]),
            VirtAddr::new(top),
        )
    };
}

/// The selectors (for the ring-3 and `syscall` code).
pub fn selectors() -> Selectors {
    GDT.get().expect("gdt::init runs first in kmain").1
}
