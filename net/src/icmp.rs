//! ICMPv4 policy (RFC 792, RFC 1122 §3.2.2, RFC 1812 §4.3.2): which errors we may generate,
//! how fast, how they are built, how received errors map to a Linux errno, and the bounded
//! queue of echo replies for a local `ping`.
//!
//! It never transmits or looks up sockets: the stack (`net::stack`) sends what this builds and
//! hands parsed errors to UDP and the transport hook.

use alloc::collections::VecDeque;
use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use crate::errno::Errno;
use crate::ratelimit::TokenBucket;
use crate::snmp::IcmpStats;
use crate::time::Instant;
use crate::wire::icmp::{is_error_type, msg_type, unreach, IcmpRepr};
use crate::wire::ipv4::{protocol, Packet as Ipv4Packet};

/// Generated ICMP errors per second and burst (Linux icmp_msgs_per_sec / icmp_msgs_burst).
pub const ICMP_ERROR_RATE: u32 = 1000;
pub const ICMP_ERROR_BURST: u32 = 50;
/// Bytes of the offending datagram quoted in an error: as much as keeps the error within 576
/// bytes (RFC 1812 §4.3.2.3), at least header + 8 (RFC 792).
pub const ICMP_QUOTE_MAX: usize = 576 - 20 - 8;
/// Echo replies waiting for a local reader, by count and bytes; more are dropped and counted
/// (InEchoRepsDropped).
pub const ECHO_QUEUE_REPLIES: usize = 32;
pub const ECHO_QUEUE_BYTES: usize = 256 * 1024;

/// A received (or locally generated) ICMP error, as the transport layers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpError {
    /// Destination unreachable with its code (0 net, 1 host, 2 protocol, 3 port, ...).
    DstUnreachable { code: u8 },
    /// Fragmentation needed and DF set, with the next-hop MTU (0 when the router gave none).
    FragNeeded { mtu: u16 },
    /// Time exceeded (0 TTL in transit, 1 reassembly).
    TimeExceeded { code: u8 },
    /// Parameter problem.
    ParamProblem,
}

impl IcmpError {
    /// The errno a socket reports, as Linux's icmp_err_convert table.
    pub fn errno(&self) -> Errno {
        match *self {
            IcmpError::DstUnreachable { code } => match code {
                unreach::NET | 6 | 9 | 11 => Errno::ENETUNREACH,
                unreach::HOST | 10 | 12 => Errno::EHOSTUNREACH,
                unreach::PROTOCOL => Errno::ENOPROTOOPT,
                unreach::PORT => Errno::ECONNREFUSED,
                unreach::SOURCE_ROUTE_FAILED => Errno::EOPNOTSUPP,
                7 => Errno::EHOSTDOWN,
                _ => Errno::EHOSTUNREACH,
            },
            IcmpError::FragNeeded { .. } => Errno::EMSGSIZE,
            IcmpError::TimeExceeded { .. } => Errno::EHOSTUNREACH,
            // Linux says EPROTO, which `Errno` does not carry.
            IcmpError::ParamProblem => Errno::EHOSTUNREACH,
        }
    }

    /// Hard errors abort a connection attempt (Linux's `fatal` column): unreachable
    /// protocol/port, source route failed, and the administratively prohibited codes.
    pub fn is_hard(&self) -> bool {
        match *self {
            IcmpError::DstUnreachable { code } => matches!(code, 2 | 3 | 5 | 9 | 10 | 13),
            IcmpError::ParamProblem => true,
            _ => false,
        }
    }
}

/// The offending datagram as quoted in an ICMP error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quoted<'a> {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    /// The quoted transport bytes (at least 8 when the error is usable).
    pub transport: &'a [u8],
}

