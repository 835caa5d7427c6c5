//! Interface addresses and routes: `configure`/`deconfigure`, static routes, and the route
//! lookup every output goes through.

use alloc::vec::Vec;
use core::net::Ipv4Addr;

use super::{Core, IfAddr, Stack, LOOPBACK_IFACE, NIC_IFACE};
use crate::errno::Errno;
use crate::neigh::NeighState;
use crate::route::{Route, RouteEntry, RouteKind};
use crate::time::Instant;
use crate::wire::MacAddr;

impl Stack {
    /// Configure the first NIC: `address/prefix_len`, its connected route, a default route via
    /// `gateway` (which must be inside the subnet), and a gratuitous ARP. Replaces a previous
    /// configuration. `EINVAL` for an address that cannot be a host's.
    pub fn configure(
        &mut self,
        now: Instant,
        address: Ipv4Addr,
        prefix_len: u8,
        gateway: Option<Ipv4Addr>,
    ) -> Result<(), Errno> {
        self.configure_iface(now, NIC_IFACE, address, prefix_len, gateway)
    }

    /// [`Stack::configure`] for any Ethernet interface.
    pub fn configure_iface(
        &mut self,
        now: Instant,
        iface: usize,
        address: Ipv4Addr,
        prefix_len: u8,
        gateway: Option<Ipv4Addr>,
    ) -> Result<(), Errno> {
        self.core.routes_changed();
        let ifa = IfAddr {
            addr: address,
            prefix_len,
        };
        if prefix_len > 32
            || address.is_unspecified()
            || address.is_broadcast()
            || address.is_multicast()
            || address.is_loopback()
            || ifa.broadcast() == Some(address)
        {
            return Err(Errno::EINVAL);
        }
        match self.core.ifaces.get(iface) {
            Some(i) if !i.loopback => {}
            _ => return Err(Errno::EINVAL),
        }
        if let Some(gw) = gateway {
            if !ifa.contains(gw) || gw == address {
                return Err(Errno::ENETUNREACH);
            }
        }
        if self.core.ifaces[iface].addr == Some(ifa) {
            // A renewal (DHCP) of the same address: keep neighbours and queued packets,
            // rebuild only the routes.
            self.core.fib.remove_iface(iface);
        } else {
            self.deconfigure_iface(iface);
        }
        self.core.ifaces[iface].addr = Some(ifa);
        self.core.fib.add(RouteEntry {
            dest: ifa.network(),
            prefix_len,
            gateway: None,
            iface,
            pref_src: Some(address),
            kind: RouteKind::Connected,
        })?;
        if let Some(gw) = gateway {
            let _ = self.core.fib.remove(Ipv4Addr::UNSPECIFIED, 0);
            self.core.fib.add(RouteEntry {
                dest: Ipv4Addr::UNSPECIFIED,
                prefix_len: 0,
                gateway: Some(gw),
                iface,
                pref_src: Some(address),
                kind: RouteKind::Static,
            })?;
        }
        self.core.send_gratuitous_arp(now, iface);
        self.flush();
        Ok(())
    }

    /// Remove the first NIC's address, its routes and its neighbour entries (queued packets
    /// fail with EHOSTUNREACH).
    pub fn deconfigure(&mut self) {
        self.deconfigure_iface(NIC_IFACE);
    }

    fn deconfigure_iface(&mut self, iface: usize) {
        self.core.routes_changed();
        let Some(i) = self.core.ifaces.get_mut(iface) else {
            return;
        };
        if i.loopback {
            return;
        }
        i.addr = None;
        let mut actions = Vec::new();
        i.neigh.clear(&mut actions);
        self.core.fib.remove_iface(iface);
        self.core.neigh_actions(iface, actions);
    }

    /// The first NIC's hardware address (for a DHCP client's chaddr), if there is a NIC.
    pub fn mac(&self) -> Option<MacAddr> {
        self.core.ifaces.get(NIC_IFACE).map(|i| i.mac)
    }

    /// The first NIC's MTU, if there is a NIC.
    pub fn mtu(&self) -> Option<usize> {
        self.core.ifaces.get(NIC_IFACE).map(|i| i.mtu)
    }

    /// The first NIC's address, if configured.
    pub fn address(&self) -> Option<IfAddr> {
        self.core.ifaces.get(NIC_IFACE).and_then(|i| i.addr)
    }

