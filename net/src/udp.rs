//! UDP sockets (RFC 768; the seeds' `udp_prot`): the socket table, port binding with Linux's
//! SO_REUSEADDR semantics, SO_REUSEPORT groups (a datagram goes to one member, chosen by a
//! hash of its source), RFC 6056 ephemeral ports, bounded receive queues, connected-socket
//! filtering and pending errors (ECONNREFUSED from ICMP port unreachable).
//!
//! It never builds packets or transmits: the stack (`net::stack`) parses input, calls
//! [`UdpTable::deliver`], and turns [`UdpTable::prepare_send`]'s answer into a datagram.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use crate::errno::Errno;
use crate::rand::Rng;
use crate::snmp::UdpStats;

/// Bound on open UDP sockets (beyond it `open` fails with EMFILE).
pub const UDP_MAX_SOCKETS: usize = 1024;
/// Receive queue bound in payload bytes (Linux's rmem_default, 212992).
pub const UDP_RCVBUF_BYTES: usize = 212_992;
/// Receive queue bound in datagrams, so floods of tiny datagrams are bounded too.
pub const UDP_RCVBUF_DATAGRAMS: usize = 512;
/// Bytes all UDP receive queues may hold together unless the host sets its own
/// ([`UdpTable::set_memory_limit`]; `Host::new` gives UDP half of TCP's limit), as Linux's
/// udp_mem bounds them: without it 1024 sockets × 212992 bytes could outgrow a small machine's
/// RAM. A datagram beyond it is dropped and counted (`MemErrors`).
pub const UDP_DEFAULT_MEMORY_LIMIT: usize = 32 << 20;
/// Bytes charged per queued datagram on top of its payload (its queue entry and allocation),
/// so floods of empty datagrams count too.
pub const DATAGRAM_OVERHEAD: usize = 64;
/// Largest payload: 65535 − 20 (IPv4 header) − 8 (UDP header).
pub const UDP_MAX_PAYLOAD: usize = 65507;
/// Ephemeral port range (Linux's ip_local_port_range default).
pub const EPHEMERAL_FIRST: u16 = 32768;
pub const EPHEMERAL_LAST: u16 = 60999;

/// A socket's handle: slot index plus generation, so a stale handle after `close` is EBADF.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UdpHandle {
    index: u32,
    generation: u32,
}

/// A received datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Datagram {
    pub from: SocketAddrV4,
    /// The destination address it was sent to (ours, or a broadcast address).
    pub to: Ipv4Addr,
    pub data: Vec<u8>,
}

/// What `poll` on the socket would report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Readiness {
    /// A datagram (or a pending error) is waiting: `recv_from` will not return EAGAIN.
    pub readable: bool,
    /// UDP sends never block.
    pub writable: bool,
    /// An error is pending (POLLERR); the next send/recv returns it.
    pub error: bool,
}

#[derive(Debug, Default)]
struct Socket {
    local: Option<SocketAddrV4>,
    remote: Option<SocketAddrV4>,
    /// Source address chosen at `connect` when bound to the wildcard address.
    connected_src: Option<Ipv4Addr>,
    reuse_addr: bool,
    /// SO_REUSEPORT.
    reuse_port: bool,
    /// IP_TOS.
    tos: u8,
    bind_seq: u64,
    rx: VecDeque<Datagram>,
    rx_bytes: usize,
    error: Option<Errno>,
    /// Already listed in `UdpTable::wakeups`.
    wake_listed: bool,
}

#[derive(Debug, Default)]
struct Slot {
    generation: u32,
    sock: Option<Socket>,
}

/// Where and how a datagram goes out, from [`UdpTable::prepare_send`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendPlan {
    pub src_port: u16,
    /// The source address the socket is tied to (bound or connected), `None` = ask the route.
    pub src_ip: Option<Ipv4Addr>,
    pub dst: SocketAddrV4,
    /// IP_TOS: the TOS byte of the datagram's IPv4 header.
    pub tos: u8,
}

/// All UDP sockets of a stack.
#[derive(Debug, Default)]
pub struct UdpTable {
    slots: Vec<Slot>,
    bind_seq: u64,
    /// Sockets that became readable or got an error since `take_wakeups`; each listed once,
    /// so the list is bounded by the number of sockets.
    wakeups: Vec<UdpHandle>,
    pub stats: UdpStats,
    /// Bytes charged for every queued datagram of every socket (payload + overhead).
    queued: usize,
    /// Bound on `queued` (None: [`UDP_DEFAULT_MEMORY_LIMIT`]).
    memory_limit: Option<usize>,
}

