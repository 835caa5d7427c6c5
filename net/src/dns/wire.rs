//! DNS message format (RFC 1035 section 4): building an A query and the checked parse of a
//! response's header, question and answer section.
//!
//! Owns the byte layout only; matching a response to a query and following CNAMEs is `super`'s.
//! Every byte of a response is hostile: each count is checked against the data actually
//! present, every compression pointer must point strictly before the name segment that holds it
//! (so a chain of pointers always terminates) and is limited in number, names are limited to
//! 255 octets. Nothing here panics; allocation is bounded by [`MAX_ANSWERS`].

use alloc::vec::Vec;
use core::net::Ipv4Addr;

use crate::errno::Errno;

/// UDP port of a DNS server.
pub const DNS_PORT: u16 = 53;
pub const HEADER_LEN: usize = 12;
/// RFC 1035 2.3.4: a name is at most 255 octets in wire form...
pub const MAX_NAME_LEN: usize = 255;
/// ... and a label at most 63.
const MAX_LABEL_LEN: usize = 63;
/// Compression pointers followed within one name. Targets strictly decrease, so this is a second
/// guard, not the one that ends loops; a legitimate name needs a handful at most.
const MAX_POINTER_JUMPS: usize = 16;
/// Answer records kept from one response (more are still checked, then ignored). A plain A
/// lookup's answer is a short CNAME chain and a few addresses.
pub const MAX_ANSWERS: usize = 32;

pub const TYPE_A: u16 = 1;
pub const TYPE_CNAME: u16 = 5;
pub const CLASS_IN: u16 = 1;

const FLAG_QR: u16 = 0x8000;
const FLAG_TC: u16 = 0x0200;
const FLAG_RD: u16 = 0x0100;
const OPCODE_MASK: u16 = 0x7800;
const RCODE_MASK: u16 = 0x000f;

/// RCODE values the resolver distinguishes (RFC 1035 4.1.1).
pub const RCODE_NOERROR: u8 = 0;
pub const RCODE_NXDOMAIN: u8 = 3;

/// A domain name in uncompressed wire form (length-prefixed labels, then a zero octet),
/// lower-cased so that comparison is the case-insensitive one of RFC 4343.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name(heapless::Vec<u8, MAX_NAME_LEN>);

impl Name {
    /// A name from its text form (`www.example.com`, one trailing dot allowed). Labels are
    /// letters, digits, `-` and `_`, 1..=63 long; the whole at most 255 octets on the wire.
    pub fn from_text(text: &str) -> Result<Name, Errno> {
        let text = text.strip_suffix('.').unwrap_or(text);
        if text.is_empty() {
            return Err(Errno::EINVAL);
        }
        let mut v: heapless::Vec<u8, MAX_NAME_LEN> = heapless::Vec::new();
        for label in text.split('.') {
            let ok_char = |c: u8| c.is_ascii_alphanumeric() || c == b'-' || c == b'_';
            if label.is_empty() || label.len() > MAX_LABEL_LEN || !label.bytes().all(ok_char) {
                return Err(Errno::EINVAL);
            }
            v.push(label.len() as u8).map_err(|_| Errno::EINVAL)?;
            for c in label.bytes() {
                v.push(c.to_ascii_lowercase()).map_err(|_| Errno::EINVAL)?;
            }
        }
        v.push(0).map_err(|_| Errno::EINVAL)?;
        Ok(Name(v))
    }

    /// The wire form.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

/// Why a response failed to parse. All are counted as `in_malformed` by the resolver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than the header, or than its counts and lengths claim.
    Truncated,
    /// QR bit clear, or an opcode other than QUERY.
    NotResponse,
    /// Not exactly one question.
    BadQuestionCount,
    /// A label type other than a plain label or a pointer.
    BadLabel,
    /// A pointer that does not point backwards into the message, or too many of them.
    BadPointer,
    /// A name longer than 255 octets.
    NameTooLong,
    /// An A record whose data is not 4 octets, or a CNAME whose name does not fill its data.
    BadRecord,
}

/// The data of an answer record, as far as an A lookup cares.
// Records live in a heap Vec bounded by MAX_ANSWERS, so the inline CNAME name costs little.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordData {
    A(Ipv4Addr),
    Cname(Name),
    Other,
}

/// One answer record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub owner: Name,
    pub ttl: u32,
    pub data: RecordData,
}

/// A parsed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub id: u16,
    pub rcode: u8,
    pub truncated: bool,
    pub qname: Name,
    pub qtype: u16,
    pub qclass: u16,
    /// The first [`MAX_ANSWERS`] answer records.
    pub answers: Vec<Record>,
}

/// The query for `name`'s A records, with transaction id `id` and recursion desired.
pub fn build_query(id: u16, name: &Name) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER_LEN + name.as_bytes().len() + 4);
    b.extend_from_slice(&id.to_be_bytes());
    b.extend_from_slice(&FLAG_RD.to_be_bytes());
    b.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]);
    b.extend_from_slice(name.as_bytes());
    b.extend_from_slice(&TYPE_A.to_be_bytes());
    b.extend_from_slice(&CLASS_IN.to_be_bytes());
    b
}

/// The transaction id of a message, if it is long enough to have one.
pub fn message_id(msg: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.first()?, *msg.get(1)?]))
}

