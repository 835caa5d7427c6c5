//! epoll checks: errnos, level/edge/one-shot triggering on a pipe, an eventfd and a TCP
//! connection, wakeups from another thread, closing, nesting.

use std::io::Write;
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::Duration;

use progkit::sys::expect_errno;
use progkit::CheckResult;

use crate::sys::*;

/// A wait that must report: long enough for any loaded host, never reached when it works.
pub const LONG_MS: i32 = 20_000;

pub fn ensure(ok: bool, what: impl FnOnce() -> String) -> CheckResult {
    if ok {
        Ok(())
    } else {
        Err(what())
    }
}

pub fn e<T>(r: Result<T, Errno>, what: &str) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {}", e.name()))
}

/// Exactly these events, as (events, data).
pub fn expect_events(got: &[(u32, u64)], want: &[(u32, u64)], what: &str) -> CheckResult {
    ensure(got == want, || {
        format!("{what}: got {got:x?}, want {want:x?}")
    })
}

pub fn ctl_errors() -> CheckResult {
    expect_errno(
        epoll_create(0).map(|f| f as usize),
        Errno::EINVAL,
        "epoll_create(0)",
    )?;
    expect_errno(
        epoll_create1(1).map(|f| f as usize),
        Errno::EINVAL,
        "epoll_create1(1)",
    )?;
    let ep = e(epoll_create1(O_CLOEXEC), "epoll_create1")?;
    let old = e(epoll_create(1), "epoll_create(1)")?;
    let (r, w) = e(pipe(), "pipe")?;
    e(epoll_ctl(ep, CTL_ADD, r, EPOLLIN, 1), "add")?;
    expect_errno(
        epoll_ctl(ep, CTL_ADD, r, EPOLLIN, 1),
        Errno::EEXIST,
        "add twice",
    )?;
    expect_errno(
        epoll_ctl(ep, CTL_MOD, w, EPOLLOUT, 1),
        Errno::ENOENT,
        "mod unwatched",
    )?;
    expect_errno(
        epoll_ctl(ep, CTL_DEL, w, 0, 0),
        Errno::ENOENT,
        "del unwatched",
    )?;
    expect_errno(
        epoll_ctl(ep, CTL_ADD, 999, EPOLLIN, 0),
        Errno::EBADF,
        "add closed fd",
    )?;
    expect_errno(
        epoll_ctl(999, CTL_ADD, r, EPOLLIN, 0),
        Errno::EBADF,
        "closed epfd",
    )?;
    expect_errno(
        epoll_ctl(r, CTL_ADD, w, EPOLLIN, 0),
        Errno::EINVAL,
        "epfd not an epoll",
    )?;
    expect_errno(
        epoll_ctl(ep, CTL_ADD, ep, EPOLLIN, 0),
        Errno::EINVAL,
        "add to itself",
    )?;
    expect_errno(epoll_ctl(ep, 7, w, EPOLLIN, 0), Errno::EINVAL, "unknown op")?;
    let x = EPOLLIN | EPOLLEXCLUSIVE;
    expect_errno(
        epoll_ctl(ep, CTL_ADD, w, x | EPOLLONESHOT, 0),
        Errno::EINVAL,
        "exclusive+oneshot",
    )?;
    e(
        epoll_ctl(ep, CTL_ADD, w, EPOLLOUT | EPOLLEXCLUSIVE, 2),
        "add exclusive",
    )?;
    expect_errno(
        epoll_ctl(ep, CTL_MOD, w, EPOLLOUT, 2),
        Errno::EINVAL,
        "mod exclusive",
    )?;
    // A regular file is always ready: Linux refuses to watch it.
    let file = e(
        std::fs::File::open(progkit::program_path("epoll-test")).map_err(|_| Errno::ENOENT),
        "open own binary",
    )?;
    expect_errno(
        epoll_ctl(ep, CTL_ADD, file.as_raw_fd(), EPOLLIN, 0),
        Errno::EPERM,
        "regular file",
    )?;
    expect_errno(epoll_wait_raw(ep, 0), Errno::EINVAL, "maxevents 0")?;
    expect_errno(epoll_wait_raw(ep, -1), Errno::EINVAL, "maxevents -1")?;
    expect_errno(
        epoll_wait_raw(ep, i32::MAX / 12 + 1),
        Errno::EINVAL,
        "maxevents too big",
    )?;
    expect_errno(epoll_wait_raw(r, 1), Errno::EINVAL, "wait on a pipe")?;
    e(epoll_ctl(ep, CTL_DEL, r, 0, 0), "del")?;
    for fd in [ep, old, r, w] {
        let _ = close(fd);
    }
    Ok(())
}

