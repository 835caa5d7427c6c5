//! AF_INET: the family's `create` (the seeds' `inet_create`) and the protocol side of TCP and
//! UDP sockets as [`ProtoOps`] — `inet_stream_connect` → `tcp_v4_connect` with its route
//! lookup, `inet_release` → `tcp_close`, and the datagram equivalents.
//!
//! Each socket here holds only a handle into the host's TCP or UDP tables, plus the options a
//! TCP socket takes before it has a connection. Binding conflicts across sockets are checked
//! by the socket layer ([`crate::sys`]), which sees every socket.

use alloc::boxed::Box;
use core::net::{Ipv4Addr, SocketAddrV4};

use crate::errno::Errno;
use crate::host::Host;
use crate::recvbuf::RecvBuf;
use crate::socket::*;
use crate::stack::UdpHandle;
use crate::tcp::{self, State};
use crate::time::{Duration, Instant};

/// A protocol endpoint whose readiness changes wake a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum WakeId {
    Tcp(tcp::Handle),
    Udp(UdpHandle),
}

impl NetCtx for Host {
    type WakeId = WakeId;
}

/// Smallest and largest SO_SNDBUF / SO_RCVBUF accepted (larger requests are clamped, as
/// Linux clamps to `wmem_max`/`rmem_max`).
pub const MIN_SOCKET_BUFFER: usize = 4096;
pub const MAX_SOCKET_BUFFER: usize = 16 * 1024 * 1024;

/// The AF_INET family.
#[derive(Debug, Default, Clone, Copy)]
pub struct Inet;

impl Family<Host> for Inet {
    fn create(
        &self,
        host: &mut Host,
        ty: SockType,
        protocol: i32,
    ) -> Result<Box<dyn ProtoOps<Host>>, Errno> {
        match (ty, protocol) {
            (SockType::Stream, IPPROTO_IP | IPPROTO_TCP) => Ok(Box::new(TcpSock::new(host))),
            (SockType::Dgram, IPPROTO_IP | IPPROTO_UDP) => {
                let h = host.stack.udp_open()?;
                Ok(Box::new(UdpSock {
                    h,
                    buffers: (DEFAULT_UDP_BUFFER, DEFAULT_UDP_BUFFER),
                }))
            }
            (SockType::Stream | SockType::Dgram, _) => Err(Errno::EPROTONOSUPPORT),
            (SockType::Raw, _) => Err(Errno::ESOCKTNOSUPPORT),
        }
    }
}

/// Options a TCP socket carries before (and mirrors after) it has a connection.
#[derive(Debug, Clone, Copy)]
struct TcpOpts {
    nodelay: bool,
    cork: bool,
    /// TCP_MAXSEG (`None`: the path's MSS).
    user_mss: Option<u16>,
    /// TCP_NOTSENT_LOWAT as set (0: the default, no limit).
    notsent_lowat: u32,
    /// TCP_INQ: the caller of recvmsg wants the bytes left to read (the socket layer's
    /// business; TCP only stores the flag).
    inq: bool,
    keepalive: bool,
    keepidle: Duration,
    keepintvl: Duration,
    keepcnt: u32,
    /// SO_SNDBUF / SO_RCVBUF as set (doubled), `None` until set: an unset buffer is
    /// TCP's to size (autotuning), a set one is locked at that size.
    send_buffer: Option<usize>,
    recv_buffer: Option<usize>,
    /// TCP_USER_TIMEOUT in milliseconds (0: the retry limit decides).
    user_timeout_ms: u32,
    /// TCP_CONGESTION (`None`: the host default).
    congestion: Option<&'static str>,
    /// TCP_LINGER2.
    linger2: tcp::Linger2,
    /// IP_TOS (ECN bits clear).
    tos: u8,
    /// SO_REUSEPORT, as the socket layer passes it down for `listen`.
    reuseport: bool,
    /// TCP_DEFER_ACCEPT in seconds as set (the listener keeps Linux's rounded form).
    defer_accept: i32,
}

enum TcpSide {
    /// Created, maybe bound, neither connecting nor listening.
    Fresh,
    Listener(tcp::Handle),
    Conn(tcp::Handle),
}

/// A TCP socket's protocol side.
pub struct TcpSock {
    side: TcpSide,
    bound: Option<SocketAddrV4>,
    opts: TcpOpts,
}

