//! The socket system calls' semantics, as the kernel's syscall layer and host tests call them:
//! `sys_socket` → `sock_create` → `inet_create`, `sock_map_fd`, and the rest of the BSD API over
//! sockfs descriptors.
//!
//! Two ways in. The kernel's: every call names a socket file ([`FileId`]) it got from
//! [`NetSys::socket_file`] or [`NetSys::accept_file`] and keeps in its own descriptor table
//! (an adapter beside tmpfs files and pipes); the open file's flags (`O_NONBLOCK`) are the
//! caller's, and when its last descriptor is gone it calls [`NetSys::release_file`]. The host
//! tests' (and the older callers'): the `fd`-based methods in `sys_fd.rs` over net's own
//! [`FdTable`](crate::sockfs::FdTable), thin wrappers over the first.
//!
//! Every call is non-blocking; user memory has already been copied or validated by the caller.
//! A call that would block returns `EAGAIN` (or `EINPROGRESS` for a stream connect); the caller
//! then sleeps on [`NetSys::wait_info_file`]'s key until [`NetSys::take_woken`] names it, or its
//! timeout passes, and tries again.

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use crate::errno::Errno;
use crate::host::Host;
use crate::inet::{Inet, WakeId, UNSPECIFIED};
use crate::recvbuf::RecvBuf;
use crate::socket::*;
#[cfg(test)]
use crate::sockfs::FdTable;
use crate::sockfs::{FileId, SockFs, MAX_SOCKETS, O_NONBLOCK};
use crate::tcp;
use crate::time::{Duration, Instant};

/// Size of `struct sockaddr_in`.
pub const SOCKADDR_IN_LEN: usize = 16;

/// The inode `id` has in `inodes` (sorted by endpoint), 0 when no socket file holds it.
fn inode_in(inodes: &[(WakeId, u64)], id: WakeId) -> u64 {
    inodes
        .binary_search_by(|(k, _)| k.cmp(&id))
        .map_or(0, |i| inodes[i].1)
}

/// Decode a `struct sockaddr_in` from the caller's bytes (`EINVAL` when short,
/// `EAFNOSUPPORT` for another family).
pub fn parse_sockaddr_in(bytes: &[u8]) -> Result<SocketAddrV4, Errno> {
    if bytes.len() < SOCKADDR_IN_LEN {
        return Err(Errno::EINVAL);
    }
    let family = i32::from(u16::from_ne_bytes([bytes[0], bytes[1]]));
    if family != AF_INET {
        return Err(Errno::EAFNOSUPPORT);
    }
    let port = u16::from_be_bytes([bytes[2], bytes[3]]);
    let ip = Ipv4Addr::new(bytes[4], bytes[5], bytes[6], bytes[7]);
    Ok(SocketAddrV4::new(ip, port))
}

/// Encode a `struct sockaddr_in`.
pub fn sockaddr_in_bytes(addr: SocketAddrV4) -> [u8; SOCKADDR_IN_LEN] {
    let mut b = [0u8; SOCKADDR_IN_LEN];
    b[0..2].copy_from_slice(&(AF_INET as u16).to_ne_bytes());
    b[2..4].copy_from_slice(&addr.port().to_be_bytes());
    b[4..8].copy_from_slice(&addr.ip().octets());
    b
}

/// Which way a blocked caller waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Read,
    Write,
}

/// What a caller needs to block on a descriptor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitInfo {
    /// `O_NONBLOCK` is set on the open file.
    pub nonblocking: bool,
    /// `SO_RCVTIMEO` / `SO_SNDTIMEO` for the direction (`None` = wait forever).
    pub timeout: Option<Duration>,
    /// Key of the socket's wait queue.
    pub wait_key: u64,
}

/// A socket as sockfs stores it.
type Sock = Socket<Host>;

/// `fcntl` commands.
pub const F_GETFD: i32 = 1;
pub const F_SETFD: i32 = 2;
pub const F_GETFL: i32 = 3;
pub const F_SETFL: i32 = 4;

/// The highest socket type number Linux knows (`SOCK_PACKET`); larger ones are EINVAL.
const SOCK_TYPE_MAX: i32 = 10;

