//! DHCP message format (RFC 2131 section 2, options from RFC 2132): the checked parse of a
//! server's reply and the emit of the client's own messages.
//!
//! Owns the byte layout only; what a reply *means* for the client is `super`'s. Every byte of a
//! reply is hostile: every option is bounds-checked against the area that holds it, lengths of
//! the options we use are checked exactly, and nothing here allocates or panics on input.

use alloc::vec::Vec;
use core::net::Ipv4Addr;

use crate::wire::MacAddr;

/// UDP port a DHCP client listens on.
pub const CLIENT_PORT: u16 = 68;
/// UDP port a DHCP server listens on.
pub const SERVER_PORT: u16 = 67;

const BOOTREQUEST: u8 = 1;
const BOOTREPLY: u8 = 2;
const HTYPE_ETHERNET: u8 = 1;
const HLEN_ETHERNET: u8 = 6;
/// RFC 2131 3: the first four octets of the options field.
pub const MAGIC_COOKIE: [u8; 4] = [99, 130, 83, 99];
/// RFC 2131 4.1: the BROADCAST bit of `flags`.
pub const FLAG_BROADCAST: u16 = 0x8000;

/// Byte ranges of the fixed BOOTP header (RFC 2131 figure 1).
mod field {
    use core::ops::Range;
    pub const OP: usize = 0;
    pub const HTYPE: usize = 1;
    pub const HLEN: usize = 2;
    pub const XID: Range<usize> = 4..8;
    pub const SECS: Range<usize> = 8..10;
    pub const FLAGS: Range<usize> = 10..12;
    pub const CIADDR: Range<usize> = 12..16;
    pub const YIADDR: Range<usize> = 16..20;
    pub const SIADDR: Range<usize> = 20..24;
    pub const CHADDR: Range<usize> = 28..44;
    pub const SNAME: Range<usize> = 44..108;
    pub const FILE: Range<usize> = 108..236;
    pub const COOKIE: Range<usize> = 236..240;
    pub const OPTIONS: usize = 240;
}

/// Length of the fixed header plus the magic cookie: the shortest message we accept.
pub const HEADER_LEN: usize = field::OPTIONS;
/// RFC 1542 2.1: BOOTP relay agents and some servers drop messages shorter than 300 octets,
/// so the client pads its own messages to this size.
pub const MIN_MESSAGE_LEN: usize = 300;

/// Option codes (RFC 2132).
pub mod opt {
    pub const PAD: u8 = 0;
    pub const SUBNET_MASK: u8 = 1;
    pub const ROUTER: u8 = 3;
    pub const DNS_SERVER: u8 = 6;
    pub const REQUESTED_IP: u8 = 50;
    pub const LEASE_TIME: u8 = 51;
    pub const OVERLOAD: u8 = 52;
    pub const MESSAGE_TYPE: u8 = 53;
    pub const SERVER_ID: u8 = 54;
    pub const PARAM_REQUEST: u8 = 55;
    pub const T1: u8 = 58;
    pub const T2: u8 = 59;
    pub const CLIENT_ID: u8 = 61;
    pub const END: u8 = 255;
}

/// The parameters the client asks for in option 55.
const PARAMS_REQUESTED: [u8; 7] = [
    opt::SUBNET_MASK,
    opt::ROUTER,
    opt::DNS_SERVER,
    opt::LEASE_TIME,
    opt::SERVER_ID,
    opt::T1,
    opt::T2,
];

/// How many DNS servers a lease keeps; later ones in option 6 are ignored. Three is resolv.conf's
/// MAXNS: a stub resolver never usefully tries more.
pub const MAX_DNS_SERVERS: usize = 3;

/// DHCP message type, option 53 (RFC 2132 9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    Discover = 1,
    Offer = 2,
    Request = 3,
    Decline = 4,
    Ack = 5,
    Nak = 6,
    Release = 7,
    Inform = 8,
}

impl MessageType {
    fn from_u8(v: u8) -> Option<Self> {
        use MessageType::*;
        Some(match v {
            1 => Discover,
            2 => Offer,
            3 => Request,
            4 => Decline,
            5 => Ack,
            6 => Nak,
            7 => Release,
            8 => Inform,
            _ => return None,
        })
    }
}

/// Why a reply failed to parse. All are counted as `in_malformed` by the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than the fixed header and cookie.
    Truncated,
    /// `op` is not BOOTREPLY.
    NotReply,
    /// Hardware type/length is not Ethernet's.
    BadHardware,
    /// The magic cookie is wrong.
    BadCookie,
    /// An option runs past its area, or an option we use has the wrong length or value.
    BadOption,
    /// No message type option (a plain BOOTP reply) or an unknown type.
    BadMessageType,
}

