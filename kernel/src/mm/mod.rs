//! Memory management above the frame allocator (`mem`): the page tables' rights (W^X, the
//! kernel supervisor-only, ring-3 stacks) and user memory access for system calls.
//!
//! Owns every page-table change after boot and every access to a user address; never hands
//! the kernel a user address it has not checked against the live page tables.

pub mod paging;
pub mod space;
pub mod uaccess;
