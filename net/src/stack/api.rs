//! What the socket layer calls: UDP sockets and ICMP echo (ping), on top of the stack.

use alloc::vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use super::{Datagram, EchoReply, Readiness, SendOptions, Stack, UdpHandle};
use crate::dev::TxOffload;
use crate::errno::Errno;
use crate::time::Instant;
use crate::udp::UDP_MAX_PAYLOAD;
use crate::wire::icmp::IcmpRepr;
use crate::wire::ipv4::protocol;
use crate::wire::udp::UdpRepr;

impl Stack {
    /// A new unbound UDP socket (`EMFILE` when the table is full).
    pub fn udp_open(&mut self) -> Result<UdpHandle, Errno> {
        self.core.udp.open()
    }

    /// Close a UDP socket, freeing its queue.
    pub fn udp_close(&mut self, h: UdpHandle) -> Result<(), Errno> {
        self.core.udp.close(h)
    }

    /// SO_REUSEADDR (set before `udp_bind`).
    pub fn udp_set_reuse_addr(&mut self, h: UdpHandle, on: bool) -> Result<(), Errno> {
        self.core.udp.set_reuse_addr(h, on)
    }

    /// SO_REUSEPORT (set before `udp_bind`).
    pub fn udp_set_reuse_port(&mut self, h: UdpHandle, on: bool) -> Result<(), Errno> {
        self.core.udp.set_reuse_port(h, on)
    }

    /// IP_TOS: the TOS byte of the socket's datagrams.
    pub fn udp_set_tos(&mut self, h: UdpHandle, tos: u8) -> Result<(), Errno> {
        self.core.udp.set_tos(h, tos)
    }

    /// IP_TOS as set.
    pub fn udp_tos(&self, h: UdpHandle) -> Result<u8, Errno> {
        self.core.udp.tos(h)
    }

    /// Bind to a local address (0.0.0.0 = any) and port (0 = ephemeral); returns the bound
    /// address. EINVAL (already bound), EADDRNOTAVAIL, EADDRINUSE.
    pub fn udp_bind(&mut self, h: UdpHandle, addr: SocketAddrV4) -> Result<SocketAddrV4, Errno> {
        let core = &mut self.core;
        let ifaces = &core.ifaces;
        let is_local = |ip: Ipv4Addr| {
            ip.is_loopback() || ifaces.iter().any(|i| i.addr.is_some_and(|a| a.addr == ip))
        };
        core.udp.bind(h, addr, &is_local, &mut core.rng)
    }

    /// Set the default peer (sends without address go there; only its datagrams arrive).
    /// ENETUNREACH when there is no route to it.
    pub fn udp_connect(&mut self, h: UdpHandle, remote: SocketAddrV4) -> Result<(), Errno> {
        let route = self.core.route(*remote.ip())?;
        let core = &mut self.core;
        core.udp.connect(h, remote, route.source, &mut core.rng)
    }

    /// Forget the default peer.
    pub fn udp_disconnect(&mut self, h: UdpHandle) -> Result<(), Errno> {
        self.core.udp.disconnect(h)
    }

    /// Send `payload` as one datagram to `dst` (or the connected peer); returns its length.
    /// A pending error (e.g. ECONNREFUSED after port unreachable) is returned first.
    /// EDESTADDRREQ, EMSGSIZE (over 65507 bytes), ENETUNREACH, EHOSTUNREACH.
    pub fn udp_send_to(
        &mut self,
        now: Instant,
        h: UdpHandle,
        payload: &[u8],
        dst: Option<SocketAddrV4>,
    ) -> Result<usize, Errno> {
        let core = &mut self.core;
        let plan = core
            .udp
            .prepare_send(h, dst, payload.len(), &mut core.rng)?;
        let src = match plan.src_ip {
            Some(s) => s,
            None => match core.route(*plan.dst.ip()) {
                Ok(r) => r.source,
                Err(e) => {
                    core.ip.out_no_routes += 1;
                    return Err(e);
                }
            },
        };
        let repr = UdpRepr {
            src_port: plan.src_port,
            dst_port: plan.dst.port(),
        };
        let len = UdpRepr::buffer_len(payload.len());
        if u16::try_from(len).is_err() {
            return Err(Errno::EMSGSIZE);
        }
        let dst_ip = *plan.dst.ip();
        // The datagram is written straight into the frame buffer, behind the headroom.
        let r = core.send_ipv4_append(
            now,
            Some(src),
            dst_ip,
            protocol::UDP,
            SendOptions {
                tos: plan.tos,
                ..SendOptions::default()
            },
            TxOffload::NONE,
            &mut |f| {
                // Out of memory: append nothing, and the send is ENOBUFS.
                if f.try_reserve(len).is_err() {
                    return;
                }
                let at = f.len();
                f.resize(at + len, 0);
                // Cannot fail: the length fits 16 bits (checked above) and the room is there.
                let _ = repr.emit(&mut f[at..], src, dst_ip, payload);
            },
        );
        match r {
            Ok(()) => core.udp.stats.out_datagrams += 1,
            Err(Errno::ENOBUFS) => core.udp.stats.sndbuf_errors += 1,
            Err(_) => {}
        }
        self.flush();
        r.map(|()| payload.len())
    }

