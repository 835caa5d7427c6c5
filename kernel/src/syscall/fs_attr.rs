//! Attribute changes of files in the tree: `chmod`, `fchmod`, `fchmodat`, `chown`, `fchown`,
//! `lchown`, `fchownat`, `utimensat` (and `futimens`, which is `utimensat` with a null path).
//! Every program runs as root, so no ownership check is made (`vfs::tmpfs`'s attribute
//! calls). A descriptor that is not a file of the tree (a socket, a pipe, an eventfd) keeps no
//! owner, mode or times here: changing them is `EPERM` (a deliberate difference: Linux changes
//! the anonymous inode).
//!
//! Owns the decoding of the calls' arguments: `-1` ids, `AT_SYMLINK_NOFOLLOW`,
//! `AT_EMPTY_PATH`, and `utimensat`'s two `struct timespec`.

use uapi::Errno;
use vfs::flags::{AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW};
use vfs::tmpfs::{Ino, Target, TimeChange};

use super::fs::{current, nonempty_path_in, path_in, root_fs, start_dir};
use super::{uaccess, SysResult};

pub const SYS_CHMOD: u64 = 90;
pub const SYS_FCHMOD: u64 = 91;
pub const SYS_CHOWN: u64 = 92;
pub const SYS_FCHOWN: u64 = 93;
pub const SYS_LCHOWN: u64 = 94;
pub const SYS_FCHOWNAT: u64 = 260;
pub const SYS_FCHMODAT: u64 = 268;
pub const SYS_UTIMENSAT: u64 = 280;

pub fn call(nr: u64, a: [u64; 6]) -> Option<SysResult> {
    Some(match nr {
        SYS_CHMOD => chmod_at(AT_FDCWD, a[0], a[1] as u32),
        SYS_FCHMODAT => chmod_at(a[0] as i32, a[1], a[2] as u32),
        SYS_FCHMOD => fd_target(a[0] as i32).and_then(|ino| mode(Target::Inode(ino), a[1])),
        SYS_CHOWN => chown_at(AT_FDCWD, a[0], a[1], a[2], 0),
        SYS_LCHOWN => chown_at(AT_FDCWD, a[0], a[1], a[2], AT_SYMLINK_NOFOLLOW),
        SYS_FCHOWNAT => chown_at(a[0] as i32, a[1], a[2], a[3], a[4] as u32),
        SYS_FCHOWN => fd_target(a[0] as i32).and_then(|ino| owner(Target::Inode(ino), a[1], a[2])),
        SYS_UTIMENSAT => utimensat(a[0] as i32, a[1], a[2], a[3] as u32),
        _ => return None,
    })
}

/// The tree inode behind descriptor `fd` (`EBADF` for a closed one, `EPERM` for a descriptor
/// that is not a file of the tree).
fn fd_target(fd: i32) -> Result<Ino, Errno> {
    let file = current()?.files.lock().get(fd)?;
    root_fs()?.inode_of(&file).ok_or(Errno::EPERM)
}

fn mode(target: Target<'_>, mode: u64) -> SysResult {
    root_fs()?.set_mode(target, mode as u32 & 0o7777)?;
    Ok(0)
}

fn chmod_at(dirfd: i32, path: u64, bits: u32) -> SysResult {
    let p = current()?;
    let fs = root_fs()?;
    let path = nonempty_path_in(path)?;
    let at = start_dir(&p, fs, dirfd, &path)?;
    mode(
        Target::Path {
            at,
            path: &path,
            follow: true,
        },
        u64::from(bits),
    )
}

/// A `uid_t`/`gid_t` argument: `-1` (as a 32-bit value) leaves the id unchanged.
fn id(arg: u64) -> Option<u32> {
    let v = arg as u32;
    (v != u32::MAX).then_some(v)
}

fn owner(target: Target<'_>, uid: u64, gid: u64) -> SysResult {
    root_fs()?.set_owner(target, id(uid), id(gid))?;
    Ok(0)
}

fn chown_at(dirfd: i32, path: u64, uid: u64, gid: u64, flags: u32) -> SysResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = path_in(path)?;
    if path.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        return owner(Target::Inode(dir_fd_target(dirfd)?), uid, gid);
    }
    let p = current()?;
    let fs = root_fs()?;
    let at = start_dir(&p, fs, dirfd, &path)?;
    let follow = flags & AT_SYMLINK_NOFOLLOW == 0;
    owner(
        Target::Path {
            at,
            path: &path,
            follow,
        },
        uid,
        gid,
    )
}

/// `AT_EMPTY_PATH`'s target: the descriptor itself, or the working directory for `AT_FDCWD`.
fn dir_fd_target(dirfd: i32) -> Result<Ino, Errno> {
    if dirfd == AT_FDCWD {
        let p = current()?;
        return start_dir(&p, root_fs()?, AT_FDCWD, b".");
    }
    fd_target(dirfd)
}

/// `utimensat(dirfd, path, times, flags)`; a null `path` is `futimens(dirfd, times)`; null
/// `times` sets both to now.
fn utimensat(dirfd: i32, path: u64, times: u64, flags: u32) -> SysResult {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let (atime, mtime) = if times == 0 {
        (TimeChange::Now, TimeChange::Now)
    } else {
        let ts: [i64; 4] = uaccess::read(times)?;
        (
            TimeChange::from_linux(ts[0], ts[1])?,
            TimeChange::from_linux(ts[2], ts[3])?,
        )
    };
    let fs = root_fs()?;
    if path == 0 {
        fs.set_times(Target::Inode(dir_fd_target(dirfd)?), atime, mtime)?;
        return Ok(0);
    }
    let path = path_in(path)?;
    if path.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        fs.set_times(Target::Inode(dir_fd_target(dirfd)?), atime, mtime)?;
        return Ok(0);
    }
    let p = current()?;
    let at = start_dir(&p, fs, dirfd, &path)?;
    let follow = flags & AT_SYMLINK_NOFOLLOW == 0;
    fs.set_times(
        Target::Path {
            at,
            path: &path,
            follow,
        },
        atime,
        mtime,
    )?;
    Ok(0)
}
