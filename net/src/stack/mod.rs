//! The stack glue: one [`Stack`] per host owning its devices (loopback + NICs), interface
//! addresses, the FIB, one neighbour table per Ethernet interface, IPv4 reassembly and IDs,
//! ICMP and UDP, and the hook through which TCP (or any other transport) plugs in.
//!
//! It never reads a clock or touches hardware: the kernel calls [`Stack::poll`] with the time
//! when a device has frames or [`Stack::poll_at`]'s deadline passes, and devices only move
//! frames. Split by concern: `input.rs` (frames in → protocols), `output.rs` (datagrams →
//! frames), `config.rs` (addresses and routes), `api.rs` (UDP sockets and ping for the socket
//! layer).
//!
//! # Wiring it up
//! - The kernel builds `Stack::new(Box::new(nic), seed)` (loopback is interface 0, the NIC 1),
//!   then `configure(now, addr, prefix, gateway)` for `ip=` static, or runs a DHCP client on a
//!   UDP socket bound to 0.0.0.0:68 (broadcasts go out with source 0.0.0.0 and the broadcast
//!   MAC; broadcast and unicast replies reach port 68 while unconfigured) and configures the
//!   lease. `configure` with the same address again is a renewal (neighbours kept).
//! - Its network loop: `stack.poll(now, &mut tcp)` when a device interrupts or the one-shot
//!   timer fires; re-arm the timer at the minimum of `stack.poll_at()` and `tcp.poll_at()`
//!   (`Some(Instant::ZERO)` means "poll again at once": a budget ran out or loopback frames
//!   wait). After each poll, wake UDP waiters from `udp_take_wakeups()` and TCP's own list.
//! - TCP implements [`TransportHandler`] (protocol 6): `receive` gets its segments,
//!   `icmp_error` the errors about them (a local ARP failure arrives as destination
//!   unreachable, code 1), and `dispatch` hands queued segments back at the end of every poll
//!   (sent with DF set). Between polls TCP may call [`Stack::send_ipv4_with`] directly.
//!   [`Stack::route`] gives the source address and MTU for a connect.

mod api;
mod config;
mod input;
mod output;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::fmt::Write;
use core::net::Ipv4Addr;

use crate::config::prefix_netmask;
use crate::dev::{Capabilities, DevStats, Device, Loopback, TxError, TxOffload};
use crate::errno::Errno;
use crate::icmp::Icmp;
use crate::ipv4::{IpIdGen, Reassembler};
use crate::neigh::NeighTable;
use crate::rand::Rng;
use crate::route::{Fib, RouteEntry, RouteKind};
use crate::snmp::{ArpStats, IcmpStats, IpDropStats, IpStats, LinkStats, UdpStats};
use crate::time::{Duration, Instant};
use crate::udp::UdpTable;
use crate::wire::MacAddr;

pub use crate::icmp::{EchoReply, IcmpError, Quoted};
pub use crate::route::Route;
pub use crate::udp::{Datagram, Readiness, UdpHandle};

/// Interface index of the loopback device.
pub const LOOPBACK_IFACE: usize = 0;
/// Interface index of the first NIC (the one `configure` applies to).
pub const NIC_IFACE: usize = 1;
/// Frames taken from one device per poll round (NAPI's weight is 64).
pub const POLL_BUDGET: usize = 64;
/// Locally generated errors (ARP gave up on queued packets) waiting for the next poll to
/// reach their senders; beyond this they are dropped (the packets are already counted).
pub const LOCAL_ERROR_QUEUE: usize = 256;
/// Transmitted frame buffers kept for reuse, so the steady state allocates no frame: two
/// poll budgets' worth (a burst out and the replies it provokes); beyond it buffers are freed.
pub const FRAME_POOL: usize = 2 * POLL_BUDGET;
/// Larger buffers (loopback datagrams up to 64 KiB) are freed rather than pooled, so the pool
/// holds at most `FRAME_POOL` × 16 KiB.
pub const FRAME_POOL_BUF_MAX: usize = 16 * 1024;
/// Bytes of frames kept for a device whose transmit ring was full (retried at the next
/// flush): a few super-segments' worth, so a ring that fills during a burst delays frames
/// instead of losing them, and a device that stays full cannot make the stack hoard memory.
pub const TX_BACKLOG_BYTES: usize = 256 * 1024;
/// How soon `poll_at` asks for a retry while frames wait for a full ring: soon, but not at
/// once, so a host with nothing else to do sleeps until the device has sent some (a receive
/// interrupt, the peer's ACKs, usually comes first) instead of spinning on the ring.
pub const TX_RETRY: Duration = Duration::from_millis(1);

