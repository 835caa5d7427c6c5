//! Receive path: a frame from a device → Ethernet → ARP or IPv4 checks → reassembly → ICMP,
//! UDP or the transport hook. Every drop increments a named counter.

use alloc::vec::Vec;
use core::net::SocketAddrV4;

use super::{Core, TransportHandler};
use crate::icmp::{EchoReply, IcmpError, Quoted};
use crate::ipv4::check_input;
use crate::time::Instant;
use crate::wire::arp::{ArpRepr, Packet as ArpPacket};
use crate::wire::ethernet::{ethertype, EthernetRepr, Frame};
use crate::wire::icmp::{msg_type, unreach, IcmpRepr, Packet as IcmpPacket};
use crate::wire::ipv4::{protocol, Ipv4Repr};
use crate::wire::udp::{Packet as UdpPacket, UdpRepr};
use crate::wire::WireError;

/// A datagram ready for its protocol (reassembled if it was fragmented).
struct Local<'a> {
    repr: Ipv4Repr,
    /// The IPv4 header to quote in errors.
    header: &'a [u8],
    payload: &'a [u8],
    /// Sent to a broadcast address: never answered with an error or an echo reply.
    broadcast: bool,
    checksum_verified: bool,
}

impl Core {
    /// [`Core::input_frame`] for a frame the device handed over: returns it unless the
    /// transport kept it (a large TCP segment queued in place, see `TransportHandler::adopt`).
    pub(super) fn input_owned(
        &mut self,
        now: Instant,
        iface: usize,
        frame: Vec<u8>,
        upper: &mut dyn TransportHandler,
    ) -> Option<Vec<u8>> {
        self.adopt_ok = true;
        self.adopted = false;
        self.input_frame(now, iface, &frame, upper);
        self.adopt_ok = false;
        if core::mem::take(&mut self.adopted) {
            upper.adopt(frame);
            return None;
        }
        Some(frame)
    }

    pub(super) fn input_frame(
        &mut self,
        now: Instant,
        iface: usize,
        frame: &[u8],
        upper: &mut dyn TransportHandler,
    ) {
        let Ok(f) = Frame::new_checked(frame) else {
            self.link.in_runts += 1;
            return;
        };
        let Ok(eth) = EthernetRepr::parse(&f) else {
            self.link.in_runts += 1;
            return;
        };
        let Some(ifc) = self.ifaces.get(iface) else {
            return;
        };
        if !ifc.loopback && eth.dst != ifc.mac && !eth.dst.is_multicast() {
            self.link.in_other_host += 1;
            return;
        }
        match eth.ethertype {
            ethertype::ARP if !ifc.loopback => self.input_arp(now, iface, f.payload()),
            ethertype::IPV4 => {
                let l2_bcast = eth.dst.is_multicast();
                self.input_ipv4(now, iface, f.payload(), l2_bcast, upper)
            }
            _ => self.link.in_unknown_ethertype += 1,
        }
    }

    fn input_arp(&mut self, now: Instant, iface: usize, data: &[u8]) {
        let repr = match ArpPacket::new_checked(data).and_then(|p| ArpRepr::parse(&p)) {
            Ok(r) => r,
            Err(WireError::Truncated) => {
                self.arp.in_runts += 1;
                return;
            }
            Err(WireError::Malformed) => {
                self.arp.in_bad_lengths += 1;
                return;
            }
            Err(_) => {
                self.arp.in_unsupported += 1;
                return;
            }
        };
        let mut actions = Vec::new();
        let ifc = &mut self.ifaces[iface];
        let ours = ifc.addr.map(|a| a.addr);
        ifc.neigh.input(
            now,
            ifc.mac,
            &repr,
            &|ip| Some(ip) == ours,
            &mut self.arp,
            &mut actions,
        );
        self.neigh_actions(iface, actions);
    }

