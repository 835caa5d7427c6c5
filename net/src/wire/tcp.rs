//! TCP header (RFC 9293 §3.1): a checked view over received bytes, option parsing, and a
//! builder that writes a segment with its checksum.
//!
//! Owns the byte layout only; it never decides what a segment means (that is `crate::tcp`).
//! Options are parsed strictly: a malformed option list (length 0 or 1, running past the
//! header, a known kind with the wrong length) rejects the whole segment with
//! [`WireError::Malformed`], unknown kinds are skipped.

use alloc::vec::Vec;
use core::net::Ipv4Addr;

use super::checksum;
use super::WireError;

/// IP protocol number of TCP.
pub const PROTOCOL: u8 = 6;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 20;
/// Largest header (data offset 15).
pub const MAX_HEADER_LEN: usize = 60;

/// Control bits.
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// Option kinds we understand.
pub mod kind {
    pub const EOL: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WSCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMP: u8 = 8;
}

/// Largest window shift allowed by RFC 7323 §2.3.
pub const MAX_WSCALE: u8 = 14;

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ: Range<usize> = 4..8;
    pub const ACK: Range<usize> = 8..12;
    pub const OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

/// A checked view of a TCP segment: after [`TcpPacket::new_checked`] every accessor is in
/// bounds.
#[derive(Debug, Clone, Copy)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buf: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Checks that the fixed header and the header length it claims fit in the buffer.
    pub fn new_checked(buf: T) -> Result<Self, WireError> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        let hl = usize::from(b[field::OFFSET] >> 4) * 4;
        if hl < HEADER_LEN {
            return Err(WireError::Malformed);
        }
        if hl > b.len() {
            return Err(WireError::Truncated);
        }
        Ok(TcpPacket { buf })
    }

    fn b(&self) -> &[u8] {
        self.buf.as_ref()
    }
    fn be16(&self, r: core::ops::Range<usize>) -> u16 {
        let b = &self.b()[r];
        u16::from_be_bytes([b[0], b[1]])
    }
    fn be32(&self, r: core::ops::Range<usize>) -> u32 {
        let b = &self.b()[r];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }
    pub fn src_port(&self) -> u16 {
        self.be16(field::SRC_PORT)
    }
    pub fn dst_port(&self) -> u16 {
        self.be16(field::DST_PORT)
    }
    pub fn seq(&self) -> u32 {
        self.be32(field::SEQ)
    }
    pub fn ack(&self) -> u32 {
        self.be32(field::ACK)
    }
    pub fn header_len(&self) -> usize {
        usize::from(self.b()[field::OFFSET] >> 4) * 4
    }
    pub fn flags(&self) -> u8 {
        self.b()[field::FLAGS]
    }
    pub fn window(&self) -> u16 {
        self.be16(field::WINDOW)
    }
    pub fn checksum(&self) -> u16 {
        self.be16(field::CHECKSUM)
    }
    pub fn urgent(&self) -> u16 {
        self.be16(field::URGENT)
    }
    /// The raw option bytes.
    pub fn options(&self) -> &[u8] {
        &self.b()[HEADER_LEN..self.header_len()]
    }
    pub fn payload(&self) -> &[u8] {
        &self.b()[self.header_len()..]
    }
    /// True when the checksum verifies against the IPv4 pseudo-header.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        checksum::verify_transport(src, dst, PROTOCOL, self.b())
    }
}

/// The options of one segment that TCP acts upon.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpOptions {
    pub mss: Option<u16>,
    /// Window shift, already clamped to [`MAX_WSCALE`].
    pub wscale: Option<u8>,
    pub sack_permitted: bool,
    /// (TSval, TSecr).
    pub timestamp: Option<(u32, u32)>,
    /// SACK blocks (left edge, right edge); the first `sack_count` are valid.
    pub sack_blocks: [(u32, u32); MAX_SACK_BLOCKS],
    pub sack_count: u8,
}

/// Most SACK blocks an option can carry (4 × 8 + 2 bytes fill the 40-byte option space).
pub const MAX_SACK_BLOCKS: usize = 4;

