//! IPv4 processing that is not glue (the seeds' `ip_rcv`, `ip_fragment`, `ip_defrag`): input
//! header checks with a named counter per drop, fragment reassembly with bounds and a timeout,
//! output fragmentation, and IP identification numbers per destination.
//!
//! It never transmits, routes or delivers: the stack (`net::stack`) calls these and moves the
//! results. Options are validated and skipped, never honoured (no source routing).

use alloc::vec;
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use crate::errno::Errno;
use crate::rand::Rng;
use crate::snmp::{IpDropStats, IpStats};
use crate::time::{Duration, Instant};
use crate::wire::ipv4::{HeaderError, Ipv4Repr, Packet, HEADER_LEN, MAX_PACKET_LEN};

/// Default TTL of datagrams we originate (Linux ip_default_ttl).
pub const DEFAULT_TTL: u8 = 64;

/// A header that passed every input check.
#[derive(Debug, Clone, Copy)]
pub struct Accepted<'a> {
    pub repr: Ipv4Repr,
    /// The header as received, options included.
    pub header: &'a [u8],
    /// The payload, bounded by the total length (link padding removed).
    pub payload: &'a [u8],
}

/// Check a received IPv4 packet (version, 5 ≤ IHL, IHL·4 ≤ total length ≤ frame length,
/// header checksum, options, TTL ≠ 0, a source that is not broadcast/multicast). A drop
/// increments InHdrErrors/InTruncatedPkts/InAddrErrors as Linux does plus the finer reason in
/// `drops`. Counts InReceives.
#[inline]
pub fn check_input<'a>(
    buf: &'a [u8],
    stats: &mut IpStats,
    drops: &mut IpDropStats,
) -> Option<Accepted<'a>> {
    stats.in_receives += 1;
    let err = |e: HeaderError, stats: &mut IpStats, drops: &mut IpDropStats| match e {
        HeaderError::Runt | HeaderError::TotalLengthBeyondFrame => stats.in_truncated_pkts += 1,
        HeaderError::BadVersion => {
            stats.in_hdr_errors += 1;
            drops.bad_version += 1;
        }
        HeaderError::BadIhl => {
            stats.in_hdr_errors += 1;
            drops.bad_ihl += 1;
        }
        HeaderError::IhlBeyondTotalLength => {
            stats.in_hdr_errors += 1;
            drops.ihl_beyond_total_len += 1;
        }
        HeaderError::BadChecksum => {
            stats.in_hdr_errors += 1;
            stats.in_csum_errors += 1;
        }
        HeaderError::BadOptions => {
            stats.in_hdr_errors += 1;
            drops.bad_options += 1;
        }
    };
    let p = match Packet::new_checked(buf) {
        Ok(p) => p,
        Err(e) => {
            err(e, stats, drops);
            return None;
        }
    };
    let repr = match Ipv4Repr::parse(&p) {
        Ok(r) => r,
        Err(e) => {
            err(e, stats, drops);
            return None;
        }
    };
    if repr.ttl == 0 {
        stats.in_hdr_errors += 1;
        drops.ttl_zero += 1;
        return None;
    }
    if repr.src.is_broadcast() || repr.src.is_multicast() {
        stats.in_addr_errors += 1;
        drops.bad_src_addr += 1;
        return None;
    }
    let hl = p.header_len();
    let total = usize::from(p.total_len());
    Some(Accepted {
        repr,
        header: &buf[..hl],
        payload: &buf[hl..total],
    })
}

/// Number of IP ID counters: destinations hash into these buckets, so IDs are not a single
/// global sequence an observer could use to count our traffic (cf. Linux's ip_idents).
pub const IP_ID_BUCKETS: usize = 1024;

/// Per-destination IP identification numbers.
#[derive(Debug, Clone)]
pub struct IpIdGen {
    key: u64,
    counters: Vec<u16>,
}

impl IpIdGen {
    pub fn new(rng: &mut Rng) -> Self {
        let mut counters = vec![0u16; IP_ID_BUCKETS];
        for c in counters.iter_mut() {
            *c = rng.next_u32() as u16;
        }
        IpIdGen {
            key: rng.next_u64(),
            counters,
        }
    }

    /// The next ID for datagrams from `src` to `dst` carrying `protocol`.
    pub fn next(&mut self, src: Ipv4Addr, dst: Ipv4Addr, protocol: u8) -> u16 {
        let mut h = self.key
            ^ (u64::from(u32::from(src)) << 32 | u64::from(u32::from(dst)))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ u64::from(protocol);
        h ^= h >> 31;
        h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        h ^= h >> 29;
        let i = (h as usize) % IP_ID_BUCKETS;
        self.counters[i] = self.counters[i].wrapping_add(1);
        self.counters[i]
    }
}

