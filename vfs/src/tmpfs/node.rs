//! tmpfs inodes and the state of the whole file system: the inode map, the byte budget, the
//! clock.
//!
//! Owns inode lifetime (an inode lives while it has a name or an open file) and the accounting
//! that bounds memory: every inode, directory entry and data byte is charged to the budget
//! before it is allocated, and growth uses `try_reserve`, so a full file system answers `ENOSPC`
//! and never aborts. Map nodes of the inode and entry maps are covered by the per-inode and
//! per-entry costs rather than reserved one by one, so the kernel must give a budget below the
//! heap it can spare. It must never interpret paths (see `lookup`).

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use super::data::FileData;
use super::device::CharDevices;
use crate::errno::Errno;
use crate::flags::{S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use crate::stat::{DevId, Stat};
use crate::time::{Clock, Timespec};

/// The root directory's inode number (as Linux's tmpfs numbers its root).
pub const ROOT_INO: u64 = 1;
/// What an inode costs the budget besides its data: the record and the map slot.
pub const INODE_COST: usize = 256;
/// What a directory entry costs besides its name (kept twice: by name and by position).
pub const DIRENT_COST: usize = 64;
/// `st_blksize` of tmpfs files.
pub const BLOCK_SIZE: u32 = 4096;
/// Linux's tmpfs reports a directory's size as 20 bytes per entry (`BOGO_DIRENT_SIZE`).
const BOGO_DIRENT_SIZE: u64 = 20;
/// Largest file offset (Linux's `MAX_LFS_FILESIZE` on 64-bit): past it writes are `EFBIG`.
pub const MAX_FILE_SIZE: u64 = i64::MAX as u64;

/// A directory entry: the inode it names and its position cookie for `getdents64`.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub ino: u64,
    pub cookie: u64,
}

/// A directory's entries, by name and in creation order (the order `getdents64` lists them;
/// a cookie never changes, so a listing resumed after changes neither repeats nor skips
/// survivors).
#[derive(Debug, Default)]
pub struct Dir {
    pub parent: u64,
    pub entries: BTreeMap<Vec<u8>, Entry>,
    pub by_cookie: BTreeMap<u64, Vec<u8>>,
    pub next_cookie: u64,
}

/// What a directory entry named `name` costs the budget.
pub fn entry_cost(name: &[u8]) -> usize {
    DIRENT_COST + 2 * name.len()
}

/// The two copies of a new entry's name (by name, and by position), made before the tree
/// changes.
pub struct EntryNames {
    by_name: Vec<u8>,
    by_cookie: Vec<u8>,
}

/// Cookies 0 and 1 are `.` and `..`; entries start at 2.
pub const FIRST_ENTRY_COOKIE: u64 = 2;

#[derive(Debug)]
pub enum Body {
    File(FileData),
    Dir(Dir),
    Symlink(Vec<u8>),
    /// A character device node: no data, only the device number it stands for.
    CharDevice(DevId),
}

#[derive(Debug)]
pub struct Node {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u64,
    /// Open files on this inode (an unlinked inode lives until the last closes).
    pub open: u64,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
    pub btime: Timespec,
    pub body: Body,
}

impl Node {
    pub fn is_dir(&self) -> bool {
        matches!(self.body, Body::Dir(_))
    }
    pub fn dir(&self) -> Result<&Dir, Errno> {
        match &self.body {
            Body::Dir(d) => Ok(d),
            _ => Err(Errno::ENOTDIR),
        }
    }
    pub fn dir_mut(&mut self) -> Result<&mut Dir, Errno> {
        match &mut self.body {
            Body::Dir(d) => Ok(d),
            _ => Err(Errno::ENOTDIR),
        }
    }
    pub fn is_regular(&self) -> bool {
        matches!(self.body, Body::File(_))
    }
    /// The device number of a character device node.
    pub fn char_device(&self) -> Option<DevId> {
        match self.body {
            Body::CharDevice(rdev) => Some(rdev),
            _ => None,
        }
    }
    pub fn symlink_target(&self) -> Option<&[u8]> {
        match &self.body {
            Body::Symlink(t) => Some(t),
            _ => None,
        }
    }
    fn data_cost(&self) -> usize {
        match &self.body {
            Body::File(d) => d.len(),
            Body::Symlink(t) => t.len(),
            Body::Dir(_) | Body::CharDevice(_) => 0,
        }
    }
}

