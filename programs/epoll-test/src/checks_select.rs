//! select/pselect6 and timerfd checks.

use progkit::sys::expect_errno;
use progkit::CheckResult;

use crate::checks_epoll::{e, ensure, expect_events, LONG_MS};
use crate::sys::*;

pub fn select_pipe() -> CheckResult {
    let (r, w) = e(pipe(), "pipe")?;
    let nfds = r.max(w) + 1;
    // Nothing to read: a zero timeout returns 0 with the sets cleared.
    let mut sets = [[0u64; 16]; 3];
    fd_set(&mut sets[0], r);
    let mut tv = [0i64, 0];
    let n = e(select(nfds, &mut sets, Some(&mut tv)), "select empty")?;
    ensure(n == 0 && !fd_isset(&sets[0], r), || {
        format!("empty pipe: {n} ready")
    })?;
    // A short timeout that passes: 0, and the time left written back (none).
    let mut sets = [[0u64; 16]; 3];
    fd_set(&mut sets[0], r);
    let mut tv = [0i64, 20_000];
    let n = e(select(nfds, &mut sets, Some(&mut tv)), "select timeout")?;
    ensure(n == 0 && tv == [0, 0], || {
        format!("timed out: {n} ready, time left {tv:?}")
    })?;
    // Readable and writable.
    e(write(w, b"data"), "write")?;
    let mut sets = [[0u64; 16]; 3];
    fd_set(&mut sets[0], r);
    fd_set(&mut sets[1], w);
    fd_set(&mut sets[2], r);
    let n = e(select(nfds, &mut sets, None), "select ready")?;
    ensure(
        n == 2 && fd_isset(&sets[0], r) && fd_isset(&sets[1], w),
        || {
            format!(
                "ready: {n}, read set {:x}, write set {:x}",
                sets[0][0], sets[1][0]
            )
        },
    )?;
    ensure(!fd_isset(&sets[2], r), || {
        "pipe reported exceptional".to_string()
    })?;
    // pselect6 with a timespec, left time written back.
    let mut set = [0u64; 16];
    fd_set(&mut set, r);
    let mut ts = ms(LONG_MS.into());
    let n = e(pselect_read(nfds, &mut set, &mut ts), "pselect6")?;
    ensure(n == 1 && fd_isset(&set, r), || {
        format!("pselect6: {n} ready")
    })?;
    ensure(ts.sec <= i64::from(LONG_MS) / 1000, || {
        format!("pselect6 left {ts:?}")
    })?;
    // Errnos.
    let mut sets = [[0u64; 16]; 3];
    expect_errno(select(-1, &mut sets, None), Errno::EINVAL, "negative nfds")?;
    let (closed, other) = e(pipe(), "pipe")?;
    let _ = close(closed);
    fd_set(&mut sets[0], closed);
    let mut zero = [0i64, 0];
    let r2 = select(closed.max(other) + 1, &mut sets, Some(&mut zero));
    let _ = close(other);
    expect_errno(r2, Errno::EBADF, "closed fd in a set")?;
    let mut sets = [[0u64; 16]; 3];
    let mut bad = [-1i64, 0];
    expect_errno(
        select(1, &mut sets, Some(&mut bad)),
        Errno::EINVAL,
        "bad timeval",
    )?;
    let _ = close(r);
    let _ = close(w);
    Ok(())
}

