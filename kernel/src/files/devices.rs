//! The standard Linux character devices, by number, for programs that open them by path:
//! `/dev/null` (1,3), `/dev/zero` (1,5), `/dev/full` (1,7), `/dev/random` (1,8) and
//! `/dev/urandom` (1,9) as in Linux's drivers/char/mem.c and random.c, and `/dev/tty` (5,0)
//! and `/dev/console` (5,1), both the console ([`ConsoleFile`]). [`DeviceTable`] is what the
//! root tmpfs asks when a program opens a device node (`vfs::tmpfs::CharDevices`);
//! [`DEVICE_NODES`] are the nodes `etc` makes under /dev at boot.
//!
//! Semantics follow null(4) and random(4): null reads end of file and swallows writes; zero
//! reads zeros; full reads zeros and refuses writes with `ENOSPC`; random and urandom read
//! bytes from the entropy source `getrandom` uses ([`arch::entropy`]) and accept (and drop)
//! writes. Each is always ready for `poll`, `select` and `epoll`. `lseek` on null, zero and
//! full lands at 0, and leaves random's offset where it was, as Linux's `null_lseek`,
//! `full_lseek` and `noop_llseek`.
//!
//! Owns the bound on one read of random ([`RANDOM_READ_MAX`]); every buffer it fills is the
//! syscall layer's kernel chunk, so nothing here allocates for a program's length. Never
//! blocks, never panics on a length.

use alloc::sync::Arc;
use core::any::Any;

use vfs::file::OpenFile;
use vfs::flags::Whence;
use vfs::stat::{DevId, Stat};
use vfs::tmpfs::{CharDevices, DeviceFile};
use vfs::{Errno, FileOps};

use super::console::ConsoleFile;
use crate::arch;

pub const NULL: DevId = DevId { major: 1, minor: 3 };
pub const ZERO: DevId = DevId { major: 1, minor: 5 };
pub const FULL: DevId = DevId { major: 1, minor: 7 };
pub const RANDOM: DevId = DevId { major: 1, minor: 8 };
pub const URANDOM: DevId = DevId { major: 1, minor: 9 };
pub const TTY: DevId = DevId { major: 5, minor: 0 };
pub const CONSOLE: DevId = DevId { major: 5, minor: 1 };

/// A device node made at boot: its name under /dev, its number and its permission bits
/// (Linux's devtmpfs modes: 0666, the console 0600).
pub struct DeviceNode {
    pub name: &'static str,
    pub rdev: DevId,
    pub mode: u32,
}

/// The nodes under /dev a distribution's early boot would have.
pub const DEVICE_NODES: [DeviceNode; 7] = [
    DeviceNode {
        name: "null",
        rdev: NULL,
        mode: 0o666,
    },
    DeviceNode {
        name: "zero",
        rdev: ZERO,
        mode: 0o666,
    },
    DeviceNode {
        name: "full",
        rdev: FULL,
        mode: 0o666,
    },
    DeviceNode {
        name: "random",
        rdev: RANDOM,
        mode: 0o666,
    },
    DeviceNode {
        name: "urandom",
        rdev: URANDOM,
        mode: 0o666,
    },
    DeviceNode {
        name: "tty",
        rdev: TTY,
        mode: 0o666,
    },
    DeviceNode {
        name: "console",
        rdev: CONSOLE,
        mode: 0o600,
    },
];

/// Most bytes one read of random or urandom returns (as one `getrandom` call): bounds the
/// time a program keeps the kernel drawing entropy. Linux returns more at once; a program
/// loops on a short read (random(4) tells it to).
pub const RANDOM_READ_MAX: usize = 64 * 1024;

/// Maps a device number to a new open file's operations (`ENXIO` for a number no device has).
pub struct DeviceTable;

