//! The application-facing calls: connect, send, recv, peek, shutdown, close, abort, socket
//! options, readiness and wake-ups. Each takes a [`Handle`] and returns `Result<_, Errno>`
//! with Linux's error numbers.
//!
//! Owns the user's view of a connection; it never builds segments (it marks the connection so
//! the next `dispatch` does) and never blocks.

use alloc::vec::Vec;
use core::net::SocketAddrV4;

use super::tcb::{Linger2, Owner, SockOpts, Tcb, MAX_BUFFER, MIN_BUFFER, MIN_MSS};
use super::{
    isn, ConnKey, Handle, Shared, Slot, Sock, State, Tcp, EPHEMERAL_PORTS, PER_SOCKET_FLOOR,
};
use crate::errno::Errno;
use crate::recvbuf::RecvBuf;
use crate::time::{Duration, Instant};

/// Which direction(s) `shutdown` closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    Read,
    Write,
    Both,
}

/// Readiness of a socket, as poll(2) would report it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollEvents {
    /// `recv` (or `accept`) will not return EAGAIN.
    pub readable: bool,
    /// `send` will not return EAGAIN.
    pub writable: bool,
    /// The connection is closed (or both directions are shut).
    pub hup: bool,
    /// An error is pending (`take_error`).
    pub error: bool,
    /// The peer shut its sending side (FIN received): Linux's `EPOLLRDHUP`.
    pub rdhup: bool,
}

/// Largest TCP_MAXSEG accepted (Linux's MAX_TCP_WINDOW).
pub const MAX_USER_MSS: u16 = 32767;
/// TCP_MAXSEG before a connection has an MSS (RFC 9293 §3.7.1's default).
pub const DEFAULT_MSS: u32 = 536;

/// The `send(2)` flags TCP acts on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendFlags {
    /// MSG_MORE: more data follows at once; do not push this write's tail.
    pub more: bool,
    /// MSG_EOR: this write ends a record; later data never shares its last segment.
    pub eor: bool,
}

impl Tcp {
    pub(crate) fn handle_of(&self, idx: usize) -> Handle {
        Handle {
            idx: idx as u32,
            gen: self.slots.get(idx).map_or(0, |s| s.gen),
        }
    }

    /// The slot of a live handle the application holds, or `EBADF`.
    pub(crate) fn check_handle(&self, h: Handle) -> Result<usize, Errno> {
        let idx = h.idx as usize;
        let slot = self.slots.get(idx).ok_or(Errno::EBADF)?;
        if slot.gen != h.gen {
            return Err(Errno::EBADF);
        }
        match &slot.sock {
            Some(Sock::Listener(_)) => Ok(idx),
            Some(Sock::Conn(t)) if t.owner == Owner::User => Ok(idx),
            _ => Err(Errno::EBADF),
        }
    }

    /// The state of a connection the application has closed (an orphan finishing its close
    /// on its own), for a lingering close; `None` once it is gone or if `h` is not one.
    pub fn closed_state(&self, h: Handle) -> Option<State> {
        let slot = self.slots.get(h.idx as usize)?;
        match &slot.sock {
            Some(Sock::Conn(t)) if slot.gen == h.gen && t.owner == Owner::Orphan => Some(t.state),
            _ => None,
        }
    }

    /// The connection behind `h` and the shared state (`ENOTCONN` for a listener).
    fn parts(&mut self, h: Handle) -> Result<(&mut Tcb, &mut Shared, usize), Errno> {
        let idx = self.check_handle(h)?;
        match self.slots[idx].sock.as_mut() {
            Some(Sock::Conn(t)) => Ok((t, &mut self.cx, idx)),
            _ => Err(Errno::ENOTCONN),
        }
    }

    fn tcb_ref(&self, h: Handle) -> Result<&Tcb, Errno> {
        let idx = self.check_handle(h)?;
        self.conn(idx).ok_or(Errno::ENOTCONN)
    }