    fn input_ipv4(
        &mut self,
        now: Instant,
        iface: usize,
        data: &[u8],
        l2_bcast: bool,
        upper: &mut dyn TransportHandler,
    ) {
        let Some(acc) = check_input(data, &mut self.ip, &mut self.ip_drops) else {
            return;
        };
        let repr = acc.repr;
        let ifc = &self.ifaces[iface];
        if !ifc.loopback && (repr.src.is_loopback() || repr.dst.is_loopback()) {
            // Martians: 127/8 never arrives from a wire (RFC 1122 §3.2.1.3).
            self.ip.in_addr_errors += 1;
            self.ip_drops.bad_src_addr += 1;
            return;
        }
        let local = if ifc.loopback {
            self.is_local(repr.dst)
        } else {
            ifc.addr.is_some_and(|a| a.addr == repr.dst)
        };
        let broadcast = repr.dst.is_broadcast()
            || ifc.addr.and_then(|a| a.broadcast()) == Some(repr.dst)
            || (l2_bcast && repr.dst.is_multicast());
        // Before an address exists (DHCP), UDP to any destination is taken: the server's
        // reply may be unicast to the address it is offering.
        let unconfigured_udp =
            !ifc.loopback && ifc.addr.is_none() && repr.protocol == protocol::UDP;
        if !(local || broadcast || unconfigured_udp) {
            // Not for us, and we do not forward.
            self.ip.in_addr_errors += 1;
            return;
        }
        if broadcast {
            self.ip.in_bcast_pkts += 1;
        }
        let checksum_verified = ifc.caps.rx_checksum_verified;
        if repr.more_frags || repr.frag_offset != 0 {
            // A reassembled datagram lives in the reassembly buffer, not in this frame.
            self.adopt_ok = false;
            let Some(full) = self.reasm.add(
                now,
                &repr,
                acc.header,
                acc.payload,
                &mut self.ip,
                &mut self.ip_drops,
            ) else {
                return;
            };
            let mut header = [0u8; 20];
            // Cannot fail: 20 bytes and a payload that reassembly bounded.
            let _ = full.repr.emit(&mut header);
            self.deliver(
                now,
                Local {
                    repr: full.repr,
                    header: &header,
                    payload: &full.payload,
                    broadcast,
                    // Device offloads verify whole packets, never fragments.
                    checksum_verified: false,
                },
                upper,
            );
        } else {
            self.deliver(
                now,
                Local {
                    repr,
                    header: acc.header,
                    payload: acc.payload,
                    broadcast,
                    checksum_verified,
                },
                upper,
            );
        }
    }

    #[inline]
    fn deliver(&mut self, now: Instant, d: Local<'_>, upper: &mut dyn TransportHandler) {
        match d.repr.protocol {
            protocol::ICMP => {
                self.ip.in_delivers += 1;
                self.input_icmp(now, &d, upper)
            }
            protocol::UDP => {
                self.ip.in_delivers += 1;
                self.input_udp(now, &d)
            }
            // RFC 1122 §4.2.3.10: TCP never accepts a segment sent to a broadcast address.
            p if p == upper.protocol() && d.broadcast => self.ip.in_discards += 1,
            p if p == upper.protocol() => {
                self.ip.in_delivers += 1;
                if core::mem::take(&mut self.adopt_ok) {
                    self.adopted = upper.receive_adoptable(
                        now,
                        d.repr.src,
                        d.repr.dst,
                        d.payload,
                        d.checksum_verified,
                    );
                } else {
                    upper.receive(now, d.repr.src, d.repr.dst, d.payload, d.checksum_verified);
                }
            }
            _ => {
                self.ip.in_unknown_protos += 1;
                self.icmp_error_reply(
                    now,
                    msg_type::DST_UNREACHABLE,
                    unreach::PROTOCOL,
                    0,
                    &quote(d.header, d.payload),
                    d.broadcast,
                );
            }
        }
    }