impl TcpSock {
    fn new(host: &Host) -> Self {
        let c = host.tcp.config();
        TcpSock {
            side: TcpSide::Fresh,
            bound: None,
            opts: TcpOpts {
                nodelay: false,
                cork: false,
                user_mss: None,
                notsent_lowat: 0,
                inq: false,
                keepalive: false,
                keepidle: c.keepalive_idle,
                keepintvl: c.keepalive_interval,
                keepcnt: c.keepalive_count,
                send_buffer: None,
                recv_buffer: None,
                user_timeout_ms: 0,
                congestion: None,
                linger2: tcp::Linger2::Host,
                tos: 0,
                reuseport: false,
                defer_accept: 0,
            },
        }
    }

    fn apply_opts(&self, tcp: &mut tcp::Tcp, h: tcp::Handle) -> Result<(), Errno> {
        let o = &self.opts;
        tcp.set_nodelay(h, o.nodelay)?;
        tcp.set_cork(h, o.cork)?;
        tcp.set_user_mss(h, o.user_mss)?;
        tcp.set_notsent_lowat(h, o.notsent_lowat)?;
        tcp.set_keepalive_params(h, o.keepidle, o.keepintvl, o.keepcnt)?;
        tcp.set_keepalive(h, o.keepalive)?;
        let user_timeout =
            (o.user_timeout_ms > 0).then(|| Duration::from_millis(u64::from(o.user_timeout_ms)));
        tcp.set_user_timeout(h, user_timeout)?;
        if let Some(name) = o.congestion {
            tcp.set_congestion(h, name)?;
        }
        tcp.set_linger2(h, o.linger2)?;
        tcp.set_tos(h, o.tos)?;
        tcp.set_defer_accept(h, o.defer_accept)?;
        if let Some(bytes) = o.send_buffer {
            tcp.set_send_buffer(h, bytes)?;
        }
        if let Some(bytes) = o.recv_buffer {
            tcp.set_recv_buffer(h, bytes)?;
        }
        Ok(())
    }

    /// SO_SNDBUF and SO_RCVBUF as getsockopt reports them: the connection's or listener's
    /// current sizes (autotuning grows them, as Linux's `sk_sndbuf` / `sk_rcvbuf`), before
    /// that what was set, else the host's initial sizes.
    fn buffers(&self, host: &Host) -> (usize, usize) {
        if let Some(o) = self.handle().and_then(|h| host.tcp.sock_opts(h).ok()) {
            return (o.send_buffer, o.recv_buffer);
        }
        let c = host.tcp.config();
        (
            self.opts.send_buffer.unwrap_or(c.send_buffer),
            self.opts.recv_buffer.unwrap_or(c.recv_buffer),
        )
    }

    fn handle(&self) -> Option<tcp::Handle> {
        match self.side {
            TcpSide::Fresh => None,
            TcpSide::Listener(h) | TcpSide::Conn(h) => Some(h),
        }
    }
}

/// poll(2) bits from a protocol's readiness.
fn poll_mask(readable: bool, writable: bool, hup: bool, error: bool) -> PollMask {
    let bit = |on: bool, b: u16| if on { b } else { 0 };
    PollMask(
        bit(readable, POLLIN) | bit(writable, POLLOUT) | bit(hup, POLLHUP) | bit(error, POLLERR),
    )
}

fn int_opt(value: OptValue) -> Result<i32, Errno> {
    match value {
        OptValue::Int(v) => Ok(v),
        _ => Err(Errno::EINVAL),
    }
}

/// SO_SNDBUF / SO_RCVBUF as Linux applies them: the value is doubled (room for bookkeeping)
/// and clamped; getsockopt reports the doubled value.
fn buffer_size(v: i32) -> usize {
    usize::try_from(v)
        .unwrap_or(0)
        .saturating_mul(2)
        .clamp(MIN_SOCKET_BUFFER, MAX_SOCKET_BUFFER)
}

fn secs(v: i32) -> Result<Duration, Errno> {
    // Linux accepts 1..=MAX_TCP_KEEPIDLE (32767) seconds.
    if !(1..=32767).contains(&v) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::from_secs(v as u64))
}

