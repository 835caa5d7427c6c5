//! The socket system calls' semantics, as the kernel's syscall layer and host tests call them:
//! `sys_socket` → `sock_create` → `inet_create`, `sock_map_fd`, and the rest of the BSD API over
//! sockfs descriptors.
//!
//! Every call is non-blocking and takes the caller's descriptor table; user memory has already
//! been copied or validated by the caller. A call that would block returns `EAGAIN` (or
//! `EINPROGRESS` for a stream connect); the caller then sleeps on [`NetSys::wait_info`]'s key
//! until [`NetSys::take_woken`] names it, or its timeout passes, and tries again.

use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use crate::errno::Errno;
use crate::host::Host;
use crate::socket::{PollMask, AF_INET};
use crate::sockfs::FdTable;
use crate::time::{Duration, Instant};

/// Size of `struct sockaddr_in`.
pub const SOCKADDR_IN_LEN: usize = 16;

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

/// The whole network side of the kernel: the stack, its protocols and the socket files.
pub struct NetSys {
    /// The stack and TCP; the kernel's network runtime polls it (`host.poll`, `host.poll_at`).
    pub host: Host,
}

#[allow(unused_variables)]
impl NetSys {
    pub fn new(host: Host) -> Self {
        NetSys { host }
    }
    pub fn socket(
        &mut self,
        fds: &mut FdTable,
        domain: i32,
        ty: i32,
        protocol: i32,
    ) -> Result<i32, Errno> {
        Err(Errno::ENOSYS)
    }
    pub fn bind(&mut self, fds: &FdTable, fd: i32, addr: &[u8]) -> Result<(), Errno> {
        Err(Errno::ENOSYS)
    }
    /// Stream sockets: `EINPROGRESS` until established; then poll for `POLLOUT` and call
    /// [`NetSys::connect_result`].
    pub fn connect(
        &mut self,
        now: Instant,
        fds: &FdTable,
        fd: i32,
        addr: &[u8],
    ) -> Result<(), Errno> {
        Err(Errno::ENOSYS)
    }
    /// The outcome of a pending connect: `None` while still in progress.
    pub fn connect_result(&mut self, fds: &FdTable, fd: i32) -> Option<Result<(), Errno>> {
        Some(Err(Errno::ENOSYS))
    }
    pub fn listen(&mut self, fds: &FdTable, fd: i32, backlog: i32) -> Result<(), Errno> {
        Err(Errno::ENOSYS)
    }
    /// `accept4`: flags may carry `SOCK_NONBLOCK`.
    pub fn accept(
        &mut self,
        now: Instant,
        fds: &mut FdTable,
        fd: i32,
        flags: i32,
    ) -> Result<(i32, SocketAddrV4), Errno> {
        Err(Errno::ENOSYS)
    }
    pub fn sendto(
        &mut self,
        now: Instant,
        fds: &FdTable,
        fd: i32,
        buf: &[u8],
        flags: i32,
        addr: Option<&[u8]>,
    ) -> Result<usize, Errno> {
        Err(Errno::ENOSYS)
    }
    pub fn recvfrom(
        &mut self,
        now: Instant,
        fds: &FdTable,
        fd: i32,
        buf: &mut [u8],
        flags: i32,
    ) -> Result<(usize, Option<SocketAddrV4>), Errno> {
        Err(Errno::ENOSYS)
    }
    pub fn shutdown(
        &mut self,
        now: Instant,
        fds: &FdTable,
        fd: i32,
        how: i32,
    ) -> Result<(), Errno> {
        Err(Errno::ENOSYS)
    }
    pub fn close(&mut self, now: Instant, fds: &mut FdTable, fd: i32) -> Result<(), Errno> {
        Err(Errno::ENOSYS)
    }
    pub fn getsockname(&self, fds: &FdTable, fd: i32) -> Result<SocketAddrV4, Errno> {
        Err(Errno::ENOSYS)
    }
    pub fn getpeername(&self, fds: &FdTable, fd: i32) -> Result<SocketAddrV4, Errno> {
        Err(Errno::ENOSYS)
    }
    pub fn setsockopt(
        &mut self,
        fds: &FdTable,
        fd: i32,
        level: i32,
        name: i32,
        value: &[u8],
    ) -> Result<(), Errno> {
        Err(Errno::ENOSYS)
    }
    /// Writes the option into `out`; returns its length.
    pub fn getsockopt(
        &mut self,
        fds: &FdTable,
        fd: i32,
        level: i32,
        name: i32,
        out: &mut [u8],
    ) -> Result<usize, Errno> {
        Err(Errno::ENOSYS)
    }
    /// `F_GETFL` / `F_SETFL` (`O_NONBLOCK`); other commands give `EINVAL`.
    pub fn fcntl(&mut self, fds: &FdTable, fd: i32, cmd: i32, arg: u64) -> Result<i64, Errno> {
        Err(Errno::ENOSYS)
    }
    /// Readiness of one descriptor for `poll` (`POLLNVAL` for a bad one).
    pub fn poll_fd(&self, fds: &FdTable, fd: i32) -> PollMask {
        PollMask(crate::socket::POLLNVAL)
    }
    pub fn wait_info(&self, fds: &FdTable, fd: i32, dir: Direction) -> Result<WaitInfo, Errno> {
        Err(Errno::ENOSYS)
    }
    /// Run the stack: receive, protocol timers, transmit.
    pub fn poll(&mut self, now: Instant) {}
    /// The next protocol timer.
    pub fn poll_at(&self) -> Option<Instant> {
        None
    }
    /// Wait keys whose sockets changed readiness since the last call.
    pub fn take_woken(&mut self, out: &mut Vec<u64>) {}
}
