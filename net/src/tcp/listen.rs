//! Passive opens: listeners, their SYN queue and accept queue (both bounded by the backlog),
//! and the SYN processing of RFC 9293 §3.10.7.2.
//!
//! Owns listeners and the hand-over of children to `accept`. Children are full TCBs in the
//! table from their SYN on; when the SYN queue is full the SYN is answered with a SYN cookie
//! (`syncookie.rs`, no state kept) or, with `TcpConfig::syncookies` off, dropped and counted.
//!
//! SO_REUSEPORT: listeners that all asked for it share one address as a group; each new
//! connection goes to one of them, chosen by a hash of the peer's address and port (Linux
//! hashes the 4-tuple; any fixed spread serves). TCP_DEFER_ACCEPT: an established child
//! waits in the accept queue, invisible to `accept` and to the listener's readiness, until
//! data (or a FIN) comes or its deadline passes (see [`Tcp::set_defer_accept`]).

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use super::input::{RstReply, Segment};
use super::seq::Seq;
use super::tcb::{Owner, SockOpts, Tcb};
use super::{isn, ConnKey, Handle, Sock, State, Tcp, SOMAXCONN};
use crate::errno::Errno;
use crate::time::Instant;
use crate::wire::tcp::flags;

/// A listening socket.
#[derive(Debug)]
pub(crate) struct Listener {
    pub local: SocketAddrV4,
    /// Bound on the SYN queue and on the accept queue (each), 1..=SOMAXCONN.
    pub backlog: usize,
    /// Children in SYN-RECEIVED.
    pub syn_queue: Vec<usize>,
    /// Established children waiting for `accept`.
    pub accept_queue: VecDeque<usize>,
    /// Options children inherit.
    pub opts: SockOpts,
    /// Already in the table's wake list.
    pub in_woken: bool,
    /// When the SYN queue last overflowed into SYN cookies: only then may an ACK carry one.
    pub last_overflow: Option<Instant>,
    /// SO_REUSEPORT was set at `listen`: others that set it may share the address.
    pub reuseport: bool,
    /// TCP_DEFER_ACCEPT as Linux keeps it: a count of SYN-ACK retransmissions (0: off).
    pub defer_accept: u8,
}

/// Linux's initial RTO and largest RTO in seconds (`TCP_TIMEOUT_INIT`, `TCP_RTO_MAX`), the
/// scale TCP_DEFER_ACCEPT's seconds are converted with.
const DEFER_TIMEOUT_INIT: u32 = 1;
const DEFER_RTO_MAX: u32 = 120;

/// TCP_DEFER_ACCEPT seconds → the number of SYN-ACK retransmissions whose backoff covers them
/// (Linux's `secs_to_retrans`): at most 255, 0 for 0 or less.
pub(crate) fn defer_secs_to_retrans(secs: i32) -> u8 {
    if secs <= 0 {
        return 0;
    }
    let secs = secs as u32;
    let (mut res, mut timeout, mut period) = (1u8, DEFER_TIMEOUT_INIT, DEFER_TIMEOUT_INIT);
    while secs > period && res < u8::MAX {
        res += 1;
        timeout = (timeout * 2).min(DEFER_RTO_MAX);
        period += timeout;
    }
    res
}

/// The retransmission count back to seconds (Linux's `retrans_to_secs`): what getsockopt
/// reports, so a value set reads back rounded up to the end of a backoff period (5 → 7), as
/// on Linux.
pub(crate) fn defer_retrans_to_secs(retrans: u8) -> u32 {
    if retrans == 0 {
        return 0;
    }
    let (mut timeout, mut period) = (DEFER_TIMEOUT_INIT, DEFER_TIMEOUT_INIT);
    for _ in 1..retrans {
        timeout = (timeout * 2).min(DEFER_RTO_MAX);
        period += timeout;
    }
    period
}

/// TCP_DEFER_ACCEPT as getsockopt reports a value set as `secs`: rounded up to the end of
/// the SYN-ACK backoff period that covers it, as Linux does (5 → 7, 10 → 15).
pub fn defer_accept_reported(secs: i32) -> i32 {
    defer_retrans_to_secs(defer_secs_to_retrans(secs)) as i32
}