/// The whole network side of the kernel: the host (stack + TCP), the socket files, and the
/// map from protocol endpoints to the wait queues of the sockets that own them.
pub struct NetSys {
    /// The stack and TCP; the kernel's network runtime polls it through [`NetSys::poll`].
    pub host: Host,
    fs: SockFs<Sock>,
    next_wait_key: u64,
    wake_keys: BTreeMap<WakeId, u64>,
    woken: Vec<u64>,
    tcp_woken: Vec<crate::tcp::Handle>,
}

impl NetSys {
    pub fn new(host: Host) -> Self {
        NetSys {
            host,
            fs: SockFs::new(),
            next_wait_key: 1,
            wake_keys: BTreeMap::new(),
            woken: Vec::new(),
            tcp_woken: Vec::new(),
        }
    }

    /// Number of live sockets.
    pub fn sockets(&self) -> usize {
        self.fs.sockets()
    }

    fn sock_ref(&self, f: FileId) -> Result<&Sock, Errno> {
        self.fs.socket(f).ok_or(Errno::EBADF)
    }

    fn sock_mut(&mut self, f: FileId) -> Result<&mut Sock, Errno> {
        self.fs.socket_mut(f).ok_or(Errno::EBADF)
    }

    /// Run `op` on the socket's protocol side, then record which endpoint now wakes it and
    /// transmit what the call made sendable.
    fn with_ops<R>(
        &mut self,
        now: Instant,
        f: FileId,
        op: impl FnOnce(&mut dyn ProtoOps<Host>, &mut Host) -> Result<R, Errno>,
    ) -> Result<R, Errno> {
        let sock = self.fs.socket_mut(f).ok_or(Errno::EBADF)?;
        let key = sock.wait_key;
        let ops = sock.ops()?;
        let r = op(ops, &mut self.host);
        if let Some(id) = ops.wake_id() {
            self.wake_keys.insert(id, key);
        }
        self.host.flush(now);
        r
    }

    fn new_wait_key(&mut self) -> u64 {
        let k = self.next_wait_key;
        self.next_wait_key += 1;
        k
    }

    /// `sock_alloc`: a new socket inode and its open file in sockfs, without a descriptor.
    fn alloc_file(
        &mut self,
        ty: SockType,
        ops: Box<dyn ProtoOps<Host>>,
        nonblocking: bool,
    ) -> Result<FileId, Errno> {
        let key = self.new_wait_key();
        if let Some(id) = ops.wake_id() {
            self.wake_keys.insert(id, key);
        }
        if self.fs.sockets() >= MAX_SOCKETS {
            // Hand the protocol side back (an accepted connection is reset) before refusing.
            self.release(&mut Socket::new(ty, ops, key), true);
            return Err(Errno::ENOBUFS);
        }
        let flags = if nonblocking { O_NONBLOCK } else { 0 };
        self.fs.alloc(Socket::new(ty, ops, key), flags)
    }

    fn release(&mut self, sock: &mut Sock, abort_connections: bool) {
        if let Some(id) = sock.ops.as_ref().and_then(|o| o.wake_id()) {
            self.wake_keys.remove(&id);
        }
        if abort_connections {
            sock.linger = Some(0);
        }
        sock.release(&mut self.host);
    }

    /// `socket(2)` without the descriptor: `sys_socket` → `sock_create` → `inet_create` →
    /// `sock_alloc_file`. `SOCK_NONBLOCK` and `SOCK_CLOEXEC` in `ty` are checked here and are
    /// the caller's to apply to its open file and descriptor.
    pub fn socket_file(&mut self, domain: i32, ty: i32, protocol: i32) -> Result<FileId, Errno> {
        if domain != AF_INET {
            return Err(Errno::EAFNOSUPPORT);
        }
        if ty & !(0xf | SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
            return Err(Errno::EINVAL);
        }
        let ty_code = ty & 0xf;
        let sock_ty = match ty_code {
            SOCK_STREAM => SockType::Stream,
            SOCK_DGRAM => SockType::Dgram,
            SOCK_RAW => SockType::Raw,
            4..=SOCK_TYPE_MAX => return Err(Errno::ESOCKTNOSUPPORT),
            _ => return Err(Errno::EINVAL),
        };
        let ops = Inet.create(&mut self.host, sock_ty, protocol)?;
        self.alloc_file(sock_ty, ops, ty & SOCK_NONBLOCK != 0)
    }

