//! Thread context switch: the callee-saved registers and `rsp` saved on the outgoing thread's
//! stack (`rinet_switch`), and the first frame of a new thread, whose return address is a
//! trampoline that calls the scheduler's start function.
//!
//! Owns the switch and the initial frame's layout; never switches with interrupts on, and
//! never resumes a saved context twice (a [`Context`] is consumed by the switch to it).

use core::arch::global_asm;

use x86_64::instructions::interrupts;

use crate::mm::kstack::{KernelStack, SpareStack};

global_asm!(
    r#"
.section .text.rinet_switch, "ax", @progbits
.global rinet_switch
/* rinet_switch(old_rsp: *mut u64 [rdi], new_rsp: u64 [rsi]) */
rinet_switch:
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    mov [rdi], rsp
    mov rsp, rsi
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    ret

.global rinet_thread_trampoline
/* First return address of a new thread: r12 = entry, r13 = arg, r14 = start function. */
rinet_thread_trampoline:
    mov rdi, r12
    mov rsi, r13
    call r14
    ud2
"#
);

extern "C" {
    fn rinet_switch(old_rsp: *mut u64, new_rsp: u64);
    fn rinet_thread_trampoline();
}

/// What a new thread's trampoline calls: `start(entry, arg)`, which never returns. `entry` is
/// a Rust function pointer passed through unchanged (not an FFI type, but only Rust code makes
/// and calls it).
#[allow(improper_ctypes_definitions)]
pub type ThreadStart = extern "C" fn(entry: fn(usize), arg: usize) -> !;

/// A switched-out thread's saved stack pointer, or nothing (the running thread's, until its
/// next switch away fills it).
#[derive(Debug, Default)]
pub struct Context {
    /// 0: nothing saved.
    rsp: u64,
}

impl Context {
    /// Nothing saved: the running thread's slot.
    pub const fn empty() -> Self {
        Context { rsp: 0 }
    }
}

/// Lay out the first frame of a thread on `stack` (zeroed first if `zero`): when switched to,
/// it runs `start(entry, arg)` with interrupts as the switch left them. Returns the stack, now
/// the thread's, and the context to switch to.
pub fn new_thread(
    stack: SpareStack,
    zero: bool,
    start: ThreadStart,
    entry: fn(usize),
    arg: usize,
) -> (KernelStack, Context) {
    // Popped by rinet_switch: r15 r14 r13 r12 rbx rbp, then the trampoline as return address;
    // `lay_out` leaves 16 bytes of padding above, keeping `start`'s entry ABI-aligned.
    let words: [u64; 7] = [
        0,
        start as usize as u64,
        arg as u64,
        entry as usize as u64,
        0,
        0,
        rinet_thread_trampoline as *const () as u64,
    ];
    let (stack, rsp) = stack.lay_out(zero, &words);
    (stack, Context { rsp })
}

/// Switch to the thread saved in `to`, saving the running one in the slot `save` picks out
/// of `guard`'s data; `guard` (the scheduler's lock) is released just before the switch.
/// Returns when some thread switches back to the saved context.
///
/// The caller may rely on: nothing runs between the release and the switch (interrupts must
/// be off: checked, panics otherwise), so the slot is still where `save` found it when it is
/// written; `to` is consumed, so a context is resumed at most once. Panics if `to` is empty.
pub fn switch<G>(mut guard: G, save: impl FnOnce(&mut G) -> &mut Context, to: Context) {
    assert!(to.rsp != 0, "switch to a thread with no saved context");
    let slot: *mut u64 = &mut save(&mut guard).rsp;
    drop(guard);
    assert!(
        !interrupts::are_enabled(),
        "context switch with interrupts on"
    );
    // SAFETY: `slot` points at the outgoing thread's save slot, which was valid when `save`
    // returned it; interrupts are off on this single CPU, so nothing ran since the guard was
    // dropped that could have moved or freed it. `to.rsp` is a stack pointer saved by a
    // previous switch or laid out by `new_thread` on a stack that is still allocated (its
    // owner keeps it while the thread exists), and consuming `to` means it is resumed once.
    unsafe { rinet_switch(slot, to.rsp) };
}
