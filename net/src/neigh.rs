//! The ARP neighbour table (the seeds' `neigh_table`): IPv4 → MAC on one Ethernet link.
//!
//! Owns neighbour states (INCOMPLETE → REACHABLE → STALE → DELAY → PROBE → FAILED, as Linux's
//! NUD states), their timers, the bounded queue of packets waiting for resolution, answering
//! ARP requests for our addresses and learning from ARP addressed to us. It never transmits:
//! every frame it wants sent comes back as an [`Action`] for the stack to put on the device, and
//! every packet it gives up on comes back in [`Action::Failed`] so local senders hear
//! EHOSTUNREACH.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::Ipv4Addr;

use crate::errno::Errno;
use crate::ratelimit::TokenBucket;
use crate::snmp::ArpStats;
use crate::time::{Duration, Instant};
use crate::wire::arp::{ArpOp, ArpRepr};
use crate::wire::MacAddr;

/// Bound on entries: more neighbours than a unikernel talks to at once; on overflow the oldest
/// resolved (non-INCOMPLETE) entry is evicted, as Linux's forced GC does.
pub const NEIGH_MAX_ENTRIES: usize = 256;
/// Packets held per unresolved neighbour: enough for a 64 KiB datagram fragmented at 1500
/// bytes (45 fragments); Linux's unres_qlen default is 101.
pub const NEIGH_QUEUE_PACKETS: usize = 64;
/// Bytes held per unresolved neighbour (Linux unres_qlen_bytes is 212992; we hold less).
pub const NEIGH_QUEUE_BYTES: usize = 128 * 1024;
/// Bytes held for all unresolved neighbours together, so many unreachable peers cannot pin
/// more than this much memory.
pub const NEIGH_QUEUE_TOTAL_BYTES: usize = 512 * 1024;

/// How long a confirmed mapping stays REACHABLE (Linux base_reachable_time, 30 s).
pub const REACHABLE_TIME: Duration = Duration::from_secs(30);
/// Interval between ARP requests for one neighbour (Linux retrans_time, 1 s).
pub const RETRANS_TIME: Duration = Duration::from_secs(1);
/// How long a used STALE entry waits for upper-layer confirmation before probing (5 s).
pub const DELAY_FIRST_PROBE: Duration = Duration::from_secs(5);
/// Broadcast requests before an INCOMPLETE entry fails (Linux mcast_solicit, 3).
pub const MCAST_PROBES: u8 = 3;
/// Unicast probes before a PROBE entry fails (Linux ucast_solicit, 3).
pub const UCAST_PROBES: u8 = 3;
/// Unused STALE and FAILED entries are removed after this long (Linux gc_staletime, 60 s).
pub const GC_STALE_TIME: Duration = Duration::from_secs(60);
/// ARP requests per second over the whole table, and the burst: one host cannot be made to
/// flood the link by sending to many unresolved addresses.
pub const ARP_REQUEST_RATE: u32 = 100;
pub const ARP_REQUEST_BURST: u32 = 20;

/// Neighbour Unreachability Detection state (Linux's NUD_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NeighState {
    Incomplete,
    Reachable,
    Stale,
    Delay,
    Probe,
    Failed,
}

/// What the table wants the stack to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// Send an ARP request for `target`, to `dst_mac` (broadcast, or unicast for a probe).
    Request { target: Ipv4Addr, dst_mac: MacAddr },
    /// Send an ARP reply to `dst_mac`/`dst_ip` saying `our_ip` is at our MAC.
    Reply {
        our_ip: Ipv4Addr,
        dst_mac: MacAddr,
        dst_ip: Ipv4Addr,
    },
    /// Put this IPv4 packet in a frame to `mac`.
    Transmit { mac: MacAddr, packet: Vec<u8> },
    /// Resolution of `ip` failed; these queued IPv4 packets were dropped.
    Failed { ip: Ipv4Addr, packets: Vec<Vec<u8>> },
}

#[derive(Debug)]
struct Entry {
    ip: Ipv4Addr,
    mac: MacAddr,
    state: NeighState,
    /// When the current state's timer fires (None: no timer).
    deadline: Option<Instant>,
    probes: u8,
    /// Last time a mapping was confirmed (reply, or upper-layer confirmation).
    confirmed: Instant,
    /// Last time the entry changed or was used; the eviction and GC age.
    updated: Instant,
    queue: VecDeque<Vec<u8>>,
    queue_bytes: usize,
}