/// Split `payload` behind `repr` into packets no larger than `mtu` and hand each to `out`.
/// One packet when it fits; `EMSGSIZE` (FragFails) when it does not and DF is set or the MTU
/// cannot carry 8 bytes of payload. Counts FragOKs and FragCreates.
pub fn fragment(
    repr: &Ipv4Repr,
    payload: &[u8],
    mtu: usize,
    stats: &mut IpStats,
    out: &mut dyn FnMut(Vec<u8>),
) -> Result<(), Errno> {
    if HEADER_LEN + payload.len() > MAX_PACKET_LEN {
        return Err(Errno::EMSGSIZE);
    }
    let build = |r: &Ipv4Repr, data: &[u8]| -> Vec<u8> {
        let mut p = vec![0u8; HEADER_LEN + data.len()];
        let r = Ipv4Repr {
            payload_len: data.len(),
            ..*r
        };
        // Cannot fail: the buffer is sized for it and the lengths were checked above.
        let _ = r.emit(&mut p);
        p[HEADER_LEN..].copy_from_slice(data);
        p
    };
    if HEADER_LEN + payload.len() <= mtu {
        out(build(repr, payload));
        return Ok(());
    }
    let chunk = mtu.saturating_sub(HEADER_LEN) / 8 * 8;
    if repr.dont_frag || chunk == 0 {
        stats.frag_fails += 1;
        return Err(Errno::EMSGSIZE);
    }
    let mut off = 0;
    while off < payload.len() {
        let end = (off + chunk).min(payload.len());
        let last = end == payload.len();
        let r = Ipv4Repr {
            frag_offset: repr.frag_offset + off as u16,
            more_frags: repr.more_frags || !last,
            ..*repr
        };
        out(build(&r, &payload[off..end]));
        stats.frag_creates += 1;
        off = end;
    }
    stats.frag_oks += 1;
    Ok(())
}

/// Bound on datagrams being reassembled at once; the oldest set is evicted beyond it, so a
/// stream of never-completing first fragments cannot hold memory.
pub const REASM_MAX_SETS: usize = 64;
/// Bound on fragment payload bytes held for all sets together (four maximal datagrams;
/// Linux's ipfrag_high_thresh is 4 MiB on machines with far more memory).
pub const REASM_MAX_BYTES: usize = 256 * 1024;
/// An incomplete set is freed this long after its first fragment (RFC 791's upper bound on the
/// reassembly timer; Linux ipfrag_time is 30 s).
pub const REASM_TIMEOUT: Duration = Duration::from_secs(30);
/// Bytes of the first fragment kept for an ICMP time-exceeded quote (header plus 8).
const QUOTE_KEEP: usize = 60 + 8;

#[derive(Debug)]
struct FragSet {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: u8,
    ident: u16,
    created: Instant,
    /// (offset, data), sorted by offset, never overlapping.
    frags: Vec<(usize, Vec<u8>)>,
    /// Payload length, known once the last fragment (MF clear) arrived.
    total: Option<usize>,
    bytes: usize,
    /// Header and first bytes of the offset-0 fragment, for ICMP time exceeded.
    first: Option<Vec<u8>>,
}

/// A completed datagram.
#[derive(Debug)]
pub struct Reassembled {
    /// The first fragment's header fields with the fragment fields cleared.
    pub repr: Ipv4Repr,
    pub payload: Vec<u8>,
}

/// Fragment reassembly (RFC 791, RFC 815's hole idea by sorted extents) with RFC 5722's
/// treatment of overlaps: an overlapping fragment discards the whole set.
#[derive(Debug, Default)]
pub struct Reassembler {
    sets: Vec<FragSet>,
    bytes: usize,
}

