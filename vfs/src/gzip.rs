//! gzip members (RFC 1952) for compressed initramfs images: the header and trailer are parsed
//! here, the deflate stream is inflated by `miniz_oxide`.
//!
//! Owns the bounds: output past the caller's limit is an error (no zip bomb), every output byte
//! is reserved fallibly, and the CRC-32 and length in the trailer are checked. It must never
//! panic on its input nor hand-inflate deflate data.

use alloc::vec::Vec;

use miniz_oxide::inflate::stream::{inflate, InflateState};
use miniz_oxide::{DataFormat, MZFlush, MZStatus};

/// The two bytes every gzip member starts with.
pub const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

const FTEXT_FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const FRESERVED: u8 = 0xe0;
/// Output produced per inflate call.
const CHUNK: usize = 32 * 1024;

/// Why a gzip member was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GzipError {
    /// Not gzip, an unknown method, or reserved flags set.
    BadHeader,
    /// The input ends before the member does.
    Truncated,
    /// The deflate data is corrupt.
    Corrupt,
    /// The output would exceed the caller's bound.
    TooLarge,
    /// CRC-32 or length in the trailer do not match the output.
    BadTrailer,
    /// Memory for the output could not be had.
    NoMemory,
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as gzip's trailer uses it.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

/// Offset of the deflate data after the gzip header.
fn header_len(input: &[u8]) -> Result<usize, GzipError> {
    let fixed = input.get(..10).ok_or(GzipError::Truncated)?;
    if fixed[..2] != GZIP_MAGIC || fixed[2] != 8 || fixed[3] & FRESERVED != 0 {
        return Err(GzipError::BadHeader);
    }
    let flags = fixed[3];
    let mut at = 10usize;
    if flags & FEXTRA != 0 {
        let xlen = input.get(at..at + 2).ok_or(GzipError::Truncated)?;
        at += 2 + usize::from(u16::from_le_bytes([xlen[0], xlen[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            let rest = input.get(at..).ok_or(GzipError::Truncated)?;
            let nul = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or(GzipError::Truncated)?;
            at += nul + 1;
        }
    }
    if flags & FTEXT_FHCRC != 0 {
        at += 2;
    }
    if at > input.len() {
        return Err(GzipError::Truncated);
    }
    Ok(at)
}

/// Inflate the gzip member at the start of `input` into at most `max_output` bytes. Returns
/// the output and how many input bytes the member took (header, data and trailer), so that
/// what follows it can be read (concatenated members or archives).
pub fn gunzip(input: &[u8], max_output: usize) -> Result<(Vec<u8>, usize), GzipError> {
    let mut at = header_len(input)?;
    let mut state = InflateState::new_boxed(DataFormat::Raw);
    let mut out: Vec<u8> = Vec::new();
    // The trailer's ISIZE, when this member is the whole input, is the output's length:
    // reserving it up front keeps a large archive from being copied as the vector doubles
    // (a peak of three times its size in a guest of a few MiB). Only a hint: bounded by the
    // caller's limit and deflate's best ratio (1032:1), and growth still works without it.
    if let Some(tail) = input.len().checked_sub(4).and_then(|at| input.get(at..)) {
        let hint = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as usize;
        if hint <= max_output && hint <= input.len().saturating_mul(1032) {
            let _ = out.try_reserve_exact(hint);
        }
    }
    let mut chunk = Vec::new();
    chunk
        .try_reserve_exact(CHUNK)
        .map_err(|_| GzipError::NoMemory)?;
    chunk.resize(CHUNK, 0);
    loop {
        let rest = input.get(at..).ok_or(GzipError::Truncated)?;
        let r = inflate(&mut state, rest, &mut chunk, MZFlush::None);
        at += r.bytes_consumed;
        let produced = chunk.get(..r.bytes_written).ok_or(GzipError::Corrupt)?;
        if out.len().saturating_add(produced.len()) > max_output {
            return Err(GzipError::TooLarge);
        }
        out.try_reserve(produced.len())
            .map_err(|_| GzipError::NoMemory)?;
        out.extend_from_slice(produced);
        match r.status {
            Ok(MZStatus::StreamEnd) => break,
            Ok(_) if r.bytes_consumed == 0 && r.bytes_written == 0 => {
                return Err(if at >= input.len() {
                    GzipError::Truncated
                } else {
                    GzipError::Corrupt
                })
            }
            Ok(_) => {}
            Err(miniz_oxide::MZError::Buf) if at >= input.len() => {
                return Err(GzipError::Truncated)
            }
            Err(_) => return Err(GzipError::Corrupt),
        }
    }
    let trailer = input.get(at..at + 8).ok_or(GzipError::Truncated)?;
    let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let isize = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    if crc != crc32(&out) || isize != out.len() as u32 {
        return Err(GzipError::BadTrailer);
    }
    Ok((out, at + 8))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use alloc::vec;

    /// A gzip member of `data` (test helper shared with the initramfs tests).
    pub fn gzip(data: &[u8]) -> Vec<u8> {
        let mut out = vec![0x1f, 0x8b, 8, FNAME, 0, 0, 0, 0, 0, 3];
        out.extend_from_slice(b"initrd.cpio\0");
        out.extend(miniz_oxide::deflate::compress_to_vec(data, 6));
        out.extend_from_slice(&crc32(data).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out
    }

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn round_trip_and_consumed_length() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut z = gzip(&data);
        let len = z.len();
        z.extend_from_slice(b"after");
        let (out, used) = gunzip(&z, 1 << 20).unwrap();
        assert_eq!(out, data);
        assert_eq!(used, len);
    }

    #[test]
    fn bombs_and_damage_are_refused() {
        let zeros = vec![0u8; 1 << 20];
        let z = gzip(&zeros);
        assert!(z.len() < 5000);
        assert_eq!(gunzip(&z, 64 * 1024).unwrap_err(), GzipError::TooLarge);
        assert_eq!(
            gunzip(&z[..z.len() - 4], 2 << 20).unwrap_err(),
            GzipError::Truncated
        );
        assert_eq!(gunzip(&z[..40], 2 << 20).unwrap_err(), GzipError::Truncated);
        let mut bad = z.clone();
        let n = bad.len();
        bad[n - 8] ^= 1;
        assert_eq!(gunzip(&bad, 2 << 20).unwrap_err(), GzipError::BadTrailer);
        let mut bad = z.clone();
        bad[2] = 9;
        assert_eq!(gunzip(&bad, 2 << 20).unwrap_err(), GzipError::BadHeader);
        let mut bad = z.clone();
        bad[3] = FEXTRA;
        bad[10] = 0xff;
        bad[11] = 0xff;
        assert!(gunzip(&bad, 2 << 20).is_err());
        assert_eq!(
            gunzip(&[0x1f, 0x8b], 100).unwrap_err(),
            GzipError::Truncated
        );
        let garbage = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0xff];
        assert!(gunzip(&garbage, 100).is_err());
    }

    proptest::proptest! {
        #[test]
        fn never_panics_on_arbitrary_deflate_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let mut input = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
            input.extend_from_slice(&bytes);
            let _ = gunzip(&input, 4096);
        }
    }
}
