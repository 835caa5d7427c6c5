//! `sendfile` (a file's bytes to any descriptor, most often a socket, without a trip through
//! the program) and `socketpair`.
//!
//! `sendfile` reads the input file at an explicit offset (`*offset`, left in the caller's
//! variable; the file's own position stays) or at the file's position (which then advances),
//! a [`CHUNK`] at a time through a kernel buffer, and writes each piece out: to a socket
//! through the socket layer's blocking discipline (a non-blocking socket that is full ends the
//! call with what was sent, or `EAGAIN`), to a file or pipe with one write per piece. As Linux:
//! the input must be a file that can be read at an offset (`EINVAL` otherwise, `EBADF` if not
//! open for reading), an `O_APPEND` output is `EINVAL`, a negative offset `EINVAL`; one call
//! moves at most [`RW_MAX`] bytes (see `fs_io`).

use net::socket::AF_INET;
use vfs::flags::O_APPEND;
use vfs::{Errno, OpenFile};

use super::bounce::Bounce;
use super::fs::current;
use super::fs_io::{verify_count, CHUNK, RW_MAX};
use super::{socket, uaccess, SysResult};
use crate::files::socket::socket_id;
use crate::process::Process;

pub const SYS_SENDFILE: u64 = 40;
pub const SYS_SOCKETPAIR: u64 = 53;

pub fn call(nr: u64, a: [u64; 6]) -> Option<SysResult> {
    Some(match nr {
        SYS_SENDFILE => sendfile(a[0] as i32, a[1] as i32, a[2], a[3] as usize),
        SYS_SOCKETPAIR => socketpair(a[0] as i32),
        _ => return None,
    })
}

fn sendfile(out_fd: i32, in_fd: i32, offset: u64, count: usize) -> SysResult {
    verify_count(count)?;
    let p = current()?;
    let (input, output) = {
        let files = p.files.lock();
        (files.get(in_fd)?, files.get(out_fd)?)
    };
    if !input.ops().as_any().is::<vfs::tmpfs::TmpfsFile>() {
        return Err(Errno::EINVAL);
    }
    if output.status_flags() & O_APPEND != 0 {
        return Err(Errno::EINVAL);
    }
    let explicit = offset != 0;
    let start: i64 = if explicit {
        uaccess::read(offset)?
    } else {
        i64::try_from(input.position()).map_err(|_| Errno::EINVAL)?
    };
    if start < 0 {
        return Err(Errno::EINVAL);
    }
    let count = count.min(RW_MAX);
    // An offset whose end would pass the largest file offset: EINVAL (never an overflow).
    start.checked_add(count as i64).ok_or(Errno::EINVAL)?;
    let sent = copy_out(&p, &input, &output, start, count)?;
    let end = start + sent as i64;
    if explicit {
        uaccess::write(offset, end)?;
    } else {
        input.lseek(end, vfs::flags::Whence::Set)?;
    }
    Ok(sent as i64)
}

/// Move up to `count` bytes of `input` from `start` to `output`; how many went out (an error
/// only when none did).
fn copy_out(
    p: &Process,
    input: &OpenFile,
    output: &OpenFile,
    start: i64,
    count: usize,
) -> Result<usize, Errno> {
    let mut chunk = Bounce::new(count.min(CHUNK))?;
    let sock = socket_id(output);
    let mut done = 0usize;
    while done < count {
        let want = (count - done).min(chunk.len());
        let n = match input.pread(&mut chunk[..want], start + done as i64) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        let wrote = match sock {
            Some(id) => socket::send_from(p, output, id, &chunk[..n]).map(|k| k as usize),
            None => output.write(&chunk[..n]),
        };
        match wrote {
            Ok(k) => {
                done += k;
                if k < n {
                    break;
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(done)
}

/// Only `AF_UNIX` makes socket pairs on Linux, and this kernel has no `AF_UNIX` sockets:
/// `EAFNOSUPPORT`, as a Linux built without them answers; `AF_INET` is `EOPNOTSUPP`, as on
/// Linux.
fn socketpair(domain: i32) -> SysResult {
    if domain == AF_INET {
        Err(Errno::EOPNOTSUPP)
    } else {
        Err(Errno::EAFNOSUPPORT)
    }
}
