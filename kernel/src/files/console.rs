//! The console as a file: what descriptors 0, 1 and 2 name. Writes go to the serial console;
//! there is no keyboard, so a read is end of file at once (as from `/dev/null`), and the file
//! is always ready both ways. It is a character device but not a terminal: `TCGETS`,
//! `TIOCGWINSZ` and every other `ioctl` answer `ENOTTY`, so a libc's `isatty` is false and
//! stdout is fully buffered, as when a Linux program's output goes to a file or a pipe.
//!
//! Owns the bound on one write ([`CONSOLE_WRITE_MAX`]); never blocks.

use core::any::Any;

use vfs::flags::S_IFCHR;
use vfs::stat::{DevId, Stat};
use vfs::{Errno, FileOps};

/// Most bytes one `write` to the console takes (the rest is a short write): bounds the time
/// a program keeps the kernel busy with the serial port.
pub const CONSOLE_WRITE_MAX: usize = 4096;

/// `/dev/console`'s device number (5, 1), as Linux numbers it.
const CONSOLE_RDEV: DevId = DevId { major: 5, minor: 1 };
/// The device the console inode lives on (Linux's devtmpfs shows 0:6).
const DEVTMPFS: DevId = DevId { major: 0, minor: 6 };
/// The console's inode number on that device.
const CONSOLE_INO: u64 = 5;

pub struct ConsoleFile;

impl FileOps for ConsoleFile {
    fn read(&self, _pos: &mut u64, _buf: &mut [u8]) -> Result<usize, Errno> {
        Ok(0)
    }

    fn write(&self, _pos: &mut u64, buf: &[u8], _append: bool) -> Result<usize, Errno> {
        let data = &buf[..buf.len().min(CONSOLE_WRITE_MAX)];
        crate::console::write_raw(data);
        Ok(data.len())
    }

    fn stat(&self) -> Result<Stat, Errno> {
        Ok(Stat {
            dev: DEVTMPFS,
            ino: CONSOLE_INO,
            nlink: 1,
            mode: S_IFCHR | 0o600,
            rdev: CONSOLE_RDEV,
            blksize: 1024,
            ..Stat::default()
        })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
