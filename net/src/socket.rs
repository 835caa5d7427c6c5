//! The BSD socket layer: the process-facing `socket` (type, SS_* state, flags, options, wait
//! queue) and the address family's operations as a trait — the seeds' `struct socket` and
//! `proto_ops`.
//!
//! Every operation here is non-blocking: when it cannot complete it returns `EAGAIN` (or
//! `EINPROGRESS` for a stream connect), and the caller (the kernel's syscall layer, or a test)
//! sleeps on the socket's wait queue until [`PollMask`] says the socket is ready, honouring
//! `O_NONBLOCK`, `MSG_DONTWAIT` and `SO_RCVTIMEO`/`SO_SNDTIMEO`. The protocol side never calls
//! back into this layer; it reports readiness and the syscall layer asks.

use alloc::boxed::Box;
use core::net::SocketAddrV4;

use crate::errno::Errno;
use crate::recvbuf::RecvBuf;
use crate::time::{Duration, Instant};

pub const AF_UNIX: i32 = 1;
pub const AF_INET: i32 = 2;
pub const AF_INET6: i32 = 10;

pub const SOCK_STREAM: i32 = 1;
pub const SOCK_DGRAM: i32 = 2;
pub const SOCK_RAW: i32 = 3;
pub const SOCK_SEQPACKET: i32 = 5;
/// Flags that may be or-ed into the type argument of `socket` and `accept4`.
pub const SOCK_NONBLOCK: i32 = 0o4000;
pub const SOCK_CLOEXEC: i32 = 0o2000000;

pub const IPPROTO_IP: i32 = 0;
/// `IP_RECVERR` (level `IPPROTO_IP`).
pub const IP_RECVERR: i32 = 11;
/// `IP_TOS` (level `IPPROTO_IP`): the TOS/DSCP byte of the socket's outgoing IPv4 headers.
pub const IP_TOS: i32 = 1;
/// The two low ECN bits of the TOS byte (Linux's `INET_ECN_MASK`): TCP keeps them its own.
pub const INET_ECN_MASK: u8 = 3;
pub const IPPROTO_ICMP: i32 = 1;
pub const IPPROTO_TCP: i32 = 6;
pub const IPPROTO_UDP: i32 = 17;

pub const MSG_PEEK: i32 = 0x2;
pub const MSG_DONTWAIT: i32 = 0x40;
pub const MSG_EOR: i32 = 0x80;
pub const MSG_MORE: i32 = 0x8000;
pub const MSG_NOSIGNAL: i32 = 0x4000;

pub const SHUT_RD: i32 = 0;
pub const SHUT_WR: i32 = 1;
pub const SHUT_RDWR: i32 = 2;

pub const SOL_SOCKET: i32 = 1;
pub const SO_REUSEADDR: i32 = 2;
pub const SO_TYPE: i32 = 3;
pub const SO_ERROR: i32 = 4;
pub const SO_SNDBUF: i32 = 7;
pub const SO_RCVBUF: i32 = 8;
pub const SO_KEEPALIVE: i32 = 9;
pub const SO_LINGER: i32 = 13;
/// SO_REUSEPORT: sockets that all set it may bind one address and port; arrivals are spread
/// among them.
pub const SO_REUSEPORT: i32 = 15;
pub const SO_RCVTIMEO: i32 = 20;
pub const SO_SNDTIMEO: i32 = 21;
pub const SOL_TCP: i32 = 6;
pub const TCP_NODELAY: i32 = 1;
pub const TCP_MAXSEG: i32 = 2;
pub const TCP_CORK: i32 = 3;
pub const TCP_KEEPIDLE: i32 = 4;
pub const TCP_KEEPINTVL: i32 = 5;
pub const TCP_KEEPCNT: i32 = 6;
/// TCP_LINGER2: the orphan FIN-WAIT-2 timeout in seconds (<0: reset instead, 0: the host's).
pub const TCP_LINGER2: i32 = 8;
/// TCP_DEFER_ACCEPT: a listener hands over a connection only once data came, or after the
/// given seconds.
pub const TCP_DEFER_ACCEPT: i32 = 9;
/// TCP_QUICKACK: 1 sends a pending ACK now and leaves ping-pong mode, 0 enters it (not sticky).
pub const TCP_QUICKACK: i32 = 12;
pub const TCP_CONGESTION: i32 = 13;
pub const TCP_USER_TIMEOUT: i32 = 18;
pub const TCP_NOTSENT_LOWAT: i32 = 25;
/// TCP_INQ: recvmsg reports the bytes left to read in a `TCP_CM_INQ` control message.
pub const TCP_INQ: i32 = 36;
pub const TCP_INFO: i32 = 11;
pub const TCP_CC_INFO: i32 = 26;
pub const SO_MEMINFO: i32 = 55;
pub const TCP_CM_INQ: i32 = TCP_INQ;