impl CharDevices for DeviceTable {
    fn open(&self, rdev: DevId) -> Result<Arc<dyn FileOps>, Errno> {
        let ops: Arc<dyn FileOps> = match rdev {
            NULL => Arc::new(MemoryDevice::Null),
            ZERO => Arc::new(MemoryDevice::Zero),
            FULL => Arc::new(MemoryDevice::Full),
            RANDOM | URANDOM => Arc::new(Random),
            TTY | CONSOLE => Arc::new(ConsoleFile),
            _ => return Err(Errno::ENXIO),
        };
        Ok(ops)
    }
}

/// Whether a read or write of `file` should go on until the whole count is moved, as for a
/// regular file: null, zero and full cost nothing per byte (random stops at
/// [`RANDOM_READ_MAX`], the console at its own bound).
pub fn moves_whole_count(file: &OpenFile) -> bool {
    let Some(device) = file.ops().as_any().downcast_ref::<DeviceFile>() else {
        return false;
    };
    matches!(device.rdev(), NULL | ZERO | FULL)
}

/// A device's attributes come from its node (`vfs::tmpfs::DeviceFile` answers `fstat`); this
/// is never asked.
fn no_stat() -> Result<Stat, Errno> {
    Err(Errno::ENODEV)
}

/// The stateless memory devices of major 1: `/dev/null` (end of file, every write accepted
/// whole), `/dev/zero` (zeros to read, every write accepted whole) and `/dev/full` (zeros to
/// read, no space for any write).
pub enum MemoryDevice {
    Null,
    Zero,
    Full,
}

impl MemoryDevice {
    /// A read: how many bytes of `buf` were filled.
    fn fill(&self, buf: &mut [u8]) -> usize {
        match self {
            MemoryDevice::Null => 0,
            MemoryDevice::Zero | MemoryDevice::Full => {
                buf.fill(0);
                buf.len()
            }
        }
    }

    /// A write of `buf`: how much was taken.
    fn take(&self, buf: &[u8]) -> Result<usize, Errno> {
        match self {
            MemoryDevice::Full => Err(Errno::ENOSPC),
            MemoryDevice::Null | MemoryDevice::Zero => Ok(buf.len()),
        }
    }
}

impl FileOps for MemoryDevice {
    fn read(&self, _pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        Ok(self.fill(buf))
    }
    fn write(&self, _pos: &mut u64, buf: &[u8], _append: bool) -> Result<usize, Errno> {
        self.take(buf)
    }
    fn pread(&self, _pos: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        Ok(self.fill(buf))
    }
    fn pwrite(&self, _pos: u64, buf: &[u8]) -> Result<usize, Errno> {
        self.take(buf)
    }
    fn seek(&self, _current: u64, _whence: Whence, _offset: i64) -> Result<u64, Errno> {
        Ok(0)
    }
    fn stat(&self) -> Result<Stat, Errno> {
        no_stat()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// `/dev/random` and `/dev/urandom`: the kernel's entropy source, never blocking (as Linux's
/// since 5.6 once seeded). Writes are accepted and dropped: the source is the CPU's, there
/// is no pool to stir.
pub struct Random;

impl Random {
    fn fill(buf: &mut [u8]) -> usize {
        let n = buf.len().min(RANDOM_READ_MAX);
        arch::entropy::fill(&mut buf[..n]);
        n
    }
}

impl FileOps for Random {
    fn read(&self, _pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        Ok(Self::fill(buf))
    }
    fn write(&self, _pos: &mut u64, buf: &[u8], _append: bool) -> Result<usize, Errno> {
        Ok(buf.len())
    }
    fn pread(&self, _pos: u64, buf: &mut [u8]) -> Result<usize, Errno> {
        Ok(Self::fill(buf))
    }
    fn pwrite(&self, _pos: u64, buf: &[u8]) -> Result<usize, Errno> {
        Ok(buf.len())
    }
    fn seek(&self, current: u64, _whence: Whence, _offset: i64) -> Result<u64, Errno> {
        Ok(current)
    }
    fn stat(&self) -> Result<Stat, Errno> {
        no_stat()
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}
