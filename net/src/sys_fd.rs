//! The descriptor-based socket calls over net's own [`FdTable`] (`sock_map_fd` and the BSD API
//! by descriptor number), as the host tests drive the stack: each is a thin wrapper that finds
//! the socket file behind the descriptor and calls the file-based method of [`NetSys`]. The
//! kernel keeps its own descriptor table and calls the file-based methods directly.
//!
//! Owns descriptor lookup (`ENOTSOCK` for the console's reserved 0-2, `EBADF` for a closed
//! descriptor) and installing new socket files; never any socket semantics of its own.

use core::net::SocketAddrV4;

use super::{Direction, NetSys, WaitInfo, F_GETFD, F_GETFL, F_SETFD, F_SETFL};
use crate::errno::Errno;
use crate::socket::{PollMask, POLLNVAL};
use crate::sockfs::{FdTable, FileId};
use crate::tcp;
use crate::time::Instant;

impl NetSys {
    fn file(fds: &FdTable, fd: i32) -> Result<FileId, Errno> {
        match fds.get(fd) {
            Ok(f) => Ok(f),
            // stdin/stdout/stderr are the console, not sockets.
            Err(_) if fds.reserved(fd) => Err(Errno::ENOTSOCK),
            Err(e) => Err(e),
        }
    }

    /// Put a new socket file into the caller's table (`fd_install`); the socket is released
    /// (connections reset) when the table is full.
    fn install(&mut self, fds: &mut FdTable, file: FileId) -> Result<i32, Errno> {
        match fds.install(&mut self.fs, file) {
            Ok(fd) => Ok(fd),
            Err(e) => {
                if let Some(mut s) = self.fs.discard(file) {
                    self.release(&mut s, true);
                }
                Err(e)
            }
        }
    }

    /// `socket(2)`: [`socket_file`](Self::socket_file) → `sock_map_fd`.
    pub fn socket(
        &mut self,
        fds: &mut FdTable,
        domain: i32,
        ty: i32,
        protocol: i32,
    ) -> Result<i32, Errno> {
        let file = self.socket_file(domain, ty, protocol)?;
        self.install(fds, file)
    }

    /// `bind(2)`.
    pub fn bind(&mut self, fds: &FdTable, fd: i32, addr: &[u8]) -> Result<(), Errno> {
        self.bind_file(Self::file(fds, fd)?, addr)
    }

    /// `connect(2)`. Stream sockets: `EINPROGRESS` until established; then poll for
    /// `POLLOUT` and call [`NetSys::connect_result`].
    pub fn connect(
        &mut self,
        now: Instant,
        fds: &FdTable,
        fd: i32,
        addr: &[u8],
    ) -> Result<(), Errno> {
        self.connect_file(now, Self::file(fds, fd)?, addr)
    }

    /// The outcome of a pending connect: `None` while still in progress.
    pub fn connect_result(&mut self, fds: &FdTable, fd: i32) -> Option<Result<(), Errno>> {
        match Self::file(fds, fd) {
            Ok(f) => self.connect_result_file(f),
            Err(e) => Some(Err(e)),
        }
    }

    /// `listen(2)`.
    pub fn listen(&mut self, fds: &FdTable, fd: i32, backlog: i32) -> Result<(), Errno> {
        self.listen_file(Self::file(fds, fd)?, backlog)
    }

    /// `accept4(2)`: flags may carry `SOCK_NONBLOCK` (and `SOCK_CLOEXEC`, which has no
    /// meaning here).
    pub fn accept(
        &mut self,
        now: Instant,
        fds: &mut FdTable,
        fd: i32,
        flags: i32,
    ) -> Result<(i32, SocketAddrV4), Errno> {
        let (file, peer) = self.accept_file(now, Self::file(fds, fd)?, flags)?;
        Ok((self.install(fds, file)?, peer))
    }

    /// `sendto(2)` (and `write(2)` with no address and no flags).
    pub fn sendto(
        &mut self,
        now: Instant,
        fds: &FdTable,
        fd: i32,
        buf: &[u8],
        flags: i32,
        addr: Option<&[u8]>,
    ) -> Result<usize, Errno> {
        self.sendto_file(now, Self::file(fds, fd)?, buf, flags, addr)
    }

    /// `recvfrom(2)` (and `read(2)`): 0 after the peer's FIN.
    pub fn recvfrom(
        &mut self,
        now: Instant,
        fds: &FdTable,
        fd: i32,
        buf: &mut [u8],
        flags: i32,
    ) -> Result<(usize, Option<SocketAddrV4>), Errno> {
        self.recvfrom_file(now, Self::file(fds, fd)?, buf, flags)
    }