    /// Is `addr` free for a stream socket to bind (Linux's `inet_csk_get_port` conflict rule:
    /// the same port on overlapping addresses conflicts unless both sockets set SO_REUSEADDR
    /// and the other is not listening, or both set SO_REUSEPORT; Linux also asks for the same
    /// owner, and rinet runs one user)? `reuse`: this socket's (SO_REUSEADDR, SO_REUSEPORT).
    fn tcp_port_free(&self, me: FileId, addr: SocketAddrV4, reuse: (bool, bool)) -> bool {
        let (reuse, reuse_port) = reuse;
        self.fs.iter().all(|(f, s)| {
            if f == me || s.ty != SockType::Stream {
                return true;
            }
            let Some(ops) = s.ops.as_deref() else {
                return true;
            };
            let Some(other) = ops.local_addr(&self.host) else {
                return true;
            };
            if other.port() != addr.port() {
                return true;
            }
            let overlap = other.ip() == addr.ip()
                || other.ip().is_unspecified()
                || addr.ip().is_unspecified();
            if !overlap {
                return true;
            }
            reuse && s.reuse_addr && !ops.is_listening() || reuse_port && s.reuse_port
        })
    }

    /// A free ephemeral port for a stream socket binding port 0.
    fn tcp_ephemeral(&self, me: FileId, ip: Ipv4Addr, reuse: (bool, bool)) -> Result<u16, Errno> {
        let range = crate::tcp::EPHEMERAL_PORTS;
        let span = u32::from(*range.end() - *range.start()) + 1;
        let start = (self.next_wait_key as u32).wrapping_mul(2_654_435_761) % span;
        (0..span)
            .map(|i| *range.start() + ((start + i) % span) as u16)
            .find(|&p| self.tcp_port_free(me, SocketAddrV4::new(ip, p), reuse))
            .ok_or(Errno::EADDRINUSE)
    }

    /// `bind(2)`.
    pub fn bind_file(&mut self, f: FileId, addr: &[u8]) -> Result<(), Errno> {
        let mut addr = parse_sockaddr_in(addr)?;
        let s = self.sock_ref(f)?;
        let (ty, reuse) = (s.ty, (s.reuse_addr, s.reuse_port));
        let ip = *addr.ip();
        if !(ip.is_unspecified()
            || ip.is_broadcast() && ty == SockType::Dgram
            || self.host.stack.is_local_addr(ip))
        {
            return Err(Errno::EADDRNOTAVAIL);
        }
        if ty == SockType::Stream {
            if s.ops_ref()?.local_addr(&self.host).is_some() {
                return Err(Errno::EINVAL);
            }
            if addr.port() == 0 {
                addr.set_port(self.tcp_ephemeral(f, ip, reuse)?);
            } else if !self.tcp_port_free(f, addr, reuse) {
                return Err(Errno::EADDRINUSE);
            }
        }
        self.with_ops(Instant::ZERO, f, |ops, host| ops.bind(host, addr))
    }

    /// `connect(2)`. Stream sockets: `EINPROGRESS` until established; then poll for
    /// `POLLOUT` and call [`NetSys::connect_result_file`].
    pub fn connect_file(&mut self, now: Instant, f: FileId, addr: &[u8]) -> Result<(), Errno> {
        let remote = parse_sockaddr_in(addr)?;
        self.with_ops(now, f, |ops, host| ops.connect(host, now, remote))
    }

    /// The outcome of a pending connect: `None` while still in progress.
    pub fn connect_result_file(&mut self, f: FileId) -> Option<Result<(), Errno>> {
        let s = match self.fs.socket_mut(f) {
            Some(s) => s,
            None => return Some(Err(Errno::EBADF)),
        };
        let ops = match s.ops() {
            Ok(o) => o,
            Err(e) => return Some(Err(e)),
        };
        match ops.state(&self.host) {
            SocketState::Connecting => None,
            SocketState::Connected | SocketState::Disconnecting => Some(Ok(())),
            SocketState::Unconnected => Some(Err(ops
                .take_error(&mut self.host)
                .unwrap_or(Errno::ECONNABORTED))),
        }
    }

