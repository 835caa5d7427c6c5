//! Event interfaces (Linux's fs/eventpoll.c, fs/select.c, fs/timerfd.c): the dispatch of
//! epoll, select and timerfd calls ([`call`]), the epoll calls themselves, and [`readiness`]:
//! one descriptor's poll mask with the wait key (and its generation) that moves when the mask
//! may change, for every kind of file: sockets sleep on their own keys, an epoll instance on
//! its `epoll_ctl` key and its items' keys, every other file on `files::FILES_KEY` (pipes,
//! eventfds, and timerfds, whose expiry thread wakes it).
//!
//! Waiting never polls on a timer: `epoll_wait` and `select` read every key's generation
//! before the readiness it guards and sleep on all of them (past `wait::MAX_KEYS` keys the
//! sleep re-checks at `wait::POLL_RECHECK`, as `poll` does). The generation is also the change
//! token of edge triggering (`vfs::epoll`). Signal masks of `epoll_pwait`/`pselect6` are
//! checked and ignored, as `ppoll` does: these calls end early only when the program ends.

use alloc::vec::Vec;

use net::time::{Duration, Instant};
use vfs::epoll::{
    EpollEvent, Measured, EPOLL_CLOEXEC, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_EVENT_SIZE,
};
use vfs::file::{POLLERR, POLLIN, POLLRDNORM};
use vfs::flags::{O_RDWR, S_IFDIR, S_IFMT, S_IFREG};
use vfs::{Errno, OpenFile};

use super::fs::current;
use super::{events_select, events_timerfd, socket, uaccess, SysResult, Timespec};
use crate::files::epoll::{epoll_of, EpollFile};
use crate::files::{socket::socket_id, FILES_KEY};
use crate::{time, wait};

pub const SYS_SELECT: u64 = 23;
pub const SYS_EPOLL_CREATE: u64 = 213;
pub const SYS_EPOLL_WAIT: u64 = 232;
pub const SYS_EPOLL_CTL: u64 = 233;
pub const SYS_PSELECT6: u64 = 270;
pub const SYS_EPOLL_PWAIT: u64 = 281;
pub const SYS_TIMERFD_CREATE: u64 = 283;
pub const SYS_TIMERFD_SETTIME: u64 = 286;
pub const SYS_TIMERFD_GETTIME: u64 = 287;
pub const SYS_EPOLL_CREATE1: u64 = 291;
pub const SYS_EPOLL_PWAIT2: u64 = 441;

/// Linux's `EP_MAX_NESTS`: epoll instances inside epoll instances, at most this deep.
const MAX_NESTING: u32 = 4;
/// Size of the kernel's `sigset_t` (what `sigsetsize` must be).
const SIGSET_SIZE: u64 = 8;

/// The event call `nr`, or `None` when `nr` is not one.
pub fn call(nr: u64, a: [u64; 6]) -> Option<SysResult> {
    Some(match nr {
        SYS_EPOLL_CREATE => epoll_create(a[0] as i32),
        SYS_EPOLL_CREATE1 => epoll_create1(a[0] as u32),
        SYS_EPOLL_CTL => epoll_ctl(a[0] as i32, a[1] as i32, a[2] as i32, a[3]),
        SYS_EPOLL_WAIT => epoll_wait(a[0] as i32, a[1], a[2] as i32, ms_timeout(a[3] as i32)),
        SYS_EPOLL_PWAIT => check_sigmask(a[4], a[5])
            .and_then(|()| epoll_wait(a[0] as i32, a[1], a[2] as i32, ms_timeout(a[3] as i32))),
        SYS_EPOLL_PWAIT2 => check_sigmask(a[4], a[5])
            .and_then(|()| timespec_timeout(a[3]))
            .and_then(|t| epoll_wait(a[0] as i32, a[1], a[2] as i32, t)),
        SYS_SELECT => events_select::select(a[0] as i32, a[1], a[2], a[3], a[4]),
        SYS_PSELECT6 => events_select::pselect6(a[0] as i32, a[1], a[2], a[3], a[4], a[5]),
        SYS_TIMERFD_CREATE => events_timerfd::create(a[0] as i32, a[1] as u32),
        SYS_TIMERFD_SETTIME => events_timerfd::settime(a[0] as i32, a[1] as u32, a[2], a[3]),
        SYS_TIMERFD_GETTIME => events_timerfd::gettime(a[0] as i32, a[1]),
        _ => return None,
    })
}

