//! The virtio-net header (virtio 1.x §5.1.6) and the feature bits this driver negotiates:
//! turning the stack's per-frame [`TxOffload`] request into the header that tells the device
//! to finish a partial TCP checksum (`NEEDS_CSUM`) or to cut a TCP super-segment (`GSO_TCPV4`);
//! and, on receive, checking the TCP/UDP checksum of a frame the device did not vouch for.
//!
//! Pure functions over byte slices, checked against the frame's own lengths: a frame that is
//! not the Ethernet/IPv4/TCP frame its offload says is refused, never indexed out of bounds.
//! Owns no memory and never touches the device.

use net::offload::TxOffload;

/// Feature bits (virtio 1.x §5.1.3 and §6).
pub mod feature {
    /// The device finishes partial checksums on transmit.
    pub const CSUM: u64 = 1 << 0;
    /// The driver accepts partial (NEEDS_CSUM) and unverified checksums on receive.
    pub const GUEST_CSUM: u64 = 1 << 1;
    /// The device's MAC address is in the configuration space.
    pub const MAC: u64 = 1 << 5;
    /// The driver takes TCPv4 super-segments on receive (requires `GUEST_CSUM`).
    pub const GUEST_TSO4: u64 = 1 << 7;
    /// The device cuts TCPv4 super-segments (requires `CSUM`).
    pub const HOST_TSO4: u64 = 1 << 11;
    /// The device cuts super-segments with ECN (CWR) set (not negotiated by this driver).
    pub const HOST_ECN: u64 = 1 << 13;
    /// Receive buffers may be merged; the header then carries `num_buffers`.
    pub const MRG_RXBUF: u64 = 1 << 15;
    /// The configuration space has a link status field.
    pub const STATUS: u64 = 1 << 16;
    /// `used_event`/`avail_event` notification suppression.
    pub const RING_EVENT_IDX: u64 = 1 << 29;
    /// A virtio 1.x (modern) device: 12-byte header, little-endian fields.
    pub const VERSION_1: u64 = 1 << 32;
}

/// `flags`: checksum from `csum_start` to the end, stored at `csum_start + csum_offset`.
pub const F_NEEDS_CSUM: u8 = 1;
/// `gso_type`: not a super-segment.
pub const GSO_NONE: u8 = 0;
/// `gso_type`: a TCPv4 super-segment.
pub const GSO_TCPV4: u8 = 1;

/// Header length with VERSION_1 or MRG_RXBUF (`num_buffers` included).
pub const HDR_LEN_MODERN: usize = 12;
/// Header length of a legacy device without MRG_RXBUF.
pub const HDR_LEN_LEGACY: usize = 10;

const ETH_LEN: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const PROTO_TCP: u8 = 6;
/// The TCP checksum field's offset in the TCP header.
const TCP_CHECKSUM_AT: u16 = 16;
/// TCP flag CWR: a super-segment carrying it needs HOST_ECN, which is not negotiated.
const TCP_CWR: u8 = 0x80;

/// The header length the negotiated `features` imply.
pub fn header_len(features: u64) -> usize {
    if features & (feature::VERSION_1 | feature::MRG_RXBUF) != 0 {
        HDR_LEN_MODERN
    } else {
        HDR_LEN_LEGACY
    }
}

/// One `virtio_net_hdr` (without `num_buffers`, which is 0 on transmit).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetHdr {
    pub flags: u8,
    pub gso_type: u8,
    /// Ethernet + IP + TCP header bytes (GSO only).
    pub hdr_len: u16,
    /// Payload bytes per segment (GSO only).
    pub gso_size: u16,
    pub csum_start: u16,
    pub csum_offset: u16,
}

impl NetHdr {
    /// Writes the header into `out` (10 or 12 bytes; little-endian, which is both virtio 1.x's
    /// order and a legacy x86 guest's native one). `out` must be at least 10 bytes.
    pub fn write(&self, out: &mut [u8]) {
        out.fill(0);
        out[0] = self.flags;
        out[1] = self.gso_type;
        out[2..4].copy_from_slice(&self.hdr_len.to_le_bytes());
        out[4..6].copy_from_slice(&self.gso_size.to_le_bytes());
        out[6..8].copy_from_slice(&self.csum_start.to_le_bytes());
        out[8..10].copy_from_slice(&self.csum_offset.to_le_bytes());
    }
}

/// Why a header could not be built for a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HdrError {
    /// The frame is not the Ethernet/IPv4/TCP frame its offload request says.
    NotTcp,
    /// A super-segment with CWR set: the device may only cut it with HOST_ECN; the caller
    /// must segment it in software.
    NeedsEcn,
}

