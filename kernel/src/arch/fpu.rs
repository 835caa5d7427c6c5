//! The x87/SSE state of ring-3 threads: SSE enabled for programs (CR0.MP, no CR0.EM,
//! CR4.OSFXSR, CR4.OSXMMEXCPT — every x86-64 program uses SSE), and each ring-3 thread's
//! registers saved and restored with `fxsave`/`fxrstor` when the scheduler switches threads.
//! The kernel itself is built without SSE (`x86_64-unknown-none` is soft-float), so its code
//! never touches these registers and a system call need not save them.
//!
//! XSAVE is not enabled (CR4.OSXSAVE stays clear), so CPUID tells programs AVX is unusable and
//! the 512-byte FXSAVE area holds all the state a program can have.
//!
//! Owns CR0.EM/MP, CR4.OSFXSR/OSXMMEXCPT and the initial FPU image; never lets one thread's
//! registers reach another.

use alloc::boxed::Box;
use core::arch::asm;

use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};

/// An FXSAVE area (Intel SDM vol. 1 §10.5.1): 512 bytes, 16-byte aligned.
#[repr(C, align(16))]
#[derive(Clone)]
pub struct FpuState([u8; 512]);

/// The state a new program starts with (after `fninit`, MXCSR 0x1f80), captured at boot.
static mut INITIAL: FpuState = FpuState([0; 512]);

/// Turn on SSE for ring 3 (`arch::enable_cpu_features`, first thing at boot).
pub fn enable() {
    // SAFETY: MP set / EM clear / TS clear make x87 and SSE instructions execute; OSFXSR and
    // OSXMMEXCPT enable fxsave/fxrstor and SSE exceptions: only ring-3 code uses them.
    unsafe {
        Cr0::update(|c| {
            c.remove(Cr0Flags::EMULATE_COPROCESSOR | Cr0Flags::TASK_SWITCHED);
            c.insert(Cr0Flags::MONITOR_COPROCESSOR);
        });
        Cr4::update(|c| {
            c.insert(Cr4Flags::OSFXSR | Cr4Flags::OSXMMEXCPT_ENABLE);
        });
    }
}

/// Capture the initial FPU image (after [`enable`]). Once, at boot.
pub fn init() {
    // SAFETY: SSE is on (`enable`); the capture writes the static once, before any thread
    // exists.
    unsafe {
        let mxcsr: u32 = 0x1f80;
        asm!("fninit", "ldmxcsr [{}]", in(reg) &mxcsr, options(nostack));
        let area = &mut *core::ptr::addr_of_mut!(INITIAL);
        asm!("fxsave64 [{}]", in(reg) area.0.as_mut_ptr(), options(nostack));
    }
}

impl FpuState {
    /// A new thread's state: the boot image.
    pub fn initial() -> Box<FpuState> {
        // SAFETY: INITIAL is written once in `init`, before any thread exists; read only after.
        Box::new(unsafe { (*core::ptr::addr_of!(INITIAL)).clone() })
    }

    /// Save the live x87/SSE registers here.
    pub fn save(&mut self) {
        // SAFETY: a 16-byte-aligned 512-byte area of ours; fxsave only writes it.
        unsafe { asm!("fxsave64 [{}]", in(reg) self.0.as_mut_ptr(), options(nostack)) };
    }

    /// The 512-byte image (for a signal frame).
    pub fn bytes(&self) -> &[u8; 512] {
        &self.0
    }

    /// An image a program supplied (`rt_sigreturn`), made safe to load: MXCSR keeps only the
    /// bits this CPU supports (its MXCSR_MASK), so `fxrstor` cannot fault on reserved bits.
    pub fn from_user(bytes: &[u8; 512]) -> FpuState {
        let mut live = FpuState([0; 512]);
        live.save();
        let mask = match u32::from_le_bytes([live.0[28], live.0[29], live.0[30], live.0[31]]) {
            0 => 0xffbf,
            m => m,
        };
        let mut s = FpuState(*bytes);
        let mxcsr = u32::from_le_bytes([s.0[24], s.0[25], s.0[26], s.0[27]]) & mask;
        s.0[24..28].copy_from_slice(&mxcsr.to_le_bytes());
        s.0[28..32].copy_from_slice(&mask.to_le_bytes());
        s
    }

    /// The live registers as they are now.
    pub fn live() -> FpuState {
        let mut s = FpuState([0; 512]);
        s.save();
        s
    }

    /// Reset the live registers to a new program's state (a signal handler starts so).
    pub fn reset_live() {
        // SAFETY: INITIAL is written once in `init`, before any thread exists; read only after.
        let init = unsafe { &*core::ptr::addr_of!(INITIAL) };
        init.restore();
    }

    /// Load the x87/SSE registers from here.
    pub fn restore(&self) {
        // SAFETY: the area was filled by fxsave (or is the boot image), so its reserved bits
        // and MXCSR are valid and fxrstor cannot fault.
        unsafe { asm!("fxrstor64 [{}]", in(reg) self.0.as_ptr(), options(nostack)) };
    }
}
