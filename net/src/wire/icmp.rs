//! Wire format: ICMPv4 messages (RFC 792, RFC 1191 for the next-hop MTU).
//!
//! Owns the 8-byte header view and a `Repr` for the messages the stack handles (echo, the three
//! error kinds) plus a catch-all so nothing that parses is lost. It never decides whether to
//! answer or how to rate-limit (that is `net::icmp`'s).

use super::checksum;
use super::WireError;

/// Length of the ICMP header (type, code, checksum, rest-of-header).
pub const HEADER_LEN: usize = 8;

/// ICMP message types.
pub mod msg_type {
    pub const ECHO_REPLY: u8 = 0;
    pub const DST_UNREACHABLE: u8 = 3;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAM_PROBLEM: u8 = 12;
}

/// Destination-unreachable codes.
pub mod unreach {
    pub const NET: u8 = 0;
    pub const HOST: u8 = 1;
    pub const PROTOCOL: u8 = 2;
    pub const PORT: u8 = 3;
    pub const FRAG_NEEDED: u8 = 4;
    pub const SOURCE_ROUTE_FAILED: u8 = 5;
}

/// True for the message types that report an error about another datagram.
pub fn is_error_type(t: u8) -> bool {
    matches!(
        t,
        msg_type::DST_UNREACHABLE | msg_type::TIME_EXCEEDED | msg_type::PARAM_PROBLEM | 4 | 5
    )
}

mod field {
    use core::ops::{Range, RangeFrom};
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const REST: Range<usize> = 4..8;
    pub const DATA: RangeFrom<usize> = 8..;
}

/// A checked view of an ICMP message.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }
    pub fn check_len(&self) -> Result<(), WireError> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(WireError::Truncated)
        } else {
            Ok(())
        }
    }
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }
    pub fn checksum(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::CHECKSUM];
        u16::from_be_bytes([b[0], b[1]])
    }
    /// The four rest-of-header bytes (identifier/sequence, unused/MTU, pointer).
    pub fn rest(&self) -> [u8; 4] {
        let mut r = [0u8; 4];
        r.copy_from_slice(&self.buffer.as_ref()[field::REST]);
        r
    }
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[field::DATA]
    }
    pub fn verify_checksum(&self) -> bool {
        checksum::checksum(self.buffer.as_ref()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }
    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }
    pub fn set_rest(&mut self, r: [u8; 4]) {
        self.buffer.as_mut()[field::REST].copy_from_slice(&r);
    }
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[field::DATA]
    }
    pub fn fill_checksum(&mut self) {
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&[0, 0]);
        let c = checksum::checksum(self.buffer.as_ref());
        self.buffer.as_mut()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }
}

/// A parsed ICMP message; `data` borrows the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpRepr<'a> {
    EchoRequest {
        ident: u16,
        seq: u16,
        data: &'a [u8],
    },
    EchoReply {
        ident: u16,
        seq: u16,
        data: &'a [u8],
    },
    /// Destination unreachable; `next_hop_mtu` is meaningful for code 4 (RFC 1191).
    DstUnreachable {
        code: u8,
        next_hop_mtu: u16,
        data: &'a [u8],
    },
    TimeExceeded {
        code: u8,
        data: &'a [u8],
    },
    ParamProblem {
        code: u8,
        pointer: u8,
        data: &'a [u8],
    },
    /// Any other well-formed message, kept whole.
    Other {
        msg_type: u8,
        code: u8,
        rest: [u8; 4],
        data: &'a [u8],
    },
}

