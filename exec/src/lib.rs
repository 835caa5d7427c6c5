//! What `execve` computes from the bytes of an ELF file before any memory is touched: the
//! **load plan** (which pages to map where, with which protection, filled from which file
//! bytes; the entry point; the program interpreter a dynamic executable names) and the
//! **initial process stack** (argc, argv, envp, the auxiliary vector and the strings they
//! point at, laid out as Linux's `create_elf_tables` and the x86-64 psABI §3.4.1 lay them out).
//!
//! Owns parsing and checking only: the kernel's `proc` module maps the pages the plan names and
//! copies the bytes. Every byte of the file is hostile: sizes, offsets and addresses are
//! checked with overflow-safe arithmetic and answered with [`ExecError`] (which maps to the
//! errno `execve` returns), never a panic and never an allocation sized by the file. ELF
//! structures are read with the `object` crate; no `unsafe` here.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod auxv;
mod error;
mod plan;
mod stack;

pub use auxv::{at, auxv_for, AuxvInput};
pub use error::ExecError;
pub use plan::{
    plan, plan_from_head, ElfKind, LoadPlan, Prot, Segment, DYN_BASE, MAX_INTERP_LEN, MAX_PHNUM,
    PAGE_SIZE, USER_END,
};
pub use stack::{build_stack, InitialStack, StackRequest, MAX_ARG_BYTES, MAX_ARG_STRLEN};

#[cfg(test)]
mod tests;
