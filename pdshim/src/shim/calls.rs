//! The socket and epoll calls of [`Shim`]: each one a `NetSys` call under the lock (or a
//! blocking loop), with the real-descriptor mapping applied.

use super::*;

impl Shim {
    pub fn socket(&self, domain: i32, ty: i32, protocol: i32) -> Result<i32, Errno> {
        self.call(|st| {
            let nfd = st.net.socket(&mut st.fds, domain, ty, protocol)?;
            st.map_new(nfd)
        })
    }

    pub fn bind(&self, fd: i32, addr: &[u8]) -> Result<(), Errno> {
        self.call(|st| {
            let nfd = st.netfd(fd)?;
            st.net.bind(&st.fds, nfd, addr)
        })
    }

    pub fn listen(&self, fd: i32, backlog: i32) -> Result<(), Errno> {
        self.call(|st| {
            let nfd = st.netfd(fd)?;
            st.net.listen(&st.fds, nfd, backlog)
        })
    }

    /// `connect`: `EINPROGRESS` on a non-blocking socket; a blocking one waits for the
    /// handshake's outcome.
    pub fn connect(&self, fd: i32, addr: &[u8]) -> Result<(), Errno> {
        let first = self.call(|st| {
            let nfd = st.netfd(fd)?;
            let now = st.instant();
            let r = st.net.connect(now, &st.fds, nfd, addr);
            let nonblocking = st
                .net
                .wait_info(&st.fds, nfd, Direction::Write)?
                .nonblocking;
            Ok((r, nonblocking))
        })?;
        match first {
            (Err(Errno::EINPROGRESS), false) => {}
            (r, _) => return r,
        }
        let r = self.blocking(fd, Direction::Write, false, |st, nfd| {
            st.net
                .connect_result(&st.fds, nfd)
                .unwrap_or(Err(Errno::EAGAIN))
        });
        // A blocking connect that timed out (SO_SNDTIMEO) reports EINPROGRESS, as Linux does.
        match r {
            Err(Errno::EAGAIN) => Err(Errno::EINPROGRESS),
            r => r,
        }
    }

    /// `accept`: the new descriptor and the peer's `sockaddr_in`.
    pub fn accept(&self, fd: i32) -> Result<(i32, [u8; 16]), Errno> {
        self.blocking(fd, Direction::Read, false, |st, nfd| {
            let now = st.instant();
            let (child, peer) = st.net.accept(now, &mut st.fds, nfd, 0)?;
            let real = st.map_new(child)?;
            Ok((real, net::sys::sockaddr_in_bytes(peer)))
        })
    }

    /// `recvfrom`: bytes read into `buf` and the sender.
    pub fn recv(
        &self,
        fd: i32,
        buf: &mut [u8],
        flags: i32,
    ) -> Result<(usize, Option<[u8; 16]>), Errno> {
        let dontwait = flags & MSG_DONTWAIT != 0;
        let flags = flags & !MSG_DONTWAIT;
        self.blocking(fd, Direction::Read, dontwait, |st, nfd| {
            let now = st.instant();
            let (n, from) = st.net.recvfrom(now, &st.fds, nfd, buf, flags)?;
            Ok((n, from.map(net::sys::sockaddr_in_bytes)))
        })
    }

    /// `sendto`: a blocking socket sends everything (or until its timeout); a non-blocking
    /// one what fits.
    pub fn send(
        &self,
        fd: i32,
        data: &[u8],
        flags: i32,
        addr: Option<&[u8]>,
    ) -> Result<usize, Errno> {
        let dontwait = flags & MSG_DONTWAIT != 0;
        let flags = flags & !MSG_DONTWAIT;
        let mut sent = 0usize;
        let r = self.blocking(fd, Direction::Write, dontwait, |st, nfd| {
            let now = st.instant();
            let nonblocking = dontwait
                || st
                    .net
                    .wait_info(&st.fds, nfd, Direction::Write)?
                    .nonblocking;
            match st.net.sendto(now, &st.fds, nfd, &data[sent..], flags, addr) {
                Ok(n) => {
                    sent += n;
                    if sent == data.len() || nonblocking {
                        Ok(sent)
                    } else {
                        Err(Errno::EAGAIN)
                    }
                }
                Err(e) if sent > 0 && e != Errno::EAGAIN => Ok(sent),
                Err(e) => Err(e),
            }
        });
        match r {
            Err(Errno::EAGAIN) if sent > 0 => Ok(sent),
            r => r,
        }
    }

