//! cpio "newc" (`070701`) and "crc" (`070702`) archive members, as the Linux initramfs format
//! uses them: a 110-byte ASCII-hex header, the NUL-terminated name padded to 4 bytes, the data
//! padded to 4 bytes, and a `TRAILER!!!` member closing the archive.
//!
//! Owns parsing only: every length is checked against the input before it is used, names are
//! bounded by `PATH_MAX`, and a malformed member is a [`CpioError`] naming its offset, never a
//! panic. It must never touch a file system (see `initramfs`) nor allocate: members borrow the
//! input.

use crate::path::PATH_MAX;

/// Size of a newc header.
pub const HEADER_LEN: usize = 110;
/// Magic of the "newc" format.
pub const MAGIC_NEWC: &[u8; 6] = b"070701";
/// Magic of the "crc" format (newc plus a checksum of the data).
pub const MAGIC_CRC: &[u8; 6] = b"070702";
/// Name of the member that ends an archive.
pub const TRAILER: &[u8] = b"TRAILER!!!";

/// What is wrong with an archive, and where.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpioError {
    /// The input ends inside a header, a name or data.
    Truncated { offset: usize },
    /// The header does not start with `070701` or `070702`.
    BadMagic { offset: usize },
    /// A header field is not 8 hex digits.
    BadField { offset: usize },
    /// `namesize` is 0 or longer than `PATH_MAX`.
    BadNameSize { offset: usize },
    /// The name does not end with its NUL where `namesize` says.
    NameNotTerminated { offset: usize },
    /// A "crc" member whose data does not add up to its checksum.
    Checksum { offset: usize },
}

/// One archive member, borrowing the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpioMember<'a> {
    /// Offset of the header in the input.
    pub offset: usize,
    pub ino: u32,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub mtime: u32,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub rdev_major: u32,
    pub rdev_minor: u32,
    /// The name without its NUL.
    pub name: &'a [u8],
    pub data: &'a [u8],
}

impl CpioMember<'_> {
    pub fn is_trailer(&self) -> bool {
        self.name == TRAILER
    }
}

fn align4(n: usize) -> Option<usize> {
    n.checked_add(3).map(|v| v & !3)
}

fn hex_field(header: &[u8], index: usize, offset: usize) -> Result<u32, CpioError> {
    let start = 6 + 8 * index;
    let digits = header
        .get(start..start + 8)
        .ok_or(CpioError::Truncated { offset })?;
    let mut v: u32 = 0;
    for &d in digits {
        let nibble = match d {
            b'0'..=b'9' => d - b'0',
            b'a'..=b'f' => d - b'a' + 10,
            b'A'..=b'F' => d - b'A' + 10,
            _ => return Err(CpioError::BadField { offset }),
        };
        v = (v << 4) | u32::from(nibble);
    }
    Ok(v)
}

/// Does `input` start with a cpio magic?
pub fn starts_with_magic(input: &[u8]) -> bool {
    input.starts_with(MAGIC_NEWC) || input.starts_with(MAGIC_CRC)
}