impl Entry {
    /// A new entry in `state`, no timer, no probes, nothing queued, never confirmed.
    fn new(ip: Ipv4Addr, mac: MacAddr, state: NeighState, now: Instant) -> Entry {
        Entry {
            ip,
            mac,
            state,
            deadline: None,
            probes: 0,
            confirmed: Instant::ZERO,
            updated: now,
            queue: VecDeque::new(),
            queue_bytes: 0,
        }
    }
}

/// An ARP table for one interface.
#[derive(Debug)]
pub struct NeighTable {
    entries: Vec<Entry>,
    queued_bytes: usize,
    requests: TokenBucket,
    /// No entry's timer fires before this (a lower bound, exact after each [`Self::poll`]):
    /// `poll` skips its walk until then, so a busy link does not pay a table scan per poll.
    no_timer_before: Instant,
}

impl Default for NeighTable {
    fn default() -> Self {
        Self::new()
    }
}

impl NeighTable {
    pub fn new() -> Self {
        NeighTable {
            entries: Vec::new(),
            queued_bytes: 0,
            requests: TokenBucket::new(ARP_REQUEST_RATE, ARP_REQUEST_BURST),
            no_timer_before: Instant::ZERO,
        }
    }

    /// The state and hardware address of `ip`'s entry, if any.
    pub fn lookup(&self, ip: Ipv4Addr) -> Option<(NeighState, MacAddr)> {
        self.find(ip)
            .map(|i| (self.entries[i].state, self.entries[i].mac))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Bytes currently queued waiting for resolution, all neighbours together.
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    fn find(&self, ip: Ipv4Addr) -> Option<usize> {
        self.entries.iter().position(|e| e.ip == ip)
    }

    /// When `e`'s timer fires: its state deadline, or garbage collection for STALE/FAILED.
    fn timer(e: &Entry) -> Option<Instant> {
        match e.state {
            NeighState::Stale | NeighState::Failed => Some(e.updated + GC_STALE_TIME),
            _ => e.deadline,
        }
    }

    /// Entry `i` changed: keep `no_timer_before` a lower bound of every entry's timer.
    fn note(&mut self, i: usize) {
        if let Some(t) = self.entries.get(i).and_then(Self::timer) {
            self.no_timer_before = self.no_timer_before.min(t);
        }
    }

    /// The transmit fast path: the hardware address to put a packet for `ip` behind when the
    /// entry is usable now (REACHABLE, STALE, DELAY, PROBE), with the same state changes as
    /// [`Self::output`] (an expired REACHABLE turns STALE; a used STALE entry starts DELAY).
    /// `None` (and nothing changed) when `ip` is unknown, INCOMPLETE or FAILED: call `output`.
    pub fn resolved(&mut self, now: Instant, ip: Ipv4Addr) -> Option<MacAddr> {
        let i = self.find(ip)?;
        let e = &mut self.entries[i];
        if matches!(e.state, NeighState::Incomplete | NeighState::Failed) {
            return None;
        }
        e.updated = now;
        if e.state == NeighState::Reachable && e.deadline.is_some_and(|d| now >= d) {
            e.state = NeighState::Stale;
            e.deadline = None;
        }
        if e.state == NeighState::Stale {
            e.state = NeighState::Delay;
            e.deadline = Some(now + DELAY_FIRST_PROBE);
        }
        let mac = e.mac;
        self.note(i);
        Some(mac)
    }

    /// Drop every entry (the interface was deconfigured); queued packets come back as failed.
    pub fn clear(&mut self, actions: &mut Vec<Action>) {
        for e in self.entries.drain(..) {
            if !e.queue.is_empty() {
                actions.push(Action::Failed {
                    ip: e.ip,
                    packets: e.queue.into_iter().collect(),
                });
            }
        }
        self.queued_bytes = 0;
    }

    fn request(
        &mut self,
        now: Instant,
        target: Ipv4Addr,
        dst_mac: MacAddr,
        stats: &mut ArpStats,
        actions: &mut Vec<Action>,
    ) {
        if self.requests.try_take(now) {
            actions.push(Action::Request { target, dst_mac });
        } else {
            stats.requests_rate_limited += 1;
        }
    }

    /// Make room for one more entry: evict the oldest entry that is not INCOMPLETE.
    fn make_room(&mut self, stats: &mut ArpStats) -> Result<(), Errno> {
        if self.entries.len() < NEIGH_MAX_ENTRIES {
            return Ok(());
        }
        let victim = self
            .entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.state != NeighState::Incomplete)
            .min_by_key(|(_, e)| e.updated)
            .map(|(i, _)| i);
        match victim {
            Some(i) => {
                let e = self.entries.swap_remove(i);
                self.queued_bytes -= e.queue_bytes;
                stats.table_evictions += 1;
                Ok(())
            }
            None => {
                stats.table_full += 1;
                Err(Errno::ENOBUFS)
            }
        }
    }

