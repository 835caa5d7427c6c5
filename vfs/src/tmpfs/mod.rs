//! tmpfs: an in-memory tree of regular files, directories, symlinks and character device nodes
//! with Linux semantics, bounded by a byte budget.
//!
//! Owns the public entry points the kernel's `*at` calls use: each takes the directory a
//! relative path starts from ([`Ino`]: the process's cwd or a dirfd's directory, see
//! [`Tmpfs::dir_of`]) and typed arguments, and answers `Result<_, Errno>`. The umask is the
//! caller's to apply to `mode`. It must never panic on a path or a mode, never allocate past its
//! budget (`ENOSPC`), and never read a clock of its own (the kernel injects one).

mod attr;
mod data;
mod device;
mod file;
mod lookup;
mod namespace;
mod node;
#[cfg(test)]
mod ops_model;
#[cfg(test)]
mod resolve_model;
#[cfg(test)]
mod tests;

use alloc::sync::Arc;

use spin::Mutex;

pub use self::attr::{Target, TimeChange, UTIME_NOW, UTIME_OMIT};
pub use self::device::{CharDevices, DeviceFile};
pub use self::file::TmpfsFile;
pub use self::lookup::MAX_SYMLINK_FOLLOWS;
use self::node::FsState;
pub use self::node::{BLOCK_SIZE, DIRENT_COST, INODE_COST, MAX_FILE_SIZE, ROOT_INO};
use crate::errno::Errno;
use crate::file::OpenFile;
use crate::flags::{
    Access, AT_EMPTY_PATH, AT_REMOVEDIR, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW,
    O_PATH, O_TMPFILE, O_TRUNC,
};
use crate::stat::{DevId, Stat};
use crate::time::{Clock, Timespec};

/// A name copied into memory reserved fallibly (`ENOMEM` instead of an abort).
pub fn copy_name(name: &[u8]) -> Result<alloc::vec::Vec<u8>, Errno> {
    node::try_copy(name)
}

/// An inode number of this tmpfs, used as the start directory of relative paths. It does not
/// keep its inode alive: the kernel should hold a process's cwd as an open file (`O_PATH |
/// O_DIRECTORY`) and take the number with [`Tmpfs::dir_of`], so a removed cwd still answers
/// `stat(".")` and refuses new entries with `ENOENT`, as in Linux.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Ino(pub u64);

/// An in-memory file system. Cloning shares the same tree.
#[derive(Clone)]
pub struct Tmpfs {
    state: Arc<Mutex<FsState>>,
}

impl core::fmt::Debug for Tmpfs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let s = self.state.lock();
        f.debug_struct("Tmpfs")
            .field("used", &s.used())
            .field("budget", &s.budget())
            .finish()
    }
}

impl Tmpfs {
    /// Make the regular file open as `file` (of this tree) hold `data` in place, without a
    /// copy: the initramfs unpacker's files keep living in the archive's pages.
    pub fn fill_borrowed(&self, file: &OpenFile, data: &'static [u8]) -> Result<(), Errno> {
        let f = file
            .ops()
            .as_any()
            .downcast_ref::<TmpfsFile>()
            .filter(|f| Arc::ptr_eq(&f.state, &self.state))
            .ok_or(Errno::EINVAL)?;
        self.state.lock().set_borrowed(f.ino, data)
    }
    /// A file system with an empty root (`drwxr-xr-x`), allowed `budget` bytes in all.
    pub fn new(budget: usize, clock: Arc<dyn Clock>) -> Result<Tmpfs, Errno> {
        Ok(Tmpfs {
            state: Arc::new(Mutex::new(FsState::new(budget, clock, 0o755)?)),
        })
    }

    pub fn root(&self) -> Ino {
        Ino(ROOT_INO)
    }

    /// Who opens the character devices of this tree from now on (until then an open of a
    /// device node is `ENXIO`).
    pub fn set_char_devices(&self, devices: Arc<dyn CharDevices>) {
        self.state.lock().devices = Some(devices);
    }

    /// Bytes charged so far, and the budget.
    pub fn usage(&self) -> (usize, usize) {
        let s = self.state.lock();
        (s.used(), s.budget())
    }

    /// The directory an open file names, for a dirfd (`ENOTDIR` when it is not a tmpfs
    /// directory of this file system).
    pub fn dir_of(&self, file: &OpenFile) -> Result<Ino, Errno> {
        let ino = self.inode_of(file).ok_or(Errno::ENOTDIR)?;
        if !self.state.lock().is_dir(ino.0)? {
            return Err(Errno::ENOTDIR);
        }
        Ok(ino)
    }

