//! The file trait every kind of open file implements ([`FileOps`]), and the open file
//! description ([`OpenFile`]) that descriptors share.
//!
//! Owns the per-open-file state Linux keeps in `struct file`: the offset, the status flags
//! (`O_APPEND`, `O_NONBLOCK`, ...) and the access mode, and the checks that follow from them
//! (`EBADF` for a read on a write-only file, anything on an `O_PATH` file). It must never block:
//! an operation that would wait answers `EAGAIN`, and the kernel, if the file is not
//! `O_NONBLOCK`, sleeps until [`FileOps::poll`] shows the readiness it needs and calls again.
//! It must never touch user memory: buffers are kernel slices the syscall layer copied.
//!
//! # How sockets plug in
//! `net::sockfs` keeps its own socket inodes. The kernel wraps each socket in a small adapter
//! (`struct SocketFile { id: net::sockfs::FileId }`) implementing [`FileOps`]: `read`/`write`
//! call the stack's recv/send, `poll` maps the socket's readiness, `stat` reports
//! `S_IFSOCK | 0o777` with the sockfs inode number, `release` (on drop) calls
//! `sock_release`. `socket()`/`accept()` then install `OpenFile::new(adapter, O_RDWR | flags)`
//! in the process's [`crate::FdTable`]; socket calls find the adapter again with
//! [`FileOps::as_any`] and answer `ENOTSOCK` when the descriptor is not a socket. `net` keeps no
//! dependency on `vfs`, and `net::Errno` converts by number into [`crate::Errno`].

use alloc::sync::Arc;
use core::any::Any;

use spin::Mutex;

use crate::errno::Errno;
use crate::flags::{
    Access, Whence, O_APPEND, O_LARGEFILE, O_NONBLOCK, O_PATH, SETFL_MASK, STATUS_FLAGS_KEPT,
};
use crate::stat::Stat;

/// `poll` event bits (Linux values).
pub const POLLIN: u16 = 0x001;
pub const POLLPRI: u16 = 0x002;
pub const POLLOUT: u16 = 0x004;
pub const POLLERR: u16 = 0x008;
pub const POLLHUP: u16 = 0x010;
pub const POLLNVAL: u16 = 0x020;
pub const POLLRDNORM: u16 = 0x040;
pub const POLLWRNORM: u16 = 0x100;

/// What an `ioctl` gives back: a return value, or an `int` to store at the argument pointer
/// (e.g. `FIONREAD`), which the kernel copies out before returning 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoctlReply {
    Value(i64),
    StoreInt(i32),
}

/// `FIONREAD`: bytes ready to read.
pub const FIONREAD: u32 = 0x541B;

/// Operations of one kind of file (Linux's `file_operations`). Defaults answer as Linux does
/// for a file that lacks the operation. Methods take `&self`: implementations keep their state
/// behind their own lock, so an open file is shared between descriptors and processes.
pub trait FileOps: Send + Sync {
    /// Read at `*pos` (seekable files advance it; streams ignore it).
    fn read(&self, _pos: &mut u64, _buf: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }
    /// Write at `*pos`, or at the end when `append` (the file's `O_APPEND`), advancing `*pos`.
    fn write(&self, _pos: &mut u64, _buf: &[u8], _append: bool) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }
    /// `pread64`: read at `pos` without moving the file's offset.
    fn pread(&self, _pos: u64, _buf: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::ESPIPE)
    }
    /// `pwrite64`: write at `pos` without moving the file's offset.
    fn pwrite(&self, _pos: u64, _buf: &[u8]) -> Result<usize, Errno> {
        Err(Errno::ESPIPE)
    }
    /// `lseek`: the new offset from the current one.
    fn seek(&self, _current: u64, _whence: Whence, _offset: i64) -> Result<u64, Errno> {
        Err(Errno::ESPIPE)
    }
    fn stat(&self) -> Result<Stat, Errno>;
    /// `getdents64` from the directory position `*pos` into `buf`; returns bytes written.
    fn getdents64(&self, _pos: &mut u64, _buf: &mut [u8]) -> Result<usize, Errno> {
        Err(Errno::ENOTDIR)
    }
    fn ioctl(&self, _cmd: u32, _arg: u64) -> Result<IoctlReply, Errno> {
        Err(Errno::ENOTTY)
    }
    /// Current readiness (`POLLIN`, `POLLOUT`, `POLLHUP`, `POLLERR`); regular files are always
    /// ready.
    fn poll(&self) -> u16 {
        POLLIN | POLLOUT | POLLRDNORM | POLLWRNORM
    }
    /// `ftruncate`.
    fn truncate(&self, _len: u64) -> Result<(), Errno> {
        Err(Errno::EINVAL)
    }
    /// `fsync`/`fdatasync`: in-memory files have nothing to flush.
    fn fsync(&self) -> Result<(), Errno> {
        Ok(())
    }
    /// For the kernel to recognise its own kinds (sockets, a tmpfs directory for `*at` calls).
    fn as_any(&self) -> &dyn Any;
}

