//! Descriptor checks: bad descriptors, socket calls on the console, `socket`, `poll` and
//! `fcntl` on the standard descriptors.

use std::time::{Duration, Instant};

use progkit::sys::{self, expect_errno, sockaddr_in};
use progkit::{on_rinet, CheckResult, Errno};

pub fn close_bad_fd() -> CheckResult {
    expect_errno(sys::close(99), Errno::EBADF, "close(99)")?;
    expect_errno(sys::listen(99, 1), Errno::EBADF, "listen(99)")?;
    let mut buf = [0u8; 4];
    expect_errno(sys::recv(99, &mut buf, 0), Errno::EBADF, "recv(99)")
}

pub fn console_not_socket() -> CheckResult {
    expect_errno(sys::listen(1, 1), Errno::ENOTSOCK, "listen(1)")?;
    expect_errno(
        sys::connect(2, &sockaddr_in([127, 0, 0, 1], 7)),
        Errno::ENOTSOCK,
        "connect(2)",
    )?;
    let mut fds = [sys::pollfd(1, libc::POLLOUT)];
    if sys::poll(&mut fds, 0) != Ok(1) || fds[0].revents != libc::POLLOUT {
        return Err("poll did not report stdout writable".into());
    }
    Ok(())
}

pub fn socket_answers() -> CheckResult {
    match sys::socket(libc::AF_INET, libc::SOCK_DGRAM) {
        Err(Errno::ENETDOWN) => {
            println!("user-test: socket() -> ENETDOWN (no network stack)");
            Ok(())
        }
        Err(e) => Err(format!(
            "socket() neither succeeded nor said ENETDOWN: {}",
            e.name()
        )),
        Ok(fd) if fd < 3 => Err(format!("socket() returned {fd}, a standard descriptor")),
        Ok(fd) => sys::close(fd)
            .map(drop)
            .map_err(|e| format!("close of a new socket: {}", e.name())),
    }
}

pub fn poll_checks() -> CheckResult {
    let mut fds = [
        sys::pollfd(1, libc::POLLOUT | libc::POLLIN),
        sys::pollfd(99, libc::POLLIN),
        sys::pollfd(-1, libc::POLLIN),
    ];
    fds[2].revents = 7;
    if sys::poll(&mut fds, -1) != Ok(2) {
        return Err("poll did not count stdout and the bad fd".into());
    }
    // rinet's stdout is the console, whose reads answer EOF at once (so it polls readable,
    // like /dev/null); natively it is whatever the caller gave, and a file is readable too.
    let stdout = fds[0].revents & !libc::POLLIN;
    if stdout != libc::POLLOUT || fds[1].revents != libc::POLLNVAL || fds[2].revents != 0 {
        return Err(format!(
            "poll revents {:#x} {:#x} {:#x}, want stdout POLLOUT, fd 99 POLLNVAL, fd -1 nothing",
            fds[0].revents, fds[1].revents, fds[2].revents
        ));
    }
    let t0 = Instant::now();
    if sys::poll(&mut [], 30) != Ok(0) {
        return Err("poll with no fds did not time out with 0".into());
    }
    if t0.elapsed() < Duration::from_millis(30) {
        return Err("poll returned before its 30 ms timeout".into());
    }
    Ok(())
}

pub fn console_fds() -> CheckResult {
    // Bounded: a terminal as stdin would make read(0) wait for a line. rinet's console reads
    // as end of file without reporting POLLIN (see poll_checks): there read(0) is asked anyway.
    let mut fds = [sys::pollfd(0, libc::POLLIN)];
    if sys::poll(&mut fds, 1000) != Ok(1) && !on_rinet() {
        return Err("stdin is not readable (want end of file)".into());
    }
    let mut buf = [0u8; 8];
    if sys::read(0, &mut buf) != Ok(0) {
        return Err("read(0) is not end of file".into());
    }
    let flags =
        sys::fcntl(1, libc::F_GETFL, 0).map_err(|e| format!("fcntl(1, F_GETFL): {}", e.name()))?;
    // rinet's stdout is the console, open read-write as a terminal is; natively it is
    // whatever the caller gave (a pipe: write-only).
    let accmode = flags as i32 & libc::O_ACCMODE;
    if on_rinet() && accmode != libc::O_RDWR {
        return Err("fcntl(1, F_GETFL) is not O_RDWR".into());
    }
    if accmode != libc::O_RDWR && accmode != libc::O_WRONLY {
        return Err("fcntl(1, F_GETFL): stdout is not open for writing".into());
    }
    expect_errno(
        sys::fcntl(1, 12345, 0),
        Errno::EINVAL,
        "fcntl with an unknown command",
    )
}
