//! Linux's user-visible numbers that rinet answers programs with, in one place for the
//! network stack (`net`), the file system (`vfs`) and the kernel: today the errno values.
//! Owns numbers and their names only; no unsafe, no allocation.

#![no_std]
#![forbid(unsafe_code)]

mod errno;

pub use errno::Errno;