/// Parse the member whose header starts at `offset` (4-byte aligned relative to the archive,
/// as the format pads). Returns it and the offset just past its padded data.
pub fn parse_member(input: &[u8], offset: usize) -> Result<(CpioMember<'_>, usize), CpioError> {
    let truncated = CpioError::Truncated { offset };
    let header_end = offset.checked_add(HEADER_LEN).ok_or(truncated)?;
    let header = input.get(offset..header_end).ok_or(truncated)?;
    let with_crc = match header.get(..6) {
        Some(m) if m == MAGIC_NEWC => false,
        Some(m) if m == MAGIC_CRC => true,
        _ => return Err(CpioError::BadMagic { offset }),
    };
    let field = |i| hex_field(header, i, offset);
    let namesize = field(11)? as usize;
    if namesize == 0 || namesize > PATH_MAX {
        return Err(CpioError::BadNameSize { offset });
    }
    let filesize = field(6)? as usize;
    let name_end = header_end.checked_add(namesize).ok_or(truncated)?;
    let name_with_nul = input.get(header_end..name_end).ok_or(truncated)?;
    let (name, nul) = name_with_nul.split_at(namesize - 1);
    if nul != [0] || name.contains(&0) {
        return Err(CpioError::NameNotTerminated { offset });
    }
    // Name and data are each padded so the next part starts 4-byte aligned relative to the
    // header (newc headers are always 4-aligned in a well-formed stream).
    let data_start = offset + align4(name_end - offset).ok_or(truncated)?;
    let data_end = data_start.checked_add(filesize).ok_or(truncated)?;
    let data = input.get(data_start..data_end).ok_or(truncated)?;
    let next = offset + align4(data_end - offset).ok_or(truncated)?;
    let check = field(12)?;
    if with_crc {
        let sum = data.iter().fold(0u32, |s, &b| s.wrapping_add(u32::from(b)));
        if sum != check {
            return Err(CpioError::Checksum { offset });
        }
    }
    let member = CpioMember {
        offset,
        ino: field(0)?,
        mode: field(1)?,
        uid: field(2)?,
        gid: field(3)?,
        nlink: field(4)?,
        mtime: field(5)?,
        dev_major: field(7)?,
        dev_minor: field(8)?,
        rdev_major: field(9)?,
        rdev_minor: field(10)?,
        name,
        data,
    };
    // The last member may omit its final padding: the input may end there.
    Ok((member, next.min(input.len())))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::format;
    use alloc::vec::Vec;

    /// Build one newc member (a test helper also used by the initramfs tests).
    pub fn member(name: &[u8], mode: u32, ino: u32, nlink: u32, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC_NEWC);
        let fields = [
            ino,
            mode,
            1000,
            100,
            nlink,
            1_600_000_000,
            data.len() as u32,
            0,
            0,
            0,
            0,
            name.len() as u32 + 1,
            0,
        ];
        for f in fields {
            out.extend_from_slice(format!("{f:08x}").as_bytes());
        }
        out.extend_from_slice(name);
        out.push(0);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(data);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out
    }

    pub fn trailer() -> Vec<u8> {
        member(TRAILER, 0, 0, 1, b"")
    }

    #[test]
    fn parses_a_member_and_its_padding() {
        let mut a = member(b"bin/sh", 0o100755, 7, 1, b"#!x");
        a.extend(trailer());
        let (m, next) = parse_member(&a, 0).unwrap();
        assert_eq!(m.name, b"bin/sh");
        assert_eq!(m.data, b"#!x");
        assert_eq!(m.mode, 0o100755);
        assert_eq!(
            (m.ino, m.uid, m.gid, m.mtime),
            (7, 1000, 100, 1_600_000_000)
        );
        assert_eq!(next % 4, 0);
        let (t, end) = parse_member(&a, next).unwrap();
        assert!(t.is_trailer());
        assert_eq!(end, a.len());
    }

    #[test]
    fn crc_format_checks_the_sum() {
        let mut a = member(b"f", 0o100644, 1, 1, b"abc");
        a[5] = b'2';
        let sum = u32::from(b'a') + u32::from(b'b') + u32::from(b'c');
        a[6 + 8 * 12..6 + 8 * 13].copy_from_slice(format!("{sum:08X}").as_bytes());
        assert!(parse_member(&a, 0).is_ok());
        a[HEADER_LEN + 4] = b'z';
        assert_eq!(
            parse_member(&a, 0).unwrap_err(),
            CpioError::Checksum { offset: 0 }
        );
    }

    #[test]
    fn hostile_headers_are_errors() {
        let good = member(b"name", 0o100644, 1, 1, b"data");
        // Truncated anywhere.
        for cut in 0..good.len() - 3 {
            let r = parse_member(&good[..cut], 0);
            assert!(
                matches!(r, Err(CpioError::Truncated { .. })),
                "cut {cut}: {r:?}"
            );
        }
        let mut bad = good.clone();
        bad[0] = b'1';
        assert_eq!(
            parse_member(&bad, 0).unwrap_err(),
            CpioError::BadMagic { offset: 0 }
        );
        let mut bad = good.clone();
        bad[10] = b'g';
        assert_eq!(
            parse_member(&bad, 0).unwrap_err(),
            CpioError::BadField { offset: 0 }
        );
        // Absurd data size.
        let mut bad = good.clone();
        bad[6 + 8 * 6..6 + 8 * 7].copy_from_slice(b"FFFFFFFF");
        assert!(matches!(
            parse_member(&bad, 0),
            Err(CpioError::Truncated { .. })
        ));
        // Name size 0, absurd, or not matching the NUL.
        for size in [&b"00000000"[..], b"FFFFFFFF", b"00001001"] {
            let mut bad = good.clone();
            bad[6 + 8 * 11..6 + 8 * 12].copy_from_slice(size);
            assert_eq!(
                parse_member(&bad, 0).unwrap_err(),
                CpioError::BadNameSize { offset: 0 }
            );
        }
        let mut bad = good.clone();
        bad[HEADER_LEN + 4] = b'x'; // the NUL after "name"
        assert_eq!(
            parse_member(&bad, 0).unwrap_err(),
            CpioError::NameNotTerminated { offset: 0 }
        );
        let mut bad = good.clone();
        bad[6 + 8 * 11..6 + 8 * 12].copy_from_slice(b"00000003");
        assert_eq!(
            parse_member(&bad, 0).unwrap_err(),
            CpioError::NameNotTerminated { offset: 0 }
        );
        assert!(parse_member(&good, usize::MAX - 5).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400), at in 0usize..400) {
            let mut input = Vec::from(&MAGIC_NEWC[..]);
            input.extend_from_slice(&bytes);
            let _ = parse_member(&input, at);
            let _ = parse_member(&bytes, at);
        }
    }
}
