//! TCP (RFC 9293) for all endpoints of one host: the connection table, demultiplexing, and the
//! socket-facing API.
//!
//! Owns every TCP endpoint: listeners, connections, their buffers and timers. It sits on an IP
//! layer it does not know: segments come in through [`Tcp::input`] as (source, destination,
//! bytes) and go out through [`Tcp::dispatch`] the same way, checksums included. It never reads
//! a clock (time is passed in) and never blocks: calls that would block return `EAGAIN`, and
//! [`Tcp::take_woken`] tells the socket layer whose readiness may have changed.
//!
//! # Driving it
//! After any call (`input`, `poll`, `connect`, `send`, `recv`, `close`, ...) call
//! [`Tcp::dispatch`] (or [`Tcp::dispatch_in_place`], which writes each segment straight into
//! the caller's frame buffer) to transmit what became sendable, and call [`Tcp::poll`] when
//! [`Tcp::poll_at`] is reached.
//!
//! # Public API
//! - [`Tcp::new`]`(config, isn_key, rng_seed)`
//! - segments: [`Tcp::input`], [`Tcp::icmp_error`], [`Tcp::dispatch`],
//!   [`Tcp::dispatch_in_place`], [`Tcp::poll`], [`Tcp::poll_at`]
//! - sockets (`socket.rs`): `listen`, `accept`, `connect`, `send`, `recv`, `peek`, `shutdown`,
//!   `close`, `abort`, `state`, `take_error`, `local_addr`, `peer_addr`, `poll_events`,
//!   `take_woken`, `set_nodelay`, `set_keepalive`, `set_keepalive_params`,
//!   `set_user_timeout`, `set_send_buffer`, `set_recv_buffer`, `set_mtu`, `set_linger2` /
//!   `linger2`,
//!   `set_congestion` ("cubic" — the default — or "reno"; `ENOENT` otherwise),
//!   `congestion_name`, `info` (TCP_INFO), `queued`
//! - counters: [`Tcp::counters`], [`Counters::dump`]; host-wide buffer memory:
//!   [`Tcp::memory`]
//!
//! Files: `tcb.rs` per-connection state, `input.rs` segment arrival and the RFC 5961 checks,
//! `ack.rs` ACK processing and loss detection, `reassembly.rs` receiving data,
//! `sack.rs` SACK both ways (D-SACK included), `output.rs` transmission, `timer.rs` timers,
//! `tw_queue.rs` the TIME-WAIT deadlines of the timer index, `conn_index.rs` the 4-tuple index,
//! `listen.rs` passive opens, `syncookie.rs` SYN cookies for a full SYN queue, `socket.rs`
//! the application calls, `icmp.rs` ICMP errors (RFC 5927), `congestion.rs` the
//! congestion-control trait and NewReno, `cubic.rs` CUBIC (RFC 9438, the default),
//! `hystart.rs` HyStart++ (RFC 9406) for the initial slow start, `memory.rs` the host-wide
//! buffer memory limit, `autotune.rs` receive- and send-buffer growth (dynamic right-sizing), `info.rs` TCP_INFO, `push.rs` PSH placement, `delack.rs` ACK timing
//! (delayed, quick and ping-pong), `isn.rs`
//! keyed hashes (SipHash-2-4), `seq.rs` sequence arithmetic, `stats.rs` counters. Tests:
//! `tests/` (scripted segment-level tests with a small harness, a deterministic link
//! simulation with one or several flows and a SYN flood, property tests).
//!
//! # Bounds
//! Send and receive buffers start at [`DEFAULT_SEND_BUFFER`] / [`DEFAULT_RECV_BUFFER`] and
//! autotuning grows them up to [`DEFAULT_SEND_BUFFER_MAX`] / [`DEFAULT_RECV_BUFFER_MAX`]
//! (per socket, settable within [`MIN_BUFFER`]`..=`[`MAX_BUFFER`], which stops the growth); the out-of-order queue within the
//! receive buffer, counting [`OOO_ENTRY_OVERHEAD`] per run; SYN and accept queues each
//! bounded by the backlog (≤ [`SOMAXCONN`]; past a full SYN queue, SYN cookies keep no
//! state); at most [`MAX_SOCKETS`] sockets (TIME-WAIT included); at most
//! [`MAX_PENDING_RSTS`] stateless replies (RSTs, cookie SYN-ACKs) between two `dispatch`
//! calls; the SACK scoreboard at [`MAX_SACK_RANGES`] ranges; all buffers and connection
//! blocks together within [`TcpConfig::memory_limit`] (`memory.rs`).

mod ack;
mod autotune;
mod config;
pub mod congestion;
mod conn_index;
mod cubic;
mod delack;
mod hystart;
mod icmp;
pub mod info;
mod input;
pub mod isn;
mod listen;
mod loss;
mod memory;
mod output;
mod pmtu;
mod prr;
mod push;
mod rack;
mod reassembly;
mod recv_queue;
mod sack;
pub mod seq;
mod socket;
mod stats;
mod syncookie;
mod tcb;
mod timer;
mod tlp;
mod tw_queue;