/// An open file description: what `open`, `pipe2`, `socket` create and `dup` shares.
pub struct OpenFile {
    ops: Arc<dyn FileOps>,
    state: Mutex<FileState>,
}

#[derive(Debug, Clone, Copy)]
struct FileState {
    pos: u64,
    flags: u32,
}

impl core::fmt::Debug for OpenFile {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = *self.state.lock();
        f.debug_struct("OpenFile")
            .field("pos", &s.pos)
            .field("flags", &s.flags)
            .finish()
    }
}

impl OpenFile {
    /// A new open file over `ops` with the `open` flags `flags` (creation flags are dropped,
    /// `O_LARGEFILE` is added as Linux does for 64-bit programs).
    pub fn new(ops: Arc<dyn FileOps>, flags: u32) -> Arc<OpenFile> {
        Self::with_exact_flags(ops, (flags & STATUS_FLAGS_KEPT) | O_LARGEFILE)
    }

    /// A new open file keeping exactly these status flags (pipes, sockets: no `O_LARGEFILE`).
    pub fn with_exact_flags(ops: Arc<dyn FileOps>, flags: u32) -> Arc<OpenFile> {
        Arc::new(OpenFile {
            ops,
            state: Mutex::new(FileState { pos: 0, flags }),
        })
    }

    pub fn ops(&self) -> &Arc<dyn FileOps> {
        &self.ops
    }

    /// `F_GETFL`: access mode and status flags.
    pub fn status_flags(&self) -> u32 {
        self.state.lock().flags
    }

    /// `F_SETFL`: only `O_APPEND`, `O_NONBLOCK`, `O_ASYNC`, `O_DIRECT`, `O_NOATIME` change; the
    /// rest of `flags` is ignored, as in Linux.
    pub fn set_status_flags(&self, flags: u32) {
        let mut s = self.state.lock();
        s.flags = (s.flags & !SETFL_MASK) | (flags & SETFL_MASK);
    }

    pub fn nonblocking(&self) -> bool {
        self.status_flags() & O_NONBLOCK != 0
    }

    fn access(&self) -> Access {
        Access::from_flags(self.status_flags())
    }

    fn is_path_only(&self) -> bool {
        self.status_flags() & O_PATH != 0
    }

    /// The current offset.
    pub fn position(&self) -> u64 {
        self.state.lock().pos
    }

    pub fn read(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        if !self.access().read {
            return Err(Errno::EBADF);
        }
        // The offset stays locked across the operation, as Linux's `f_pos_lock`: two readers
        // sharing a file never read the same bytes. Operations never block, so this is short.
        let mut s = self.state.lock();
        self.ops.read(&mut s.pos, buf)
    }

    pub fn write(&self, buf: &[u8]) -> Result<usize, Errno> {
        if !self.access().write {
            return Err(Errno::EBADF);
        }
        let mut s = self.state.lock();
        let append = s.flags & O_APPEND != 0;
        self.ops.write(&mut s.pos, buf, append)
    }

    pub fn pread(&self, buf: &mut [u8], pos: i64) -> Result<usize, Errno> {
        if !self.access().read {
            return Err(Errno::EBADF);
        }
        let pos = u64::try_from(pos).map_err(|_| Errno::EINVAL)?;
        self.ops.pread(pos, buf)
    }

    /// `pwrite64`. Linux appends regardless of `pos` on an `O_APPEND` file; so does this.
    pub fn pwrite(&self, buf: &[u8], pos: i64) -> Result<usize, Errno> {
        if !self.access().write {
            return Err(Errno::EBADF);
        }
        let pos = u64::try_from(pos).map_err(|_| Errno::EINVAL)?;
        if self.status_flags() & O_APPEND != 0 {
            let mut end = pos;
            return self.ops.write(&mut end, buf, true);
        }
        self.ops.pwrite(pos, buf)
    }

    pub fn lseek(&self, offset: i64, whence: Whence) -> Result<u64, Errno> {
        if self.is_path_only() {
            return Err(Errno::EBADF);
        }
        let mut s = self.state.lock();
        let new = self.ops.seek(s.pos, whence, offset)?;
        s.pos = new;
        Ok(new)
    }

    pub fn getdents64(&self, buf: &mut [u8]) -> Result<usize, Errno> {
        if self.is_path_only() {
            return Err(Errno::EBADF);
        }
        let mut s = self.state.lock();
        self.ops.getdents64(&mut s.pos, buf)
    }

    /// `fstat` (allowed on `O_PATH` files, as in Linux).
    pub fn stat(&self) -> Result<Stat, Errno> {
        self.ops.stat()
    }

    /// `ftruncate`: the file must be open for writing (`EINVAL` otherwise, as Linux answers).
    pub fn truncate(&self, len: i64) -> Result<(), Errno> {
        if self.is_path_only() {
            return Err(Errno::EBADF);
        }
        if !self.access().write {
            return Err(Errno::EINVAL);
        }
        let len = u64::try_from(len).map_err(|_| Errno::EINVAL)?;
        self.ops.truncate(len)
    }