/// Poll events, Linux's values.
pub const POLLIN: u16 = 0x001;
pub const POLLPRI: u16 = 0x002;
pub const POLLOUT: u16 = 0x004;
pub const POLLERR: u16 = 0x008;
pub const POLLHUP: u16 = 0x010;
pub const POLLNVAL: u16 = 0x020;
pub const POLLRDHUP: u16 = 0x2000;

/// Readiness of a socket as `poll` reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollMask(pub u16);

impl PollMask {
    pub fn contains(self, bits: u16) -> bool {
        self.0 & bits != 0
    }
}

/// The socket's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SockType {
    Stream,
    Dgram,
    Raw,
}

impl SockType {
    pub fn code(self) -> i32 {
        match self {
            SockType::Stream => SOCK_STREAM,
            SockType::Dgram => SOCK_DGRAM,
            SockType::Raw => SOCK_RAW,
        }
    }
}

/// The socket's connection state as the process sees it (Linux's `socket_state`, SS_*).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketState {
    /// SS_UNCONNECTED: not connected to anything.
    Unconnected,
    /// SS_CONNECTING: a connect is in progress.
    Connecting,
    /// SS_CONNECTED: connected (or, for a datagram socket, has a default peer).
    Connected,
    /// SS_DISCONNECTING: shutting down.
    Disconnecting,
}

/// Which direction(s) `shutdown` closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shutdown {
    Read,
    Write,
    Both,
}

impl Shutdown {
    pub fn from_how(how: i32) -> Result<Self, Errno> {
        match how {
            SHUT_RD => Ok(Shutdown::Read),
            SHUT_WR => Ok(Shutdown::Write),
            SHUT_RDWR => Ok(Shutdown::Both),
            _ => Err(Errno::EINVAL),
        }
    }
}

/// A socket option value, already decoded from the caller's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OptValue {
    Int(i32),
    Linger {
        on: bool,
        seconds: i32,
    },
    Timeout(Option<Duration>),
    /// A congestion-control algorithm's name (TCP_CONGESTION).
    Name(&'static str),
    /// A structure in Linux's binary layout (TCP_INFO, SO_MEMINFO), truncated to the
    /// caller's buffer.
    Bytes(alloc::vec::Vec<u8>),
}

/// What a network context offers the socket layer: an identifier for each protocol endpoint,
/// so readiness changes the protocols report can be mapped to the sockets' wait queues.
pub trait NetCtx {
    type WakeId: Ord + Copy;
}

/// The address family's operations on one socket's protocol side (the seeds' `proto_ops`).
///
/// `Ctx` is the network stack the protocol lives in; it is passed to every call so the socket
/// can reach its protocol control block without holding a reference to the stack. Calls that
/// may transmit take the current time.
pub trait ProtoOps<Ctx: NetCtx> {
    fn bind(&mut self, ctx: &mut Ctx, addr: SocketAddrV4) -> Result<(), Errno>;
    /// Start (stream) or set (datagram) the connection; a stream connect that has to wait
    /// returns `EINPROGRESS` and completes through `poll` + `take_error`.
    fn connect(&mut self, ctx: &mut Ctx, now: Instant, addr: SocketAddrV4) -> Result<(), Errno>;
    fn listen(&mut self, ctx: &mut Ctx, backlog: i32) -> Result<(), Errno>;
    /// A new connection from the accept queue (`EAGAIN` when empty).
    fn accept(&mut self, ctx: &mut Ctx) -> Result<(Box<dyn ProtoOps<Ctx>>, SocketAddrV4), Errno>;
    /// Send `buf`, to `dest` for a datagram socket without a default peer.
    fn send(
        &mut self,
        ctx: &mut Ctx,
        now: Instant,
        buf: &[u8],
        flags: i32,
        dest: Option<SocketAddrV4>,
    ) -> Result<usize, Errno>;
    /// Receive into `buf`; returns the length and the sender (datagram) or peer.
    fn recv(
        &mut self,
        ctx: &mut Ctx,
        buf: &mut [u8],
        flags: i32,
    ) -> Result<(usize, Option<SocketAddrV4>), Errno>;
    /// A byte-stream receive straight into `buf` (a program's buffer, written through the
    /// kernel's user copy): `EOPNOTSUPP` for a protocol without one, whose callers receive
    /// into a kernel buffer with [`recv`](Self::recv) instead. MSG_PEEK leaves the bytes
    /// queued; otherwise as `recv` for a stream (no sender address).
    fn recv_stream(
        &mut self,
        _ctx: &mut Ctx,
        _buf: &mut dyn RecvBuf,
        _flags: i32,
    ) -> Result<usize, Errno> {
        Err(Errno::EOPNOTSUPP)
    }
    fn shutdown(&mut self, ctx: &mut Ctx, how: Shutdown) -> Result<(), Errno>;
    /// The last socket reference went away (`inet_release` → `tcp_close`/`udp_lib_close`);
    /// `abort` is SO_LINGER with a zero timeout (RST instead of FIN).
    fn release(self: Box<Self>, ctx: &mut Ctx, abort: bool);
    fn poll(&self, ctx: &Ctx) -> PollMask;
    /// `SO_ERROR`: the pending error, cleared by reading it.
    fn take_error(&mut self, ctx: &mut Ctx) -> Option<Errno>;
    /// The state as SS_* for the process side.
    fn state(&self, ctx: &Ctx) -> SocketState;
    /// The bound local address, if any (port 0 = not bound).
    fn local_addr(&self, ctx: &Ctx) -> Option<SocketAddrV4>;
    fn peer_addr(&self, ctx: &Ctx) -> Result<SocketAddrV4, Errno>;
    /// Protocol-level options (SOL_TCP, and SOL_SOCKET ones the protocol keeps: buffers,
    /// keepalive). `ENOPROTOOPT` for unknown ones.
    fn setsockopt(
        &mut self,
        ctx: &mut Ctx,
        level: i32,
        name: i32,
        value: OptValue,
    ) -> Result<(), Errno>;
    fn getsockopt(&self, ctx: &Ctx, level: i32, name: i32) -> Result<OptValue, Errno>;
    /// A listening socket (its port cannot be shared even with SO_REUSEADDR).
    fn is_listening(&self) -> bool {
        false
    }
    /// The protocol endpoint whose readiness changes wake this socket.
    fn wake_id(&self) -> Option<Ctx::WakeId>;
    /// `SIOCINQ`/`FIONREAD` and `SIOCOUTQ`: bytes received and not yet read, bytes written and
    /// not yet acknowledged. Protocols that cannot tell answer `ENOTTY`.
    fn queued(&self, _ctx: &Ctx) -> Result<(usize, usize), Errno> {
        Err(Errno::ENOTTY)
    }
}