    /// Active open from `local` to `remote`. `local`'s address must be the source address the
    /// route gives (the inet layer resolves it); port 0 picks an ephemeral port by RFC 6056
    /// algorithm 3. `mtu` is the path MTU (MSS = MTU − 40), `None` for the configured default.
    /// Returns at once in SYN-SENT; the handle becomes writable when established.
    pub fn connect(
        &mut self,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        mtu: Option<u16>,
    ) -> Result<Handle, Errno> {
        self.last_now = self.last_now.max(now);
        let rip = *remote.ip();
        if remote.port() == 0 || rip.is_unspecified() || rip.is_broadcast() || rip.is_multicast() {
            return Err(Errno::EINVAL);
        }
        if local.ip().is_unspecified() {
            return Err(Errno::EINVAL);
        }
        let local = if local.port() == 0 {
            SocketAddrV4::new(*local.ip(), self.ephemeral_port(local, remote)?)
        } else {
            if self.conns.contains_key(ConnKey::new(local, remote)) {
                return Err(Errno::EADDRINUSE);
            }
            local
        };
        if !self.cx.mem.room_for_connection() {
            // Linux's answer when TCP memory is exhausted.
            self.cx.stats.mem_refused_opens += 1;
            return Err(Errno::ENOBUFS);
        }
        let mut opts = SockOpts::from_config(&self.cx.config);
        if let Some(m) = mtu {
            opts.mtu = m.max(MIN_MSS + 40);
        }
        // A path MTU learned by an earlier connection to this host (RFC 1191 §5).
        opts.path_mtu = self.pmtu.lookup(now, rip);
        let (iss, ts_offset) = isn::isn_and_ts_offset(&self.cx.key, now, local, remote);
        let tcb = Tcb::new(
            &self.cx,
            now,
            local,
            remote,
            opts,
            State::SynSent,
            iss,
            ts_offset,
        );
        let idx = self.alloc_slot(Sock::Conn(alloc::boxed::Box::new(tcb)))?;
        self.conns.insert(ConnKey::new(local, remote), idx);
        self.cx.stats.active_opens += 1;
        self.after(idx);
        Ok(self.handle_of(idx))
    }

    fn ephemeral_port(&mut self, local: SocketAddrV4, remote: SocketAddrV4) -> Result<u16, Errno> {
        let lo = u32::from(*EPHEMERAL_PORTS.start());
        let n = u32::from(*EPHEMERAL_PORTS.end()) - lo + 1;
        let offset = match self.port_offset_memo {
            Some((ip, r, off)) if ip == *local.ip() && r == remote => off,
            _ => {
                let off = isn::port_offset(&self.cx.key, *local.ip(), remote);
                self.port_offset_memo = Some((*local.ip(), remote, off));
                off
            }
        };
        for i in 0..n {
            let port = (lo + offset.wrapping_add(self.next_ephemeral).wrapping_add(i) % n) as u16;
            let addr = SocketAddrV4::new(*local.ip(), port);
            let any = SocketAddrV4::new(core::net::Ipv4Addr::UNSPECIFIED, port);
            if !self.conns.contains_key(ConnKey::new(addr, remote))
                && !self.listeners.contains_key(&addr)
                && !self.listeners.contains_key(&any)
            {
                self.next_ephemeral = self.next_ephemeral.wrapping_add(i + 1);
                return Ok(port);
            }
        }
        Err(Errno::EADDRNOTAVAIL)
    }

    /// Queue bytes for sending; returns how many fit (`EAGAIN` when none, `EPIPE` after
    /// shutdown or reset, `ENOTCONN` before connecting, a pending error first).
    pub fn send(&mut self, h: Handle, data: &[u8]) -> Result<usize, Errno> {
        self.send_msg(h, data, SendFlags::default())
    }

