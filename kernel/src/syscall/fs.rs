//! File system calls: the dispatch of every descriptor and path call ([`call`]) and what they
//! share: the caller's process, path copy-in, the start directory of `*at` calls, the root
//! file system. The calls themselves live by concern: `fs_io` (descriptors: read, write,
//! seek, dup, fcntl, ioctl, pipes, eventfd, close), `fs_path` (names: open, stat, mkdir,
//! unlink, rename, cwd), `fs_poll` (poll and ppoll over every kind of descriptor).
//!
//! Owns the Linux x86_64 numbers of these calls. User memory only through `uaccess`; a path is
//! copied into a kernel buffer a page at a time up to its NUL, at most `PATH_MAX` bytes.

use alloc::sync::Arc;
use alloc::vec::Vec;

use vfs::flags::AT_FDCWD;
use vfs::path::PATH_MAX;
use vfs::tmpfs::Ino;
use vfs::{Errno, Tmpfs};

use super::{fs_io, fs_path, fs_poll, uaccess, SysResult};
use crate::process::Process;
use crate::sched;

pub const SYS_OPEN: u64 = 2;
pub const SYS_STAT: u64 = 4;
pub const SYS_FSTAT: u64 = 5;
pub const SYS_LSTAT: u64 = 6;
pub const SYS_LSEEK: u64 = 8;
pub const SYS_IOCTL: u64 = 16;
pub const SYS_PREAD64: u64 = 17;
pub const SYS_PWRITE64: u64 = 18;
pub const SYS_READV: u64 = 19;
pub const SYS_WRITEV: u64 = 20;
pub const SYS_ACCESS: u64 = 21;
pub const SYS_PIPE: u64 = 22;
pub const SYS_DUP: u64 = 32;
pub const SYS_DUP2: u64 = 33;
pub const SYS_FSYNC: u64 = 74;
pub const SYS_FDATASYNC: u64 = 75;
pub const SYS_TRUNCATE: u64 = 76;
pub const SYS_FTRUNCATE: u64 = 77;
pub const SYS_GETCWD: u64 = 79;
pub const SYS_CHDIR: u64 = 80;
pub const SYS_FCHDIR: u64 = 81;
pub const SYS_RENAME: u64 = 82;
pub const SYS_MKDIR: u64 = 83;
pub const SYS_RMDIR: u64 = 84;
pub const SYS_CREAT: u64 = 85;
pub const SYS_UNLINK: u64 = 87;
pub const SYS_READLINK: u64 = 89;
pub const SYS_GETDENTS64: u64 = 217;
pub const SYS_OPENAT: u64 = 257;
pub const SYS_MKDIRAT: u64 = 258;
pub const SYS_NEWFSTATAT: u64 = 262;
pub const SYS_UNLINKAT: u64 = 263;
pub const SYS_RENAMEAT: u64 = 264;
pub const SYS_READLINKAT: u64 = 267;
pub const SYS_FACCESSAT: u64 = 269;
pub const SYS_PPOLL: u64 = 271;
pub const SYS_EVENTFD: u64 = 284;
pub const SYS_EVENTFD2: u64 = 290;
pub const SYS_DUP3: u64 = 292;
pub const SYS_PIPE2: u64 = 293;
pub const SYS_RENAMEAT2: u64 = 316;
pub const SYS_STATX: u64 = 332;
pub const SYS_CLOSE_RANGE: u64 = 436;
pub const SYS_FACCESSAT2: u64 = 439;