/// Where a transport hands segments: `(src, dst, segment)`; src 0.0.0.0 = the route's.
pub type SegmentSink<'a> = dyn FnMut(Ipv4Addr, Ipv4Addr, &[u8]) -> Result<(), Errno> + 'a;

/// Where a transport builds segments in place: `(src, dst, tos, offload, fill)`, src 0.0.0.0
/// = the route's, `tos` the IPv4 header's TOS byte (the sending socket's IP_TOS).
/// `fill` appends the whole segment (checksum included) to the buffer it is handed, which
/// already holds room for the link and IP headers; it must only append. The stack then writes
/// the headers in front: no copy of the segment on the fast path.
/// The [`TxOffload`] says what the segment leaves for the device (a partial checksum, a
/// super-segment to cut); the stack does it in software when the device cannot.
pub type AppendSink<'a> = dyn FnMut(Ipv4Addr, Ipv4Addr, u8, TxOffload, &mut dyn FnMut(&mut Vec<u8>)) -> Result<(), Errno>
    + 'a;

/// A transport protocol living outside the stack (TCP): the stack hands it datagrams of its
/// protocol number and ICMP errors about its segments, and drains its output at each poll.
///
/// The kernel owns the handler next to the stack and passes it to [`Stack::poll`]; between
/// polls it may also push segments itself with [`Stack::send_ipv4`].
pub trait TransportHandler {
    /// The IP protocol number served (6 for TCP).
    fn protocol(&self) -> u8;
    /// A datagram for us. `payload` is the transport segment; the IP header has been checked
    /// and fragments reassembled. `checksum_verified`: the device already verified the
    /// transport checksum (otherwise the handler must).
    fn receive(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload: &[u8],
        checksum_verified: bool,
    );
    /// [`Self::receive`] for a datagram inside a frame the stack owns and can hand over: a
    /// handler that returns true kept part of it by reference and gets the frame from
    /// [`Self::adopt`] right after (before any other call). The default copies.
    fn receive_adoptable(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload: &[u8],
        checksum_verified: bool,
    ) -> bool {
        self.receive(now, src, dst, payload, checksum_verified);
        false
    }
    /// The frame whose datagram [`Self::receive_adoptable`] kept.
    fn adopt(&mut self, _frame: Vec<u8>) {}
    /// An ICMP error about a segment we sent (or a local failure: ARP resolution gave up).
    /// `quoted` starts at the offending IPv4 header (see [`crate::icmp::Quoted::parse`]).
    fn icmp_error(&mut self, now: Instant, error: IcmpError, quoted: &[u8]);
    /// Hand queued segments to `tx(src, dst, segment)`, which routes and sends each one
    /// (src 0.0.0.0 = let the route choose). Called at the end of each poll.
    fn dispatch(&mut self, _now: Instant, _tx: &mut SegmentSink<'_>) {}
    /// [`Self::dispatch`] for a handler that can write each segment straight into the frame
    /// buffer (see [`AppendSink`]); this is what [`Stack::poll`] calls. The default hands
    /// `dispatch`'s segments over with one copy each.
    fn dispatch_in_place(&mut self, now: Instant, tx: &mut AppendSink<'_>) {
        self.dispatch(now, &mut |src, dst, seg| {
            tx(src, dst, 0, TxOffload::NONE, &mut |buf: &mut Vec<u8>| {
                buf.extend_from_slice(seg)
            })
        });
    }
    /// The handler's next timer (the kernel takes the minimum with [`Stack::poll_at`]).
    fn poll_at(&self) -> Option<Instant> {
        None
    }
    /// Whether `dispatch_in_place` may have anything to send; `false` lets [`Stack::poll`]
    /// skip the call (most polls of an idle or waiting host). The default always asks.
    fn has_output(&self) -> bool {
        true
    }
}

/// A handler for no protocol: datagrams of unknown protocols get ICMP protocol unreachable.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoTransport;

impl TransportHandler for NoTransport {
    fn protocol(&self) -> u8 {
        // 255 is reserved (RFC 5237); no datagram carries it legitimately.
        255
    }
    fn receive(&mut self, _: Instant, _: Ipv4Addr, _: Ipv4Addr, _: &[u8], _: bool) {}
    fn icmp_error(&mut self, _: Instant, _: IcmpError, _: &[u8]) {}
}

/// How a datagram is sent by [`Stack::send_ipv4_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendOptions {
    /// Set DF: fail with EMSGSIZE instead of fragmenting (TCP sets it).
    pub dont_frag: bool,
    pub ttl: u8,
    pub tos: u8,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions {
            dont_frag: false,
            ttl: crate::ipv4::DEFAULT_TTL,
            tos: 0,
        }
    }
}

