//! The calls the checks make, as raw system calls through `progkit::sys::syscall` (Linux
//! x86-64 numbers), each returning the exact errno; user memory is passed as addresses of
//! this program's own values.

use std::os::fd::RawFd;

use progkit::sys::syscall;
pub use progkit::sys::{close, read, write};
pub use progkit::Errno;

pub const SYS_SELECT: i64 = 23;
pub const SYS_EPOLL_CREATE: i64 = 213;
pub const SYS_EPOLL_WAIT: i64 = 232;
pub const SYS_EPOLL_CTL: i64 = 233;
pub const SYS_PSELECT6: i64 = 270;
pub const SYS_EPOLL_PWAIT: i64 = 281;
pub const SYS_TIMERFD_CREATE: i64 = 283;
pub const SYS_TIMERFD_SETTIME: i64 = 286;
pub const SYS_TIMERFD_GETTIME: i64 = 287;
pub const SYS_EVENTFD2: i64 = 290;
pub const SYS_EPOLL_CREATE1: i64 = 291;
pub const SYS_PIPE2: i64 = 293;
pub const SYS_EPOLL_PWAIT2: i64 = 441;

pub const EPOLLIN: u32 = 0x001;
pub const EPOLLOUT: u32 = 0x004;
pub const EPOLLHUP: u32 = 0x010;
pub const EPOLLRDHUP: u32 = 0x2000;
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;
pub const CTL_ADD: i32 = 1;
pub const CTL_DEL: i32 = 2;
pub const CTL_MOD: i32 = 3;
pub const O_NONBLOCK: u64 = 0o4000;
pub const O_CLOEXEC: u64 = 0o2000000;
pub const CLOCK_REALTIME: u64 = 0;
pub const CLOCK_MONOTONIC: u64 = 1;
pub const TFD_TIMER_ABSTIME: u64 = 1;

/// `struct epoll_event` as x86-64 lays it out: packed, 12 bytes.
#[repr(C, packed)]
#[derive(Clone, Copy, Default)]
pub struct EpollEvent {
    pub events: u32,
    pub data: u64,
}

/// `struct timespec`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: i64,
}

/// `struct itimerspec`: interval, then value.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Itimerspec {
    pub interval: Timespec,
    pub value: Timespec,
}

fn fd(r: Result<usize, Errno>) -> Result<RawFd, Errno> {
    r.map(|v| v as RawFd)
}

pub fn pipe() -> Result<(RawFd, RawFd), Errno> {
    let mut fds = [0i32; 2];
    syscall(SYS_PIPE2, [fds.as_mut_ptr() as u64, 0, 0, 0, 0, 0])?;
    Ok((fds[0], fds[1]))
}

pub fn eventfd(init: u32, flags: u64) -> Result<RawFd, Errno> {
    fd(syscall(SYS_EVENTFD2, [u64::from(init), flags, 0, 0, 0, 0]))
}

pub fn epoll_create1(flags: u64) -> Result<RawFd, Errno> {
    fd(syscall(SYS_EPOLL_CREATE1, [flags, 0, 0, 0, 0, 0]))
}

pub fn epoll_create(size: i32) -> Result<RawFd, Errno> {
    fd(syscall(SYS_EPOLL_CREATE, [size as u64, 0, 0, 0, 0, 0]))
}

pub fn epoll_ctl(
    ep: RawFd,
    op: i32,
    target: RawFd,
    events: u32,
    data: u64,
) -> Result<usize, Errno> {
    let ev = EpollEvent { events, data };
    let at = &ev as *const EpollEvent as u64;
    syscall(
        SYS_EPOLL_CTL,
        [ep as u64, op as u64, target as u64, at, 0, 0],
    )
}

/// `epoll_wait` into `out`, returning the events reported as (events, data).
pub fn epoll_wait(ep: RawFd, max: usize, timeout_ms: i32) -> Result<Vec<(u32, u64)>, Errno> {
    let mut out = vec![EpollEvent::default(); max.max(1)];
    let n = syscall(
        SYS_EPOLL_WAIT,
        [
            ep as u64,
            out.as_mut_ptr() as u64,
            max as u64,
            timeout_ms as u64,
            0,
            0,
        ],
    )?;
    Ok(out[..n].iter().map(|e| (e.events, e.data)).collect())
}

/// `epoll_pwait2` with a `timespec` timeout and no signal mask.
pub fn epoll_pwait2(ep: RawFd, max: usize, timeout: &Timespec) -> Result<Vec<(u32, u64)>, Errno> {
    let mut out = vec![EpollEvent::default(); max.max(1)];
    let n = syscall(
        SYS_EPOLL_PWAIT2,
        [
            ep as u64,
            out.as_mut_ptr() as u64,
            max as u64,
            timeout as *const _ as u64,
            0,
            8,
        ],
    )?;
    Ok(out[..n].iter().map(|e| (e.events, e.data)).collect())
}

