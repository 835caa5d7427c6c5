//! A process's descriptor table (Linux's `fdtable`): descriptor numbers → open files, with the
//! per-descriptor `FD_CLOEXEC` flag.
//!
//! Owns numbering (lowest free descriptor first), the `RLIMIT_NOFILE` bound (`EMFILE`), and the
//! `dup`/`dup2`/`dup3`/`F_DUPFD`/`F_GETFD`/`F_SETFD`/`F_GETFL`/`F_SETFL` rules. It must never
//! look inside an open file nor grow past its limit: the vector of slots is reserved fallibly
//! and never longer than the limit. Closing hands the [`OpenFile`] back so the caller drops it
//! outside its own locks (the last drop releases the file: a pipe end, a socket, an inode).

use alloc::sync::Arc;
use alloc::vec::Vec;

use crate::errno::Errno;
use crate::file::OpenFile;
use crate::flags::{FD_CLOEXEC, O_CLOEXEC};

/// `close_range` flag: unshare the table first (the kernel's business).
pub const CLOSE_RANGE_UNSHARE: u32 = 1 << 1;
/// `close_range` flag: mark close-on-exec instead of closing.
pub const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;

/// Linux's default soft `RLIMIT_NOFILE`.
pub const DEFAULT_FD_LIMIT: usize = 1024;
/// Ceiling of any limit (Linux's `fs.nr_open` default).
pub const MAX_FD_LIMIT: usize = 1 << 20;

#[derive(Debug, Clone)]
struct Descriptor {
    file: Arc<OpenFile>,
    cloexec: bool,
}

/// Descriptors of one process (shared by its threads, copied by `fork`).
#[derive(Debug, Clone)]
pub struct FdTable {
    slots: Vec<Option<Descriptor>>,
    limit: usize,
}

impl Default for FdTable {
    fn default() -> Self {
        FdTable::new(DEFAULT_FD_LIMIT)
    }
}

impl FdTable {
    /// An empty table bounded by `limit` descriptors (capped at [`MAX_FD_LIMIT`]).
    pub fn new(limit: usize) -> FdTable {
        FdTable {
            slots: Vec::new(),
            limit: limit.min(MAX_FD_LIMIT),
        }
    }

    /// The `RLIMIT_NOFILE` soft limit in force.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// `setrlimit(RLIMIT_NOFILE)`: descriptors already above a lowered limit stay open, as in
    /// Linux; only new ones are refused. Above [`MAX_FD_LIMIT`] is `EPERM`, as Linux answers
    /// past `nr_open`.
    pub fn set_limit(&mut self, limit: usize) -> Result<(), Errno> {
        if limit > MAX_FD_LIMIT {
            return Err(Errno::EPERM);
        }
        self.limit = limit;
        Ok(())
    }

    fn slot_index(fd: i32) -> Result<usize, Errno> {
        usize::try_from(fd).map_err(|_| Errno::EBADF)
    }

    fn entry(&self, fd: i32) -> Result<&Descriptor, Errno> {
        let i = Self::slot_index(fd)?;
        self.slots
            .get(i)
            .and_then(Option::as_ref)
            .ok_or(Errno::EBADF)
    }

    fn entry_mut(&mut self, fd: i32) -> Result<&mut Descriptor, Errno> {
        let i = Self::slot_index(fd)?;
        self.slots
            .get_mut(i)
            .and_then(Option::as_mut)
            .ok_or(Errno::EBADF)
    }

    /// The open file a descriptor names (`EBADF` for a closed or negative one).
    pub fn get(&self, fd: i32) -> Result<Arc<OpenFile>, Errno> {
        self.entry(fd).map(|d| d.file.clone())
    }