    /// `shutdown(2)`.
    pub fn shutdown(
        &mut self,
        now: Instant,
        fds: &FdTable,
        fd: i32,
        how: i32,
    ) -> Result<(), Errno> {
        self.shutdown_file(now, Self::file(fds, fd)?, how)
    }

    /// `close(2)`: the last descriptor of a file releases the socket (see
    /// [`release_file`](Self::release_file)).
    pub fn close(&mut self, now: Instant, fds: &mut FdTable, fd: i32) -> Result<(), Errno> {
        self.close_lingering(now, fds, fd).map(|_| ())
    }

    /// `close(2)` with SO_LINGER on and a timeout: like [`close`](Self::close), and when the
    /// socket was a TCP connection whose FIN is still unacknowledged, what the caller waits
    /// for: the connection and the deadline. The caller (the kernel's `close`) sleeps until
    /// [`lingering`](Self::lingering) is false or the deadline passes (Linux waits the same
    /// way, then lets the connection finish on its own; close returns 0 either way).
    pub fn close_lingering(
        &mut self,
        now: Instant,
        fds: &mut FdTable,
        fd: i32,
    ) -> Result<Option<(tcp::Handle, Instant)>, Errno> {
        if fds.reserved(fd) && fds.get(fd).is_err() {
            return Err(Errno::EBADF);
        }
        let linger = self.linger_of(fds.get(fd)?).unwrap_or(None);
        match fds.close(&mut self.fs, fd)? {
            Some(sock) => Ok(self.released(now, sock, linger)),
            None => Ok(None), // another descriptor still holds the file
        }
    }

    /// Release every socket of a descriptor table (a program exited).
    pub fn close_all(&mut self, now: Instant, fds: &mut FdTable) {
        let open: alloc::vec::Vec<i32> = fds.open_fds().map(|(fd, _)| fd).collect();
        for fd in open {
            let _ = self.close(now, fds, fd);
        }
    }

    pub fn getsockname(&self, fds: &FdTable, fd: i32) -> Result<SocketAddrV4, Errno> {
        self.getsockname_file(Self::file(fds, fd)?)
    }

    pub fn getpeername(&self, fds: &FdTable, fd: i32) -> Result<SocketAddrV4, Errno> {
        self.getpeername_file(Self::file(fds, fd)?)
    }

    /// `setsockopt(2)`; `value` is the caller's option bytes.
    pub fn setsockopt(
        &mut self,
        fds: &FdTable,
        fd: i32,
        level: i32,
        name: i32,
        value: &[u8],
    ) -> Result<(), Errno> {
        self.setsockopt_file(Self::file(fds, fd)?, level, name, value)
    }

    /// `getsockopt(2)`: writes the option into `out` (truncated to its length, as Linux
    /// does); returns the length written.
    pub fn getsockopt(
        &mut self,
        fds: &FdTable,
        fd: i32,
        level: i32,
        name: i32,
        out: &mut [u8],
    ) -> Result<usize, Errno> {
        self.getsockopt_file(Self::file(fds, fd)?, level, name, out)
    }

    /// `fcntl(2)`: `F_GETFL` / `F_SETFL` (`O_NONBLOCK`), `F_GETFD` / `F_SETFD` (accepted,
    /// no exec here); other commands give `EINVAL`.
    pub fn fcntl(&mut self, fds: &FdTable, fd: i32, cmd: i32, arg: u64) -> Result<i64, Errno> {
        let f = Self::file(fds, fd)?;
        match cmd {
            F_GETFL => Ok(i64::from(self.fs.file(f).ok_or(Errno::EBADF)?.flags)),
            F_SETFL => {
                self.fs.set_flags(f, arg as u32)?;
                Ok(0)
            }
            F_GETFD | F_SETFD => Ok(0),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Readiness of one descriptor for `poll` (`POLLNVAL` for a bad one).
    pub fn poll_fd(&self, fds: &FdTable, fd: i32) -> PollMask {
        match fds.get(fd) {
            Ok(f) => self.poll_file(f),
            Err(_) => PollMask(POLLNVAL),
        }
    }

    pub fn wait_info(&self, fds: &FdTable, fd: i32, dir: Direction) -> Result<WaitInfo, Errno> {
        let f = Self::file(fds, fd)?;
        let nonblocking = self.fs.file(f).ok_or(Errno::EBADF)?.nonblocking();
        self.wait_info_file(f, dir, nonblocking)
    }
}