impl ProtoOps<Host> for TcpSock {
    fn bind(&mut self, _host: &mut Host, addr: SocketAddrV4) -> Result<(), Errno> {
        if self.bound.is_some() || !matches!(self.side, TcpSide::Fresh) {
            return Err(Errno::EINVAL);
        }
        self.bound = Some(addr);
        Ok(())
    }

    fn connect(
        &mut self,
        host: &mut Host,
        now: Instant,
        remote: SocketAddrV4,
    ) -> Result<(), Errno> {
        match self.side {
            TcpSide::Listener(_) => return Err(Errno::EISCONN),
            TcpSide::Conn(h) => {
                return match host.tcp.state(h)? {
                    State::SynSent | State::SynReceived => Err(Errno::EALREADY),
                    State::Closed => Err(host.tcp.take_error(h)?.unwrap_or(Errno::ECONNABORTED)),
                    _ => Err(Errno::EISCONN),
                };
            }
            TcpSide::Fresh => {}
        }
        if remote.ip().is_unspecified() || remote.port() == 0 {
            return Err(Errno::ECONNREFUSED);
        }
        // tcp_v4_connect: the route gives the source address and the path MTU.
        let route = host.stack.route(*remote.ip())?;
        let local_ip = match self.bound {
            Some(b) if !b.ip().is_unspecified() => *b.ip(),
            _ => route.source,
        };
        let local = SocketAddrV4::new(local_ip, self.bound.map_or(0, |b| b.port()));
        let mtu = u16::try_from(route.mtu).unwrap_or(u16::MAX);
        let h = host.tcp.connect(now, local, remote, Some(mtu))?;
        self.side = TcpSide::Conn(h);
        self.apply_opts(&mut host.tcp, h)?;
        self.bound = Some(host.tcp.local_addr(h)?);
        Err(Errno::EINPROGRESS)
    }

    fn listen(&mut self, host: &mut Host, backlog: i32) -> Result<(), Errno> {
        let backlog = usize::try_from(backlog)
            .unwrap_or(0)
            .clamp(1, tcp::SOMAXCONN);
        match self.side {
            TcpSide::Listener(_) => Ok(()),
            TcpSide::Conn(_) => Err(Errno::EINVAL),
            TcpSide::Fresh => {
                let local = self.bound.ok_or(Errno::EDESTADDRREQ)?;
                let h = host
                    .tcp
                    .listen_reuseport(local, backlog, self.opts.reuseport)?;
                self.side = TcpSide::Listener(h);
                self.apply_opts(&mut host.tcp, h)
            }
        }
    }

    fn accept(
        &mut self,
        host: &mut Host,
    ) -> Result<(Box<dyn ProtoOps<Host>>, SocketAddrV4), Errno> {
        let TcpSide::Listener(l) = self.side else {
            return Err(Errno::EINVAL);
        };
        let h = host.tcp.accept(l)?;
        let peer = host.tcp.peer_addr(h)?;
        let child = TcpSock {
            side: TcpSide::Conn(h),
            bound: host.tcp.local_addr(h).ok(),
            // Linux's clone clears the accept queue's settings: the child's TCP_DEFER_ACCEPT
            // reads 0. The rest (IP_TOS, SO_REUSEPORT, ...) is inherited.
            opts: TcpOpts {
                defer_accept: 0,
                ..self.opts
            },
        };
        Ok((Box::new(child), peer))
    }

    fn send(
        &mut self,
        host: &mut Host,
        _now: Instant,
        buf: &[u8],
        flags: i32,
        _dest: Option<SocketAddrV4>,
    ) -> Result<usize, Errno> {
        let fl = tcp::SendFlags {
            more: flags & MSG_MORE != 0,
            eor: flags & MSG_EOR != 0,
        };
        match self.side {
            TcpSide::Conn(h) => host.tcp.send_msg(h, buf, fl),
            // sk_stream_wait_connect: not connecting → EPIPE.
            _ => Err(Errno::EPIPE),
        }
    }

    fn recv(
        &mut self,
        host: &mut Host,
        buf: &mut [u8],
        flags: i32,
    ) -> Result<(usize, Option<SocketAddrV4>), Errno> {
        let TcpSide::Conn(h) = self.side else {
            return Err(Errno::ENOTCONN);
        };
        let n = if flags & MSG_PEEK != 0 {
            host.tcp.peek(h, buf)?
        } else {
            host.tcp.recv(h, buf)?
        };
        Ok((n, None))
    }