/// A server's reply, as far as the client uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub xid: u32,
    pub yiaddr: Ipv4Addr,
    pub siaddr: Ipv4Addr,
    pub chaddr: MacAddr,
    pub message_type: MessageType,
    pub server_id: Option<Ipv4Addr>,
    pub subnet_mask: Option<Ipv4Addr>,
    /// The first router of option 3.
    pub router: Option<Ipv4Addr>,
    pub dns_servers: heapless::Vec<Ipv4Addr, MAX_DNS_SERVERS>,
    pub lease_time: Option<u32>,
    pub t1: Option<u32>,
    pub t2: Option<u32>,
}

fn be_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

fn addr(b: &[u8]) -> Ipv4Addr {
    Ipv4Addr::from(be_u32(b))
}

/// Walk the options in `area`, calling `f(code, data)` for each. Stops at END; an area that
/// ends without END is accepted (its padding is simply cut short), an option whose length runs
/// past the area is not.
fn walk_options(
    area: &[u8],
    f: &mut impl FnMut(u8, &[u8]) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    let mut i = 0;
    while let Some(&code) = area.get(i) {
        match code {
            opt::PAD => i += 1,
            opt::END => return Ok(()),
            _ => {
                let len = usize::from(*area.get(i + 1).ok_or(ParseError::BadOption)?);
                let data = area.get(i + 2..i + 2 + len).ok_or(ParseError::BadOption)?;
                f(code, data)?;
                i += 2 + len;
            }
        }
    }
    Ok(())
}

/// Where the options of a message live: the options field, and (RFC 2132 9.3) the `file`
/// and/or `sname` fields when option 52 says so.
#[derive(Default)]
struct OptionSink {
    overload: Option<u8>,
    message_type: Option<u8>,
    server_id: Option<Ipv4Addr>,
    subnet_mask: Option<Ipv4Addr>,
    router: Option<Ipv4Addr>,
    dns_servers: heapless::Vec<Ipv4Addr, MAX_DNS_SERVERS>,
    lease_time: Option<u32>,
    t1: Option<u32>,
    t2: Option<u32>,
}

fn exactly_4(data: &[u8]) -> Result<&[u8], ParseError> {
    if data.len() == 4 {
        Ok(data)
    } else {
        Err(ParseError::BadOption)
    }
}

/// A non-empty list of addresses (routers, DNS servers).
fn addr_list(data: &[u8]) -> Result<core::slice::ChunksExact<'_, u8>, ParseError> {
    if data.is_empty() || !data.len().is_multiple_of(4) {
        return Err(ParseError::BadOption);
    }
    Ok(data.chunks_exact(4))
}

