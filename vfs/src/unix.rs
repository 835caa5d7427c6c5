//! `socketpair(AF_UNIX, ...)`: two connected local sockets, each end an open file
//! (unix(7)). Stream pairs carry bytes; datagram and sequenced-packet pairs carry whole
//! messages (a short read truncates the message, as on Linux).
//!
//! Owns each direction's bounded queue, the `shutdown` state of both ends (`SHUT_RD`,
//! `SHUT_WR`, `SHUT_RDWR`; closing an end shuts both directions for the peer, as Linux's
//! `unix_release_sock` does for stream and seqpacket peers), and readiness for `poll` and
//! epoll, including `POLLRDHUP` (nginx checks for it on a socket pair at start-up and, finding
//! it, stops re-reading every connection until `EAGAIN`). It never blocks: an empty read or a
//! full write answers `EAGAIN`, and the kernel sleeps on the file's readiness as for pipes.
//!
//! Not here: named sockets (`bind`/`connect` to a path) and ancillary data (`SCM_RIGHTS`,
//! `SCM_CREDENTIALS`): the kernel answers those itself.

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::any::Any;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use crate::errno::Errno;
use crate::file::{
    FileOps, IoctlReply, OpenFile, FIONREAD, POLLHUP, POLLIN, POLLOUT, POLLRDNORM, POLLWRNORM,
};
use crate::flags::{O_CLOEXEC, O_NONBLOCK, O_RDWR, S_IFSOCK};
use crate::stat::{DevId, Stat};
use crate::time::Timespec;

/// `AF_UNIX`.
pub const AF_UNIX: i32 = 1;
pub const SOCK_STREAM: i32 = 1;
pub const SOCK_DGRAM: i32 = 2;
pub const SOCK_SEQPACKET: i32 = 5;
/// `SOCK_NONBLOCK` and `SOCK_CLOEXEC` (= `O_NONBLOCK`, `O_CLOEXEC`).
pub const SOCK_NONBLOCK: i32 = O_NONBLOCK as i32;
pub const SOCK_CLOEXEC: i32 = O_CLOEXEC as i32;
/// `POLLRDHUP`: the peer will send nothing more.
pub const POLLRDHUP: u16 = 0x2000;
/// `shutdown` directions.
pub const SHUT_RD: i32 = 0;
pub const SHUT_WR: i32 = 1;
pub const SHUT_RDWR: i32 = 2;

/// Bytes queued in one direction before a writer gets `EAGAIN` (Linux's default socket buffer,
/// `net.core.wmem_default`).
pub const UNIX_BUFFER: usize = 212_992;
/// Messages queued in one direction of a datagram pair (Linux's `max_dgram_qlen` default).
const MAX_MESSAGES: usize = 512;
/// The pseudo device socket inodes report (sockfs's in Linux).
pub const UNIX_SOCKFS_DEV: DevId = DevId { major: 0, minor: 8 };

/// Socket inode numbers of socket pairs, unique for the life of the system (high, so they
/// never meet the network stack's sockfs numbers).
static NEXT_UNIX_INO: AtomicU64 = AtomicU64::new(1 << 40);

/// The kind of pair `socketpair` made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnixType {
    Stream,
    Datagram,
    SeqPacket,
}

impl UnixType {
    /// The `SOCK_*` number (`SO_TYPE`).
    pub fn number(self) -> i32 {
        match self {
            UnixType::Stream => SOCK_STREAM,
            UnixType::Datagram => SOCK_DGRAM,
            UnixType::SeqPacket => SOCK_SEQPACKET,
        }
    }

    fn keeps_boundaries(self) -> bool {
        self != UnixType::Stream
    }
}

/// What one direction holds: bytes (stream) or messages, and their total size.
#[derive(Default)]
struct Queue {
    bytes: VecDeque<u8>,
    messages: VecDeque<Vec<u8>>,
    queued: usize,
}

/// The pair's shared state; ends are 0 and 1, `queues[i]` holds what end `i` will read.
struct Pair {
    ty: UnixType,
    queues: [Queue; 2],
    /// End `i` will receive nothing more (its own `SHUT_RD`, the peer's `SHUT_WR`, or the peer
    /// closed).
    rcv_shut: [bool; 2],
    /// End `i` may send nothing more (its own `SHUT_WR`, or the peer's `SHUT_RD`).
    snd_shut: [bool; 2],
    open: [bool; 2],
    ino: [u64; 2],
    created: Timespec,
}

/// One end of a socket pair.
pub struct UnixEnd {
    pair: Arc<Mutex<Pair>>,
    side: usize,
}

/// What a receive gave: bytes copied, and the message's full length (larger than the copy
/// when a datagram or packet was truncated: `MSG_TRUNC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    pub copied: usize,
    pub full: usize,
}

