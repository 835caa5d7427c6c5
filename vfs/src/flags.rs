//! Linux x86_64 flag and mode numbers the file calls take: `open` flags, `*at` flags, `lseek`
//! whence, `fcntl` commands, file-type bits and directory-entry types.
//!
//! Owns the numbers and the small typed decoders the syscall layer uses at its edge; it must
//! never hold state or decide policy.

use crate::errno::Errno;

/// Access mode: read only.
pub const O_RDONLY: u32 = 0;
/// Access mode: write only.
pub const O_WRONLY: u32 = 0o1;
/// Access mode: read and write.
pub const O_RDWR: u32 = 0o2;
/// Mask of the access mode bits.
pub const O_ACCMODE: u32 = 0o3;
pub const O_CREAT: u32 = 0o100;
pub const O_EXCL: u32 = 0o200;
pub const O_NOCTTY: u32 = 0o400;
pub const O_TRUNC: u32 = 0o1000;
pub const O_APPEND: u32 = 0o2000;
pub const O_NONBLOCK: u32 = 0o4000;
pub const O_DSYNC: u32 = 0o10000;
pub const O_ASYNC: u32 = 0o20000;
pub const O_DIRECT: u32 = 0o40000;
/// Always set on x86_64 (Linux forces it for 64-bit callers), so `F_GETFL` shows it.
pub const O_LARGEFILE: u32 = 0o100000;
pub const O_DIRECTORY: u32 = 0o200000;
pub const O_NOFOLLOW: u32 = 0o400000;
pub const O_NOATIME: u32 = 0o1000000;
pub const O_CLOEXEC: u32 = 0o2000000;
pub const O_SYNC: u32 = 0o4010000;
pub const O_PATH: u32 = 0o10000000;
/// `O_TMPFILE` includes `O_DIRECTORY`'s bit, as in Linux.
pub const O_TMPFILE: u32 = 0o20200000;

/// Status flags `F_SETFL` may change (Linux's `SETFL_MASK`); the rest are ignored.
pub const SETFL_MASK: u32 = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME;
/// Flags that belong to the open file description (shown by `F_GETFL`); creation flags such as
/// `O_CREAT`, `O_EXCL`, `O_TRUNC`, `O_NOCTTY` and `O_CLOEXEC` are not kept.
pub const STATUS_FLAGS_KEPT: u32 = O_ACCMODE
    | O_APPEND
    | O_NONBLOCK
    | O_DSYNC
    | O_ASYNC
    | O_DIRECT
    | O_LARGEFILE
    | O_DIRECTORY
    | O_NOFOLLOW
    | O_NOATIME
    | O_SYNC
    | O_PATH;

/// `dirfd` meaning "the current working directory".
pub const AT_FDCWD: i32 = -100;
pub const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
pub const AT_REMOVEDIR: u32 = 0x200;
pub const AT_SYMLINK_FOLLOW: u32 = 0x400;
pub const AT_NO_AUTOMOUNT: u32 = 0x800;
pub const AT_EMPTY_PATH: u32 = 0x1000;

/// `FD_CLOEXEC`: the only descriptor flag.
pub const FD_CLOEXEC: u32 = 1;
pub const F_DUPFD: u32 = 0;
pub const F_GETFD: u32 = 1;
pub const F_SETFD: u32 = 2;
pub const F_GETFL: u32 = 3;
pub const F_SETFL: u32 = 4;
pub const F_DUPFD_CLOEXEC: u32 = 1030;

/// File-type bits of a mode.
pub const S_IFMT: u32 = 0o170000;
pub const S_IFSOCK: u32 = 0o140000;
pub const S_IFLNK: u32 = 0o120000;
pub const S_IFREG: u32 = 0o100000;
pub const S_IFBLK: u32 = 0o060000;
pub const S_IFDIR: u32 = 0o040000;
pub const S_IFCHR: u32 = 0o020000;
pub const S_IFIFO: u32 = 0o010000;
/// Permission bits with set-user-ID, set-group-ID and sticky.
pub const S_IALLUGO: u32 = 0o7777;

/// `d_type` values of `getdents64`.
pub const DT_UNKNOWN: u8 = 0;
pub const DT_FIFO: u8 = 1;
pub const DT_CHR: u8 = 2;
pub const DT_DIR: u8 = 4;
pub const DT_BLK: u8 = 6;
pub const DT_REG: u8 = 8;
pub const DT_LNK: u8 = 10;
pub const DT_SOCK: u8 = 12;

/// The `d_type` for a mode's file type.
pub fn dtype_of_mode(mode: u32) -> u8 {
    match mode & S_IFMT {
        S_IFSOCK => DT_SOCK,
        S_IFLNK => DT_LNK,
        S_IFREG => DT_REG,
        S_IFBLK => DT_BLK,
        S_IFDIR => DT_DIR,
        S_IFCHR => DT_CHR,
        S_IFIFO => DT_FIFO,
        _ => DT_UNKNOWN,
    }
}

/// `lseek`'s `whence`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whence {
    Set,
    Cur,
    End,
    /// `SEEK_DATA`: the next offset holding data.
    Data,
    /// `SEEK_HOLE`: the next hole (the end of a file without holes).
    Hole,
}

impl Whence {
    /// Decode `SEEK_SET` (0) .. `SEEK_HOLE` (4); anything else is `EINVAL`.
    pub fn from_raw(whence: u32) -> Result<Whence, Errno> {
        match whence {
            0 => Ok(Whence::Set),
            1 => Ok(Whence::Cur),
            2 => Ok(Whence::End),
            3 => Ok(Whence::Data),
            4 => Ok(Whence::Hole),
            _ => Err(Errno::EINVAL),
        }
    }
}

/// The access an open file was opened for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub read: bool,
    pub write: bool,
}

impl Access {
    /// The access mode of `open` flags. `O_ACCMODE` (3) is Linux's "no access" mode: neither
    /// reading nor writing. `O_PATH` opens for neither too.
    pub fn from_flags(flags: u32) -> Access {
        if flags & O_PATH != 0 {
            return Access {
                read: false,
                write: false,
            };
        }
        match flags & O_ACCMODE {
            O_RDONLY => Access {
                read: true,
                write: false,
            },
            O_WRONLY => Access {
                read: false,
                write: true,
            },
            O_RDWR => Access {
                read: true,
                write: true,
            },
            _ => Access {
                read: false,
                write: false,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_values() {
        assert_eq!(O_CLOEXEC, 0x80000);
        assert_eq!(O_DIRECTORY, 0x10000);
        assert_eq!(O_NOFOLLOW, 0x20000);
        assert_eq!(O_PATH, 0x200000);
        assert_eq!(O_NONBLOCK, 0x800);
        assert_eq!(dtype_of_mode(S_IFDIR | 0o755), DT_DIR);
        assert_eq!(Whence::from_raw(5), Err(Errno::EINVAL));
        assert_eq!(Whence::from_raw(2), Ok(Whence::End));
        assert!(!Access::from_flags(O_PATH | O_RDWR).read);
        assert!(Access::from_flags(O_RDWR).write);
    }
}