    fn recv_stream(
        &mut self,
        host: &mut Host,
        buf: &mut dyn RecvBuf,
        flags: i32,
    ) -> Result<usize, Errno> {
        let TcpSide::Conn(h) = self.side else {
            return Err(Errno::ENOTCONN);
        };
        host.tcp.recv_to(h, buf, flags & MSG_PEEK == 0)
    }

    fn shutdown(&mut self, host: &mut Host, how: Shutdown) -> Result<(), Errno> {
        let TcpSide::Conn(h) = self.side else {
            return Err(Errno::ENOTCONN);
        };
        let how = match how {
            Shutdown::Read => tcp::Shutdown::Read,
            Shutdown::Write => tcp::Shutdown::Write,
            Shutdown::Both => tcp::Shutdown::Both,
        };
        host.tcp.shutdown(h, how)
    }

    fn release(self: Box<Self>, host: &mut Host, abort: bool) {
        // The handle can only be stale if TCP already freed it; nothing is left to release.
        let _ = match self.side {
            TcpSide::Fresh => Ok(()),
            TcpSide::Listener(h) => host.tcp.close(h),
            TcpSide::Conn(h) if abort => host.tcp.abort(h),
            TcpSide::Conn(h) => host.tcp.close(h),
        };
    }

    fn poll(&self, host: &Host) -> PollMask {
        let Some(h) = self.handle() else {
            // tcp_poll on a closed socket: hang-up, and writes would fail at once.
            return PollMask(POLLOUT | POLLHUP);
        };
        match host.tcp.poll_events(h) {
            Ok(ev) => {
                let m = poll_mask(ev.readable, ev.writable, ev.hup, ev.error);
                PollMask(m.0 | if ev.rdhup { POLLRDHUP } else { 0 })
            }
            Err(_) => PollMask(POLLHUP),
        }
    }

    fn take_error(&mut self, host: &mut Host) -> Option<Errno> {
        self.handle()
            .and_then(|h| host.tcp.take_error(h).ok().flatten())
    }

    fn state(&self, host: &Host) -> SocketState {
        let TcpSide::Conn(h) = self.side else {
            return SocketState::Unconnected;
        };
        match host.tcp.state(h) {
            Ok(State::SynSent | State::SynReceived) => SocketState::Connecting,
            Ok(State::Established | State::CloseWait) => SocketState::Connected,
            Ok(
                State::FinWait1
                | State::FinWait2
                | State::Closing
                | State::LastAck
                | State::TimeWait,
            ) => SocketState::Disconnecting,
            Ok(State::Closed | State::Listen) | Err(_) => SocketState::Unconnected,
        }
    }

    fn local_addr(&self, host: &Host) -> Option<SocketAddrV4> {
        self.handle()
            .and_then(|h| host.tcp.local_addr(h).ok())
            .or(self.bound)
    }

    fn peer_addr(&self, host: &Host) -> Result<SocketAddrV4, Errno> {
        match self.side {
            TcpSide::Conn(h)
                if !matches!(
                    host.tcp.state(h),
                    Ok(State::SynSent | State::Closed) | Err(_)
                ) =>
            {
                host.tcp.peer_addr(h)
            }
            _ => Err(Errno::ENOTCONN),
        }
    }