impl<'a> Quoted<'a> {
    /// Parse the quote at the end of an ICMP error: an IPv4 header and at least 8 bytes of its
    /// payload. Its total length may exceed what is quoted; only the header must be whole.
    pub fn parse(data: &'a [u8]) -> Option<Self> {
        if data.len() < 20 || data[0] >> 4 != 4 {
            return None;
        }
        let hl = usize::from(data[0] & 0x0f) * 4;
        if hl < 20 || data.len() < hl + 8 {
            return None;
        }
        let p = Ipv4Packet::new_unchecked(&data[..hl]);
        Some(Quoted {
            src: p.src(),
            dst: p.dst(),
            protocol: p.protocol(),
            transport: &data[hl..],
        })
    }

    /// Source and destination ports of a quoted UDP or TCP header.
    pub fn ports(&self) -> Option<(u16, u16)> {
        let t = self.transport;
        (t.len() >= 4).then(|| {
            (
                u16::from_be_bytes([t[0], t[1]]),
                u16::from_be_bytes([t[2], t[3]]),
            )
        })
    }
}

/// Whether RFC 1122 §3.2.2 allows an error about the datagram `header` (+ `payload`):
/// never about an ICMP error, a non-initial fragment, a datagram to a broadcast or multicast
/// destination (`dst_is_broadcast` covers subnet broadcast), or from an address that does not
/// name one host.
pub fn may_send_error(header: &[u8], payload: &[u8], dst_is_broadcast: bool) -> bool {
    if header.len() < 20 {
        return false;
    }
    let p = Ipv4Packet::new_unchecked(header);
    let src = p.src();
    if dst_is_broadcast || p.dst().is_multicast() || p.dst().is_broadcast() {
        return false;
    }
    if src.is_unspecified() || src.is_broadcast() || src.is_multicast() {
        return false;
    }
    if p.frag_offset() != 0 {
        return false;
    }
    if p.protocol() == protocol::ICMP {
        // Errors only about informational messages (echo etc.), never about errors or
        // unknown/garbled ICMP.
        match payload.first() {
            Some(&t) if !is_error_type(t) && matches!(t, 0 | 8 | 13 | 14 | 15 | 16 | 17 | 18) => {}
            _ => return false,
        }
    }
    true
}

/// Build the ICMP message for an error of `msg_type`/`code` (with `rest`, e.g. the MTU) about
/// `header` + `payload`, quoting as much as [`ICMP_QUOTE_MAX`] allows.
pub fn build_error(msg: u8, code: u8, rest_mtu: u16, header: &[u8], payload: &[u8]) -> Vec<u8> {
    let take = ICMP_QUOTE_MAX
        .saturating_sub(header.len())
        .min(payload.len());
    let mut quote = Vec::with_capacity(header.len() + take);
    quote.extend_from_slice(header);
    quote.extend_from_slice(&payload[..take]);
    let repr = match msg {
        msg_type::DST_UNREACHABLE => IcmpRepr::DstUnreachable {
            code,
            next_hop_mtu: rest_mtu,
            data: &quote,
        },
        _ => IcmpRepr::TimeExceeded { code, data: &quote },
    };
    let mut out = vec![0u8; repr.buffer_len()];
    // Cannot fail: `out` is exactly the size the repr needs.
    let _ = repr.emit(&mut out);
    out
}

/// An echo reply received for a local pinger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoReply {
    pub from: Ipv4Addr,
    pub ident: u16,
    pub seq: u16,
    pub data: Vec<u8>,
    pub received_at: Instant,
}

/// ICMP state: counters, the error rate limiter and the echo-reply queue.
#[derive(Debug)]
pub struct Icmp {
    pub stats: IcmpStats,
    errors: TokenBucket,
    echo_replies: VecDeque<EchoReply>,
    echo_bytes: usize,
}

impl Default for Icmp {
    fn default() -> Self {
        Self::new()
    }
}

impl Icmp {
    pub fn new() -> Self {
        Icmp {
            stats: IcmpStats::default(),
            errors: TokenBucket::new(ICMP_ERROR_RATE, ICMP_ERROR_BURST),
            echo_replies: VecDeque::new(),
            echo_bytes: 0,
        }
    }