/// The whole file system behind one lock.
pub struct FsState {
    pub nodes: BTreeMap<u64, Node>,
    next_ino: u64,
    used: usize,
    budget: usize,
    pub clock: Arc<dyn Clock>,
    pub dev: DevId,
    /// Who opens character devices (registered by the kernel; `None`: every open is `ENXIO`).
    pub devices: Option<Arc<dyn CharDevices>>,
}

/// Copy bytes into a new vector, failing with `ENOMEM` instead of aborting.
pub fn try_copy(bytes: &[u8]) -> Result<Vec<u8>, Errno> {
    let mut v = Vec::new();
    v.try_reserve_exact(bytes.len())
        .map_err(|_| Errno::ENOMEM)?;
    v.extend_from_slice(bytes);
    Ok(v)
}

impl FsState {
    /// A file system holding only its root directory (mode `0o755`... as given).
    pub fn new(budget: usize, clock: Arc<dyn Clock>, root_mode: u32) -> Result<FsState, Errno> {
        let mut st = FsState {
            nodes: BTreeMap::new(),
            next_ino: ROOT_INO,
            used: 0,
            budget,
            clock,
            dev: DevId { major: 0, minor: 1 },
            devices: None,
        };
        let root = st.new_node(S_IFDIR | (root_mode & 0o7777), ROOT_INO, DevId::default())?;
        debug_assert_eq!(root, ROOT_INO);
        Ok(st)
    }

    pub fn used(&self) -> usize {
        self.used
    }
    pub fn budget(&self) -> usize {
        self.budget
    }

    pub fn charge(&mut self, bytes: usize) -> Result<(), Errno> {
        let new = self.used.checked_add(bytes).ok_or(Errno::ENOSPC)?;
        if new > self.budget {
            return Err(Errno::ENOSPC);
        }
        self.used = new;
        Ok(())
    }
    pub fn uncharge(&mut self, bytes: usize) {
        self.used = self.used.saturating_sub(bytes);
    }

    pub fn now(&self) -> Timespec {
        self.clock.now()
    }

    pub fn node(&self, ino: u64) -> Result<&Node, Errno> {
        self.nodes.get(&ino).ok_or(Errno::ENOENT)
    }
    pub fn node_mut(&mut self, ino: u64) -> Result<&mut Node, Errno> {
        self.nodes.get_mut(&ino).ok_or(Errno::ENOENT)
    }

    /// A new unnamed inode of `mode`'s type (a directory's `..` is `parent`; a character
    /// device's number is `rdev`), nlink 0 for files, symlinks and devices, 2 for directories
    /// (`.` and its name), set by [`Self::link_entry`]. Any other type becomes a regular file.
    pub fn new_node(&mut self, mode: u32, parent: u64, rdev: DevId) -> Result<u64, Errno> {
        self.charge(INODE_COST)?;
        let ino = self.next_ino;
        self.next_ino += 1;
        let now = self.now();
        let body = match mode & S_IFMT {
            S_IFDIR => Body::Dir(Dir {
                parent: if ino == ROOT_INO { ROOT_INO } else { parent },
                next_cookie: FIRST_ENTRY_COOKIE,
                ..Dir::default()
            }),
            S_IFLNK => Body::Symlink(Vec::new()),
            S_IFCHR => Body::CharDevice(rdev),
            _ => Body::File(FileData::default()),
        };
        let mode = match mode & S_IFMT {
            S_IFDIR | S_IFLNK | S_IFCHR => mode,
            _ => S_IFREG | (mode & 0o7777),
        };
        let nlink = if ino == ROOT_INO { 2 } else { 0 };
        self.nodes.insert(
            ino,
            Node {
                mode,
                uid: 0,
                gid: 0,
                nlink,
                open: 0,
                atime: now,
                mtime: now,
                ctime: now,
                btime: now,
                body,
            },
        );
        Ok(ino)
    }

    /// Add the entry `name` → `ino` in directory `dir`, counting the link (a directory also
    /// counts as its parent's `..`).
    pub fn link_entry(&mut self, dir: u64, name: &[u8], ino: u64) -> Result<(), Errno> {
        let names = self.prepare_entry(name)?;
        self.insert_entry(dir, names, ino)
            .inspect_err(|_| self.uncharge(entry_cost(name)))
    }

