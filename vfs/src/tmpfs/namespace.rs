//! tmpfs name operations: `mkdir`, `unlink`, `rmdir`, `rename`, `link`, `symlink`, `readlink`,
//! and creating a regular file or a character device node (`mknod`).
//!
//! Owns the errno choices of Linux's man pages for each (e.g. `rmdir` of a non-empty directory is
//! `ENOTEMPTY`, of `.` is `EINVAL`; `unlink` of a directory is `EISDIR`; renaming a directory
//! into itself is `EINVAL`). It must never resolve paths itself (see `lookup`) nor allocate
//! without charging the budget (see `node`).

use super::lookup::{Last, Parent};
use super::node::{entry_cost, Body, FsState};
use crate::errno::Errno;
use crate::flags::{S_IFCHR, S_IFDIR, S_IFLNK, S_IFREG};
use crate::path::PATH_MAX;
use crate::stat::DevId;

impl FsState {
    fn last_name(parent: &Parent, on_dot: Errno) -> Result<&[u8], Errno> {
        match &parent.last {
            Last::Name(n) => Ok(n),
            _ => Err(on_dot),
        }
    }

    fn entry(&self, dir: u64, name: &[u8]) -> Result<Option<u64>, Errno> {
        Ok(self.node(dir)?.dir()?.entries.get(name).map(|e| e.ino))
    }

    /// Create an inode of `mode` named `name` in `dir` (which must not have it yet); `rdev`
    /// is the number of a character device, ignored for other types.
    pub fn create_node(
        &mut self,
        dir: u64,
        name: &[u8],
        mode: u32,
        rdev: DevId,
    ) -> Result<u64, Errno> {
        if self.entry(dir, name)?.is_some() {
            return Err(Errno::EEXIST);
        }
        // A directory removed while something still refers to it accepts no new entries.
        if self.node(dir)?.nlink == 0 {
            return Err(Errno::ENOENT);
        }
        let ino = self.new_node(mode, dir, rdev)?;
        if let Err(e) = self.link_entry(dir, name, ino) {
            self.maybe_free(ino);
            return Err(e);
        }
        Ok(ino)
    }

    /// Create a regular file for `open(O_CREAT)`.
    pub fn create_file(&mut self, parent: &Parent, mode: u32) -> Result<u64, Errno> {
        let name = Self::last_name(parent, Errno::EISDIR)?;
        if parent.trailing_slash {
            return Err(Errno::EISDIR);
        }
        let regular = S_IFREG | (mode & 0o7777);
        self.create_node(parent.dir, name, regular, DevId::default())
    }

    pub fn mkdir(&mut self, parent: &Parent, mode: u32) -> Result<u64, Errno> {
        let name = Self::last_name(parent, Errno::EEXIST)?;
        let dir = S_IFDIR | (mode & 0o7777);
        self.create_node(parent.dir, name, dir, DevId::default())
    }

    /// `mknod(path, S_IFCHR | mode, rdev)`: a character device node (`EEXIST` when the name
    /// is taken, whatever it names).
    pub fn make_char_device(
        &mut self,
        parent: &Parent,
        mode: u32,
        rdev: DevId,
    ) -> Result<u64, Errno> {
        let name = Self::last_name(parent, Errno::EEXIST)?;
        if parent.trailing_slash {
            return Err(Errno::ENOENT);
        }
        self.create_node(parent.dir, name, S_IFCHR | (mode & 0o7777), rdev)
    }

    pub fn symlink(&mut self, target: &[u8], parent: &Parent) -> Result<u64, Errno> {
        if target.is_empty() {
            return Err(Errno::ENOENT);
        }
        if target.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let name = Self::last_name(parent, Errno::EEXIST)?;
        if parent.trailing_slash {
            return Err(Errno::ENOENT);
        }
        let ino = self.create_node(parent.dir, name, S_IFLNK | 0o777, DevId::default())?;
        if let Err(e) = self.set_symlink_target(ino, target) {
            let _ = self.unlink_entry(parent.dir, name);
            return Err(e);
        }
        Ok(ino)
    }

    /// `link`: a new name for an existing non-directory inode.
    pub fn link(&mut self, ino: u64, parent: &Parent) -> Result<(), Errno> {
        if self.node(ino)?.is_dir() {
            return Err(Errno::EPERM);
        }
        let name = Self::last_name(parent, Errno::EEXIST)?;
        if self.entry(parent.dir, name)?.is_some() {
            return Err(Errno::EEXIST);
        }
        if parent.trailing_slash {
            return Err(Errno::ENOENT);
        }
        if self.node(parent.dir)?.nlink == 0 {
            return Err(Errno::ENOENT);
        }
        self.link_entry(parent.dir, name, ino)
    }

