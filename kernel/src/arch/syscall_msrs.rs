//! The `syscall` instruction's MSRs (STAR, LSTAR, SFMASK, EFER.SCE, GS_BASE, KERNEL_GS_BASE)
//! and the per-CPU area KERNEL_GS_BASE points at, which the entry stub below reaches
//! through `swapgs`.
//!
//! Owns the MSR values, every write to the per-CPU area from Rust ([`set_kernel_stack_top`]),
//! and the entry stub itself (`syscall_entry`), which hands the frame to `crate::syscall`.

use core::arch::global_asm;

use crate::arch::{gdt, rdmsr, wrmsr};

const IA32_EFER: u32 = 0xc000_0080;
const IA32_STAR: u32 = 0xc000_0081;
const IA32_LSTAR: u32 = 0xc000_0082;
const IA32_FMASK: u32 = 0xc000_0084;
const IA32_GS_BASE: u32 = 0xc000_0101;
const IA32_KERNEL_GS_BASE: u32 = 0xc000_0102;
const EFER_SCE: u64 = 1;
/// RFLAGS bits cleared on entry: TF (0x100), IF (0x200), DF (0x400), AC (0x40000).
const FMASK: u64 = 0x100 | 0x200 | 0x400 | 0x4_0000;

/// Per-CPU area reached through `swapgs` by the `syscall` entry: the current thread's kernel
/// stack top (offset 0) and a scratch slot for the user `rsp` (offset 8).
#[repr(C)]
pub struct PerCpu {
    pub kstack_top: u64,
    pub user_rsp_scratch: u64,
}

/// The one CPU's area. Never borrowed from Rust: written through a raw pointer by
/// [`set_kernel_stack_top`], read and written by the entry stub through GS.
static mut PER_CPU: PerCpu = PerCpu {
    kstack_top: 0,
    user_rsp_scratch: 0,
};

// The `syscall` entry: switch to the thread's kernel stack through the per-CPU area, push the
// user registers as a `crate::syscall::SyscallFrame` (whose field order is this push order,
// reversed), call `crate::syscall::dispatch` with interrupts on, and `sysretq` back.
global_asm!(
    r#"
.section .text.syscall_entry, "ax", @progbits
.global syscall_entry
syscall_entry:
    swapgs
    mov gs:[8], rsp
    mov rsp, gs:[0]
    push qword ptr gs:[8]
    swapgs
    push r11
    push rcx
    push rax
    push rdi
    push rsi
    push rdx
    push r10
    push r8
    push r9
    push rbx
    push rbp
    push r12
    push r13
    push r14
    push r15
    mov rdi, rsp
    sti
    call {dispatch}
    cli
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbp
    pop rbx
    pop r9
    pop r8
    pop r10
    pop rdx
    pop rsi
    pop rdi
    pop rax
    pop rcx
    pop r11
    pop rsp
    sysretq
"#,
    dispatch = sym crate::syscall::dispatch,
);

extern "C" {
    /// The entry stub above.
    fn syscall_entry();
}

/// Program the `syscall` MSRs (after `gdt::init` and before the first thread switch): LSTAR
/// is the entry stub `syscall_entry`, KERNEL_GS_BASE the per-CPU area, GS_BASE 0 (the
/// user's value is live outside the entry stub's `swapgs` pair), SFMASK clears TF, IF, DF
/// and AC on entry, and EFER.SCE turns the instruction on.
///
/// STAR (SDM vol. 2B, SYSCALL/SYSRET): bits 47:32 = kernel CS (SS = CS + 8): 0x08 -> CS 0x08,
/// SS 0x10. Bits 63:48 = base for SYSRET to 64-bit mode: CS = base + 16, SS = base + 8, both
/// with RPL 3: base 0x10 -> SS 0x18|3 (user data), CS 0x20|3 (user code), matching the GDT.
pub fn init() {
    let sel = gdt::selectors();
    let kcs = u64::from(sel.kernel_code.0);
    let base = u64::from(sel.user_data.0 & !3) - 8;
    debug_assert_eq!(u64::from(sel.user_code.0 & !3), base + 16);
    let per_cpu = core::ptr::addr_of!(PER_CPU) as u64;
    // SAFETY: these MSRs exist on every x86_64 CPU; the values follow the SDM layout above,
    // LSTAR points at the entry stub, and GS_BASE/KERNEL_GS_BASE follow the swapgs convention
    // (user value live, per-CPU area in KERNEL_GS_BASE).
    unsafe {
        wrmsr(IA32_STAR, (base << 48) | (kcs << 32));
        wrmsr(IA32_LSTAR, syscall_entry as *const () as u64);
        wrmsr(IA32_FMASK, FMASK);
        wrmsr(IA32_GS_BASE, 0);
        wrmsr(IA32_KERNEL_GS_BASE, per_cpu);
        let efer = rdmsr(IA32_EFER);
        wrmsr(IA32_EFER, efer | EFER_SCE);
    }
}

/// Set the kernel stack the next `syscall` entry switches to (at every thread switch, with
/// interrupts off, for the thread about to run).
pub fn set_kernel_stack_top(top: u64) {
    // SAFETY: no reference to PER_CPU ever exists (only raw pointers and the entry stub's GS
    // accesses), so this write aliases nothing; the entry stub only reads the slot on a
    // `syscall` from ring 3, which cannot happen while the kernel runs this on the one CPU.
    unsafe { core::ptr::addr_of_mut!(PER_CPU.kstack_top).write(top) };
}
