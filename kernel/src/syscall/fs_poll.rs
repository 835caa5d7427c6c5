//! `poll` and `ppoll` over every kind of descriptor (Linux's fs/select.c): sockets report
//! their protocol's readiness and sleep on their own wait keys; pipes and eventfds on
//! `files::FILES_KEY`; tmpfs files and the console are always ready.
//!
//! Owns the `struct pollfd` array: copied in whole (at most the descriptor limit of entries),
//! evaluated, copied back once. Every key's generation is read before its readiness, so a
//! change in between ends the sleep at once. `ppoll`'s signal mask is accepted and ignored
//! (no signals yet).

use alloc::vec::Vec;

use net::time::Duration;
use vfs::file::{POLLERR, POLLHUP, POLLNVAL};
use vfs::Errno;

use super::fs::current;
use super::{socket, uaccess, SysResult, Timespec};
use crate::files::{socket::socket_id, FILES_KEY};
use crate::process::Process;
use crate::{time, wait};

/// Bound on one call's descriptors (the descriptor table's own limit, Linux's RLIMIT_NOFILE).
const POLL_MAX_FDS: u64 = vfs::fdtable::DEFAULT_FD_LIMIT as u64;
/// Size of `struct pollfd`.
const POLLFD_SIZE: usize = 8;

pub fn poll(fds: u64, nfds: u64, timeout_ms: i32) -> SysResult {
    let timeout = (timeout_ms >= 0).then(|| Duration::from_millis(timeout_ms as u64));
    do_poll(fds, nfds, timeout)
}

pub fn ppoll(fds: u64, nfds: u64, tsp: u64, _sigmask: u64, _sigsetsize: usize) -> SysResult {
    let timeout = if tsp == 0 {
        None
    } else {
        let ts: Timespec = uaccess::read(tsp)?;
        if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
            return Err(Errno::EINVAL);
        }
        Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    };
    do_poll(fds, nfds, timeout)
}

/// Readiness of one descriptor, and the key (with its generation) to sleep on for a change.
fn readiness(p: &Process, fd: i32) -> (u16, Option<(u64, u64)>) {
    let Ok(file) = p.files.lock().get(fd) else {
        return (POLLNVAL, None);
    };
    if let Some(id) = socket_id(&file) {
        return match socket::poll_socket(id) {
            Ok((mask, key, gen)) => (mask, Some((key, gen))),
            Err(_) => (POLLERR, None),
        };
    }
    let gen = wait::generation(FILES_KEY);
    (file.poll(), Some((FILES_KEY, gen)))
}

fn do_poll(fds: u64, nfds: u64, timeout: Option<Duration>) -> SysResult {
    let p = current()?;
    if nfds > POLL_MAX_FDS {
        return Err(Errno::EINVAL);
    }
    let n = nfds as usize;
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(n * POLLFD_SIZE)
        .map_err(|_| Errno::ENOMEM)?;
    bytes.resize(n * POLLFD_SIZE, 0);
    uaccess::copy_from_user(&mut bytes, fds)?;
    uaccess::check(fds, bytes.len())?;
    let deadline = timeout.map(|t| time::now() + t);
    let mut keys: Vec<(u64, u64)> = Vec::new();
    keys.try_reserve_exact(n).map_err(|_| Errno::ENOMEM)?;
    loop {
        keys.clear();
        let mut ready = 0;
        for e in bytes.chunks_exact_mut(POLLFD_SIZE) {
            let fd = i32::from_ne_bytes([e[0], e[1], e[2], e[3]]);
            let events = u16::from_ne_bytes([e[4], e[5]]);
            let mask = if fd < 0 {
                0
            } else {
                let (mask, key) = readiness(&p, fd);
                if let Some(k) = key {
                    if !keys.contains(&k) {
                        keys.push(k);
                    }
                }
                mask
            };
            let revents = mask & (events | POLLERR | POLLHUP | POLLNVAL);
            e[6..8].copy_from_slice(&revents.to_ne_bytes());
            if revents != 0 {
                ready += 1;
            }
        }
        let expired = timeout == Some(Duration::ZERO) || deadline.is_some_and(|d| time::now() >= d);
        if ready > 0 || expired {
            uaccess::copy_to_user(fds, &bytes)?;
            return Ok(ready);
        }
        if crate::process::signal::interrupted(&p) {
            return Err(Errno::EINTR);
        }
        wait::sleep_on_any_if_unchanged(&keys, deadline);
    }
}