    /// [`Tcp::send`] with `send(2)` flags: MSG_MORE holds the tail back (no PSH, sub-MSS data
    /// waits like TCP_CORK until a write without it), MSG_EOR ends a record that no segment
    /// extends past. PSH marks the last byte of every other write.
    pub fn send_msg(&mut self, h: Handle, data: &[u8], fl: SendFlags) -> Result<usize, Errno> {
        let (tcb, cx, idx) = self.parts(h)?;
        if let Some(e) = tcb.error.take() {
            return Err(e);
        }
        match tcb.state {
            State::SynSent | State::SynReceived => return Err(Errno::EAGAIN),
            State::Closed if !tcb.was_connected => return Err(Errno::ENOTCONN),
            State::Established | State::CloseWait if !tcb.fin_queued => {}
            _ => return Err(Errno::EPIPE),
        }
        if data.is_empty() {
            return Ok(0);
        }
        let n = tcb.send_space().min(data.len());
        if n == 0 {
            return Err(Errno::EAGAIN);
        }
        // Host-wide memory (`memory`): a full host refuses what needs a bigger buffer.
        let n = cx.mem.admit_into(&tcb.snd_buf, n, PER_SOCKET_FLOOR);
        if n == 0 {
            cx.stats.snd_mem_refused += 1;
            tcb.mem_blocked = true;
            self.mem_waiters = true;
            return Err(Errno::EAGAIN);
        }
        // The buffer grows fallibly: when the allocator has no room, take what fits in the
        // capacity already there (a short write) or refuse with ENOMEM, never abort.
        let spare = tcb.snd_buf.capacity() - tcb.snd_buf.len();
        let n = if n <= spare
            || tcb.snd_buf.try_reserve(n).is_ok()
            || tcb.snd_buf.try_reserve_exact(n).is_ok()
        {
            n
        } else if spare > 0 {
            cx.stats.snd_alloc_failed += 1;
            spare
        } else {
            cx.stats.snd_alloc_failed += 1;
            return Err(Errno::ENOMEM);
        };
        tcb.snd_buf.extend(&data[..n]);
        // A partial write (the buffer filled) is still the end of this call's data.
        tcb.mark_write_end(fl.more, fl.eor && n == data.len());
        self.after(idx);
        Ok(n)
    }

    /// Read received bytes: `Ok(0)` at end of stream (after the peer's FIN), `EAGAIN` when
    /// nothing is there yet, a pending error (ECONNRESET) first.
    #[inline]
    pub fn recv(&mut self, h: Handle, buf: &mut [u8]) -> Result<usize, Errno> {
        self.read(h, buf, true)
    }

    /// Like `recv` but leaves the bytes queued.
    pub fn peek(&mut self, h: Handle, buf: &mut [u8]) -> Result<usize, Errno> {
        self.read(h, buf, false)
    }

    /// [`recv`](Self::recv) (or, with `consume` false, [`peek`](Self::peek)) into any
    /// [`RecvBuf`]: a program's buffer the kernel writes through its user-copy routine. A
    /// copy stopped by the buffer's error consumes what went before it, and returns that
    /// count (the error itself when nothing was copied), as Linux's `tcp_recvmsg` does.
    pub fn recv_to(
        &mut self,
        h: Handle,
        buf: &mut dyn RecvBuf,
        consume: bool,
    ) -> Result<usize, Errno> {
        self.read(h, buf, consume)
    }

    fn read<B: RecvBuf + ?Sized>(
        &mut self,
        h: Handle,
        buf: &mut B,
        consume: bool,
    ) -> Result<usize, Errno> {
        let (tcb, _, idx) = self.parts(h)?;
        if buf.is_empty() {
            return Ok(0);
        }
        if !tcb.rcv_buf.is_empty() {
            return self.read_queued(idx, buf, consume);
        }
        // Nothing queued (most calls of a polling reader): the answer without the
        // bookkeeping of a read that took bytes.
        if let Some(e) = tcb.error.take() {
            return Err(e);
        }
        if tcb.fin_received || tcb.rd_shutdown {
            return Ok(0);
        }
        match tcb.state {
            State::Closed if tcb.was_connected => Ok(0),
            State::Closed => Err(Errno::ENOTCONN),
            _ => Err(Errno::EAGAIN),
        }
    }

