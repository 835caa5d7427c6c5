//! An open tmpfs inode: [`TmpfsFile`] implements [`FileOps`] for regular files, directories
//! (`getdents64`) and, through `O_PATH`, symlinks.
//!
//! Owns what an open file does with its inode: reads and writes at an offset, `lseek` rules
//! (negative results are `EINVAL`), `ftruncate`, `fstat`, and directory listing with stable
//! cookies. It keeps the inode alive while open (an unlinked file stays readable until the last
//! close, as in Linux). Reads do not update the access time (as if mounted `noatime`). It must
//! never hold the file-system lock while the caller holds it: the
//! last drop of an open file takes the lock to release the inode.

use alloc::sync::Arc;
use core::any::Any;

use spin::Mutex;

use super::node::{Body, FsState, FIRST_ENTRY_COOKIE};
use crate::dirent::Dirent64Writer;
use crate::errno::Errno;
use crate::file::FileOps;
use crate::flags::{dtype_of_mode, Whence, DT_DIR};
use crate::stat::Stat;

/// An open tmpfs inode.
pub struct TmpfsFile {
    pub(super) state: Arc<Mutex<FsState>>,
    pub(super) ino: u64,
}

impl TmpfsFile {
    /// Take a reference on `ino` for a new open file (the caller holds the lock).
    pub(super) fn open(
        state: &Arc<Mutex<FsState>>,
        fs: &mut FsState,
        ino: u64,
    ) -> Result<TmpfsFile, Errno> {
        fs.node_mut(ino)?.open += 1;
        Ok(TmpfsFile {
            state: state.clone(),
            ino,
        })
    }

    /// The inode number this file has open.
    pub fn ino(&self) -> u64 {
        self.ino
    }
}

impl Drop for TmpfsFile {
    fn drop(&mut self) {
        let mut fs = self.state.lock();
        if let Ok(n) = fs.node_mut(self.ino) {
            n.open = n.open.saturating_sub(1);
        }
        fs.maybe_free(self.ino);
    }
}

fn add_signed(base: u64, delta: i64) -> Result<u64, Errno> {
    let r = i128::from(base) + i128::from(delta);
    if r < 0 {
        return Err(Errno::EINVAL);
    }
    u64::try_from(r)
        .ok()
        .filter(|&v| v <= i64::MAX as u64)
        .ok_or(Errno::EOVERFLOW)
}

impl FileOps for TmpfsFile {
    fn read(&self, pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let n = self.state.lock().read_at(self.ino, *pos, buf)?;
        *pos += n as u64;
        Ok(n)
    }

    fn write(&self, pos: &mut u64, buf: &[u8], append: bool) -> Result<usize, Errno> {
        let mut fs = self.state.lock();
        if append {
            *pos = fs.file_data(self.ino)?.len() as u64;
        }
        let n = fs.write_at(self.ino, *pos, buf)?;
        *pos += n as u64;
        Ok(n)
    }

    fn pread(&self, pos: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.state.lock().read_at(self.ino, pos, buf)
    }

    fn pwrite(&self, pos: u64, buf: &[u8]) -> Result<usize, Errno> {
        self.state.lock().write_at(self.ino, pos, buf)
    }

    fn seek(&self, current: u64, whence: Whence, offset: i64) -> Result<u64, Errno> {
        let fs = self.state.lock();
        let node = fs.node(self.ino)?;
        let size = match &node.body {
            Body::File(d) => d.len() as u64,
            // Directory offsets are cookies: only absolute and relative moves make sense.
            Body::Dir(_) => {
                return match whence {
                    Whence::Set => add_signed(0, offset),
                    Whence::Cur => add_signed(current, offset),
                    _ => Err(Errno::EINVAL),
                }
            }
            // Reached only through `O_PATH` (a device opens as a `DeviceFile`), which has no
            // offset.
            Body::Symlink(_) | Body::CharDevice(_) => return Err(Errno::EBADF),
        };
        match whence {
            Whence::Set => add_signed(0, offset),
            Whence::Cur => add_signed(current, offset),
            Whence::End => add_signed(size, offset),
            // No holes are kept: all of [0, size) is data and the only hole is at the end.
            Whence::Data | Whence::Hole => {
                let off = u64::try_from(offset).map_err(|_| Errno::ENXIO)?;
                if off >= size {
                    return Err(Errno::ENXIO);
                }
                Ok(if whence == Whence::Data { off } else { size })
            }
        }
    }

    fn stat(&self) -> Result<Stat, Errno> {
        self.state.lock().stat(self.ino)
    }

    fn getdents64(&self, pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let fs = self.state.lock();
        let node = fs.node(self.ino)?;
        let dir = node.dir()?;
        let mut out = Dirent64Writer::new(buf);
        // An unlinked directory lists nothing, not even `.` and `..` (as Linux).
        if node.nlink == 0 {
            return Ok(0);
        }
        if *pos == 0 {
            if !out.push(self.ino, 1, DT_DIR, b".")? {
                return Ok(out.written());
            }
            *pos = 1;
        }
        if *pos == 1 {
            if !out.push(dir.parent, FIRST_ENTRY_COOKIE as i64, DT_DIR, b"..")? {
                return Ok(out.written());
            }
            *pos = FIRST_ENTRY_COOKIE;
        }
        for (&cookie, name) in dir.by_cookie.range(*pos..) {
            let Some(entry) = dir.entries.get(name) else {
                continue;
            };
            let d_type = fs
                .node(entry.ino)
                .map(|n| dtype_of_mode(n.mode))
                .unwrap_or(0);
            let next = cookie.saturating_add(1);
            if !out.push(entry.ino, next as i64, d_type, name)? {
                break;
            }
            *pos = next;
        }
        Ok(out.written())
    }

    fn truncate(&self, len: u64) -> Result<(), Errno> {
        self.state.lock().set_file_len(self.ino, len)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