fn overlaps(a: Ipv4Addr, b: Ipv4Addr) -> bool {
    a.is_unspecified() || b.is_unspecified() || a == b
}

impl UdpTable {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bound the bytes all receive queues hold together.
    pub fn set_memory_limit(&mut self, bytes: usize) {
        self.memory_limit = Some(bytes);
    }

    /// The bound on queued receive memory, and what is charged now.
    pub fn memory(&self) -> (usize, usize) {
        (
            self.memory_limit.unwrap_or(UDP_DEFAULT_MEMORY_LIMIT),
            self.queued,
        )
    }

    fn sock(&self, h: UdpHandle) -> Result<&Socket, Errno> {
        self.slots
            .get(h.index as usize)
            .filter(|s| s.generation == h.generation)
            .and_then(|s| s.sock.as_ref())
            .ok_or(Errno::EBADF)
    }

    fn sock_mut(&mut self, h: UdpHandle) -> Result<&mut Socket, Errno> {
        self.slots
            .get_mut(h.index as usize)
            .filter(|s| s.generation == h.generation)
            .and_then(|s| s.sock.as_mut())
            .ok_or(Errno::EBADF)
    }

    fn bound(&self) -> impl Iterator<Item = &Socket> {
        self.slots.iter().filter_map(|s| s.sock.as_ref())
    }

    /// Every bound socket as /proc/net/udp lists it (at most `max` lines).
    /// `inode` gives each handle's socket inode (0: no socket file holds it).
    pub fn proc_lines(
        &self,
        max: usize,
        inode: impl Fn(UdpHandle) -> u64,
    ) -> Vec<crate::procnet::SockLine> {
        let mut out = Vec::new();
        for (index, slot) in self.slots.iter().enumerate() {
            let Some(sock) = slot.sock.as_ref() else {
                continue;
            };
            let Some(local) = sock.local else { continue };
            if out.len() >= max || out.try_reserve(1).is_err() {
                break;
            }
            let unspecified = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
            out.push(crate::procnet::SockLine {
                local: SocketAddrV4::new(sock.connected_src.unwrap_or(*local.ip()), local.port()),
                remote: sock.remote.unwrap_or(unspecified),
                state: if sock.remote.is_some() {
                    crate::procnet::STATE_ESTABLISHED
                } else {
                    crate::procnet::STATE_CLOSE
                },
                tx_queue: 0,
                rx_queue: sock.rx_bytes,
                inode: inode(UdpHandle {
                    index: index as u32,
                    generation: slot.generation,
                }),
            });
        }
        out
    }

    /// A new, unbound socket. `EMFILE` when [`UDP_MAX_SOCKETS`] are open.
    pub fn open(&mut self) -> Result<UdpHandle, Errno> {
        let index = match self.slots.iter().position(|s| s.sock.is_none()) {
            Some(i) => i,
            None if self.slots.len() < UDP_MAX_SOCKETS => {
                self.slots.push(Slot::default());
                self.slots.len() - 1
            }
            None => return Err(Errno::EMFILE),
        };
        let slot = &mut self.slots[index];
        slot.generation = slot.generation.wrapping_add(1);
        slot.sock = Some(Socket::default());
        Ok(UdpHandle {
            index: index as u32,
            generation: slot.generation,
        })
    }

    /// Close the socket; queued datagrams are freed.
    pub fn close(&mut self, h: UdpHandle) -> Result<(), Errno> {
        self.sock(h)?;
        if let Some(s) = self.slots[h.index as usize].sock.take() {
            let charged = s.rx_bytes + s.rx.len() * DATAGRAM_OVERHEAD;
            self.queued = self.queued.saturating_sub(charged);
        }
        Ok(())
    }

    /// SO_REUSEADDR: two sockets may bind overlapping addresses on one port when both set it
    /// before binding (Linux's UDP semantics).
    pub fn set_reuse_addr(&mut self, h: UdpHandle, on: bool) -> Result<(), Errno> {
        self.sock_mut(h)?.reuse_addr = on;
        Ok(())
    }

    /// SO_REUSEPORT: sockets that all set it before binding may bind the same address and
    /// port; unicast datagrams are spread among them by their source.
    pub fn set_reuse_port(&mut self, h: UdpHandle, on: bool) -> Result<(), Errno> {
        self.sock_mut(h)?.reuse_port = on;
        Ok(())
    }

