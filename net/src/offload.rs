//! Transmit offloads in software: completing a partial TCP checksum and cutting a TCP
//! super-segment into MSS-sized segments (TCP segmentation offload, TSO).
//!
//! The stack asks for these per frame ([`TxOffload`]) when it hands a frame to a device that
//! declared them in its [`crate::dev::Capabilities`]. This module is what happens when nobody
//! in hardware does the work: the stack's fallback for a device without the offload, the
//! default of [`crate::dev::Device::transmit_offload`], and what a simulated NIC runs. The
//! rules are those of a TSO NIC and of Linux's software GSO: every segment gets the
//! super-segment's TCP header and options with its own sequence number; CWR stays only on the
//! first segment, FIN and PSH only on the last; each IPv4 header gets its own total length,
//! an identification one higher than the previous segment's, and its own checksum.

use alloc::vec::Vec;
use core::net::Ipv4Addr;

use crate::wire::checksum;
use crate::wire::ipv4::protocol;
use crate::wire::tcp::flags;

/// Offloads requested for one frame handed to a device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxOffload {
    /// The TCP checksum field holds only the pseudo-header sum (this segment's length
    /// included), folded and not inverted, as Linux's CHECKSUM_PARTIAL and virtio-net's
    /// NEEDS_CSUM have it: the device sums the TCP header and payload over it and writes the
    /// inverted result in its place.
    pub tcp_checksum: bool,
    /// Cut the TCP payload into segments of at most this many bytes (TSO); 0: send as is.
    /// Implies `tcp_checksum`.
    pub tcp_mss: u16,
}

impl TxOffload {
    /// A finished frame: nothing for the device to do.
    pub const NONE: TxOffload = TxOffload {
        tcp_checksum: false,
        tcp_mss: 0,
    };

    /// Whether the frame is finished as it is.
    #[inline]
    pub fn is_none(&self) -> bool {
        !self.tcp_checksum && self.tcp_mss == 0
    }
}

/// Why a frame could not be completed: it is not the IPv4/TCP frame its offload says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotTcp;

/// Ethernet header length.
const ETH_LEN: usize = 14;
/// The TCP checksum field's offset in the TCP header.
const TCP_CHECKSUM_AT: usize = 16;

/// The value a partial TCP checksum field holds for a segment of `tcp_len` bytes.
#[inline]
pub fn partial_tcp_checksum(src: Ipv4Addr, dst: Ipv4Addr, tcp_len: u16) -> u16 {
    checksum::partial_transport_checksum(src, dst, protocol::TCP, tcp_len)
}

/// Finish the partial checksum of `segment` (TCP header and payload; its checksum field holds
/// [`partial_tcp_checksum`]).
pub fn complete_tcp_checksum(segment: &mut [u8]) -> Result<(), NotTcp> {
    if segment.len() < 20 {
        return Err(NotTcp);
    }
    let c = !checksum::sum(0, segment);
    segment[TCP_CHECKSUM_AT..TCP_CHECKSUM_AT + 2].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

/// The TCP header length of `segment`, checked against its length.
fn tcp_header_len(segment: &[u8]) -> Result<usize, NotTcp> {
    let hl = usize::from(segment.get(12).ok_or(NotTcp)? >> 4) * 4;
    if hl < 20 || hl > segment.len() {
        return Err(NotTcp);
    }
    Ok(hl)
}

/// Cut the TCP `segment` (header, options, payload; any checksum) from `src` to `dst` into
/// segments of at most `mss` payload bytes, each handed to `out` finished (checksum written).
/// A segment whose payload already fits is handed over as one piece. `scratch` is reused for
/// every piece.
pub fn split_tcp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    segment: &[u8],
    mss: usize,
    scratch: &mut Vec<u8>,
    out: &mut dyn FnMut(&[u8]),
) -> Result<(), NotTcp> {
    cut_tcp(src, dst, &[], segment, mss, scratch, &mut |_, _, _| {}, out)
}

/// The one cutting loop: each piece is built in `buf` as `head` (headers to repeat in front,
/// possibly none), the TCP header with its own sequence number, flags and checksum, and at
/// most `mss` bytes of payload; `fix_head(head, piece index, TCP length)` then adjusts the
/// repeated headers before `out` gets the piece.
#[allow(clippy::too_many_arguments)]
fn cut_tcp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    head: &[u8],
    segment: &[u8],
    mss: usize,
    buf: &mut Vec<u8>,
    fix_head: &mut dyn FnMut(&mut [u8], usize, usize),
    out: &mut dyn FnMut(&[u8]),
) -> Result<(), NotTcp> {
    let hl = tcp_header_len(segment)?;
    if mss == 0 {
        return Err(NotTcp);
    }
    let (header, payload) = segment.split_at(hl);
    let seq = u32::from_be_bytes([header[4], header[5], header[6], header[7]]);
    let all_flags = header[13];
    let count = payload.len().div_ceil(mss).max(1);
    let at = head.len();
    for i in 0..count {
        let piece = &payload[(i * mss).min(payload.len())..((i + 1) * mss).min(payload.len())];
        buf.clear();
        buf.extend_from_slice(head);
        buf.extend_from_slice(header);
        buf.extend_from_slice(piece);
        let (head_part, tcp) = buf.split_at_mut(at);
        let s = seq.wrapping_add((i * mss) as u32);
        tcp[4..8].copy_from_slice(&s.to_be_bytes());
        let mut fl = all_flags;
        if i != 0 {
            fl &= !flags::CWR;
        }
        if i + 1 != count {
            fl &= !(flags::FIN | flags::PSH);
        }
        tcp[13] = fl;
        tcp[TCP_CHECKSUM_AT..TCP_CHECKSUM_AT + 2].fill(0);
        let c = checksum::transport_checksum(src, dst, protocol::TCP, tcp);
        tcp[TCP_CHECKSUM_AT..TCP_CHECKSUM_AT + 2].copy_from_slice(&c.to_be_bytes());
        fix_head(head_part, i, tcp.len());
        out(buf);
    }
    Ok(())
}

