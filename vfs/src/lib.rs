//! rinet's virtual file system: descriptor tables, the file trait every kind of open file
//! implements, tmpfs with its initramfs unpacker, pipes, eventfd and `AF_UNIX` socket pairs. Pure `no_std` + `alloc`, no
//! `unsafe`, no time source and no hardware: the kernel injects a [`Clock`] and calls in with
//! typed arguments it decoded from a program's registers; every answer is `Result<_, Errno>`
//! with Linux's errno numbers. Nothing here panics on a program's arguments or an archive's
//! bytes, and every structure that input can grow is bounded.
//!
//! How the kernel uses it: a process holds an [`FdTable`], its cwd as an open file (`O_PATH |
//! O_DIRECTORY`) and shares one [`Tmpfs`]; `openat(dirfd, path, flags, mode)` picks the start
//! directory ([`Tmpfs::dir_of`] the cwd for `AT_FDCWD`, else the dirfd's file), calls
//! [`Tmpfs::open`] and installs the
//! [`OpenFile`] with [`FdTable::install`]; `read`/`write`/`lseek`/`fstat`/`getdents64` go through
//! the [`OpenFile`] the descriptor names. Sockets plug in as described in [`file`](mod@file).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod cpio;
pub mod dirent;
pub mod epoll;
pub mod errno;
pub mod eventfd;
pub mod fdtable;
pub mod file;
pub mod flags;
pub mod gzip;
pub mod initramfs;
pub mod path;
pub mod pipe;
pub mod stat;
pub mod time;
pub mod tmpfs;
pub mod unix;

pub use errno::Errno;
pub use fdtable::FdTable;
pub use file::{FileOps, OpenFile};
pub use time::{Clock, Timespec};
pub use tmpfs::Tmpfs;
