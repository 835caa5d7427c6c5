//! The errno checks: each error path of the socket calls answers Linux's errno. Raw calls
//! (`progkit::sys`), since the exact errno is the point.

use std::os::fd::{AsRawFd, RawFd};

use progkit::sys::{self, expect_errno, sockaddr_in};
use progkit::{CheckResult, Errno};

use crate::loopback::tcp_connect;
use crate::{discard_port, echo_port};

const LOCALHOST: [u8; 4] = [127, 0, 0, 1];
/// Sockets tried in the EMFILE check: more than rinet's descriptor limit; natively the soft
/// limit is lowered to this first.
const EMFILE_TRIES: usize = 4096;

/// A socket closed when dropped.
struct Fd(RawFd);

impl Drop for Fd {
    fn drop(&mut self) {
        let _ = sys::close(self.0);
    }
}

fn socket(ty: i32) -> Result<Fd, String> {
    sys::socket(libc::AF_INET, ty)
        .map(Fd)
        .map_err(|e| format!("socket: {}", e.name()))
}

pub fn ebadf() -> CheckResult {
    expect_errno(sys::close(99), Errno::EBADF, "close(99)")?;
    let mut b = [0u8; 4];
    expect_errno(sys::read(77, &mut b), Errno::EBADF, "read(77)")
}

pub fn enotsock() -> CheckResult {
    expect_errno(
        sys::bind(1, &sockaddr_in(LOCALHOST, 1234)),
        Errno::ENOTSOCK,
        "bind(stdout)",
    )
}

pub fn einval() -> CheckResult {
    let s = socket(libc::SOCK_STREAM)?;
    sys::bind(s.0, &sockaddr_in(LOCALHOST, 0)).map_err(|e| format!("bind: {}", e.name()))?;
    expect_errno(
        sys::bind(s.0, &sockaddr_in(LOCALHOST, 0)),
        Errno::EINVAL,
        "second bind",
    )?;
    expect_errno(sys::shutdown(s.0, 7), Errno::EINVAL, "shutdown(how=7)")
}

pub fn econnrefused() -> CheckResult {
    let s = socket(libc::SOCK_STREAM)?;
    expect_errno(
        sys::connect(s.0, &sockaddr_in(LOCALHOST, 1)),
        Errno::ECONNREFUSED,
        "connect to a closed port",
    )
}

pub fn eaddrinuse() -> CheckResult {
    let s = socket(libc::SOCK_STREAM)?;
    expect_errno(
        sys::bind(s.0, &sockaddr_in([0; 4], echo_port())),
        Errno::EADDRINUSE,
        "bind to echo's port",
    )
}

pub fn eagain() -> CheckResult {
    let s = tcp_connect(echo_port())?;
    let mut b = [0u8; 8];
    expect_errno(
        sys::recv(s.as_raw_fd(), &mut b, libc::MSG_DONTWAIT),
        Errno::EAGAIN,
        "recv with nothing queued",
    )
}

/// Waits up to 2 s for `fd` to become writable, then reads `SO_ERROR`.
fn so_error_once_writable(fd: RawFd) -> Result<i32, String> {
    let mut pfd = [sys::pollfd(fd, libc::POLLOUT)];
    if sys::poll(&mut pfd, 2000) != Ok(1) || pfd[0].revents & libc::POLLOUT == 0 {
        return Err("poll did not report the connection writable".into());
    }
    sys::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR)
        .map_err(|e| format!("getsockopt(SO_ERROR): {}", e.name()))
}

pub fn einprogress() -> CheckResult {
    let s = socket(libc::SOCK_STREAM | libc::SOCK_NONBLOCK)?;
    expect_errno(
        sys::connect(s.0, &sockaddr_in(LOCALHOST, echo_port())),
        Errno::EINPROGRESS,
        "non-blocking connect",
    )?;
    if so_error_once_writable(s.0)? != 0 {
        return Err("SO_ERROR is not 0 after a successful connect".into());
    }
    // And a refused one reports through SO_ERROR (and POLLOUT, with POLLERR).
    let s = socket(libc::SOCK_STREAM | libc::SOCK_NONBLOCK)?;
    let _ = sys::connect(s.0, &sockaddr_in(LOCALHOST, 2));
    match so_error_once_writable(s.0)? {
        e if e == Errno::ECONNREFUSED.code() => Ok(()),
        e => Err(format!(
            "SO_ERROR is {e}, not ECONNREFUSED, after a refused connect"
        )),
    }
}

pub fn enotconn() -> CheckResult {
    let s = socket(libc::SOCK_STREAM)?;
    let mut b = [0u8; 8];
    expect_errno(
        sys::recv(s.0, &mut b, 0),
        Errno::ENOTCONN,
        "recv on an unconnected socket",
    )
}

pub fn epipe() -> CheckResult {
    let s = tcp_connect(discard_port())?;
    sys::shutdown(s.as_raw_fd(), libc::SHUT_WR).map_err(|e| format!("shutdown: {}", e.name()))?;
    expect_errno(
        sys::send(s.as_raw_fd(), b"late", libc::MSG_NOSIGNAL),
        Errno::EPIPE,
        "send after shutdown",
    )
}

pub fn emfile() -> CheckResult {
    // Natively the soft limit may be far higher (or lower) than rinet's: make it EMFILE_TRIES
    // at most, so the loop below reaches it. (Lowering the soft limit is always allowed.)
    // If lowering fails, the loop still finds a limit below EMFILE_TRIES.
    if sys::nofile_limit().is_ok_and(|l| l > EMFILE_TRIES as u64) {
        let _ = sys::set_nofile_limit(EMFILE_TRIES as u64);
    }
    let mut opened = Vec::with_capacity(EMFILE_TRIES);
    let mut last = Ok(0);
    for _ in 0..=EMFILE_TRIES {
        last = sys::socket(libc::AF_INET, libc::SOCK_DGRAM).map(|fd| fd as usize);
        match last {
            Ok(fd) => opened.push(Fd(fd as RawFd)),
            Err(_) => break,
        }
    }
    let count = opened.len();
    drop(opened);
    expect_errno(last, Errno::EMFILE, "socket past the descriptor limit")
        .map_err(|e| format!("{e} (after {count} sockets)"))
}

pub fn efault() -> CheckResult {
    let s = tcp_connect(echo_port())?;
    // write(fd, (void *)8, 16): an address no program owns.
    expect_errno(
        sys::syscall(libc::SYS_write, [s.as_raw_fd() as u64, 8, 16, 0, 0, 0]),
        Errno::EFAULT,
        "write from address 8",
    )
}

pub fn enosys() -> CheckResult {
    expect_errno(sys::syscall(999, [0; 6]), Errno::ENOSYS, "syscall 999")
}
