//! What `stat`, `fstat`, `lstat`, `newfstatat` and `statx` report, and their exact Linux x86_64
//! byte layouts (`struct stat`, 144 bytes; `struct statx`, 256 bytes).
//!
//! Owns the [`Stat`] record and its serialisation; it must never look up files or copy to user
//! memory (the kernel copies the bytes these functions produce).

use crate::flags::S_IFMT;
use crate::time::Timespec;

/// Size of Linux x86_64's `struct stat`.
pub const STAT_SIZE: usize = 144;
/// Size of Linux's `struct statx`.
pub const STATX_SIZE: usize = 256;

pub const STATX_TYPE: u32 = 0x1;
pub const STATX_MODE: u32 = 0x2;
pub const STATX_NLINK: u32 = 0x4;
pub const STATX_UID: u32 = 0x8;
pub const STATX_GID: u32 = 0x10;
pub const STATX_ATIME: u32 = 0x20;
pub const STATX_MTIME: u32 = 0x40;
pub const STATX_CTIME: u32 = 0x80;
pub const STATX_INO: u32 = 0x100;
pub const STATX_SIZE_FIELD: u32 = 0x200;
pub const STATX_BLOCKS: u32 = 0x400;
/// Every field of the classic `struct stat`.
pub const STATX_BASIC_STATS: u32 = 0x7ff;
pub const STATX_BTIME: u32 = 0x800;

/// A device number as a (major, minor) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DevId {
    pub major: u32,
    pub minor: u32,
}

impl DevId {
    /// Linux's `new_encode_dev`, the encoding `struct stat` carries.
    pub fn encode(self) -> u64 {
        let (major, minor) = (u64::from(self.major), u64::from(self.minor));
        (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32)
    }
}

/// The attributes of an inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stat {
    pub dev: DevId,
    pub ino: u64,
    pub nlink: u64,
    /// File type bits (`S_IF*`) | permission bits.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub rdev: DevId,
    pub size: u64,
    pub blksize: u32,
    /// Number of 512-byte blocks allocated.
    pub blocks: u64,
    pub atime: Timespec,
    pub mtime: Timespec,
    pub ctime: Timespec,
    /// Creation time (`statx`'s `stx_btime`).
    pub btime: Timespec,
}

impl Stat {
    pub fn file_type(&self) -> u32 {
        self.mode & S_IFMT
    }

    /// `struct stat` exactly as Linux x86_64 lays it out (little endian, 144 bytes).
    pub fn to_linux_stat(&self) -> [u8; STAT_SIZE] {
        let mut b = [0u8; STAT_SIZE];
        put(&mut b, 0, &self.dev.encode().to_le_bytes());
        put(&mut b, 8, &self.ino.to_le_bytes());
        put(&mut b, 16, &self.nlink.to_le_bytes());
        put(&mut b, 24, &self.mode.to_le_bytes());
        put(&mut b, 28, &self.uid.to_le_bytes());
        put(&mut b, 32, &self.gid.to_le_bytes());
        // 36..40: __pad0
        put(&mut b, 40, &self.rdev.encode().to_le_bytes());
        put(&mut b, 48, &clamp_i64(self.size).to_le_bytes());
        put(&mut b, 56, &i64::from(self.blksize).to_le_bytes());
        put(&mut b, 64, &clamp_i64(self.blocks).to_le_bytes());
        for (at, t) in [(72, self.atime), (88, self.mtime), (104, self.ctime)] {
            put(&mut b, at, &t.sec.to_le_bytes());
            put(&mut b, at + 8, &u64::from(t.nsec).to_le_bytes());
        }
        // 120..144: __unused[3]
        b
    }

