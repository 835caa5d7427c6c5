//! Wire format: Ethernet II frames (destination, source, EtherType, payload).
//!
//! Owns the 14-byte header view and its `Repr`. It never looks inside the payload and never
//! validates the frame check sequence (devices strip it).

use super::{MacAddr, WireError};

/// Length of the Ethernet II header.
pub const HEADER_LEN: usize = 14;

/// EtherType values the stack handles.
pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
}

mod field {
    use core::ops::{Range, RangeFrom};
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    pub const PAYLOAD: RangeFrom<usize> = 14..;
}

/// A checked view of an Ethernet II frame.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wrap without checking; accessors may panic until [`Frame::check_len`] succeeds.
    pub const fn new_unchecked(buffer: T) -> Self {
        Frame { buffer }
    }
    /// Wrap and check that the header fits.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }
    pub fn into_inner(self) -> T {
        self.buffer
    }
    fn mac(&self, r: core::ops::Range<usize>) -> MacAddr {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.buffer.as_ref()[r]);
        MacAddr(m)
    }
    pub fn dst(&self) -> MacAddr {
        self.mac(field::DST)
    }
    pub fn src(&self) -> MacAddr {
        self.mac(field::SRC)
    }
    pub fn ethertype(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::ETHERTYPE];
        u16::from_be_bytes([b[0], b[1]])
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[field::PAYLOAD]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn set_dst(&mut self, m: MacAddr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&m.0);
    }
    pub fn set_src(&mut self, m: MacAddr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&m.0);
    }
    pub fn set_ethertype(&mut self, t: u16) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&t.to_be_bytes());
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::PAYLOAD]
    }
}

/// The parsed header of an Ethernet II frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    pub src: MacAddr,
    pub dst: MacAddr,
    pub ethertype: u16,
}

impl EthernetRepr {
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Result<Self, WireError> {
        frame.check_len()?;
        Ok(EthernetRepr {
            src: frame.src(),
            dst: frame.dst(),
            ethertype: frame.ethertype(),
        })
    }
    /// Header length this repr emits.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }
    /// Write the header into the start of `buf`; `Truncated` if it does not fit.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let mut f = Frame::new_checked(buf)?;
        f.set_dst(self.dst);
        f.set_src(self.src);
        f.set_ethertype(self.ethertype);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn runt_is_truncated() {
        assert_eq!(
            Frame::new_checked(&[0u8; 13][..]).err(),
            Some(WireError::Truncated)
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(f) = Frame::new_checked(&data[..]) {
                let r = EthernetRepr::parse(&f).unwrap();
                prop_assert_eq!(f.payload().len(), data.len() - HEADER_LEN);
                prop_assert_eq!(r.ethertype, f.ethertype());
            }
        }

        #[test]
        fn roundtrip(src in any::<[u8; 6]>(), dst in any::<[u8; 6]>(), t in any::<u16>()) {
            let r = EthernetRepr { src: MacAddr(src), dst: MacAddr(dst), ethertype: t };
            let mut buf = [0u8; HEADER_LEN + 3];
            r.emit(&mut buf).unwrap();
            prop_assert_eq!(EthernetRepr::parse(&Frame::new_checked(&buf[..]).unwrap()).unwrap(), r);
        }
    }
}