impl OptionSink {
    /// Record one option. A repeated option keeps its first value (RFC 3396 concatenation of
    /// split options is not supported; a split address list fails its length check instead).
    fn take(&mut self, code: u8, data: &[u8], main_area: bool) -> Result<(), ParseError> {
        match code {
            opt::OVERLOAD if main_area => {
                if data.len() != 1 || !(1..=3).contains(&data[0]) {
                    return Err(ParseError::BadOption);
                }
                self.overload.get_or_insert(data[0]);
            }
            opt::MESSAGE_TYPE => {
                if data.len() != 1 {
                    return Err(ParseError::BadOption);
                }
                self.message_type.get_or_insert(data[0]);
            }
            opt::SERVER_ID => {
                let a = addr(exactly_4(data)?);
                self.server_id.get_or_insert(a);
            }
            opt::SUBNET_MASK => {
                let a = addr(exactly_4(data)?);
                self.subnet_mask.get_or_insert(a);
            }
            opt::LEASE_TIME => {
                let v = be_u32(exactly_4(data)?);
                self.lease_time.get_or_insert(v);
            }
            opt::T1 => {
                let v = be_u32(exactly_4(data)?);
                self.t1.get_or_insert(v);
            }
            opt::T2 => {
                let v = be_u32(exactly_4(data)?);
                self.t2.get_or_insert(v);
            }
            opt::ROUTER => {
                let mut list = addr_list(data)?;
                if self.router.is_none() {
                    self.router = list.next().map(addr);
                }
            }
            opt::DNS_SERVER => {
                for a in addr_list(data)? {
                    // Servers past MAX_DNS_SERVERS are ignored, not an error.
                    let _ = self.dns_servers.push(addr(a));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Parse a server's reply (a UDP payload received on port 68).
pub fn parse_reply(buf: &[u8]) -> Result<Reply, ParseError> {
    if buf.len() < HEADER_LEN {
        return Err(ParseError::Truncated);
    }
    if buf[field::OP] != BOOTREPLY {
        return Err(ParseError::NotReply);
    }
    if buf[field::HTYPE] != HTYPE_ETHERNET || buf[field::HLEN] != HLEN_ETHERNET {
        return Err(ParseError::BadHardware);
    }
    if buf[field::COOKIE] != MAGIC_COOKIE {
        return Err(ParseError::BadCookie);
    }
    let mut sink = OptionSink::default();
    walk_options(&buf[field::OPTIONS..], &mut |c, d| sink.take(c, d, true))?;
    // RFC 2131 4.1: options field first, then `file`, then `sname`.
    let overload = sink.overload.unwrap_or(0);
    if overload & 1 != 0 {
        walk_options(&buf[field::FILE], &mut |c, d| sink.take(c, d, false))?;
    }
    if overload & 2 != 0 {
        walk_options(&buf[field::SNAME], &mut |c, d| sink.take(c, d, false))?;
    }
    let message_type = sink
        .message_type
        .and_then(MessageType::from_u8)
        .ok_or(ParseError::BadMessageType)?;
    let mut mac = [0u8; 6];
    mac.copy_from_slice(&buf[field::CHADDR][..6]);
    Ok(Reply {
        xid: be_u32(&buf[field::XID]),
        yiaddr: addr(&buf[field::YIADDR]),
        siaddr: addr(&buf[field::SIADDR]),
        chaddr: MacAddr(mac),
        message_type,
        server_id: sink.server_id,
        subnet_mask: sink.subnet_mask,
        router: sink.router,
        dns_servers: sink.dns_servers,
        lease_time: sink.lease_time,
        t1: sink.t1,
        t2: sink.t2,
    })
}

/// A message the client sends (DISCOVER, REQUEST, RELEASE).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientMessage {
    pub message_type: MessageType,
    pub xid: u32,
    /// Seconds since the client began this acquisition or renewal.
    pub secs: u16,
    /// Ask the server to broadcast its reply (we cannot take unicast before we have an address).
    pub broadcast: bool,
    pub ciaddr: Ipv4Addr,
    pub chaddr: MacAddr,
    /// Option 50: the offered address, in SELECTING's REQUEST only.
    pub requested_ip: Option<Ipv4Addr>,
    /// Option 54: the chosen server, in SELECTING's REQUEST (and RELEASE) only.
    pub server_id: Option<Ipv4Addr>,
}

impl ClientMessage {
    /// The UDP payload, padded to [`MIN_MESSAGE_LEN`].
    pub fn emit(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(MIN_MESSAGE_LEN);
        b.resize(HEADER_LEN, 0);
        b[field::OP] = BOOTREQUEST;
        b[field::HTYPE] = HTYPE_ETHERNET;
        b[field::HLEN] = HLEN_ETHERNET;
        b[field::XID].copy_from_slice(&self.xid.to_be_bytes());
        b[field::SECS].copy_from_slice(&self.secs.to_be_bytes());
        let flags = if self.broadcast { FLAG_BROADCAST } else { 0 };
        b[field::FLAGS].copy_from_slice(&flags.to_be_bytes());
        b[field::CIADDR].copy_from_slice(&self.ciaddr.octets());
        b[field::CHADDR][..6].copy_from_slice(&self.chaddr.0);
        b[field::COOKIE].copy_from_slice(&MAGIC_COOKIE);
        b.extend_from_slice(&[opt::MESSAGE_TYPE, 1, self.message_type as u8]);
        // Option 61: hardware type 1 followed by the MAC (RFC 2132 9.14).
        b.extend_from_slice(&[opt::CLIENT_ID, 7, HTYPE_ETHERNET]);
        b.extend_from_slice(&self.chaddr.0);
        if let Some(ip) = self.requested_ip {
            b.extend_from_slice(&[opt::REQUESTED_IP, 4]);
            b.extend_from_slice(&ip.octets());
        }
        if let Some(ip) = self.server_id {
            b.extend_from_slice(&[opt::SERVER_ID, 4]);
            b.extend_from_slice(&ip.octets());
        }
        if self.message_type != MessageType::Release {
            b.extend_from_slice(&[opt::PARAM_REQUEST, PARAMS_REQUESTED.len() as u8]);
            b.extend_from_slice(&PARAMS_REQUESTED);
        }
        b.push(opt::END);
        if b.len() < MIN_MESSAGE_LEN {
            b.resize(MIN_MESSAGE_LEN, opt::PAD);
        }
        b
    }
}

/// The `secs` field of a message: whole seconds, saturating.
pub fn secs_field(elapsed: core::time::Duration) -> u16 {
    u16::try_from(elapsed.as_secs()).unwrap_or(u16::MAX)
}