    pub fn shutdown(&self, fd: i32, how: i32) -> Result<(), Errno> {
        self.call(|st| {
            let nfd = st.netfd(fd)?;
            let now = st.instant();
            st.net.shutdown(now, &st.fds, nfd, how)
        })
    }

    /// `close` through the interface: release the socket (or epoll instance) and its
    /// backing descriptor.
    pub fn close(&self, fd: i32) -> Result<(), Errno> {
        self.call(|st| {
            if st.epolls.remove(&fd).is_some() {
                os::close_fd(fd);
                return Ok(());
            }
            let nfd = st.netfd(fd)?;
            let now = st.instant();
            let r = st.net.close(now, &mut st.fds, nfd);
            st.socks.remove(&fd);
            for e in st.epolls.values_mut() {
                e.forget(fd);
            }
            os::close_fd(fd);
            r
        })
    }

    /// `epoll_create`: a new instance behind a real descriptor.
    pub fn epoll_create(&self, size: i32) -> Result<i32, Errno> {
        if size <= 0 {
            return Err(Errno::EINVAL);
        }
        self.call(|st| {
            let real = os::backing_fd()?;
            st.forget_stale(real);
            st.epolls.insert(real, Epoll::default());
            Ok(real)
        })
    }

    /// `epoll_ctl`; `ev` is (events, data) from the caller's `struct epoll_event`.
    pub fn epoll_ctl(
        &self,
        epfd: i32,
        op: i32,
        fd: i32,
        ev: Option<(u32, u64)>,
    ) -> Result<(), Errno> {
        self.call(|st| {
            st.epoll(epfd)?;
            if fd == epfd {
                return Err(Errno::EINVAL);
            }
            let target = match st.netfd(fd) {
                Ok(nfd) => Some((
                    nfd,
                    st.net.wait_info(&st.fds, nfd, Direction::Read)?.wait_key,
                )),
                // An open descriptor that cannot be polled here (Linux: a regular file).
                Err(Errno::ENOTSOCK) => None,
                Err(e) => return Err(e),
            };
            st.epoll(epfd)?.ctl(op, fd, target, ev)
        })
    }

    /// `epoll_wait`: up to `max` (events, data) pairs, waiting up to `timeout_ms` (virtual).
    pub fn epoll_wait(
        &self,
        epfd: i32,
        max: i32,
        timeout_ms: i32,
    ) -> Result<Vec<(u32, u64)>, Errno> {
        let max = usize::try_from(max)
            .ok()
            .filter(|&m| m > 0)
            .ok_or(Errno::EINVAL)?
            .min(crate::epoll::MAX_INTERESTS);
        let mut st = self.lock();
        st.epoll(epfd)?;
        let start = st.now;
        let deadline = u64::try_from(timeout_ms)
            .ok()
            .map(|ms| st.now.saturating_add(ms.saturating_mul(1000)));
        loop {
            st.settle();
            let State {
                net, fds, epolls, ..
            } = &mut *st;
            let ep = epolls.get_mut(&epfd).ok_or(Errno::EBADF)?;
            let events = ep.collect(max, |nfd| {
                let m = net.poll_fd(fds, nfd).0;
                (m & POLLNVAL == 0).then_some(u32::from(m))
            });
            if self.on_main() {
                self.kick(&mut st);
            }
            if !events.is_empty() || deadline.is_some_and(|d| st.now >= d) {
                return Ok(events);
            }
            match self.sleep(st, deadline, start) {
                Some(g) => st = g,
                None => return Ok(events),
            }
        }
    }