#[cfg(test)]
mod tests;

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use crate::offload::TxOffload;
use crate::rand::Rng;
use crate::time::Instant;
use crate::wire::tcp::{flags, TcpOptions, TcpPacket, TcpRepr};

pub use config::{
    TcpConfig, DEFAULT_MEMORY_LIMIT, DEFAULT_RECV_BUFFER, DEFAULT_RECV_BUFFER_MAX,
    DEFAULT_SEND_BUFFER, DEFAULT_SEND_BUFFER_MAX, EPHEMERAL_PORTS, MAX_PENDING_RSTS, MAX_SOCKETS,
    SOMAXCONN, TSO_MAX_PAYLOAD,
};
pub use icmp::IcmpError;
pub use listen::defer_accept_reported;
pub(crate) use listen::reuseport_pick;
pub use memory::{Memory, PER_SOCKET_FLOOR};
pub use output::{Emit, EmitInPlace};
pub use sack::MAX_SACK_RANGES;
pub use socket::{PollEvents, SendFlags, Shutdown, DEFAULT_MSS, MAX_USER_MSS};
pub use stats::Counters;
pub use tcb::{
    Linger2, SockOpts, MAX_BUFFER, MAX_DUPTHRESH, MAX_LINGER2, MIN_BUFFER, MIN_MSS,
    OOO_ENTRY_OVERHEAD,
};

use conn_index::ConnIndex;
use input::{RstReply, Segment};
use listen::Listener;
use seq::Seq;
use tcb::{Owner, Tcb};
use tw_queue::{TwEntry, TwQueue};

/// How many timer-index entries `poll_at` examines for the real earliest deadline (entries
/// may be early, see `Tcp::reschedule`); past this it returns the earliest entry, a wake-up
/// that is early, never late. Bounds the work of a call the kernel makes every loop.
const POLL_AT_SCAN: usize = 8;

/// Connection states (RFC 9293 §3.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    Closed,
    Listen,
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
}

impl State {
    /// States after the handshake completed.
    pub fn is_synchronized(self) -> bool {
        !matches!(
            self,
            State::Closed | State::Listen | State::SynSent | State::SynReceived
        )
    }
}

/// A socket: a listener or a connection. Stale handles (after `close`) give `EBADF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle {
    idx: u32,
    gen: u32,
}

/// State shared by all connections: settings, counters, keys, scratch space.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: TcpConfig,
    pub key: [u8; 16],
    pub stats: Counters,
    /// Host-wide buffer memory (`memory`).
    pub mem: Memory,
    /// Whether the segment being processed may be kept in its frame (`Tcp::input_adoptable`).
    pub adopt: Adopt,
}

/// Keeping a received segment's payload in its frame (`recv_queue`), for one input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Adopt {
    /// The frame is only lent: copy.
    #[default]
    Off,
    /// The frame may be kept if the payload is worth it.
    Allowed,
    /// Kept: `len` bytes at address `addr` of the frame wait for `Tcp::adopt`.
    Wanted { addr: usize, len: usize },
}

/// Smallest payload kept in its frame rather than copied: a super-segment's, never an
/// MTU-sized segment's (keeping those would cost an allocation per segment to save a copy).
pub(crate) const ADOPT_MIN: usize = 8 * 1024;

#[derive(Debug)]
enum Sock {
    Listener(Box<Listener>),
    Conn(Box<Tcb>),
}

#[derive(Debug)]
struct Slot {
    gen: u32,
    sock: Option<Sock>,
}

/// A connection's (local, remote) addresses packed into one integer, the key of the
/// connection index: a B-tree step is one 128-bit compare instead of up to four field
/// compares over octet slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ConnKey(u128);

impl ConnKey {
    pub(crate) fn new(local: SocketAddrV4, remote: SocketAddrV4) -> ConnKey {
        ConnKey(
            u128::from(local.ip().to_bits()) << 64
                | u128::from(local.port()) << 48
                | u128::from(remote.ip().to_bits()) << 16
                | u128::from(remote.port()),
        )
    }

    pub(crate) fn local(self) -> SocketAddrV4 {
        SocketAddrV4::new(
            Ipv4Addr::from_bits((self.0 >> 64) as u32),
            (self.0 >> 48) as u16,
        )
    }
}