    /// `listen(2)`: an unbound socket is bound to an ephemeral port first, as Linux does.
    pub fn listen_file(&mut self, f: FileId, backlog: i32) -> Result<(), Errno> {
        let s = self.sock_ref(f)?;
        if s.ty != SockType::Stream {
            return Err(Errno::EOPNOTSUPP);
        }
        if s.ops_ref()?.local_addr(&self.host).is_none() {
            let port =
                self.tcp_ephemeral(f, Ipv4Addr::UNSPECIFIED, (s.reuse_addr, s.reuse_port))?;
            self.with_ops(Instant::ZERO, f, |ops, host| {
                ops.bind(host, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, port))
            })?;
        }
        self.with_ops(Instant::ZERO, f, |ops, host| ops.listen(host, backlog))
    }

    /// `accept4(2)` without the descriptor: the new connection's socket file (flags may carry
    /// `SOCK_NONBLOCK` and `SOCK_CLOEXEC`, the caller's to apply) and its peer.
    pub fn accept_file(
        &mut self,
        now: Instant,
        f: FileId,
        flags: i32,
    ) -> Result<(FileId, SocketAddrV4), Errno> {
        if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
            return Err(Errno::EINVAL);
        }
        let (child, peer) = self.with_ops(now, f, |ops, host| ops.accept(host))?;
        let reuse = self
            .sock_ref(f)
            .map_or((false, false), |s| (s.reuse_addr, s.reuse_port));
        let file = self.alloc_file(SockType::Stream, child, flags & SOCK_NONBLOCK != 0)?;
        // The child inherits the listener's SO_REUSEADDR and SO_REUSEPORT, as Linux's
        // sk_clone does (its IP_TOS comes with the protocol side's options).
        if let Some(s) = self.fs.socket_mut(file) {
            (s.reuse_addr, s.reuse_port) = reuse;
        }
        Ok((file, peer))
    }

    /// `sendto(2)` (and `write(2)` with no address and no flags).
    pub fn sendto_file(
        &mut self,
        now: Instant,
        f: FileId,
        buf: &[u8],
        flags: i32,
        addr: Option<&[u8]>,
    ) -> Result<usize, Errno> {
        let dest = addr.map(parse_sockaddr_in).transpose()?;
        self.with_ops(now, f, |ops, host| ops.send(host, now, buf, flags, dest))
    }

    /// `recvfrom(2)` (and `read(2)`): 0 after the peer's FIN.
    pub fn recvfrom_file(
        &mut self,
        now: Instant,
        f: FileId,
        buf: &mut [u8],
        flags: i32,
    ) -> Result<(usize, Option<SocketAddrV4>), Errno> {
        self.with_ops(now, f, |ops, host| ops.recv(host, buf, flags))
    }

    /// `recv(2)` of a byte stream straight into `buf` (see [`RecvBuf`]): `EOPNOTSUPP` for a
    /// socket that is not one, whose caller uses [`recvfrom_file`](Self::recvfrom_file).
    pub fn recv_stream_file(
        &mut self,
        now: Instant,
        f: FileId,
        buf: &mut dyn RecvBuf,
        flags: i32,
    ) -> Result<usize, Errno> {
        self.with_ops(now, f, |ops, host| ops.recv_stream(host, buf, flags))
    }

    /// `shutdown(2)`.
    pub fn shutdown_file(&mut self, now: Instant, f: FileId, how: i32) -> Result<(), Errno> {
        let how = Shutdown::from_how(how)?;
        self.with_ops(now, f, |ops, host| ops.shutdown(host, how))
    }

    /// The last descriptor of a socket file is gone (`sock_close` → `sock_release` →
    /// `inet_release` → `tcp_close`: FIN after queued data, or RST with SO_LINGER 0 or unread
    /// data); blocked callers are woken. With SO_LINGER on and a timeout, and a TCP connection
    /// whose FIN is still unacknowledged, what the caller may wait for: the connection and the
    /// deadline (see [`lingering`](Self::lingering)). `EBADF` for a file that is not a socket
    /// file of this sockfs, or one still installed in a net [`crate::sockfs::FdTable`].
    pub fn release_file(
        &mut self,
        now: Instant,
        f: FileId,
    ) -> Result<Option<(tcp::Handle, Instant)>, Errno> {
        let linger = self.linger_of(f)?;
        let sock = self.fs.discard(f).ok_or(Errno::EBADF)?;
        Ok(self.released(now, sock, linger))
    }

    /// SO_LINGER's timeout and the endpoint to wait for, when a close may have to wait.
    fn linger_of(&self, f: FileId) -> Result<Option<(i32, WakeId)>, Errno> {
        let s = self.sock_ref(f)?;
        Ok(s.linger
            .filter(|&t| t > 0)
            .zip(s.ops.as_ref().and_then(|o| o.wake_id())))
    }

    /// A socket whose file is gone: wake its waiters, release it, and say what a lingering
    /// close waits for.
    fn released(
        &mut self,
        now: Instant,
        mut sock: Sock,
        linger: Option<(i32, WakeId)>,
    ) -> Option<(tcp::Handle, Instant)> {
        self.woken.push(sock.wait_key);
        self.release(&mut sock, false);
        self.host.flush(now);
        match linger {
            Some((secs, WakeId::Tcp(h))) if self.lingering(h) => {
                Some((h, now + Duration::from_secs(secs as u64)))
            }
            _ => None,
        }
    }

    /// Whether a closed connection still waits for its FIN to be acknowledged (FIN-WAIT-1,
    /// CLOSING, LAST-ACK); false once it moved on or is gone.
    pub fn lingering(&self, h: tcp::Handle) -> bool {
        matches!(
            self.host.tcp.closed_state(h),
            Some(tcp::State::FinWait1 | tcp::State::Closing | tcp::State::LastAck)
        )
    }

    pub fn getsockname_file(&self, f: FileId) -> Result<SocketAddrV4, Errno> {
        let s = self.sock_ref(f)?;
        Ok(s.ops_ref()?.local_addr(&self.host).unwrap_or(UNSPECIFIED))
    }

    pub fn getpeername_file(&self, f: FileId) -> Result<SocketAddrV4, Errno> {
        self.sock_ref(f)?.ops_ref()?.peer_addr(&self.host)
    }

    /// `setsockopt(2)`; `value` is the caller's option bytes.
    pub fn setsockopt_file(
        &mut self,
        f: FileId,
        level: i32,
        name: i32,
        value: &[u8],
    ) -> Result<(), Errno> {
        let s = self.sock_mut(f)?;
        match (level, name) {
            (SOL_SOCKET, SO_RCVTIMEO | SO_SNDTIMEO) => {
                let t = parse_timeval(value)?;
                if name == SO_RCVTIMEO {
                    s.rcv_timeout = t;
                } else {
                    s.snd_timeout = t;
                }
                return Ok(());
            }
            (SOL_SOCKET, SO_LINGER) => {
                if value.len() < 8 {
                    return Err(Errno::EINVAL);
                }
                let on = i32::from_ne_bytes([value[0], value[1], value[2], value[3]]);
                let secs = i32::from_ne_bytes([value[4], value[5], value[6], value[7]]);
                s.linger = (on != 0).then_some(secs.max(0));
                return Ok(());
            }
            (SOL_SOCKET, SO_TYPE | SO_ERROR) => return Err(Errno::ENOPROTOOPT),
            (SOL_TCP, TCP_CONGESTION) => {
                // A NUL-terminated or length-delimited name, as Linux takes it.
                let end = value.iter().position(|&b| b == 0).unwrap_or(value.len());
                let wanted = core::str::from_utf8(&value[..end]).map_err(|_| Errno::ENOENT)?;
                let (name, _) = crate::tcp::congestion::AVAILABLE
                    .iter()
                    .find(|(n, _)| *n == wanted)
                    .ok_or(Errno::ENOENT)?;
                if s.ty != SockType::Stream {
                    return Err(Errno::ENOPROTOOPT);
                }
                return self.with_ops(Instant::ZERO, f, |ops, host| {
                    ops.setsockopt(host, level, TCP_CONGESTION, OptValue::Name(name))
                });
            }
            _ => {}
        }
        let v = parse_int(value)?;
        if (level, name) == (IPPROTO_IP, IP_RECVERR) {
            s.recv_err = v != 0;
            return Ok(());
        }
        if (level, name) == (SOL_SOCKET, SO_REUSEADDR) {
            s.reuse_addr = v != 0;
            if s.ty == SockType::Stream {
                return Ok(());
            }
        }
        if (level, name) == (SOL_SOCKET, SO_REUSEPORT) {
            s.reuse_port = v != 0;
        }
        if level != SOL_SOCKET && level != SOL_TCP && level != IPPROTO_IP {
            return Err(Errno::ENOPROTOOPT);
        }
        self.with_ops(Instant::ZERO, f, |ops, host| {
            ops.setsockopt(host, level, name, OptValue::Int(v))
        })
    }

    /// `getsockopt(2)`: writes the option into `out` (truncated to its length, as Linux
    /// does); returns the length written.
    pub fn getsockopt_file(
        &mut self,
        f: FileId,
        level: i32,
        name: i32,
        out: &mut [u8],
    ) -> Result<usize, Errno> {
        if out.len() < 4 {
            return Err(Errno::EINVAL);
        }
        let s = self.fs.socket_mut(f).ok_or(Errno::EBADF)?;
        let bytes: Vec<u8> = match (level, name) {
            (SOL_SOCKET, SO_TYPE) => s.ty.code().to_ne_bytes().to_vec(),
            (SOL_SOCKET, SO_REUSEADDR) => i32::from(s.reuse_addr).to_ne_bytes().to_vec(),
            (SOL_SOCKET, SO_REUSEPORT) => i32::from(s.reuse_port).to_ne_bytes().to_vec(),
            (IPPROTO_IP, IP_RECVERR) => i32::from(s.recv_err).to_ne_bytes().to_vec(),
            (SOL_SOCKET, SO_ERROR) => {
                let e = s.ops()?.take_error(&mut self.host).map_or(0, Errno::code);
                e.to_ne_bytes().to_vec()
            }
            (SOL_SOCKET, SO_LINGER) => {
                let mut b = Vec::with_capacity(8);
                b.extend_from_slice(&i32::from(s.linger.is_some()).to_ne_bytes());
                b.extend_from_slice(&s.linger.unwrap_or(0).to_ne_bytes());
                b
            }
            (SOL_SOCKET, SO_RCVTIMEO) => timeval_bytes(s.rcv_timeout).to_vec(),
            (SOL_SOCKET, SO_SNDTIMEO) => timeval_bytes(s.snd_timeout).to_vec(),
            _ => match s.ops_ref()?.getsockopt(&self.host, level, name)? {
                OptValue::Int(v) => v.to_ne_bytes().to_vec(),
                // Linux copies the name's bytes (no NUL when the buffer is exactly filled).
                OptValue::Name(n) => n.as_bytes().to_vec(),
                OptValue::Bytes(b) => b,
                _ => return Err(Errno::ENOPROTOOPT),
            },
        };
        let n = bytes.len().min(out.len());
        out[..n].copy_from_slice(&bytes[..n]);
        Ok(n)
    }

    /// `SIOCINQ`/`FIONREAD` and `SIOCOUTQ`: bytes waiting to be read, bytes sent and not yet
    /// acknowledged (TCP); for UDP the next datagram's size (raw sockets answer `ENOTTY`).
    pub fn queued_file(&self, f: FileId) -> Result<(usize, usize), Errno> {
        self.sock_ref(f)?.ops_ref()?.queued(&self.host)
    }

    /// What `fstat` shows of a socket file's inode (sockfs inode number and mode).
    pub fn stat_file(&self, f: FileId) -> Result<crate::sockfs::Stat, Errno> {
        self.fs.stat(f).ok_or(Errno::EBADF)
    }

    /// Each protocol endpoint a socket file holds, with that socket's inode, sorted by endpoint
    /// (what /proc/net's `inode` column shows). Empty when the memory for it is refused: the
    /// column then shows 0, as for a socket no file holds.
    fn endpoint_inodes(&self) -> Vec<(WakeId, u64)> {
        let mut out = Vec::new();
        if out.try_reserve_exact(self.fs.sockets()).is_err() {
            return out;
        }
        for (file, sock) in self.fs.iter() {
            let id = sock.ops_ref().ok().and_then(|o| o.wake_id());
            if let (Some(id), Some(st)) = (id, self.fs.stat(file)) {
                if out.len() < out.capacity() {
                    out.push((id, st.ino.0));
                }
            }
        }
        out.sort_unstable();
        out
    }

    /// /proc/net/tcp's lines (at most `max`), each with the inode of the socket holding it.
    pub fn proc_tcp_lines(&self, max: usize) -> Vec<crate::procnet::SockLine> {
        let inodes = self.endpoint_inodes();
        self.host
            .tcp
            .proc_lines(max, |h| inode_in(&inodes, WakeId::Tcp(h)))
    }

    /// /proc/net/udp's lines (at most `max`), each with the inode of the socket holding it.
    pub fn proc_udp_lines(&self, max: usize) -> Vec<crate::procnet::SockLine> {
        let inodes = self.endpoint_inodes();
        self.host
            .stack
            .udp_proc_lines(max, |h| inode_in(&inodes, WakeId::Udp(h)))
    }

    /// Readiness of a socket file for `poll` (`POLLNVAL` for one that is gone).
    pub fn poll_file(&self, f: FileId) -> PollMask {
        match self.fs.socket(f).and_then(|s| s.ops.as_deref()) {
            Some(ops) => ops.poll(&self.host),
            None => PollMask(POLLNVAL),
        }
    }

    /// What a caller needs to block on a socket file; `nonblocking` is the caller's open
    /// file's `O_NONBLOCK`, passed through.
    pub fn wait_info_file(
        &self,
        f: FileId,
        dir: Direction,
        nonblocking: bool,
    ) -> Result<WaitInfo, Errno> {
        let s = self.sock_ref(f)?;
        Ok(WaitInfo {
            nonblocking,
            timeout: match dir {
                Direction::Read => s.rcv_timeout,
                Direction::Write => s.snd_timeout,
            },
            wait_key: s.wait_key,
        })
    }

    /// Run the stack: receive, protocol timers, transmit.
    pub fn poll(&mut self, now: Instant) -> bool {
        let busy = self.host.poll(now);
        self.collect_wakeups();
        busy
    }

    /// The next protocol timer.
    pub fn poll_at(&self) -> Option<Instant> {
        self.host.poll_at()
    }

    fn collect_wakeups(&mut self) {
        self.host.tcp.take_woken(&mut self.tcp_woken);
        for h in self.tcp_woken.drain(..) {
            if let Some(&k) = self.wake_keys.get(&WakeId::Tcp(h)) {
                self.woken.push(k);
            }
        }
        for h in self.host.stack.udp_take_wakeups() {
            if let Some(&k) = self.wake_keys.get(&WakeId::Udp(h)) {
                self.woken.push(k);
            }
        }
    }

    /// Wait keys whose sockets changed readiness since the last call (each at most once).
    pub fn take_woken(&mut self, out: &mut Vec<u64>) {
        self.collect_wakeups();
        self.woken.sort_unstable();
        self.woken.dedup();
        out.append(&mut self.woken);
    }
}