    fn setsockopt(
        &mut self,
        host: &mut Host,
        level: i32,
        name: i32,
        value: OptValue,
    ) -> Result<(), Errno> {
        if let ((SOL_TCP, TCP_CONGESTION), &OptValue::Name(cc)) = ((level, name), &value) {
            self.opts.congestion = Some(cc);
            return match self.handle() {
                Some(h) => host.tcp.set_congestion(h, cc),
                None => Ok(()),
            };
        }
        let v = int_opt(value)?;
        if (level, name) == (SOL_TCP, TCP_QUICKACK) {
            // A one-off action on the connection, not an option to remember.
            return match self.handle() {
                Some(h) => host.tcp.set_quickack(h, v != 0),
                None => Ok(()),
            };
        }
        let o = &mut self.opts;
        // Setting TCP_NODELAY or clearing TCP_CORK sends what waits, as Linux's
        // tcp_push_pending_frames does.
        let push = matches!(
            (level, name, v != 0),
            (SOL_TCP, TCP_NODELAY, true) | (SOL_TCP, TCP_CORK, false)
        );
        match (level, name) {
            (SOL_TCP, TCP_NODELAY) => o.nodelay = v != 0,
            (SOL_TCP, TCP_CORK) => o.cork = v != 0,
            // An unsigned int: 0 restores the default and 0xffffffff (-1 here) is no limit.
            (SOL_TCP, TCP_NOTSENT_LOWAT) => o.notsent_lowat = v as u32,
            (SOL_TCP, TCP_INQ) if (0..=1).contains(&v) => o.inq = v != 0,
            (SOL_TCP, TCP_INQ) => return Err(Errno::EINVAL),
            (SOL_TCP, TCP_MAXSEG) => {
                let m = u16::try_from(v).map_err(|_| Errno::EINVAL)?;
                if !(tcp::MIN_MSS..=tcp::MAX_USER_MSS).contains(&m) {
                    return Err(Errno::EINVAL);
                }
                o.user_mss = Some(m);
            }
            (SOL_TCP, TCP_KEEPIDLE) => o.keepidle = secs(v)?,
            (SOL_TCP, TCP_KEEPINTVL) => o.keepintvl = secs(v)?,
            (SOL_TCP, TCP_KEEPCNT) if (1..=127).contains(&v) => o.keepcnt = v as u32,
            (SOL_TCP, TCP_KEEPCNT) => return Err(Errno::EINVAL),
            (SOL_TCP, TCP_USER_TIMEOUT) if v >= 0 => o.user_timeout_ms = v as u32,
            (SOL_TCP, TCP_USER_TIMEOUT) => return Err(Errno::EINVAL),
            (SOL_TCP, TCP_LINGER2) => o.linger2 = tcp::Linger2::from_secs(v),
            (SOL_TCP, TCP_DEFER_ACCEPT) => o.defer_accept = v,
            // Linux's `__ip_sock_set_tos` for a stream socket: the ECN bits stay TCP's own
            // (always clear here: rinet does not negotiate ECN).
            (IPPROTO_IP, IP_TOS) => o.tos = (v as u8) & !INET_ECN_MASK,
            (SOL_SOCKET, SO_REUSEPORT) => o.reuseport = v != 0,
            (SOL_SOCKET, SO_KEEPALIVE) => o.keepalive = v != 0,
            (SOL_SOCKET, SO_SNDBUF) => o.send_buffer = Some(buffer_size(v)),
            (SOL_SOCKET, SO_RCVBUF) => o.recv_buffer = Some(buffer_size(v)),
            _ => return Err(Errno::ENOPROTOOPT),
        }
        match self.handle() {
            Some(h) => {
                self.apply_opts(&mut host.tcp, h)?;
                if push {
                    host.tcp.push_pending(h)?;
                }
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn getsockopt(&self, host: &Host, level: i32, name: i32) -> Result<OptValue, Errno> {
        let o = &self.opts;
        if (level, name) == (SOL_TCP, TCP_CONGESTION) {
            let current = self.handle().and_then(|h| host.tcp.congestion_name(h).ok());
            let default = crate::tcp::congestion::AVAILABLE[0].0;
            return Ok(OptValue::Name(current.or(o.congestion).unwrap_or(default)));
        }
        match (level, name) {
            (SOL_TCP, TCP_INFO) => {
                let info = match self.handle() {
                    Some(h) => host.tcp.info(h)?,
                    None => tcp::info::TcpInfo {
                        state: tcp::info::linux_state(tcp::State::Closed),
                        ..Default::default()
                    },
                };
                return Ok(OptValue::Bytes(info.to_bytes()));
            }
            // Linux's CUBIC and Reno export no algorithm-specific information: success,
            // nothing written.
            (SOL_TCP, TCP_CC_INFO) => return Ok(OptValue::Bytes(alloc::vec::Vec::new())),
            (SOL_SOCKET, SO_MEMINFO) => {
                let (rmem, wmem) = match self.handle() {
                    Some(h) => host.tcp.queued(h).unwrap_or((0, 0)),
                    None => (0, 0),
                };
                // sk_meminfo: rmem_alloc, rcvbuf, wmem_alloc, sndbuf, fwd_alloc,
                // wmem_queued, optmem, backlog, drops.
                let (sndbuf, rcvbuf) = self.buffers(host);
                let vals = [rmem, rcvbuf, wmem, sndbuf, 0, wmem, 0, 0, 0];
                let mut b = alloc::vec::Vec::with_capacity(36);
                for v in vals {
                    b.extend_from_slice(&(v.min(u32::MAX as usize) as u32).to_ne_bytes());
                }
                return Ok(OptValue::Bytes(b));
            }
            _ => {}
        }
        let v = match (level, name) {
            (SOL_TCP, TCP_NODELAY) => i32::from(o.nodelay),
            (SOL_TCP, TCP_CORK) => i32::from(o.cork),
            (SOL_TCP, TCP_NOTSENT_LOWAT) => o.notsent_lowat as i32,
            (SOL_TCP, TCP_INQ) => i32::from(o.inq),
            (SOL_TCP, TCP_QUICKACK) => match self.handle() {
                Some(h) => i32::from(host.tcp.quickack(h)?),
                None => 1,
            },
            (SOL_TCP, TCP_MAXSEG) => match self.handle() {
                Some(h) => host.tcp.maxseg(h)? as i32,
                None => o.user_mss.map_or(tcp::DEFAULT_MSS as i32, i32::from),
            },
            (SOL_TCP, TCP_KEEPIDLE) => o.keepidle.as_secs() as i32,
            (SOL_TCP, TCP_KEEPINTVL) => o.keepintvl.as_secs() as i32,
            (SOL_TCP, TCP_KEEPCNT) => o.keepcnt as i32,
            (SOL_TCP, TCP_USER_TIMEOUT) => o.user_timeout_ms as i32,
            (SOL_TCP, TCP_LINGER2) => o.linger2.as_secs(host.tcp.config()),
            // Rounded as Linux rounds: seconds → SYN-ACK retransmissions → seconds (5 → 7).
            (SOL_TCP, TCP_DEFER_ACCEPT) => tcp::defer_accept_reported(o.defer_accept),
            (IPPROTO_IP, IP_TOS) => i32::from(o.tos),
            (SOL_SOCKET, SO_KEEPALIVE) => i32::from(o.keepalive),
            (SOL_SOCKET, SO_SNDBUF) => self.buffers(host).0 as i32,
            (SOL_SOCKET, SO_RCVBUF) => self.buffers(host).1 as i32,
            _ => return Err(Errno::ENOPROTOOPT),
        };
        Ok(OptValue::Int(v))
    }

    fn is_listening(&self) -> bool {
        matches!(self.side, TcpSide::Listener(_))
    }

    fn wake_id(&self) -> Option<WakeId> {
        self.handle().map(WakeId::Tcp)
    }

    /// As Linux's `tcp_ioctl`: `EINVAL` on a listener, nothing queued before a connection.
    fn queued(&self, host: &Host) -> Result<(usize, usize), Errno> {
        match self.side {
            TcpSide::Fresh => Ok((0, 0)),
            TcpSide::Listener(_) => Err(Errno::EINVAL),
            TcpSide::Conn(h) => host.tcp.queued(h),
        }
    }
}

/// What SO_RCVBUF / SO_SNDBUF report for a UDP socket by default (Linux's 212992).
pub const DEFAULT_UDP_BUFFER: usize = 212_992;

/// A UDP socket's protocol side.
pub struct UdpSock {
    h: UdpHandle,
    /// SO_SNDBUF, SO_RCVBUF as set (the receive queue's own bound is the UDP table's).
    buffers: (usize, usize),
}

impl ProtoOps<Host> for UdpSock {
    fn bind(&mut self, host: &mut Host, addr: SocketAddrV4) -> Result<(), Errno> {
        host.stack.udp_bind(self.h, addr).map(|_| ())
    }

    fn connect(&mut self, host: &mut Host, _now: Instant, addr: SocketAddrV4) -> Result<(), Errno> {
        if addr.ip().is_unspecified() && addr.port() == 0 {
            return host.stack.udp_disconnect(self.h);
        }
        host.stack.udp_connect(self.h, addr)
    }

    fn listen(&mut self, _host: &mut Host, _backlog: i32) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    fn accept(
        &mut self,
        _host: &mut Host,
    ) -> Result<(Box<dyn ProtoOps<Host>>, SocketAddrV4), Errno> {
        Err(Errno::EOPNOTSUPP)
    }

    fn send(
        &mut self,
        host: &mut Host,
        now: Instant,
        buf: &[u8],
        _flags: i32,
        dest: Option<SocketAddrV4>,
    ) -> Result<usize, Errno> {
        host.stack.udp_send_to(now, self.h, buf, dest)
    }

    fn recv(
        &mut self,
        host: &mut Host,
        buf: &mut [u8],
        flags: i32,
    ) -> Result<(usize, Option<SocketAddrV4>), Errno> {
        if flags & MSG_PEEK != 0 {
            let (n, from) = host.stack.udp_peek_from(self.h, buf)?;
            return Ok((n, Some(from)));
        }
        let (n, from) = host.stack.udp_recv_from(self.h, buf)?;
        Ok((n, Some(from)))
    }

    fn shutdown(&mut self, host: &mut Host, _how: Shutdown) -> Result<(), Errno> {
        host.stack
            .udp_peer_addr(self.h)
            .map(|_| ())
            .map_err(|_| Errno::ENOTCONN)
    }

    fn release(self: Box<Self>, host: &mut Host, _abort: bool) {
        let _ = host.stack.udp_close(self.h);
    }

    fn poll(&self, host: &Host) -> PollMask {
        match host.stack.udp_readiness(self.h) {
            Ok(r) => poll_mask(r.readable, r.writable, false, r.error),
            Err(_) => PollMask(POLLNVAL),
        }
    }

    fn take_error(&mut self, host: &mut Host) -> Option<Errno> {
        host.stack.udp_take_error(self.h).ok().flatten()
    }

    fn state(&self, host: &Host) -> SocketState {
        if host.stack.udp_peer_addr(self.h).is_ok() {
            SocketState::Connected
        } else {
            SocketState::Unconnected
        }
    }

    fn local_addr(&self, host: &Host) -> Option<SocketAddrV4> {
        host.stack.udp_local_addr(self.h).ok().flatten()
    }

    fn peer_addr(&self, host: &Host) -> Result<SocketAddrV4, Errno> {
        host.stack
            .udp_peer_addr(self.h)
            .map_err(|_| Errno::ENOTCONN)
    }

    fn setsockopt(
        &mut self,
        host: &mut Host,
        level: i32,
        name: i32,
        value: OptValue,
    ) -> Result<(), Errno> {
        let v = int_opt(value)?;
        match (level, name) {
            (SOL_SOCKET, SO_REUSEADDR) => host.stack.udp_set_reuse_addr(self.h, v != 0),
            (SOL_SOCKET, SO_SNDBUF) => {
                self.buffers.0 = buffer_size(v);
                Ok(())
            }
            (SOL_SOCKET, SO_RCVBUF) => {
                self.buffers.1 = buffer_size(v);
                Ok(())
            }
            (SOL_SOCKET, SO_KEEPALIVE) => Ok(()),
            (SOL_SOCKET, SO_REUSEPORT) => host.stack.udp_set_reuse_port(self.h, v != 0),
            // A datagram socket keeps all eight bits, ECN included, as Linux does.
            (IPPROTO_IP, IP_TOS) => host.stack.udp_set_tos(self.h, v as u8),
            _ => Err(Errno::ENOPROTOOPT),
        }
    }

    fn getsockopt(&self, host: &Host, level: i32, name: i32) -> Result<OptValue, Errno> {
        match (level, name) {
            (IPPROTO_IP, IP_TOS) => Ok(OptValue::Int(i32::from(host.stack.udp_tos(self.h)?))),
            (SOL_SOCKET, SO_SNDBUF) => Ok(OptValue::Int(self.buffers.0 as i32)),
            (SOL_SOCKET, SO_RCVBUF) => Ok(OptValue::Int(self.buffers.1 as i32)),
            (SOL_SOCKET, SO_KEEPALIVE) => Ok(OptValue::Int(0)),
            _ => Err(Errno::ENOPROTOOPT),
        }
    }

    fn wake_id(&self) -> Option<WakeId> {
        Some(WakeId::Udp(self.h))
    }

    /// As Linux's `udp_ioctl`: the next datagram's payload size; nothing stays queued to send
    /// (datagrams leave at once).
    fn queued(&self, host: &Host) -> Result<(usize, usize), Errno> {
        Ok((host.stack.udp_next_len(self.h)?, 0))
    }
}

/// The unspecified address `0.0.0.0:0`, what getsockname reports for an unbound socket.
pub const UNSPECIFIED: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
