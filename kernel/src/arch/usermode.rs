//! Dropping to ring 3: `iretq` with a thread's full register set, in the loaded address
//! space (the program's own, `mm::space`, where `mm::paging` makes only the programs' pages
//! user-accessible).
//!
//! Owns the ring-3 entry frame. Never returns: the thread comes back to the kernel only through
//! `syscall`, an interrupt or an exception.

use core::arch::asm;

use super::gdt;

/// RFLAGS for ring-3 code: IF set (interrupts stay on), reserved bit 1, IOPL 0 (so `cli`, `hlt`,
/// `in`/`out` fault).
const USER_RFLAGS: u64 = 0x202;

/// A ring-3 thread's registers, to start it somewhere other than a fresh entry point: a
/// `clone` child resumes where its parent called `clone`, with its own stack and `rax = 0`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct UserRegs {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rip: u64,
    pub rsp: u64,
    pub rflags: u64,
}

/// RFLAGS bits a program may carry across (CF, PF, AF, ZF, SF, DF, OF): never IOPL, TF, NT,
/// AC or the rest.
const USER_FLAGS_KEPT: u64 = 0xcd5;

/// RFLAGS for a return to ring 3 from a program-supplied value (a signal frame).
pub fn user_rflags(rflags: u64) -> u64 {
    (rflags & USER_FLAGS_KEPT) | USER_RFLAGS
}

/// Enter ring 3 with every general register from `regs`.
pub fn enter_regs(regs: &UserRegs) -> ! {
    crate::cputime::leave_kernel();
    let sel = gdt::selectors();
    let cs = u64::from(sel.user_code.0 | 3);
    let ss = u64::from(sel.user_data.0 | 3);
    let rflags = user_rflags(regs.rflags);
    let r = *regs;
    // SAFETY: as in `enter`: an interrupt-return frame to ring 3 with the user selectors,
    // interrupts off until `iretq`. `rip`/`rsp` are the program's own (checked canonical by
    // the caller; a bad one faults in ring 3 and ends the program). The registers are loaded
    // from `r`, a copy on this kernel stack, through r15, which is loaded last.
    unsafe {
        asm!(
            "cli",
            "push {ss}",
            "push {rsp}",
            "push {rflags}",
            "push {cs}",
            "push {rip}",
            "mov r14, [r15 + 8]",
            "mov r13, [r15 + 16]",
            "mov r12, [r15 + 24]",
            "mov rbp, [r15 + 32]",
            "mov rbx, [r15 + 40]",
            "mov r11, [r15 + 48]",
            "mov r10, [r15 + 56]",
            "mov r9, [r15 + 64]",
            "mov r8, [r15 + 72]",
            "mov rax, [r15 + 80]",
            "mov rcx, [r15 + 88]",
            "mov rdx, [r15 + 96]",
            "mov rsi, [r15 + 104]",
            "mov rdi, [r15 + 112]",
            "mov r15, [r15]",
            "iretq",
            ss = in(reg) ss,
            rsp = in(reg) r.rsp,
            rflags = in(reg) rflags,
            cs = in(reg) cs,
            rip = in(reg) r.rip,
            in("r15") &r as *const UserRegs,
            options(noreturn)
        )
    }
}