impl TcpOptions {
    /// Strict parse of an option list (see the module doc for what is malformed).
    #[inline]
    pub fn parse(opts: &[u8]) -> Result<TcpOptions, WireError> {
        let mut o = TcpOptions::default();
        let mut i = 0;
        while i < opts.len() {
            let k = opts[i];
            if k == kind::EOL {
                break;
            }
            if k == kind::NOP {
                i += 1;
                continue;
            }
            let len = usize::from(*opts.get(i + 1).ok_or(WireError::Malformed)?);
            if len < 2 || i + len > opts.len() {
                return Err(WireError::Malformed);
            }
            let body = &opts[i + 2..i + len];
            match k {
                kind::MSS => {
                    if len != 4 {
                        return Err(WireError::Malformed);
                    }
                    o.mss = Some(u16::from_be_bytes([body[0], body[1]]));
                }
                kind::WSCALE => {
                    if len != 3 {
                        return Err(WireError::Malformed);
                    }
                    o.wscale = Some(body[0].min(MAX_WSCALE));
                }
                kind::SACK_PERMITTED => {
                    if len != 2 {
                        return Err(WireError::Malformed);
                    }
                    o.sack_permitted = true;
                }
                kind::SACK => {
                    if (len - 2) % 8 != 0 || len == 2 {
                        return Err(WireError::Malformed);
                    }
                    let mut n = 0;
                    for b in body.chunks_exact(8).take(MAX_SACK_BLOCKS) {
                        let l = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
                        let r = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
                        o.sack_blocks[n] = (l, r);
                        n += 1;
                    }
                    o.sack_count = n as u8;
                }
                kind::TIMESTAMP => {
                    if len != 10 {
                        return Err(WireError::Malformed);
                    }
                    let v = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                    let e = u32::from_be_bytes([body[4], body[5], body[6], body[7]]);
                    o.timestamp = Some((v, e));
                }
                _ => {}
            }
            i += len;
        }
        Ok(o)
    }

    /// Append the options in Linux's layout: on a SYN `MSS, [SACK-permitted,] TS, NOP, WS`
    /// (with NOP padding where Linux pads); otherwise `NOP, NOP, TS`. Always a multiple of 4.
    #[inline]
    pub fn emit(&self, syn: bool, out: &mut Vec<u8>) {
        if let Some(mss) = self.mss {
            out.push(kind::MSS);
            out.push(4);
            out.extend_from_slice(&mss.to_be_bytes());
        }
        let sack = syn && self.sack_permitted;
        match (sack, self.timestamp) {
            (true, Some(_)) => out.extend_from_slice(&[kind::SACK_PERMITTED, 2]),
            (true, None) => out.extend_from_slice(&[kind::NOP, kind::NOP, kind::SACK_PERMITTED, 2]),
            (false, Some(_)) => out.extend_from_slice(&[kind::NOP, kind::NOP]),
            (false, None) => {}
        }
        if let Some((v, e)) = self.timestamp {
            out.extend_from_slice(&[kind::TIMESTAMP, 10]);
            out.extend_from_slice(&v.to_be_bytes());
            out.extend_from_slice(&e.to_be_bytes());
        }
        if let Some(ws) = self.wscale {
            out.extend_from_slice(&[kind::NOP, kind::WSCALE, 3, ws]);
        }
        // With timestamps only three blocks fit in the 40 bytes.
        let room = if self.timestamp.is_some() {
            3
        } else {
            MAX_SACK_BLOCKS
        };
        let n = usize::from(self.sack_count).min(room);
        if !syn && n > 0 {
            out.extend_from_slice(&[kind::NOP, kind::NOP, kind::SACK, (2 + 8 * n) as u8]);
            for &(l, r) in &self.sack_blocks[..n] {
                out.extend_from_slice(&l.to_be_bytes());
                out.extend_from_slice(&r.to_be_bytes());
            }
        }
    }
}

/// A segment to build: everything but the payload, which [`TcpRepr::emit`] copies in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub options: TcpOptions,
}

impl TcpRepr {
    /// Clears `out` and writes the header, options, `payload` (given as up to two slices, as a
    /// ring buffer hands them out) and the checksum over the pseudo-header.
    pub fn emit(&self, src: Ipv4Addr, dst: Ipv4Addr, payload: [&[u8]; 2], out: &mut Vec<u8>) {
        out.clear();
        self.emit_append(src, dst, payload, out);
    }