/// Which member of an SO_REUSEPORT group of `n` takes a connection from `remote`: a fixed
/// mix of the peer's address and port, so the same peer lands on the same listener (a cookie
/// ACK finds the listener its SYN found).
pub(crate) fn reuseport_pick(remote: SocketAddrV4, n: usize) -> usize {
    let key = u64::from(remote.ip().to_bits()) << 16 | u64::from(remote.port());
    let mixed = key.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    ((mixed >> 32) as usize) % n.max(1)
}

impl Tcp {
    /// Listen on `local` (0.0.0.0 for every address) with a backlog clamped to
    /// 1..=[`SOMAXCONN`]. `EADDRINUSE` if another listener or a connection owns the address.
    pub fn listen(&mut self, local: SocketAddrV4, backlog: usize) -> Result<Handle, Errno> {
        self.listen_reuseport(local, backlog, false)
    }

    /// [`Tcp::listen`] with SO_REUSEPORT: with `reuseport`, the address may be shared with
    /// listeners that set it too (connections are spread among them); a listener without it
    /// still clashes with every other.
    pub fn listen_reuseport(
        &mut self,
        local: SocketAddrV4,
        backlog: usize,
        reuseport: bool,
    ) -> Result<Handle, Errno> {
        if local.port() == 0 {
            return Err(Errno::EINVAL);
        }
        let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, local.port());
        let clash = self.listeners.iter().any(|(l, group)| {
            let overlap = l.port() == local.port()
                && (*l == local || *l == any || local.ip().is_unspecified());
            let shared = reuseport
                && group
                    .iter()
                    .all(|&i| self.listener(i).is_some_and(|l| l.reuseport));
            overlap && !shared
        });
        if clash {
            return Err(Errno::EADDRINUSE);
        }
        let listener = Listener {
            local,
            backlog: backlog.clamp(1, SOMAXCONN),
            syn_queue: Vec::new(),
            accept_queue: VecDeque::new(),
            opts: SockOpts::from_config(&self.cx.config),
            in_woken: false,
            last_overflow: None,
            reuseport,
            defer_accept: 0,
        };
        let idx = self.alloc_slot(Sock::Listener(Box::new(listener)))?;
        let group = self.listeners.entry(local).or_default();
        if group.try_reserve(1).is_err() {
            self.free_slot(idx);
            return Err(Errno::ENOBUFS);
        }
        group.push(idx);
        Ok(self.handle_of(idx))
    }

    pub(crate) fn listener(&self, idx: usize) -> Option<&Listener> {
        match self.slots.get(idx).and_then(|s| s.sock.as_ref()) {
            Some(Sock::Listener(l)) => Some(l),
            _ => None,
        }
    }

    /// TCP_DEFER_ACCEPT in seconds (0 or less: off). Kept as Linux keeps it, a count of
    /// SYN-ACK retransmissions; [`Tcp::defer_accept`] reports it back in seconds, rounded
    /// up as Linux rounds. A connection handle takes it and ignores it (it matters only to a
    /// listener, as on Linux). Linux holds a deferred connection as a request sock and
    /// completes it at the first ACK after the deferral; rinet completes the handshake and
    /// keeps the child out of `accept` until data arrives or the deferral has passed.
    pub fn set_defer_accept(&mut self, h: Handle, secs: i32) -> Result<(), Errno> {
        let idx = self.check_handle(h)?;
        if let Some(Sock::Listener(l)) = self.slots[idx].sock.as_mut() {
            l.defer_accept = defer_secs_to_retrans(secs);
        }
        Ok(())
    }

    /// TCP_DEFER_ACCEPT as getsockopt reports it (0 for a connection).
    pub fn defer_accept(&self, h: Handle) -> Result<i32, Errno> {
        let idx = self.check_handle(h)?;
        Ok(self
            .listener(idx)
            .map_or(0, |l| defer_retrans_to_secs(l.defer_accept) as i32))
    }

    /// Whether a child in the accept queue may be handed to `accept`: not waiting for data
    /// under TCP_DEFER_ACCEPT.
    fn acceptable(&self, idx: usize) -> bool {
        self.conn(idx).is_none_or(|t| t.defer_until.is_none())
    }

    /// Whether a listener has a connection `accept` would return now.
    pub(crate) fn has_acceptable(&self, l: &Listener) -> bool {
        l.accept_queue.iter().any(|&c| self.acceptable(c))
    }

    /// Take an established connection from a listener's accept queue (`EAGAIN` when empty,
    /// `EINVAL` for a non-listener).
    pub fn accept(&mut self, listener: Handle) -> Result<Handle, Errno> {
        let lidx = self.check_handle(listener)?;
        let Some(Sock::Listener(l)) = self.slots[lidx].sock.as_ref() else {
            return Err(Errno::EINVAL);
        };
        let at = l
            .accept_queue
            .iter()
            .position(|&c| self.acceptable(c))
            .ok_or(Errno::EAGAIN)?;
        let Some(Sock::Listener(l)) = self.slots[lidx].sock.as_mut() else {
            return Err(Errno::EINVAL);
        };
        let idx = l.accept_queue.remove(at).ok_or(Errno::EAGAIN)?;
        if let Some(tcb) = self.conn_mut(idx) {
            tcb.owner = Owner::User;
        }
        Ok(self.handle_of(idx))
    }

    pub(crate) fn accept_queue_full(&self, lidx: usize) -> bool {
        match self.slots.get(lidx).and_then(|s| s.sock.as_ref()) {
            Some(Sock::Listener(l)) => l.accept_queue.len() >= l.backlog,
            _ => false,
        }
    }

    /// A segment for a listener (RFC 9293 §3.10.7.2).
    pub(crate) fn listen_input(
        &mut self,
        lidx: usize,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        seg: &Segment,
        iss_floor: Option<Seq>,
    ) {
        if seg.has(flags::RST) {
            return;
        }
        if seg.has(flags::ACK) {
            if !seg.has(flags::SYN) && self.cookies_recent(lidx, now) {
                self.cookie_ack(lidx, now, local, remote, seg);
                return;
            }
            self.queue_rst(local, remote, RstReply::for_segment(seg));
            return;
        }
        // SYN+FIN is a scanning trick, not an open (Linux drops it too).
        if !seg.has(flags::SYN) || seg.has(flags::FIN) {
            return;
        }
        let Some(Sock::Listener(l)) = self.slots.get(lidx).and_then(|s| s.sock.as_ref()) else {
            return;
        };
        let (accept_full, syn_full, mut opts) = (
            l.accept_queue.len() >= l.backlog,
            l.syn_queue.len() >= l.backlog,
            l.opts,
        );
        // A path MTU learned by an earlier connection with this host (RFC 1191 §5).
        opts.path_mtu = self.pmtu.lookup(now, *remote.ip());
        if !self.may_add_child(accept_full) {
            return;
        }
        if syn_full {
            if self.cx.config.syncookies {
                self.send_cookie(lidx, now, local, remote, seg);
            } else {
                self.cx.stats.listen_drops += 1;
            }
            return;
        }
        let (mut iss, ts_offset) = isn::isn_and_ts_offset(&self.cx.key, now, local, remote);
        if let Some(floor) = iss_floor {
            if Seq(iss) < floor {
                iss = floor.0;
            }
        }
        let mut tcb = Tcb::new(
            &self.cx,
            now,
            local,
            remote,
            opts,
            State::SynReceived,
            iss,
            ts_offset,
        );
        tcb.owner = Owner::Listener(lidx);
        tcb.irs = seg.seq;
        tcb.rcv_nxt = seg.seq + 1;
        tcb.rcv_adv = tcb.rcv_nxt;
        tcb.snd_wnd = u32::from(seg.window);
        tcb.snd_wl1 = seg.seq;
        tcb.take_first_syn_options(&self.cx, seg, now);
        tcb.max_snd_wnd = tcb.snd_wnd;
        let Some(idx) = self.file_child(tcb) else {
            return;
        };
        if let Some(Sock::Listener(l)) = self.slots[lidx].sock.as_mut() {
            l.syn_queue.push(idx);
        }
        self.after(idx);
    }

    /// Whether a listener may create a child now (SYN or valid cookie ACK): its accept queue
    /// has room and TCP memory has room for the connection block. A refusal is counted
    /// (ListenOverflows/ListenDrops, TCPMemRefusedOpens) and the segment dropped: the client
    /// retries.
    pub(crate) fn may_add_child(&mut self, accept_full: bool) -> bool {
        if accept_full {
            self.cx.stats.listen_overflows += 1;
            self.cx.stats.listen_drops += 1;
            return false;
        }
        if !self.cx.mem.room_for_connection() {
            self.cx.stats.listen_drops += 1;
            self.cx.stats.mem_refused_opens += 1;
            return false;
        }
        true
    }

    /// Put a listener's new child in the table and the 4-tuple index; `None` (counted as a
    /// listen drop) when the table is full.
    pub(crate) fn file_child(&mut self, tcb: Tcb) -> Option<usize> {
        let key = ConnKey::new(tcb.local, tcb.remote);
        let Ok(idx) = self.alloc_slot(Sock::Conn(Box::new(tcb))) else {
            self.cx.stats.listen_drops += 1;
            return None;
        };
        self.conns.insert(key, idx);
        self.cx.stats.passive_opens += 1;
        Some(idx)
    }

    /// A child finished its handshake: move it to the accept queue and wake the listener,
    /// unless TCP_DEFER_ACCEPT makes it wait for data (then it gets a deadline, and
    /// `Tcp::after` wakes the listener when
    /// data comes or the timer says the deadline passed).
    pub(crate) fn child_established(&mut self, lidx: usize, idx: usize) {
        let now = self.last_now;
        let Some(Sock::Listener(l)) = self.slots.get_mut(lidx).and_then(|s| s.sock.as_mut()) else {
            return;
        };
        l.syn_queue.retain(|&c| c != idx);
        l.accept_queue.push_back(idx);
        let defer = l.defer_accept;
        if defer > 0 {
            if let Some(tcb) = self.conn_mut(idx) {
                if !tcb.readable() {
                    let secs = u64::from(defer_retrans_to_secs(defer));
                    tcb.defer_until = Some(now + crate::time::Duration::from_secs(secs));
                    return;
                }
            }
        }
        self.wake_listener(lidx);
    }

    pub(crate) fn wake_listener(&mut self, lidx: usize) {
        if let Some(Sock::Listener(l)) = self.slots.get_mut(lidx).and_then(|s| s.sock.as_mut()) {
            if !l.in_woken {
                l.in_woken = true;
                let h = self.handle_of(lidx);
                self.woken.push(h);
            }
        }
    }

    /// A child left the table: forget it in its listener's queues.
    pub(crate) fn child_gone(&mut self, lidx: usize, idx: usize) {
        if let Some(Sock::Listener(l)) = self.slots.get_mut(lidx).and_then(|s| s.sock.as_mut()) {
            l.syn_queue.retain(|&c| c != idx);
            l.accept_queue.retain(|&c| c != idx);
        }
    }

    /// Close a listener, as Linux's `inet_csk_listen_stop`: children that completed the
    /// handshake but were never accepted are reset (the peer believes it is connected), and
    /// children still in SYN-RECEIVED are dropped silently, as Linux drops its request socks
    /// (the peer's handshake ACK, if it comes, then finds no socket and is answered with a
    /// RST like any stray segment).
    pub(crate) fn close_listener(&mut self, lidx: usize) {
        let (half_open, established): (Vec<usize>, Vec<usize>) =
            match self.slots.get(lidx).and_then(|s| s.sock.as_ref()) {
                Some(Sock::Listener(l)) => (
                    l.syn_queue.clone(),
                    l.accept_queue.iter().copied().collect(),
                ),
                _ => return,
            };
        for (children, reset) in [(half_open, false), (established, true)] {
            for c in children {
                if let Some(Sock::Conn(tcb)) = self.slots.get_mut(c).and_then(|s| s.sock.as_mut()) {
                    tcb.owner = Owner::Orphan;
                    tcb.send_rst_on_close = reset && tcb.state != State::Closed;
                    tcb.set_state(&mut self.cx.stats, State::Closed);
                }
                self.after(c);
            }
        }
        self.free_slot(lidx);
    }
}