pub fn timerfd_basic() -> CheckResult {
    expect_errno(
        timerfd_create(99, 0).map(|f| f as usize),
        Errno::EINVAL,
        "bad clock",
    )?;
    expect_errno(
        timerfd_create(CLOCK_MONOTONIC, 1).map(|f| f as usize),
        Errno::EINVAL,
        "bad flags",
    )?;
    let t = e(
        timerfd_create(CLOCK_MONOTONIC, O_NONBLOCK),
        "timerfd_create",
    )?;
    expect_errno(
        read_u64(t).map(|v| v as usize),
        Errno::EAGAIN,
        "disarmed read",
    )?;
    let mut small = [0u8; 4];
    expect_errno(read(t, &mut small), Errno::EINVAL, "short read")?;
    let bad = Timespec {
        sec: 0,
        nsec: 1_000_000_000,
    };
    expect_errno(
        timerfd_settime(t, 0, bad, Timespec::default()).map(|_| 0),
        Errno::EINVAL,
        "bad timespec",
    )?;
    let efd = e(eventfd(0, 0), "eventfd")?;
    expect_errno(
        timerfd_gettime(efd).map(|_| 0),
        Errno::EINVAL,
        "gettime on an eventfd",
    )?;
    let _ = close(efd);
    // Armed far away: not expired, gettime shows the time left and the interval.
    e(timerfd_settime(t, 0, ms(60_000), ms(500)), "arm")?;
    let cur = e(timerfd_gettime(t), "gettime")?;
    ensure(
        cur.value.sec <= 60 && cur.value != Timespec::default(),
        || format!("value {cur:?}"),
    )?;
    ensure(cur.interval == ms(500), || format!("interval {cur:?}"))?;
    expect_errno(
        read_u64(t).map(|v| v as usize),
        Errno::EAGAIN,
        "not expired",
    )?;
    // Disarm: the old setting comes back, gettime reads zero.
    let old = e(
        timerfd_settime(t, 0, Timespec::default(), Timespec::default()),
        "disarm",
    )?;
    ensure(old.interval == ms(500), || format!("old setting {old:?}"))?;
    let cur = e(timerfd_gettime(t), "gettime")?;
    ensure(cur.value == Timespec::default(), || {
        format!("disarmed reads {cur:?}")
    })?;
    // An absolute time on CLOCK_REALTIME in the past expires at once.
    let rt = e(
        timerfd_create(CLOCK_REALTIME, O_NONBLOCK),
        "realtime timerfd",
    )?;
    let past = now(CLOCK_REALTIME);
    let past = Timespec {
        sec: past.sec - 1,
        ..past
    };
    e(
        timerfd_settime(rt, TFD_TIMER_ABSTIME, past, Timespec::default()),
        "abs arm",
    )?;
    let n = e(read_u64(rt), "abs read")?;
    ensure(n == 1, || format!("absolute past timer: {n} expirations"))?;
    expect_errno(
        read_u64(rt).map(|v| v as usize),
        Errno::EAGAIN,
        "read twice",
    )?;
    let _ = close(rt);
    let _ = close(t);
    Ok(())
}

pub fn timerfd_wakes() -> CheckResult {
    // A blocking read sleeps until the timer expires.
    let t = e(timerfd_create(CLOCK_MONOTONIC, 0), "timerfd_create")?;
    e(timerfd_settime(t, 0, ms(30), Timespec::default()), "arm")?;
    let n = e(read_u64(t), "blocking read")?;
    ensure(n == 1, || format!("one-shot timer: {n} expirations"))?;
    // An interval timer as an epoll source, absolute on the monotonic clock.
    let ep = e(epoll_create1(0), "epoll_create1")?;
    e(epoll_ctl(ep, CTL_ADD, t, EPOLLIN, 8), "add")?;
    expect_events(
        &e(epoll_wait(ep, 4, 0), "wait")?,
        &[],
        "disarmed after expiry",
    )?;
    let start = now(CLOCK_MONOTONIC);
    let at = Timespec {
        sec: start.sec + (start.nsec + 20_000_000) / 1_000_000_000,
        nsec: (start.nsec + 20_000_000) % 1_000_000_000,
    };
    e(
        timerfd_settime(t, TFD_TIMER_ABSTIME, at, ms(10)),
        "arm interval",
    )?;
    for round in 0..3 {
        let got = e(epoll_wait(ep, 4, LONG_MS), "wait")?;
        expect_events(&got, &[(EPOLLIN, 8)], &format!("tick {round}"))?;
        let n = e(read_u64(t), "read ticks")?;
        ensure(n >= 1, || format!("tick {round}: {n} expirations"))?;
    }
    let _ = close(ep);
    let _ = close(t);
    Ok(())
}