    /// The lowest free descriptor ≥ `min`, or `EMFILE` at the limit.
    fn lowest_free(&self, min: usize) -> Result<usize, Errno> {
        let found = self
            .slots
            .iter()
            .enumerate()
            .skip(min)
            .find(|(_, s)| s.is_none())
            .map(|(i, _)| i);
        let fd = found.unwrap_or(self.slots.len().max(min));
        if fd >= self.limit {
            return Err(Errno::EMFILE);
        }
        Ok(fd)
    }

    /// Put `file` at `fd`, growing the slots fallibly; the old occupant (if any) is returned.
    fn place(
        &mut self,
        fd: usize,
        file: Arc<OpenFile>,
        cloexec: bool,
    ) -> Result<Option<Arc<OpenFile>>, Errno> {
        if fd >= self.slots.len() {
            let extra = fd + 1 - self.slots.len();
            self.slots.try_reserve(extra).map_err(|_| Errno::ENOMEM)?;
            self.slots.resize(fd + 1, None);
        }
        let slot = self.slots.get_mut(fd).ok_or(Errno::EBADF)?;
        let old = slot.replace(Descriptor { file, cloexec });
        Ok(old.map(|d| d.file))
    }

    fn fd_number(i: usize) -> Result<i32, Errno> {
        i32::try_from(i).map_err(|_| Errno::EMFILE)
    }

    /// `fd_install` at the lowest free descriptor (what `open`, `pipe2`, `socket` do).
    pub fn install(&mut self, file: Arc<OpenFile>, cloexec: bool) -> Result<i32, Errno> {
        self.install_from(0, file, cloexec)
    }

    /// Install at the lowest free descriptor ≥ `min` (`F_DUPFD`'s search).
    pub fn install_from(
        &mut self,
        min: usize,
        file: Arc<OpenFile>,
        cloexec: bool,
    ) -> Result<i32, Errno> {
        let fd = self.lowest_free(min)?;
        let number = Self::fd_number(fd)?;
        self.place(fd, file, cloexec)?;
        Ok(number)
    }

    /// `close`: the descriptor is freed; its open file comes back for the caller to drop.
    pub fn close(&mut self, fd: i32) -> Result<Arc<OpenFile>, Errno> {
        let i = Self::slot_index(fd)?;
        let d = self
            .slots
            .get_mut(i)
            .and_then(Option::take)
            .ok_or(Errno::EBADF)?;
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        Ok(d.file)
    }

    /// `dup`: the lowest free descriptor shares `fd`'s open file; `FD_CLOEXEC` is clear.
    pub fn dup(&mut self, fd: i32) -> Result<i32, Errno> {
        let file = self.get(fd)?;
        self.install(file, false)
    }

    /// `dup2`: `newfd` shares `oldfd`'s open file, closing what `newfd` held (handed back).
    /// Same descriptor: `newfd` if `oldfd` is open. `newfd` out of range is `EBADF`.
    pub fn dup2(&mut self, oldfd: i32, newfd: i32) -> Result<(i32, Option<Arc<OpenFile>>), Errno> {
        let file = self.get(oldfd)?;
        if oldfd == newfd {
            return Ok((newfd, None));
        }
        self.dup_onto(file, newfd, false)
    }

    /// `dup3`: as `dup2`, but the same descriptor is `EINVAL` and `flags` may only be
    /// `O_CLOEXEC`.
    pub fn dup3(
        &mut self,
        oldfd: i32,
        newfd: i32,
        flags: u32,
    ) -> Result<(i32, Option<Arc<OpenFile>>), Errno> {
        if flags & !O_CLOEXEC != 0 {
            return Err(Errno::EINVAL);
        }
        let file = self.get(oldfd)?;
        if oldfd == newfd {
            return Err(Errno::EINVAL);
        }
        self.dup_onto(file, newfd, flags & O_CLOEXEC != 0)
    }

    fn dup_onto(
        &mut self,
        file: Arc<OpenFile>,
        newfd: i32,
        cloexec: bool,
    ) -> Result<(i32, Option<Arc<OpenFile>>), Errno> {
        let i = Self::slot_index(newfd)?;
        if i >= self.limit {
            return Err(Errno::EBADF);
        }
        let old = self.place(i, file, cloexec)?;
        Ok((newfd, old))
    }

