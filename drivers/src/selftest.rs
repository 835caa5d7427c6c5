//! Frames for the link self-test (`init=selftest-link`): a hand-built ARP request and a checked
//! parse of the reply, so the test needs nothing of the stack above the device.
//!
//! Owns nothing beyond these two frame shapes; the real ARP lives in `net::neigh`. Replies are
//! hostile bytes: every field is checked before the sender's address is believed.

use core::net::Ipv4Addr;

use net::wire::MacAddr;

/// Length of an Ethernet header followed by an ARP packet for IPv4 over Ethernet.
pub const ARP_FRAME_LEN: usize = 14 + 28;

const ETHERTYPE_ARP: [u8; 2] = [0x08, 0x06];
/// hardware type Ethernet, protocol type IPv4, address lengths 6 and 4.
const ARP_IPV4_OVER_ETHERNET: [u8; 6] = [0x00, 0x01, 0x08, 0x00, 6, 4];
const OP_REQUEST: [u8; 2] = [0, 1];
const OP_REPLY: [u8; 2] = [0, 2];

/// A broadcast "who has `target`? tell `ip`" from `mac`.
pub fn arp_request(mac: MacAddr, ip: Ipv4Addr, target: Ipv4Addr) -> [u8; ARP_FRAME_LEN] {
    let mut f = [0u8; ARP_FRAME_LEN];
    f[0..6].copy_from_slice(&MacAddr::BROADCAST.0);
    f[6..12].copy_from_slice(&mac.0);
    f[12..14].copy_from_slice(&ETHERTYPE_ARP);
    f[14..20].copy_from_slice(&ARP_IPV4_OVER_ETHERNET);
    f[20..22].copy_from_slice(&OP_REQUEST);
    f[22..28].copy_from_slice(&mac.0);
    f[28..32].copy_from_slice(&ip.octets());
    // Target hardware address (32..38) stays zero: unknown.
    f[38..42].copy_from_slice(&target.octets());
    f
}

/// If `frame` is an ARP reply from `target` to `ip`, the hardware address `target` is at.
pub fn arp_reply_from(frame: &[u8], ip: Ipv4Addr, target: Ipv4Addr) -> Option<MacAddr> {
    let f = frame.get(..ARP_FRAME_LEN)?;
    if f[12..14] != ETHERTYPE_ARP || f[14..20] != ARP_IPV4_OVER_ETHERNET || f[20..22] != OP_REPLY {
        return None;
    }
    if f[28..32] != target.octets() || f[38..42] != ip.octets() {
        return None;
    }
    let sender = MacAddr(f[22..28].try_into().ok()?);
    sender.is_unicast().then_some(sender)
}

/// Parses `52:54:00:12:34:56`.
pub fn parse_mac(s: &str) -> Option<MacAddr> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for byte in &mut mac {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(MacAddr(mac))
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
    const GW: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
    const MAC: MacAddr = MacAddr([0x52, 0x54, 0, 0x12, 0x34, 0x56]);
    const GW_MAC: MacAddr = MacAddr([0x52, 0x55, 10, 0, 2, 2]);

    /// What slirp answers: the request with addresses swapped and op 2.
    fn reply() -> [u8; ARP_FRAME_LEN] {
        let mut f = arp_request(GW_MAC, GW, US);
        f[0..6].copy_from_slice(&MAC.0);
        f[20..22].copy_from_slice(&OP_REPLY);
        f[32..38].copy_from_slice(&MAC.0);
        f
    }

    #[test]
    fn request_layout() {
        let f = arp_request(MAC, US, GW);
        assert_eq!(&f[0..6], &[0xff; 6]);
        assert_eq!(&f[6..12], &MAC.0);
        assert_eq!(&f[12..22], &[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
        assert_eq!(&f[28..32], &[10, 0, 2, 15]);
        assert_eq!(&f[32..38], &[0; 6]);
        assert_eq!(&f[38..42], &[10, 0, 2, 2]);
    }

    #[test]
    fn accepts_the_reply_and_nothing_else() {
        let mut padded = [0u8; 60];
        padded[..ARP_FRAME_LEN].copy_from_slice(&reply());
        assert_eq!(arp_reply_from(&padded, US, GW), Some(GW_MAC));
        assert_eq!(arp_reply_from(&reply()[..41], US, GW), None, "truncated");
        assert_eq!(
            arp_reply_from(&arp_request(MAC, US, GW), US, GW),
            None,
            "a request"
        );
        assert_eq!(
            arp_reply_from(&reply(), US, Ipv4Addr::new(10, 0, 2, 3)),
            None
        );
        assert_eq!(arp_reply_from(&reply(), GW, GW), None, "not for us");
        let mut ipv6 = reply();
        ipv6[16] = 0x86;
        assert_eq!(arp_reply_from(&ipv6, US, GW), None);
        let mut bcast = reply();
        bcast[22..28].copy_from_slice(&[0xff; 6]);
        assert_eq!(arp_reply_from(&bcast, US, GW), None, "broadcast sender");
    }

    #[test]
    fn mac_parsing() {
        assert_eq!(parse_mac("52:54:00:12:34:56"), Some(MAC));
        assert_eq!(parse_mac("52:54:00:12:34"), None);
        assert_eq!(parse_mac("52:54:00:12:34:56:78"), None);
        assert_eq!(parse_mac("52:54:00:12:34:5g"), None);
        assert_eq!(parse_mac("5:54:00:12:34:567"), None);
    }
}