/// All TCP endpoints of one host.
#[derive(Debug)]
pub struct Tcp {
    cx: Shared,
    slots: Vec<Slot>,
    free: Vec<usize>,
    /// Connections by (local, remote).
    conns: ConnIndex,
    /// Listeners by local address (0.0.0.0 for any): one, or an SO_REUSEPORT group in
    /// listen order.
    listeners: BTreeMap<SocketAddrV4, Vec<usize>>,
    /// Stateless replies to send (RSTs to stray segments, cookie SYN-ACKs), as (src, dst,
    /// segment).
    rsts: VecDeque<(Ipv4Addr, Ipv4Addr, u8, Vec<u8>)>,
    dirty: Vec<usize>,
    /// Connections by their earliest timer deadline (each at most once, see `reschedule`).
    timers: BTreeSet<(Instant, usize)>,
    /// The same for blocks whose deadline is the end of TIME-WAIT, in arrival order
    /// (`tw_queue`): a block's entry is in one of the two.
    tw_queue: TwQueue,
    /// Scratch lists for `poll`: connections whose timers are due, lazy entries to re-file.
    due: Vec<usize>,
    refile: Vec<(Instant, usize)>,
    /// Handles to wake, each at most once until `take_woken` (so at most one per socket).
    woken: Vec<Handle>,
    /// RFC 6056 algorithm 3's `next_ephemeral`.
    next_ephemeral: u32,
    /// The last (local address, remote endpoint) and its algorithm-3 port offset: a client
    /// opening many connections to one server hashes once, not once per `connect` (the key
    /// never changes, so the memo cannot go stale).
    port_offset_memo: Option<(Ipv4Addr, SocketAddrV4, u32)>,
    /// The latest time any call told us, for `poll_at` when output is pending.
    last_now: Instant,
    /// Segment buffer for the copying [`Tcp::dispatch`].
    scratch: Vec<u8>,
    /// Some writer got `EAGAIN` for want of host-wide memory and waits to be woken.
    mem_waiters: bool,
    /// The connection (slot, generation) whose segment waits in its frame for `adopt`.
    adopt_target: Option<(usize, u32)>,
    /// Path MTUs learned from ICMP, per destination, for the next connections there.
    pmtu: pmtu::PmtuCache,
}

impl Tcp {
    /// TCP for one host. `isn_key` keys ISNs and port selection (from the kernel's entropy
    /// source); `rng_seed` seeds the generator for everything else.
    pub fn new(config: TcpConfig, isn_key: [u8; 16], rng_seed: u64) -> Tcp {
        let mem = Memory::new(config.memory_limit);
        Tcp {
            cx: Shared {
                config,
                key: isn_key,
                stats: Counters::default(),
                mem,
                adopt: Adopt::Off,
            },
            slots: Vec::new(),
            free: Vec::new(),
            conns: ConnIndex::default(),
            listeners: BTreeMap::new(),
            rsts: VecDeque::new(),
            dirty: Vec::new(),
            timers: BTreeSet::new(),
            tw_queue: TwQueue::default(),
            due: Vec::new(),
            refile: Vec::new(),
            woken: Vec::new(),
            // RFC 6056 algorithm 3 allows any start; a random one hides the host's history.
            next_ephemeral: Rng::new(rng_seed).next_u32(),
            port_offset_memo: None,
            last_now: Instant::ZERO,
            scratch: Vec::new(),
            adopt_target: None,
            pmtu: pmtu::PmtuCache::default(),
            mem_waiters: false,
        }
    }

    /// A copy of the counters.
    pub fn counters(&self) -> Counters {
        Counters {
            memory_pressures: self.cx.mem.pressures,
            ..self.cx.stats
        }
    }

    /// Host-wide TCP buffer memory: limit, current and peak use, pressure.
    pub fn memory(&self) -> Memory {
        self.cx.mem
    }

    /// The settings.
    pub fn config(&self) -> &TcpConfig {
        &self.cx.config
    }

