//! `--so_flags` parsing: `local_ip=…,netmask=…,gateway_ip=…,remote_ip=…,mtu=…`.
//!
//! Owns only the text → [`LinkConfig`] step; it never touches the stack.

use core::net::Ipv4Addr;

/// Largest MTU accepted (an IPv4 datagram's maximum length).
const MAX_MTU: usize = 65535;
/// Smallest MTU accepted (RFC 791's 68-byte minimum).
const MIN_MTU: usize = 68;

/// The interface packetdrill's `--so_flags` describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkConfig {
    pub local_ip: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway_ip: Option<Ipv4Addr>,
    pub remote_ip: Ipv4Addr,
    pub mtu: usize,
    /// Offer SACK-permitted (`sack=0|1`, an optional rinet extension; default on like the
    /// public scripts' `tcp_sack=1`).
    pub sack: bool,
}

impl Default for LinkConfig {
    /// The example of the interface document (packetdrill's own defaults for the addresses).
    fn default() -> Self {
        LinkConfig {
            local_ip: Ipv4Addr::new(192, 168, 0, 1),
            prefix_len: 16,
            gateway_ip: Some(Ipv4Addr::new(192, 168, 0, 1)),
            remote_ip: Ipv4Addr::new(192, 0, 2, 1),
            mtu: 1500,
            sack: true,
        }
    }
}

/// Prefix length of a contiguous netmask, `None` for a non-contiguous one.
fn prefix_of(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let len = m.leading_ones();
    (m.checked_shl(len).unwrap_or(0) == 0).then_some(len as u8)
}

/// Parse the comma-separated `key=value` list; unknown keys and bad values are errors (a
/// misconfigured run should fail loudly, not test the wrong addresses). Missing keys keep
/// [`LinkConfig::default`]'s values.
pub fn parse(text: &str) -> Result<LinkConfig, String> {
    let mut c = LinkConfig::default();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (key, value) = item
            .split_once('=')
            .ok_or_else(|| format!("so_flags: `{item}` is not key=value"))?;
        let ip = || {
            value
                .parse::<Ipv4Addr>()
                .map_err(|_| format!("so_flags: bad address in `{item}`"))
        };
        match key {
            "local_ip" => c.local_ip = ip()?,
            "remote_ip" => c.remote_ip = ip()?,
            "gateway_ip" => c.gateway_ip = Some(ip()?),
            "netmask" => {
                c.prefix_len =
                    prefix_of(ip()?).ok_or_else(|| format!("so_flags: bad netmask `{value}`"))?
            }
            "mtu" => {
                c.mtu = value
                    .parse::<usize>()
                    .ok()
                    .filter(|m| (MIN_MTU..=MAX_MTU).contains(m))
                    .ok_or_else(|| format!("so_flags: bad mtu `{value}`"))?
            }
            "sack" => {
                c.sack = match value {
                    "0" => false,
                    "1" => true,
                    _ => return Err(format!("so_flags: bad sack `{value}`")),
                }
            }
            _ => return Err(format!("so_flags: unknown key `{key}`")),
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_format() {
        let c = parse(
            "local_ip=10.0.0.1,netmask=255.255.255.0,gateway_ip=10.0.0.254,remote_ip=192.0.2.7,mtu=9000",
        )
        .unwrap();
        assert_eq!(c.local_ip, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(c.prefix_len, 24);
        assert_eq!(c.gateway_ip, Some(Ipv4Addr::new(10, 0, 0, 254)));
        assert_eq!(c.remote_ip, Ipv4Addr::new(192, 0, 2, 7));
        assert_eq!(c.mtu, 9000);
        assert!(c.sack);
        assert!(!parse("sack=0").unwrap().sack);
        assert_eq!(parse("").unwrap(), LinkConfig::default());
    }

    #[test]
    fn rejects_bad_values() {
        assert!(parse("netmask=255.0.255.0").is_err());
        assert!(parse("mtu=20").is_err());
        assert!(parse("local_ip=1.2.3").is_err());
        assert!(parse("colour=blue").is_err());
        assert!(parse("local_ip").is_err());
        assert!(parse("sack=yes").is_err());
    }
}