/// An interface address with its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IfAddr {
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
}

impl IfAddr {
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & u32::from(prefix_netmask(self.prefix_len)))
    }
    /// The directed broadcast address (none for /31 and /32).
    pub fn broadcast(&self) -> Option<Ipv4Addr> {
        (self.prefix_len < 31).then(|| {
            Ipv4Addr::from(u32::from(self.addr) | !u32::from(prefix_netmask(self.prefix_len)))
        })
    }
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        let m = u32::from(prefix_netmask(self.prefix_len));
        u32::from(ip) & m == u32::from(self.addr) & m
    }
}

#[derive(Debug)]
struct Iface {
    mac: MacAddr,
    mtu: usize,
    caps: Capabilities,
    loopback: bool,
    addr: Option<IfAddr>,
    neigh: NeighTable,
}

/// Every counter of the stack, copied out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub ip: IpStats,
    pub ip_drops: IpDropStats,
    pub icmp: IcmpStats,
    pub udp: UdpStats,
    pub arp: ArpStats,
    pub link: LinkStats,
}

/// Everything but the devices, so a device's receive callback can borrow it.
struct Core {
    ifaces: Vec<Iface>,
    fib: Fib,
    reasm: Reassembler,
    ids: IpIdGen,
    rng: Rng,
    icmp: Icmp,
    udp: UdpTable,
    ip: IpStats,
    ip_drops: IpDropStats,
    arp: ArpStats,
    link: LinkStats,
    /// Frames produced since the last flush: (interface, frame).
    outbox: Vec<(usize, Vec<u8>, TxOffload)>,
    /// Frames a device refused with a full ring, oldest first, sent before the outbox at the
    /// next flush; at most [`TX_BACKLOG_BYTES`] (beyond, frames are dropped and counted).
    tx_backlog: VecDeque<(usize, Vec<u8>, TxOffload)>,
    tx_backlog_bytes: usize,
    /// When to retry the backlog ([`TX_RETRY`] after the last refusal).
    tx_retry_at: Option<Instant>,
    /// The latest time a poll or send was given.
    clock: Instant,
    /// The last successful route lookup (see `Core::route`).
    route_cache: core::cell::Cell<Option<(Ipv4Addr, Route)>>,
    /// Empty frame buffers for the outbox, bounded by [`FRAME_POOL`].
    frame_pool: Vec<Vec<u8>>,
    /// Local failures for the senders, delivered at the next poll: (error, quoted packet).
    local_errors: VecDeque<(IcmpError, Vec<u8>)>,
    /// A device hit the budget or the loopback holds frames: poll again at once.
    more_work: bool,
    /// The stack's own loopback device ([`LOOPBACK_IFACE`], a [`Loopback`] only the stack
    /// transmits into) may hold frames: while false, `poll` skips asking it.
    loopback_pending: bool,
    /// The frame being processed is owned (`Core::input_owned`): the transport may keep it.
    adopt_ok: bool,
    /// The transport kept the frame being processed.
    adopted: bool,
}

