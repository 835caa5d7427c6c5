//! Network configuration from the kernel command line: `ip=` and `nameserver=`, following
//! Linux's kernel parameters (Documentation/admin-guide/nfs/nfsroot.rst).
//!
//! Parsing only; applying the configuration (addresses, routes, the DHCP client) is the stack's.

use core::net::Ipv4Addr;

/// How the interface gets its address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IpConfig {
    /// Ask a DHCP server (`ip=dhcp`, the default).
    #[default]
    Dhcp,
    /// A static address (`ip=<client-ip>::<gw-ip>:<netmask>::<device>:off`).
    Static(StaticConfig),
}

/// A statically configured interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StaticConfig {
    pub address: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
}

/// Why an `ip=` value was rejected; `Display` gives the one-line error naming the fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpParamError {
    BadAddress,
    BadGateway,
    BadNetmask,
    BadAutoconf,
    MissingAddress,
    /// A value without `:` that is not an autoconfiguration method (e.g. `ip=dhcpp`).
    UnknownMethod,
}

impl core::fmt::Display for IpParamError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let what = match self {
            IpParamError::BadAddress => "the client address is not a dotted-quad IPv4 address",
            IpParamError::BadGateway => "the gateway is not a dotted-quad IPv4 address",
            IpParamError::BadNetmask => "the netmask is not a contiguous dotted-quad mask",
            IpParamError::BadAutoconf => {
                "the autoconf field must be 'off', 'none', 'dhcp' or 'any'"
            }
            IpParamError::MissingAddress => {
                "a static configuration needs a client address and a netmask"
            }
            IpParamError::UnknownMethod => {
                "a value without ':' must be a method: 'dhcp', 'on', 'any', 'both' or 'bootp'"
            }
        };
        write!(
            f,
            "malformed ip= parameter: {what}; use ip=dhcp or \
             ip=<client-ip>::<gw-ip>:<netmask>::<device>:off \
             (e.g. ip=192.168.100.2::192.168.100.1:255.255.255.0::eth0:off)"
        )
    }
}

/// Parse the value of an `ip=` parameter (without the `ip=` prefix).
///
/// Fields are `client:server:gw:netmask:hostname:device:autoconf`; server, hostname and device
/// are accepted and ignored (rinet has one NIC). `dhcp`, `on` and `any` select DHCP as on Linux.
pub fn parse_ip_param(value: &str) -> Result<IpConfig, IpParamError> {
    match value {
        "dhcp" | "on" | "any" | "both" | "bootp" => return Ok(IpConfig::Dhcp),
        // Not an address either (those have dots), e.g. a misspelt method: name it as such.
        v if !v.contains(':') && !v.contains('.') => return Err(IpParamError::UnknownMethod),
        _ => {}
    }
    let mut fields = value.split(':');
    let client = fields.next().unwrap_or("");
    let _server = fields.next();
    let gateway = fields.next().unwrap_or("");
    let netmask = fields.next().unwrap_or("");
    let _hostname = fields.next();
    let _device = fields.next();
    let autoconf = fields.next().unwrap_or("off");
    if fields.next().is_some() {
        // Linux allows DNS servers after autoconf; rinet takes them through nameserver=.
    }
    match autoconf {
        "off" | "none" | "" => {}
        "dhcp" | "on" | "any" => return Ok(IpConfig::Dhcp),
        _ => return Err(IpParamError::BadAutoconf),
    }
    if client.is_empty() || netmask.is_empty() {
        return Err(IpParamError::MissingAddress);
    }
    let address: Ipv4Addr = client.parse().map_err(|_| IpParamError::BadAddress)?;
    let gateway = if gateway.is_empty() {
        None
    } else {
        Some(gateway.parse().map_err(|_| IpParamError::BadGateway)?)
    };
    let mask: Ipv4Addr = netmask.parse().map_err(|_| IpParamError::BadNetmask)?;
    let prefix_len = netmask_prefix_len(mask).ok_or(IpParamError::BadNetmask)?;
    Ok(IpConfig::Static(StaticConfig {
        address,
        prefix_len,
        gateway,
    }))
}

/// The prefix length of a contiguous netmask, `None` for a mask with holes.
pub fn netmask_prefix_len(mask: Ipv4Addr) -> Option<u8> {
    let bits = u32::from(mask);
    let ones = bits.leading_ones();
    if bits.checked_shl(ones).unwrap_or(0) == 0 {
        Some(ones as u8)
    } else {
        None
    }
}

/// The netmask for a prefix length (0..=32; larger values saturate to /32).
pub fn prefix_netmask(prefix_len: u8) -> Ipv4Addr {
    let p = u32::from(prefix_len.min(32));
    Ipv4Addr::from(u32::MAX.checked_shl(32 - p).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dhcp_forms() {
        assert_eq!(parse_ip_param("dhcp"), Ok(IpConfig::Dhcp));
        assert_eq!(parse_ip_param(":::::eth0:dhcp"), Ok(IpConfig::Dhcp));
    }

    #[test]
    fn static_form_from_the_docs() {
        let c = parse_ip_param("192.168.100.2::192.168.100.1:255.255.255.0::eth0:off").unwrap();
        assert_eq!(
            c,
            IpConfig::Static(StaticConfig {
                address: Ipv4Addr::new(192, 168, 100, 2),
                prefix_len: 24,
                gateway: Some(Ipv4Addr::new(192, 168, 100, 1)),
            })
        );
        let c = parse_ip_param("10.0.0.5:::255.0.0.0:::off").unwrap();
        assert!(matches!(
            c,
            IpConfig::Static(StaticConfig {
                prefix_len: 8,
                gateway: None,
                ..
            })
        ));
    }

    #[test]
    fn malformed_forms_are_rejected_with_a_reason() {
        assert_eq!(
            parse_ip_param("300.1.1.1::1.1.1.1:255.0.0.0::eth0:off"),
            Err(IpParamError::BadAddress)
        );
        assert_eq!(
            parse_ip_param("1.1.1.2::1.1.1.1:255.0.255.0::eth0:off"),
            Err(IpParamError::BadNetmask)
        );
        assert_eq!(
            parse_ip_param("1.1.1.2::x:255.0.0.0::eth0:off"),
            Err(IpParamError::BadGateway)
        );
        // A word without ':' or '.' is a misspelt method, named as such (not "missing
        // address"): ip=dhcpp.
        assert_eq!(parse_ip_param("garbage"), Err(IpParamError::UnknownMethod));
        assert_eq!(parse_ip_param("dhcpp"), Err(IpParamError::UnknownMethod));
        assert!(alloc::format!("{}", IpParamError::UnknownMethod).contains("'dhcp'"));
        assert_eq!(
            parse_ip_param("10.0.2.15"),
            Err(IpParamError::MissingAddress)
        );
        assert_eq!(
            parse_ip_param("1.1.1.2::1.1.1.1:255.0.0.0::eth0:bogus"),
            Err(IpParamError::BadAutoconf)
        );
        let msg = alloc::format!("{}", IpParamError::BadNetmask);
        assert!(msg.contains("ip=dhcp"));
    }

    #[test]
    fn masks() {
        assert_eq!(
            netmask_prefix_len(Ipv4Addr::new(255, 255, 255, 0)),
            Some(24)
        );
        assert_eq!(netmask_prefix_len(Ipv4Addr::new(0, 0, 0, 0)), Some(0));
        assert_eq!(
            netmask_prefix_len(Ipv4Addr::new(255, 255, 255, 255)),
            Some(32)
        );
        assert_eq!(prefix_netmask(24), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(prefix_netmask(0), Ipv4Addr::new(0, 0, 0, 0));
    }
}