    fn input_icmp(&mut self, now: Instant, d: &Local<'_>, upper: &mut dyn TransportHandler) {
        let st = &mut self.icmp.stats;
        st.in_msgs += 1;
        let repr = match IcmpPacket::new_checked(d.payload).and_then(|p| IcmpRepr::parse(&p)) {
            Ok(r) => r,
            Err(WireError::Checksum) => {
                st.in_csum_errors += 1;
                st.in_errors += 1;
                return;
            }
            Err(_) => {
                st.in_errors += 1;
                return;
            }
        };
        match repr {
            IcmpRepr::EchoRequest { ident, seq, data } => {
                st.in_echos += 1;
                if d.broadcast {
                    // Linux's icmp_echo_ignore_broadcasts (smurf amplification).
                    return;
                }
                let reply = IcmpRepr::EchoReply { ident, seq, data };
                let mut buf = alloc::vec![0u8; reply.buffer_len()];
                let _ = reply.emit(&mut buf);
                let opts = super::SendOptions::default();
                if self
                    .send_ipv4(
                        now,
                        Some(d.repr.dst),
                        d.repr.src,
                        protocol::ICMP,
                        &buf,
                        opts,
                    )
                    .is_ok()
                {
                    self.icmp.stats.out_msgs += 1;
                    self.icmp.stats.out_echo_reps += 1;
                } else {
                    self.icmp.stats.out_errors += 1;
                }
            }
            IcmpRepr::EchoReply { ident, seq, data } => {
                st.in_echo_reps += 1;
                self.icmp.push_echo_reply(EchoReply {
                    from: d.repr.src,
                    ident,
                    seq,
                    data: data.to_vec(),
                    received_at: now,
                });
            }
            IcmpRepr::DstUnreachable {
                code,
                next_hop_mtu,
                data,
            } => {
                st.in_dest_unreachs += 1;
                let err = if code == unreach::FRAG_NEEDED {
                    IcmpError::FragNeeded { mtu: next_hop_mtu }
                } else {
                    IcmpError::DstUnreachable { code }
                };
                self.dispatch_icmp_error(now, err, data, false, upper);
            }
            IcmpRepr::TimeExceeded { code, data } => {
                st.in_time_excds += 1;
                self.dispatch_icmp_error(now, IcmpError::TimeExceeded { code }, data, false, upper);
            }
            IcmpRepr::ParamProblem { data, .. } => {
                st.in_parm_probs += 1;
                self.dispatch_icmp_error(now, IcmpError::ParamProblem, data, false, upper);
            }
            IcmpRepr::Other { .. } => {}
        }
    }

    /// Hand an ICMP error about one of our datagrams to its sender: the UDP socket, or the
    /// transport hook. `local_origin`: generated by this stack (ARP failure).
    pub(super) fn dispatch_icmp_error(
        &mut self,
        now: Instant,
        err: IcmpError,
        quoted: &[u8],
        local_origin: bool,
        upper: &mut dyn TransportHandler,
    ) {
        let Some(q) = Quoted::parse(quoted) else {
            self.icmp.stats.in_errors += 1;
            return;
        };
        if !self.is_local(q.src) && !q.src.is_unspecified() {
            // About a datagram we did not send.
            self.icmp.stats.in_errors += 1;
            return;
        }
        match q.protocol {
            protocol::UDP => {
                if let Some((sp, dp)) = q.ports() {
                    self.udp.icmp_error(
                        SocketAddrV4::new(q.src, sp),
                        SocketAddrV4::new(q.dst, dp),
                        err.errno(),
                        local_origin,
                    );
                }
            }
            p if p == upper.protocol() => upper.icmp_error(now, err, quoted),
            _ => {}
        }
    }

    fn input_udp(&mut self, now: Instant, d: &Local<'_>) {
        let st = &mut self.udp.stats;
        let p = match UdpPacket::new_checked(d.payload) {
            Ok(p) => p,
            Err(_) => {
                // Length field below 8 or beyond the datagram.
                st.in_errors += 1;
                return;
            }
        };
        let (src, dst) = (d.repr.src, d.repr.dst);
        let repr = match UdpRepr::parse(&p, src, dst, d.checksum_verified) {
            Ok(r) => r,
            Err(_) => {
                st.in_csum_errors += 1;
                st.in_errors += 1;
                return;
            }
        };
        let delivered = self.udp.deliver(
            SocketAddrV4::new(src, repr.src_port),
            SocketAddrV4::new(dst, repr.dst_port),
            d.broadcast,
            p.payload(),
        );
        if !delivered {
            self.udp.stats.no_ports += 1;
            self.icmp_error_reply(
                now,
                msg_type::DST_UNREACHABLE,
                unreach::PORT,
                0,
                &quote(d.header, d.payload),
                d.broadcast,
            );
        }
    }
}

/// The offending datagram's header and payload, as an ICMP error quotes them.
fn quote(header: &[u8], payload: &[u8]) -> Vec<u8> {
    let take = crate::icmp::ICMP_QUOTE_MAX
        .saturating_sub(header.len())
        .min(payload.len());
    let mut q = Vec::with_capacity(header.len() + take);
    q.extend_from_slice(header);
    q.extend_from_slice(&payload[..take]);
    q
}
