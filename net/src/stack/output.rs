//! Transmit path: a datagram → route → IPv4 header (+ fragmentation) → neighbour resolution →
//! an Ethernet frame in the outbox; plus the ARP and ICMP-error frames the stack originates.

use alloc::vec::Vec;
use core::net::Ipv4Addr;

use super::{Core, Route, SendOptions, FRAME_POOL, FRAME_POOL_BUF_MAX, LOCAL_ERROR_QUEUE};
use crate::errno::Errno;
use crate::icmp::{build_error, may_send_error, IcmpError};
use crate::ipv4::fragment;
use crate::neigh::Action;
use crate::offload::{complete_tcp_checksum, finish_frame, finish_packet, TxOffload};
use crate::time::Instant;
use crate::wire::arp::{ArpOp, ArpRepr, PACKET_LEN as ARP_LEN};
use crate::wire::ethernet::{ethertype, EthernetRepr, HEADER_LEN as ETH_LEN};
use crate::wire::icmp::{msg_type, unreach};
use crate::wire::ipv4::{
    protocol, Ipv4Repr, Packet as Ipv4Packet, HEADER_LEN as IP_LEN, MAX_PACKET_LEN,
};
use crate::wire::MacAddr;

/// Room kept in front of a payload for the Ethernet and IPv4 headers.
const HEADROOM: usize = ETH_LEN + IP_LEN;

impl Core {
    /// Route, build, fragment and hand to the neighbour layer. See `Stack::send_ipv4`.
    pub(super) fn send_ipv4(
        &mut self,
        now: Instant,
        src: Option<Ipv4Addr>,
        dst: Ipv4Addr,
        proto: u8,
        payload: &[u8],
        opts: SendOptions,
    ) -> Result<(), Errno> {
        if payload.len() + IP_LEN > MAX_PACKET_LEN {
            // Refused before any copy; counted as send_ipv4_frame would count it.
            self.ip.out_requests += 1;
            self.ip.out_discards += 1;
            return Err(Errno::EMSGSIZE);
        }
        self.send_ipv4_append(now, src, dst, proto, opts, TxOffload::NONE, &mut |f| {
            if f.try_reserve(payload.len()).is_ok() {
                f.extend_from_slice(payload);
            }
        })
    }

