//! `eventfd2`: a 64-bit counter as a file, the wake-up primitive of event loops (tokio, glib).
//!
//! Owns the counter rules of eventfd(2): a read of 8 bytes returns the counter and zeroes it
//! (or returns 1 and decrements, with `EFD_SEMAPHORE`), `EAGAIN` at zero; a write of 8 bytes
//! adds, `EAGAIN` when the sum would pass `u64::MAX - 1`, `EINVAL` for `u64::MAX`; buffers under
//! 8 bytes are `EINVAL`. It must never block (the kernel sleeps on `poll`, as for pipes).

use alloc::sync::Arc;
use core::any::Any;

use spin::Mutex;

use crate::errno::Errno;
use crate::file::{FileOps, OpenFile, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM};
use crate::flags::{O_CLOEXEC, O_NONBLOCK, O_RDWR};
use crate::stat::Stat;

/// `EFD_SEMAPHORE`: reads take one at a time.
pub const EFD_SEMAPHORE: u32 = 1;
/// `EFD_NONBLOCK` (= `O_NONBLOCK`).
pub const EFD_NONBLOCK: u32 = O_NONBLOCK;
/// `EFD_CLOEXEC` (= `O_CLOEXEC`), for the caller's descriptor.
pub const EFD_CLOEXEC: u32 = O_CLOEXEC;
/// Largest value the counter holds.
pub const EVENTFD_MAX: u64 = u64::MAX - 1;

/// An eventfd's counter.
pub struct EventFd {
    count: Mutex<u64>,
    semaphore: bool,
}

/// `eventfd2(initval, flags)`: the open file (`O_RDWR`, `O_NONBLOCK` with `EFD_NONBLOCK`).
pub fn eventfd2(initval: u32, flags: u32) -> Result<Arc<OpenFile>, Errno> {
    if flags & !(EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC) != 0 {
        return Err(Errno::EINVAL);
    }
    let ops = EventFd {
        count: Mutex::new(u64::from(initval)),
        semaphore: flags & EFD_SEMAPHORE != 0,
    };
    Ok(OpenFile::with_exact_flags(
        Arc::new(ops),
        O_RDWR | (flags & O_NONBLOCK),
    ))
}

impl FileOps for EventFd {
    fn read(&self, _pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        let out = buf.get_mut(..8).ok_or(Errno::EINVAL)?;
        let mut c = self.count.lock();
        if *c == 0 {
            return Err(Errno::EAGAIN);
        }
        let value = if self.semaphore { 1 } else { *c };
        *c -= value;
        out.copy_from_slice(&value.to_ne_bytes());
        Ok(8)
    }

    fn write(&self, _pos: &mut u64, buf: &[u8], _append: bool) -> Result<usize, Errno> {
        let bytes: [u8; 8] = buf
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or(Errno::EINVAL)?;
        let add = u64::from_ne_bytes(bytes);
        if add == u64::MAX {
            return Err(Errno::EINVAL);
        }
        let mut c = self.count.lock();
        match c.checked_add(add) {
            Some(sum) if sum <= EVENTFD_MAX => {
                *c = sum;
                Ok(8)
            }
            _ => Err(Errno::EAGAIN),
        }
    }

    /// An anonymous inode: mode `0600` with no file-type bits, as Linux shows it.
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(Stat {
            mode: 0o600,
            nlink: 1,
            blksize: 4096,
            ..Stat::default()
        })
    }

    fn poll(&self) -> u16 {
        let c = *self.count.lock();
        let mut ev = 0;
        if c > 0 {
            ev |= POLLIN | POLLRDNORM;
        }
        if c < EVENTFD_MAX {
            ev |= POLLOUT | POLLWRNORM;
        }
        ev
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(f: &OpenFile) -> Result<u64, Errno> {
        let mut b = [0u8; 8];
        f.read(&mut b).map(|_| u64::from_ne_bytes(b))
    }

    #[test]
    fn counter_reads_and_resets() {
        let f = eventfd2(3, 0).unwrap();
        assert_ne!(f.poll() & POLLIN, 0);
        f.write(&4u64.to_ne_bytes()).unwrap();
        assert_eq!(read(&f), Ok(7));
        assert_eq!(read(&f), Err(Errno::EAGAIN));
        assert_eq!(f.poll() & POLLIN, 0);
        assert_eq!(f.read(&mut [0u8; 7]).unwrap_err(), Errno::EINVAL);
        assert_eq!(f.write(&[1u8; 4]).unwrap_err(), Errno::EINVAL);
    }

    #[test]
    fn semaphore_mode_takes_one() {
        let f = eventfd2(2, EFD_SEMAPHORE | EFD_NONBLOCK).unwrap();
        assert!(f.nonblocking());
        assert_eq!(read(&f), Ok(1));
        assert_eq!(read(&f), Ok(1));
        assert_eq!(read(&f), Err(Errno::EAGAIN));
    }

    #[test]
    fn overflow_is_eagain_and_max_is_einval() {
        let f = eventfd2(0, 0).unwrap();
        assert_eq!(f.write(&u64::MAX.to_ne_bytes()).unwrap_err(), Errno::EINVAL);
        f.write(&EVENTFD_MAX.to_ne_bytes()).unwrap();
        assert_eq!(f.poll() & POLLOUT, 0);
        assert_eq!(f.write(&1u64.to_ne_bytes()).unwrap_err(), Errno::EAGAIN);
        assert_eq!(read(&f), Ok(EVENTFD_MAX));
        assert_ne!(f.poll() & POLLOUT, 0);
        assert_eq!(eventfd2(0, 0o4).unwrap_err(), Errno::EINVAL);
        assert_eq!(f.stat().unwrap().mode, 0o600);
    }
}