    /// The part of `read` that copies queued bytes out (connection `idx` has some).
    #[inline(never)]
    fn read_queued<B: RecvBuf + ?Sized>(
        &mut self,
        idx: usize,
        buf: &mut B,
        consume: bool,
    ) -> Result<usize, Errno> {
        let Some(Slot {
            sock: Some(Sock::Conn(tcb)),
            ..
        }) = self.slots.get_mut(idx)
        else {
            return Ok(0);
        };
        let cx = &mut self.cx;
        let (n, stopped) = tcb.rcv_buf.copy_out_to(buf);
        if n == 0 {
            if let Some(e) = stopped {
                return Err(e);
            }
        }
        if consume {
            tcb.rcv_buf.consume(n);
            // Autotuning: a round trip's reading may grow the buffer (and so the window the
            // check below offers).
            tcb.rcv_space_adjust(&cx.config, &cx.mem, self.last_now, n);
            // Reading shrank the receive promise: charge it now.
            Self::charge(&mut cx.mem, tcb);
            // Window update when the window at least doubled (Linux's rule), which
            // includes every reopening of a zero window by an MSS or more.
            let cur = tcb.rcv_wnd() as usize;
            let free = tcb
                .recv_space()
                .min(tcb.rcv_ssthresh as usize)
                .min(0xffff << tcb.rcv_wscale);
            if free >= 2 * cur && free - cur >= tcb.rcv_mss as usize && tcb.state.is_synchronized()
            {
                tcb.ack_now = true;
                self.after(idx);
            } else {
                self.memory_changed();
            }
        }
        Ok(n)
    }

    /// Shut down reading, writing (FIN after the queued data) or both.
    pub fn shutdown(&mut self, h: Handle, how: Shutdown) -> Result<(), Errno> {
        let (tcb, cx, idx) = self.parts(h)?;
        if matches!(tcb.state, State::Closed | State::Listen) {
            return Err(Errno::ENOTCONN);
        }
        if matches!(how, Shutdown::Read | Shutdown::Both) {
            tcb.rd_shutdown = true;
            tcb.wake = true;
        }
        if matches!(how, Shutdown::Write | Shutdown::Both) {
            shut_write(tcb, cx);
        }
        self.after(idx);
        Ok(())
    }

    /// Close the handle. Queued data is still sent, then a FIN; unread received data resets
    /// the connection instead (RFC 2525 §2.17, as Linux does). The handle is invalid after.
    pub fn close(&mut self, h: Handle) -> Result<(), Errno> {
        let idx = self.check_handle(h)?;
        if matches!(self.slots[idx].sock, Some(Sock::Listener(_))) {
            self.close_listener(idx);
            return Ok(());
        }
        let now = self.last_now;
        let (tcb, cx, idx) = self.parts(h)?;
        tcb.owner = Owner::Orphan;
        if !tcb.rcv_buf.is_empty() && tcb.state != State::Closed {
            cx.stats.abort_on_close += 1;
            reset(tcb, cx);
        } else {
            match tcb.state {
                State::SynSent => tcb.set_state(&mut cx.stats, State::Closed),
                State::FinWait2 => match tcb.fin_wait2_timeout(&cx.config) {
                    Some(t) => tcb.timewait_at = Some(now + t),
                    None => {
                        // TCP_LINGER2 < 0: no FIN-WAIT-2 for an orphan (Linux resets).
                        cx.stats.abort_on_linger += 1;
                        reset(tcb, cx);
                    }
                },
                _ => shut_write(tcb, cx),
            }
        }
        self.after(idx);
        Ok(())
    }

    /// Abortive close (SO_LINGER with 0): RST to the peer, buffers discarded, handle invalid.
    pub fn abort(&mut self, h: Handle) -> Result<(), Errno> {
        let idx = self.check_handle(h)?;
        if matches!(self.slots[idx].sock, Some(Sock::Listener(_))) {
            self.close_listener(idx);
            return Ok(());
        }
        let (tcb, cx, idx) = self.parts(h)?;
        tcb.owner = Owner::Orphan;
        reset(tcb, cx);
        self.after(idx);
        Ok(())
    }

    /// Connection state (LISTEN for a listener).
    pub fn state(&self, h: Handle) -> Result<State, Errno> {
        let idx = self.check_handle(h)?;
        Ok(self.conn(idx).map_or(State::Listen, |t| t.state))
    }