impl Reassembler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets in progress.
    pub fn sets(&self) -> usize {
        self.sets.len()
    }

    /// Payload bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn discard(&mut self, i: usize, stats: &mut IpStats) {
        let s = self.sets.swap_remove(i);
        self.bytes -= s.bytes;
        stats.reasm_fails += 1;
    }

    fn evict_oldest_except(
        &mut self,
        keep: Option<(Ipv4Addr, Ipv4Addr, u8, u16)>,
        stats: &mut IpStats,
        drops: &mut IpDropStats,
    ) -> bool {
        let victim = self
            .sets
            .iter()
            .enumerate()
            .filter(|(_, s)| Some((s.src, s.dst, s.protocol, s.ident)) != keep)
            .min_by_key(|(_, s)| s.created)
            .map(|(i, _)| i);
        match victim {
            Some(i) => {
                self.discard(i, stats);
                drops.reasm_evictions += 1;
                true
            }
            None => false,
        }
    }

    /// Add a fragment (a packet with MF set or a non-zero offset). Returns the whole datagram
    /// when this fragment completes it. Counts ReasmReqds, ReasmOKs, ReasmFails and the finer
    /// reasons (overlaps, duplicates, oversize, bad fragment length, evictions).
    pub fn add(
        &mut self,
        now: Instant,
        repr: &Ipv4Repr,
        header: &[u8],
        payload: &[u8],
        stats: &mut IpStats,
        drops: &mut IpDropStats,
    ) -> Option<Reassembled> {
        stats.reasm_reqds += 1;
        let off = usize::from(repr.frag_offset);
        let len = payload.len();
        let end = off + len;
        let key = (repr.src, repr.dst, repr.protocol, repr.ident);
        let pos = self
            .sets
            .iter()
            .position(|s| (s.src, s.dst, s.protocol, s.ident) == key);
        if repr.more_frags && (len == 0 || !len.is_multiple_of(8)) {
            drops.reasm_bad_frag_len += 1;
            stats.reasm_fails += 1;
            if let Some(i) = pos {
                self.discard(i, stats);
            }
            return None;
        }
        if end > MAX_PACKET_LEN - HEADER_LEN {
            drops.reasm_oversize += 1;
            stats.reasm_fails += 1;
            if let Some(i) = pos {
                self.discard(i, stats);
            }
            return None;
        }
        let i = match pos {
            Some(i) => i,
            None => {
                while self.sets.len() >= REASM_MAX_SETS {
                    self.evict_oldest_except(None, stats, drops);
                }
                self.sets.push(FragSet {
                    src: repr.src,
                    dst: repr.dst,
                    protocol: repr.protocol,
                    ident: repr.ident,
                    created: now,
                    frags: Vec::new(),
                    total: None,
                    bytes: 0,
                    first: None,
                });
                self.sets.len() - 1
            }
        };
        // Consistency with what the set already holds.
        let s = &self.sets[i];
        let mut overlap = false;
        let mut duplicate = false;
        if !repr.more_frags {
            if s.total.is_some_and(|t| t != end) || s.frags.iter().any(|(o, d)| o + d.len() > end) {
                overlap = true;
            }
        } else if s.total.is_some_and(|t| end > t) {
            overlap = true;
        }
        for (o, d) in &s.frags {
            let oend = o + d.len();
            if off < oend && *o < end {
                if *o == off && oend == end {
                    duplicate = true;
                } else {
                    overlap = true;
                }
            }
        }
        if overlap {
            drops.reasm_overlaps += 1;
            self.discard(i, stats);
            return None;
        }
        if duplicate {
            // An exact copy (a retransmitted or duplicated frame) changes nothing: drop it,
            // keep the set.
            drops.reasm_duplicates += 1;
            return None;
        }
        // Memory bound: evict other sets first, then give up on this one.
        while self.bytes + len > REASM_MAX_BYTES {
            if !self.evict_oldest_except(Some(key), stats, drops) {
                break;
            }
        }
        let i = self
            .sets
            .iter()
            .position(|s| (s.src, s.dst, s.protocol, s.ident) == key)?;
        if self.bytes + len > REASM_MAX_BYTES {
            drops.reasm_evictions += 1;
            self.discard(i, stats);
            return None;
        }
        let s = &mut self.sets[i];
        if off == 0 {
            let mut q = Vec::with_capacity(QUOTE_KEEP);
            q.extend_from_slice(header);
            q.extend_from_slice(&payload[..len.min(8)]);
            s.first = Some(q);
        }
        if !repr.more_frags {
            s.total = Some(end);
        }
        let at = s.frags.partition_point(|(o, _)| *o < off);
        s.frags.insert(at, (off, payload.to_vec()));
        s.bytes += len;
        self.bytes += len;
        let complete = s.total.is_some_and(|t| s.bytes == t) && s.first.is_some();
        if !complete {
            return None;
        }
        let s = self.sets.swap_remove(i);
        self.bytes -= s.bytes;
        let mut data = Vec::with_capacity(s.bytes);
        for (_, d) in s.frags {
            data.extend_from_slice(&d);
        }
        stats.reasm_oks += 1;
        Some(Reassembled {
            repr: Ipv4Repr {
                more_frags: false,
                frag_offset: 0,
                payload_len: data.len(),
                ..*repr
            },
            payload: data,
        })
    }

    /// Free sets older than [`REASM_TIMEOUT`] (ReasmTimeout, ReasmFails). Returns, for each
    /// freed set whose first fragment had arrived, its header and first 8 payload bytes so the
    /// caller can send ICMP time exceeded (code 1) as RFC 792 asks.
    pub fn poll(&mut self, now: Instant, stats: &mut IpStats) -> Vec<Vec<u8>> {
        let mut quotes = Vec::new();
        if self.sets.is_empty() {
            return quotes;
        }
        let mut i = 0;
        while i < self.sets.len() {
            if now.saturating_since(self.sets[i].created) >= REASM_TIMEOUT {
                stats.reasm_timeout += 1;
                if let Some(q) = self.sets[i].first.take() {
                    quotes.push(q);
                }
                self.discard(i, stats);
            } else {
                i += 1;
            }
        }
        quotes
    }

    /// When the oldest set times out.
    pub fn poll_at(&self) -> Option<Instant> {
        self.sets.iter().map(|s| s.created + REASM_TIMEOUT).min()
    }
}

#[cfg(test)]
#[path = "ipv4_tests.rs"]
mod tests;
