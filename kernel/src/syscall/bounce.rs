//! Kernel bounce buffers for socket I/O: user bytes pass through one on their way into or out
//! of the network stack (a user buffer is never held across a sleep, when another thread may
//! unmap it).
//!
//! Owns one spare full-sized buffer, kept between calls: a bulk transfer then neither
//! allocates nor zeroes 128 KiB per call. Kept only in a guest of [`SPARE_FROM_FRAMES`] frames
//! or more, and given back when programs run short of memory (`mem::set_shrinker`). A buffer's bytes beyond what a call wrote are left
//! from an earlier call; callers copy out only what they wrote, so they never leave the kernel.

use alloc::vec::Vec;
use core::ops::{Deref, DerefMut};

use net::Errno;
use spin::Mutex;

/// Most bytes one receive moves, and the size of each piece a send copies in. Larger than any
/// datagram (65507 bytes), so a datagram is never split.
pub const BOUNCE: usize = 128 * 1024;
/// Requests at least this large get a full-sized buffer (the spare, or a new one that becomes
/// the spare); smaller ones get an exact one when the spare is taken.
const FULL_FROM: usize = 4096;

/// Guests smaller than this (32 MiB) keep no spare: their programs need the pages more.
const SPARE_FROM_FRAMES: usize = 8192;

static SPARE: Mutex<Option<Vec<u8>>> = Mutex::new(None);

/// Whether this guest keeps a spare (and so makes full-sized buffers for large requests).
fn keeps_spare() -> bool {
    crate::mem::total_frame_count() >= SPARE_FROM_FRAMES
}

/// Drop the spare buffer (memory pressure).
fn drop_spare() {
    let spare = SPARE.lock().take();
    drop(spare);
}

/// A kernel buffer of `len` bytes (at most [`BOUNCE`]); derefs to exactly `len` bytes.
pub struct Bounce {
    buf: Vec<u8>,
    len: usize,
}

impl Bounce {
    /// A buffer of `len.min(BOUNCE)` bytes (`ENOMEM` if the heap cannot give one).
    pub fn new(len: usize) -> Result<Self, Errno> {
        let len = len.min(BOUNCE);
        if let Some(buf) = SPARE.lock().take() {
            return Ok(Bounce { buf, len });
        }
        let size = if len >= FULL_FROM && keeps_spare() {
            BOUNCE
        } else {
            len
        };
        let mut buf = Vec::new();
        buf.try_reserve_exact(size).map_err(|_| Errno::ENOMEM)?;
        buf.resize(size, 0);
        Ok(Bounce { buf, len })
    }
}

impl Deref for Bounce {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl DerefMut for Bounce {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }
}

impl Drop for Bounce {
    fn drop(&mut self) {
        if self.buf.len() == BOUNCE && keeps_spare() {
            crate::mem::set_shrinker(drop_spare);
            let mut spare = SPARE.lock();
            if spare.is_none() {
                *spare = Some(core::mem::take(&mut self.buf));
            }
        }
    }
}