    /// SO_ERROR: the pending error, cleared by reading it.
    pub fn take_error(&mut self, h: Handle) -> Result<Option<Errno>, Errno> {
        let idx = self.check_handle(h)?;
        Ok(self.conn_mut(idx).and_then(|t| t.error.take()))
    }

    pub fn local_addr(&self, h: Handle) -> Result<SocketAddrV4, Errno> {
        let idx = self.check_handle(h)?;
        match self.slots[idx].sock.as_ref() {
            Some(Sock::Listener(l)) => Ok(l.local),
            Some(Sock::Conn(t)) => Ok(t.local),
            None => Err(Errno::EBADF),
        }
    }

    pub fn peer_addr(&self, h: Handle) -> Result<SocketAddrV4, Errno> {
        Ok(self.tcb_ref(h)?.remote)
    }

    /// Readiness, as poll(2) would report it.
    pub fn poll_events(&self, h: Handle) -> Result<PollEvents, Errno> {
        let idx = self.check_handle(h)?;
        Ok(match self.slots[idx].sock.as_ref() {
            Some(Sock::Listener(l)) => PollEvents {
                readable: self.has_acceptable(l),
                ..PollEvents::default()
            },
            Some(Sock::Conn(t)) => PollEvents {
                readable: t.readable(),
                writable: t.writable(),
                hup: t.state == State::Closed || (t.fin_received && t.fin_queued),
                error: t.error.is_some(),
                rdhup: t.fin_received,
            },
            None => PollEvents::default(),
        })
    }

    /// Append the handles whose readiness may have changed since the last call (for the
    /// socket layer's wait queues).
    pub fn take_woken(&mut self, out: &mut Vec<Handle>) {
        for h in self.woken.drain(..) {
            if let Some(slot) = self.slots.get_mut(h.idx as usize) {
                if slot.gen == h.gen {
                    match slot.sock.as_mut() {
                        Some(Sock::Conn(t)) => t.in_woken = false,
                        Some(Sock::Listener(l)) => l.in_woken = false,
                        None => {}
                    }
                }
            }
            out.push(h);
        }
    }

    /// Whether a listener or a connection uses local address `local` (for the inet layer's
    /// bind checks; 0.0.0.0 matches any address on the port).
    pub fn port_in_use(&self, local: SocketAddrV4) -> bool {
        let same = |a: &SocketAddrV4| {
            a.port() == local.port()
                && (a.ip() == local.ip() || a.ip().is_unspecified() || local.ip().is_unspecified())
        };
        self.listeners.keys().any(same) || self.conns.keys().any(|k| same(&k.local()))
    }

    /// One line per socket in the spirit of /proc/net/tcp: local, remote, state, bytes queued
    /// to send, bytes waiting to be read, retransmissions in a row.
    pub fn dump_sockets(&self, w: &mut impl core::fmt::Write) -> core::fmt::Result {
        writeln!(w, "local remote state tx_queue rx_queue retrnsmt")?;
        for slot in &self.slots {
            match slot.sock.as_ref() {
                Some(Sock::Listener(l)) => writeln!(
                    w,
                    "{} 0.0.0.0:0 {:?} 0 {} 0",
                    l.local,
                    State::Listen,
                    l.accept_queue.len()
                )?,
                Some(Sock::Conn(t)) => writeln!(
                    w,
                    "{} {} {:?} {} {} {}",
                    t.local,
                    t.remote,
                    t.state,
                    t.snd_buf.len(),
                    t.rcv_buf.len(),
                    t.retries
                )?,
                None => {}
            }
        }
        Ok(())
    }

    /// The options of a socket.
    pub fn sock_opts(&self, h: Handle) -> Result<SockOpts, Errno> {
        let idx = self.check_handle(h)?;
        match self.slots[idx].sock.as_ref() {
            Some(Sock::Listener(l)) => Ok(l.opts),
            Some(Sock::Conn(t)) => Ok(t.opts),
            None => Err(Errno::EBADF),
        }
    }