/// The file system call `nr`, or `None` when `nr` is not one (the caller's table goes on).
pub fn call(nr: u64, a: [u64; 6]) -> Option<SysResult> {
    let fd = a[0] as i32;
    let dirfd = a[0] as i32;
    Some(match nr {
        super::SYS_READ => fs_io::read(fd, a[1], a[2] as usize),
        super::SYS_WRITE => fs_io::write(fd, a[1], a[2] as usize),
        super::SYS_CLOSE => fs_io::close(fd),
        super::SYS_POLL => fs_poll::poll(a[0], a[1], a[2] as i32),
        super::SYS_FCNTL => fs_io::fcntl(fd, a[1] as u32, a[2]),
        SYS_PPOLL => fs_poll::ppoll(a[0], a[1], a[2], a[3], a[4] as usize),
        SYS_LSEEK => fs_io::lseek(fd, a[1] as i64, a[2] as u32),
        SYS_IOCTL => fs_io::ioctl(fd, a[1] as u32, a[2]),
        SYS_PREAD64 => fs_io::pread(fd, a[1], a[2] as usize, a[3] as i64),
        SYS_PWRITE64 => fs_io::pwrite(fd, a[1], a[2] as usize, a[3] as i64),
        SYS_READV => fs_io::readv(fd, a[1], a[2] as i32),
        SYS_WRITEV => fs_io::writev(fd, a[1], a[2] as i32),
        SYS_PIPE => fs_io::pipe2(a[0], 0),
        SYS_PIPE2 => fs_io::pipe2(a[0], a[1] as u32),
        SYS_DUP => fs_io::dup(fd),
        SYS_DUP2 => fs_io::dup2(fd, a[1] as i32),
        SYS_DUP3 => fs_io::dup3(fd, a[1] as i32, a[2] as u32),
        SYS_FSYNC | SYS_FDATASYNC => fs_io::fsync(fd),
        SYS_FTRUNCATE => fs_io::ftruncate(fd, a[1] as i64),
        SYS_FSTAT => fs_io::fstat(fd, a[1]),
        SYS_GETDENTS64 => fs_io::getdents64(fd, a[1], a[2] as usize),
        SYS_EVENTFD => fs_io::eventfd2(a[0] as u32, 0),
        SYS_EVENTFD2 => fs_io::eventfd2(a[0] as u32, a[1] as u32),
        SYS_CLOSE_RANGE => fs_io::close_range(a[0] as u32, a[1] as u32, a[2] as u32),
        SYS_OPEN => fs_path::openat(AT_FDCWD, a[0], a[1] as u32, a[2] as u32),
        SYS_CREAT => fs_path::creat(a[0], a[1] as u32),
        SYS_OPENAT => fs_path::openat(dirfd, a[1], a[2] as u32, a[3] as u32),
        SYS_STAT => fs_path::fstatat(AT_FDCWD, a[0], a[1], 0),
        SYS_LSTAT => fs_path::fstatat(AT_FDCWD, a[0], a[1], vfs::flags::AT_SYMLINK_NOFOLLOW),
        SYS_NEWFSTATAT => fs_path::fstatat(dirfd, a[1], a[2], a[3] as u32),
        SYS_STATX => fs_path::statx(dirfd, a[1], a[2] as u32, a[3] as u32, a[4]),
        SYS_ACCESS => fs_path::faccessat(AT_FDCWD, a[0], a[1] as u32, 0),
        SYS_FACCESSAT => fs_path::faccessat(dirfd, a[1], a[2] as u32, 0),
        SYS_FACCESSAT2 => fs_path::faccessat(dirfd, a[1], a[2] as u32, a[3] as u32),
        SYS_READLINK => fs_path::readlinkat(AT_FDCWD, a[0], a[1], a[2] as usize),
        SYS_READLINKAT => fs_path::readlinkat(dirfd, a[1], a[2], a[3] as usize),
        SYS_GETCWD => fs_path::getcwd(a[0], a[1] as usize),
        SYS_CHDIR => fs_path::chdir(a[0]),
        SYS_FCHDIR => fs_path::fchdir(fd),
        SYS_MKDIR => fs_path::mkdirat(AT_FDCWD, a[0], a[1] as u32),
        SYS_MKDIRAT => fs_path::mkdirat(dirfd, a[1], a[2] as u32),
        SYS_UNLINK => fs_path::unlinkat(AT_FDCWD, a[0], 0),
        SYS_RMDIR => fs_path::unlinkat(AT_FDCWD, a[0], vfs::flags::AT_REMOVEDIR),
        SYS_UNLINKAT => fs_path::unlinkat(dirfd, a[1], a[2] as u32),
        SYS_RENAME => fs_path::renameat2(AT_FDCWD, a[0], AT_FDCWD, a[1], 0),
        SYS_RENAMEAT => fs_path::renameat2(dirfd, a[1], a[2] as i32, a[3], 0),
        SYS_RENAMEAT2 => fs_path::renameat2(dirfd, a[1], a[2] as i32, a[3], a[4] as u32),
        SYS_TRUNCATE => fs_path::truncate(a[0], a[1] as i64),
        _ => return None,
    })
}