/// A millisecond timeout: negative waits forever.
fn ms_timeout(ms: i32) -> Option<Duration> {
    (ms >= 0).then(|| Duration::from_millis(ms as u64))
}

/// A `struct timespec` timeout (NULL waits forever); `EINVAL` when malformed.
pub fn timespec_timeout(tsp: u64) -> Result<Option<Duration>, Errno> {
    if tsp == 0 {
        return Ok(None);
    }
    let ts: Timespec = uaccess::read(tsp)?;
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)))
}

/// A signal mask argument: checked (`EINVAL` for a wrong size, `EFAULT` for a bad pointer)
/// and ignored (see the module doc).
pub fn check_sigmask(mask: u64, size: u64) -> Result<(), Errno> {
    if mask == 0 {
        return Ok(());
    }
    if size != SIGSET_SIZE {
        return Err(Errno::EINVAL);
    }
    uaccess::read::<u64>(mask).map(|_| ())
}

/// Remember `key` (read at generation `gen`) for the sleep, once.
fn note_key(keys: &mut Vec<(u64, u64)>, key: u64, gen: u64) {
    if !keys.iter().any(|&(k, _)| k == key) && keys.try_reserve(1).is_ok() {
        keys.push((key, gen));
    }
}

/// `file`'s poll mask and change token, noting in `keys` what to sleep on for a change.
/// `depth` counts epoll instances above this one.
pub fn readiness(file: &OpenFile, depth: u32, keys: &mut Vec<(u64, u64)>) -> (u16, u64) {
    if let Some(id) = socket_id(file) {
        return match socket::poll_socket(id) {
            Ok((mask, key, gen)) => {
                note_key(keys, key, gen);
                (mask, gen)
            }
            Err(_) => (POLLERR, 0),
        };
    }
    if let Some(ep) = epoll_of(file) {
        let gen = wait::generation(ep.key());
        note_key(keys, ep.key(), gen);
        let ready = epoll_ready(ep, depth + 1, keys);
        return (if ready { POLLIN | POLLRDNORM } else { 0 }, gen);
    }
    let gen = wait::generation(FILES_KEY);
    note_key(keys, FILES_KEY, gen);
    (file.poll(), gen)
}

/// Measure every live item of `ep`.
fn measure(ep: &EpollFile, depth: u32, keys: &mut Vec<(u64, u64)>) -> Result<Vec<Measured>, Errno> {
    let items = ep.interest.lock().snapshot()?;
    let mut out = Vec::new();
    out.try_reserve_exact(items.len())
        .map_err(|_| Errno::ENOMEM)?;
    for (id, file) in &items {
        let (mask, token) = readiness(file, depth, keys);
        out.push(Measured {
            id: *id,
            mask: u32::from(mask),
            token,
        });
    }
    Ok(out)
}

/// Whether an epoll instance has something to report (its own readiness, level view).
pub fn epoll_ready(ep: &EpollFile, depth: u32, keys: &mut Vec<(u64, u64)>) -> bool {
    if depth > MAX_NESTING + 1 {
        return false;
    }
    match measure(ep, depth, keys) {
        Ok(m) => ep.interest.lock().any_ready(&m),
        Err(_) => false,
    }
}

fn epoll_create(size: i32) -> SysResult {
    if size <= 0 {
        return Err(Errno::EINVAL);
    }
    epoll_create1(0)
}

fn epoll_create1(flags: u32) -> SysResult {
    if flags & !EPOLL_CLOEXEC != 0 {
        return Err(Errno::EINVAL);
    }
    let p = current()?;
    let limit = p.files.lock().limit();
    let file = OpenFile::with_exact_flags(EpollFile::new(limit), O_RDWR);
    let fd = p.files.lock().install(file, flags & EPOLL_CLOEXEC != 0)?;
    Ok(i64::from(fd))
}

