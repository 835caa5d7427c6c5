//! Calls that name files by path (Linux's fs/namei.c, fs/open.c, fs/stat.c, fs/d_path.c):
//! `open`/`openat`/`creat`, `stat`/`lstat`/`newfstatat`/`statx`, `access`/`faccessat`/
//! `faccessat2`, `readlink`/`readlinkat`, `mkdir`/`mkdirat`, `unlink`/`unlinkat`/`rmdir`,
//! `rename`/`renameat`/`renameat2`, `truncate`, `getcwd`/`chdir`/`fchdir`, over the root tmpfs.
//!
//! Every program runs as root (uid 0, no credentials yet): permission bits are not enforced
//! except that `X_OK` needs an execute bit (or a directory), as for root on Linux. New files
//! and directories get `mode & !UMASK` ([`UMASK`]: Linux's default 022; there is no `umask`
//! call yet). `getcwd` finds the working directory's path by walking `..` and listing each
//! parent, so it is right after `fchdir`, renames of a parent, and symlinks along the way.

use alloc::sync::Arc;
use alloc::vec::Vec;

use vfs::flags::{
    AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL,
    O_NOFOLLOW, O_PATH, O_RDONLY, O_TRUNC, O_WRONLY, S_IFDIR, S_IFMT,
};
use vfs::path::PATH_MAX;
use vfs::stat::Stat;
use vfs::tmpfs::Ino;
use vfs::{Errno, OpenFile, Tmpfs};

use super::fs::{current, nonempty_path_in, path_in, root_fs, start_dir};
use super::{uaccess, SysResult};
use crate::process::Process;
use crate::procfs;

/// The file mode creation mask every program has (Linux's default).
pub const UMASK: u32 = 0o022;
/// `AT_EACCESS`: check with the effective ids (the same here).
const AT_EACCESS: u32 = 0x200;
/// `statx`'s synchronisation flags (nothing to synchronise in memory).
const AT_STATX_SYNC_TYPE: u32 = 0x6000;
/// `statx` mask bit reserved for future extension: `EINVAL`.
const STATX_RESERVED: u32 = 0x8000_0000;
/// `renameat2` flags.
const RENAME_NOREPLACE: u32 = 1;
const X_OK: u32 = 1;

/// Where `(dirfd, path)` leads: the components of a /proc path, or `None` for the tree.
fn proc_route(p: &Process, dirfd: i32, path: &[u8]) -> Result<Option<Vec<Vec<u8>>>, Errno> {
    let start = if path.first() == Some(&b'/') {
        None
    } else if dirfd == AT_FDCWD {
        p.cwd.lock().clone()
    } else {
        Some(p.files.lock().get(dirfd)?)
    };
    procfs::route(p, start.as_deref(), path)
}

/// `open` under /proc: `O_CREAT` cannot make names there (`EEXIST` with `O_EXCL` on an
/// existing one, `ENOENT` for a new one, as Linux's procfs answers).
fn proc_open(p: &Process, parts: &[Vec<u8>], flags: u32) -> Result<Arc<OpenFile>, Errno> {
    let follow = flags & O_NOFOLLOW == 0;
    let node = procfs::resolve(p, parts, follow)?;
    if flags & O_CREAT != 0 && flags & O_EXCL != 0 {
        return Err(Errno::EEXIST);
    }
    if !follow
        && flags & O_PATH == 0
        && matches!(
            node,
            procfs::Node::SelfLink | procfs::Node::Exe(_) | procfs::Node::Fd(..)
        )
    {
        return Err(Errno::ELOOP);
    }
    procfs::open(p, node, flags)
}

pub fn openat(dirfd: i32, path: u64, flags: u32, mode: u32) -> SysResult {
    let p = current()?;
    let path = nonempty_path_in(path)?;
    if let Some(parts) = proc_route(&p, dirfd, &path)? {
        let file = proc_open(&p, &parts, flags)?;
        let fd = p.files.lock().install(file, flags & O_CLOEXEC != 0)?;
        return Ok(i64::from(fd));
    }
    let fs = root_fs()?;
    let at = start_dir(&p, fs, dirfd, &path)?;
    let file = fs.open(at, &path, flags, mode & 0o7777 & !UMASK)?;
    let fd = p.files.lock().install(file, flags & O_CLOEXEC != 0)?;
    Ok(i64::from(fd))
}

pub fn creat(path: u64, mode: u32) -> SysResult {
    openat(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode)
}

/// What `dirfd` itself names, for `AT_EMPTY_PATH` (the cwd for `AT_FDCWD`).
fn dirfd_file(p: &Process, dirfd: i32) -> Result<Arc<OpenFile>, Errno> {
    if dirfd == AT_FDCWD {
        return p.cwd.lock().clone().ok_or(Errno::ENOENT);
    }
    p.files.lock().get(dirfd)
}