pub fn level_pipe() -> CheckResult {
    let ep = e(epoll_create1(0), "epoll_create1")?;
    let (r, w) = e(pipe(), "pipe")?;
    e(epoll_ctl(ep, CTL_ADD, r, EPOLLIN, 0xabcd_0000_1234), "add")?;
    expect_events(&e(epoll_wait(ep, 4, 0), "wait empty")?, &[], "empty pipe")?;
    e(write(w, b"hello"), "write")?;
    for round in 0..3 {
        let got = e(epoll_wait(ep, 4, LONG_MS), "wait")?;
        expect_events(
            &got,
            &[(EPOLLIN, 0xabcd_0000_1234)],
            &format!("level round {round}"),
        )?;
    }
    let got = e(epoll_pwait(ep, 4, LONG_MS), "epoll_pwait")?;
    expect_events(&got, &[(EPOLLIN, 0xabcd_0000_1234)], "epoll_pwait")?;
    let got = e(epoll_pwait2(ep, 4, &ms(0)), "epoll_pwait2")?;
    expect_events(&got, &[(EPOLLIN, 0xabcd_0000_1234)], "epoll_pwait2")?;
    let mut buf = [0u8; 16];
    e(read(r, &mut buf), "read")?;
    expect_events(
        &e(epoll_wait(ep, 4, 0), "wait drained")?,
        &[],
        "drained pipe",
    )?;
    // The writer's end closed: the read end hangs up, reported unasked.
    let _ = close(w);
    let got = e(epoll_wait(ep, 4, LONG_MS), "wait hangup")?;
    expect_events(&got, &[(EPOLLHUP, 0xabcd_0000_1234)], "hangup")?;
    let _ = close(r);
    let _ = close(ep);
    Ok(())
}

pub fn edge_pipe() -> CheckResult {
    let ep = e(epoll_create1(0), "epoll_create1")?;
    let (r, w) = e(pipe(), "pipe")?;
    e(epoll_ctl(ep, CTL_ADD, r, EPOLLIN | EPOLLET, 5), "add")?;
    e(write(w, b"a"), "write")?;
    expect_events(
        &e(epoll_wait(ep, 4, LONG_MS), "wait")?,
        &[(EPOLLIN, 5)],
        "first edge",
    )?;
    expect_events(&e(epoll_wait(ep, 4, 0), "wait")?, &[], "no new edge")?;
    e(write(w, b"b"), "write again")?;
    expect_events(
        &e(epoll_wait(ep, 4, LONG_MS), "wait")?,
        &[(EPOLLIN, 5)],
        "second edge",
    )?;
    expect_events(&e(epoll_wait(ep, 4, 0), "wait")?, &[], "no third edge")?;
    // MOD re-arms: the data still there is reported again.
    e(epoll_ctl(ep, CTL_MOD, r, EPOLLIN | EPOLLET, 6), "mod")?;
    expect_events(
        &e(epoll_wait(ep, 4, LONG_MS), "wait")?,
        &[(EPOLLIN, 6)],
        "after mod",
    )?;
    for fd in [ep, r, w] {
        let _ = close(fd);
    }
    Ok(())
}

