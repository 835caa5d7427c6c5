//! The chargen pattern (RFC 864): lines of 72 printable characters from the 95-character ring,
//! each starting one character further, ended by CR LF; it repeats every 95 lines.

use std::io::{self, Write};

/// Bytes per line, CR LF included.
pub const LINE: usize = 74;
/// Lines in one UDP chargen datagram.
pub const UDP_LINES: usize = 6;
/// The pattern repeats after this many bytes.
const CYCLE: usize = 95 * LINE;
/// Cycles written per call: about 52 KiB, a super-segment's worth.
const WRITE_CYCLES: usize = 7;

/// Fills `out` with the pattern starting at byte `pos` of the stream.
pub fn fill(out: &mut [u8], mut pos: u64) {
    for byte in out.iter_mut() {
        let (line, col) = (pos / LINE as u64, pos % LINE as u64);
        *byte = match col {
            72 => b'\r',
            73 => b'\n',
            _ => 0x20 + ((line + col) % 95) as u8,
        };
        pos += 1;
    }
}

/// Writes the pattern until the peer goes away.
pub fn stream(s: &mut impl Write) -> io::Result<()> {
    let mut cycles = vec![0u8; (WRITE_CYCLES + 1) * CYCLE];
    fill(&mut cycles, 0);
    let mut at = 0;
    loop {
        let n = s.write(&cycles[at..at + WRITE_CYCLES * CYCLE])?;
        if n == 0 {
            return Ok(());
        }
        at = (at + n) % CYCLE;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_shift_by_one_and_end_in_crlf() {
        let mut b = vec![0u8; 2 * LINE];
        fill(&mut b, 0);
        assert_eq!(&b[..3], b" !\"");
        assert_eq!(&b[72..74], b"\r\n");
        assert_eq!(b[LINE], b'!');
        let mut c = vec![0u8; LINE];
        fill(&mut c, CYCLE as u64);
        assert_eq!(&c[..], &b[..LINE], "repeats every 95 lines");
    }
}