/// The header asking the device for what `offload` requests on `frame` (Ethernet + IPv4 +
/// TCP, the checksum field holding the partial pseudo-header sum). A super-segment whose
/// payload fits one segment needs only the checksum.
pub fn offload_header(frame: &[u8], offload: TxOffload) -> Result<NetHdr, HdrError> {
    if offload.is_none() {
        return Ok(NetHdr::default());
    }
    let ethertype = u16::from_be_bytes([
        *frame.get(12).ok_or(HdrError::NotTcp)?,
        *frame.get(13).ok_or(HdrError::NotTcp)?,
    ]);
    let ip = frame.get(ETH_LEN..).ok_or(HdrError::NotTcp)?;
    if ethertype != ETHERTYPE_IPV4 || ip.len() < 20 || ip[0] >> 4 != 4 || ip[9] != PROTO_TCP {
        return Err(HdrError::NotTcp);
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if ihl < 20 || total > ip.len() || total < ihl + 20 {
        return Err(HdrError::NotTcp);
    }
    let tcp = &ip[ihl..total];
    let thl = usize::from(tcp[12] >> 4) * 4;
    if thl < 20 || thl > tcp.len() {
        return Err(HdrError::NotTcp);
    }
    // `csum_start` <= 14 + 60 and `hdr_len` <= 14 + 60 + 60: both fit in u16.
    let csum_start = (ETH_LEN + ihl) as u16;
    let mut hdr = NetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: GSO_NONE,
        hdr_len: 0,
        gso_size: 0,
        csum_start,
        csum_offset: TCP_CHECKSUM_AT,
    };
    let payload = tcp.len() - thl;
    let mss = usize::from(offload.tcp_mss);
    if mss > 0 && payload > mss {
        if tcp[13] & TCP_CWR != 0 {
            return Err(HdrError::NeedsEcn);
        }
        hdr.gso_type = GSO_TCPV4;
        hdr.gso_size = offload.tcp_mss;
        hdr.hdr_len = (ETH_LEN + ihl + thl) as u16;
    }
    Ok(hdr)
}

/// `flags` on receive: the device (or the host behind it) vouches for the checksum.
pub const F_DATA_VALID: u8 = 2;

/// The fields of a received `virtio_net_hdr` the receive path acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RxHdr {
    pub flags: u8,
    pub gso_type: u8,
    /// Buffers the frame spans (MRG_RXBUF only; read as 1 otherwise).
    pub num_buffers: u16,
}

impl RxHdr {
    /// Reads the header at the start of a received buffer; `merged` says whether the
    /// `num_buffers` field exists (MRG_RXBUF). `None` if `bytes` is shorter than the header.
    pub fn parse(bytes: &[u8], merged: bool) -> Option<RxHdr> {
        let flags = *bytes.first()?;
        let gso_type = *bytes.get(1)?;
        let num_buffers = if merged {
            u16::from_le_bytes([*bytes.get(10)?, *bytes.get(11)?])
        } else {
            bytes.get(HDR_LEN_LEGACY - 1)?;
            1
        };
        Some(RxHdr {
            flags,
            gso_type,
            num_buffers,
        })
    }
}
const PROTO_UDP: u8 = 17;
/// The UDP checksum field's offset; 0 there means "no checksum" (RFC 768).
const UDP_CHECKSUM_AT: usize = 6;

/// What checking a received frame's transport checksum found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxCheck {
    /// An unfragmented IPv4 TCP or UDP packet with a correct checksum (or UDP without one).
    Good,
    /// Not something whose checksum the stack would skip: not IPv4 TCP/UDP, a fragment, or a
    /// header the stack's own checks will reject.
    NotChecked,
    /// An unfragmented IPv4 TCP or UDP packet whose checksum is wrong.
    Bad,
}

/// Verifies the TCP or UDP checksum of a received `frame` the device did not vouch for, so
/// the device as a whole can declare received checksums verified. Checks every frame the
/// stack would take as an unfragmented TCP or UDP packet: its header rules are no stricter
/// than these (version 4, header of at least 20 bytes, total length within the frame).
pub fn verify_rx(frame: &[u8]) -> RxCheck {
    let (Some(&t0), Some(&t1)) = (frame.get(12), frame.get(13)) else {
        return RxCheck::NotChecked;
    };
    let Some(ip) = frame.get(ETH_LEN..) else {
        return RxCheck::NotChecked;
    };
    if u16::from_be_bytes([t0, t1]) != ETHERTYPE_IPV4 || ip.len() < 20 || ip[0] >> 4 != 4 {
        return RxCheck::NotChecked;
    }
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0;
    if ihl < 20 || total < ihl || total > ip.len() || fragment {
        return RxCheck::NotChecked;
    }
    let proto = ip[9];
    if proto != PROTO_TCP && proto != PROTO_UDP {
        return RxCheck::NotChecked;
    }
    let segment = &ip[ihl..total];
    if proto == PROTO_UDP && segment.get(UDP_CHECKSUM_AT..UDP_CHECKSUM_AT + 2) == Some(&[0, 0][..])
    {
        return RxCheck::Good;
    }
    let src = core::net::Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = core::net::Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    if net::wire::checksum::verify_transport(src, dst, proto, segment) {
        RxCheck::Good
    } else {
        RxCheck::Bad
    }
}