    /// Send `packet` (an IPv4 packet no larger than the MTU) to the neighbour `ip`: transmitted
    /// at once when the address is known, otherwise queued and resolution started.
    /// `EHOSTUNREACH` when the queue for `ip` (or all queues together) is full — the packet is
    /// dropped and counted in QueueDrops; `ENOBUFS` when the table is full of unresolved
    /// entries.
    pub fn output(
        &mut self,
        now: Instant,
        ip: Ipv4Addr,
        packet: Vec<u8>,
        stats: &mut ArpStats,
        actions: &mut Vec<Action>,
    ) -> Result<(), Errno> {
        if let Some(mac) = self.resolved(now, ip) {
            actions.push(Action::Transmit { mac, packet });
            return Ok(());
        }
        let i = match self.find(ip) {
            Some(i) => i,
            None => {
                self.make_room(stats)?;
                self.entries
                    .push(Entry::new(ip, MacAddr::ZERO, NeighState::Failed, now));
                self.entries.len() - 1
            }
        };
        // Only INCOMPLETE or FAILED entries get here: `resolved` took the others.
        let e = &mut self.entries[i];
        e.updated = now;
        self.note(i);
        let e = &mut self.entries[i];
        let restart = e.state == NeighState::Failed;
        let len = packet.len();
        if e.queue.len() >= NEIGH_QUEUE_PACKETS
            || e.queue_bytes + len > NEIGH_QUEUE_BYTES
            || self.queued_bytes + len > NEIGH_QUEUE_TOTAL_BYTES
        {
            stats.queue_drops += 1;
            return Err(Errno::EHOSTUNREACH);
        }
        e.queue.push_back(packet);
        e.queue_bytes += len;
        self.queued_bytes += len;
        if restart {
            e.state = NeighState::Incomplete;
            e.probes = 1;
            e.deadline = Some(now + RETRANS_TIME);
            self.note(i);
            self.request(now, ip, MacAddr::BROADCAST, stats, actions);
        }
        Ok(())
    }

    /// Upper-layer proof that `ip` is reachable (e.g. TCP saw new data acknowledged), as
    /// Linux's `dst_confirm`: avoids probing while traffic flows.
    pub fn confirm(&mut self, now: Instant, ip: Ipv4Addr) {
        if let Some(i) = self.find(ip) {
            let e = &mut self.entries[i];
            if matches!(
                e.state,
                NeighState::Reachable | NeighState::Stale | NeighState::Delay | NeighState::Probe
            ) {
                e.confirmed = now;
                if e.state != NeighState::Stale {
                    e.state = NeighState::Reachable;
                    e.deadline = Some(now + REACHABLE_TIME);
                }
                self.note(i);
            }
        }
    }

    /// Record `mac` for the entry at `i` in `state`, releasing queued packets.
    fn resolve(
        &mut self,
        now: Instant,
        i: usize,
        mac: MacAddr,
        state: NeighState,
        actions: &mut Vec<Action>,
    ) {
        let e = &mut self.entries[i];
        e.mac = mac;
        e.state = state;
        e.probes = 0;
        e.updated = now;
        if state == NeighState::Reachable {
            e.confirmed = now;
            e.deadline = Some(now + REACHABLE_TIME);
        } else {
            e.deadline = None;
        }
        self.note(i);
        let e = &mut self.entries[i];
        self.queued_bytes -= e.queue_bytes;
        e.queue_bytes = 0;
        for packet in e.queue.drain(..) {
            actions.push(Action::Transmit { mac, packet });
        }
    }