pub fn oneshot_eventfd() -> CheckResult {
    let ep = e(epoll_create1(0), "epoll_create1")?;
    let efd = e(eventfd(0, O_NONBLOCK), "eventfd")?;
    e(
        epoll_ctl(ep, CTL_ADD, efd, EPOLLIN | EPOLLONESHOT, 77),
        "add",
    )?;
    expect_events(&e(epoll_wait(ep, 4, 0), "wait")?, &[], "zero counter")?;
    e(write_u64(efd, 3), "write")?;
    expect_events(
        &e(epoll_wait(ep, 4, LONG_MS), "wait")?,
        &[(EPOLLIN, 77)],
        "one shot",
    )?;
    expect_events(&e(epoll_wait(ep, 4, 0), "wait")?, &[], "disarmed")?;
    e(write_u64(efd, 1), "write")?;
    expect_events(&e(epoll_wait(ep, 4, 0), "wait")?, &[], "still disarmed")?;
    e(
        epoll_ctl(ep, CTL_MOD, efd, EPOLLIN | EPOLLONESHOT, 78),
        "mod",
    )?;
    expect_events(
        &e(epoll_wait(ep, 4, LONG_MS), "wait")?,
        &[(EPOLLIN, 78)],
        "re-armed",
    )?;
    let v = e(read_u64(efd), "read")?;
    ensure(v == 4, || format!("eventfd counter {v}, want 4"))?;
    // Writable (EPOLLOUT) and level-triggered with another data.
    e(epoll_ctl(ep, CTL_MOD, efd, EPOLLIN | EPOLLOUT, 79), "mod")?;
    expect_events(
        &e(epoll_wait(ep, 4, LONG_MS), "wait")?,
        &[(EPOLLOUT, 79)],
        "writable",
    )?;
    let _ = close(efd);
    let _ = close(ep);
    Ok(())
}

pub fn tcp_loopback() -> CheckResult {
    let listener = e(
        TcpListener::bind("127.0.0.1:0").map_err(|_| Errno::EADDRINUSE),
        "bind",
    )?;
    let addr = e(
        listener.local_addr().map_err(|_| Errno::EINVAL),
        "local_addr",
    )?;
    let ep = e(epoll_create1(0), "epoll_create1")?;
    e(
        epoll_ctl(ep, CTL_ADD, listener.as_raw_fd(), EPOLLIN, 1),
        "add listener",
    )?;
    let mut client = e(
        TcpStream::connect(addr).map_err(|_| Errno::ECONNREFUSED),
        "connect",
    )?;
    expect_events(
        &e(epoll_wait(ep, 4, LONG_MS), "wait")?,
        &[(EPOLLIN, 1)],
        "listener",
    )?;
    let (server, _) = e(listener.accept().map_err(|_| Errno::EAGAIN), "accept")?;
    let sfd = server.as_raw_fd();
    e(
        epoll_ctl(ep, CTL_DEL, listener.as_raw_fd(), 0, 0),
        "del listener",
    )?;
    e(
        epoll_ctl(ep, CTL_ADD, sfd, EPOLLIN | EPOLLRDHUP | EPOLLET, 2),
        "add server",
    )?;
    expect_events(&e(epoll_wait(ep, 4, 0), "wait")?, &[], "nothing sent")?;
    e(client.write_all(b"ping").map_err(|_| Errno::EIO), "send")?;
    expect_events(
        &e(epoll_wait(ep, 4, LONG_MS), "wait")?,
        &[(EPOLLIN, 2)],
        "data",
    )?;
    expect_events(&e(epoll_wait(ep, 4, 0), "wait")?, &[], "edge reported once")?;
    let mut buf = [0u8; 8];
    let n = e(read(sfd, &mut buf), "recv")?;
    ensure(&buf[..n] == b"ping", || format!("received {:?}", &buf[..n]))?;
    e(
        client.shutdown(Shutdown::Write).map_err(|_| Errno::EIO),
        "shutdown",
    )?;
    let got = e(epoll_wait(ep, 4, LONG_MS), "wait")?;
    expect_events(&got, &[(EPOLLIN | EPOLLRDHUP, 2)], "peer shut down")?;
    // The client end: writable at once, level-triggered.
    e(
        epoll_ctl(ep, CTL_ADD, client.as_raw_fd(), EPOLLOUT, 3),
        "add client",
    )?;
    e(epoll_ctl(ep, CTL_DEL, sfd, 0, 0), "del server")?;
    expect_events(
        &e(epoll_wait(ep, 4, LONG_MS), "wait")?,
        &[(EPOLLOUT, 3)],
        "writable",
    )?;
    let _ = close(ep);
    Ok(())
}