/// Whether epoll instance `inner` contains `outer` (directly or through nested instances),
/// or nests deeper than Linux allows: adding it would make a loop (`ELOOP`).
fn would_loop(inner: &EpollFile, outer: *const OpenFile, depth: u32) -> bool {
    if depth > MAX_NESTING {
        return true;
    }
    let Ok(items) = inner.interest.lock().snapshot() else {
        return true;
    };
    items.iter().any(|(_, f)| {
        core::ptr::eq(alloc::sync::Arc::as_ptr(f), outer)
            || epoll_of(f).is_some_and(|e| would_loop(e, outer, depth + 1))
    })
}

fn epoll_ctl(epfd: i32, op: i32, fd: i32, event: u64) -> SysResult {
    let ev = if op == EPOLL_CTL_DEL {
        EpollEvent { events: 0, data: 0 }
    } else {
        let mut b = [0u8; EPOLL_EVENT_SIZE];
        uaccess::copy_from_user(&mut b, event)?;
        EpollEvent::from_bytes(b)
    };
    let p = current()?;
    let (epf, target) = {
        let t = p.files.lock();
        (t.get(epfd)?, t.get(fd)?)
    };
    // Regular files and directories are always ready: Linux refuses to watch them.
    if socket_id(&target).is_none() {
        let mode = target.ops().stat().map_or(0, |s| s.mode) & S_IFMT;
        if mode == S_IFREG || mode == S_IFDIR {
            return Err(Errno::EPERM);
        }
    }
    let ep = epoll_of(&epf).ok_or(Errno::EINVAL)?;
    if epfd == fd
        || core::ptr::eq(
            alloc::sync::Arc::as_ptr(&epf),
            alloc::sync::Arc::as_ptr(&target),
        )
    {
        return Err(Errno::EINVAL);
    }
    let nested = epoll_of(&target);
    if op == EPOLL_CTL_ADD {
        if let Some(inner) = nested {
            if would_loop(inner, alloc::sync::Arc::as_ptr(&epf), 1) {
                return Err(Errno::ELOOP);
            }
        }
    }
    ep.interest
        .lock()
        .ctl(op, fd, &target, ev, nested.is_some())?;
    wait::wake_all(ep.key());
    Ok(0)
}

fn epoll_wait(epfd: i32, events: u64, maxevents: i32, timeout: Option<Duration>) -> SysResult {
    if maxevents <= 0 || maxevents as usize > i32::MAX as usize / EPOLL_EVENT_SIZE {
        return Err(Errno::EINVAL);
    }
    uaccess::check(events, EPOLL_EVENT_SIZE)?;
    let p = current()?;
    let epf = p.files.lock().get(epfd)?;
    let ep = epoll_of(&epf).ok_or(Errno::EINVAL)?;
    let deadline: Option<Instant> = timeout.map(|t| time::now() + t);
    let mut keys: Vec<(u64, u64)> = Vec::new();
    loop {
        keys.clear();
        note_key(&mut keys, ep.key(), wait::generation(ep.key()));
        let measured = measure(ep, 1, &mut keys)?;
        let ready = ep.interest.lock().report(&measured, maxevents as usize);
        if !ready.is_empty() {
            let mut bytes = Vec::new();
            bytes
                .try_reserve_exact(ready.len() * EPOLL_EVENT_SIZE)
                .map_err(|_| Errno::ENOMEM)?;
            for e in &ready {
                bytes.extend_from_slice(&e.to_bytes());
            }
            uaccess::copy_to_user(events, &bytes)?;
            return Ok(ready.len() as i64);
        }
        let expired = timeout == Some(Duration::ZERO) || deadline.is_some_and(|d| time::now() >= d);
        if expired {
            return Ok(0);
        }
        if crate::process::signal::interrupted(&p) {
            return Err(Errno::EINTR);
        }
        wait::sleep_on_any_if_unchanged(&keys, deadline);
    }
}
