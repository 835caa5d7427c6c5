//! Wire format: the IPv4 header (RFC 791).
//!
//! Owns the header view, option walking (options are validated and skipped, never acted on)
//! and the `Repr` for the fixed 20-byte header. It never reassembles, routes or counts; the
//! typed [`HeaderError`] tells `net::ipv4` which counter a bad header belongs to.

use core::net::Ipv4Addr;

use super::checksum;
use super::WireError;

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;
/// Largest datagram the 16-bit total length can describe.
pub const MAX_PACKET_LEN: usize = 65535;

/// IP protocol numbers the stack knows.
pub mod protocol {
    pub const ICMP: u8 = 1;
    pub const TCP: u8 = 6;
    pub const UDP: u8 = 17;
}

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// Why an IPv4 header is invalid, finely enough to pick the /proc/net/snmp counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    /// Shorter than 20 bytes, or than the header length field claims.
    Runt,
    /// Version field is not 4.
    BadVersion,
    /// IHL below 5 (header shorter than 20 bytes).
    BadIhl,
    /// Header length (IHL*4) exceeds the total length field.
    IhlBeyondTotalLength,
    /// Total length field exceeds the bytes actually received.
    TotalLengthBeyondFrame,
    /// Header checksum does not verify.
    BadChecksum,
    /// An option has length 0 or 1, or runs past the header.
    BadOptions,
}

impl From<HeaderError> for WireError {
    fn from(e: HeaderError) -> WireError {
        match e {
            HeaderError::Runt | HeaderError::TotalLengthBeyondFrame => WireError::Truncated,
            HeaderError::BadChecksum => WireError::Checksum,
            _ => WireError::Malformed,
        }
    }
}

/// A checked view of an IPv4 packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self, HeaderError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    /// Validate version, IHL and the length fields against the buffer; afterwards every
    /// accessor (including `options` and `payload`) is in bounds.
    pub fn check_len(&self) -> Result<(), HeaderError> {
        let b = self.buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(HeaderError::Runt);
        }
        if b[field::VER_IHL] >> 4 != 4 {
            return Err(HeaderError::BadVersion);
        }
        let hl = self.header_len();
        if hl < HEADER_LEN {
            return Err(HeaderError::BadIhl);
        }
        if hl > b.len() {
            return Err(HeaderError::Runt);
        }
        let total = usize::from(self.total_len());
        if total < hl {
            return Err(HeaderError::IhlBeyondTotalLength);
        }
        if total > b.len() {
            return Err(HeaderError::TotalLengthBeyondFrame);
        }
        Ok(())
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    fn u16_at(&self, r: core::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[r];
        u16::from_be_bytes([b[0], b[1]])
    }
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }
    /// Header length in bytes (IHL * 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }
    pub fn total_len(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }
    pub fn ident(&self) -> u16 {
        self.u16_at(field::IDENT)
    }
    pub fn dont_frag(&self) -> bool {
        self.u16_at(field::FLG_OFF) & FLAG_DF != 0
    }
    pub fn more_frags(&self) -> bool {
        self.u16_at(field::FLG_OFF) & FLAG_MF != 0
    }
    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> u16 {
        (self.u16_at(field::FLG_OFF) & OFFSET_MASK) << 3
    }
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }
    pub fn src(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::SRC];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }
    pub fn dst(&self) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[field::DST];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }
    /// The header bytes, options included.
    pub fn header(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.header_len()]
    }
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }
    /// The payload as the total length field bounds it (link padding excluded).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..usize::from(self.total_len())]
    }
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.header()) == 0
    }
    /// Walk the options: each must be End-of-list, No-op, or carry a length of at least 2 that
    /// stays inside the header. Options are otherwise ignored.
    pub fn check_options(&self) -> Result<(), HeaderError> {
        check_options(self.options())
    }
}

/// Validate an option area (see [`Packet::check_options`]).
pub fn check_options(mut opts: &[u8]) -> Result<(), HeaderError> {
    while let Some((&kind, rest)) = opts.split_first() {
        match kind {
            0 => return Ok(()),
            1 => opts = rest,
            _ => {
                let len = usize::from(*rest.first().ok_or(HeaderError::BadOptions)?);
                if len < 2 || len > opts.len() {
                    return Err(HeaderError::BadOptions);
                }
                opts = &opts[len..];
            }
        }
    }
    Ok(())
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_u16(&mut self, r: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }
    pub fn set_checksum(&mut self, v: u16) {
        self.set_u16(field::CHECKSUM, v)
    }
    /// Recompute the header checksum over the current header (options included).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.header());
        self.set_checksum(c);
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (h, t) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[h..t]
    }
}