pub fn woken_by_thread() -> CheckResult {
    let ep = e(epoll_create1(0), "epoll_create1")?;
    let efd = e(eventfd(0, 0), "eventfd")?;
    e(epoll_ctl(ep, CTL_ADD, efd, EPOLLIN, 9), "add")?;
    let writer = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        write_u64(efd, 1)
    });
    let got = e(epoll_wait(ep, 4, -1), "wait forever")?;
    let _ = writer.join();
    expect_events(&got, &[(EPOLLIN, 9)], "woken")?;
    // A descriptor added by another thread while this one waits is watched at once.
    let (r, w) = e(pipe(), "pipe")?;
    e(write(w, b"x"), "write")?;
    let _ = read_u64(efd);
    let adder = thread::spawn(move || {
        thread::sleep(Duration::from_millis(50));
        epoll_ctl(ep, CTL_ADD, r, EPOLLIN, 10)
    });
    let got = e(epoll_wait(ep, 4, -1), "wait for the added fd")?;
    let added = adder.join().map_err(|_| "adder panicked".to_string())?;
    e(added, "add from a thread")?;
    expect_events(&got, &[(EPOLLIN, 10)], "added while waiting")?;
    for fd in [ep, efd, r, w] {
        let _ = close(fd);
    }
    Ok(())
}

pub fn close_forgets() -> CheckResult {
    let ep = e(epoll_create1(0), "epoll_create1")?;
    let efd = e(eventfd(1, 0), "eventfd")?;
    e(epoll_ctl(ep, CTL_ADD, efd, EPOLLIN, 4), "add")?;
    expect_events(
        &e(epoll_wait(ep, 4, LONG_MS), "wait")?,
        &[(EPOLLIN, 4)],
        "ready",
    )?;
    e(close(efd), "close")?;
    expect_events(
        &e(epoll_wait(ep, 4, 0), "wait")?,
        &[],
        "closed file forgotten",
    )?;
    expect_errno(
        epoll_ctl(ep, CTL_DEL, efd, 0, 0),
        Errno::EBADF,
        "del closed",
    )?;
    let _ = close(ep);
    Ok(())
}

pub fn nested() -> CheckResult {
    let outer = e(epoll_create1(0), "outer")?;
    let inner = e(epoll_create1(0), "inner")?;
    let (r, w) = e(pipe(), "pipe")?;
    e(epoll_ctl(inner, CTL_ADD, r, EPOLLIN, 1), "inner add")?;
    e(epoll_ctl(outer, CTL_ADD, inner, EPOLLIN, 2), "outer add")?;
    expect_events(&e(epoll_wait(outer, 4, 0), "wait")?, &[], "nothing yet")?;
    e(write(w, b"x"), "write")?;
    expect_events(
        &e(epoll_wait(outer, 4, LONG_MS), "wait")?,
        &[(EPOLLIN, 2)],
        "outer",
    )?;
    expect_events(
        &e(epoll_wait(inner, 4, LONG_MS), "wait")?,
        &[(EPOLLIN, 1)],
        "inner",
    )?;
    expect_errno(
        epoll_ctl(inner, CTL_ADD, outer, EPOLLIN, 3),
        Errno::ELOOP,
        "loop",
    )?;
    for fd in [outer, inner, r, w] {
        let _ = close(fd);
    }
    Ok(())
}