    /// Charge and copy what an entry named `name` needs, before anything changes: after this
    /// only [`Self::insert_entry`], which cannot fail on memory, is left.
    pub fn prepare_entry(&mut self, name: &[u8]) -> Result<EntryNames, Errno> {
        let cost = entry_cost(name);
        self.charge(cost)?;
        match try_copy(name).and_then(|k| Ok((k, try_copy(name)?))) {
            Ok((by_name, by_cookie)) => Ok(EntryNames { by_name, by_cookie }),
            Err(e) => {
                self.uncharge(cost);
                Err(e)
            }
        }
    }

    /// Insert a prepared entry in directory `dir` naming `ino`, counting the link (a directory
    /// also counts as its parent's `..`). Fails only if `dir` or `ino` is gone (`ENOENT`) or
    /// `dir` is not a directory; the caller refunds the charge then.
    pub fn insert_entry(&mut self, dir: u64, names: EntryNames, ino: u64) -> Result<(), Errno> {
        let child_is_dir = self.node(ino)?.is_dir();
        let now = self.now();
        let d = self.node_mut(dir)?;
        let dd = d.dir_mut()?;
        let cookie = dd.next_cookie;
        dd.next_cookie += 1;
        dd.entries.insert(names.by_name, Entry { ino, cookie });
        dd.by_cookie.insert(cookie, names.by_cookie);
        d.mtime = now;
        d.ctime = now;
        if child_is_dir {
            d.nlink += 1;
        }
        let child = self.node_mut(ino)?;
        child.nlink += if child_is_dir { 2 } else { 1 };
        child.ctime = now;
        if let Body::Dir(cd) = &mut child.body {
            cd.parent = dir;
        }
        Ok(())
    }

    /// Remove the entry `name` from `dir`, dropping the link it held; the inode is freed when
    /// nothing names or holds it.
    pub fn unlink_entry(&mut self, dir: u64, name: &[u8]) -> Result<u64, Errno> {
        let now = self.now();
        let d = self.node_mut(dir)?;
        let dd = d.dir_mut()?;
        let e = dd.entries.remove(name).ok_or(Errno::ENOENT)?;
        dd.by_cookie.remove(&e.cookie);
        d.mtime = now;
        d.ctime = now;
        self.uncharge(entry_cost(name));
        let child_is_dir = self.node(e.ino)?.is_dir();
        if child_is_dir {
            let d = self.node_mut(dir)?;
            d.nlink = d.nlink.saturating_sub(1);
        }
        let child = self.node_mut(e.ino)?;
        child.nlink = if child_is_dir {
            0
        } else {
            child.nlink.saturating_sub(1)
        };
        child.ctime = now;
        self.maybe_free(e.ino);
        Ok(e.ino)
    }

    /// Free an inode nothing names and no open file holds.
    pub fn maybe_free(&mut self, ino: u64) {
        let Some(n) = self.nodes.get(&ino) else {
            return;
        };
        if n.nlink == 0 && n.open == 0 && ino != ROOT_INO {
            let cost = INODE_COST + n.data_cost();
            self.nodes.remove(&ino);
            self.uncharge(cost);
        }
    }

    /// Set a regular file's length, charging or refunding the difference.
    pub fn set_file_len(&mut self, ino: u64, len: u64) -> Result<(), Errno> {
        if len > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        let len = usize::try_from(len).map_err(|_| Errno::EFBIG)?;
        let cur = match &self.node(ino)?.body {
            Body::File(d) => d.len(),
            Body::Dir(_) => return Err(Errno::EISDIR),
            // Linux truncates regular files only.
            Body::Symlink(_) | Body::CharDevice(_) => return Err(Errno::EINVAL),
        };
        if len > cur {
            self.charge(len - cur)?;
        }
        let now = self.now();
        let node = self.node_mut(ino)?;
        let mut failed = false;
        if let Body::File(data) = &mut node.body {
            match data.owned() {
                Ok(d) => {
                    if len > cur && d.try_reserve_exact(len - cur).is_err() {
                        failed = true;
                    } else {
                        d.resize(len, 0);
                        if len < cur {
                            d.shrink_to_fit();
                        }
                        node.mtime = now;
                        node.ctime = now;
                    }
                }
                Err(_) => failed = true,
            }
        }
        if failed {
            self.uncharge(len - cur);
            return Err(Errno::ENOSPC);
        }
        if len < cur {
            self.uncharge(cur - len);
        }
        Ok(())
    }

