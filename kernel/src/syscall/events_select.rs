//! `select` and `pselect6` (Linux's fs/select.c): three `fd_set` bit arrays of `nfds` bits
//! (whole 64-bit words, as the kernel reads them), evaluated with `events::readiness` and
//! written back holding only the ready descriptors; the result counts the bits set.
//!
//! Owns the errnos: `EINVAL` for a negative `nfds` or a malformed timeout, `EBADF` for a bit
//! set on a closed descriptor, `EFAULT` for a set or timeout that cannot be copied. `nfds` is
//! clamped to the descriptor table's limit (bits beyond cannot name open files), so the sets
//! copied are bounded. The remaining time is written back to the timeout (`timeval` for
//! `select`, `timespec` for `pselect6`), as Linux does without `STICKY_TIMEOUTS`.

use alloc::vec::Vec;

use net::time::{Duration, Instant};
use vfs::file::{POLLERR, POLLHUP, POLLIN, POLLOUT, POLLPRI, POLLRDNORM, POLLWRNORM};
use vfs::Errno;

use super::events::{check_sigmask, readiness, timespec_timeout};
use super::fs::current;
use super::{uaccess, SysResult, Timespec};
use crate::{time, wait};

/// `POLLRDBAND`, `POLLWRBAND` (Linux values).
const POLLRDBAND: u16 = 0x080;
const POLLWRBAND: u16 = 0x200;
/// What makes a descriptor readable, writable, exceptional for select (Linux's POLLIN_SET,
/// POLLOUT_SET, POLLEX_SET).
const IN_SET: u16 = POLLIN | POLLRDNORM | POLLRDBAND | POLLHUP | POLLERR;
const OUT_SET: u16 = POLLOUT | POLLWRNORM | POLLWRBAND | POLLERR;
const EX_SET: u16 = POLLPRI;

/// `struct timeval` (x86_64).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Timeval {
    tv_sec: i64,
    tv_usec: i64,
}

pub fn select(nfds: i32, rd: u64, wr: u64, ex: u64, tvp: u64) -> SysResult {
    let timeout = if tvp == 0 {
        None
    } else {
        let tv: Timeval = uaccess::read(tvp)?;
        // Linux folds whole seconds of microseconds into the seconds; only negatives fail.
        if tv.tv_sec < 0 || tv.tv_usec < 0 {
            return Err(Errno::EINVAL);
        }
        let secs = (tv.tv_sec as u64).saturating_add(tv.tv_usec as u64 / 1_000_000);
        Some(Duration::new(secs, (tv.tv_usec % 1_000_000) as u32 * 1000))
    };
    let (n, left) = do_select(nfds, [rd, wr, ex], timeout)?;
    if let Some(left) = left {
        let tv = Timeval {
            tv_sec: left.as_secs() as i64,
            tv_usec: i64::from(left.subsec_micros()),
        };
        uaccess::write(tvp, tv)?;
    }
    Ok(n)
}

pub fn pselect6(nfds: i32, rd: u64, wr: u64, ex: u64, tsp: u64, sig: u64) -> SysResult {
    let timeout = timespec_timeout(tsp)?;
    if sig != 0 {
        // { const sigset_t *ss; size_t ss_len; }
        let [mask, size]: [u64; 2] = uaccess::read(sig)?;
        check_sigmask(mask, size)?;
    }
    let (n, left) = do_select(nfds, [rd, wr, ex], timeout)?;
    if let Some(left) = left {
        let ts = Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        uaccess::write(tsp, ts)?;
    }
    Ok(n)
}

/// Read one set of `words` 64-bit words (zeros for a NULL set).
fn set_in(addr: u64, words: usize) -> Result<Vec<u64>, Errno> {
    let mut v = Vec::new();
    v.try_reserve_exact(words).map_err(|_| Errno::ENOMEM)?;
    v.resize(words, 0);
    if addr != 0 {
        let mut bytes = [0u8; 8];
        for (i, w) in v.iter_mut().enumerate() {
            uaccess::copy_from_user(&mut bytes, addr + (i * 8) as u64)?;
            *w = u64::from_ne_bytes(bytes);
        }
    }
    Ok(v)
}

fn set_out(addr: u64, set: &[u64]) -> Result<(), Errno> {
    if addr == 0 {
        return Ok(());
    }
    let mut bytes = Vec::new();
    bytes
        .try_reserve_exact(set.len() * 8)
        .map_err(|_| Errno::ENOMEM)?;
    for w in set {
        bytes.extend_from_slice(&w.to_ne_bytes());
    }
    uaccess::copy_to_user(addr, &bytes)
}

/// The ready count and, when there was a timeout, the time left of it.
fn do_select(
    nfds: i32,
    addrs: [u64; 3],
    timeout: Option<Duration>,
) -> Result<(i64, Option<Duration>), Errno> {
    if nfds < 0 {
        return Err(Errno::EINVAL);
    }
    let p = current()?;
    let nfds = (nfds as usize).min(p.files.lock().limit());
    let words = nfds.div_ceil(64);
    let mut want = [Vec::new(), Vec::new(), Vec::new()];
    for (w, &a) in want.iter_mut().zip(&addrs) {
        *w = set_in(a, words)?;
        // Bits at or past nfds are not looked at (nor written back set).
        if nfds % 64 != 0 {
            if let Some(last) = w.last_mut() {
                *last &= (1u64 << (nfds % 64)) - 1;
            }
        }
    }
    let start: Instant = time::now();
    let deadline = timeout.map(|t| start + t);
    let mut got = [Vec::new(), Vec::new(), Vec::new()];
    for g in got.iter_mut() {
        g.try_reserve_exact(words).map_err(|_| Errno::ENOMEM)?;
        g.resize(words, 0u64);
    }
    let mut keys: Vec<(u64, u64)> = Vec::new();
    loop {
        keys.clear();
        let mut count = 0i64;
        for w in 0..words {
            let any = want[0][w] | want[1][w] | want[2][w];
            for g in got.iter_mut() {
                g[w] = 0;
            }
            let mut bits = any;
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                let fd = (w * 64 + b) as i32;
                let file = p.files.lock().get(fd)?;
                let (mask, _) = readiness(&file, 0, &mut keys);
                for (i, set) in [IN_SET, OUT_SET, EX_SET].iter().enumerate() {
                    if want[i][w] & (1 << b) != 0 && mask & set != 0 {
                        got[i][w] |= 1 << b;
                        count += 1;
                    }
                }
            }
        }
        let now = time::now();
        let expired = timeout == Some(Duration::ZERO) || deadline.is_some_and(|d| now >= d);
        if count > 0 || expired {
            for (g, &a) in got.iter().zip(&addrs) {
                set_out(a, g)?;
            }
            let left = deadline.map(|d| d.saturating_since(now));
            return Ok((count, left));
        }
        if crate::process::signal::interrupted(&p) {
            return Err(Errno::EINTR);
        }
        wait::sleep_on_any_if_unchanged(&keys, deadline);
    }
}