    pub fn unlink(&mut self, parent: &Parent) -> Result<(), Errno> {
        let name = Self::last_name(parent, Errno::EISDIR)?;
        let ino = self.entry(parent.dir, name)?.ok_or(Errno::ENOENT)?;
        if self.node(ino)?.is_dir() {
            return Err(Errno::EISDIR);
        }
        if parent.trailing_slash {
            return Err(Errno::ENOTDIR);
        }
        self.unlink_entry(parent.dir, name).map(drop)
    }

    pub fn rmdir(&mut self, parent: &Parent) -> Result<(), Errno> {
        let name = match &parent.last {
            Last::Name(n) => n.as_slice(),
            Last::Current => return Err(Errno::EINVAL),
            Last::Parent => return Err(Errno::ENOTEMPTY),
        };
        let ino = self.entry(parent.dir, name)?.ok_or(Errno::ENOENT)?;
        if !self.node(ino)?.dir()?.entries.is_empty() {
            return Err(Errno::ENOTEMPTY);
        }
        self.unlink_entry(parent.dir, name).map(drop)
    }

    pub fn readlink(&self, ino: u64) -> Result<&[u8], Errno> {
        self.node(ino)?.symlink_target().ok_or(Errno::EINVAL)
    }

    /// `rename(old, new)` with Linux's rules; replacing `new` atomically if it exists.
    pub fn rename(&mut self, old: &Parent, new: &Parent) -> Result<(), Errno> {
        let old_name = Self::last_name(old, Errno::EBUSY)?;
        let new_name = Self::last_name(new, Errno::EBUSY)?;
        let ino = self.entry(old.dir, old_name)?.ok_or(Errno::ENOENT)?;
        let moving_dir = self.node(ino)?.is_dir();
        if !moving_dir && (old.trailing_slash || new.trailing_slash) {
            return Err(Errno::ENOTDIR);
        }
        if self.node(new.dir)?.nlink == 0 {
            return Err(Errno::ENOENT);
        }
        let target = self.entry(new.dir, new_name)?;
        if target == Some(ino) {
            return Ok(()); // the same inode: nothing to do, as Linux
        }
        if moving_dir && self.is_within(new.dir, ino)? {
            return Err(Errno::EINVAL);
        }
        if let Some(t) = target {
            match (moving_dir, self.node(t)?.dir()) {
                (true, Ok(d)) if !d.entries.is_empty() => return Err(Errno::ENOTEMPTY),
                (true, Err(_)) => return Err(Errno::ENOTDIR),
                (false, Ok(_)) => return Err(Errno::EISDIR),
                _ => {}
            }
        }
        // Charge and copy the new name first: once the tree starts changing nothing can fail
        // for memory, so a failed rename leaves everything as it was.
        let names = self.prepare_entry(new_name)?;
        // Keep the inode alive across the move even if its last name is dropped in between,
        // and keep a directory's link count (2 + its subdirectories).
        let links_before = self.node(ino)?.nlink;
        self.node_mut(ino)?.open += 1;
        let result = (|| {
            if target.is_some() {
                self.unlink_entry(new.dir, new_name)?;
            }
            self.unlink_entry(old.dir, old_name)?;
            self.insert_entry(new.dir, names, ino)?;
            if moving_dir {
                self.node_mut(ino)?.nlink = links_before;
            }
            Ok(())
        })();
        if let Ok(n) = self.node_mut(ino) {
            n.open = n.open.saturating_sub(1);
        }
        if result.is_err() {
            // The new entry was never inserted (every check above made that unreachable).
            self.uncharge(entry_cost(new_name));
        }
        self.maybe_free(ino);
        result
    }

    /// Change permission bits (`chmod`); the file type stays.
    pub fn chmod(&mut self, ino: u64, mode: u32) -> Result<(), Errno> {
        let now = self.now();
        let n = self.node_mut(ino)?;
        n.mode = (n.mode & !0o7777) | (mode & 0o7777);
        n.ctime = now;
        Ok(())
    }

    /// Is `ino` a directory whose entries are listed (for the open path)?
    pub fn is_dir(&self, ino: u64) -> Result<bool, Errno> {
        Ok(matches!(self.node(ino)?.body, Body::Dir(_)))
    }
}