/// The attributes `(dirfd, path, flags)` name, for the stat family.
fn stat_of(dirfd: i32, path: u64, flags: u32) -> Result<Stat, Errno> {
    let p = current()?;
    let path = path_in(path)?;
    if path.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        return dirfd_file(&p, dirfd)?.stat();
    }
    if let Some(parts) = proc_route(&p, dirfd, &path)? {
        let follow = flags & AT_SYMLINK_NOFOLLOW == 0;
        let node = procfs::resolve(&p, &parts, follow)?;
        if let (true, procfs::Node::Fd(pid, fd)) = (follow, node) {
            // stat follows an fd link to the file it names.
            let file = procfs::process_of(pid)?
                .files
                .lock()
                .get(fd)
                .map_err(|_| Errno::ENOENT)?;
            return file.stat();
        }
        return Ok(node.stat());
    }
    let fs = root_fs()?;
    let at = start_dir(&p, fs, dirfd, &path)?;
    fs.stat_at(at, &path, flags & !AT_EMPTY_PATH)
}

pub fn fstatat(dirfd: i32, path: u64, buf: u64, flags: u32) -> SysResult {
    let st = stat_of(dirfd, path, flags)?;
    uaccess::copy_to_user(buf, &st.to_linux_stat())?;
    Ok(0)
}

pub fn statx(dirfd: i32, path: u64, flags: u32, mask: u32, buf: u64) -> SysResult {
    if mask & STATX_RESERVED != 0 || flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE {
        return Err(Errno::EINVAL);
    }
    let st = stat_of(dirfd, path, flags & !AT_STATX_SYNC_TYPE)?;
    uaccess::copy_to_user(buf, &st.to_linux_statx())?;
    Ok(0)
}

pub fn faccessat(dirfd: i32, path: u64, mode: u32, flags: u32) -> SysResult {
    if mode & !7 != 0 || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let st = stat_of(dirfd, path, flags & !AT_EACCESS)?;
    let is_dir = st.mode & S_IFMT == S_IFDIR;
    if mode & X_OK != 0 && !is_dir && st.mode & 0o111 == 0 {
        return Err(Errno::EACCES);
    }
    Ok(0)
}

pub fn readlinkat(dirfd: i32, path: u64, buf: u64, size: usize) -> SysResult {
    let size = i32::try_from(size).unwrap_or(i32::MAX);
    if size <= 0 {
        return Err(Errno::EINVAL);
    }
    let p = current()?;
    let path = nonempty_path_in(path)?;
    if let Some(parts) = proc_route(&p, dirfd, &path)? {
        let text = procfs::resolve(&p, &parts, false)?.link_text(&p)?;
        let k = text.len().min(size as usize);
        uaccess::copy_to_user(buf, &text[..k])?;
        return Ok(k as i64);
    }
    let fs = root_fs()?;
    let at = start_dir(&p, fs, dirfd, &path)?;
    let mut out = Vec::new();
    let n = (size as usize).min(PATH_MAX);
    out.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
    out.resize(n, 0);
    let k = fs.readlink(at, &path, &mut out)?;
    uaccess::copy_to_user(buf, &out[..k])?;
    Ok(k as i64)
}

pub fn mkdirat(dirfd: i32, path: u64, mode: u32) -> SysResult {
    let p = current()?;
    let path = nonempty_path_in(path)?;
    if let Some(parts) = proc_route(&p, dirfd, &path)? {
        // procfs makes no names: an existing one is EEXIST, a new one ENOENT (its lookup).
        procfs::resolve(&p, &parts, false)?;
        return Err(Errno::EEXIST);
    }
    let fs = root_fs()?;
    let at = start_dir(&p, fs, dirfd, &path)?;
    fs.mkdir(at, &path, mode & 0o7777 & !UMASK).map(|_| 0)
}

pub fn unlinkat(dirfd: i32, path: u64, flags: u32) -> SysResult {
    let p = current()?;
    let path = nonempty_path_in(path)?;
    if let Some(parts) = proc_route(&p, dirfd, &path)? {
        // procfs removes no names: EPERM for an existing one (no unlink operation).
        procfs::resolve(&p, &parts, false)?;
        return Err(Errno::EPERM);
    }
    let fs = root_fs()?;
    let at = start_dir(&p, fs, dirfd, &path)?;
    fs.unlink_at(at, &path, flags).map(|_| 0)
}

pub fn renameat2(olddirfd: i32, old: u64, newdirfd: i32, new: u64, flags: u32) -> SysResult {
    // RENAME_EXCHANGE and RENAME_WHITEOUT are not offered (EINVAL, as a file system without
    // them answers).
    if flags & !RENAME_NOREPLACE != 0 {
        return Err(Errno::EINVAL);
    }
    let p = current()?;
    let old = nonempty_path_in(old)?;
    let new = nonempty_path_in(new)?;
    let old_proc = proc_route(&p, olddirfd, &old)?;
    let new_proc = proc_route(&p, newdirfd, &new)?;
    if let Some(parts) = &old_proc {
        procfs::resolve(&p, parts, false)?;
    }
    match (old_proc.is_some(), new_proc.is_some()) {
        (false, false) => {}
        (true, true) => return Err(Errno::EPERM),
        _ => return Err(Errno::EXDEV),
    }
    let fs = root_fs()?;
    let old_at = start_dir(&p, fs, olddirfd, &old)?;
    let new_at = start_dir(&p, fs, newdirfd, &new)?;
    if flags & RENAME_NOREPLACE != 0 && fs.stat(new_at, &new, false).is_ok() {
        return Err(Errno::EEXIST);
    }
    fs.rename(old_at, &old, new_at, &new).map(|_| 0)
}

