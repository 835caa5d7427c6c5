//! The Internet checksum (RFC 1071), summed eight bytes at a time, and its incremental update
//! (RFC 1624).

use core::net::Ipv4Addr;

/// Ones'-complement sum of `data` folded to 16 bits (not yet inverted), starting from `initial`.
///
/// Bytes are read as big-endian 16-bit words; an odd trailing byte is padded with zero.
pub fn sum(initial: u32, data: &[u8]) -> u16 {
    let mut acc: u64 = u64::from(initial);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        // Each 8-byte chunk adds four big-endian words; summing as two 32-bit halves keeps the
        // carries in the wide accumulator (it cannot overflow before 2^32 chunks).
        let w = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        acc += (w >> 32) + (w & 0xffff_ffff);
    }
    let rest = chunks.remainder();
    let mut pairs = rest.chunks_exact(2);
    for p in &mut pairs {
        acc += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(*last) << 8;
    }
    fold(acc)
}

/// Fold a wide ones'-complement accumulator down to 16 bits.
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The checksum field value for `data`: the inverted folded sum.
pub fn checksum(data: &[u8]) -> u16 {
    !sum(0, data)
}

/// The sum of the IPv4 pseudo-header (RFC 793 / RFC 768) for a transport checksum.
pub fn pseudo_header_sum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u32 {
    let s = src.octets();
    let d = dst.octets();
    u32::from(u16::from_be_bytes([s[0], s[1]]))
        + u32::from(u16::from_be_bytes([s[2], s[3]]))
        + u32::from(u16::from_be_bytes([d[0], d[1]]))
        + u32::from(u16::from_be_bytes([d[2], d[3]]))
        + u32::from(protocol)
        + u32::from(length)
}

/// Transport checksum (TCP/UDP) over the pseudo-header and `segment` (whose checksum field
/// must be zero when computing, or hold the received value when verifying).
pub fn transport_checksum(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> u16 {
    let len = u16::try_from(segment.len()).unwrap_or(u16::MAX);
    !sum(pseudo_header_sum(src, dst, protocol, len), segment)
}

/// True when `segment` (checksum field included) verifies against the pseudo-header.
pub fn verify_transport(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, segment: &[u8]) -> bool {
    transport_checksum(src, dst, protocol, segment) == 0
}

/// RFC 1624 eqn. 3: the new checksum after a 16-bit field changed from `old` to `new`.
pub fn update16(checksum: u16, old: u16, new: u16) -> u16 {
    // HC' = ~(~HC + ~m + m')
    let acc = u64::from(!checksum) + u64::from(!old) + u64::from(new);
    !fold(acc)
}

/// RFC 1624 update for a 32-bit field (e.g. an IPv4 address) changing from `old` to `new`.
pub fn update32(checksum: u16, old: u32, new: u32) -> u16 {
    let c = update16(checksum, (old >> 16) as u16, (new >> 16) as u16);
    update16(c, old as u16, new as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Straight RFC 1071 reference: 16 bits at a time.
    fn reference(data: &[u8]) -> u16 {
        let mut acc: u32 = 0;
        for p in data.chunks(2) {
            let w = if p.len() == 2 {
                u16::from_be_bytes([p[0], p[1]])
            } else {
                u16::from(p[0]) << 8
            };
            acc += u32::from(w);
            acc = (acc & 0xffff) + (acc >> 16);
        }
        !(acc as u16)
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3 example words: 0001 f203 f4f5 f6f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(0, &data), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn ipv4_header_verifies_to_zero() {
        let mut hdr = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        let c = checksum(&hdr);
        assert_eq!(c, 0xb861);
        hdr[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(checksum(&hdr), 0);
    }

    proptest! {
        #[test]
        fn wide_sum_matches_reference(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
            prop_assert_eq!(checksum(&data), reference(&data));
        }

        #[test]
        fn incremental_update_matches_recompute(
            mut data in proptest::collection::vec(any::<u8>(), 2..200),
            idx in any::<usize>(),
            new in any::<u16>(),
        ) {
            let words = data.len() / 2;
            let i = (idx % words) * 2;
            let before = checksum(&data);
            let old = u16::from_be_bytes([data[i], data[i + 1]]);
            data[i..i + 2].copy_from_slice(&new.to_be_bytes());
            let after = checksum(&data);
            let updated = update16(before, old, new);
            // 0x0000 and 0xffff are both zero in ones' complement.
            prop_assert!(updated == after || (updated ^ after) == 0xffff && (after == 0 || after == 0xffff));
        }
    }
}