/// `socketpair(AF_UNIX, ty, protocol)`: the two connected ends. `ty` may carry
/// `SOCK_NONBLOCK` (both ends) and `SOCK_CLOEXEC` (the caller's descriptors); the protocol
/// must be 0 (or `PF_UNIX`, as Linux accepts). `EINVAL` for unknown flags or a number past
/// `SOCK_MAX`, `ESOCKTNOSUPPORT` for a type a pair cannot have, `EPROTONOSUPPORT` for another
/// protocol.
pub fn socketpair(
    ty: i32,
    protocol: i32,
    now: Timespec,
) -> Result<(Arc<OpenFile>, Arc<OpenFile>), Errno> {
    if ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC | 0xf) != 0 {
        return Err(Errno::EINVAL);
    }
    let kind = match ty & 0xf {
        SOCK_STREAM => UnixType::Stream,
        // Linux's `unix_create` turns SOCK_RAW (3) into a datagram socket.
        SOCK_DGRAM | 3 => UnixType::Datagram,
        SOCK_SEQPACKET => UnixType::SeqPacket,
        // Past SOCK_MAX: not a socket type at all.
        t if t >= 11 => return Err(Errno::EINVAL),
        _ => return Err(Errno::ESOCKTNOSUPPORT),
    };
    if protocol != 0 && protocol != AF_UNIX {
        return Err(Errno::EPROTONOSUPPORT);
    }
    let first = NEXT_UNIX_INO.fetch_add(2, Ordering::Relaxed);
    let pair = Arc::new(Mutex::new(Pair {
        ty: kind,
        queues: [Queue::default(), Queue::default()],
        rcv_shut: [false; 2],
        snd_shut: [false; 2],
        open: [true; 2],
        ino: [first, first + 1],
        created: now,
    }));
    let flags = O_RDWR | (ty as u32 & O_NONBLOCK);
    let end = |side| {
        OpenFile::with_exact_flags(
            Arc::new(UnixEnd {
                pair: pair.clone(),
                side,
            }),
            flags,
        )
    };
    Ok((end(0), end(1)))
}

impl Drop for UnixEnd {
    fn drop(&mut self) {
        let mut p = self.pair.lock();
        let (me, peer) = (self.side, 1 - self.side);
        p.open[me] = false;
        // Nobody reads what was queued for this end: give the memory back now.
        p.queues[me] = Queue::default();
        if p.ty != UnixType::Datagram {
            p.rcv_shut[peer] = true;
            p.snd_shut[peer] = true;
        }
    }
}

impl UnixEnd {
    pub fn socket_type(&self) -> UnixType {
        self.pair.lock().ty
    }

    /// Take at most `buf.len()` bytes (stream) or the next message (cut to `buf`). `peek`
    /// leaves them queued. `Ok` with 0 copied at end of stream; `EAGAIN` when nothing waits.
    pub fn receive(&self, buf: &mut [u8], peek: bool) -> Result<Received, Errno> {
        let mut p = self.pair.lock();
        let me = self.side;
        let boundaries = p.ty.keeps_boundaries();
        let shut = p.rcv_shut[me];
        let q = &mut p.queues[me];
        if boundaries {
            let Some(msg) = q.messages.front() else {
                return if shut {
                    Ok(Received { copied: 0, full: 0 })
                } else {
                    Err(Errno::EAGAIN)
                };
            };
            let n = buf.len().min(msg.len());
            buf[..n].copy_from_slice(&msg[..n]);
            let full = msg.len();
            if !peek {
                q.queued -= full;
                q.messages.pop_front();
            }
            return Ok(Received { copied: n, full });
        }
        if q.bytes.is_empty() {
            return if shut || buf.is_empty() {
                Ok(Received { copied: 0, full: 0 })
            } else {
                Err(Errno::EAGAIN)
            };
        }
        let n = buf.len().min(q.bytes.len());
        for (dst, src) in buf.iter_mut().zip(q.bytes.iter()) {
            *dst = *src;
        }
        if !peek {
            q.bytes.drain(..n);
            q.queued -= n;
        }
        Ok(Received { copied: n, full: n })
    }