    /// One received segment, IP header removed. `checksum_verified` skips the checksum check
    /// (the device did it). Malformed segments are dropped and counted.
    pub fn input(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        segment: &[u8],
        checksum_verified: bool,
    ) {
        self.last_now = self.last_now.max(now);
        let Ok(pkt) = TcpPacket::new_checked(segment) else {
            self.cx.stats.in_errs += 1;
            return;
        };
        if !checksum_verified && !pkt.verify_checksum(src, dst) {
            self.cx.stats.in_csum_errors += 1;
            self.cx.stats.in_errs += 1;
            return;
        }
        let Ok(opts) = TcpOptions::parse(pkt.options()) else {
            self.cx.stats.malformed_options += 1;
            self.cx.stats.in_errs += 1;
            return;
        };
        self.cx.stats.in_segs += 1;
        let bad_addr = |a: Ipv4Addr| a.is_broadcast() || a.is_multicast() || a.is_unspecified();
        if bad_addr(src) || bad_addr(dst) || pkt.src_port() == 0 || pkt.dst_port() == 0 {
            self.cx.stats.in_errs += 1;
            return;
        }
        let seg = Segment {
            seq: Seq(pkt.seq()),
            ack: Seq(pkt.ack()),
            flags: pkt.flags(),
            window: pkt.window(),
            opts,
            payload: pkt.payload(),
        };
        let local = SocketAddrV4::new(dst, pkt.dst_port());
        let remote = SocketAddrV4::new(src, pkt.src_port());
        let mut iss_floor = None;
        if let Some(idx) = self.conns.get(ConnKey::new(local, remote)) {
            if let Some(floor) = self.time_wait_reusable(idx, &seg) {
                // RFC 6191: a new incarnation may take over the TIME-WAIT 4-tuple.
                self.cx.stats.time_wait_reused += 1;
                self.retire_time_wait(idx);
                iss_floor = Some(floor);
            } else {
                self.conn_input(idx, now, &seg);
                if matches!(self.cx.adopt, Adopt::Wanted { .. }) {
                    self.adopt_target = self.slots.get(idx).map(|s| (idx, s.gen));
                }
                return;
            }
        }
        let listener = self
            .listeners
            .get(&local)
            .or_else(|| {
                self.listeners
                    .get(&SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, local.port()))
            })
            .and_then(|group| {
                group
                    .get(listen::reuseport_pick(remote, group.len()))
                    .copied()
            });
        match listener {
            Some(l) => self.listen_input(l, now, local, remote, &seg, iss_floor),
            None => {
                self.cx.stats.no_port += 1;
                if !seg.has(flags::RST) {
                    self.queue_rst(local, remote, RstReply::for_segment(&seg));
                }
            }
        }
    }

    /// Make way for a new incarnation: an orphan is freed; a block the application still holds
    /// becomes CLOSED and leaves the 4-tuple index.
    fn retire_time_wait(&mut self, idx: usize) {
        let Some(Sock::Conn(tcb)) = self.slots.get_mut(idx).and_then(|s| s.sock.as_mut()) else {
            return;
        };
        if tcb.owner != Owner::User {
            self.free_slot(idx);
            return;
        }
        tcb.set_state(&mut self.cx.stats, State::Closed);
        self.after(idx);
    }

    /// A SYN may reopen a TIME-WAIT 4-tuple if it is newer (timestamp, else sequence
    /// number); returns the floor for the new ISS.
    fn time_wait_reusable(&self, idx: usize, seg: &Segment) -> Option<Seq> {
        let tcb = self.conn(idx)?;
        if tcb.state != State::TimeWait
            || !seg.has(flags::SYN)
            || seg.has(flags::ACK)
            || seg.has(flags::RST)
        {
            return None;
        }
        let newer = match (tcb.ts_ok, seg.opts.timestamp) {
            (true, Some((tsval, _))) => (tsval.wrapping_sub(tcb.ts_recent) as i32) > 0,
            _ => seg.seq > tcb.rcv_nxt,
        };
        newer.then_some(tcb.snd_nxt + 65535 + 2)
    }

    fn conn_input(&mut self, idx: usize, now: Instant, seg: &Segment) {
        // A child completing its handshake into a full accept queue: drop the ACK (Linux
        // does; the SYN-ACK is retransmitted and the client retries).
        if let Some(tcb) = self.conn(idx) {
            if let (State::SynReceived, Owner::Listener(l)) = (tcb.state, tcb.owner) {
                if seg.has(flags::ACK)
                    && !seg.has(flags::RST)
                    && !seg.has(flags::SYN)
                    && self.accept_queue_full(l)
                {
                    self.cx.stats.listen_overflows += 1;
                    self.cx.stats.listen_drops += 1;
                    return;
                }
            }
        }
        let Some(Slot {
            sock: Some(Sock::Conn(tcb)),
            ..
        }) = self.slots.get_mut(idx)
        else {
            return;
        };
        let was = tcb.state;
        let local = tcb.local;
        let remote = tcb.remote;
        let reply = tcb.input(&mut self.cx, now, seg);
        let now_state = tcb.state;
        let owner = tcb.owner;
        if let Some(r) = reply {
            self.queue_rst(local, remote, r);
        }
        if was == State::SynReceived && now_state.is_synchronized() {
            if let Owner::Listener(l) = owner {
                self.child_established(l, idx);
            }
        }
        self.after(idx);
    }

    /// Housekeeping after anything touched connection `idx`: schedule output, wake the
    /// application, reap CLOSED blocks nobody holds.
    fn after(&mut self, idx: usize) {
        let gen = match self.slots.get(idx) {
            Some(s) => s.gen,
            None => return,
        };
        let Some(Sock::Conn(tcb)) = self.slots.get_mut(idx).and_then(|s| s.sock.as_mut()) else {
            return;
        };
        if !tcb.dirty {
            tcb.dirty = true;
            self.dirty.push(idx);
        }
        Self::charge(&mut self.cx.mem, tcb);
        let closed = tcb.state == State::Closed;
        let owner = tcb.owner;
        // TCP_DEFER_ACCEPT: a waiting child that got data (or a FIN), or whose deadline
        // passed, becomes acceptable; its listener is woken.
        let defer_done =
            core::mem::take(&mut tcb.defer_expired) || tcb.defer_until.is_some() && tcb.readable();
        if defer_done {
            tcb.defer_until = None;
        }
        // An abort (Linux's active reset): RST with ACK of what we received and, when the
        // connection uses them, timestamps, so the peer's PAWS check accepts it.
        let rst = if closed && tcb.send_rst_on_close {
            tcb.send_rst_on_close = false;
            let ts = tcb
                .ts_ok
                .then(|| (tcb.ts_now(self.last_now), tcb.ts_recent));
            Some((
                tcb.local,
                tcb.remote,
                tcb.snd_max,
                tcb.rcv_nxt,
                ts,
                tcb.opts.tos,
            ))
        } else {
            None
        };
        if tcb.wake {
            tcb.wake = false;
            if owner == Owner::User && !tcb.in_woken {
                tcb.in_woken = true;
                self.woken.push(Handle {
                    idx: idx as u32,
                    gen,
                });
            }
        }
        if let (true, Owner::Listener(l)) = (defer_done, owner) {
            self.wake_listener(l);
        }
        if let Some((l, r, seq, ack, ts, tos)) = rst {
            let reply = RstReply {
                seq,
                ack: Some(ack),
            };
            self.queue_rst_ts(l, r, reply, ts, tos);
        }
        self.memory_changed();
        if closed && owner != Owner::User {
            self.free_slot(idx);
        } else {
            if closed {
                // A CLOSED block the application still holds no longer owns its 4-tuple
                // (Linux unhashes it too): a new connection may use it.
                if let Some(Sock::Conn(tcb)) = self.slots.get(idx).and_then(|s| s.sock.as_ref()) {
                    let key = ConnKey::new(tcb.local, tcb.remote);
                    self.conns.remove_if(key, idx);
                }
            }
            // No `reschedule` here: the block is dirty, and `dispatch` reschedules it after
            // its output (which moves the timers again); `poll` catches up first if it runs
            // before `dispatch` did.
        }
    }

    /// Bring `tcb`'s charge against host-wide memory up to date (giving back spare capacity
    /// first under pressure).
    fn charge(mem: &mut Memory, tcb: &mut Tcb) {
        if mem.pressure {
            tcb.reclaim();
        }
        let charge = tcb.footprint();
        if charge != tcb.charged {
            mem.recharge(tcb.charged, charge);
            tcb.charged = charge;
        }
    }

    /// React to host-wide memory moving: entering pressure gives back every connection's
    /// spare buffer capacity at once (idle connections would keep it otherwise); usage
    /// falling well below the limit wakes writers that were refused for want of memory.
    #[inline]
    fn memory_changed(&mut self) {
        let sweep = self.cx.mem.pressure && !self.cx.mem.swept;
        if sweep || self.mem_waiters {
            self.memory_sweeps(sweep);
        }
    }

    /// The rare part of [`memory_changed`](Self::memory_changed), out of line.
    fn memory_sweeps(&mut self, sweep: bool) {
        if sweep {
            self.cx.mem.swept = true;
            for slot in self.slots.iter_mut() {
                if let Some(Sock::Conn(tcb)) = slot.sock.as_mut() {
                    Self::charge(&mut self.cx.mem, tcb);
                }
            }
        }
        if self.mem_waiters && self.cx.mem.writers_may_retry() {
            self.mem_waiters = false;
            for (idx, slot) in self.slots.iter_mut().enumerate() {
                if let Some(Sock::Conn(tcb)) = slot.sock.as_mut() {
                    if tcb.mem_blocked {
                        tcb.mem_blocked = false;
                        if tcb.owner == Owner::User && !tcb.in_woken {
                            tcb.in_woken = true;
                            self.woken.push(Handle {
                                idx: idx as u32,
                                gen: slot.gen,
                            });
                        }
                    }
                }
            }
        }
    }

    /// Keep the timer index in step with connection `idx`'s earliest deadline. The index is
    /// lazy: a deadline that moved later (an RTO restarted, a delayed ACK sent) keeps its
    /// earlier entry, and `poll` re-files it when it comes due; only a deadline that moved
    /// earlier moves the entry. So an entry is never later than the connection's real
    /// deadline, and a connection with no deadline left has no entry (for `poll_at`).
    ///
    /// A TIME-WAIT block whose deadline is the end of TIME-WAIT is filed in `tw_queue`
    /// instead (O(1), and it keeps the B-tree down to the active connections); an entry there
    /// is not removed when the block moves on but left to go stale (see `tw_entry_live`).
    #[inline(always)]
    fn reschedule(&mut self, idx: usize) {
        let Some(Sock::Conn(tcb)) = self.slots.get_mut(idx).and_then(|s| s.sock.as_mut()) else {
            return;
        };
        let new = tcb.next_deadline();
        let keep = match (tcb.timer_key, new) {
            (Some(old), Some(t)) => old <= t,
            (None, None) => true,
            _ => false,
        };
        if !keep {
            self.refile_timer(idx, new);
        }
    }

    /// Move connection `idx`'s index entry to `new` (see `reschedule`).
    fn refile_timer(&mut self, idx: usize, new: Option<Instant>) {
        let Some(slot) = self.slots.get_mut(idx) else {
            return;
        };
        let gen = slot.gen;
        let Some(Sock::Conn(tcb)) = slot.sock.as_mut() else {
            return;
        };
        if let Some(old) = tcb.timer_key {
            if !tcb.timer_in_tw_queue {
                self.timers.remove(&(old, idx));
            }
        }
        tcb.timer_in_tw_queue = false;
        if let Some(t) = new {
            let time_wait = tcb.state == State::TimeWait && tcb.timewait_at == Some(t);
            if time_wait && self.tw_queue.push(TwEntry { at: t, idx, gen }) {
                tcb.timer_in_tw_queue = true;
            } else {
                self.timers.insert((t, idx));
            }
        }
        tcb.timer_key = new;
    }

    /// Whether a queued TIME-WAIT entry is still its block's filing (the slot was not
    /// freed since, and the block was not re-filed).
    fn tw_entry_live(&self, e: TwEntry) -> bool {
        self.slots.get(e.idx).is_some_and(|s| s.gen == e.gen)
            && self
                .conn(e.idx)
                .is_some_and(|t| t.timer_in_tw_queue && t.timer_key == Some(e.at))
    }

    /// Queue a RST (or RST|ACK) from `local` to `remote`.
    fn queue_rst(&mut self, local: SocketAddrV4, remote: SocketAddrV4, r: RstReply) {
        self.queue_rst_ts(local, remote, r, None, 0);
    }

    /// [`Tcp::queue_rst`] with a timestamp option (TSval, TSecr), from a socket whose
    /// IP_TOS is `tos` (an abort; replies for no socket carry 0).
    fn queue_rst_ts(
        &mut self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        r: RstReply,
        ts: Option<(u32, u32)>,
        tos: u8,
    ) {
        if self.rsts.len() >= MAX_PENDING_RSTS {
            return;
        }
        let repr = TcpRepr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq: r.seq.0,
            ack: r.ack.map_or(0, |a| a.0),
            flags: flags::RST | if r.ack.is_some() { flags::ACK } else { 0 },
            window: 0,
            options: TcpOptions {
                timestamp: ts,
                ..TcpOptions::default()
            },
        };
        let mut buf = Vec::new();
        repr.emit(*local.ip(), *remote.ip(), [&[], &[]], &mut buf);
        self.cx.stats.out_rsts += 1;
        self.cx.stats.out_segs += 1;
        self.rsts.push_back((*local.ip(), *remote.ip(), tos, buf));
    }

    /// [`Tcp::input`] for a segment inside a frame the caller owns and can hand over: when
    /// this returns true, TCP kept a large in-order payload by reference instead of copying
    /// it, and the caller must pass that frame to [`Tcp::adopt`] before any other call.
    pub fn input_adoptable(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        segment: &[u8],
        checksum_verified: bool,
    ) -> bool {
        // A caller that never handed over the previous frame: that segment's bytes are lost.
        if self.adopt_target.is_some() {
            self.abandon_adoption();
        }
        self.cx.adopt = Adopt::Allowed;
        self.input(now, src, dst, segment, checksum_verified);
        if matches!(self.cx.adopt, Adopt::Wanted { .. }) && self.adopt_target.is_some() {
            return true;
        }
        self.cx.adopt = Adopt::Off;
        false
    }

    /// The frame whose segment [`Tcp::input_adoptable`] kept: it becomes part of that
    /// connection's receive queue. A frame much larger than the payload it carries is not
    /// kept; its payload is copied out instead.
    pub fn adopt(&mut self, frame: Vec<u8>) {
        let Adopt::Wanted { addr, len } = core::mem::take(&mut self.cx.adopt) else {
            return;
        };
        let Some((idx, gen)) = self.adopt_target.take() else {
            return;
        };
        if self.slots.get(idx).is_none_or(|s| s.gen != gen) {
            return;
        }
        let Some(Slot {
            sock: Some(Sock::Conn(tcb)),
            ..
        }) = self.slots.get_mut(idx)
        else {
            return;
        };
        let base = frame.as_ptr() as usize;
        let start = addr
            .checked_sub(base)
            .filter(|s| s.checked_add(len).is_some_and(|e| e <= frame.len()));
        let filled = match start {
            Some(s) if frame.capacity() <= 2 * len.max(ADOPT_MIN) => {
                tcb.rcv_buf.fill_adopted(frame, s).is_ok()
            }
            Some(s) => tcb
                .rcv_buf
                .fill_adopted(frame[s..s + len].to_vec(), 0)
                .is_ok(),
            None => false,
        };
        if filled {
            self.cx.stats.rcv_adopted += 1;
            Self::charge(&mut self.cx.mem, tcb);
            return;
        }
        // Not the frame the segment came in.
        self.adopt_target = Some((idx, gen));
        self.abandon_adoption();
    }

    /// The frame of a kept segment will not come (the caller broke `input_adoptable`'s
    /// contract): its bytes are lost to us and the stream cannot go on without them, so the
    /// connection is reset with ECONNABORTED.
    #[cold]
    fn abandon_adoption(&mut self) {
        debug_assert!(false, "a kept segment's frame was not handed over");
        self.cx.adopt = Adopt::Off;
        let Some((idx, gen)) = self.adopt_target.take() else {
            return;
        };
        if self.slots.get(idx).is_none_or(|s| s.gen != gen) {
            return;
        }
        let Some(Slot {
            sock: Some(Sock::Conn(tcb)),
            ..
        }) = self.slots.get_mut(idx)
        else {
            return;
        };
        tcb.rcv_buf.cancel_adopted();
        tcb.error = Some(crate::errno::Errno::ECONNABORTED);
        socket::reset(tcb, &mut self.cx);
        self.after(idx);
    }

    /// Transmit everything that became sendable: queued RSTs, then each connection's output,
    /// each segment handed to `emit` as a finished slice.
    pub fn dispatch(&mut self, now: Instant, emit: &mut Emit) {
        let mut scratch = core::mem::take(&mut self.scratch);
        let mut piece = Vec::new();
        self.dispatch_in_place(now, &mut |src, dst, _tos, offload, fill| {
            scratch.clear();
            fill(&mut scratch);
            if offload.is_none() {
                emit(src, dst, &scratch);
                return;
            }
            // Finished segments only: what a device would have done, done here.
            // TCP built the segment: it is well formed, so neither can fail.
            let done = if offload.tcp_mss == 0 {
                let r = crate::offload::complete_tcp_checksum(&mut scratch);
                emit(src, dst, &scratch);
                r
            } else {
                crate::offload::split_tcp(
                    src,
                    dst,
                    &scratch,
                    usize::from(offload.tcp_mss),
                    &mut piece,
                    &mut |seg| emit(src, dst, seg),
                )
            };
            debug_assert!(done.is_ok());
        });
        self.scratch = scratch;
    }

    /// Whether [`Tcp::dispatch`] has anything to send (queued replies, or connections touched
    /// since the last dispatch). Callers that recorded the time through `poll` or `input`
    /// may skip `dispatch` when this is false.
    #[inline]
    pub fn has_output(&self) -> bool {
        !self.rsts.is_empty() || !self.dirty.is_empty()
    }

    /// [`Tcp::dispatch`] writing each segment straight into the caller's buffer:
    /// `emit(src, dst, tos, offload, fill)` must call `fill` once with the buffer the segment is to be
    /// appended to (behind whatever headroom it already holds). Queued RSTs and cookie
    /// SYN-ACKs are copied in.
    #[inline]
    pub fn dispatch_in_place(&mut self, now: Instant, emit: &mut EmitInPlace) {
        // Callers without a clock (socket options) pass an old instant: segments still carry
        // the latest time TCP has seen, or their timers would fire at once.
        self.last_now = self.last_now.max(now);
        // Most calls have nothing to send: that test is inlined into the caller, the work
        // is not.
        if self.has_output() {
            self.dispatch_pending(emit);
        }
    }

    fn dispatch_pending(&mut self, emit: &mut EmitInPlace) {
        let now = self.last_now;
        while let Some((s, d, tos, seg)) = self.rsts.pop_front() {
            emit(s, d, tos, TxOffload::NONE, &mut |buf: &mut Vec<u8>| {
                buf.extend_from_slice(&seg)
            });
        }
        let dirty = core::mem::take(&mut self.dirty);
        for &idx in &dirty {
            if let Some(Slot {
                sock: Some(Sock::Conn(tcb)),
                ..
            }) = self.slots.get_mut(idx)
            {
                tcb.dirty = false;
                tcb.output(&mut self.cx, now, emit);
                self.reschedule(idx);
            }
        }
        let mut dirty = dirty;
        dirty.clear();
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
    }

    /// Run every timer due at `now`.
    #[inline]
    pub fn poll(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        // Most calls have no block to catch up on and no timer due: that test is inlined
        // into the caller, the work is not.
        if !self.dirty.is_empty() || self.timer_due(now) {
            self.poll_timers(now);
        }
    }

    /// Whether an index entry (possibly stale or early) has come due.
    #[inline]
    fn timer_due(&self, now: Instant) -> bool {
        self.timers.first().is_some_and(|&(t, _)| t <= now)
            || self.tw_queue.front().is_some_and(|e| e.at <= now)
    }

    fn poll_timers(&mut self, now: Instant) {
        // Blocks touched since the last `dispatch` have not had their timer index updated.
        for i in 0..self.dirty.len() {
            let idx = self.dirty[i];
            self.reschedule(idx);
        }
        if !self.timer_due(now) {
            return;
        }
        // Each connection runs its timers at most once per call, so a deadline a timer
        // handler leaves in the past cannot spin here.
        let mut due = core::mem::take(&mut self.due);
        let mut refile = core::mem::take(&mut self.refile);
        while let Some(&(t, idx)) = self.timers.first() {
            if t > now {
                break;
            }
            self.timers.pop_first();
            let Some(tcb) = self.conn_mut(idx) else {
                continue;
            };
            tcb.timer_key = None;
            match tcb.next_deadline() {
                // A lazy entry (see `reschedule`): the deadline moved later; file it anew
                // after this loop (filing it now could bring it back to the front).
                Some(real) if real > now => refile.push((real, idx)),
                Some(_) => due.push(idx),
                None => {}
            }
        }
        while let Some(e) = self.tw_queue.front() {
            if e.at > now {
                break;
            }
            self.tw_queue.pop_front();
            if !self.tw_entry_live(e) {
                continue;
            }
            let Some(tcb) = self.conn_mut(e.idx) else {
                continue;
            };
            tcb.timer_key = None;
            tcb.timer_in_tw_queue = false;
            match tcb.next_deadline() {
                Some(real) if real > now => refile.push((real, e.idx)),
                Some(_) => due.push(e.idx),
                None => {}
            }
        }
        for &(real, idx) in &refile {
            if let Some(tcb) = self.conn_mut(idx) {
                tcb.timer_key = Some(real);
                self.timers.insert((real, idx));
            }
        }
        refile.clear();
        self.refile = refile;
        for &idx in &due {
            if let Some(Slot {
                sock: Some(Sock::Conn(tcb)),
                ..
            }) = self.slots.get_mut(idx)
            {
                tcb.on_timer(&mut self.cx, now);
            }
            self.after(idx);
        }
        due.clear();
        self.due = due;
    }

    /// The next time `poll` has work; "now" if output is pending (call `dispatch`).
    pub fn poll_at(&self) -> Option<Instant> {
        if !self.dirty.is_empty() || !self.rsts.is_empty() {
            return Some(self.last_now);
        }
        let tree = self.earliest(self.timers.iter().map(|&(t, idx)| (t, idx, true)));
        let queue = self.earliest(
            self.tw_queue
                .iter()
                .map(|e| (e.at, e.idx, self.tw_entry_live(e))),
        );
        match (tree, queue) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The earliest real deadline behind index entries `(deadline, slot, live)` in deadline
    /// order. Entries may be early (see `reschedule`) or stale (`live` false): look at the
    /// first few for the real earliest deadline; past POLL_AT_SCAN, answer early rather than
    /// late.
    fn earliest(&self, entries: impl Iterator<Item = (Instant, usize, bool)>) -> Option<Instant> {
        let mut best: Option<Instant> = None;
        for (n, (t, idx, live)) in entries.enumerate() {
            if best.is_some_and(|b| t >= b) {
                break;
            }
            if n == POLL_AT_SCAN {
                return Some(best.map_or(t, |b| b.min(t)));
            }
            if !live {
                continue;
            }
            if let Some(real) = self.conn(idx).and_then(|c| c.next_deadline()) {
                best = Some(best.map_or(real, |b| b.min(real)));
            }
        }
        best
    }

    fn conn(&self, idx: usize) -> Option<&Tcb> {
        match self.slots.get(idx)?.sock.as_ref()? {
            Sock::Conn(t) => Some(t),
            Sock::Listener(_) => None,
        }
    }

    fn conn_mut(&mut self, idx: usize) -> Option<&mut Tcb> {
        match self.slots.get_mut(idx)?.sock.as_mut()? {
            Sock::Conn(t) => Some(t),
            Sock::Listener(_) => None,
        }
    }

    /// Put a socket in a free slot.
    fn alloc_slot(&mut self, sock: Sock) -> Result<usize, crate::errno::Errno> {
        if let Some(idx) = self.free.pop() {
            self.slots[idx].sock = Some(sock);
            return Ok(idx);
        }
        if self.slots.len() >= MAX_SOCKETS {
            return Err(crate::errno::Errno::ENOBUFS);
        }
        self.slots.push(Slot {
            gen: 0,
            sock: Some(sock),
        });
        Ok(self.slots.len() - 1)
    }

    /// Remove a socket from the table and every index.
    fn free_slot(&mut self, idx: usize) {
        let Some(slot) = self.slots.get_mut(idx) else {
            return;
        };
        let Some(sock) = slot.sock.take() else {
            return;
        };
        slot.gen = slot.gen.wrapping_add(1);
        self.free.push(idx);
        match sock {
            Sock::Conn(tcb) => {
                self.cx.mem.recharge(tcb.charged, 0);
                if let Some(t) = tcb.timer_key {
                    // A TIME-WAIT queue entry goes stale with the generation bumped above.
                    if !tcb.timer_in_tw_queue {
                        self.timers.remove(&(t, idx));
                    }
                }
                let key = ConnKey::new(tcb.local, tcb.remote);
                self.conns.remove_if(key, idx);
                // CurrEstab bookkeeping for a block freed without passing through CLOSED.
                if matches!(tcb.state, State::Established | State::CloseWait) {
                    self.cx.stats.curr_estab = self.cx.stats.curr_estab.saturating_sub(1);
                }
                if let Owner::Listener(l) = tcb.owner {
                    self.child_gone(l, idx);
                }
                self.memory_changed();
            }
            Sock::Listener(l) => {
                if let Some(group) = self.listeners.get_mut(&l.local) {
                    group.retain(|&i| i != idx);
                    if group.is_empty() {
                        self.listeners.remove(&l.local);
                    }
                }
            }
        }
    }
}