    /// `struct statx` as Linux lays it out (256 bytes). `stx_mask` reports the basic fields and
    /// the birth time, whatever was asked, as Linux may.
    pub fn to_linux_statx(&self) -> [u8; STATX_SIZE] {
        let mut b = [0u8; STATX_SIZE];
        put(&mut b, 0, &(STATX_BASIC_STATS | STATX_BTIME).to_le_bytes());
        put(&mut b, 4, &self.blksize.to_le_bytes());
        // 8: stx_attributes = 0
        put(
            &mut b,
            16,
            &u32::try_from(self.nlink).unwrap_or(u32::MAX).to_le_bytes(),
        );
        put(&mut b, 20, &self.uid.to_le_bytes());
        put(&mut b, 24, &self.gid.to_le_bytes());
        put(&mut b, 28, &((self.mode & 0xffff) as u16).to_le_bytes());
        put(&mut b, 32, &self.ino.to_le_bytes());
        put(&mut b, 40, &self.size.to_le_bytes());
        put(&mut b, 48, &self.blocks.to_le_bytes());
        // 56: stx_attributes_mask = 0
        for (at, t) in [
            (64, self.atime),
            (80, self.btime),
            (96, self.ctime),
            (112, self.mtime),
        ] {
            put(&mut b, at, &t.sec.to_le_bytes());
            put(&mut b, at + 8, &t.nsec.to_le_bytes());
        }
        put(&mut b, 128, &self.rdev.major.to_le_bytes());
        put(&mut b, 132, &self.rdev.minor.to_le_bytes());
        put(&mut b, 136, &self.dev.major.to_le_bytes());
        put(&mut b, 140, &self.dev.minor.to_le_bytes());
        b
    }
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Copy `bytes` into `buf` at `at`; callers pass constant offsets inside the fixed-size arrays.
fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(at..at + bytes.len()) {
        dst.copy_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::S_IFREG;

    fn sample() -> Stat {
        Stat {
            dev: DevId {
                major: 0,
                minor: 23,
            },
            ino: 0x1122334455667788,
            nlink: 3,
            mode: S_IFREG | 0o644,
            uid: 1000,
            gid: 100,
            rdev: DevId::default(),
            size: 5000,
            blksize: 4096,
            blocks: 16,
            atime: Timespec::new(1, 2),
            mtime: Timespec::new(3, 4),
            ctime: Timespec::new(5, 6),
            btime: Timespec::new(7, 8),
        }
    }

    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
    }
    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn stat_layout_matches_linux_x86_64() {
        let b = sample().to_linux_stat();
        assert_eq!(b.len(), 144);
        assert_eq!(u64_at(&b, 0), 23);
        assert_eq!(u64_at(&b, 8), 0x1122334455667788);
        assert_eq!(u64_at(&b, 16), 3);
        assert_eq!(u32_at(&b, 24), 0o100644);
        assert_eq!(u32_at(&b, 28), 1000);
        assert_eq!(u32_at(&b, 32), 100);
        assert_eq!(u64_at(&b, 48), 5000);
        assert_eq!(u64_at(&b, 56), 4096);
        assert_eq!(u64_at(&b, 64), 16);
        assert_eq!((u64_at(&b, 72), u64_at(&b, 80)), (1, 2));
        assert_eq!((u64_at(&b, 88), u64_at(&b, 96)), (3, 4));
        assert_eq!((u64_at(&b, 104), u64_at(&b, 112)), (5, 6));
        assert!(b[120..].iter().all(|&x| x == 0));
    }

    #[test]
    fn statx_layout_matches_linux() {
        let b = sample().to_linux_statx();
        assert_eq!(u32_at(&b, 0) & STATX_BASIC_STATS, STATX_BASIC_STATS);
        assert_eq!(u32_at(&b, 4), 4096);
        assert_eq!(u32_at(&b, 16), 3);
        assert_eq!(u16::from_le_bytes([b[28], b[29]]), 0o100644);
        assert_eq!(u64_at(&b, 32), 0x1122334455667788);
        assert_eq!(u64_at(&b, 40), 5000);
        assert_eq!((u64_at(&b, 64), u32_at(&b, 72)), (1, 2));
        assert_eq!((u64_at(&b, 80), u32_at(&b, 88)), (7, 8));
        assert_eq!((u64_at(&b, 96), u32_at(&b, 104)), (5, 6));
        assert_eq!((u64_at(&b, 112), u32_at(&b, 120)), (3, 4));
        assert_eq!(u32_at(&b, 140), 23);
    }

    #[test]
    fn device_encoding_is_new_encode_dev() {
        assert_eq!(DevId { major: 8, minor: 1 }.encode(), 0x801);
        assert_eq!(
            DevId {
                major: 1,
                minor: 0x12345
            }
            .encode(),
            0x45 | (1 << 8) | (0x123 << 20)
        );
    }
}