fn parse_int(value: &[u8]) -> Result<i32, Errno> {
    match value {
        [a, b, c, d, ..] => Ok(i32::from_ne_bytes([*a, *b, *c, *d])),
        [a] => Ok(i32::from(*a)),
        _ => Err(Errno::EINVAL),
    }
}

/// Decode a `struct timeval` (16 bytes on x86_64); zero means "no timeout".
fn parse_timeval(value: &[u8]) -> Result<Option<Duration>, Errno> {
    if value.len() < 16 {
        return Err(Errno::EINVAL);
    }
    let mut sec = [0u8; 8];
    let mut usec = [0u8; 8];
    sec.copy_from_slice(&value[0..8]);
    usec.copy_from_slice(&value[8..16]);
    let (sec, usec) = (i64::from_ne_bytes(sec), i64::from_ne_bytes(usec));
    if sec < 0 || !(0..1_000_000).contains(&usec) {
        return Err(Errno::EINVAL);
    }
    let d = Duration::from_secs(sec as u64) + Duration::from_micros(usec as u64);
    Ok((!d.is_zero()).then_some(d))
}

fn timeval_bytes(t: Option<Duration>) -> [u8; 16] {
    let d = t.unwrap_or(Duration::ZERO);
    let mut b = [0u8; 16];
    b[0..8].copy_from_slice(&(d.as_secs() as i64).to_ne_bytes());
    b[8..16].copy_from_slice(&i64::from(d.subsec_micros()).to_ne_bytes());
    b
}

#[path = "sys_fd.rs"]
mod fd;

#[cfg(test)]
#[path = "sys_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "sys_file_tests.rs"]
mod file_tests;

#[cfg(test)]
#[path = "sockopt_tests.rs"]
mod sockopt_tests;