    /// `fcntl(F_DUPFD / F_DUPFD_CLOEXEC)`: lowest free descriptor ≥ `min`; `min` negative or at
    /// or past the limit is `EINVAL`.
    pub fn dup_from(&mut self, fd: i32, min: i64, cloexec: bool) -> Result<i32, Errno> {
        let file = self.get(fd)?;
        let min = usize::try_from(min).map_err(|_| Errno::EINVAL)?;
        if min >= self.limit {
            return Err(Errno::EINVAL);
        }
        self.install_from(min, file, cloexec)
    }

    /// `F_GETFD`.
    pub fn fd_flags(&self, fd: i32) -> Result<u32, Errno> {
        Ok(if self.entry(fd)?.cloexec {
            FD_CLOEXEC
        } else {
            0
        })
    }

    /// `F_SETFD`: only `FD_CLOEXEC` means anything.
    pub fn set_fd_flags(&mut self, fd: i32, flags: u32) -> Result<(), Errno> {
        self.entry_mut(fd)?.cloexec = flags & FD_CLOEXEC != 0;
        Ok(())
    }

    /// `F_GETFL`: the open file's access mode and status flags.
    pub fn status_flags(&self, fd: i32) -> Result<u32, Errno> {
        Ok(self.entry(fd)?.file.status_flags())
    }

    /// `F_SETFL`: changes the shared open file, so every duplicate sees it.
    pub fn set_status_flags(&mut self, fd: i32, flags: u32) -> Result<(), Errno> {
        self.entry(fd)?.file.set_status_flags(flags);
        Ok(())
    }

    /// `execve`: close every descriptor marked `FD_CLOEXEC`; their files come back to drop.
    pub fn close_on_exec(&mut self) -> Vec<Arc<OpenFile>> {
        let mut closed = Vec::new();
        for slot in self.slots.iter_mut() {
            if slot.as_ref().is_some_and(|d| d.cloexec) {
                if let Some(d) = slot.take() {
                    // Pushing may fail to grow: then the file is dropped right here instead.
                    if closed.try_reserve(1).is_ok() {
                        closed.push(d.file);
                    }
                }
            }
        }
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        closed
    }

    /// `close_range(first, last, flags)`: close (or, with `CLOSE_RANGE_CLOEXEC`, mark
    /// close-on-exec) every open descriptor in `first..=last`; `first > last` or an unknown flag
    /// is `EINVAL`. `CLOSE_RANGE_UNSHARE` is the kernel's (it unshares the table first) and
    /// accepted here. The closed files come back to drop.
    pub fn close_range(
        &mut self,
        first: u32,
        last: u32,
        flags: u32,
    ) -> Result<Vec<Arc<OpenFile>>, Errno> {
        if first > last || flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 {
            return Err(Errno::EINVAL);
        }
        let mut closed = Vec::new();
        let first = first as usize;
        let end = (last as usize).saturating_add(1).min(self.slots.len());
        for slot in self.slots.get_mut(first..end).unwrap_or_default() {
            if flags & CLOSE_RANGE_CLOEXEC != 0 {
                if let Some(d) = slot.as_mut() {
                    d.cloexec = true;
                }
            } else if let Some(d) = slot.take() {
                if closed.try_reserve(1).is_ok() {
                    closed.push(d.file);
                }
            }
        }
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        Ok(closed)
    }

    /// Open descriptors in increasing order.
    pub fn open_fds(&self) -> impl Iterator<Item = (i32, &Arc<OpenFile>)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i32::try_from(i).ok()?, &s.as_ref()?.file)))
    }

    /// Number of open descriptors.
    pub fn count(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }
}

#[cfg(test)]
mod tests;
