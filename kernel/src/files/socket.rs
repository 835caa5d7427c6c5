//! Sockets as open files: [`SocketFile`] names a socket file of `net::sockfs` and implements
//! `vfs::FileOps` over the network runtime (`netstack::with`), so sockets share descriptor
//! tables, `dup`, `fcntl` and `poll` with every other kind of file (the seeds' sockfs beside
//! tmpfs). `read`/`write` are `recv`/`send` without flags and never block (the syscall layer
//! sleeps on the socket's wait key); `stat` shows `S_IFSOCK | 0o777` with the sockfs inode.
//!
//! Release: the socket is released when its last open file goes. [`release_now`] does it at
//! once when `close` drops the last reference (and reports a lingering close's wait); any other
//! last drop (a thread still inside a call, a failed install, a table dropped with locks held)
//! runs [`Drop`], which only queues the file (`netstack::queue_release`, never allocating,
//! never taking the network lock) for the next `netstack::with` or poll round to release.
//! Never deadlocks, never leaks.

use alloc::sync::Arc;
use core::any::Any;
use core::sync::atomic::{AtomicBool, Ordering};

use net::sockfs::FileId;
use vfs::file::{IoctlReply, FIONREAD, POLLNVAL};
use vfs::flags::{O_NONBLOCK, O_RDWR, S_IFSOCK};
use vfs::stat::{DevId, Stat};
use vfs::{Errno, FileOps, OpenFile};

use crate::{netstack, time};

/// `SIOCINQ`: the same number as `FIONREAD`.
pub const SIOCINQ: u32 = FIONREAD;
/// `SIOCOUTQ`: bytes sent and not yet acknowledged (Linux's `TIOCOUTQ` number).
pub const SIOCOUTQ: u32 = 0x5411;
/// The pseudo device sockfs inodes report (Linux's sockfs shows 0:8).
const SOCKFS_DEV: DevId = DevId { major: 0, minor: 8 };

/// An open socket (the adapter `vfs::file` describes).
pub struct SocketFile {
    id: FileId,
    /// Released already (by [`release_now`]): nothing left for `Drop`.
    released: AtomicBool,
}

impl SocketFile {
    pub fn id(&self) -> FileId {
        self.id
    }
}

/// The sockfs file behind an open file, if it is a socket.
pub fn socket_id(file: &OpenFile) -> Option<FileId> {
    file.ops()
        .as_any()
        .downcast_ref::<SocketFile>()
        .map(SocketFile::id)
}

/// Wrap a new socket file (from `socket_file` or `accept_file`) as an open file, `O_RDWR`
/// with `O_NONBLOCK` when asked. If no release slot can be reserved the socket is released
/// at once and the answer is `ENOMEM`.
pub fn adopt(id: FileId, nonblocking: bool) -> Result<Arc<OpenFile>, Errno> {
    if let Err(e) = netstack::reserve_release() {
        let _ = netstack::with(|n| n.release_file(time::now(), id));
        return Err(e);
    }
    let ops = Arc::new(SocketFile {
        id,
        released: AtomicBool::new(false),
    });
    let flags = O_RDWR | if nonblocking { O_NONBLOCK } else { 0 };
    Ok(OpenFile::with_exact_flags(ops, flags))
}

/// The last descriptor of `file` is closed: if nobody else holds it, release the socket now
/// and return what a lingering close waits for; otherwise just drop this reference.
pub fn release_now(file: Arc<OpenFile>) -> Option<(net::tcp::Handle, net::Instant)> {
    let file = Arc::into_inner(file)?;
    if Arc::strong_count(file.ops()) != 1 {
        return None;
    }
    let sock = file.ops().as_any().downcast_ref::<SocketFile>()?;
    // Only this open file holds the adapter now, and it is ours: nobody can race the flag.
    sock.released.store(true, Ordering::Release);
    let id = sock.id;
    let r = netstack::with(|n| n.release_file(time::now(), id));
    netstack::unreserve_release();
    r.ok().and_then(Result::ok).flatten()
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        if !self.released.load(Ordering::Acquire) {
            netstack::queue_release(self.id);
        }
    }
}

impl FileOps for SocketFile {
    fn read(&self, _pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        netstack::with(|n| n.recvfrom_file(time::now(), self.id, buf, 0))?.map(|(k, _)| k)
    }

    fn write(&self, _pos: &mut u64, buf: &[u8], _append: bool) -> Result<usize, Errno> {
        netstack::with(|n| n.sendto_file(time::now(), self.id, buf, 0, None))?
    }

    fn stat(&self) -> Result<Stat, Errno> {
        let s = netstack::with(|n| n.stat_file(self.id))??;
        Ok(Stat {
            dev: SOCKFS_DEV,
            ino: s.ino.0,
            nlink: 1,
            mode: S_IFSOCK | 0o777,
            blksize: 4096,
            ..Stat::default()
        })
    }

    fn ioctl(&self, cmd: u32, _arg: u64) -> Result<IoctlReply, Errno> {
        let (inq, outq) = match cmd {
            SIOCINQ | SIOCOUTQ => netstack::with(|n| n.queued_file(self.id))??,
            _ => return Err(Errno::ENOTTY),
        };
        let n = if cmd == SIOCINQ { inq } else { outq };
        Ok(IoctlReply::StoreInt(i32::try_from(n).unwrap_or(i32::MAX)))
    }

    fn poll(&self) -> u16 {
        netstack::with(|n| n.poll_file(self.id).0).unwrap_or(POLLNVAL)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
