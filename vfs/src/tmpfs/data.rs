//! A regular file's bytes: owned by the file, or borrowed from memory that lives as long as
//! the system (the initramfs's own pages: its files are not copied at boot, so a large
//! archive unpacks in the time its headers take to read). A borrowed file becomes owned (one
//! copy) the first time it is written or its length changes.

use alloc::vec::Vec;

use crate::errno::Errno;

#[derive(Debug)]
pub enum FileData {
    Owned(Vec<u8>),
    Borrowed(&'static [u8]),
}

impl Default for FileData {
    fn default() -> Self {
        FileData::Owned(Vec::new())
    }
}

impl FileData {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            FileData::Owned(v) => v,
            FileData::Borrowed(s) => s,
        }
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// The bytes as the file's own vector, copying borrowed ones first (`ENOSPC` when the
    /// copy cannot be allocated, as a tmpfs write that finds no memory).
    pub fn owned(&mut self) -> Result<&mut Vec<u8>, Errno> {
        if let FileData::Borrowed(s) = *self {
            let mut v = Vec::new();
            v.try_reserve_exact(s.len()).map_err(|_| Errno::ENOSPC)?;
            v.extend_from_slice(s);
            *self = FileData::Owned(v);
        }
        match self {
            FileData::Owned(v) => Ok(v),
            FileData::Borrowed(_) => Err(Errno::EIO),
        }
    }
}
