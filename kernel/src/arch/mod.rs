//! x86_64 specifics: boot, descriptor tables, interrupts, APICs, entropy, and the few CPU
//! instructions the rest of the kernel needs (`idle`, `rdtsc`, `cpuid`).
//!
//! Owns every privileged instruction outside the drivers. Must never hold interrupts off for
//! longer than a handler or a lock.

pub mod apic;
pub mod boot;
pub mod context;
pub mod debug_exit;
pub mod entropy;
pub mod fault;
pub mod fpu;
pub mod gdt;
pub mod idt;
pub mod ioapic;
pub mod irq;
pub mod paging;
pub mod pic;
pub mod pit;
pub mod rtc;
pub mod sync;
pub mod syscall_msrs;
pub mod uart;
pub mod usermode;

use core::arch::asm;

/// Load the GDT/TSS and the IDT (exceptions reported from here on), install the stack guard
/// and silence the legacy PICs (before the PIT calibration makes channel 0 tick).
pub fn init_cpu_tables() {
    gdt::init();
    idt::init();
    pic::disable();
    if let Err(e) = paging::install_stack_guard() {
        log::warn!("paging: no stack guard page: {e}");
    }
    fpu::init();
}

/// Turn on, before any other kernel code runs, the CPU state QEMU's TCG folds into the key of
/// every translated block (CR0.MP and CR4.OSFXSR/OSXMMEXCPT for SSE, UMIP, SMAP): code run
/// both before and after a change would be translated twice, and under TCG the first
/// translation of code that runs once is most of the boot. SMEP and SMAP come with it
/// (`mm::paging::enable_smep_smap`); `mm::paging::init` turns them off again if the command
/// line says so.
pub fn enable_cpu_features() {
    fpu::enable();
    enable_umip();
}

/// User-mode instruction prevention when the CPU has it (CPUID.(7,0):ECX[2]), as Linux turns
/// it on: `sgdt`, `sidt`, `sldt`, `smsw`, `str` fault in ring 3 instead of telling a program
/// where the kernel's tables are.
fn enable_umip() {
    if cpuid(0, 0).eax < 7 || cpuid(7, 0).ecx & (1 << 2) == 0 {
        return;
    }
    // SAFETY: the CPU reports UMIP; it only makes those instructions fault in ring 3, which
    // the kernel never relies on.
    unsafe {
        x86_64::registers::control::Cr4::update(|c| {
            c.insert(x86_64::registers::control::Cr4Flags::USER_MODE_INSTRUCTION_PREVENTION)
        })
    };
}

/// Enable the LAPIC and mask every IO-APIC input. Needs `time::init` first (the LAPIC timer
/// is calibrated against the TSC).
pub fn init_interrupt_controllers() {
    apic::init();
    ioapic::init();
}

/// Wait for the next interrupt: `sti; hlt` back to back, so an interrupt that arrives between
/// the two still wakes the `hlt` (STI's one-instruction shadow). Returns with interrupts
/// disabled again if they were disabled on entry.
///
/// The lost-wakeup-free pattern: disable interrupts, check the condition (flag, deadline),
/// arm the timer if needed, then call `idle()`; loop. An interrupt that fires after the check
/// stays pending and ends the `hlt` at once.
pub fn idle() {
    let were_enabled = x86_64::instructions::interrupts::are_enabled();
    // SAFETY: enabling interrupts and halting is what an idle kernel does; handlers are
    // installed before the first call (kmain enables them after the IDT is loaded).
    unsafe { asm!("sti", "hlt", options(nomem, nostack)) };
    if !were_enabled {
        x86_64::instructions::interrupts::disable();
    }
}

/// Interrupts off, halt forever.
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: stopping the CPU with interrupts masked has no memory effects.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// Read the time-stamp counter.
#[inline]
pub fn rdtsc() -> u64 {
    // SAFETY: RDTSC is available on every x86_64 CPU and only reads the counter.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Result of one CPUID leaf.
#[derive(Debug, Clone, Copy)]
pub struct Cpuid {
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
}

/// Execute CPUID for `leaf`/`subleaf`.
pub fn cpuid(leaf: u32, subleaf: u32) -> Cpuid {
    let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
    Cpuid {
        eax: r.eax,
        ebx: r.ebx,
        ecx: r.ecx,
        edx: r.edx,
    }
}

/// Read a model-specific register.
///
/// # Safety
/// `msr` must exist on this CPU (reading an absent MSR raises #GP).
pub unsafe fn rdmsr(msr: u32) -> u64 {
    // SAFETY: the caller guarantees the MSR exists.
    unsafe { x86_64::registers::model_specific::Msr::new(msr).read() }
}

/// Write a model-specific register.
///
/// # Safety
/// `msr` must exist and `value` must be valid for it; the caller owns the consequences.
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: forwarded from the caller.
    unsafe { x86_64::registers::model_specific::Msr::new(msr).write(value) }
}

const IA32_FS_BASE: u32 = 0xc000_0100;

/// Load the FS base ring 3 uses for thread-local storage (`arch_prctl(ARCH_SET_FS)`). The
/// caller checked that `base` is canonical.
pub fn set_fs_base(base: u64) {
    // SAFETY: IA32_FS_BASE exists on every x86_64 CPU; the kernel never uses FS, so its value
    // only matters to ring 3. A non-canonical value would #GP: callers check.
    unsafe { wrmsr(IA32_FS_BASE, base) }
}

/// CPUID leaf 1 EDX: the feature bits Linux reports as `AT_HWCAP` on x86.
pub fn cpuid_hwcap() -> Option<u64> {
    let r = core::arch::x86_64::__cpuid(1);
    Some(u64::from(r.edx))
}