    /// `recvfrom`: copy the oldest datagram into `buf` (excess discarded). EAGAIN when empty.
    pub fn udp_recv_from(
        &mut self,
        h: UdpHandle,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddrV4), Errno> {
        self.core.udp.recv_from(h, buf)
    }

    /// `recvfrom` with MSG_PEEK: the oldest datagram stays queued.
    pub fn udp_peek_from(
        &mut self,
        h: UdpHandle,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddrV4), Errno> {
        self.core.udp.peek_from(h, buf)
    }

    /// The oldest datagram, whole, with its destination address (for DHCP/DNS clients).
    pub fn udp_recv(&mut self, h: UdpHandle) -> Result<Datagram, Errno> {
        self.core.udp.recv(h)
    }

    /// The payload size of the oldest queued datagram (0 when none), for `FIONREAD`.
    pub fn udp_next_len(&self, h: UdpHandle) -> Result<usize, Errno> {
        self.core.udp.next_len(h)
    }

    /// Readable / writable / error pending, for `poll`.
    pub fn udp_readiness(&self, h: UdpHandle) -> Result<Readiness, Errno> {
        self.core.udp.readiness(h)
    }

    /// SO_ERROR.
    pub fn udp_take_error(&mut self, h: UdpHandle) -> Result<Option<Errno>, Errno> {
        self.core.udp.take_error(h)
    }

    pub fn udp_local_addr(&self, h: UdpHandle) -> Result<Option<SocketAddrV4>, Errno> {
        self.core.udp.local_addr(h)
    }

    pub fn udp_peer_addr(&self, h: UdpHandle) -> Result<SocketAddrV4, Errno> {
        self.core.udp.peer_addr(h)
    }

    /// Send an ICMP echo request (ping) with `data` (up to 65507 bytes; fragmented as needed).
    pub fn icmp_send_echo(
        &mut self,
        now: Instant,
        dst: Ipv4Addr,
        ident: u16,
        seq: u16,
        data: &[u8],
    ) -> Result<(), Errno> {
        if data.len() > UDP_MAX_PAYLOAD {
            return Err(Errno::EMSGSIZE);
        }
        let repr = IcmpRepr::EchoRequest { ident, seq, data };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut buf).map_err(|_| Errno::EMSGSIZE)?;
        let r = self
            .core
            .send_ipv4(now, None, dst, protocol::ICMP, &buf, SendOptions::default());
        if r.is_ok() {
            self.core.icmp.stats.out_msgs += 1;
            self.core.icmp.stats.out_echos += 1;
        }
        self.flush();
        r
    }

    /// The oldest echo reply received, if any.
    pub fn icmp_recv_echo_reply(&mut self) -> Option<EchoReply> {
        self.core.icmp.pop_echo_reply(None)
    }

    /// The oldest echo reply carrying `ident` (one pinger's replies among several).
    pub fn icmp_recv_echo_reply_for(&mut self, ident: u16) -> Option<EchoReply> {
        self.core.icmp.pop_echo_reply(Some(ident))
    }

    /// UDP sockets that became readable or errored since the last call (each once), so the
    /// socket layer can wake their wait queues after `poll`.
    pub fn udp_take_wakeups(&mut self) -> alloc::vec::Vec<UdpHandle> {
        self.core.udp.take_wakeups()
    }
}
