//! What programs ask about the file system as a whole or about extended attributes:
//! `statfs`/`fstatfs` (tmpfs's numbers: its magic, its memory budget as blocks) and the
//! `*xattr` family (tmpfs here keeps no extended attributes: a get is `ENODATA`, a list is
//! empty, a set is `EOPNOTSUPP`, as on a file system without them).
//!
//! Owns `struct statfs`'s layout.

use uapi::Errno;

use super::fs::{current, nonempty_path_in, root_fs, start_dir};
use super::{uaccess, SysResult};

pub const SYS_STATFS: u64 = 137;
pub const SYS_FSTATFS: u64 = 138;
pub const SYS_SETXATTR: u64 = 188;
pub const SYS_LSETXATTR: u64 = 189;
pub const SYS_FSETXATTR: u64 = 190;
pub const SYS_GETXATTR: u64 = 191;
pub const SYS_LGETXATTR: u64 = 192;
pub const SYS_FGETXATTR: u64 = 193;
pub const SYS_LISTXATTR: u64 = 194;
pub const SYS_LLISTXATTR: u64 = 195;
pub const SYS_FLISTXATTR: u64 = 196;

/// tmpfs's `f_type`.
const TMPFS_MAGIC: u64 = 0x0102_1994;
const NAME_MAX: u64 = 255;

pub fn call(nr: u64, a: [u64; 6]) -> Option<SysResult> {
    Some(match nr {
        SYS_STATFS => path_exists(a[0]).and_then(|_| statfs(a[1])),
        SYS_FSTATFS => fd_exists(a[0] as i32).and_then(|_| statfs(a[1])),
        SYS_GETXATTR | SYS_LGETXATTR => path_exists(a[0]).and(Err(Errno::ENODATA)),
        SYS_FGETXATTR => fd_exists(a[0] as i32).and(Err(Errno::ENODATA)),
        SYS_LISTXATTR | SYS_LLISTXATTR => path_exists(a[0]).map(|_| 0),
        SYS_FLISTXATTR => fd_exists(a[0] as i32).map(|_| 0),
        SYS_SETXATTR | SYS_LSETXATTR => path_exists(a[0]).and(Err(Errno::EOPNOTSUPP)),
        SYS_FSETXATTR => fd_exists(a[0] as i32).and(Err(Errno::EOPNOTSUPP)),
        _ => return None,
    })
}

fn path_exists(path: u64) -> SysResult {
    let p = current()?;
    let fs = root_fs()?;
    let path = nonempty_path_in(path)?;
    let at = start_dir(&p, fs, vfs::flags::AT_FDCWD, &path)?;
    fs.stat(at, &path, true)?;
    Ok(0)
}

fn fd_exists(fd: i32) -> SysResult {
    current()?.files.lock().get(fd)?;
    Ok(0)
}

fn statfs(buf: u64) -> SysResult {
    let fs = root_fs()?;
    let (used, budget) = fs.usage();
    let bsize = 4096u64;
    let blocks = budget as u64 / bsize;
    let free = (budget.saturating_sub(used)) as u64 / bsize;
    let mut w = [0u64; 15];
    w[0] = TMPFS_MAGIC;
    w[1] = bsize;
    w[2] = blocks;
    w[3] = free;
    w[4] = free;
    w[5] = blocks;
    w[6] = free;
    w[7] = 0; // f_fsid
    w[8] = NAME_MAX;
    w[9] = bsize; // f_frsize
    w[10] = 0x1000; // f_flags: ST_RELATIME, as Linux mounts tmpfs by default
    uaccess::write(buf, w)?;
    Ok(0)
}