    /// IP_TOS (all eight bits kept: UDP leaves the ECN bits to the application, as Linux).
    pub fn set_tos(&mut self, h: UdpHandle, tos: u8) -> Result<(), Errno> {
        self.sock_mut(h)?.tos = tos;
        Ok(())
    }

    pub fn tos(&self, h: UdpHandle) -> Result<u8, Errno> {
        Ok(self.sock(h)?.tos)
    }

    fn port_free(&self, addr: Ipv4Addr, port: u16, reuse: bool, reuse_port: bool) -> bool {
        self.bound().all(|s| match s.local {
            Some(l) if l.port() == port => {
                !overlaps(*l.ip(), addr) || (reuse && s.reuse_addr) || (reuse_port && s.reuse_port)
            }
            _ => true,
        })
    }

    /// RFC 6056 algorithm 1 (simple port randomisation) over the ephemeral range.
    fn pick_port(&self, addr: Ipv4Addr, rng: &mut Rng) -> Result<u16, Errno> {
        let num = u32::from(EPHEMERAL_LAST - EPHEMERAL_FIRST) + 1;
        let mut offset = rng.below(num);
        for _ in 0..num {
            let port = EPHEMERAL_FIRST + offset as u16;
            if self.port_free(addr, port, false, false) {
                return Ok(port);
            }
            offset = (offset + 1) % num;
        }
        Err(Errno::EADDRINUSE)
    }

    /// Bind to `addr` (0.0.0.0 = any local address; port 0 = an ephemeral port).
    /// `is_local(ip)` says whether `ip` is one of the host's addresses (a broadcast address
    /// is accepted too). `EINVAL` if already bound, `EADDRNOTAVAIL` for a foreign address,
    /// `EADDRINUSE` on a conflict.
    pub fn bind(
        &mut self,
        h: UdpHandle,
        addr: SocketAddrV4,
        is_local: &dyn Fn(Ipv4Addr) -> bool,
        rng: &mut Rng,
    ) -> Result<SocketAddrV4, Errno> {
        let s = self.sock(h)?;
        if s.local.is_some() {
            return Err(Errno::EINVAL);
        }
        let ip = *addr.ip();
        if !ip.is_unspecified() && !ip.is_broadcast() && !is_local(ip) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        let (reuse, reuse_port) = (s.reuse_addr, s.reuse_port);
        let port = if addr.port() == 0 {
            self.pick_port(ip, rng)?
        } else if self.port_free(ip, addr.port(), reuse, reuse_port) {
            addr.port()
        } else {
            return Err(Errno::EADDRINUSE);
        };
        let local = SocketAddrV4::new(ip, port);
        self.bind_seq += 1;
        let seq = self.bind_seq;
        let s = self.sock_mut(h)?;
        s.local = Some(local);
        s.bind_seq = seq;
        Ok(local)
    }

    fn autobind(&mut self, h: UdpHandle, rng: &mut Rng) -> Result<SocketAddrV4, Errno> {
        match self.sock(h)?.local {
            Some(l) => Ok(l),
            None => self.bind(
                h,
                SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
                &|_| false,
                rng,
            ),
        }
    }

    /// Set the default peer: sends without an address go there and only its datagrams are
    /// received. `src` is the source address the route chose (kept when bound to 0.0.0.0).
    /// Binds an ephemeral port first if needed. Clears a pending error.
    pub fn connect(
        &mut self,
        h: UdpHandle,
        remote: SocketAddrV4,
        src: Ipv4Addr,
        rng: &mut Rng,
    ) -> Result<(), Errno> {
        if remote.ip().is_unspecified() {
            return Err(Errno::EINVAL);
        }
        self.autobind(h, rng)?;
        let s = self.sock_mut(h)?;
        s.remote = Some(remote);
        s.error = None;
        if s.local.is_some_and(|l| l.ip().is_unspecified()) && !src.is_unspecified() {
            s.connected_src = Some(src);
        }
        Ok(())
    }

    /// Forget the default peer (connect with AF_UNSPEC).
    pub fn disconnect(&mut self, h: UdpHandle) -> Result<(), Errno> {
        let s = self.sock_mut(h)?;
        s.remote = None;
        s.connected_src = None;
        Ok(())
    }

    pub fn local_addr(&self, h: UdpHandle) -> Result<Option<SocketAddrV4>, Errno> {
        Ok(self.sock(h)?.local)
    }

    pub fn peer_addr(&self, h: UdpHandle) -> Result<SocketAddrV4, Errno> {
        self.sock(h)?.remote.ok_or(Errno::ENOTCONN)
    }

