//! Locks for a single-CPU kernel whose interrupt handlers may touch shared state: the types of
//! `arch::sync` (interrupt masking is the CPU's), under the path the rest of the kernel uses.
//!
//! Owns nothing itself.

pub use crate::arch::sync::{IrqGuard, IrqMutex, IrqRawMutex, SingleCpu};
