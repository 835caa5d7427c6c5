//! Pipes (`pipe2`): a bounded byte ring between a read end and a write end.
//!
//! Owns the ring (64 KiB, Linux's default pipe size), end-of-file once every write end is
//! closed, `EPIPE` once every read end is closed (the kernel turns it into `SIGPIPE`), the
//! `PIPE_BUF` atomicity of small writes, and readiness for `poll`. It must never block: an empty
//! read or a full write answers `EAGAIN`, and the kernel either returns that (`O_NONBLOCK`) or
//! sleeps until [`FileOps::poll`] changes. A blocking write larger than the free space is
//! accepted in part; the kernel repeats it with the rest, as Linux's blocking write does.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use crate::errno::Errno;
use crate::file::{
    FileOps, IoctlReply, OpenFile, FIONREAD, POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDNORM,
    POLLWRNORM,
};
use crate::flags::{O_CLOEXEC, O_NONBLOCK, O_RDONLY, O_WRONLY, S_IFIFO};
use crate::stat::{DevId, Stat};
use crate::time::Timespec;

/// Bytes a pipe holds (Linux's default, 16 pages).
pub const PIPE_CAPACITY: usize = 65536;
/// Writes up to this size are atomic: all or nothing (POSIX `PIPE_BUF`).
pub const PIPE_BUF: usize = 4096;
/// The pseudo device pipe inodes report (distinct from tmpfs's, as pipefs is in Linux).
pub const PIPEFS_DEV: DevId = DevId { major: 0, minor: 2 };

/// Pipe inode numbers, unique for the life of the system.
static NEXT_PIPE_INO: AtomicU64 = AtomicU64::new(1);

struct Ring {
    data: VecDeque<u8>,
    readers: usize,
    writers: usize,
    ino: u64,
    created: Timespec,
}

/// Which end of the pipe an open file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipeSide {
    Read,
    Write,
}

/// One end of a pipe.
pub struct PipeEnd {
    ring: Arc<Mutex<Ring>>,
    side: PipeSide,
}

