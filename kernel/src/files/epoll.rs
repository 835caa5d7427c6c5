//! An epoll instance as an open file: [`EpollFile`] holds the interest list (`vfs::epoll`) and
//! a wait key of its own ([`EpollFile::key`]) that `epoll_ctl` wakes, so a thread waiting in
//! `epoll_wait` sees descriptors added by another thread. Readiness of the watched files and
//! the sleep live in `syscall::events`; an epoll instance polled or watched itself is readable
//! when one of its items would be reported.

use alloc::sync::Arc;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;
use vfs::epoll::Epoll;
use vfs::file::{POLLIN, POLLRDNORM};
use vfs::stat::Stat;
use vfs::{Errno, FileOps, OpenFile};

use crate::wait;

/// Keys of epoll instances: a region of kernel keys of its own.
const EPOLL_KEY_BASE: u64 = wait::KERNEL_KEY_BIT | (1 << 61);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// An epoll instance.
pub struct EpollFile {
    pub interest: Mutex<Epoll>,
    key: u64,
}

impl EpollFile {
    /// A new empty instance watching at most `limit` files.
    pub fn new(limit: usize) -> Arc<EpollFile> {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed) & ((1 << 60) - 1);
        Arc::new(EpollFile {
            interest: Mutex::new(Epoll::new(limit)),
            key: EPOLL_KEY_BASE | id,
        })
    }

    /// Woken by `epoll_ctl`.
    pub fn key(&self) -> u64 {
        self.key
    }
}

/// The epoll instance behind an open file, if it is one.
pub fn epoll_of(file: &OpenFile) -> Option<&EpollFile> {
    file.ops().as_any().downcast_ref::<EpollFile>()
}

impl FileOps for EpollFile {
    /// An anonymous inode, as Linux shows it.
    fn stat(&self) -> Result<Stat, Errno> {
        Ok(Stat {
            mode: 0o600,
            nlink: 1,
            blksize: 4096,
            ..Stat::default()
        })
    }

    fn poll(&self) -> u16 {
        let mut keys = alloc::vec::Vec::new();
        if crate::syscall::events::epoll_ready(self, 1, &mut keys) {
            POLLIN | POLLRDNORM
        } else {
            0
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