/// An address family: creates the protocol side of a new socket (the seeds' `inet_create`).
pub trait Family<Ctx: NetCtx> {
    fn create(
        &self,
        ctx: &mut Ctx,
        ty: SockType,
        protocol: i32,
    ) -> Result<Box<dyn ProtoOps<Ctx>>, Errno>;
}

/// The process-facing socket: its type, the family's ops (which own the `sock`), and the
/// options the socket layer itself keeps.
pub struct Socket<Ctx: NetCtx> {
    pub ty: SockType,
    pub ops: Option<Box<dyn ProtoOps<Ctx>>>,
    /// SO_RCVTIMEO / SO_SNDTIMEO (`None` = block forever).
    pub rcv_timeout: Option<Duration>,
    pub snd_timeout: Option<Duration>,
    /// SO_REUSEADDR.
    pub reuse_addr: bool,
    /// SO_REUSEPORT.
    pub reuse_port: bool,
    /// SO_LINGER: `Some(seconds)` when on.
    pub linger: Option<i32>,
    /// IP_RECVERR. Kept and reported; rinet queues no extended errors (a `recvmsg` with
    /// `MSG_ERRQUEUE` finds none), and reports ICMP errors to the socket as Linux does
    /// without the option (`ECONNREFUSED` on a connected UDP socket, ...).
    pub recv_err: bool,
    /// A wait-queue key: the syscall layer parks threads on it and wakes them when the
    /// socket's readiness changes.
    pub wait_key: u64,
}

impl<Ctx: NetCtx> Socket<Ctx> {
    pub fn new(ty: SockType, ops: Box<dyn ProtoOps<Ctx>>, wait_key: u64) -> Self {
        Socket {
            ty,
            ops: Some(ops),
            rcv_timeout: None,
            snd_timeout: None,
            reuse_addr: false,
            reuse_port: false,
            linger: None,
            recv_err: false,
            wait_key,
        }
    }

    /// The family's ops (`EBADF` once released).
    pub fn ops(&mut self) -> Result<&mut (dyn ProtoOps<Ctx> + 'static), Errno> {
        self.ops.as_deref_mut().ok_or(Errno::EBADF)
    }

    pub fn ops_ref(&self) -> Result<&(dyn ProtoOps<Ctx> + 'static), Errno> {
        self.ops.as_deref().ok_or(Errno::EBADF)
    }

    /// `sock_release`: hand the protocol side back to its family (RST instead of FIN when
    /// SO_LINGER is on with a zero timeout).
    pub fn release(&mut self, ctx: &mut Ctx) {
        if let Some(ops) = self.ops.take() {
            ops.release(ctx, self.linger == Some(0));
        }
    }
}