/// `epoll_pwait` with an empty signal mask.
pub fn epoll_pwait(ep: RawFd, max: usize, timeout_ms: i32) -> Result<Vec<(u32, u64)>, Errno> {
    let mut out = vec![EpollEvent::default(); max.max(1)];
    let mask = 0u64;
    let n = syscall(
        SYS_EPOLL_PWAIT,
        [
            ep as u64,
            out.as_mut_ptr() as u64,
            max as u64,
            timeout_ms as u64,
            &mask as *const u64 as u64,
            8,
        ],
    )?;
    Ok(out[..n].iter().map(|e| (e.events, e.data)).collect())
}

/// Raw `epoll_wait` with any `maxevents` (for its errnos).
pub fn epoll_wait_raw(ep: RawFd, max: i32) -> Result<usize, Errno> {
    let mut out = [EpollEvent::default(); 4];
    syscall(
        SYS_EPOLL_WAIT,
        [ep as u64, out.as_mut_ptr() as u64, max as u64, 0, 0, 0],
    )
}

/// `select` over three 1024-bit sets with a `timeval` timeout (`None`: wait forever);
/// returns the count and writes back sets and timeout.
pub fn select(
    nfds: i32,
    sets: &mut [[u64; 16]; 3],
    timeout: Option<&mut [i64; 2]>,
) -> Result<usize, Errno> {
    let [r, w, e] = sets;
    let tv = timeout.map_or(0, |t| t.as_mut_ptr() as u64);
    syscall(
        SYS_SELECT,
        [
            nfds as u64,
            r.as_mut_ptr() as u64,
            w.as_mut_ptr() as u64,
            e.as_mut_ptr() as u64,
            tv,
            0,
        ],
    )
}

/// `pselect6` on a read set only, with a `timespec` timeout and no signal mask.
pub fn pselect_read(
    nfds: i32,
    set: &mut [u64; 16],
    timeout: &mut Timespec,
) -> Result<usize, Errno> {
    syscall(
        SYS_PSELECT6,
        [
            nfds as u64,
            set.as_mut_ptr() as u64,
            0,
            0,
            timeout as *mut _ as u64,
            0,
        ],
    )
}

pub fn timerfd_create(clock: u64, flags: u64) -> Result<RawFd, Errno> {
    fd(syscall(SYS_TIMERFD_CREATE, [clock, flags, 0, 0, 0, 0]))
}

/// Arm `fd`: first expiry `value`, then every `interval`; returns the old setting.
pub fn timerfd_settime(
    fd: RawFd,
    flags: u64,
    value: Timespec,
    interval: Timespec,
) -> Result<Itimerspec, Errno> {
    let new = Itimerspec { interval, value };
    let mut old = Itimerspec::default();
    syscall(
        SYS_TIMERFD_SETTIME,
        [
            fd as u64,
            flags,
            &new as *const _ as u64,
            &mut old as *mut _ as u64,
            0,
            0,
        ],
    )?;
    Ok(old)
}

pub fn timerfd_gettime(fd: RawFd) -> Result<Itimerspec, Errno> {
    let mut cur = Itimerspec::default();
    syscall(
        SYS_TIMERFD_GETTIME,
        [fd as u64, &mut cur as *mut _ as u64, 0, 0, 0, 0],
    )?;
    Ok(cur)
}

/// Read one `u64` (an eventfd's counter, a timerfd's expirations).
pub fn read_u64(fd: RawFd) -> Result<u64, Errno> {
    let mut b = [0u8; 8];
    read(fd, &mut b)?;
    Ok(u64::from_ne_bytes(b))
}

pub fn write_u64(fd: RawFd, v: u64) -> Result<usize, Errno> {
    write(fd, &v.to_ne_bytes())
}

/// `clock_gettime(clock)`.
pub fn now(clock: u64) -> Timespec {
    let mut ts = Timespec::default();
    let _ = syscall(228, [clock, &mut ts as *mut _ as u64, 0, 0, 0, 0]);
    ts
}

pub fn ms(ms: i64) -> Timespec {
    Timespec {
        sec: ms / 1000,
        nsec: (ms % 1000) * 1_000_000,
    }
}

/// Set bit `fd` of an `fd_set`.
pub fn fd_set(set: &mut [u64; 16], fd: RawFd) {
    set[fd as usize / 64] |= 1 << (fd as usize % 64);
}

pub fn fd_isset(set: &[u64; 16], fd: RawFd) -> bool {
    set[fd as usize / 64] & (1 << (fd as usize % 64)) != 0
}
