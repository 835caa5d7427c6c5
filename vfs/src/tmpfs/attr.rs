//! Inode attributes a program changes: mode (`chmod`, `fchmod`, `fchmodat`), owner (`chown`,
//! `fchown`, `lchown`, `fchownat`) and times (`utimensat`, `futimens`), by path or by open file.
//!
//! Owns the decoding of `UTIME_NOW`/`UTIME_OMIT` and the rule that any change stamps `ctime`.
//! Every program runs as root, so no ownership check is made. It must never resolve a path
//! differently from `lookup` nor touch file data.

use super::{DeviceFile, Ino, Tmpfs, TmpfsFile};
use crate::errno::Errno;
use crate::file::OpenFile;
use crate::time::Timespec;

/// `utimensat`'s "set to the current time" nanoseconds value.
pub const UTIME_NOW: i64 = (1 << 30) - 1;
/// `utimensat`'s "leave unchanged" nanoseconds value.
pub const UTIME_OMIT: i64 = (1 << 30) - 2;

/// Which inode an attribute call changes.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// A path from a start directory, following a final symlink or not (`AT_SYMLINK_NOFOLLOW`).
    Path {
        at: Ino,
        path: &'a [u8],
        follow: bool,
    },
    /// An inode the caller already holds (an open file, see [`Tmpfs::inode_of`]).
    Inode(Ino),
}

/// One of the two times `utimensat` sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeChange {
    Now,
    Omit,
    Set(Timespec),
}

impl TimeChange {
    /// Decode a `struct timespec` of `utimensat` (`EINVAL` for nanoseconds out of range that
    /// are neither `UTIME_NOW` nor `UTIME_OMIT`).
    pub fn from_linux(sec: i64, nsec: i64) -> Result<TimeChange, Errno> {
        match nsec {
            UTIME_NOW => Ok(TimeChange::Now),
            UTIME_OMIT => Ok(TimeChange::Omit),
            0..=999_999_999 => Ok(TimeChange::Set(Timespec::new(sec, nsec as u32))),
            _ => Err(Errno::EINVAL),
        }
    }
}

impl Tmpfs {
    /// The tmpfs inode an open file has open (`None` for pipes, sockets, other file systems).
    /// A character device's open file names the node it was opened through.
    pub fn inode_of(&self, file: &OpenFile) -> Option<Ino> {
        let any = file.ops().as_any();
        any.downcast_ref::<TmpfsFile>()
            .or_else(|| any.downcast_ref::<DeviceFile>().map(DeviceFile::node))
            .filter(|f| alloc::sync::Arc::ptr_eq(&f.state, &self.state))
            .map(|f| Ino(f.ino))
    }

    fn target_ino(fs: &super::node::FsState, target: Target<'_>) -> Result<u64, Errno> {
        match target {
            Target::Path { at, path, follow } => fs.resolve(at.0, path, follow),
            Target::Inode(ino) => fs.node(ino.0).map(|_| ino.0),
        }
    }

    /// `chmod` family: permission bits only, the file type stays.
    pub fn set_mode(&self, target: Target<'_>, mode: u32) -> Result<(), Errno> {
        let mut fs = self.state.lock();
        let ino = Self::target_ino(&fs, target)?;
        fs.chmod(ino, mode)
    }

    /// `chown` family: `None` (the program's `-1`) leaves that id unchanged.
    pub fn set_owner(
        &self,
        target: Target<'_>,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> Result<(), Errno> {
        let mut fs = self.state.lock();
        let ino = Self::target_ino(&fs, target)?;
        let now = fs.now();
        let n = fs.node_mut(ino)?;
        if let Some(uid) = uid {
            n.uid = uid;
        }
        if let Some(gid) = gid {
            n.gid = gid;
        }
        n.ctime = now;
        Ok(())
    }

    /// `utimensat`/`futimens`: each time set, stamped now, or left; `ctime` becomes now unless
    /// both are left.
    pub fn set_times(
        &self,
        target: Target<'_>,
        atime: TimeChange,
        mtime: TimeChange,
    ) -> Result<(), Errno> {
        let mut fs = self.state.lock();
        let ino = Self::target_ino(&fs, target)?;
        let now = fs.now();
        let n = fs.node_mut(ino)?;
        for (slot, change) in [(&mut n.atime, atime), (&mut n.mtime, mtime)] {
            match change {
                TimeChange::Now => *slot = now,
                TimeChange::Set(t) => *slot = t,
                TimeChange::Omit => {}
            }
        }
        if (atime, mtime) != (TimeChange::Omit, TimeChange::Omit) {
            n.ctime = now;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::{O_CREAT, O_RDWR, S_IFREG};
    use crate::time::FixedClock;
    use alloc::sync::Arc;

    #[test]
    fn mode_owner_and_times_by_path_and_by_file() {
        let now = Timespec::new(500, 0);
        let t = Tmpfs::new(1 << 20, Arc::new(FixedClock(now))).unwrap();
        let f = t.open(t.root(), b"f", O_CREAT | O_RDWR, 0o644).unwrap();
        t.symlink(b"f", t.root(), b"l").unwrap();
        let ino = t.inode_of(&f).unwrap();
        t.set_mode(Target::Inode(ino), 0o600).unwrap();
        assert_eq!(f.stat().unwrap().mode, S_IFREG | 0o600);
        let l = Target::Path {
            at: t.root(),
            path: b"l",
            follow: false,
        };
        t.set_owner(l, Some(5), None).unwrap();
        assert_eq!(t.stat(t.root(), b"l", false).unwrap().uid, 5);
        assert_eq!(f.stat().unwrap().uid, 0, "lchown leaves the target");
        let at = TimeChange::from_linux(10, 1).unwrap();
        let mt = TimeChange::from_linux(0, UTIME_OMIT).unwrap();
        t.set_times(Target::Inode(ino), at, mt).unwrap();
        let st = f.stat().unwrap();
        assert_eq!(
            (st.atime, st.mtime, st.ctime),
            (Timespec::new(10, 1), now, now)
        );
        assert_eq!(TimeChange::from_linux(0, UTIME_NOW), Ok(TimeChange::Now));
        assert_eq!(TimeChange::from_linux(0, 1_000_000_000), Err(Errno::EINVAL));
        assert_eq!(TimeChange::from_linux(0, -1), Err(Errno::EINVAL));
        let (r, _w) = crate::pipe::pipe2(0, now).unwrap();
        assert_eq!(t.inode_of(&r), None);
        assert_eq!(
            t.set_mode(Target::Inode(Ino(9999)), 0).unwrap_err(),
            Errno::ENOENT
        );
    }
}