impl<'a> IcmpRepr<'a> {
    /// Parse a message whose checksum verifies.
    pub fn parse(p: &Packet<&'a [u8]>) -> Result<Self, WireError> {
        p.check_len()?;
        if !p.verify_checksum() {
            return Err(WireError::Checksum);
        }
        let r = p.rest();
        let hi = u16::from_be_bytes([r[0], r[1]]);
        let lo = u16::from_be_bytes([r[2], r[3]]);
        let data: &'a [u8] = &p.buffer[HEADER_LEN..];
        Ok(match (p.msg_type(), p.code()) {
            (msg_type::ECHO_REQUEST, 0) => IcmpRepr::EchoRequest {
                ident: hi,
                seq: lo,
                data,
            },
            (msg_type::ECHO_REPLY, 0) => IcmpRepr::EchoReply {
                ident: hi,
                seq: lo,
                data,
            },
            // The "unused" bytes are ignored: RFC 4884 puts a length there, and routers are
            // not careful about zeroing them.
            (msg_type::DST_UNREACHABLE, code) => IcmpRepr::DstUnreachable {
                code,
                next_hop_mtu: lo,
                data,
            },
            (msg_type::TIME_EXCEEDED, code) => IcmpRepr::TimeExceeded { code, data },
            (msg_type::PARAM_PROBLEM, code) => IcmpRepr::ParamProblem {
                code,
                pointer: r[0],
                data,
            },
            (msg_type, code) => IcmpRepr::Other {
                msg_type,
                code,
                rest: r,
                data,
            },
        })
    }

    fn parts(&self) -> (u8, u8, [u8; 4], &'a [u8]) {
        let two = |a: u16, b: u16| {
            let (x, y) = (a.to_be_bytes(), b.to_be_bytes());
            [x[0], x[1], y[0], y[1]]
        };
        match *self {
            IcmpRepr::EchoRequest { ident, seq, data } => {
                (msg_type::ECHO_REQUEST, 0, two(ident, seq), data)
            }
            IcmpRepr::EchoReply { ident, seq, data } => {
                (msg_type::ECHO_REPLY, 0, two(ident, seq), data)
            }
            IcmpRepr::DstUnreachable {
                code,
                next_hop_mtu,
                data,
            } => (msg_type::DST_UNREACHABLE, code, two(0, next_hop_mtu), data),
            IcmpRepr::TimeExceeded { code, data } => (msg_type::TIME_EXCEEDED, code, [0; 4], data),
            IcmpRepr::ParamProblem {
                code,
                pointer,
                data,
            } => (msg_type::PARAM_PROBLEM, code, [pointer, 0, 0, 0], data),
            IcmpRepr::Other {
                msg_type,
                code,
                rest,
                data,
            } => (msg_type, code, rest, data),
        }
    }

    /// Bytes `emit` writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN + self.parts().3.len()
    }

    /// Write the message with its checksum into the start of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let (t, c, rest, data) = self.parts();
        let buf = buf
            .get_mut(..HEADER_LEN + data.len())
            .ok_or(WireError::Truncated)?;
        let mut p = Packet::new_unchecked(buf);
        p.set_msg_type(t);
        p.set_code(c);
        p.set_rest(rest);
        p.data_mut().copy_from_slice(data);
        p.fill_checksum();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    #[test]
    fn checksum_is_checked() {
        let r = IcmpRepr::EchoRequest {
            ident: 1,
            seq: 2,
            data: b"hello",
        };
        let mut b = vec![0u8; r.buffer_len()];
        r.emit(&mut b).unwrap();
        assert_eq!(
            IcmpRepr::parse(&Packet::new_checked(&b[..]).unwrap()),
            Ok(r)
        );
        b[9] ^= 0x40;
        assert_eq!(
            IcmpRepr::parse(&Packet::new_checked(&b[..]).unwrap()),
            Err(WireError::Checksum)
        );
        assert_eq!(
            Packet::new_checked(&b[..7]).err(),
            Some(WireError::Truncated)
        );
    }

    proptest! {
        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(p) = Packet::new_checked(&data[..]) {
                let _ = IcmpRepr::parse(&p);
            }
        }

        #[test]
        fn roundtrip(t in any::<u8>(), code in any::<u8>(), rest in any::<[u8; 4]>(),
                     data in proptest::collection::vec(any::<u8>(), 0..64)) {
            // Any message parses; its repr survives emit + parse (parse(emit(x)) == x).
            let mut b = vec![0u8; HEADER_LEN + data.len()];
            IcmpRepr::Other { msg_type: t, code, rest, data: &data }.emit(&mut b).unwrap();
            let r = IcmpRepr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap();
            let mut b2 = vec![0u8; r.buffer_len()];
            r.emit(&mut b2).unwrap();
            prop_assert_eq!(IcmpRepr::parse(&Packet::new_checked(&b2[..]).unwrap()).unwrap(), r);
            if matches!(r, IcmpRepr::Other { .. }) {
                prop_assert_eq!(&b, &b2);
            }
        }
    }
}
