//! Keyed hashes: initial sequence numbers (RFC 6528), ephemeral port offsets (RFC 6056
//! algorithm 3) and timestamp offsets, all SipHash-2-4 of the connection's addresses under a
//! key the kernel injects from its entropy source.
//!
//! Owns the hash only; it never picks a port or holds state beyond the key.

use core::net::SocketAddrV4;

use crate::time::Instant;

/// SipHash-2-4 with a 128-bit key, 64-bit output.
pub fn siphash24(key: &[u8; 16], data: &[u8]) -> u64 {
    let k0 = u64::from_le_bytes([
        key[0], key[1], key[2], key[3], key[4], key[5], key[6], key[7],
    ]);
    let k1 = u64::from_le_bytes([
        key[8], key[9], key[10], key[11], key[12], key[13], key[14], key[15],
    ]);
    let mut v = [
        k0 ^ 0x736f_6d65_7073_6575,
        k1 ^ 0x646f_7261_6e64_6f6d,
        k0 ^ 0x6c79_6765_6e65_7261,
        k1 ^ 0x7465_6462_7974_6573,
    ];
    fn round(v: &mut [u64; 4]) {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    }
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let m = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        v[3] ^= m;
        round(&mut v);
        round(&mut v);
        v[0] ^= m;
    }
    let mut last = [0u8; 8];
    let rest = chunks.remainder();
    last[..rest.len()].copy_from_slice(rest);
    last[7] = data.len() as u8;
    let m = u64::from_le_bytes(last);
    v[3] ^= m;
    round(&mut v);
    round(&mut v);
    v[0] ^= m;
    v[2] ^= 0xff;
    for _ in 0..4 {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

/// Hash of a purpose tag and up to two endpoints.
fn hash_endpoints(key: &[u8; 16], tag: u8, a: SocketAddrV4, b: SocketAddrV4) -> u64 {
    let mut buf = [0u8; 13];
    buf[0] = tag;
    buf[1..5].copy_from_slice(&a.ip().octets());
    buf[5..7].copy_from_slice(&a.port().to_be_bytes());
    buf[7..11].copy_from_slice(&b.ip().octets());
    buf[11..13].copy_from_slice(&b.port().to_be_bytes());
    siphash24(key, &buf)
}

/// RFC 6528: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), M a 4 µs timer.
pub fn isn(key: &[u8; 16], now: Instant, local: SocketAddrV4, remote: SocketAddrV4) -> u32 {
    isn_and_ts_offset(key, now, local, remote).0
}

/// A new connection's ISN ([`isn`]) and TSval offset ([`ts_offset`]) from one SipHash call:
/// F is the low half of the 64-bit output and the offset the high half (the halves of a
/// pseudorandom function's output are independent), so an open hashes once, not twice.
pub fn isn_and_ts_offset(
    key: &[u8; 16],
    now: Instant,
    local: SocketAddrV4,
    remote: SocketAddrV4,
) -> (u32, u32) {
    let m = (now.as_micros() / 4) as u32;
    let h = hash_endpoints(key, 1, local, remote);
    (m.wrapping_add(h as u32), (h >> 32) as u32)
}

/// RFC 6056 algorithm 3: the per-destination starting offset for the ephemeral port search.
pub fn port_offset(key: &[u8; 16], local_ip: core::net::Ipv4Addr, remote: SocketAddrV4) -> u32 {
    hash_endpoints(key, 2, SocketAddrV4::new(local_ip, 0), remote) as u32
}

/// A per-connection offset for TSval (RFC 7323 §5.4 recommends randomised offsets): the
/// high half of the ISN's hash (see [`isn_and_ts_offset`]).
pub fn ts_offset(key: &[u8; 16], local: SocketAddrV4, remote: SocketAddrV4) -> u32 {
    (hash_endpoints(key, 1, local, remote) >> 32) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    #[test]
    fn siphash_reference_vectors() {
        // Vectors from the SipHash paper / reference implementation: key 00..0f,
        // message 00..(n-1).
        let key: [u8; 16] = core::array::from_fn(|i| i as u8);
        assert_eq!(siphash24(&key, &[]), 0x726f_db47_dd0e_0e31);
        let msg: [u8; 15] = core::array::from_fn(|i| i as u8);
        assert_eq!(siphash24(&key, &msg), 0xa129_ca61_49be_45e5);
    }

    #[test]
    fn isn_depends_on_key_tuple_and_clock() {
        let l = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1000);
        let r = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
        let k = [7u8; 16];
        let t = Instant::from_millis(1);
        let a = isn(&k, t, l, r);
        assert_ne!(a, isn(&[8u8; 16], t, l, r));
        assert_ne!(a, isn(&k, t, r, l));
        // 4 µs clock: 1 ms later the ISN advanced by 250.
        assert_eq!(isn(&k, Instant::from_millis(2), l, r), a.wrapping_add(250));
    }

    #[test]
    fn ts_offset_is_keyed_per_tuple_and_matches_the_combined_hash() {
        let l = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1000);
        let r = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
        let k = [7u8; 16];
        let t = Instant::from_millis(5);
        let off = ts_offset(&k, l, r);
        assert_eq!(isn_and_ts_offset(&k, t, l, r), (isn(&k, t, l, r), off));
        assert_ne!(off, ts_offset(&[8u8; 16], l, r));
        assert_ne!(off, ts_offset(&k, r, l));
        // Not tied to the ISN's clock.
        assert_eq!(off, ts_offset(&k, l, r));
        assert_ne!(
            off,
            isn(&k, t, l, r).wrapping_sub((t.as_micros() / 4) as u32)
        );
    }
}
