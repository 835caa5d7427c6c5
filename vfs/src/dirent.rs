//! `getdents64` records: serialising `struct linux_dirent64` into a caller's buffer.
//!
//! Owns the record layout (`d_ino` u64, `d_off` i64, `d_reclen` u16, `d_type` u8, the name
//! NUL-terminated, the record padded to 8 bytes); it must never decide which entries a directory
//! has or where a listing resumes: the directory passes `d_off` cookies in.

use crate::errno::Errno;

/// Bytes before the name in a `linux_dirent64`.
const DIRENT64_HEADER: usize = 19;

/// Size of the record for a name of `name_len` bytes: header, name, NUL, padded to 8.
pub fn dirent64_reclen(name_len: usize) -> usize {
    (DIRENT64_HEADER + name_len + 1 + 7) & !7
}

/// Fills a caller's buffer with records, one at a time, until the next would not fit.
pub struct Dirent64Writer<'a> {
    buf: &'a mut [u8],
    used: usize,
}

impl<'a> Dirent64Writer<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        Dirent64Writer { buf, used: 0 }
    }

    /// Append one record; `Ok(false)` when it does not fit (the caller stops and keeps its
    /// position there). When not even the first record fits, `getdents64` answers `EINVAL`, so
    /// that case is `Err(EINVAL)`.
    pub fn push(
        &mut self,
        ino: u64,
        next_off: i64,
        d_type: u8,
        name: &[u8],
    ) -> Result<bool, Errno> {
        let reclen = dirent64_reclen(name.len());
        let reclen16 = u16::try_from(reclen).map_err(|_| Errno::ENAMETOOLONG)?;
        let end = self.used.checked_add(reclen).ok_or(Errno::EINVAL)?;
        let Some(rec) = self.buf.get_mut(self.used..end) else {
            return if self.used == 0 {
                Err(Errno::EINVAL)
            } else {
                Ok(false)
            };
        };
        rec.fill(0);
        rec[0..8].copy_from_slice(&ino.to_le_bytes());
        rec[8..16].copy_from_slice(&next_off.to_le_bytes());
        rec[16..18].copy_from_slice(&reclen16.to_le_bytes());
        rec[18] = d_type;
        rec[DIRENT64_HEADER..DIRENT64_HEADER + name.len()].copy_from_slice(name);
        self.used = end;
        Ok(true)
    }

    /// Bytes written so far: `getdents64`'s return value.
    pub fn written(&self) -> usize {
        self.used
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::DT_REG;

    #[test]
    fn records_are_8_aligned_and_nul_terminated() {
        assert_eq!(dirent64_reclen(1), 24);
        assert_eq!(dirent64_reclen(4), 24);
        assert_eq!(dirent64_reclen(5), 32);
        let mut buf = [0xffu8; 64];
        let mut w = Dirent64Writer::new(&mut buf);
        assert_eq!(w.push(7, 1, DT_REG, b"hello"), Ok(true));
        assert_eq!(w.push(8, 2, DT_REG, b"abc"), Ok(true));
        assert_eq!(w.push(9, 3, DT_REG, b"toolongfor"), Ok(false));
        assert_eq!(w.written(), 56);
        assert_eq!(u64::from_le_bytes(buf[0..8].try_into().unwrap()), 7);
        assert_eq!(i64::from_le_bytes(buf[8..16].try_into().unwrap()), 1);
        assert_eq!(u16::from_le_bytes([buf[16], buf[17]]), 32);
        assert_eq!(buf[18], DT_REG);
        assert_eq!(&buf[19..25], b"hello\0");
        assert_eq!(&buf[32 + 19..32 + 23], b"abc\0");
    }

    #[test]
    fn first_record_too_big_is_einval() {
        let mut buf = [0u8; 16];
        let mut w = Dirent64Writer::new(&mut buf);
        assert_eq!(w.push(1, 1, DT_REG, b"x"), Err(Errno::EINVAL));
    }
}