    /// Take a token for one generated error; counts OutRateLimited when none is left.
    pub fn allow_error(&mut self, now: Instant) -> bool {
        let ok = self.errors.try_take(now);
        if !ok {
            self.stats.out_rate_limited += 1;
        }
        ok
    }

    /// Queue an echo reply for the local reader (bounded).
    pub fn push_echo_reply(&mut self, r: EchoReply) {
        if self.echo_replies.len() >= ECHO_QUEUE_REPLIES
            || self.echo_bytes + r.data.len() > ECHO_QUEUE_BYTES
        {
            self.stats.in_echo_reps_dropped += 1;
            return;
        }
        self.echo_bytes += r.data.len();
        self.echo_replies.push_back(r);
    }

    /// The oldest echo reply not yet read, or the oldest carrying `ident`.
    pub fn pop_echo_reply(&mut self, ident: Option<u16>) -> Option<EchoReply> {
        let i = match ident {
            None => 0,
            Some(id) => self.echo_replies.iter().position(|r| r.ident == id)?,
        };
        let r = self.echo_replies.remove(i)?;
        self.echo_bytes -= r.data.len();
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::Ipv4Repr;

    fn header(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, off: u16) -> [u8; 20] {
        let mut h = [0u8; 20];
        Ipv4Repr {
            src,
            dst,
            protocol: proto,
            ttl: 64,
            tos: 0,
            ident: 1,
            dont_frag: false,
            more_frags: false,
            frag_offset: off,
            payload_len: 0,
        }
        .emit(&mut h)
        .unwrap();
        h
    }

    #[test]
    fn never_an_error_about_an_error_a_broadcast_or_a_later_fragment() {
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let b = Ipv4Addr::new(10, 0, 0, 2);
        assert!(may_send_error(&header(a, b, 17, 0), &[0; 8], false));
        assert!(!may_send_error(&header(a, b, 17, 8), &[0; 8], false));
        assert!(!may_send_error(
            &header(a, Ipv4Addr::BROADCAST, 17, 0),
            &[0; 8],
            false
        ));
        assert!(!may_send_error(&header(a, b, 17, 0), &[0; 8], true));
        assert!(!may_send_error(&header(a, b, 1, 0), &[3, 3, 0, 0], false));
        assert!(may_send_error(&header(a, b, 1, 0), &[8, 0, 0, 0], false));
        assert!(!may_send_error(
            &header(Ipv4Addr::UNSPECIFIED, b, 17, 0),
            &[0; 8],
            false
        ));
    }

    #[test]
    fn error_quotes_header_and_data_and_parses_back() {
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let b = Ipv4Addr::new(10, 0, 0, 2);
        let h = header(a, b, 17, 0);
        let udp = [0x30, 0x39, 0x00, 0x35, 0, 8, 0, 0];
        let m = build_error(msg_type::DST_UNREACHABLE, unreach::PORT, 0, &h, &udp);
        let p = crate::wire::icmp::Packet::new_checked(&m[..]).unwrap();
        let IcmpRepr::DstUnreachable { code, data, .. } = IcmpRepr::parse(&p).unwrap() else {
            panic!("not an unreachable");
        };
        assert_eq!(code, unreach::PORT);
        let q = Quoted::parse(data).unwrap();
        assert_eq!((q.src, q.dst, q.protocol), (a, b, 17));
        assert_eq!(q.ports(), Some((12345, 53)));
        assert_eq!(
            IcmpError::DstUnreachable { code }.errno(),
            Errno::ECONNREFUSED
        );
    }

    #[test]
    fn rate_limit_counts() {
        let mut i = Icmp::new();
        let now = Instant::from_millis(5);
        let sent = (0..200).filter(|_| i.allow_error(now)).count();
        assert_eq!(sent, ICMP_ERROR_BURST as usize);
        assert_eq!(i.stats.out_rate_limited, 200 - u64::from(ICMP_ERROR_BURST));
    }
}