    /// Check a send of `len` bytes to `dst` (or the connected peer) and bind if needed.
    /// A pending error is returned (and cleared) first, as Linux's `sock_error`.
    pub fn prepare_send(
        &mut self,
        h: UdpHandle,
        dst: Option<SocketAddrV4>,
        len: usize,
        rng: &mut Rng,
    ) -> Result<SendPlan, Errno> {
        if let Some(e) = self.sock_mut(h)?.error.take() {
            return Err(e);
        }
        if len > UDP_MAX_PAYLOAD {
            return Err(Errno::EMSGSIZE);
        }
        let dst = match dst.or(self.sock(h)?.remote) {
            Some(d) => d,
            None => return Err(Errno::EDESTADDRREQ),
        };
        if dst.port() == 0 {
            return Err(Errno::EINVAL);
        }
        let local = self.autobind(h, rng)?;
        let s = self.sock(h)?;
        let src_ip = if !local.ip().is_unspecified() && !local.ip().is_broadcast() {
            Some(*local.ip())
        } else if s.remote == Some(dst) {
            s.connected_src
        } else {
            None
        };
        Ok(SendPlan {
            src_port: local.port(),
            src_ip,
            dst,
            tos: s.tos,
        })
    }

    /// The oldest datagram, whole. A pending error is returned (and cleared) first; `EAGAIN`
    /// when nothing is queued.
    pub fn recv(&mut self, h: UdpHandle) -> Result<Datagram, Errno> {
        let s = self.sock_mut(h)?;
        if let Some(e) = s.error.take() {
            return Err(e);
        }
        let d = s.rx.pop_front().ok_or(Errno::EAGAIN)?;
        s.rx_bytes -= d.data.len();
        self.queued = self.queued.saturating_sub(d.data.len() + DATAGRAM_OVERHEAD);
        Ok(d)
    }

    /// `recvfrom`: copy the oldest datagram into `buf` (the excess is discarded, as without
    /// MSG_TRUNC) and return the copied length and the sender.
    pub fn recv_from(
        &mut self,
        h: UdpHandle,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddrV4), Errno> {
        let d = self.recv(h)?;
        let n = d.data.len().min(buf.len());
        buf[..n].copy_from_slice(&d.data[..n]);
        Ok((n, d.from))
    }

    /// `recvfrom` with MSG_PEEK: copy the oldest datagram but leave it queued.
    pub fn peek_from(
        &mut self,
        h: UdpHandle,
        buf: &mut [u8],
    ) -> Result<(usize, SocketAddrV4), Errno> {
        let s = self.sock_mut(h)?;
        if let Some(e) = s.error.take() {
            return Err(e);
        }
        let d = s.rx.front().ok_or(Errno::EAGAIN)?;
        let n = d.data.len().min(buf.len());
        buf[..n].copy_from_slice(&d.data[..n]);
        Ok((n, d.from))
    }

    /// SO_ERROR: take the pending error.
    pub fn take_error(&mut self, h: UdpHandle) -> Result<Option<Errno>, Errno> {
        Ok(self.sock_mut(h)?.error.take())
    }

    /// `FIONREAD`/`SIOCINQ`: the payload size of the oldest queued datagram (0 when none).
    pub fn next_len(&self, h: UdpHandle) -> Result<usize, Errno> {
        Ok(self.sock(h)?.rx.front().map_or(0, |d| d.data.len()))
    }

    pub fn readiness(&self, h: UdpHandle) -> Result<Readiness, Errno> {
        let s = self.sock(h)?;
        Ok(Readiness {
            readable: !s.rx.is_empty() || s.error.is_some(),
            writable: true,
            error: s.error.is_some(),
        })
    }

    fn wake(&mut self, index: usize) {
        let Some(slot) = self.slots.get_mut(index) else {
            return;
        };
        let generation = slot.generation;
        if let Some(s) = slot.sock.as_mut() {
            if !s.wake_listed {
                s.wake_listed = true;
                self.wakeups.push(UdpHandle {
                    index: index as u32,
                    generation,
                });
            }
        }
    }

    /// Sockets whose readiness changed (datagram or error arrived) since the last call, for
    /// the socket layer to wake their wait queues. Closed sockets may appear (their handle is
    /// then EBADF).
    pub fn take_wakeups(&mut self) -> Vec<UdpHandle> {
        let list = core::mem::take(&mut self.wakeups);
        for h in &list {
            if let Ok(s) = self.sock_mut(*h) {
                s.wake_listed = false;
            }
        }
        list
    }