/// One host's network stack.
pub struct Stack {
    devices: Vec<Box<dyn Device>>,
    core: Core,
}

impl Stack {
    /// A stack with the loopback interface (127.0.0.1/8, index 0) and `nic` (index 1,
    /// unconfigured). `seed` drives ephemeral ports and IP IDs.
    pub fn new(nic: Box<dyn Device>, seed: u64) -> Self {
        let mut s = Self::new_loopback_only(seed);
        s.add_device(nic, false);
        s
    }

    /// A stack with only the loopback interface (a machine without a NIC); `add_device`
    /// adds NICs later (the first one becomes [`NIC_IFACE`]).
    pub fn new_loopback_only(seed: u64) -> Self {
        let mut rng = Rng::new(seed);
        let ids = IpIdGen::new(&mut rng);
        let mut s = Stack {
            devices: Vec::new(),
            core: Core {
                ifaces: Vec::new(),
                fib: Fib::new(),
                reasm: Reassembler::new(),
                ids,
                rng,
                icmp: Icmp::new(),
                udp: UdpTable::new(),
                ip: IpStats::default(),
                ip_drops: IpDropStats::default(),
                arp: ArpStats::default(),
                link: LinkStats::default(),
                outbox: Vec::new(),
                tx_backlog: VecDeque::new(),
                tx_backlog_bytes: 0,
                tx_retry_at: None,
                clock: Instant::ZERO,
                frame_pool: Vec::new(),
                route_cache: core::cell::Cell::new(None),
                local_errors: VecDeque::new(),
                more_work: false,
                adopt_ok: false,
                adopted: false,
                loopback_pending: false,
            },
        };
        s.add_device(Box::new(Loopback::new()), true);
        let lo = IfAddr {
            addr: Ipv4Addr::LOCALHOST,
            prefix_len: 8,
        };
        s.core.routes_changed();
        s.core.ifaces[LOOPBACK_IFACE].addr = Some(lo);
        // Cannot fail on an empty table.
        let _ = s.core.fib.add(RouteEntry {
            dest: lo.network(),
            prefix_len: 8,
            gateway: None,
            iface: LOOPBACK_IFACE,
            pref_src: None,
            kind: RouteKind::Connected,
        });
        s
    }

    /// Add a device (`loopback`: frames never leave the host); returns its interface index.
    pub fn add_device(&mut self, dev: Box<dyn Device>, loopback: bool) -> usize {
        self.core.routes_changed();
        self.core.ifaces.push(Iface {
            mac: dev.mac(),
            mtu: dev.mtu().min(crate::wire::ipv4::MAX_PACKET_LEN),
            caps: dev.capabilities(),
            loopback,
            addr: None,
            neigh: NeighTable::new(),
        });
        self.devices.push(dev);
        self.devices.len() - 1
    }

    /// Send a datagram of `protocol` carrying `payload` to `dst`: route, fragment if needed,
    /// resolve the next hop, transmit. `src` `None` (or 0.0.0.0 when the host has an address)
    /// = the route's source. Errors: ENETUNREACH (no route), EADDRNOTAVAIL (foreign `src`),
    /// EMSGSIZE (over 65535 bytes), EHOSTUNREACH (neighbour queue full).
    pub fn send_ipv4(
        &mut self,
        now: Instant,
        src: Option<Ipv4Addr>,
        dst: Ipv4Addr,
        protocol: u8,
        payload: &[u8],
    ) -> Result<(), Errno> {
        self.send_ipv4_with(now, src, dst, protocol, payload, SendOptions::default())
    }

