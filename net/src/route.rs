//! The forwarding information base: longest-prefix-match routes (the seeds' `ip_route_connect`).
//!
//! Owns the route entries (connected, static, default) and the lookup that picks the output
//! interface and next hop. It never touches devices or addresses itself: the stack adds
//! connected routes when an address is configured and fills the source address and MTU of a
//! lookup result from the interface.

use alloc::vec::Vec;
use core::net::Ipv4Addr;

use crate::config::prefix_netmask;
use crate::errno::Errno;

/// Bound on routes: a host needs a handful (loopback, connected, default, a few static); the
/// bound keeps a misbehaving configuration from growing the table and the linear lookup.
pub const MAX_ROUTES: usize = 64;

/// Where a route came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// The subnet of an interface address (removed with the address).
    Connected,
    /// Added by configuration (`configure`'s gateway, or `add_route`).
    Static,
}

/// One FIB entry: `dest/prefix_len` reached through `iface`, via `gateway` if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteEntry {
    pub dest: Ipv4Addr,
    pub prefix_len: u8,
    pub gateway: Option<Ipv4Addr>,
    pub iface: usize,
    /// Preferred source address (Linux's `src`), `None` = the interface's address.
    pub pref_src: Option<Ipv4Addr>,
    pub kind: RouteKind,
}

impl RouteEntry {
    pub fn matches(&self, dst: Ipv4Addr) -> bool {
        let mask = u32::from(prefix_netmask(self.prefix_len));
        u32::from(dst) & mask == u32::from(self.dest) & mask
    }
}

/// The result of a route lookup: everything output needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Interface index in the stack (0 = loopback).
    pub iface: usize,
    /// The address to resolve on the link: the gateway, or the destination itself.
    pub next_hop: Ipv4Addr,
    /// The source address to use (0.0.0.0 when the interface has none yet).
    pub source: Ipv4Addr,
    /// The interface MTU (largest IP datagram without fragmentation).
    pub mtu: usize,
}

/// The routing table.
#[derive(Debug, Default, Clone)]
pub struct Fib {
    entries: Vec<RouteEntry>,
}

impl Fib {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a route. `EINVAL` for a prefix over 32 or host bits set in `dest`, `EEXIST` for a
    /// route to the same prefix, `ENOSPC` when the table is full.
    pub fn add(&mut self, e: RouteEntry) -> Result<(), Errno> {
        if e.prefix_len > 32 {
            return Err(Errno::EINVAL);
        }
        let mask = u32::from(prefix_netmask(e.prefix_len));
        if u32::from(e.dest) & !mask != 0 {
            return Err(Errno::EINVAL);
        }
        if self
            .entries
            .iter()
            .any(|r| r.dest == e.dest && r.prefix_len == e.prefix_len)
        {
            return Err(Errno::EEXIST);
        }
        if self.entries.len() >= MAX_ROUTES {
            return Err(Errno::ENOSPC);
        }
        self.entries.push(e);
        Ok(())
    }

    /// Remove the route to `dest/prefix_len`; `ESRCH`-like `ENOENT` when absent.
    pub fn remove(&mut self, dest: Ipv4Addr, prefix_len: u8) -> Result<RouteEntry, Errno> {
        let i = self
            .entries
            .iter()
            .position(|r| r.dest == dest && r.prefix_len == prefix_len)
            .ok_or(Errno::ENOENT)?;
        Ok(self.entries.remove(i))
    }

    /// Remove every route through `iface` (the interface lost its address).
    pub fn remove_iface(&mut self, iface: usize) {
        self.entries.retain(|r| r.iface != iface);
    }

    /// The longest-prefix match for `dst`, `ENETUNREACH` when nothing matches.
    pub fn lookup(&self, dst: Ipv4Addr) -> Result<&RouteEntry, Errno> {
        self.entries
            .iter()
            .filter(|r| r.matches(dst))
            .max_by_key(|r| r.prefix_len)
            .ok_or(Errno::ENETUNREACH)
    }

    pub fn entries(&self) -> &[RouteEntry] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(dest: [u8; 4], p: u8, gw: Option<[u8; 4]>, iface: usize) -> RouteEntry {
        RouteEntry {
            dest: dest.into(),
            prefix_len: p,
            gateway: gw.map(Ipv4Addr::from),
            iface,
            pref_src: None,
            kind: RouteKind::Static,
        }
    }

    #[test]
    fn longest_prefix_wins_and_default_catches_the_rest() {
        let mut f = Fib::new();
        assert_eq!(
            f.lookup(Ipv4Addr::new(8, 8, 8, 8)).err(),
            Some(Errno::ENETUNREACH)
        );
        f.add(e([0, 0, 0, 0], 0, Some([10, 0, 0, 1]), 1)).unwrap();
        f.add(e([10, 0, 0, 0], 8, None, 1)).unwrap();
        f.add(e([10, 1, 0, 0], 16, Some([10, 0, 0, 9]), 2)).unwrap();
        assert_eq!(f.lookup(Ipv4Addr::new(10, 1, 2, 3)).unwrap().iface, 2);
        assert_eq!(f.lookup(Ipv4Addr::new(10, 2, 2, 3)).unwrap().prefix_len, 8);
        assert_eq!(f.lookup(Ipv4Addr::new(8, 8, 8, 8)).unwrap().prefix_len, 0);
        assert_eq!(f.add(e([10, 0, 0, 0], 8, None, 1)), Err(Errno::EEXIST));
        assert_eq!(f.add(e([10, 0, 0, 1], 8, None, 1)), Err(Errno::EINVAL));
        assert_eq!(f.add(e([10, 0, 0, 0], 33, None, 1)), Err(Errno::EINVAL));
        f.remove(Ipv4Addr::UNSPECIFIED, 0).unwrap();
        assert_eq!(
            f.lookup(Ipv4Addr::new(8, 8, 8, 8)).err(),
            Some(Errno::ENETUNREACH)
        );
    }

    #[test]
    fn table_is_bounded() {
        let mut f = Fib::new();
        for i in 0..MAX_ROUTES {
            f.add(e([10, i as u8, 0, 0], 16, None, 1)).unwrap();
        }
        assert_eq!(f.add(e([11, 0, 0, 0], 8, None, 1)), Err(Errno::ENOSPC));
    }
}