    /// Make regular file `ino` hold `data` in place, without a copy (charged as if copied;
    /// the first write or length change copies it, see [`FileData`]).
    pub fn set_borrowed(&mut self, ino: u64, data: &'static [u8]) -> Result<(), Errno> {
        if data.len() as u64 > MAX_FILE_SIZE {
            return Err(Errno::EFBIG);
        }
        let cur = match &self.node(ino)?.body {
            Body::File(d) => d.len(),
            Body::Dir(_) => return Err(Errno::EISDIR),
            Body::Symlink(_) | Body::CharDevice(_) => return Err(Errno::EINVAL),
        };
        if data.len() > cur {
            self.charge(data.len() - cur)?;
        }
        let now = self.now();
        let node = self.node_mut(ino)?;
        node.body = Body::File(FileData::Borrowed(data));
        node.mtime = now;
        node.ctime = now;
        if data.len() < cur {
            self.uncharge(cur - data.len());
        }
        Ok(())
    }

    /// Write `buf` at `pos` in a regular file, growing it (zero-filled) as needed. As Linux's
    /// tmpfs, a write that does not fit the budget writes what fits (a short count), and only
    /// a write of which nothing fits is `ENOSPC`.
    pub fn write_at(&mut self, ino: u64, pos: u64, buf: &[u8]) -> Result<usize, Errno> {
        let size = self.file_data(ino)?.len() as u64;
        if buf.is_empty() {
            return Ok(0);
        }
        let end = pos
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= MAX_FILE_SIZE)
            .ok_or(Errno::EFBIG)?;
        let mut buf = buf;
        if end > size {
            if let Err(e) = self.set_file_len(ino, end) {
                let room = self.budget.saturating_sub(self.used) as u64;
                let reachable = size.saturating_add(room);
                if e != Errno::ENOSPC || reachable <= pos {
                    return Err(e);
                }
                let fits = usize::try_from(reachable - pos).map_err(|_| e)?;
                buf = buf.get(..fits).ok_or(e)?;
                self.set_file_len(ino, reachable)?;
            }
        }
        let now = self.now();
        let node = self.node_mut(ino)?;
        node.mtime = now;
        node.ctime = now;
        if let Body::File(data) = &mut node.body {
            let start = usize::try_from(pos).map_err(|_| Errno::EFBIG)?;
            let dst = data
                .owned()?
                .get_mut(start..start + buf.len())
                .ok_or(Errno::EIO)?;
            dst.copy_from_slice(buf);
        }
        Ok(buf.len())
    }

    /// Read from a regular file at `pos`; 0 at or past the end.
    pub fn read_at(&self, ino: u64, pos: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let data = self.file_data(ino)?;
        let Ok(start) = usize::try_from(pos) else {
            return Ok(0);
        };
        let Some(src) = data.get(start..) else {
            return Ok(0);
        };
        let n = src.len().min(buf.len());
        buf[..n].copy_from_slice(&src[..n]);
        Ok(n)
    }

    pub fn file_data(&self, ino: u64) -> Result<&[u8], Errno> {
        match &self.node(ino)?.body {
            Body::File(d) => Ok(d.as_slice()),
            Body::Dir(_) => Err(Errno::EISDIR),
            Body::Symlink(_) | Body::CharDevice(_) => Err(Errno::EINVAL),
        }
    }

    /// Store a new symlink's target (charged).
    pub fn set_symlink_target(&mut self, ino: u64, target: &[u8]) -> Result<(), Errno> {
        self.charge(target.len())?;
        let t = match try_copy(target) {
            Ok(t) => t,
            Err(e) => {
                self.uncharge(target.len());
                return Err(e);
            }
        };
        if let Body::Symlink(s) = &mut self.node_mut(ino)?.body {
            *s = t;
        }
        Ok(())
    }

    pub fn stat(&self, ino: u64) -> Result<Stat, Errno> {
        let n = self.node(ino)?;
        let size = match &n.body {
            Body::File(d) => d.len() as u64,
            Body::Symlink(t) => t.len() as u64,
            Body::Dir(d) => (d.entries.len() as u64 + 2) * BOGO_DIRENT_SIZE,
            Body::CharDevice(_) => 0,
        };
        let blocks = match &n.body {
            Body::File(d) => (d.len() as u64).div_ceil(u64::from(BLOCK_SIZE)) * 8,
            _ => 0,
        };
        Ok(Stat {
            dev: self.dev,
            ino,
            nlink: n.nlink,
            mode: n.mode,
            uid: n.uid,
            gid: n.gid,
            rdev: n.char_device().unwrap_or_default(),
            size,
            blksize: BLOCK_SIZE,
            blocks,
            atime: n.atime,
            mtime: n.mtime,
            ctime: n.ctime,
            btime: n.btime,
        })
    }
}
