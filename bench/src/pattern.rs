//! The payload: a pseudo-random pattern of a prime length, repeated, so a stream's byte at
//! offset `o` is `PATTERN[o % LEN]`. Receivers compare every received chunk with the pattern
//! at its offset (a memcmp, exact and cheap), so lost, duplicated, reordered or mixed-up bytes
//! are caught; each connection starts at a different offset so streams crossing connections
//! are caught too.

use std::sync::OnceLock;

/// Pattern length: prime, so it never lines up with segment or buffer sizes.
pub const LEN: usize = 65521;

/// The pattern, stored twice so any window of up to `LEN` bytes is contiguous.
pub fn bytes() -> &'static [u8] {
    static P: OnceLock<Vec<u8>> = OnceLock::new();
    P.get_or_init(|| {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let one: Vec<u8> = (0..LEN)
            .map(|_| {
                // xorshift64*
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect();
        let mut two = one.clone();
        two.extend_from_slice(&one);
        two
    })
}

/// The stream bytes at `offset`, at most `max` (and at most `LEN`) of them.
pub fn window(offset: u64, max: usize) -> &'static [u8] {
    let start = (offset % LEN as u64) as usize;
    &bytes()[start..start + max.min(LEN)]
}

/// Whether `got` is exactly the stream at `offset`.
pub fn matches(offset: u64, got: &[u8]) -> bool {
    got.len() <= LEN && window(offset, got.len()) == got
}

/// Where connection `i`'s stream starts in the pattern.
pub fn start_of(i: usize) -> u64 {
    (i as u64).wrapping_mul(7919)
}
