//! Where a stream receive puts its bytes ([`RecvBuf`]): a slice of kernel memory, or — in the
//! kernel — a program's buffer, written through the kernel's checked user-copy routine. TCP
//! copies from its receive queue straight into it, so a `read` of a socket costs one copy,
//! not two (into a kernel buffer, then out to the program).

use crate::errno::Errno;

/// A receive buffer of [`len`](RecvBuf::len) bytes, written front to back in pieces.
pub trait RecvBuf {
    /// How many bytes it takes.
    fn len(&self) -> usize;

    /// Whether it takes none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copy `bytes` to offset `at` (`at + bytes.len() <= len()`). An error (the program's
    /// memory went away: `EFAULT`) leaves the earlier pieces in place; the receive then
    /// consumes only what was copied before it.
    fn put(&mut self, at: usize, bytes: &[u8]) -> Result<(), Errno>;
}

impl RecvBuf for [u8] {
    fn len(&self) -> usize {
        <[u8]>::len(self)
    }

    fn put(&mut self, at: usize, bytes: &[u8]) -> Result<(), Errno> {
        let end = at.checked_add(bytes.len()).ok_or(Errno::EFAULT)?;
        self.get_mut(at..end)
            .ok_or(Errno::EFAULT)?
            .copy_from_slice(bytes);
        Ok(())
    }
}