    fn with_opts(&mut self, h: Handle, f: impl FnOnce(&mut SockOpts)) -> Result<(), Errno> {
        let idx = self.check_handle(h)?;
        match self.slots[idx].sock.as_mut() {
            Some(Sock::Listener(l)) => f(&mut l.opts),
            Some(Sock::Conn(t)) => {
                f(&mut t.opts);
                // The receive buffer cannot outgrow the window scale chosen on the SYN.
                let syn_sent = t.snd_max != t.iss;
                if syn_sent || t.state != State::SynSent {
                    t.opts.recv_buffer = t.opts.recv_buffer.min(0xffff << t.rcv_wscale);
                } else {
                    t.rcv_wscale = t.opts.rcv_wscale(&self.cx.config);
                }
                t.mss = t.mss.min(u32::from(t.opts.mss()));
                t.wake = true;
            }
            None => return Err(Errno::EBADF),
        }
        self.after(idx);
        Ok(())
    }

    /// TCP_NODELAY.
    pub fn set_nodelay(&mut self, h: Handle, on: bool) -> Result<(), Errno> {
        self.with_opts(h, |o| o.nodelay = on)
    }
    /// IP_TOS: the TOS byte of the socket's segments (a listener's children inherit it).
    pub fn set_tos(&mut self, h: Handle, tos: u8) -> Result<(), Errno> {
        self.with_opts(h, |o| o.tos = tos)
    }
    /// TCP_CORK: while set, only full-sized segments are sent.
    pub fn set_cork(&mut self, h: Handle, on: bool) -> Result<(), Errno> {
        self.with_opts(h, |o| o.cork = on)
    }
    /// Send what the queue holds now, past Nagle, TCP_CORK and MSG_MORE, once (what Linux
    /// does when TCP_NODELAY is set or TCP_CORK cleared). A no-op without a connection.
    pub fn push_pending(&mut self, h: Handle) -> Result<(), Errno> {
        let idx = self.check_handle(h)?;
        if let Some(Sock::Conn(t)) = self.slots[idx].sock.as_mut() {
            if t.data_end() > t.snd_nxt {
                t.force_send = true;
            }
            self.after(idx);
        }
        Ok(())
    }
    /// SO_KEEPALIVE.
    pub fn set_keepalive(&mut self, h: Handle, on: bool) -> Result<(), Errno> {
        self.with_opts(h, |o| o.keepalive = on)
    }
    /// TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT (`EINVAL` for zero values).
    pub fn set_keepalive_params(
        &mut self,
        h: Handle,
        idle: Duration,
        interval: Duration,
        count: u32,
    ) -> Result<(), Errno> {
        if idle.is_zero() || interval.is_zero() || count == 0 {
            return Err(Errno::EINVAL);
        }
        self.with_opts(h, |o| {
            o.keepalive_idle = idle;
            o.keepalive_interval = interval;
            o.keepalive_count = count;
        })
    }
    /// TCP_USER_TIMEOUT (`None` or zero: the retry limits apply).
    pub fn set_user_timeout(&mut self, h: Handle, t: Option<Duration>) -> Result<(), Errno> {
        self.with_opts(h, |o| o.user_timeout = t.filter(|d| !d.is_zero()))
    }
    /// SO_SNDBUF, clamped to [MIN_BUFFER, MAX_BUFFER]; the buffer is no longer autotuned
    /// (Linux's SOCK_SNDBUF_LOCK).
    pub fn set_send_buffer(&mut self, h: Handle, bytes: usize) -> Result<(), Errno> {
        self.with_opts(h, |o| {
            o.send_buffer = bytes.clamp(MIN_BUFFER, MAX_BUFFER);
            o.send_buffer_locked = true;
        })
    }
    /// SO_RCVBUF, clamped to [MIN_BUFFER, MAX_BUFFER] (and to what the window scale allows
    /// once the SYN is out); the buffer is no longer autotuned and, before the SYN, the
    /// window scale follows it (Linux's SOCK_RCVBUF_LOCK).
    pub fn set_recv_buffer(&mut self, h: Handle, bytes: usize) -> Result<(), Errno> {
        self.with_opts(h, |o| {
            o.recv_buffer = bytes.clamp(MIN_BUFFER, MAX_BUFFER);
            o.recv_buffer_locked = true;
        })
    }
    /// TCP_CONGESTION: "cubic" or "reno" (`ENOENT` for any other name, as Linux). A live
    /// connection switches at once and keeps its window; a listener's future children
    /// inherit the choice.
    pub fn set_congestion(&mut self, h: Handle, name: &str) -> Result<(), Errno> {
        let (name, factory) = super::congestion::AVAILABLE
            .iter()
            .find(|(n, _)| *n == name)
            .copied()
            .ok_or(Errno::ENOENT)?;
        let idx = self.check_handle(h)?;
        if let Some(Sock::Conn(t)) = self.slots[idx].sock.as_mut() {
            let mut cc = factory(self.cx.config.initial_window, t.mss);
            cc.restart_from(t.cc.cwnd(), t.cc.ssthresh());
            t.cc = cc;
        }
        self.with_opts(h, |o| o.congestion = Some(name))
    }
    /// The name of a socket's congestion control algorithm (TCP_CONGESTION).
    pub fn congestion_name(&self, h: Handle) -> Result<&'static str, Errno> {
        let idx = self.check_handle(h)?;
        match self.slots[idx].sock.as_ref() {
            Some(Sock::Conn(t)) => Ok(t.cc.name()),
            Some(Sock::Listener(l)) => Ok(l.opts.congestion_factory(&self.cx.config)(1, 1).name()),
            None => Err(Errno::EBADF),
        }
    }
    /// TCP_MAXSEG: cap the MSS announced on the SYN and used for sending (`EINVAL` outside
    /// 88..=32767, Linux's bounds). A connection's MSS only shrinks.
    pub fn set_user_mss(&mut self, h: Handle, mss: Option<u16>) -> Result<(), Errno> {
        if mss.is_some_and(|m| !(MIN_MSS..=MAX_USER_MSS).contains(&m)) {
            return Err(Errno::EINVAL);
        }
        self.with_opts(h, |o| o.user_mss = mss)
    }
    /// TCP_QUICKACK (see `delack.rs`); no effect on a socket without a connection.
    pub fn set_quickack(&mut self, h: Handle, on: bool) -> Result<(), Errno> {
        let idx = self.check_handle(h)?;
        if let Some(Sock::Conn(t)) = self.slots[idx].sock.as_mut() {
            t.set_quickack(on);
            self.after(idx);
        }
        Ok(())
    }
    /// TCP_QUICKACK as getsockopt reports it: 0 in ping-pong mode, else 1.
    pub fn quickack(&self, h: Handle) -> Result<bool, Errno> {
        let idx = self.check_handle(h)?;
        Ok(match self.slots[idx].sock.as_ref() {
            Some(Sock::Conn(t)) => !t.pingpong,
            _ => true,
        })
    }
    /// TCP_LINGER2 (from a value in seconds with [`Linger2::from_secs`], as Linux reads it).
    pub fn set_linger2(&mut self, h: Handle, linger2: Linger2) -> Result<(), Errno> {
        self.with_opts(h, |o| o.linger2 = linger2)
    }
    /// TCP_LINGER2 as getsockopt reports it: -1, or the FIN-WAIT-2 timeout in force in
    /// seconds.
    pub fn linger2(&self, h: Handle) -> Result<i32, Errno> {
        Ok(self.sock_opts(h)?.linger2.as_secs(&self.cx.config))
    }
    /// TCP_NOTSENT_LOWAT (0: the default, no limit).
    pub fn set_notsent_lowat(&mut self, h: Handle, bytes: u32) -> Result<(), Errno> {
        self.with_opts(h, |o| o.notsent_lowat = bytes)
    }
    /// TCP_MAXSEG as getsockopt reports it: a connection's segment payload size (the MSS less
    /// the timestamp option it carries), before that the value set, else 536 (RFC 9293's
    /// default MSS, Linux's answer too).
    pub fn maxseg(&self, h: Handle) -> Result<u32, Errno> {
        let idx = self.check_handle(h)?;
        Ok(match self.slots[idx].sock.as_ref() {
            Some(Sock::Conn(t)) if t.state.is_synchronized() || t.was_connected => {
                t.mss - if t.ts_ok { 12 } else { 0 }
            }
            Some(Sock::Conn(t)) => t.opts.user_mss.map_or(DEFAULT_MSS, u32::from),
            Some(Sock::Listener(l)) => l.opts.user_mss.map_or(DEFAULT_MSS, u32::from),
            None => return Err(Errno::EBADF),
        })
    }
    /// Every listener and connection as /proc/net/tcp lists it, in slot order, with the inode
    /// `inode` gives for its handle (the caller knows which socket holds which handle; 0 for
    /// one no socket file holds, such as a connection not yet accepted). At most `max` lines.
    pub fn proc_lines(
        &self,
        max: usize,
        inode: impl Fn(Handle) -> u64,
    ) -> alloc::vec::Vec<crate::procnet::SockLine> {
        let mut out = alloc::vec::Vec::new();
        for (idx, slot) in self.slots.iter().enumerate() {
            let ino = inode(Handle {
                idx: idx as u32,
                gen: slot.gen,
            });
            if out.len() >= max || out.try_reserve(1).is_err() {
                break;
            }
            let line = match slot.sock.as_ref() {
                Some(Sock::Listener(l)) => crate::procnet::SockLine {
                    local: l.local,
                    remote: SocketAddrV4::new(core::net::Ipv4Addr::UNSPECIFIED, 0),
                    state: super::info::linux_state(State::Listen),
                    tx_queue: 0,
                    rx_queue: l.accept_queue.len(),
                    inode: ino,
                },
                Some(Sock::Conn(t)) => crate::procnet::SockLine {
                    local: t.local,
                    remote: t.remote,
                    state: super::info::linux_state(t.state),
                    tx_queue: t.snd_buf.len(),
                    rx_queue: t.rcv_buf.len(),
                    inode: ino,
                },
                None => continue,
            };
            out.push(line);
        }
        out
    }

    /// Bytes queued (received and unread, written and not yet acknowledged), for SO_MEMINFO.
    pub fn queued(&self, h: Handle) -> Result<(usize, usize), Errno> {
        let t = self.tcb_ref(h)?;
        Ok((t.rcv_buf.len(), t.snd_buf.len()))
    }

    /// TCP_INFO: the connection's state, timers, windows and counters (a listener reports
    /// its state only).
    pub fn info(&self, h: Handle) -> Result<super::info::TcpInfo, Errno> {
        let idx = self.check_handle(h)?;
        match self.slots[idx].sock.as_ref() {
            Some(Sock::Conn(t)) => Ok(super::info::TcpInfo::of(t, self.last_now, &self.cx.config)),
            Some(Sock::Listener(_)) => Ok(super::info::TcpInfo::listener()),
            None => Err(Errno::EBADF),
        }
    }

    /// Path MTU for a listener's children or a connection (MSS = MTU − 40; it only shrinks).
    pub fn set_mtu(&mut self, h: Handle, mtu: u16) -> Result<(), Errno> {
        if mtu < MIN_MSS + 40 {
            return Err(Errno::EINVAL);
        }
        self.with_opts(h, |o| o.mtu = mtu)
    }
}

/// The application is done writing: queue a FIN and move to the closing states.
fn shut_write(tcb: &mut Tcb, cx: &mut Shared) {
    if tcb.fin_queued {
        return;
    }
    match tcb.state {
        State::Established => {
            tcb.fin_queued = true;
            tcb.set_state(&mut cx.stats, State::FinWait1);
        }
        State::CloseWait => {
            tcb.fin_queued = true;
            tcb.set_state(&mut cx.stats, State::LastAck);
        }
        State::SynSent | State::SynReceived => tcb.fin_queued = true,
        _ => {}
    }
}

/// Reset the connection from our side (abort, or close with unread data).
pub(crate) fn reset(tcb: &mut Tcb, cx: &mut Shared) {
    if matches!(
        tcb.state,
        State::SynReceived
            | State::Established
            | State::FinWait1
            | State::FinWait2
            | State::CloseWait
    ) {
        tcb.send_rst_on_close = true;
    }
    tcb.snd_nxt = tcb.snd_max.max(tcb.snd_nxt);
    tcb.set_state(&mut cx.stats, State::Closed);
}
