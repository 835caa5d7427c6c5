//! Wire format: UDP datagrams (RFC 768).
//!
//! Owns the 8-byte header view, the length checks and the pseudo-header checksum (zero means
//! "none" on receive; a computed zero is sent as 0xffff). It never looks up sockets.

use core::net::Ipv4Addr;

use super::checksum;
use super::ipv4::protocol;
use super::WireError;

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// A checked view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }
    /// Wrap and check: `Truncated` when the buffer is shorter than the header or than the
    /// length field, `Malformed` when the length field is below 8.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    pub fn check_len(&self) -> Result<(), WireError> {
        let n = self.buffer.as_ref().len();
        if n < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let l = usize::from(self.length());
        if l < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if l > n {
            return Err(WireError::Truncated);
        }
        Ok(())
    }
    fn u16_at(&self, r: core::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[r];
        u16::from_be_bytes([b[0], b[1]])
    }
    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT)
    }
    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT)
    }
    pub fn length(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }
    /// The payload as the length field bounds it.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.length())]
    }
    /// True when the checksum is absent (zero) or verifies over the length-bounded datagram.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.checksum() == 0
            || checksum::verify_transport(
                src,
                dst,
                protocol::UDP,
                &self.buffer.as_ref()[..usize::from(self.length())],
            )
    }
}

/// The UDP header fields; the payload travels separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
}

impl UdpRepr {
    /// Parse, verifying the checksum unless `checksum_verified` (device offload) is set.
    pub fn parse<T: AsRef<[u8]>>(
        p: &Packet<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        checksum_verified: bool,
    ) -> Result<Self, WireError> {
        p.check_len()?;
        if !checksum_verified && !p.verify_checksum(src, dst) {
            return Err(WireError::Checksum);
        }
        Ok(UdpRepr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
        })
    }
    /// Bytes `emit` writes for `payload_len` bytes of payload.
    pub const fn buffer_len(payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }
    /// Write header, payload and checksum into the start of `buf`. `Malformed` when the
    /// datagram would exceed 65535 bytes.
    pub fn emit(
        &self,
        buf: &mut [u8],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload: &[u8],
    ) -> Result<(), WireError> {
        let total = HEADER_LEN + payload.len();
        let len = u16::try_from(total).map_err(|_| WireError::Malformed)?;
        let b = buf.get_mut(..total).ok_or(WireError::Truncated)?;
        b[field::SRC_PORT].copy_from_slice(&self.src_port.to_be_bytes());
        b[field::DST_PORT].copy_from_slice(&self.dst_port.to_be_bytes());
        b[field::LENGTH].copy_from_slice(&len.to_be_bytes());
        b[field::CHECKSUM].copy_from_slice(&[0, 0]);
        b[HEADER_LEN..].copy_from_slice(payload);
        let mut c = checksum::transport_checksum(src, dst, protocol::UDP, b);
        if c == 0 {
            c = 0xffff;
        }
        b[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    #[test]
    fn length_and_checksum_errors() {
        let r = UdpRepr {
            src_port: 1000,
            dst_port: 53,
        };
        let mut b = vec![0u8; 13];
        r.emit(&mut b, A, B, b"hello").unwrap();
        assert!(UdpRepr::parse(&Packet::new_checked(&b[..]).unwrap(), A, B, false).is_ok());
        // A different pseudo-header fails.
        assert_eq!(
            UdpRepr::parse(&Packet::new_checked(&b[..]).unwrap(), A, A, false),
            Err(WireError::Checksum)
        );
        let mut z = b.clone();
        z[6..8].copy_from_slice(&[0, 0]);
        assert!(UdpRepr::parse(&Packet::new_checked(&z[..]).unwrap(), A, A, false).is_ok());
        let mut l = b.clone();
        l[4..6].copy_from_slice(&7u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&l[..]).err(),
            Some(WireError::Malformed)
        );
        l[4..6].copy_from_slice(&14u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&l[..]).err(),
            Some(WireError::Truncated)
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = UdpRepr::parse(&p, A, B, false);
                prop_assert!(p.payload().len() + HEADER_LEN <= data.len());
            }
        }

        #[test]
        fn roundtrip(sp in any::<u16>(), dp in any::<u16>(), s in any::<u32>(), d in any::<u32>(),
                     payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let (s, d) = (Ipv4Addr::from(s), Ipv4Addr::from(d));
            let r = UdpRepr { src_port: sp, dst_port: dp };
            let mut b = vec![0u8; UdpRepr::buffer_len(payload.len())];
            r.emit(&mut b, s, d, &payload).unwrap();
            let p = Packet::new_checked(&b[..]).unwrap();
            prop_assert_ne!(p.checksum(), 0);
            prop_assert_eq!(UdpRepr::parse(&p, s, d, false).unwrap(), r);
            prop_assert_eq!(p.payload(), &payload[..]);
        }
    }
}
