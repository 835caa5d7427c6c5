//! Stack tests on a simulated Ethernet segment: several stacks on one [`Hub`], a deterministic
//! clock, raw frames injected from a port no stack owns. This file is the harness;
//! `exchange.rs` tests traffic between hosts, `malformed.rs` hostile input.

mod exchange;
mod malformed;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use super::*;
use crate::neigh::{NeighState, DELAY_FIRST_PROBE, REACHABLE_TIME, RETRANS_TIME, UCAST_PROBES};
use crate::sim::{Hub, SimNic};
use crate::time::Duration;
use crate::wire::ethernet::ethertype;
use crate::wire::ipv4::{protocol, Ipv4Repr};

pub(super) fn mac(i: u8) -> MacAddr {
    MacAddr([2, 0, 0, 0, 0, i])
}

pub(super) fn ip(i: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, i)
}

pub(super) fn sa(a: Ipv4Addr, port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(a, port)
}

/// Hosts 10.0.0.1, 10.0.0.2, ... on one segment, plus a raw port for injected frames.
pub(super) struct Net {
    pub(super) hub: Hub,
    pub(super) hosts: Vec<Stack>,
    pub(super) raw: SimNic,
    pub(super) now: Instant,
}

impl Net {
    pub(super) fn new(n: u8) -> Net {
        let hub = Hub::new();
        let mut hosts = Vec::new();
        let now = Instant::from_millis(1_000);
        for i in 1..=n {
            let nic = hub.attach(mac(i));
            let mut s = Stack::new(Box::new(nic), u64::from(i));
            s.configure(now, ip(i), 24, None).unwrap();
            hosts.push(s);
        }
        let raw = hub.attach(mac(200));
        let mut net = Net {
            hub,
            hosts,
            raw,
            now,
        };
        net.settle();
        net
    }

    /// Poll every host until nothing moves at the current time.
    pub(super) fn settle(&mut self) {
        for _ in 0..10_000 {
            let mut work = false;
            for h in self.hosts.iter_mut() {
                work |= h.poll(self.now, &mut NoTransport);
            }
            let due = self
                .hosts
                .iter()
                .filter_map(|h| h.poll_at())
                .any(|t| t <= self.now);
            // Drain the raw port so it never fills.
            self.raw.receive(usize::MAX, &mut |_| {});
            if !work && !due {
                return;
            }
        }
        panic!("network did not settle");
    }

    /// Let `d` pass, firing every timer on the way.
    pub(super) fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.settle();
            let next = self
                .hosts
                .iter()
                .filter_map(|h| h.poll_at())
                .filter(|t| *t > self.now)
                .min();
            match next {
                Some(t) if t <= end => self.now = t,
                _ => {
                    self.now = end;
                    self.settle();
                    return;
                }
            }
        }
    }

    pub(super) fn inject(&mut self, frame: &[u8]) {
        self.hub.inject(self.raw.port(), frame);
        self.settle();
    }
}

pub(super) fn eth_frame(dst: MacAddr, ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + payload.len()];
    f[..6].copy_from_slice(&dst.0);
    f[6..12].copy_from_slice(&mac(200).0);
    f[12..14].copy_from_slice(&ethertype.to_be_bytes());
    f[14..].copy_from_slice(payload);
    f
}

pub(super) fn ip_packet(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    payload: &[u8],
) -> (Ipv4Repr, Vec<u8>) {
    let r = Ipv4Repr {
        src,
        dst,
        protocol: proto,
        ttl: 64,
        tos: 0,
        ident: 4242,
        dont_frag: false,
        more_frags: false,
        frag_offset: 0,
        payload_len: payload.len(),
    };
    (r, emit_ip(&r, payload))
}

pub(super) fn emit_ip(r: &Ipv4Repr, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 20 + payload.len()];
    r.emit(&mut p).unwrap();
    p[20..].copy_from_slice(payload);
    p
}

pub(super) fn refill_checksum(p: &mut [u8]) {
    let hl = usize::from(p[0] & 0x0f) * 4;
    p[10] = 0;
    p[11] = 0;
    let c = crate::wire::checksum::checksum(&p[..hl.min(p.len())]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

pub(super) fn udp_bytes(src: Ipv4Addr, dst: Ipv4Addr, sp: u16, dp: u16, data: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 8 + data.len()];
    crate::wire::udp::UdpRepr {
        src_port: sp,
        dst_port: dp,
    }
    .emit(&mut b, src, dst, data)
    .unwrap();
    b
}