    /// `openat`: resolve, create with `O_CREAT`, check the type against the flags, truncate
    /// with `O_TRUNC`, and return the new open file (`O_CLOEXEC` is for the caller's
    /// [`crate::FdTable::install`]).
    pub fn open(
        &self,
        at: Ino,
        path: &[u8],
        flags: u32,
        mode: u32,
    ) -> Result<Arc<OpenFile>, Errno> {
        if flags & O_TMPFILE == O_TMPFILE {
            return Err(Errno::EOPNOTSUPP);
        }
        // O_PATH ignores every flag but these (man 2 open).
        let flags = if flags & O_PATH != 0 {
            flags & (O_PATH | O_CLOEXEC | O_DIRECTORY | O_NOFOLLOW)
        } else {
            flags
        };
        let create = flags & O_CREAT != 0;
        // Linux (since 6.4) refuses the combination rather than creating a regular file.
        if create && flags & O_DIRECTORY != 0 {
            return Err(Errno::EINVAL);
        }
        let mut fs = self.state.lock();
        let mut links = 0u32;
        let mut start = at.0;
        let mut path = node::try_copy(path)?;
        // A trailing slash anywhere along the final symlinks demands a directory at the end.
        let mut must_be_dir = false;
        let (ino, created) = loop {
            let mut parent = fs.resolve_parent_with(start, &path, &mut links)?;
            must_be_dir |= parent.trailing_slash;
            parent.trailing_slash = must_be_dir;
            match fs.lookup_last(&parent) {
                Ok(_) if create && flags & O_EXCL != 0 => return Err(Errno::EEXIST),
                Ok(ino) => {
                    let target = fs.node(ino)?.symlink_target();
                    match target {
                        Some(t) if flags & O_NOFOLLOW == 0 || parent.trailing_slash => {
                            links += 1;
                            if links > MAX_SYMLINK_FOLLOWS {
                                return Err(Errno::ELOOP);
                            }
                            path = node::try_copy(t)?;
                            start = parent.dir;
                            continue;
                        }
                        Some(_) if flags & O_PATH == 0 => return Err(Errno::ELOOP),
                        _ => {}
                    }
                    if parent.trailing_slash && !fs.is_dir(ino)? {
                        return Err(Errno::ENOTDIR);
                    }
                    break (ino, false);
                }
                Err(Errno::ENOENT) if create => break (fs.create_file(&parent, mode)?, true),
                Err(e) => return Err(e),
            }
        };
        let is_dir = fs.is_dir(ino)?;
        let access = Access::from_flags(flags);
        if flags & O_DIRECTORY != 0 && !is_dir {
            return Err(Errno::ENOTDIR);
        }
        if is_dir && (access.write || create) {
            return Err(Errno::EISDIR);
        }
        // Only a regular file is truncated; `O_TRUNC` on a device is ignored, as in Linux.
        let truncate = flags & O_TRUNC != 0 && !created && flags & O_PATH == 0;
        if truncate && fs.node(ino)?.is_regular() {
            fs.set_file_len(ino, 0)?;
        }
        let device = fs.node(ino)?.char_device().filter(|_| flags & O_PATH == 0);
        let devices = fs.devices.clone();
        let file = TmpfsFile::open(&self.state, &mut fs, ino)?;
        drop(fs);
        let Some(rdev) = device else {
            return Ok(OpenFile::new(Arc::new(file), flags));
        };
        // The lock is released: the device may use the tree, and a failed open may drop
        // `file`, which takes the lock.
        let ops = devices.ok_or(Errno::ENXIO)?.open(rdev)?;
        let file = DeviceFile::new(file, rdev, ops);
        Ok(OpenFile::new(Arc::new(file), flags))
    }

    /// `mknod(path, S_IFCHR | mode, rdev)`: a character device node (the umask is the
    /// caller's to apply).
    pub fn make_char_device(
        &self,
        at: Ino,
        path: &[u8],
        mode: u32,
        rdev: DevId,
    ) -> Result<Ino, Errno> {
        let mut fs = self.state.lock();
        let parent = fs.resolve_parent(at.0, path)?;
        fs.make_char_device(&parent, mode, rdev).map(Ino)
    }

    /// `mkdirat`.
    pub fn mkdir(&self, at: Ino, path: &[u8], mode: u32) -> Result<Ino, Errno> {
        let mut fs = self.state.lock();
        let parent = fs.resolve_parent(at.0, path)?;
        fs.mkdir(&parent, mode).map(Ino)
    }

    /// `unlinkat` (`AT_REMOVEDIR` makes it `rmdir`).
    pub fn unlink_at(&self, at: Ino, path: &[u8], flags: u32) -> Result<(), Errno> {
        if flags & !AT_REMOVEDIR != 0 {
            return Err(Errno::EINVAL);
        }
        let mut fs = self.state.lock();
        let parent = fs.resolve_parent(at.0, path)?;
        if flags & AT_REMOVEDIR != 0 {
            fs.rmdir(&parent)
        } else {
            fs.unlink(&parent)
        }
    }

    /// `unlink`.
    pub fn unlink(&self, at: Ino, path: &[u8]) -> Result<(), Errno> {
        self.unlink_at(at, path, 0)
    }

