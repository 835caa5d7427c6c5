//! The kernel's kinds of open file beside tmpfs files, pipes and eventfds (which `vfs` owns):
//! the console ([`console::ConsoleFile`], on descriptors 0, 1 and 2 of every new program) and
//! sockets ([`socket::SocketFile`], an adapter over `net::sockfs`), the character devices
//! under /dev ([`devices`]: null, zero, full, random, urandom, tty, console), plus what every
//! program's descriptor table and working directory start as.
//!
//! Owns the readiness key of non-socket files ([`FILES_KEY`]): `vfs` files never block and
//! have no wait queues, so a blocking read or write of a pipe or an eventfd sleeps on this one
//! key and every change that can make such a file ready (a read, a write, a close) wakes it.
//! Sockets keep their own keys (`net::sys::WaitInfo`). Never holds a descriptor table across a
//! sleep.

pub mod console;
pub mod devices;
pub mod epoll;
pub mod socket;
pub mod timerfd;

use alloc::sync::Arc;

use vfs::flags::{O_DIRECTORY, O_PATH, O_RDWR};
use vfs::{FdTable, OpenFile};

use crate::wait;

/// Sleepers on pipes and eventfds (see the module doc).
pub const FILES_KEY: u64 = wait::KERNEL_KEY_BIT | 17;

/// A new program's descriptor table: the console on 0, 1 and 2 (one open file, read/write,
/// as a terminal opened once and duplicated).
pub fn stdio_table() -> FdTable {
    let mut table = FdTable::default();
    let console = OpenFile::with_exact_flags(Arc::new(console::ConsoleFile), O_RDWR);
    for _ in 0..3 {
        // An empty table below its limit always has room for three descriptors; a failure
        // here (no memory for three slots) leaves the program without them, as EBADF.
        let _ = table.install(console.clone(), false);
    }
    table
}

/// A new program's working directory: the root, held open as `O_PATH | O_DIRECTORY` so it
/// stays valid if it is removed (`None` without a root file system).
pub fn root_dir() -> Option<Arc<OpenFile>> {
    let fs = crate::fs::root()?;
    fs.open(fs.root(), b"/", O_PATH | O_DIRECTORY, 0).ok()
}

/// File times: seconds since boot (no real-time clock yet), as the root tmpfs stamps them.
pub fn now() -> vfs::Timespec {
    let ns = crate::time::now().as_nanos();
    vfs::Timespec::new((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as u32)
}

/// Whether a change to `file` can wake a sleeper on [`FILES_KEY`] (pipes, eventfds and
/// socket-pair ends).
pub fn wakes_others(file: &OpenFile) -> bool {
    let any = file.ops().as_any();
    any.is::<vfs::pipe::PipeEnd>()
        || any.is::<vfs::eventfd::EventFd>()
        || any.is::<vfs::unix::UnixEnd>()
}

/// Drop a file a descriptor no longer names: the last reference to a socket releases it now
/// (returning what a lingering close waits for, see [`socket::release_now`]); a pipe end or
/// an eventfd wakes sleepers on [`FILES_KEY`].
pub fn put(file: Arc<OpenFile>) -> Option<(net::tcp::Handle, net::Instant)> {
    if socket::socket_id(&file).is_some() {
        return socket::release_now(file);
    }
    let wake = wakes_others(&file);
    drop(file);
    if wake {
        wait::wake_all(FILES_KEY);
    }
    None
}

/// Close every descriptor of a table (a program ended).
pub fn close_all(table: &spin::Mutex<FdTable>) {
    let closed = table.lock().close_range(0, u32::MAX, 0).unwrap_or_default();
    for file in closed {
        let _ = put(file);
    }
}