    /// [`Stack::send_ipv4`] with DF/TTL/TOS options.
    pub fn send_ipv4_with(
        &mut self,
        now: Instant,
        src: Option<Ipv4Addr>,
        dst: Ipv4Addr,
        protocol: u8,
        payload: &[u8],
        opts: SendOptions,
    ) -> Result<(), Errno> {
        let r = self.core.send_ipv4(now, src, dst, protocol, payload, opts);
        self.flush();
        r
    }

    /// [`Stack::send_ipv4_with`] without transmitting: the frame waits in the outbox for the
    /// next [`Stack::flush`] or poll, so a burst of datagrams kicks the device once.
    pub fn queue_ipv4_with(
        &mut self,
        now: Instant,
        src: Option<Ipv4Addr>,
        dst: Ipv4Addr,
        protocol: u8,
        payload: &[u8],
        opts: SendOptions,
    ) -> Result<(), Errno> {
        self.core.send_ipv4(now, src, dst, protocol, payload, opts)
    }

    /// [`Stack::queue_ipv4_with`] with the payload appended in place by `fill` (see
    /// [`AppendSink`]): a transport that emits its segment there is sent without a copy.
    /// `offload` as for [`AppendSink`].
    #[allow(clippy::too_many_arguments)]
    pub fn queue_ipv4_append(
        &mut self,
        now: Instant,
        src: Option<Ipv4Addr>,
        dst: Ipv4Addr,
        protocol: u8,
        opts: SendOptions,
        offload: TxOffload,
        fill: &mut dyn FnMut(&mut Vec<u8>),
    ) -> Result<(), Errno> {
        self.core
            .send_ipv4_append(now, src, dst, protocol, opts, offload, fill)
    }

    /// Receive up to [`POLL_BUDGET`] frames from each device, process them, run timers,
    /// deliver local errors, drain `upper`'s output and transmit the burst. Returns whether
    /// anything was received or sent.
    pub fn poll(&mut self, now: Instant, upper: &mut dyn TransportHandler) -> bool {
        self.core.clock = self.core.clock.max(now);
        self.core.more_work = false;
        let mut work = false;
        for (i, dev) in self.devices.iter_mut().enumerate() {
            let core = &mut self.core;
            let loopback = i == LOOPBACK_IFACE;
            if loopback {
                if !core.loopback_pending {
                    continue;
                }
                core.loopback_pending = false;
            }
            let n = if core.ifaces[i].caps.rx_owned {
                dev.receive_owned(POLL_BUDGET, &mut |frame| {
                    core.input_owned(now, i, frame, upper)
                })
            } else {
                dev.receive(POLL_BUDGET, &mut |frame| {
                    core.input_frame(now, i, frame, upper)
                })
            };
            if n >= POLL_BUDGET {
                core.more_work = true;
                core.loopback_pending |= loopback;
            }
            work |= n > 0;
        }
        self.core.run_timers(now);
        self.core.deliver_local_errors(now, upper);
        if upper.has_output() {
            self.dispatch_upper(now, upper);
        }
        work |= !self.core.outbox.is_empty();
        self.flush();
        work
    }

    /// The transport's output, each segment written straight into a frame buffer.
    fn dispatch_upper(&mut self, now: Instant, upper: &mut dyn TransportHandler) {
        let proto = upper.protocol();
        let core = &mut self.core;
        upper.dispatch_in_place(now, &mut |src, dst, tos, offload, fill| {
            let src = (!src.is_unspecified()).then_some(src);
            core.send_ipv4_append(
                now,
                src,
                dst,
                proto,
                SendOptions {
                    dont_frag: true,
                    tos,
                    ..Default::default()
                },
                offload,
                fill,
            )
        });
    }

    /// When `poll` must run next even if no device interrupts: the earliest neighbour or
    /// reassembly timer, or `Instant::ZERO` (= now) when work is already waiting. The
    /// transport handler's own `poll_at` is not included.
    pub fn poll_at(&self) -> Option<Instant> {
        if self.core.more_work || !self.core.local_errors.is_empty() {
            return Some(Instant::ZERO);
        }
        let neigh = self
            .core
            .ifaces
            .iter()
            .filter_map(|i| i.neigh.poll_at())
            .min();
        [neigh, self.core.reasm.poll_at(), self.core.tx_retry_at]
            .into_iter()
            .flatten()
            .min()
    }