    /// The socket of `best`'s SO_REUSEPORT group (unconnected sockets bound to the same
    /// address with the option) that takes a datagram from `src`: `best` itself when it has
    /// no group.
    fn reuseport_member(&self, best: usize, b: &Socket, src: SocketAddrV4) -> usize {
        if !b.reuse_port || b.remote.is_some() {
            return best;
        }
        let member = |s: &Socket| s.reuse_port && s.remote.is_none() && s.local == b.local;
        let n = self.bound().filter(|s| member(s)).count();
        let pick = crate::tcp::reuseport_pick(src, n);
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, slot)| slot.sock.as_ref().is_some_and(member))
            .nth(pick)
            .map_or(best, |(i, _)| i)
    }

    fn matches(s: &Socket, src: SocketAddrV4, dst: SocketAddrV4) -> bool {
        s.local.is_some_and(|l| {
            l.port() == dst.port() && (l.ip().is_unspecified() || *l.ip() == *dst.ip())
        }) && s.remote.is_none_or(|r| r == src)
    }

    /// Hand a received datagram to the matching socket(s): the best match for unicast
    /// (connected, then specific address, then the most recently bound), every match for a
    /// broadcast. Returns false when no socket wanted it (the caller counts NoPorts and may
    /// answer port unreachable). Counts InDatagrams or RcvbufErrors.
    pub fn deliver(
        &mut self,
        src: SocketAddrV4,
        dst: SocketAddrV4,
        broadcast: bool,
        data: &[u8],
    ) -> bool {
        let mut targets: Vec<usize> = Vec::new();
        if broadcast {
            for (i, slot) in self.slots.iter().enumerate() {
                if slot
                    .sock
                    .as_ref()
                    .is_some_and(|s| Self::matches(s, src, dst))
                {
                    targets.push(i);
                }
            }
        } else {
            let best = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(i, slot)| slot.sock.as_ref().map(|s| (i, s)))
                .filter(|(_, s)| Self::matches(s, src, dst))
                .max_by_key(|(_, s)| {
                    (
                        s.remote.is_some(),
                        s.local.is_some_and(|l| !l.ip().is_unspecified()),
                        s.bind_seq,
                    )
                });
            targets.extend(best.map(|(i, s)| self.reuseport_member(i, s, src)));
        }
        if targets.is_empty() {
            return false;
        }
        for i in targets {
            let Some(s) = self.slots[i].sock.as_mut() else {
                continue;
            };
            if s.rx.len() >= UDP_RCVBUF_DATAGRAMS || s.rx_bytes + data.len() > UDP_RCVBUF_BYTES {
                self.stats.rcvbuf_errors += 1;
                self.stats.in_errors += 1;
                continue;
            }
            let charge = data.len() + DATAGRAM_OVERHEAD;
            let limit = self.memory_limit.unwrap_or(UDP_DEFAULT_MEMORY_LIMIT);
            // Host-wide bound first, then the allocator itself: either way a drop, never an
            // allocation failure.
            let mut copy = Vec::new();
            if self.queued + charge > limit
                || copy.try_reserve_exact(data.len()).is_err()
                || s.rx.try_reserve(1).is_err()
            {
                self.stats.mem_errors += 1;
                self.stats.in_errors += 1;
                continue;
            }
            copy.extend_from_slice(data);
            self.queued += charge;
            s.rx_bytes += data.len();
            s.rx.push_back(Datagram {
                from: src,
                to: *dst.ip(),
                data: copy,
            });
            self.stats.in_datagrams += 1;
            self.wake(i);
        }
        true
    }

    /// An ICMP error about a datagram we sent from `local` to `remote`. Connected sockets get
    /// it as a pending error; unconnected ones only when `local_origin` (our own stack gave up,
    /// e.g. ARP failed), since anyone can forge an ICMP error about an unconnected socket
    /// (Linux reports those only with IP_RECVERR). Returns whether a socket took it.
    pub fn icmp_error(
        &mut self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        err: Errno,
        local_origin: bool,
    ) -> bool {
        let mut took = Vec::new();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let Some(s) = slot.sock.as_mut() else {
                continue;
            };
            let Some(l) = s.local else { continue };
            if l.port() != local.port() || !(l.ip().is_unspecified() || *l.ip() == *local.ip()) {
                continue;
            }
            let wanted = match s.remote {
                Some(r) => r == remote,
                None => local_origin,
            };
            if wanted {
                s.error = Some(err);
                took.push(i);
            }
        }
        for &i in &took {
            self.wake(i);
        }
        !took.is_empty()
    }
}

#[cfg(test)]
#[path = "udp_tests.rs"]
mod tests;