    /// [`Self::emit`] appending behind what `out` already holds (an IP/link headroom): the
    /// segment starts at the old `out.len()` and the checksum covers only the segment.
    #[inline]
    pub fn emit_append(
        &self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload: [&[u8]; 2],
        out: &mut Vec<u8>,
    ) {
        self.emit_append_with(src, dst, payload, out, false);
    }

    /// [`Self::emit_append`]; with `partial_checksum` the checksum field gets only the
    /// pseudo-header sum, for a device to complete (see `crate::offload::TxOffload`).
    #[inline]
    pub fn emit_append_with(
        &self,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload: [&[u8]; 2],
        out: &mut Vec<u8>,
        partial_checksum: bool,
    ) {
        let start = out.len();
        let mut head = [0u8; 20];
        head[0..2].copy_from_slice(&self.src_port.to_be_bytes());
        head[2..4].copy_from_slice(&self.dst_port.to_be_bytes());
        head[4..8].copy_from_slice(&self.seq.to_be_bytes());
        head[8..12].copy_from_slice(&self.ack.to_be_bytes());
        head[13] = self.flags;
        head[14..16].copy_from_slice(&self.window.to_be_bytes());
        out.reserve(60 + payload[0].len() + payload[1].len());
        out.extend_from_slice(&head);
        self.options.emit(self.flags & flags::SYN != 0, out);
        let hl = out.len() - start;
        out[start + field::OFFSET] = ((hl / 4) as u8) << 4;
        out.extend_from_slice(payload[0]);
        out.extend_from_slice(payload[1]);
        let c = if partial_checksum {
            let len = u16::try_from(out.len() - start).unwrap_or(u16::MAX);
            checksum::partial_transport_checksum(src, dst, PROTOCOL, len)
        } else {
            // Summing while copying (`checksum::copy_and_sum`) was measured slower here: more
            // instructions than memcpy plus the wide `sum` (see bench/PROFILE.md).
            checksum::transport_checksum(src, dst, PROTOCOL, &out[start..])
        };
        out[start + field::CHECKSUM.start..start + field::CHECKSUM.end]
            .copy_from_slice(&c.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    #[test]
    fn syn_roundtrip_in_linux_layout() {
        let repr = TcpRepr {
            src_port: 40000,
            dst_port: 80,
            seq: 0xdead_beef,
            ack: 0,
            flags: flags::SYN,
            window: 65535,
            options: TcpOptions {
                mss: Some(1460),
                wscale: Some(7),
                sack_permitted: true,
                timestamp: Some((1, 0)),
                ..TcpOptions::default()
            },
        };
        let mut out = Vec::new();
        repr.emit(A, B, [b"", b""], &mut out);
        assert_eq!(out.len(), 40);
        // MSS, SACK-permitted, TS, NOP, WS.
        assert_eq!(&out[20..24], &[2, 4, 0x05, 0xb4]);
        assert_eq!(&out[24..26], &[4, 2]);
        assert_eq!(&out[26..28], &[8, 10]);
        assert_eq!(&out[36..40], &[1, 3, 3, 7]);
        let p = TcpPacket::new_checked(&out[..]).unwrap();
        assert!(p.verify_checksum(A, B));
        assert!(!p.verify_checksum(A, Ipv4Addr::new(10, 0, 0, 3)));
        assert_eq!(TcpOptions::parse(p.options()), Ok(repr.options));
        assert_eq!(p.seq(), 0xdead_beef);
        assert_eq!(p.flags(), flags::SYN);
    }

    #[test]
    fn sack_blocks_roundtrip() {
        let mut o = TcpOptions {
            timestamp: Some((5, 6)),
            sack_count: 3,
            ..TcpOptions::default()
        };
        o.sack_blocks[..3].copy_from_slice(&[(10, 20), (30, 40), (50, 60)]);
        let mut out = Vec::new();
        o.emit(false, &mut out);
        assert_eq!(out.len(), 40);
        assert_eq!(TcpOptions::parse(&out), Ok(o));
    }

    #[test]
    fn malformed_options_rejected_unknown_skipped() {
        assert_eq!(TcpOptions::parse(&[2, 0]), Err(WireError::Malformed));
        assert_eq!(TcpOptions::parse(&[2, 1, 0, 0]), Err(WireError::Malformed));
        assert_eq!(TcpOptions::parse(&[2, 4, 5]), Err(WireError::Malformed));
        assert_eq!(
            TcpOptions::parse(&[2, 5, 5, 0xb4, 0]),
            Err(WireError::Malformed)
        );
        assert_eq!(
            TcpOptions::parse(&[8, 8, 0, 0, 0, 0, 0, 0]),
            Err(WireError::Malformed)
        );
        assert_eq!(TcpOptions::parse(&[3]), Err(WireError::Malformed));
        let o = TcpOptions::parse(&[99, 4, 1, 2, 3, 3, 20, 0]).unwrap();
        assert_eq!(o.wscale, Some(14));
        // Bytes after EOL are ignored.
        assert_eq!(TcpOptions::parse(&[0, 2, 0]), Ok(TcpOptions::default()));
    }

    #[test]
    fn header_length_checked() {
        let mut b = [0u8; 24];
        b[12] = 4 << 4;
        assert_eq!(
            TcpPacket::new_checked(&b[..]).err(),
            Some(WireError::Malformed)
        );
        b[12] = 7 << 4;
        assert_eq!(
            TcpPacket::new_checked(&b[..]).err(),
            Some(WireError::Truncated)
        );
        assert_eq!(
            TcpPacket::new_checked(&b[..10]).err(),
            Some(WireError::Truncated)
        );
        b[12] = 6 << 4;
        assert_eq!(TcpPacket::new_checked(&b[..]).unwrap().options().len(), 4);
    }

    #[test]
    fn emit_append_behind_headroom_matches_emit() {
        let repr = TcpRepr {
            src_port: 5000,
            dst_port: 80,
            seq: 7,
            ack: 9,
            flags: flags::ACK | flags::PSH,
            window: 512,
            options: TcpOptions {
                timestamp: Some((3, 4)),
                ..TcpOptions::default()
            },
        };
        let mut plain = Vec::new();
        repr.emit(A, B, [b"hello ", b"world!!"], &mut plain);
        // An odd-length headroom: the checksum must cover the segment only.
        let mut framed = alloc::vec![0xAAu8; 35];
        repr.emit_append(A, B, [b"hello ", b"world!!"], &mut framed);
        assert_eq!(&framed[..35], &[0xAA; 35][..]);
        assert_eq!(&framed[35..], &plain[..]);
        let pkt = TcpPacket::new_checked(&framed[35..]).unwrap();
        assert!(pkt.verify_checksum(A, B));
        assert_eq!(pkt.payload(), b"hello world!!");
    }

    #[test]
    fn checksum_holds_for_every_split_of_the_payload() {
        let data: alloc::vec::Vec<u8> = (0..200u32).map(|i| (i * 37 + 11) as u8).collect();
        for syn in [false, true] {
            let repr = TcpRepr {
                src_port: 1234,
                dst_port: 80,
                seq: 0xffff_fff0,
                ack: 0x1234_5678,
                flags: flags::ACK | if syn { flags::SYN } else { 0 },
                window: 0xffff,
                options: TcpOptions {
                    mss: syn.then_some(1460),
                    ..TcpOptions::default()
                },
            };
            for len in [0usize, 1, 2, 31, 32, 33, 64, 199, 200] {
                for split in [0, 1, 2, 3, len / 2, len.saturating_sub(1), len] {
                    let split = split.min(len);
                    let (a, b) = data[..len].split_at(split);
                    let mut out = alloc::vec![0u8; 3];
                    repr.emit_append(A, B, [a, b], &mut out);
                    let pkt = TcpPacket::new_checked(&out[3..]).unwrap();
                    assert!(
                        pkt.verify_checksum(A, B),
                        "len {len} split {split} syn {syn}"
                    );
                    assert_eq!(pkt.payload(), &data[..len]);
                }
            }
        }
    }
}