    /// Process a received ARP packet. `is_ours(ip)` says whether `ip` is one of this
    /// interface's addresses. Answers requests for our addresses, learns from requests and
    /// replies addressed to us, and refreshes existing entries from any packet (RFC 826's
    /// merge step).
    pub fn input(
        &mut self,
        now: Instant,
        our_mac: MacAddr,
        arp: &ArpRepr,
        is_ours: &dyn Fn(Ipv4Addr) -> bool,
        stats: &mut ArpStats,
        actions: &mut Vec<Action>,
    ) {
        stats.in_packets += 1;
        match arp.operation {
            ArpOp::Request => stats.in_requests += 1,
            ArpOp::Reply => stats.in_replies += 1,
            ArpOp::Other(_) => {
                stats.in_unsupported += 1;
                return;
            }
        }
        let spa = arp.source_ip;
        if !arp.source_hw.is_unicast()
            || arp.source_hw == our_mac
            || spa.is_broadcast()
            || spa.is_multicast()
            || is_ours(spa)
        {
            stats.in_bad_sender += 1;
            return;
        }
        let for_us = is_ours(arp.target_ip);
        // RFC 5227 probes carry sender 0.0.0.0: answer them, learn nothing.
        if !spa.is_unspecified() {
            match self.find(spa) {
                Some(i) => {
                    let e = &self.entries[i];
                    let (state, mac) = (e.state, e.mac);
                    if arp.operation == ArpOp::Reply && for_us {
                        self.resolve(now, i, arp.source_hw, NeighState::Reachable, actions);
                    } else if matches!(state, NeighState::Incomplete | NeighState::Failed)
                        || mac != arp.source_hw
                    {
                        // Resolved by a request, or the peer's address changed: usable but
                        // unconfirmed.
                        self.resolve(now, i, arp.source_hw, NeighState::Stale, actions);
                    }
                }
                // The asker will talk to us next: learn it as STALE (Linux does the same).
                None if for_us
                    && arp.operation == ArpOp::Request
                    && self.make_room(stats).is_ok() =>
                {
                    self.entries
                        .push(Entry::new(spa, arp.source_hw, NeighState::Stale, now));
                    self.note(self.entries.len() - 1);
                }
                None => {}
            }
        }
        if for_us && arp.operation == ArpOp::Request {
            actions.push(Action::Reply {
                our_ip: arp.target_ip,
                dst_mac: arp.source_hw,
                dst_ip: spa,
            });
        }
    }

    /// Whether [`Self::poll`] may have work at `now` (false: a call would return at once).
    #[inline]
    pub fn timers_due(&self, now: Instant) -> bool {
        now >= self.no_timer_before
    }

    /// Run the timers due at `now`.
    pub fn poll(&mut self, now: Instant, stats: &mut ArpStats, actions: &mut Vec<Action>) {
        if now < self.no_timer_before {
            return;
        }
        let mut i = 0;
        while i < self.entries.len() {
            let e = &mut self.entries[i];
            let due = e.deadline.is_some_and(|d| now >= d);
            let mut request = None;
            let mut remove = false;
            match e.state {
                NeighState::Incomplete if due => {
                    if e.probes >= MCAST_PROBES {
                        e.state = NeighState::Failed;
                        e.deadline = None;
                        e.updated = now;
                        stats.resolve_failures += 1;
                        stats.queue_drops += e.queue.len() as u64;
                        self.queued_bytes -= e.queue_bytes;
                        e.queue_bytes = 0;
                        let packets: Vec<Vec<u8>> = e.queue.drain(..).collect();
                        actions.push(Action::Failed { ip: e.ip, packets });
                    } else {
                        e.probes += 1;
                        e.deadline = Some(now + RETRANS_TIME);
                        request = Some((e.ip, MacAddr::BROADCAST));
                    }
                }
                NeighState::Reachable if due => {
                    e.state = NeighState::Stale;
                    e.deadline = None;
                }
                NeighState::Delay if due => {
                    if now.saturating_since(e.confirmed) < DELAY_FIRST_PROBE {
                        e.state = NeighState::Reachable;
                        e.deadline = Some(e.confirmed + REACHABLE_TIME);
                    } else {
                        e.state = NeighState::Probe;
                        e.probes = 1;
                        e.deadline = Some(now + RETRANS_TIME);
                        request = Some((e.ip, e.mac));
                    }
                }
                NeighState::Probe if due => {
                    if e.probes >= UCAST_PROBES {
                        e.state = NeighState::Failed;
                        e.deadline = None;
                        e.updated = now;
                        stats.resolve_failures += 1;
                    } else {
                        e.probes += 1;
                        e.deadline = Some(now + RETRANS_TIME);
                        request = Some((e.ip, e.mac));
                    }
                }
                NeighState::Stale | NeighState::Failed => {
                    remove = now.saturating_since(e.updated) >= GC_STALE_TIME;
                }
                _ => {}
            }
            if let Some((target, mac)) = request {
                self.request(now, target, mac, stats, actions);
            }
            if remove {
                self.entries.swap_remove(i);
            } else {
                i += 1;
            }
        }
        // Nothing pending: no walk until an entry gets a timer (`note` lowers this).
        self.no_timer_before = self.poll_at().unwrap_or(Instant::from_nanos(u64::MAX));
    }

    /// When the next timer fires, if any.
    pub fn poll_at(&self) -> Option<Instant> {
        self.entries.iter().filter_map(Self::timer).min()
    }
}

#[cfg(test)]
#[path = "neigh_tests.rs"]
mod tests;