/// The fixed IPv4 header fields the stack reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub tos: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// Fragment offset in bytes (a multiple of 8).
    pub frag_offset: u16,
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// Parse a header: lengths, checksum and options all checked.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self, HeaderError> {
        p.check_len()?;
        if !p.verify_checksum() {
            return Err(HeaderError::BadChecksum);
        }
        p.check_options()?;
        Ok(Ipv4Repr {
            src: p.src(),
            dst: p.dst(),
            protocol: p.protocol(),
            ttl: p.ttl(),
            tos: p.tos(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            more_frags: p.more_frags(),
            frag_offset: p.frag_offset(),
            payload_len: usize::from(p.total_len()) - p.header_len(),
        })
    }
    /// Bytes `emit` writes (no options are ever emitted).
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }
    /// Write the 20-byte header with its checksum into the start of `buf`. `Truncated` if it
    /// does not fit, `Malformed` if the total length or offset cannot be encoded.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let total = HEADER_LEN
            .checked_add(self.payload_len)
            .filter(|t| *t <= MAX_PACKET_LEN)
            .ok_or(WireError::Malformed)?;
        if !self.frag_offset.is_multiple_of(8) {
            return Err(WireError::Malformed);
        }
        let b = buf.get_mut(..HEADER_LEN).ok_or(WireError::Truncated)?;
        b[field::VER_IHL] = 0x45;
        b[field::TOS] = self.tos;
        b[field::LENGTH].copy_from_slice(&(total as u16).to_be_bytes());
        b[field::IDENT].copy_from_slice(&self.ident.to_be_bytes());
        let mut fo = self.frag_offset >> 3;
        if self.dont_frag {
            fo |= FLAG_DF;
        }
        if self.more_frags {
            fo |= FLAG_MF;
        }
        b[field::FLG_OFF].copy_from_slice(&fo.to_be_bytes());
        b[field::TTL] = self.ttl;
        b[field::PROTOCOL] = self.protocol;
        b[field::CHECKSUM].copy_from_slice(&[0, 0]);
        b[field::SRC].copy_from_slice(&self.src.octets());
        b[field::DST].copy_from_slice(&self.dst.octets());
        let c = checksum::checksum(b);
        b[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;
    use proptest::prelude::*;

    fn sample(payload: usize) -> Vec<u8> {
        let r = Ipv4Repr {
            src: Ipv4Addr::new(10, 0, 0, 1),
            dst: Ipv4Addr::new(10, 0, 0, 2),
            protocol: protocol::UDP,
            ttl: 64,
            tos: 0,
            ident: 7,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            payload_len: payload,
        };
        let mut b = vec![0u8; HEADER_LEN + payload];
        r.emit(&mut b).unwrap();
        b
    }

    #[test]
    fn each_bad_header_has_its_own_error() {
        let good = sample(8);
        assert!(Ipv4Repr::parse(&Packet::new_checked(&good[..]).unwrap()).is_ok());
        assert_eq!(
            Packet::new_checked(&good[..19]).err(),
            Some(HeaderError::Runt)
        );
        let mut b = good.clone();
        b[0] = 0x65;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(HeaderError::BadVersion)
        );
        b[0] = 0x44;
        assert_eq!(Packet::new_checked(&b[..]).err(), Some(HeaderError::BadIhl));
        let mut b = good.clone();
        b[0] = 0x47; // 28-byte header, total length 28 is fine...
        b[2..4].copy_from_slice(&24u16.to_be_bytes()); // ...but 24 is not
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(HeaderError::IhlBeyondTotalLength)
        );
        let mut b = good.clone();
        b[2..4].copy_from_slice(&29u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(HeaderError::TotalLengthBeyondFrame)
        );
        let mut b = good.clone();
        b[8] ^= 1;
        assert_eq!(
            Ipv4Repr::parse(&Packet::new_checked(&b[..]).unwrap()).err(),
            Some(HeaderError::BadChecksum)
        );
    }

    #[test]
    fn options_walk() {
        assert_eq!(check_options(&[1, 1, 0, 99]), Ok(()));
        assert_eq!(check_options(&[7, 4, 0, 0]), Ok(()));
        assert_eq!(check_options(&[7, 0, 0, 0]), Err(HeaderError::BadOptions));
        assert_eq!(check_options(&[7, 1, 0, 0]), Err(HeaderError::BadOptions));
        assert_eq!(check_options(&[1, 7, 5, 0]), Err(HeaderError::BadOptions));
        assert_eq!(check_options(&[1, 1, 1, 7]), Err(HeaderError::BadOptions));
    }

    proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..120)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = Ipv4Repr::parse(&p);
                prop_assert!(p.payload().len() + p.header_len() <= data.len());
                let _ = p.options();
            }
        }

        #[test]
        fn roundtrip(src in any::<u32>(), dst in any::<u32>(), protocol in any::<u8>(),
                     ttl in any::<u8>(), tos in any::<u8>(), ident in any::<u16>(),
                     df in any::<bool>(), mf in any::<bool>(), off in 0u16..8192,
                     len in 0usize..=(MAX_PACKET_LEN - HEADER_LEN)) {
            let r = Ipv4Repr {
                src: Ipv4Addr::from(src), dst: Ipv4Addr::from(dst), protocol, ttl, tos, ident,
                dont_frag: df, more_frags: mf, frag_offset: off * 8, payload_len: len,
            };
            let mut b = vec![0u8; HEADER_LEN + len];
            r.emit(&mut b).unwrap();
            prop_assert_eq!(Ipv4Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap(), r);
        }
    }
}