/// `pipe2(flags)`: the read end and the write end. `flags` may hold `O_NONBLOCK` (set on both
/// ends) and `O_CLOEXEC` (for the caller's descriptors); anything else is `EINVAL` (packet mode,
/// `O_DIRECT`, is not supported: a difference from Linux).
pub fn pipe2(flags: u32, now: Timespec) -> Result<(Arc<OpenFile>, Arc<OpenFile>), Errno> {
    if flags & !(O_NONBLOCK | O_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let ring = Arc::new(Mutex::new(Ring {
        data: VecDeque::new(),
        readers: 1,
        writers: 1,
        ino: NEXT_PIPE_INO.fetch_add(1, Ordering::Relaxed),
        created: now,
    }));
    let nonblock = flags & O_NONBLOCK;
    let read = PipeEnd {
        ring: ring.clone(),
        side: PipeSide::Read,
    };
    let write = PipeEnd {
        ring,
        side: PipeSide::Write,
    };
    Ok((
        OpenFile::with_exact_flags(Arc::new(read), O_RDONLY | nonblock),
        OpenFile::with_exact_flags(Arc::new(write), O_WRONLY | nonblock),
    ))
}

impl PipeEnd {
    pub fn side(&self) -> PipeSide {
        self.side
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let mut r = self.ring.lock();
        match self.side {
            PipeSide::Read => r.readers = r.readers.saturating_sub(1),
            PipeSide::Write => r.writers = r.writers.saturating_sub(1),
        }
        if r.readers == 0 {
            // Nobody can read what is left: give the memory back now.
            r.data = VecDeque::new();
        }
    }
}

impl FileOps for PipeEnd {
    fn read(&self, _pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        if self.side != PipeSide::Read {
            return Err(Errno::EBADF);
        }
        let mut r = self.ring.lock();
        if buf.is_empty() {
            return Ok(0);
        }
        if r.data.is_empty() {
            return if r.writers == 0 {
                Ok(0)
            } else {
                Err(Errno::EAGAIN)
            };
        }
        let n = buf.len().min(r.data.len());
        for (dst, src) in buf.iter_mut().zip(r.data.drain(..n)) {
            *dst = src;
        }
        Ok(n)
    }

    fn write(&self, _pos: &mut u64, buf: &[u8], _append: bool) -> Result<usize, Errno> {
        if self.side != PipeSide::Write {
            return Err(Errno::EBADF);
        }
        let mut r = self.ring.lock();
        if r.readers == 0 {
            return Err(Errno::EPIPE);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let free = PIPE_CAPACITY.saturating_sub(r.data.len());
        if free == 0 || (buf.len() <= PIPE_BUF && free < buf.len()) {
            return Err(Errno::EAGAIN);
        }
        let n = buf.len().min(free);
        r.data.try_reserve(n).map_err(|_| Errno::ENOMEM)?;
        r.data.extend(buf.iter().take(n));
        Ok(n)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        let r = self.ring.lock();
        Ok(Stat {
            dev: PIPEFS_DEV,
            ino: r.ino,
            nlink: 1,
            mode: S_IFIFO | 0o600,
            blksize: PIPE_BUF as u32,
            atime: r.created,
            mtime: r.created,
            ctime: r.created,
            btime: r.created,
            ..Stat::default()
        })
    }

    fn ioctl(&self, cmd: u32, _arg: u64) -> Result<IoctlReply, Errno> {
        match cmd {
            FIONREAD => Ok(IoctlReply::StoreInt(self.ring.lock().data.len() as i32)),
            _ => Err(Errno::ENOTTY),
        }
    }

    fn poll(&self) -> u16 {
        let r = self.ring.lock();
        match self.side {
            PipeSide::Read => {
                let mut ev = 0;
                if !r.data.is_empty() {
                    ev |= POLLIN | POLLRDNORM;
                }
                if r.writers == 0 {
                    ev |= POLLHUP;
                }
                ev
            }
            PipeSide::Write => {
                // Writable when an atomic write of PIPE_BUF bytes would fit; an error (the
                // write would be EPIPE) once every reader is gone.
                let mut ev = 0;
                if PIPE_CAPACITY - r.data.len() >= PIPE_BUF {
                    ev |= POLLOUT | POLLWRNORM;
                }
                if r.readers == 0 {
                    ev |= POLLERR;
                }
                ev
            }
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fdtable::FdTable;
    use crate::flags::O_ACCMODE;
    use alloc::vec;

    fn pair(flags: u32) -> (Arc<OpenFile>, Arc<OpenFile>) {
        pipe2(flags, Timespec::new(9, 0)).unwrap()
    }

    #[test]
    fn bytes_flow_in_order() {
        let (r, w) = pair(0);
        assert_eq!(w.write(b"hello ").unwrap(), 6);
        assert_eq!(w.write(b"world").unwrap(), 5);
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 8);
        assert_eq!(&buf, b"hello wo");
        assert_eq!(r.ioctl(FIONREAD, 0).unwrap(), IoctlReply::StoreInt(3));
        assert_eq!(r.read(&mut buf).unwrap(), 3);
        assert_eq!(r.read(&mut buf).unwrap_err(), Errno::EAGAIN);
        assert_eq!(r.write(b"x").unwrap_err(), Errno::EBADF);
        assert_eq!(w.read(&mut buf).unwrap_err(), Errno::EBADF);
        assert_eq!(
            r.lseek(0, crate::flags::Whence::Set).unwrap_err(),
            Errno::ESPIPE
        );
        assert_eq!(r.pread(&mut buf, 0).unwrap_err(), Errno::ESPIPE);
    }

    #[test]
    fn eof_when_writers_are_gone_and_epipe_when_readers_are() {
        let (r, w) = pair(0);
        let mut fds = FdTable::default();
        let wfd = fds.install(w, false).unwrap();
        let wdup = fds.dup(wfd).unwrap();
        fds.get(wfd).unwrap().write(b"last").unwrap();
        drop(fds.close(wfd).unwrap());
        assert_eq!(r.poll() & POLLHUP, 0, "a duplicate still writes");
        drop(fds.close(wdup).unwrap());
        assert_ne!(r.poll() & POLLHUP, 0);
        let mut buf = [0u8; 8];
        assert_eq!(
            r.read(&mut buf).unwrap(),
            4,
            "data before EOF is still read"
        );
        assert_eq!(r.read(&mut buf).unwrap(), 0, "then EOF");

        let (r, w) = pair(0);
        drop(r);
        assert_eq!(w.write(b"x").unwrap_err(), Errno::EPIPE);
        assert_ne!(w.poll() & POLLERR, 0);
    }

    #[test]
    fn bounded_at_64k_with_atomic_small_writes() {
        let (r, w) = pair(O_NONBLOCK);
        assert!(r.nonblocking() && w.nonblocking());
        let big = vec![1u8; 100_000];
        assert_eq!(w.write(&big).unwrap(), PIPE_CAPACITY);
        assert_eq!(w.write(b"x").unwrap_err(), Errno::EAGAIN);
        assert_eq!(w.poll() & POLLOUT, 0);
        let mut buf = vec![0u8; 100];
        r.read(&mut buf).unwrap();
        // 100 bytes free: a 200-byte write is atomic, so it is refused whole.
        assert_eq!(w.write(&[2u8; 200]).unwrap_err(), Errno::EAGAIN);
        assert_eq!(w.write(&[2u8; 100]).unwrap(), 100);
        let mut drain = vec![0u8; PIPE_CAPACITY];
        assert_eq!(r.read(&mut drain).unwrap(), PIPE_CAPACITY);
        assert_ne!(w.poll() & POLLOUT, 0);
        assert_eq!(r.poll() & POLLIN, 0);
    }

    #[test]
    fn flags_and_stat() {
        assert_eq!(
            pipe2(0o40000, Timespec::default()).unwrap_err(),
            Errno::EINVAL
        );
        let (r, w) = pair(O_CLOEXEC);
        assert_eq!(r.status_flags() & O_ACCMODE, O_RDONLY);
        assert_eq!(w.status_flags() & O_ACCMODE, O_WRONLY);
        let (rs, ws) = (r.stat().unwrap(), w.stat().unwrap());
        assert_eq!(rs.mode, S_IFIFO | 0o600);
        assert_eq!(rs.ino, ws.ino);
        let (r2, _w2) = pair(0);
        assert_ne!(r2.stat().unwrap().ino, rs.ino);
        w.set_status_flags(O_NONBLOCK);
        assert!(w.nonblocking() && !r.nonblocking());
    }
}