/// Do in software what `offload` asks of a device for `frame` (an Ethernet frame carrying an
/// IPv4 packet carrying TCP): hand `out` each finished frame, one per segment. What a NIC
/// without the offload, or a simulated one with it, puts on the wire.
pub fn finish_frame(
    frame: &[u8],
    offload: TxOffload,
    out: &mut dyn FnMut(&[u8]),
) -> Result<(), NotTcp> {
    finish_at(frame, ETH_LEN, offload, out)
}

/// [`finish_frame`] for an IPv4 packet without a link header (the stack's queue for a next
/// hop that is still being resolved holds packets, not frames).
pub fn finish_packet(
    packet: &[u8],
    offload: TxOffload,
    out: &mut dyn FnMut(&[u8]),
) -> Result<(), NotTcp> {
    finish_at(packet, 0, offload, out)
}

/// [`finish_frame`] with the IPv4 header at `ip_at` of `buf`. Each piece's IPv4 header gets
/// its own total length, an identification one higher than the previous piece's, and its
/// own checksum.
fn finish_at(
    buf: &[u8],
    ip_at: usize,
    offload: TxOffload,
    out: &mut dyn FnMut(&[u8]),
) -> Result<(), NotTcp> {
    if offload.is_none() {
        out(buf);
        return Ok(());
    }
    let ip = buf.get(ip_at..).ok_or(NotTcp)?;
    let ihl = usize::from(ip.first().ok_or(NotTcp)? & 0x0f) * 4;
    if ip.len() < 20 || ihl < 20 || ip[0] >> 4 != 4 || ip[9] != protocol::TCP {
        return Err(NotTcp);
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if total < ihl || total > ip.len() {
        return Err(NotTcp);
    }
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let ident = u16::from_be_bytes([ip[4], ip[5]]);
    let mss = if offload.tcp_mss == 0 {
        usize::MAX
    } else {
        usize::from(offload.tcp_mss)
    };
    let mut piece = Vec::new();
    cut_tcp(
        src,
        dst,
        &buf[..ip_at + ihl],
        &ip[ihl..total],
        mss,
        &mut piece,
        &mut |head, i, tcp_len| {
            let ipl = &mut head[ip_at..];
            let len = (ihl + tcp_len) as u16;
            ipl[2..4].copy_from_slice(&len.to_be_bytes());
            ipl[4..6].copy_from_slice(&ident.wrapping_add(i as u16).to_be_bytes());
            ipl[10..12].fill(0);
            let c = checksum::checksum(&ipl[..ihl]);
            ipl[10..12].copy_from_slice(&c.to_be_bytes());
        },
        out,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ethernet::{ethertype, EthernetRepr};
    use crate::wire::ipv4::Ipv4Repr;
    use crate::wire::tcp::{TcpOptions, TcpRepr};
    use crate::wire::MacAddr;
    use alloc::vec;

    const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// An Ethernet/IPv4/TCP frame with `payload`, its TCP checksum left partial.
    fn super_frame(fl: u8, payload: &[u8]) -> Vec<u8> {
        let repr = TcpRepr {
            src_port: 4000,
            dst_port: 80,
            seq: 0xffff_ff00,
            ack: 7,
            flags: fl,
            window: 512,
            options: TcpOptions {
                timestamp: Some((11, 22)),
                ..TcpOptions::default()
            },
        };
        let mut seg = Vec::new();
        repr.emit(A, B, [payload, &[]], &mut seg);
        let partial = partial_tcp_checksum(A, B, seg.len() as u16);
        seg[16..18].copy_from_slice(&partial.to_be_bytes());
        let ip = Ipv4Repr {
            src: A,
            dst: B,
            protocol: protocol::TCP,
            ttl: 64,
            tos: 0,
            ident: 0xfffe,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            payload_len: seg.len(),
        };
        let mut frame = vec![0u8; ETH_LEN + 20];
        EthernetRepr {
            src: MacAddr([2, 0, 0, 0, 0, 1]),
            dst: MacAddr([2, 0, 0, 0, 0, 2]),
            ethertype: ethertype::IPV4,
        }
        .emit(&mut frame)
        .unwrap();
        ip.emit(&mut frame[ETH_LEN..]).unwrap();
        frame.extend_from_slice(&seg);
        frame
    }

    #[test]
    fn a_partial_checksum_completes_to_the_full_one() {
        let payload: Vec<u8> = (0..999u32).map(|i| (i * 7) as u8).collect();
        let frame = super_frame(flags::ACK | flags::PSH, &payload);
        let mut got = Vec::new();
        finish_frame(
            &frame,
            TxOffload {
                tcp_checksum: true,
                tcp_mss: 0,
            },
            &mut |f| got.push(f.to_vec()),
        )
        .unwrap();
        assert_eq!(got.len(), 1);
        assert!(checksum::verify_transport(
            A,
            B,
            protocol::TCP,
            &got[0][ETH_LEN + 20..]
        ));
        assert_eq!(&got[0][..ETH_LEN + 20 + 16], &frame[..ETH_LEN + 20 + 16]);
    }

    #[test]
    fn a_super_segment_is_cut_into_mss_segments_with_flags_seq_ids_and_checksums() {
        let payload: Vec<u8> = (0..4000u32).map(|i| (i % 251) as u8).collect();
        let frame = super_frame(flags::ACK | flags::PSH | flags::FIN | flags::CWR, &payload);
        let mut got = Vec::new();
        finish_frame(
            &frame,
            TxOffload {
                tcp_checksum: true,
                tcp_mss: 1448,
            },
            &mut |f| got.push(f.to_vec()),
        )
        .unwrap();
        assert_eq!(got.len(), 3);
        let mut rebuilt = Vec::new();
        for (i, f) in got.iter().enumerate() {
            let ip = &f[ETH_LEN..];
            assert_eq!(checksum::checksum(&ip[..20]), 0, "IP checksum of {i}");
            assert_eq!(usize::from(u16::from_be_bytes([ip[2], ip[3]])), ip.len());
            assert_eq!(
                u16::from_be_bytes([ip[4], ip[5]]),
                0xfffeu16.wrapping_add(i as u16)
            );
            let tcp = &ip[20..];
            assert!(checksum::verify_transport(A, B, protocol::TCP, tcp));
            let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
            assert_eq!(seq, 0xffff_ff00u32.wrapping_add(1448 * i as u32));
            let fl = tcp[13];
            assert_eq!(fl & flags::CWR != 0, i == 0);
            assert_eq!(fl & (flags::FIN | flags::PSH) != 0, i == 2);
            assert_eq!(fl & flags::ACK, flags::ACK);
            // Options (the timestamp) are on every segment.
            assert_eq!(tcp[12] >> 4, 8);
            rebuilt.extend_from_slice(&tcp[32..]);
        }
        assert_eq!(rebuilt, payload);
        assert_eq!(got[0].len(), ETH_LEN + 20 + 32 + 1448);
        assert_eq!(got[2].len(), ETH_LEN + 20 + 32 + 4000 - 2 * 1448);
    }

    proptest::proptest! {
        /// Any payload cut at any MSS: the segments carry the payload in order, each at most
        /// one MSS, each with a good checksum and the right sequence number.
        #[test]
        fn cutting_keeps_the_stream(len in 0usize..9000, mss in 1usize..2000) {
            let payload: Vec<u8> = (0..len).map(|i| (i * 13 % 256) as u8).collect();
            let frame = super_frame(flags::ACK | flags::PSH, &payload);
            let mut rebuilt = Vec::new();
            let mut count = 0;
            let r = finish_frame(
                &frame,
                TxOffload { tcp_checksum: true, tcp_mss: mss as u16 },
                &mut |f| {
                    let tcp = &f[ETH_LEN + 20..];
                    assert!(checksum::verify_transport(A, B, protocol::TCP, tcp));
                    let seq = u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]);
                    assert_eq!(seq, 0xffff_ff00u32.wrapping_add(rebuilt.len() as u32));
                    assert!(tcp.len() - 32 <= mss);
                    rebuilt.extend_from_slice(&tcp[32..]);
                    count += 1;
                },
            );
            proptest::prop_assert!(r.is_ok());
            proptest::prop_assert_eq!(rebuilt, payload);
            proptest::prop_assert_eq!(count, len.div_ceil(mss).max(1));
        }
    }

    #[test]
    fn frames_that_are_not_ipv4_tcp_are_refused() {
        let frame = super_frame(flags::ACK, b"abc");
        let off = TxOffload {
            tcp_checksum: true,
            tcp_mss: 100,
        };
        for bad in [&frame[..10], &frame[..ETH_LEN + 19], &frame[..ETH_LEN + 30]] {
            assert_eq!(finish_frame(bad, off, &mut |_| panic!()), Err(NotTcp));
        }
        let mut udp = frame.clone();
        udp[ETH_LEN + 9] = protocol::UDP;
        assert_eq!(finish_frame(&udp, off, &mut |_| panic!()), Err(NotTcp));
        let mut bad_offset = frame.clone();
        bad_offset[ETH_LEN + 20 + 12] = 0x20;
        assert_eq!(
            finish_frame(&bad_offset, off, &mut |_| panic!()),
            Err(NotTcp)
        );
    }
}
