//! The few host-kernel calls the shim needs: backing file descriptors and the caller's
//! `errno`. Every `unsafe` block of the shim outside the C entry points lives here.

use net::Errno;

/// A real, open process descriptor to stand for a socket: packetdrill `close()`s the numbers
/// the stack returns with libc at teardown, so they must exist. An eventfd costs no file and
/// is closed on exec.
pub fn backing_fd() -> Result<i32, Errno> {
    // SAFETY: eventfd takes two integers and touches no memory of ours.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::from_code(errno()).unwrap_or(Errno::EMFILE));
    }
    Ok(fd)
}

/// Close a backing descriptor the shim opened.
pub fn close_fd(fd: i32) {
    // SAFETY: `fd` is a descriptor this shim opened with `backing_fd` and still owns; closing
    // it releases no memory Rust refers to.
    unsafe {
        libc::close(fd);
    }
}

/// Whether `fd` is an open descriptor of this process (used to tell ENOTSOCK from EBADF).
pub fn fd_is_open(fd: i32) -> bool {
    // SAFETY: F_GETFD reads the descriptor flags only; an invalid fd gives -1/EBADF.
    fd >= 0 && unsafe { libc::fcntl(fd, libc::F_GETFD) } != -1
}

/// The calling thread's errno.
pub fn errno() -> i32 {
    // SAFETY: glibc's __errno_location returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// Set the calling thread's errno (packetdrill reads it right after a call returns -1).
pub fn set_errno(code: i32) {
    // SAFETY: as in `errno`: a valid, thread-local, writable int.
    unsafe {
        *libc::__errno_location() = code;
    }
}