/// The calling program.
pub fn current() -> Result<Arc<Process>, Errno> {
    sched::current_process().ok_or(Errno::EPERM)
}

/// The root file system (`ENOENT` when the kernel could not make one).
pub fn root_fs() -> Result<&'static Tmpfs, Errno> {
    crate::fs::root().ok_or(Errno::ENOENT)
}

/// Copy a NUL-terminated path in from user memory, a page at a time (never reading past the
/// page that holds its NUL): `ENAMETOOLONG` past `PATH_MAX` bytes, `EFAULT` for a bad pointer.
/// The empty path is returned as is (callers answer `ENOENT` unless `AT_EMPTY_PATH`).
pub fn path_in(addr: u64) -> Result<Vec<u8>, Errno> {
    path_in_limited(addr, PATH_MAX)
}

/// A NUL-terminated string from user memory of fewer than `max` bytes (`ENAMETOOLONG`
/// beyond; `execve` uses it for arguments with its own limit, answering `E2BIG`).
pub fn path_in_limited(addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
    const PAGE: u64 = 4096;
    let mut out: Vec<u8> = Vec::new();
    out.try_reserve(256).map_err(|_| Errno::ENOMEM)?;
    let mut at = addr;
    let mut chunk = [0u8; 256];
    loop {
        let to_page_end = (PAGE - at % PAGE) as usize;
        let n = to_page_end.min(chunk.len());
        uaccess::copy_from_user(&mut chunk[..n], at)?;
        if let Some(end) = chunk[..n].iter().position(|&b| b == 0) {
            if out.len() + end >= max {
                return Err(Errno::ENAMETOOLONG);
            }
            out.try_reserve(end).map_err(|_| Errno::ENOMEM)?;
            out.extend_from_slice(&chunk[..end]);
            return Ok(out);
        }
        if out.len() + n >= max {
            return Err(Errno::ENAMETOOLONG);
        }
        out.try_reserve(n).map_err(|_| Errno::ENOMEM)?;
        out.extend_from_slice(&chunk[..n]);
        at = at.checked_add(n as u64).ok_or(Errno::EFAULT)?;
    }
}

/// A path that must name something: the empty path is `ENOENT`, as Linux answers.
pub fn nonempty_path_in(addr: u64) -> Result<Vec<u8>, Errno> {
    let p = path_in(addr)?;
    if p.is_empty() {
        return Err(Errno::ENOENT);
    }
    Ok(p)
}

/// The directory a relative path starts from: the cwd for `AT_FDCWD`, else the directory
/// `dirfd` names (`EBADF` for a closed one, `ENOTDIR` for another kind of file). Absolute
/// paths ignore it, as the file system does.
pub fn start_dir(p: &Process, fs: &Tmpfs, dirfd: i32, path: &[u8]) -> Result<Ino, Errno> {
    if path.first() == Some(&b'/') {
        return Ok(fs.root());
    }
    if dirfd == AT_FDCWD {
        let cwd = p.cwd.lock().clone();
        return match cwd {
            Some(dir) => fs.dir_of(&dir),
            None => Ok(fs.root()),
        };
    }
    let file = p.files.lock().get(dirfd)?;
    fs.dir_of(&file)
}