pub fn truncate(path: u64, len: i64) -> SysResult {
    let p = current()?;
    let path = nonempty_path_in(path)?;
    if let Some(parts) = proc_route(&p, AT_FDCWD, &path)? {
        procfs::resolve(&p, &parts, true)?;
        return Err(Errno::EACCES);
    }
    let fs = root_fs()?;
    let at = start_dir(&p, fs, AT_FDCWD, &path)?;
    if fs.stat(at, &path, true)?.mode & S_IFMT == S_IFDIR {
        return Err(Errno::EISDIR);
    }
    fs.truncate(at, &path, len).map(|_| 0)
}

pub fn chdir(path: u64) -> SysResult {
    let p = current()?;
    let path = nonempty_path_in(path)?;
    if let Some(parts) = proc_route(&p, AT_FDCWD, &path)? {
        let dir = procfs::open(&p, procfs::resolve(&p, &parts, true)?, O_PATH | O_DIRECTORY)?;
        *p.cwd.lock() = Some(dir);
        return Ok(0);
    }
    let fs = root_fs()?;
    let at = start_dir(&p, fs, AT_FDCWD, &path)?;
    let dir = fs.open(at, &path, O_PATH | O_DIRECTORY, 0)?;
    *p.cwd.lock() = Some(dir);
    Ok(0)
}

pub fn fchdir(fd: i32) -> SysResult {
    let p = current()?;
    let fs = root_fs()?;
    let file = p.files.lock().get(fd)?;
    match procfs::node_of(&file) {
        Some(node) if node.stat().mode & S_IFMT == S_IFDIR => {}
        Some(_) => return Err(Errno::ENOTDIR),
        None => {
            fs.dir_of(&file)?;
        }
    }
    *p.cwd.lock() = Some(file);
    Ok(0)
}

pub fn getcwd(buf: u64, size: usize) -> SysResult {
    let p = current()?;
    let fs = root_fs()?;
    let cwd_file = p.cwd.lock().clone();
    let path = match cwd_file.as_deref().and_then(procfs::node_of) {
        Some(node) => node.path(),
        None => {
            let cwd = match cwd_file {
                Some(dir) => fs.dir_of(&dir)?,
                None => fs.root(),
            };
            path_of(fs, cwd)?
        }
    };
    if path.len() + 1 > size {
        return Err(Errno::ERANGE);
    }
    uaccess::copy_to_user(buf, &path)?;
    uaccess::write(buf + path.len() as u64, 0u8)?;
    Ok(path.len() as i64 + 1)
}

/// The absolute path of directory `dir`: climb `..`, finding each directory's name among its
/// parent's entries. `ENOENT` when a directory on the way was removed.
fn path_of(fs: &Tmpfs, dir: Ino) -> Result<Vec<u8>, Errno> {
    let mut names: Vec<Vec<u8>> = Vec::new();
    let mut len = 0usize;
    let mut cur = dir;
    while cur != fs.root() {
        let parent = fs.open(cur, b"..", O_RDONLY | O_DIRECTORY, 0)?;
        let pino = Ino(parent.stat()?.ino);
        let name = name_in(&parent, cur.0)?;
        len += name.len() + 1;
        if len >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        names.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        names.push(name);
        cur = pino;
    }
    let mut out = Vec::new();
    out.try_reserve_exact(len.max(1))
        .map_err(|_| Errno::ENOMEM)?;
    for name in names.iter().rev() {
        out.push(b'/');
        out.extend_from_slice(name);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    Ok(out)
}

/// The name under which directory `dir` (an open directory) lists inode `ino`.
fn name_in(dir: &OpenFile, ino: u64) -> Result<Vec<u8>, Errno> {
    let mut buf = [0u8; 1024];
    loop {
        let n = dir.getdents64(&mut buf)?;
        if n == 0 {
            return Err(Errno::ENOENT);
        }
        let mut at = 0;
        while at + 19 <= n {
            let d_ino = u64::from_ne_bytes(buf[at..at + 8].try_into().unwrap_or_default());
            let reclen = usize::from(u16::from_ne_bytes([buf[at + 16], buf[at + 17]]));
            if reclen == 0 || at + reclen > n {
                return Err(Errno::EIO);
            }
            let name = &buf[at + 19..at + reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if d_ino == ino && name != b"." && name != b".." {
                let mut v = Vec::new();
                v.try_reserve_exact(name.len()).map_err(|_| Errno::ENOMEM)?;
                v.extend_from_slice(name);
                return Ok(v);
            }
            at += reclen;
        }
    }
}