    /// Whether `ip` is one of this host's addresses (127.0.0.0/8 included).
    pub fn is_local_addr(&self, ip: Ipv4Addr) -> bool {
        self.core.is_local(ip)
    }

    /// Add a static route to `dest/prefix_len` via `gateway` (or on-link when `None`) out of
    /// the interface whose connected route covers the gateway (else the first NIC).
    pub fn add_route(
        &mut self,
        dest: Ipv4Addr,
        prefix_len: u8,
        gateway: Option<Ipv4Addr>,
    ) -> Result<(), Errno> {
        self.core.routes_changed();
        let iface = match gateway {
            Some(gw) => {
                let r = self.core.fib.lookup(gw)?;
                if r.gateway.is_some() {
                    return Err(Errno::ENETUNREACH);
                }
                r.iface
            }
            None => NIC_IFACE,
        };
        self.core.fib.add(RouteEntry {
            dest,
            prefix_len,
            gateway,
            iface,
            pref_src: None,
            kind: RouteKind::Static,
        })
    }

    pub fn remove_route(&mut self, dest: Ipv4Addr, prefix_len: u8) -> Result<(), Errno> {
        self.core.routes_changed();
        self.core.fib.remove(dest, prefix_len).map(|_| ())
    }

    /// The routing table.
    pub fn routes(&self) -> &[RouteEntry] {
        self.core.fib.entries()
    }

    /// Route lookup (the seeds' `ip_route_connect`): output interface, next hop, source
    /// address, MTU; `ENETUNREACH` when no route matches.
    pub fn route(&self, dst: Ipv4Addr) -> Result<Route, Errno> {
        self.core.route(dst)
    }

    /// The neighbour state of `ip` on the first NIC.
    pub fn neighbour(&self, ip: Ipv4Addr) -> Option<(NeighState, MacAddr)> {
        self.core.ifaces.get(NIC_IFACE)?.neigh.lookup(ip)
    }

    /// Upper-layer reachability confirmation for `ip` (TCP saw progress), Linux's dst_confirm.
    pub fn confirm_neighbour(&mut self, now: Instant, ip: Ipv4Addr) {
        for i in self.core.ifaces.iter_mut() {
            i.neigh.confirm(now, ip);
        }
    }
}

impl Core {
    /// [`Core::route_uncached`] behind a one-entry cache (a connection's segments all go to
    /// one destination), emptied by [`Core::routes_changed`] whenever an address or route
    /// changes. Errors are not cached.
    #[inline]
    pub(super) fn route(&self, dst: Ipv4Addr) -> Result<Route, Errno> {
        if let Some((d, r)) = self.route_cache.get() {
            if d == dst {
                return Ok(r);
            }
        }
        let r = self.route_uncached(dst)?;
        self.route_cache.set(Some((dst, r)));
        Ok(r)
    }

    /// Forget cached routes: call before changing interface addresses, devices or the FIB.
    pub(super) fn routes_changed(&self) {
        self.route_cache.set(None);
    }

    fn route_uncached(&self, dst: Ipv4Addr) -> Result<Route, Errno> {
        if dst.is_unspecified() {
            return Err(Errno::ENETUNREACH);
        }
        let lo = &self.ifaces[LOOPBACK_IFACE];
        if self.is_local(dst) {
            return Ok(Route {
                iface: LOOPBACK_IFACE,
                next_hop: dst,
                source: dst,
                mtu: lo.mtu,
            });
        }
        if dst.is_broadcast() {
            let i = self.nic().ok_or(Errno::ENETUNREACH)?;
            let f = &self.ifaces[i];
            return Ok(Route {
                iface: i,
                next_hop: dst,
                source: f.addr.map_or(Ipv4Addr::UNSPECIFIED, |a| a.addr),
                mtu: f.mtu,
            });
        }
        let e = self.fib.lookup(dst)?;
        let f = self.ifaces.get(e.iface).ok_or(Errno::ENETUNREACH)?;
        Ok(Route {
            iface: e.iface,
            next_hop: e.gateway.unwrap_or(dst),
            source: e
                .pref_src
                .or(f.addr.map(|a| a.addr))
                .unwrap_or(Ipv4Addr::UNSPECIFIED),
            mtu: f.mtu,
        })
    }
}
