//! Dropping to ring 3: `iretq` into a user entry point on a user stack, in the loaded address
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

/// Enter ring 3 at `rip` with stack `rsp` and `args` in rdi, rsi, rdx.
pub fn enter(rip: u64, rsp: u64, args: [u64; 3]) -> ! {
    let sel = gdt::selectors();
    let cs = u64::from(sel.user_code.0 | 3);
    let ss = u64::from(sel.user_data.0 | 3);
    // SAFETY: builds an interrupt-return frame to ring 3 with the GDT's user selectors; `rip`
    // and `rsp` lie in user-accessible pages (kernel .text, mm::paging; a ring-3 stack). Interrupts are off from `cli` until `iretq` loads RFLAGS with IF set, so the
    // frame cannot be disturbed. General registers other than the arguments are cleared so no
    // kernel value leaks to the program.
    unsafe {
        asm!(
            "cli",
            "push {ss}",
            "push {rsp}",
            "push {rflags}",
            "push {cs}",
            "push {rip}",
            "xor eax, eax",
            "xor ebx, ebx",
            "xor ecx, ecx",
            "xor ebp, ebp",
            "xor r8d, r8d",
            "xor r9d, r9d",
            "xor r10d, r10d",
            "xor r11d, r11d",
            "xor r12d, r12d",
            "xor r13d, r13d",
            "xor r14d, r14d",
            "xor r15d, r15d",
            "iretq",
            ss = in(reg) ss,
            rsp = in(reg) rsp,
            rflags = in(reg) USER_RFLAGS,
            cs = in(reg) cs,
            rip = in(reg) rip,
            in("rdi") args[0],
            in("rsi") args[1],
            in("rdx") args[2],
            options(noreturn)
        )
    }
}