    /// [`Core::send_ipv4`] with the payload appended by `fill` straight into the frame buffer,
    /// behind room for the Ethernet and IPv4 headers: a transport that builds its segment
    /// there makes no copy of its own. `fill` must only append, and appends nothing when it cannot get the memory (the send is then ENOBUFS). `offload`: what the TCP segment
    /// leaves undone (a partial checksum, a super-segment to cut), done by the device if it
    /// can and here otherwise.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn send_ipv4_append(
        &mut self,
        now: Instant,
        src: Option<Ipv4Addr>,
        dst: Ipv4Addr,
        proto: u8,
        opts: SendOptions,
        offload: TxOffload,
        fill: &mut dyn FnMut(&mut Vec<u8>),
    ) -> Result<(), Errno> {
        self.clock = self.clock.max(now);
        let mut frame = self.take_frame();
        if frame.try_reserve(HEADROOM).is_err() {
            self.ip.out_discards += 1;
            return Err(Errno::ENOBUFS);
        }
        frame.extend_from_slice(&[0u8; HEADROOM]);
        fill(&mut frame);
        // A transport whose memory ran out appends nothing (every real payload has at least
        // its header): the send fails with ENOBUFS, as Linux's does when it cannot allocate
        // the packet, instead of the kernel panicking in the allocator.
        if frame.len() == HEADROOM {
            self.ip.out_discards += 1;
            self.recycle_frame(frame);
            return Err(Errno::ENOBUFS);
        }
        let offload = if proto == protocol::TCP {
            offload
        } else {
            TxOffload::NONE
        };
        let r = self.send_ipv4_frame(now, src, dst, proto, &mut frame, opts, offload);
        // Still ours unless the fast path queued it (then `frame` is empty, capacity 0).
        if frame.capacity() != 0 {
            self.recycle_frame(frame);
        }
        r
    }

    /// Send the payload at `frame[HEADROOM..]`. On the fast path (fits the MTU, neighbour
    /// usable) the headers are written into the headroom and the buffer moves to the outbox
    /// (`frame` is left empty); otherwise the payload is fragmented / queued from a copy.
    /// Offloads the interface's device lacks are done here in software; a super-segment that
    /// cannot take the fast path is cut into segments first, each sent on its own.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn send_ipv4_frame(
        &mut self,
        now: Instant,
        src: Option<Ipv4Addr>,
        dst: Ipv4Addr,
        proto: u8,
        frame: &mut Vec<u8>,
        opts: SendOptions,
        offload: TxOffload,
    ) -> Result<(), Errno> {
        self.ip.out_requests += 1;
        let payload_len = frame.len().saturating_sub(HEADROOM);
        if frame.len() < HEADROOM || payload_len + IP_LEN > MAX_PACKET_LEN {
            self.ip.out_discards += 1;
            return Err(Errno::EMSGSIZE);
        }
        let route = match self.route(dst) {
            Ok(r) => r,
            Err(e) => {
                self.ip.out_no_routes += 1;
                return Err(e);
            }
        };
        let src = match src {
            Some(s) if !s.is_unspecified() => {
                if !self.is_local(s) {
                    self.ip.out_discards += 1;
                    return Err(Errno::EADDRNOTAVAIL);
                }
                s
            }
            _ => route.source,
        };
        let repr = Ipv4Repr {
            src,
            dst,
            protocol: proto,
            ttl: opts.ttl,
            tos: opts.tos,
            ident: self.ids.next(src, dst, proto),
            dont_frag: opts.dont_frag,
            more_frags: false,
            frag_offset: 0,
            payload_len,
        };
        let tso = offload.tcp_mss > 0;
        if IP_LEN + payload_len <= route.mtu || tso {
            if let Some(mac) = self.link_dst(now, route.iface, route.next_hop, dst) {
                // The fast path: the headers go in front of the payload, in the same buffer.
                if dst.is_broadcast() {
                    self.ip.out_bcast_pkts += 1;
                }
                if let Some(ifc) = self.ifaces.get(route.iface) {
                    let eth = EthernetRepr {
                        src: ifc.mac,
                        dst: mac,
                        ethertype: ethertype::IPV4,
                    };
                    let caps = ifc.caps;
                    // Cannot fail: the headroom holds both headers; the length was checked.
                    let _ = eth.emit(&mut frame[..]);
                    let _ = repr.emit(&mut frame[ETH_LEN..]);
                    let mut offload = offload;
                    if tso && caps.tso_max < IP_LEN + payload_len {
                        // The device cannot cut it: cut it here (software GSO).
                        return self.segment_in_software(route.iface, frame, offload);
                    }
                    if tso {
                        self.link.out_tso_frames += 1;
                    } else if offload.tcp_checksum && !caps.tx_checksum {
                        self.link.out_csum_software += 1;
                        finish_checksum(&mut frame[HEADROOM..]);
                        offload = TxOffload::NONE;
                    }
                    self.outbox
                        .push((route.iface, core::mem::take(frame), offload));
                }
                return Ok(());
            }
        }
        if tso {
            // A super-segment whose next hop waits for ARP: its segments wait one by one.
            return self.send_super_segment_cut(now, &repr, &route, frame, offload);
        }
        if offload.tcp_checksum {
            self.link.out_csum_software += 1;
            finish_checksum(&mut frame[HEADROOM..]);
        }
        let payload = &frame[HEADROOM..];
        let mut packets = Vec::new();
        fragment(&repr, payload, route.mtu, &mut self.ip, &mut |p| {
            packets.push(p)
        })?;
        if dst.is_broadcast() {
            self.ip.out_bcast_pkts += 1;
        }
        let mut result = Ok(());
        for p in packets {
            if let Err(e) = self.output_packet(now, route.iface, route.next_hop, dst, p) {
                result = Err(e);
            }
        }
        result
    }

    /// The slow path of a super-segment (its next hop waits for ARP): cut it as a NIC would
    /// (`offload::finish_packet`), and queue each segment through the neighbour layer, as the
    /// ordinary slow path queues fragments. (Not through `send_ipv4_frame` again: that keeps
    /// the hot path free of recursion, so it stays inlined.)
    #[inline(never)]
    fn send_super_segment_cut(
        &mut self,
        now: Instant,
        repr: &Ipv4Repr,
        route: &Route,
        frame: &mut [u8],
        offload: TxOffload,
    ) -> Result<(), Errno> {
        // Cannot fail: the headroom holds the header.
        let _ = repr.emit(&mut frame[ETH_LEN..]);
        self.link.out_gso_software += 1;
        let mut result = Ok(());
        let mut pieces = 0u64;
        let cut = finish_packet(&frame[ETH_LEN..], offload, &mut |packet| {
            pieces += 1;
            if let Err(e) =
                self.output_packet(now, route.iface, route.next_hop, repr.dst, packet.to_vec())
            {
                result = Err(e);
            }
        });
        // One output request per segment that left (the super-segment counted as the first).
        self.ip.out_requests += pieces.saturating_sub(1);
        if cut.is_err() {
            self.cut_failed();
            return Err(Errno::EINVAL);
        }
        result
    }

    /// Cut the TCP super-segment in `frame` (headers written) into finished frames for
    /// `iface`, whose device cannot do it.
    #[inline(never)]
    fn segment_in_software(
        &mut self,
        iface: usize,
        frame: &mut [u8],
        offload: TxOffload,
    ) -> Result<(), Errno> {
        let mut pieces = Vec::new();
        let cut = finish_frame(frame, offload, &mut |f| {
            let mut buf = self.take_frame();
            buf.extend_from_slice(f);
            pieces.push(buf);
        });
        if cut.is_err() {
            self.cut_failed();
            return Err(Errno::EINVAL);
        }
        self.link.out_gso_software += 1;
        for p in pieces {
            self.outbox.push((iface, p, TxOffload::NONE));
        }
        Ok(())
    }

    /// A segment that asked for an offload was not the IPv4/TCP packet it claimed to be (the
    /// transport built it wrong): dropped and counted, never sent half-finished.
    #[cold]
    fn cut_failed(&mut self) {
        debug_assert!(false, "a transport handed over a malformed offload segment");
        self.ip.out_discards += 1;
    }

    /// Frame one IPv4 packet (≤ MTU) for `iface`: loopback directly, broadcast and multicast
    /// to their MACs, unicast through the neighbour table.
    fn output_packet(
        &mut self,
        now: Instant,
        iface: usize,
        next_hop: Ipv4Addr,
        dst: Ipv4Addr,
        packet: Vec<u8>,
    ) -> Result<(), Errno> {
        if let Some(mac) = self.link_dst(now, iface, next_hop, dst) {
            self.emit_frame(iface, mac, ethertype::IPV4, &packet);
            return Ok(());
        }
        let mut actions = Vec::new();
        let r = self.ifaces[iface]
            .neigh
            .output(now, next_hop, packet, &mut self.arp, &mut actions);
        self.neigh_actions(iface, actions);
        if r.is_err() {
            self.ip.out_discards += 1;
        }
        r
    }

    /// The destination MAC for a packet to `dst` via `next_hop` on `iface` when it is known
    /// now: loopback (zero), broadcast and multicast (computed), a usable neighbour entry.
    /// `None`: the neighbour must be resolved first (`NeighTable::output` queues the packet).
    fn link_dst(
        &mut self,
        now: Instant,
        iface: usize,
        next_hop: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> Option<MacAddr> {
        let ifc = self.ifaces.get_mut(iface)?;
        if ifc.loopback {
            return Some(MacAddr::ZERO);
        }
        let subnet_bcast = ifc.addr.and_then(|a| a.broadcast());
        if dst.is_broadcast() || Some(dst) == subnet_bcast {
            return Some(MacAddr::BROADCAST);
        }
        if dst.is_multicast() {
            // RFC 1112 §6.4: 01:00:5e + the low 23 bits of the group.
            let o = dst.octets();
            return Some(MacAddr([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]));
        }
        ifc.neigh.resolved(now, next_hop)
    }

    /// Carry out what the neighbour table asked for.
    pub(super) fn neigh_actions(&mut self, iface: usize, actions: Vec<Action>) {
        for a in actions {
            match a {
                Action::Transmit { mac, packet } => {
                    self.emit_frame(iface, mac, ethertype::IPV4, &packet)
                }
                Action::Request { target, dst_mac } => {
                    let ifc = &self.ifaces[iface];
                    let arp = ArpRepr {
                        operation: ArpOp::Request,
                        source_hw: ifc.mac,
                        source_ip: ifc.addr.map_or(Ipv4Addr::UNSPECIFIED, |a| a.addr),
                        target_hw: MacAddr::ZERO,
                        target_ip: target,
                    };
                    self.arp.out_requests += 1;
                    self.emit_arp(iface, dst_mac, &arp);
                }
                Action::Reply {
                    our_ip,
                    dst_mac,
                    dst_ip,
                } => {
                    let arp = ArpRepr {
                        operation: ArpOp::Reply,
                        source_hw: self.ifaces[iface].mac,
                        source_ip: our_ip,
                        target_hw: dst_mac,
                        target_ip: dst_ip,
                    };
                    self.arp.out_replies += 1;
                    self.emit_arp(iface, dst_mac, &arp);
                }
                Action::Failed { packets, .. } => {
                    for p in packets {
                        self.queue_local_error(&p);
                    }
                }
            }
        }
    }

    /// A packet we could not deliver to the link: its sender hears EHOSTUNREACH at the next
    /// poll (Linux sends itself ICMP host unreachable the same way, `ip_link_failure`).
    fn queue_local_error(&mut self, packet: &[u8]) {
        let Ok(p) = Ipv4Packet::new_checked(packet) else {
            return;
        };
        if p.frag_offset() != 0 || self.local_errors.len() >= LOCAL_ERROR_QUEUE {
            return;
        }
        let n = (p.header_len() + 8).min(packet.len());
        self.local_errors.push_back((
            IcmpError::DstUnreachable {
                code: unreach::HOST,
            },
            packet[..n].to_vec(),
        ));
    }

    /// RFC 5227 ARP announcement of our (new) address: a request with sender = target = us.
    pub(super) fn send_gratuitous_arp(&mut self, _now: Instant, iface: usize) {
        let ifc = &self.ifaces[iface];
        let Some(a) = ifc.addr else { return };
        let arp = ArpRepr {
            operation: ArpOp::Request,
            source_hw: ifc.mac,
            source_ip: a.addr,
            target_hw: MacAddr::ZERO,
            target_ip: a.addr,
        };
        self.arp.out_gratuitous += 1;
        self.emit_arp(iface, MacAddr::BROADCAST, &arp);
    }

    fn emit_arp(&mut self, iface: usize, dst: MacAddr, arp: &ArpRepr) {
        let mut buf = [0u8; ARP_LEN];
        // Cannot fail: the buffer is exactly an ARP packet.
        let _ = arp.emit(&mut buf);
        self.emit_frame(iface, dst, ethertype::ARP, &buf);
    }

    /// A frame buffer from the pool (empty, capacity kept), or a new one.
    fn take_frame(&mut self) -> Vec<u8> {
        let mut f = self.frame_pool.pop().unwrap_or_default();
        f.clear();
        f
    }

    /// Give a frame buffer back to the pool (bounded by `FRAME_POOL`, `FRAME_POOL_BUF_MAX`).
    pub(super) fn recycle_frame(&mut self, frame: Vec<u8>) {
        if self.frame_pool.len() < FRAME_POOL
            && frame.capacity() != 0
            && frame.capacity() <= FRAME_POOL_BUF_MAX
        {
            self.frame_pool.push(frame);
        }
    }

    /// Put a frame in the outbox.
    pub(super) fn emit_frame(
        &mut self,
        iface: usize,
        dst: MacAddr,
        ethertype: u16,
        payload: &[u8],
    ) {
        let Some(ifc) = self.ifaces.get(iface) else {
            return;
        };
        let eth = EthernetRepr {
            src: ifc.mac,
            dst,
            ethertype,
        };
        let mut frame = self.take_frame();
        frame.extend_from_slice(&[0u8; ETH_LEN]);
        frame.extend_from_slice(payload);
        // Cannot fail: the frame has room for the header.
        let _ = eth.emit(&mut frame);
        self.outbox.push((iface, frame, TxOffload::NONE));
    }

    /// Send an ICMP error about `quoted` (an IPv4 header and the start of its payload) back
    /// to its source, if RFC 1122 allows it and the rate limiter has a token.
    pub(super) fn icmp_error_reply(
        &mut self,
        now: Instant,
        msg: u8,
        code: u8,
        mtu: u16,
        quoted: &[u8],
        broadcast: bool,
    ) {
        let Ok(p) = Ipv4Packet::new_checked(quoted).or_else(|_| {
            // A quote is shorter than the datagram's total length: check only the header.
            let hl = quoted
                .first()
                .map_or(0, |b| usize::from(b & 0x0f) * 4)
                .max(20);
            if quoted.len() >= hl {
                Ok(Ipv4Packet::new_unchecked(quoted))
            } else {
                Err(())
            }
        }) else {
            return;
        };
        let hl = p.header_len().max(20);
        let (header, payload) = quoted.split_at(hl.min(quoted.len()));
        if header.len() < 20 || !may_send_error(header, payload, broadcast) {
            return;
        }
        if !self.icmp.allow_error(now) {
            return;
        }
        let src = p.dst();
        let dst = p.src();
        let msg_bytes = build_error(msg, code, mtu, header, payload);
        let src = self.is_local(src).then_some(src);
        let r = self.send_ipv4(
            now,
            src,
            dst,
            protocol::ICMP,
            &msg_bytes,
            SendOptions::default(),
        );
        let st = &mut self.icmp.stats;
        if r.is_ok() {
            st.out_msgs += 1;
            match msg {
                msg_type::DST_UNREACHABLE => st.out_dest_unreachs += 1,
                msg_type::TIME_EXCEEDED => st.out_time_excds += 1,
                _ => {}
            }
        } else {
            st.out_errors += 1;
        }
    }
}

/// Finish the partial checksum of a TCP segment the stack built itself (at least a TCP
/// header long: it cannot fail).
fn finish_checksum(segment: &mut [u8]) {
    let done = complete_tcp_checksum(segment);
    debug_assert!(done.is_ok());
}