    /// Queue `buf` for the peer: as much as fits (stream) or the whole message. `EPIPE` once
    /// this end may not send or the peer is gone (the kernel raises `SIGPIPE` for stream and
    /// seqpacket ends); `ECONNREFUSED` on a datagram pair whose peer closed; `EMSGSIZE` for a
    /// message larger than the buffer; `EAGAIN` when full.
    pub fn send(&self, buf: &[u8]) -> Result<usize, Errno> {
        let mut p = self.pair.lock();
        let (me, peer) = (self.side, 1 - self.side);
        if p.snd_shut[me] {
            return Err(Errno::EPIPE);
        }
        if !p.open[peer] {
            return Err(if p.ty == UnixType::Datagram {
                Errno::ECONNREFUSED
            } else {
                Errno::EPIPE
            });
        }
        let boundaries = p.ty.keeps_boundaries();
        let q = &mut p.queues[peer];
        let free = UNIX_BUFFER.saturating_sub(q.queued);
        if boundaries {
            if buf.len() > UNIX_BUFFER {
                return Err(Errno::EMSGSIZE);
            }
            if buf.len() > free || q.messages.len() >= MAX_MESSAGES {
                return Err(Errno::EAGAIN);
            }
            let mut msg = Vec::new();
            msg.try_reserve_exact(buf.len())
                .map_err(|_| Errno::ENOMEM)?;
            msg.extend_from_slice(buf);
            q.messages.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
            q.messages.push_back(msg);
            q.queued += buf.len();
            return Ok(buf.len());
        }
        if buf.is_empty() {
            return Ok(0);
        }
        if free == 0 {
            return Err(Errno::EAGAIN);
        }
        let n = buf.len().min(free);
        q.bytes.try_reserve(n).map_err(|_| Errno::ENOMEM)?;
        q.bytes.extend(&buf[..n]);
        q.queued += n;
        Ok(n)
    }

    /// `shutdown(how)`: `SHUT_RD` stops this end's receiving (and the peer's sending),
    /// `SHUT_WR` the reverse, `SHUT_RDWR` both; `EINVAL` for anything else.
    pub fn shutdown(&self, how: i32) -> Result<(), Errno> {
        let mut p = self.pair.lock();
        let (me, peer) = (self.side, 1 - self.side);
        let (rd, wr) = match how {
            SHUT_RD => (true, false),
            SHUT_WR => (false, true),
            SHUT_RDWR => (true, true),
            _ => return Err(Errno::EINVAL),
        };
        // Linux shuts only this end of a datagram pair; stream and seqpacket ends tell the peer.
        let tell_peer = p.ty != UnixType::Datagram;
        if rd {
            p.rcv_shut[me] = true;
            if tell_peer {
                p.snd_shut[peer] = true;
            }
        }
        if wr {
            p.snd_shut[me] = true;
            if tell_peer {
                p.rcv_shut[peer] = true;
            }
        }
        Ok(())
    }

    /// Bytes waiting for this end (`FIONREAD`/`SIOCINQ`: the next message's size on a message
    /// pair, as Linux's `unix_inq_len` gives for datagrams).
    pub fn pending(&self) -> usize {
        let p = self.pair.lock();
        let q = &p.queues[self.side];
        if p.ty.keeps_boundaries() {
            q.messages.front().map_or(0, Vec::len)
        } else {
            q.bytes.len()
        }
    }

    /// This end's inode number (`socket:[ino]`).
    pub fn ino(&self) -> u64 {
        self.pair.lock().ino[self.side]
    }
}

impl FileOps for UnixEnd {
    fn read(&self, _pos: &mut u64, buf: &mut [u8]) -> Result<usize, Errno> {
        self.receive(buf, false).map(|r| r.copied)
    }

    fn write(&self, _pos: &mut u64, buf: &[u8], _append: bool) -> Result<usize, Errno> {
        self.send(buf)
    }

    fn stat(&self) -> Result<Stat, Errno> {
        let p = self.pair.lock();
        Ok(Stat {
            dev: UNIX_SOCKFS_DEV,
            ino: p.ino[self.side],
            nlink: 1,
            mode: S_IFSOCK | 0o777,
            blksize: 4096,
            atime: p.created,
            mtime: p.created,
            ctime: p.created,
            btime: p.created,
            ..Stat::default()
        })
    }

    fn ioctl(&self, cmd: u32, _arg: u64) -> Result<IoctlReply, Errno> {
        match cmd {
            FIONREAD => Ok(IoctlReply::StoreInt(self.pending() as i32)),
            _ => Err(Errno::ENOTTY),
        }
    }

    /// Linux's `unix_poll`/`unix_dgram_poll`: readable with data or once nothing more can
    /// come (`POLLRDHUP` too), `POLLHUP` when both directions are shut, writable while the
    /// peer's queue has room and this end may send.
    fn poll(&self) -> u16 {
        let p = self.pair.lock();
        let (me, peer) = (self.side, 1 - self.side);
        let q = &p.queues[me];
        let mut ev = 0;
        if q.queued > 0 || !q.messages.is_empty() {
            ev |= POLLIN | POLLRDNORM;
        }
        if p.rcv_shut[me] {
            ev |= POLLRDHUP | POLLIN | POLLRDNORM;
        }
        if p.rcv_shut[me] && p.snd_shut[me] {
            ev |= POLLHUP;
        }
        // Writable while the peer's queue has room, whatever the shutdown state (a send then
        // fails at once with EPIPE or ECONNREFUSED), as Linux's `unix_writable`.
        let peer_q = &p.queues[peer];
        if UNIX_BUFFER.saturating_sub(peer_q.queued) > 0 && peer_q.messages.len() < MAX_MESSAGES {
            ev |= POLLOUT | POLLWRNORM;
        }
        ev
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
#[path = "unix_tests.rs"]
mod tests;