    /// Put the outbox on the devices and kick each device that got frames.
    #[inline]
    pub fn flush(&mut self) {
        // Most calls find the outbox empty: that test is inlined into the caller, the work
        // is not.
        if !self.core.outbox.is_empty() || !self.core.tx_backlog.is_empty() {
            self.flush_outbox();
        }
    }

    fn flush_outbox(&mut self) {
        // Devices that got frames: bit i for device i; devices past 63 are always kicked.
        let mut kicked: u64 = 0;
        // Devices whose ring was full: their later frames wait behind the refused one.
        let mut full: u64 = 0;
        let mut outbox = ::core::mem::take(&mut self.core.outbox);
        if !self.core.tx_backlog.is_empty() {
            // Frames a full ring refused before go first, in order.
            let backlog = ::core::mem::take(&mut self.core.tx_backlog);
            self.core.tx_backlog_bytes = 0;
            for (i, frame, offload) in backlog {
                self.transmit_one(i, frame, offload, &mut kicked, &mut full);
            }
        }
        for (i, frame, offload) in outbox.drain(..) {
            self.transmit_one(i, frame, offload, &mut kicked, &mut full);
        }
        // Come back soon (not at once): the device frees ring slots as it sends.
        self.core.tx_retry_at =
            (!self.core.tx_backlog.is_empty()).then(|| self.core.clock + TX_RETRY);
        // Keep the outbox's capacity (frames queued during the loop cannot exist: nothing
        // above produces any).
        self.core.outbox = outbox;
        for (i, dev) in self.devices.iter_mut().enumerate() {
            if i >= 64 || kicked & (1 << i) != 0 {
                dev.flush();
            }
        }
    }

    /// Hand one frame to device `i`; one its full ring refuses waits in the backlog (within
    /// [`TX_BACKLOG_BYTES`]), as does every later frame for that device in this flush.
    #[inline(always)]
    fn transmit_one(
        &mut self,
        i: usize,
        mut frame: Vec<u8>,
        offload: TxOffload,
        kicked: &mut u64,
        full: &mut u64,
    ) {
        let core = &mut self.core;
        if let Some(dev) = self.devices.get_mut(i) {
            let bit = 1u64.checked_shl(i as u32).unwrap_or(0);
            *kicked |= bit;
            let sent = if *full & bit != 0 {
                Err(TxError::Full)
            } else if offload.is_none() {
                dev.transmit_buf(&mut frame)
            } else {
                dev.transmit_offload(&mut frame, offload)
            };
            match sent {
                Ok(()) => {
                    if core.ifaces[i].loopback {
                        core.more_work = true;
                        core.loopback_pending |= i == LOOPBACK_IFACE;
                    }
                }
                Err(TxError::Full) if core.tx_backlog_bytes + frame.len() <= TX_BACKLOG_BYTES => {
                    // The ring is full: the frame waits for the next flush, in order, rather
                    // than being lost (a lost super-segment costs a retransmission of up to
                    // 44 segments).
                    *full |= bit;
                    core.tx_backlog_bytes += frame.len();
                    core.tx_backlog.push_back((i, frame, offload));
                    return;
                }
                Err(_) => {
                    core.ip.out_discards += 1;
                    core.ip_drops.tx_device_errors += 1;
                }
            }
        }
        core.recycle_frame(frame);
    }

    /// Bound the bytes all UDP receive queues hold together (`udp::UDP_DEFAULT_MEMORY_LIMIT`
    /// until set).
    pub fn set_udp_memory_limit(&mut self, bytes: usize) {
        self.core.udp.set_memory_limit(bytes);
    }

    /// UDP receive memory: the bound and what is queued now.
    pub fn udp_memory(&self) -> (usize, usize) {
        self.core.udp.memory()
    }