    /// `rmdir`.
    pub fn rmdir(&self, at: Ino, path: &[u8]) -> Result<(), Errno> {
        self.unlink_at(at, path, AT_REMOVEDIR)
    }

    /// `renameat`.
    pub fn rename(&self, old_at: Ino, old: &[u8], new_at: Ino, new: &[u8]) -> Result<(), Errno> {
        let mut fs = self.state.lock();
        let old = fs.resolve_parent(old_at.0, old)?;
        let new = fs.resolve_parent(new_at.0, new)?;
        fs.rename(&old, &new)
    }

    /// `symlinkat(target, at, path)`.
    pub fn symlink(&self, target: &[u8], at: Ino, path: &[u8]) -> Result<Ino, Errno> {
        let mut fs = self.state.lock();
        let parent = fs.resolve_parent(at.0, path)?;
        fs.symlink(target, &parent).map(Ino)
    }

    /// `linkat`: `follow` is `AT_SYMLINK_FOLLOW`.
    pub fn link(
        &self,
        old_at: Ino,
        old: &[u8],
        new_at: Ino,
        new: &[u8],
        follow: bool,
    ) -> Result<(), Errno> {
        let mut fs = self.state.lock();
        let ino = fs.resolve(old_at.0, old, follow)?;
        let parent = fs.resolve_parent(new_at.0, new)?;
        fs.link(ino, &parent)
    }

    /// `readlinkat`: copies at most `buf.len()` bytes of the target (no NUL), returns how many.
    pub fn readlink(&self, at: Ino, path: &[u8], buf: &mut [u8]) -> Result<usize, Errno> {
        if buf.is_empty() {
            return Err(Errno::EINVAL);
        }
        let fs = self.state.lock();
        let ino = fs.resolve(at.0, path, false)?;
        let target = fs.readlink(ino)?;
        let n = target.len().min(buf.len());
        buf[..n].copy_from_slice(&target[..n]);
        Ok(n)
    }

    /// `stat` (`follow`) / `lstat` (`!follow`) / `newfstatat`.
    pub fn stat(&self, at: Ino, path: &[u8], follow: bool) -> Result<Stat, Errno> {
        let fs = self.state.lock();
        let ino = fs.resolve(at.0, path, follow)?;
        fs.stat(ino)
    }

    /// `newfstatat`/`statx` flags: `AT_SYMLINK_NOFOLLOW`; `AT_EMPTY_PATH` with an empty path
    /// means the dirfd itself, which the kernel answers with [`OpenFile::stat`].
    pub fn stat_at(&self, at: Ino, path: &[u8], flags: u32) -> Result<Stat, Errno> {
        use crate::flags::{AT_NO_AUTOMOUNT, AT_SYMLINK_NOFOLLOW};
        if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT) != 0 {
            return Err(Errno::EINVAL);
        }
        if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
            let fs = self.state.lock();
            return fs.stat(at.0);
        }
        self.stat(at, path, flags & AT_SYMLINK_NOFOLLOW == 0)
    }

    /// `truncate(path, len)`.
    pub fn truncate(&self, at: Ino, path: &[u8], len: i64) -> Result<(), Errno> {
        let len = u64::try_from(len).map_err(|_| Errno::EINVAL)?;
        let mut fs = self.state.lock();
        let ino = fs.resolve(at.0, path, true)?;
        fs.set_file_len(ino, len)
    }

    /// `chdir`/`chroot`-style lookup: the directory `path` names.
    pub fn lookup_dir(&self, at: Ino, path: &[u8]) -> Result<Ino, Errno> {
        let fs = self.state.lock();
        let ino = fs.resolve(at.0, path, true)?;
        if !fs.is_dir(ino)? {
            return Err(Errno::ENOTDIR);
        }
        Ok(Ino(ino))
    }

    /// `fchmodat` (following symlinks, as Linux's `chmod`).
    pub fn chmod(&self, at: Ino, path: &[u8], mode: u32) -> Result<(), Errno> {
        let mut fs = self.state.lock();
        let ino = fs.resolve(at.0, path, true)?;
        fs.chmod(ino, mode)
    }

    /// Set the mtime of `path` (not following a final symlink).
    pub fn set_mtime(&self, path: &[u8], mtime: Timespec) -> Result<(), Errno> {
        let mut fs = self.state.lock();
        let ino = fs.resolve(ROOT_INO, path, false)?;
        fs.node_mut(ino)?.mtime = mtime;
        Ok(())
    }

    /// Set owner and times of `path` without following a final symlink (the initramfs keeps
    /// an archive's `uid`, `gid` and `mtime`).
    pub fn set_owner_and_mtime(
        &self,
        at: Ino,
        path: &[u8],
        uid: u32,
        gid: u32,
        mtime: Timespec,
    ) -> Result<(), Errno> {
        let mut fs = self.state.lock();
        let ino = fs.resolve(at.0, path, false)?;
        let n = fs.node_mut(ino)?;
        n.uid = uid;
        n.gid = gid;
        n.mtime = mtime;
        Ok(())
    }
}