    /// `getsockopt` into a buffer of the caller's `optlen`; returns the length written.
    pub fn getsockopt(
        &self,
        fd: i32,
        level: i32,
        name: i32,
        out: &mut [u8],
    ) -> Result<usize, Errno> {
        self.call(|st| {
            let nfd = st.netfd(fd)?;
            st.net.getsockopt(&st.fds, nfd, level, name, out)
        })
    }

    pub fn setsockopt(&self, fd: i32, level: i32, name: i32, value: &[u8]) -> Result<(), Errno> {
        self.call(|st| {
            let nfd = st.netfd(fd)?;
            st.net.setsockopt(&st.fds, nfd, level, name, value)
        })
    }

    pub fn fcntl(&self, fd: i32, cmd: i32, arg: u64) -> Result<i64, Errno> {
        self.call(|st| {
            let nfd = st.netfd(fd)?;
            st.net.fcntl(&st.fds, nfd, cmd, arg)
        })
    }

    /// `ioctl(FIONREAD)`: bytes readable now (by peeking); other requests are `ENOTTY`.
    pub fn ioctl_fionread(&self, fd: i32) -> Result<i32, Errno> {
        self.call(|st| {
            let nfd = st.netfd(fd)?;
            let now = st.instant();
            let mut scratch = vec![0u8; MAX_IO];
            match st.net.recvfrom(now, &st.fds, nfd, &mut scratch, MSG_PEEK) {
                Ok((n, _)) => Ok(i32::try_from(n).unwrap_or(i32::MAX)),
                Err(Errno::EAGAIN) => Ok(0),
                Err(e) => Err(e),
            }
        })
    }

    /// The `TCP_CM_INQ` value recvmsg reports on a socket with TCP_INQ set: bytes left to
    /// read, or 1 when none are left and the peer has finished (Linux's hint that a read
    /// would return end of stream). `None` when TCP_INQ is off or not a TCP socket.
    pub fn inq_hint(&self, fd: i32) -> Result<Option<i32>, Errno> {
        let mut flag = [0u8; 4];
        match self.getsockopt(fd, net::socket::SOL_TCP, net::socket::TCP_INQ, &mut flag) {
            Ok(_) if i32::from_ne_bytes(flag) != 0 => {}
            _ => return Ok(None),
        }
        self.call(|st| {
            let nfd = st.netfd(fd)?;
            let now = st.instant();
            let mut scratch = vec![0u8; MAX_IO];
            match st.net.recvfrom(now, &st.fds, nfd, &mut scratch, MSG_PEEK) {
                Ok((0, _)) => Ok(Some(1)),
                Ok((n, _)) => Ok(Some(i32::try_from(n).unwrap_or(i32::MAX))),
                Err(Errno::EAGAIN) => Ok(Some(0)),
                Err(e) => Err(e),
            }
        })
    }

    /// `poll`: `fds` is (descriptor, events, revents); returns how many have revents.
    pub fn poll(&self, fds: &mut [(i32, i16, i16)], timeout_ms: i32) -> Result<usize, Errno> {
        let mut st = self.lock();
        let start = st.now;
        let deadline = u64::try_from(timeout_ms)
            .ok()
            .map(|ms| st.now.saturating_add(ms.saturating_mul(1000)));
        loop {
            st.settle();
            let mut ready = 0;
            for (fd, events, revents) in fds.iter_mut() {
                *revents = 0;
                if *fd < 0 {
                    continue;
                }
                let mask = match st.socks.get(fd) {
                    Some(&nfd) => st.net.poll_fd(&st.fds, nfd).0,
                    None => POLLNVAL,
                };
                let wanted = (*events as u16) | POLLERR | POLLHUP | POLLNVAL;
                *revents = (mask & wanted) as i16;
                if *revents != 0 {
                    ready += 1;
                }
            }
            if self.on_main() {
                self.kick(&mut st);
            }
            if ready > 0 || deadline.is_some_and(|d| st.now >= d) {
                return Ok(ready);
            }
            match self.sleep(st, deadline, start) {
                Some(g) => st = g,
                None => return Ok(0),
            }
        }
    }
}