    /// All counters.
    pub fn counters(&self) -> Counters {
        let c = &self.core;
        Counters {
            ip: c.ip,
            ip_drops: c.ip_drops,
            icmp: c.icmp.stats,
            udp: c.udp.stats,
            arp: c.arp,
            link: c.link,
        }
    }

    /// Every UDP socket with a local address, as /proc/net/udp lists them (`inode`: each
    /// handle's socket inode, 0 for none).
    pub fn udp_proc_lines(
        &self,
        max: usize,
        inode: impl Fn(UdpHandle) -> u64,
    ) -> Vec<crate::procnet::SockLine> {
        self.core.udp.proc_lines(max, inode)
    }

    /// Each interface's name as /proc/net/dev shows it (`lo`, `eth0`, ...) and its counters.
    pub fn dev_rows(&self) -> Vec<(alloc::string::String, DevStats)> {
        let mut out = Vec::new();
        let mut eth = 0;
        for (i, d) in self.devices.iter().enumerate() {
            let name = if self.core.ifaces[i].loopback {
                alloc::string::String::from("lo")
            } else {
                eth += 1;
                alloc::format!("eth{}", eth - 1)
            };
            if out.try_reserve(1).is_err() {
                break;
            }
            out.push((name, d.stats()));
        }
        out
    }

    /// Traffic counters of interface `iface`.
    pub fn dev_stats(&self, iface: usize) -> Option<DevStats> {
        self.devices.get(iface).map(|d| d.stats())
    }

    /// Print every counter, /proc/net/snmp style ("Ip: InReceives ..." then the values),
    /// followed by one /proc/net/dev-like line per device.
    pub fn dump_counters(&self, out: &mut impl Write) -> core::fmt::Result {
        let c = self.counters();
        c.ip.render(out)?;
        c.ip_drops.render(out)?;
        c.icmp.render(out)?;
        c.udp.render(out)?;
        c.arp.render(out)?;
        c.link.render(out)?;
        for (i, d) in self.devices.iter().enumerate() {
            let s = d.stats();
            writeln!(
                out,
                "{}{}: rx_packets {} rx_bytes {} rx_dropped {} tx_packets {} tx_bytes {} tx_dropped {}",
                if self.core.ifaces[i].loopback { "lo" } else { "eth" },
                i,
                s.rx_packets,
                s.rx_bytes,
                s.rx_dropped,
                s.tx_packets,
                s.tx_bytes,
                s.tx_dropped
            )?;
        }
        Ok(())
    }
}

impl Core {
    fn is_local(&self, ip: Ipv4Addr) -> bool {
        ip.is_loopback()
            || self
                .ifaces
                .iter()
                .any(|i| i.addr.is_some_and(|a| a.addr == ip))
    }

    /// The first Ethernet interface.
    fn nic(&self) -> Option<usize> {
        self.ifaces.iter().position(|i| !i.loopback)
    }

    fn run_timers(&mut self, now: Instant) {
        for i in 0..self.ifaces.len() {
            if !self.ifaces[i].neigh.timers_due(now) {
                continue;
            }
            let mut actions = Vec::new();
            let f = &mut self.ifaces[i];
            f.neigh.poll(now, &mut self.arp, &mut actions);
            if !actions.is_empty() {
                self.neigh_actions(i, actions);
            }
        }
        if self.reasm.sets() == 0 {
            return;
        }
        let quotes = self.reasm.poll(now, &mut self.ip);
        for q in quotes {
            // RFC 792: time exceeded, code 1 (fragment reassembly time exceeded).
            self.icmp_error_reply(
                now,
                crate::wire::icmp::msg_type::TIME_EXCEEDED,
                1,
                0,
                &q,
                false,
            );
        }
    }

    fn deliver_local_errors(&mut self, now: Instant, upper: &mut dyn TransportHandler) {
        while let Some((err, quote)) = self.local_errors.pop_front() {
            self.dispatch_icmp_error(now, err, &quote, true, upper);
        }
    }
}

#[cfg(test)]
mod tests;