    pub fn ioctl(&self, cmd: u32, arg: u64) -> Result<IoctlReply, Errno> {
        if self.is_path_only() {
            return Err(Errno::EBADF);
        }
        self.ops.ioctl(cmd, arg)
    }

    pub fn poll(&self) -> u16 {
        if self.is_path_only() {
            return POLLNVAL;
        }
        self.ops.poll()
    }

    pub fn fsync(&self) -> Result<(), Errno> {
        if self.is_path_only() {
            return Err(Errno::EBADF);
        }
        self.ops.fsync()
    }
}

#[cfg(test)]
mod tests {
    //! How a kind of file from another crate plugs in: a socket adapter as the kernel will write
    //! it over `net::sockfs`, installed in a descriptor table beside tmpfs files and pipes.
    use super::*;
    use crate::fdtable::FdTable;
    use crate::flags::{O_RDWR, S_IFSOCK};
    use crate::time::FixedClock;
    use crate::tmpfs::Tmpfs;
    use alloc::collections::VecDeque;

    /// Stands in for `struct SocketFile { id: net::sockfs::FileId }`.
    struct FakeSocket {
        inbox: Mutex<VecDeque<u8>>,
    }

    impl FileOps for FakeSocket {
        fn read(&self, _pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
            let mut q = self.inbox.lock();
            if q.is_empty() {
                return Err(Errno::EAGAIN);
            }
            let n = buf.len().min(q.len());
            for (d, s) in buf.iter_mut().zip(q.drain(..n)) {
                *d = s;
            }
            Ok(n)
        }
        fn write(&self, _pos: &mut u64, buf: &[u8], _append: bool) -> Result<usize, Errno> {
            self.inbox.lock().extend(buf.iter());
            Ok(buf.len())
        }
        fn stat(&self) -> Result<Stat, Errno> {
            Ok(Stat {
                ino: 77,
                mode: S_IFSOCK | 0o777,
                nlink: 1,
                ..Stat::default()
            })
        }
        fn poll(&self) -> u16 {
            let readable = !self.inbox.lock().is_empty();
            POLLOUT | if readable { POLLIN } else { 0 }
        }
        fn as_any(&self) -> &dyn Any {
            self
        }
    }

    /// What the kernel's socket calls do first: the socket behind a descriptor, or `ENOTSOCK`.
    fn socket_of(fds: &FdTable, fd: i32) -> Result<Arc<OpenFile>, Errno> {
        let file = fds.get(fd)?;
        if file.ops().as_any().downcast_ref::<FakeSocket>().is_none() {
            return Err(Errno::ENOTSOCK);
        }
        Ok(file)
    }

    #[test]
    fn sockets_share_the_descriptor_table_with_files_and_pipes() {
        let fs = Tmpfs::new(1 << 20, Arc::new(FixedClock::default())).unwrap();
        let mut fds = FdTable::default();
        let file = fs
            .open(fs.root(), b"f", crate::flags::O_CREAT | O_RDWR, 0o644)
            .unwrap();
        assert_eq!(fds.install(file, false), Ok(0));
        let sock = FakeSocket {
            inbox: Mutex::new(VecDeque::new()),
        };
        let sfd = fds
            .install(OpenFile::with_exact_flags(Arc::new(sock), O_RDWR), false)
            .unwrap();
        assert_eq!(sfd, 1);
        let (r, w) = crate::pipe::pipe2(0, crate::Timespec::default()).unwrap();
        assert_eq!(fds.install(r, false), Ok(2));
        assert_eq!(fds.install(w, false), Ok(3));

        assert_eq!(socket_of(&fds, 0).unwrap_err(), Errno::ENOTSOCK);
        assert_eq!(socket_of(&fds, 2).unwrap_err(), Errno::ENOTSOCK);
        assert_eq!(socket_of(&fds, 9).unwrap_err(), Errno::EBADF);
        let s = socket_of(&fds, sfd).unwrap();
        assert_eq!(s.read(&mut [0; 4]).unwrap_err(), Errno::EAGAIN);
        assert_eq!(s.poll() & POLLIN, 0);
        s.write(b"ping").unwrap();
        assert_ne!(s.poll() & POLLIN, 0);
        let mut buf = [0u8; 8];
        assert_eq!(fds.get(sfd).unwrap().read(&mut buf).unwrap(), 4);
        assert_eq!(s.stat().unwrap().mode, S_IFSOCK | 0o777);
        assert_eq!(s.lseek(0, Whence::Set).unwrap_err(), Errno::ESPIPE);
        let dup = fds.dup(sfd).unwrap();
        fds.set_status_flags(dup, O_NONBLOCK).unwrap();
        assert!(s.nonblocking(), "dup shares the socket's open file");
    }
}
