//! Wire format: ARP for IPv4 over Ethernet (RFC 826).
//!
//! Owns the 28-byte packet view and its `Repr`. Only hardware type 1 (Ethernet, hlen 6) and
//! protocol type 0x0800 (IPv4, plen 4) are accepted; anything else is a typed error that the
//! caller counts. It never decides what to answer (that is `neigh`'s).

use core::net::Ipv4Addr;

use super::{MacAddr, WireError};

/// Fixed part before the addresses.
pub const FIXED_LEN: usize = 8;
/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;

pub const HTYPE_ETHERNET: u16 = 1;
pub const PTYPE_IPV4: u16 = 0x0800;

mod field {
    use core::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// ARP operation codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArpOp {
    Request,
    Reply,
    Other(u16),
}

impl From<u16> for ArpOp {
    fn from(v: u16) -> Self {
        match v {
            1 => ArpOp::Request,
            2 => ArpOp::Reply,
            o => ArpOp::Other(o),
        }
    }
}

impl From<ArpOp> for u16 {
    fn from(o: ArpOp) -> u16 {
        match o {
            ArpOp::Request => 1,
            ArpOp::Reply => 2,
            ArpOp::Other(v) => v,
        }
    }
}

/// A checked view of an ARP packet (Ethernet/IPv4 sizes).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }
    /// Wrap and check: `Truncated` when shorter than the addresses need, `Malformed` when the
    /// address lengths are not Ethernet's 6 and IPv4's 4.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    pub fn check_len(&self) -> Result<(), WireError> {
        let b = self.buffer.as_ref();
        if b.len() < FIXED_LEN {
            return Err(WireError::Truncated);
        }
        if b[field::HLEN] != 6 || b[field::PLEN] != 4 {
            return Err(WireError::Malformed);
        }
        if b.len() < PACKET_LEN {
            return Err(WireError::Truncated);
        }
        Ok(())
    }
    fn u16_at(&self, r: core::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[r];
        u16::from_be_bytes([b[0], b[1]])
    }
    fn mac_at(&self, r: core::ops::Range<usize>) -> MacAddr {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.buffer.as_ref()[r]);
        MacAddr(m)
    }
    fn ip_at(&self, r: core::ops::Range<usize>) -> Ipv4Addr {
        let b = &self.buffer.as_ref()[r];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }
    pub fn htype(&self) -> u16 {
        self.u16_at(field::HTYPE)
    }
    pub fn ptype(&self) -> u16 {
        self.u16_at(field::PTYPE)
    }
    pub fn hlen(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }
    pub fn plen(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }
    pub fn oper(&self) -> ArpOp {
        ArpOp::from(self.u16_at(field::OPER))
    }
    pub fn sha(&self) -> MacAddr {
        self.mac_at(field::SHA)
    }
    pub fn spa(&self) -> Ipv4Addr {
        self.ip_at(field::SPA)
    }
    pub fn tha(&self) -> MacAddr {
        self.mac_at(field::THA)
    }
    pub fn tpa(&self) -> Ipv4Addr {
        self.ip_at(field::TPA)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_u16(&mut self, r: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }
    pub fn set_htype(&mut self, v: u16) {
        self.set_u16(field::HTYPE, v)
    }
    pub fn set_ptype(&mut self, v: u16) {
        self.set_u16(field::PTYPE, v)
    }
    pub fn set_hlen(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v;
    }
    pub fn set_plen(&mut self, v: u8) {
        self.buffer.as_mut()[field::PLEN] = v;
    }
    pub fn set_oper(&mut self, o: ArpOp) {
        self.set_u16(field::OPER, o.into())
    }
    pub fn set_sha(&mut self, m: MacAddr) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&m.0)
    }
    pub fn set_spa(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&a.octets())
    }
    pub fn set_tha(&mut self, m: MacAddr) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&m.0)
    }
    pub fn set_tpa(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&a.octets())
    }
}

/// A parsed Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArpRepr {
    pub operation: ArpOp,
    pub source_hw: MacAddr,
    pub source_ip: Ipv4Addr,
    pub target_hw: MacAddr,
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// Parse; `Unsupported` for a hardware or protocol type other than Ethernet/IPv4.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Result<Self, WireError> {
        p.check_len()?;
        if p.htype() != HTYPE_ETHERNET || p.ptype() != PTYPE_IPV4 {
            return Err(WireError::Unsupported);
        }
        Ok(ArpRepr {
            operation: p.oper(),
            source_hw: p.sha(),
            source_ip: p.spa(),
            target_hw: p.tha(),
            target_ip: p.tpa(),
        })
    }
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }
    /// Write the packet into the start of `buf`; `Truncated` if it does not fit.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let buf = buf.get_mut(..PACKET_LEN).ok_or(WireError::Truncated)?;
        let mut p = Packet::new_unchecked(buf);
        p.set_htype(HTYPE_ETHERNET);
        p.set_ptype(PTYPE_IPV4);
        p.set_hlen(6);
        p.set_plen(4);
        p.set_oper(self.operation);
        p.set_sha(self.source_hw);
        p.set_spa(self.source_ip);
        p.set_tha(self.target_hw);
        p.set_tpa(self.target_ip);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bad_lengths_are_typed() {
        assert_eq!(
            Packet::new_checked(&[0u8; 7][..]).err(),
            Some(WireError::Truncated)
        );
        let mut b = [0u8; 28];
        b[4] = 8;
        b[5] = 4;
        assert_eq!(
            Packet::new_checked(&b[..]).err(),
            Some(WireError::Malformed)
        );
        b[4] = 6;
        assert_eq!(
            Packet::new_checked(&b[..20]).err(),
            Some(WireError::Truncated)
        );
        assert!(Packet::new_checked(&b[..]).is_ok());
        assert_eq!(
            ArpRepr::parse(&Packet::new_checked(&b[..]).unwrap()),
            Err(WireError::Unsupported)
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..40)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = ArpRepr::parse(&p);
            }
        }

        #[test]
        fn roundtrip(op in any::<u16>(), sha in any::<[u8; 6]>(), spa in any::<u32>(),
                     tha in any::<[u8; 6]>(), tpa in any::<u32>()) {
            let r = ArpRepr {
                operation: ArpOp::from(op),
                source_hw: MacAddr(sha),
                source_ip: Ipv4Addr::from(spa),
                target_hw: MacAddr(tha),
                target_ip: Ipv4Addr::from(tpa),
            };
            let mut buf = [0u8; PACKET_LEN];
            r.emit(&mut buf).unwrap();
            prop_assert_eq!(ArpRepr::parse(&Packet::new_checked(&buf[..]).unwrap()).unwrap(), r);
        }
    }
}