fn u16_at(msg: &[u8], at: usize) -> Result<u16, ParseError> {
    let b = msg.get(at..at + 2).ok_or(ParseError::Truncated)?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

fn u32_at(msg: &[u8], at: usize) -> Result<u32, ParseError> {
    let b = msg.get(at..at + 4).ok_or(ParseError::Truncated)?;
    Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Read a possibly compressed name starting at `pos`; returns it and the position just after
/// it in the original stream.
pub fn read_name(msg: &[u8], pos: usize) -> Result<(Name, usize), ParseError> {
    let mut out: heapless::Vec<u8, MAX_NAME_LEN> = heapless::Vec::new();
    let mut i = pos;
    // Where the current run of labels began: a pointer must target strictly before it.
    let mut segment_start = pos;
    let mut after: Option<usize> = None;
    let mut jumps = 0;
    loop {
        let len = *msg.get(i).ok_or(ParseError::Truncated)?;
        match len & 0xc0 {
            0x00 if len == 0 => {
                out.push(0).map_err(|_| ParseError::NameTooLong)?;
                let end = after.unwrap_or(i + 1);
                return Ok((Name(out), end));
            }
            0x00 => {
                let n = usize::from(len);
                let label = msg.get(i + 1..i + 1 + n).ok_or(ParseError::Truncated)?;
                // Room for this label and, at least, the final zero octet.
                if out.len() + 1 + n + 1 > MAX_NAME_LEN {
                    return Err(ParseError::NameTooLong);
                }
                out.push(len).map_err(|_| ParseError::NameTooLong)?;
                for &c in label {
                    out.push(c.to_ascii_lowercase())
                        .map_err(|_| ParseError::NameTooLong)?;
                }
                i += 1 + n;
            }
            0xc0 => {
                let lo = *msg.get(i + 1).ok_or(ParseError::Truncated)?;
                let target = (usize::from(len & 0x3f) << 8) | usize::from(lo);
                jumps += 1;
                if target >= segment_start || target < HEADER_LEN || jumps > MAX_POINTER_JUMPS {
                    return Err(ParseError::BadPointer);
                }
                after.get_or_insert(i + 2);
                segment_start = target;
                i = target;
            }
            _ => return Err(ParseError::BadLabel),
        }
    }
}

/// Parse a response: header, the one question, and the answer section (authority and
/// additional sections are not read).
pub fn parse_response(msg: &[u8]) -> Result<Response, ParseError> {
    if msg.len() < HEADER_LEN {
        return Err(ParseError::Truncated);
    }
    let id = u16_at(msg, 0)?;
    let flags = u16_at(msg, 2)?;
    if flags & FLAG_QR == 0 || flags & OPCODE_MASK != 0 {
        return Err(ParseError::NotResponse);
    }
    if u16_at(msg, 4)? != 1 {
        return Err(ParseError::BadQuestionCount);
    }
    let ancount = u16_at(msg, 6)?;
    let (qname, mut pos) = read_name(msg, HEADER_LEN)?;
    let qtype = u16_at(msg, pos)?;
    let qclass = u16_at(msg, pos + 2)?;
    pos += 4;
    let mut answers = Vec::new();
    for _ in 0..ancount {
        let (owner, p) = read_name(msg, pos)?;
        let rtype = u16_at(msg, p)?;
        let class = u16_at(msg, p + 2)?;
        let ttl = u32_at(msg, p + 4)?;
        let rdlen = usize::from(u16_at(msg, p + 8)?);
        let start = p + 10;
        let rdata = msg.get(start..start + rdlen).ok_or(ParseError::Truncated)?;
        let data = match (rtype, class) {
            (TYPE_A, CLASS_IN) => {
                let a: [u8; 4] = rdata.try_into().map_err(|_| ParseError::BadRecord)?;
                RecordData::A(Ipv4Addr::from(a))
            }
            (TYPE_CNAME, CLASS_IN) => {
                let (target, end) = read_name(msg, start)?;
                if end != start + rdlen {
                    return Err(ParseError::BadRecord);
                }
                RecordData::Cname(target)
            }
            _ => RecordData::Other,
        };
        if answers.len() < MAX_ANSWERS {
            answers.push(Record { owner, ttl, data });
        }
        pos = start + rdlen;
    }
    Ok(Response {
        id,
        rcode: (flags & RCODE_MASK) as u8,
        truncated: flags & FLAG_TC != 0,
        qname,
        qtype,
        qclass,
        answers,
    })
}

/// Follow `qname` through the answers' CNAMEs (at most `max_hops`) to its A records; at most
/// `max_addrs` addresses, in answer order, with the smallest TTL seen along the way.
pub fn resolve_chain(
    answers: &[Record],
    qname: &Name,
    max_hops: usize,
    max_addrs: usize,
) -> (Vec<Ipv4Addr>, u32) {
    let mut target = qname.clone();
    let mut ttl = u32::MAX;
    for _ in 0..=max_hops {
        let mut addrs = Vec::new();
        let mut a_ttl = u32::MAX;
        for r in answers.iter().filter(|r| r.owner == target) {
            if let RecordData::A(a) = r.data {
                if addrs.len() < max_addrs && !addrs.contains(&a) {
                    addrs.push(a);
                }
                a_ttl = a_ttl.min(r.ttl);
            }
        }
        if !addrs.is_empty() {
            return (addrs, ttl.min(a_ttl));
        }
        let next = answers.iter().find_map(|r| match &r.data {
            RecordData::Cname(c) if r.owner == target => Some((c.clone(), r.ttl)),
            _ => None,
        });
        match next {
            Some((c, t)) => {
                target = c;
                ttl = ttl.min(t);
            }
            None => break,
        }
    }
    (Vec::new(), 0)
}
