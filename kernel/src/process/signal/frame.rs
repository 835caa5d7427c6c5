//! Linux's x86-64 signal frame (`struct rt_sigframe`, arch/x86/include/asm/sigframe.h): what
//! a handler finds on its stack, and what `rt_sigreturn` reads back.
//!
//! ```text
//! handler rsp -> pretcode        (sa_restorer: the handler's `ret` goes there)
//!                struct ucontext (uc_flags, uc_link, uc_stack, uc_mcontext, uc_sigmask)
//!                siginfo_t       (128 bytes)
//!                ... up to the FXSAVE image (512 bytes, 64-aligned; sigcontext.fpstate)
//! ```
//!
//! Owns only the layouts (sizes checked at compile time) and where the frame goes on the
//! stack; copies go through `uaccess`.

use super::pending::Info;

/// `struct sigcontext` (64-bit): the interrupted registers. 256 bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct SigContext {
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rsp: u64,
    pub rip: u64,
    pub eflags: u64,
    /// cs, gs, fs, ss: four 16-bit selectors.
    pub csgsfs: u64,
    pub err: u64,
    pub trapno: u64,
    pub oldmask: u64,
    pub cr2: u64,
    /// Address of the FXSAVE image (0: none; `rt_sigreturn` then resets the FPU).
    pub fpstate: u64,
    pub reserved: [u64; 8],
}

/// The kernel's `struct ucontext` (sigset is the kernel's 8 bytes). 304 bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct UContext {
    pub flags: u64,
    pub link: u64,
    pub ss_sp: u64,
    pub ss_flags: i32,
    pub _pad: i32,
    pub ss_size: u64,
    pub mcontext: SigContext,
    pub sigmask: u64,
}

/// `siginfo_t`: 128 bytes; the union starts at 16 (`si_pid`/`si_uid`, or `si_addr`).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct SigInfo {
    pub signo: i32,
    pub errno: i32,
    pub code: i32,
    pub _pad: i32,
    pub field0: u64,
    pub rest: [u64; 13],
}

/// `struct rt_sigframe` (64-bit): 440 bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct RtSigFrame {
    pub pretcode: u64,
    pub uc: UContext,
    pub info: SigInfo,
}

const _: () = assert!(core::mem::size_of::<SigContext>() == 256);
const _: () = assert!(core::mem::size_of::<UContext>() == 304);
const _: () = assert!(core::mem::size_of::<SigInfo>() == 128);
const _: () = assert!(core::mem::size_of::<RtSigFrame>() == 440);

/// `uc_flags`: UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS, as Linux sets on x86-64.
pub const UC_FLAGS: u64 = 2 | 4;
/// Offset of the ucontext in the frame (`&uc` is the handler's third argument).
pub const UC_OFFSET: u64 = 8;
/// Offset of the siginfo in the frame (the second argument).
pub const INFO_OFFSET: u64 = 8 + 304;
/// The FXSAVE image's size.
pub const FPSTATE_SIZE: u64 = 512;
/// Bytes below the interrupted rsp a leaf function may use (the ABI's red zone).
const RED_ZONE: u64 = 128;

/// The signal number, code and the union's first field, as a handler sees them.
pub fn siginfo(info: &Info) -> SigInfo {
    let field0 = if info.addr != 0 || info.trapno != 0 {
        info.addr
    } else {
        u64::from(info.pid) | (u64::from(info.uid) << 32)
    };
    SigInfo {
        signo: info.signo,
        errno: 0,
        code: info.code,
        _pad: 0,
        field0,
        rest: [0; 13],
    }
}

/// Where the frame and the FXSAVE image go, below `sp` (the stack's top to use: the
/// interrupted rsp, or the alternate stack's top): (frame, fpstate). At the handler's entry
/// rsp = frame, so rsp + 8 is 16-byte aligned, as after a `call`.
pub fn place(sp: u64, on_alt_top: bool) -> Option<(u64, u64)> {
    let sp = if on_alt_top {
        sp
    } else {
        sp.checked_sub(RED_ZONE)?
    };
    let fp = sp.checked_sub(FPSTATE_SIZE)? & !63;
    let frame =
        (fp.checked_sub(core::mem::size_of::<RtSigFrame>() as u64)? & !15).checked_sub(8)?;
    Some((frame, fp))
}
