//! The auxiliary vector: the `AT_*` entries a libc and the dynamic linker read at start-up
//! (x86-64 psABI §3.4.3, Linux's `create_elf_tables`). The entries that point into the
//! initial stack (`AT_RANDOM`, `AT_EXECFN`, `AT_PLATFORM`) are added by
//! [`crate::build_stack`], which knows where it puts them.

use alloc::vec::Vec;

use crate::{LoadPlan, PAGE_SIZE};

/// Auxiliary vector entry types (Linux's include/uapi/linux/auxvec.h numbering).
pub mod at {
    pub const NULL: u64 = 0;
    pub const PHDR: u64 = 3;
    pub const PHENT: u64 = 4;
    pub const PHNUM: u64 = 5;
    pub const PAGESZ: u64 = 6;
    pub const BASE: u64 = 7;
    pub const FLAGS: u64 = 8;
    pub const ENTRY: u64 = 9;
    pub const UID: u64 = 11;
    pub const EUID: u64 = 12;
    pub const GID: u64 = 13;
    pub const EGID: u64 = 14;
    pub const PLATFORM: u64 = 15;
    pub const HWCAP: u64 = 16;
    pub const CLKTCK: u64 = 17;
    pub const SECURE: u64 = 23;
    pub const RANDOM: u64 = 25;
    pub const HWCAP2: u64 = 26;
    pub const EXECFN: u64 = 31;
    pub const MINSIGSTKSZ: u64 = 51;
}

/// What the auxiliary vector says beyond the load plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuxvInput {
    /// CPUID leaf 1 EDX, as Linux's ELF_HWCAP on x86.
    pub hwcap: u64,
    pub uid: u64,
    pub gid: u64,
    /// Clock ticks per second of `times()` (USER_HZ, 100 on Linux).
    pub clktck: u64,
    /// Minimum signal stack size the kernel's signal frame needs.
    pub minsigstksz: u64,
}

/// The entries for `program` started through an interpreter loaded at `interp_base` (`None`
/// for a static executable): AT_PHDR/PHENT/PHNUM and AT_ENTRY describe the program itself,
/// AT_BASE the interpreter (0 without one). Without the terminating AT_NULL.
pub fn auxv_for(
    program: &LoadPlan,
    interp_base: Option<u64>,
    input: &AuxvInput,
) -> Vec<(u64, u64)> {
    alloc::vec![
        (at::HWCAP, input.hwcap),
        (at::PAGESZ, PAGE_SIZE),
        (at::CLKTCK, input.clktck),
        (at::PHDR, program.phdr),
        (at::PHENT, program.phent),
        (at::PHNUM, program.phnum),
        (at::BASE, interp_base.unwrap_or(0)),
        (at::FLAGS, 0),
        (at::ENTRY, program.entry),
        (at::UID, input.uid),
        (at::EUID, input.uid),
        (at::GID, input.gid),
        (at::EGID, input.gid),
        (at::SECURE, 0),
        (at::MINSIGSTKSZ, input.minsigstksz),
    ]
}
