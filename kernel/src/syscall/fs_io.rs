//! Descriptor calls on any kind of open file (Linux's fs/read_write.c, fs/fcntl.c, fs/ioctl.c,
//! fs/file.c, fs/pipe.c): `read`, `write`, `pread64`, `pwrite64`, `readv`, `writev`, `lseek`,
//! `fstat`, `getdents64`, `ftruncate`, `fsync`, `close`, `close_range`, `dup`/`dup2`/`dup3`,
//! `fcntl`, `ioctl`, `pipe`/`pipe2`, `eventfd`/`eventfd2`.
//!
//! Sockets go through `socket` (their own blocking discipline and zero-copy buffers); every
//! other file's data is copied through a kernel buffer in chunks of [`CHUNK`], and one call
//! moves at most [`RW_MAX`] bytes (a short count, which Linux gives only past 2 GiB: a
//! deliberate difference so one call is bounded work). A blocking read of an empty pipe or
//! eventfd, or a blocking write to a full one, sleeps on `files::FILES_KEY` (see `files`);
//! a pipe write larger than the room left is completed in parts, as Linux's blocking write.
//! Never holds the descriptor table across a call into a file.

use alloc::sync::Arc;
use alloc::vec::Vec;

use vfs::file::IoctlReply;
use vfs::flags::{Whence, F_DUPFD, F_DUPFD_CLOEXEC, F_GETFD, F_GETFL, F_SETFD, F_SETFL, O_CLOEXEC};
use vfs::flags::{O_NONBLOCK, S_IFMT};
use vfs::tmpfs::TmpfsFile;
use vfs::{Errno, OpenFile};

use super::bounce::Bounce;
use super::fs::current;
use super::{socket, uaccess, SysResult};
use crate::files::{self, socket::socket_id, FILES_KEY};
use crate::process::Process;
use crate::wait;

/// Bytes copied between user memory and a file per step.
pub const CHUNK: usize = 64 * 1024;
/// Most bytes one read or write call moves (see the module doc).
pub const RW_MAX: usize = 1 << 20;
/// `IOV_MAX`: most entries in one `readv`/`writev`.
pub const IOV_MAX: i32 = 1024;
/// `FIONBIO`: set or clear `O_NONBLOCK` from an `int` at the argument.
pub const FIONBIO: u32 = 0x5421;

/// Linux's rw_verify_area: a count that is negative as `ssize_t` is EINVAL.
pub fn verify_count(len: usize) -> Result<(), Errno> {
    if (len as isize) < 0 {
        Err(Errno::EINVAL)
    } else {
        Ok(())
    }
}

fn file_of(p: &Process, fd: i32) -> Result<Arc<OpenFile>, Errno> {
    p.files.lock().get(fd)
}

/// A kernel buffer for `len` bytes of transfer (at most [`CHUNK`]).
fn chunk_buf(len: usize) -> Result<Bounce, Errno> {
    Bounce::new(len.min(CHUNK))
}

/// Bytes from `addr` to the end of its page.
fn to_page_end(addr: u64) -> usize {
    (4096 - addr % 4096) as usize
}

/// Copy in as much of `dst.len()` bytes from `addr` as is readable, page by page after a
/// fault: a count cut short by unmapped memory is a short write, as in Linux; `EFAULT` only
/// when not even the first byte can be read.
fn copy_in_partial(dst: &mut [u8], addr: u64) -> Result<usize, Errno> {
    if uaccess::copy_from_user(dst, addr).is_ok() {
        return Ok(dst.len());
    }
    let mut done = 0;
    while done < dst.len() {
        let at = addr.checked_add(done as u64).ok_or(Errno::EFAULT)?;
        let n = to_page_end(at).min(dst.len() - done);
        if uaccess::copy_from_user(&mut dst[done..done + n], at).is_err() {
            break;
        }
        done += n;
    }
    if done == 0 {
        return Err(Errno::EFAULT);
    }
    Ok(done)
}

/// Sleep until a pipe or eventfd may have changed (the generation was read before the try).
fn sleep_for_files(p: &Process, gen: u64) -> Result<(), Errno> {
    if crate::process::signal::interrupted(p) {
        return Err(Errno::EINTR);
    }
    wait::sleep_on_if_unchanged(FILES_KEY, gen, None);
    Ok(())
}

fn notify(file: &OpenFile) {
    if files::wakes_others(file) {
        wait::wake_all(FILES_KEY);
    }
}

/// A tmpfs file, or a device as cheap as one (null, zero, full): reads and writes go on
/// until the count is done (other files: one step).
fn moves_whole_count(file: &OpenFile) -> bool {
    file.ops().as_any().is::<TmpfsFile>() || files::devices::moves_whole_count(file)
}

/// Read up to `len` bytes (at most `max`) into user memory at `buf` from a non-socket file.
fn read_file(p: &Process, file: &OpenFile, buf: u64, len: usize, max: usize) -> SysResult {
    let len = len.min(max);
    let mut chunk = chunk_buf(len)?;
    let mut done = 0usize;
    loop {
        let n = (len - done).min(chunk.len());
        let gen = wait::generation(FILES_KEY);
        match file.read(&mut chunk[..n]) {
            Ok(k) => {
                notify(file);
                let at = buf.checked_add(done as u64).ok_or(Errno::EFAULT)?;
                if let Err(e) = uaccess::copy_to_user(at, &chunk[..k]) {
                    return if done > 0 { Ok(done as i64) } else { Err(e) };
                }
                done += k;
                if k < n || done >= len || !moves_whole_count(file) {
                    return Ok(done as i64);
                }
            }
            Err(Errno::EAGAIN) if done == 0 && !file.nonblocking() => sleep_for_files(p, gen)?,
            Err(e) if done == 0 => return Err(e),
            Err(_) => return Ok(done as i64),
        }
    }
}

/// Write up to `len` bytes (at most `max`) from user memory at `buf` to a non-socket file.
fn write_file(p: &Process, file: &OpenFile, buf: u64, len: usize, max: usize) -> SysResult {
    let len = len.min(max);
    let mut chunk = chunk_buf(len)?;
    let pipe = files::wakes_others(file);
    let mut done = 0usize;
    let mut copied = 0usize; // bytes of `chunk` still to write: chunk[..copied]
    let mut start = 0usize;
    loop {
        if start == copied {
            let n = (len - done).min(chunk.len());
            let at = buf.checked_add(done as u64).ok_or(Errno::EFAULT)?;
            match copy_in_partial(&mut chunk[..n], at) {
                Ok(k) => (start, copied) = (0, k),
                Err(e) => return if done > 0 { Ok(done as i64) } else { Err(e) },
            }
        }
        let gen = wait::generation(FILES_KEY);
        match file.write(&chunk[start..copied]) {
            Ok(k) => {
                notify(file);
                done += k;
                start += k;
                let short = start < copied;
                if done >= len || (short && !pipe) || (!moves_whole_count(file) && !pipe) {
                    return Ok(done as i64);
                }
                if short && file.nonblocking() {
                    return Ok(done as i64);
                }
            }
            Err(Errno::EAGAIN) if !file.nonblocking() => {
                if let Err(e) = sleep_for_files(p, gen) {
                    return if done > 0 { Ok(done as i64) } else { Err(e) };
                }
            }
            Err(e) if done == 0 => return Err(e),
            Err(_) => return Ok(done as i64),
        }
    }
}

pub fn read(fd: i32, buf: u64, len: usize) -> SysResult {
    verify_count(len)?;
    let p = current()?;
    let file = file_of(&p, fd)?;
    if let Some(id) = socket_id(&file) {
        return socket::read_socket(&p, &file, id, buf, len);
    }
    if let Some(end) = super::unix::end_of(&file) {
        return super::unix::read(&p, &file, end, buf, len.min(RW_MAX));
    }
    uaccess::check(buf, len.min(RW_MAX))?;
    read_file(&p, &file, buf, len, RW_MAX)
}

pub fn write(fd: i32, buf: u64, len: usize) -> SysResult {
    verify_count(len)?;
    let p = current()?;
    let file = file_of(&p, fd)?;
    if let Some(id) = socket_id(&file) {
        return socket::write_socket(&p, &file, id, buf, len);
    }
    if let Some(end) = super::unix::end_of(&file) {
        return super::unix::write(&p, &file, end, buf, len.min(RW_MAX));
    }
    // The first page must be readable (EFAULT); past it, unmapped memory ends the write short.
    uaccess::check_access(buf, len.min(to_page_end(buf)), false)?;
    write_file(&p, &file, buf, len, RW_MAX)
}

/// `pread64`/`pwrite64` move at most one chunk: they never block (pipes and sockets are
/// `ESPIPE`).
pub fn pread(fd: i32, buf: u64, len: usize, pos: i64) -> SysResult {
    verify_count(len)?;
    let p = current()?;
    let file = file_of(&p, fd)?;
    let mut chunk = chunk_buf(len)?;
    let k = file.pread(&mut chunk, pos)?;
    uaccess::copy_to_user(buf, &chunk[..k])?;
    Ok(k as i64)
}

pub fn pwrite(fd: i32, buf: u64, len: usize, pos: i64) -> SysResult {
    verify_count(len)?;
    let p = current()?;
    let file = file_of(&p, fd)?;
    let mut chunk = chunk_buf(len)?;
    uaccess::copy_from_user(&mut chunk, buf)?;
    let k = file.pwrite(&chunk, pos)?;
    Ok(k as i64)
}

/// `struct iovec`: base and length.
fn iovecs(iov: u64, count: i32) -> Result<Vec<(u64, usize)>, Errno> {
    if !(0..=IOV_MAX).contains(&count) {
        return Err(Errno::EINVAL);
    }
    let mut raw = [0u8; 16];
    let mut out = Vec::new();
    out.try_reserve_exact(count as usize)
        .map_err(|_| Errno::ENOMEM)?;
    let mut total = 0usize;
    for i in 0..count as u64 {
        uaccess::copy_from_user(&mut raw, iov + i * 16)?;
        let base = u64::from_ne_bytes(raw[0..8].try_into().unwrap_or_default());
        let len = usize::from_ne_bytes(raw[8..16].try_into().unwrap_or_default());
        verify_count(len)?;
        total = total.checked_add(len).ok_or(Errno::EINVAL)?;
        verify_count(total)?;
        out.push((base, len));
    }
    Ok(out)
}

pub fn readv(fd: i32, iov: u64, count: i32) -> SysResult {
    let p = current()?;
    let file = file_of(&p, fd)?;
    let v = iovecs(iov, count)?;
    if let Some(id) = socket_id(&file) {
        // One receive, scattered: a datagram is never split between receives.
        let total: usize = v.iter().map(|&(_, l)| l).sum();
        let mut buf = chunk_buf(total)?;
        let k = socket::recv_into(&p, &file, id, &mut buf)? as usize;
        let mut off = 0;
        for &(base, len) in &v {
            let n = len.min(k - off);
            uaccess::copy_to_user(base, &buf[off..off + n])?;
            off += n;
        }
        return Ok(k as i64);
    }
    let mut done = 0usize;
    for (base, len) in v {
        if len == 0 {
            continue;
        }
        let k = match read_file(&p, &file, base, len, RW_MAX - done) {
            Ok(k) => k as usize,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        done += k;
        if k < len || done >= RW_MAX {
            break;
        }
    }
    Ok(done as i64)
}

pub fn writev(fd: i32, iov: u64, count: i32) -> SysResult {
    let p = current()?;
    let file = file_of(&p, fd)?;
    let v = iovecs(iov, count)?;
    if let Some(id) = socket_id(&file) {
        // One send of the gathered bytes (a datagram stays whole).
        let total: usize = v.iter().map(|&(_, l)| l).sum();
        let mut buf = chunk_buf(total)?;
        let mut off = 0;
        for &(base, len) in &v {
            let n = len.min(buf.len() - off);
            uaccess::copy_from_user(&mut buf[off..off + n], base)?;
            off += n;
        }
        return socket::send_from(&p, &file, id, &buf[..off]);
    }
    let mut done = 0usize;
    for (base, len) in v {
        if len == 0 {
            continue;
        }
        let k = match write_file(&p, &file, base, len, RW_MAX - done) {
            Ok(k) => k as usize,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        };
        done += k;
        if k < len || done >= RW_MAX {
            break;
        }
    }
    Ok(done as i64)
}

pub fn lseek(fd: i32, offset: i64, whence: u32) -> SysResult {
    let p = current()?;
    let file = file_of(&p, fd)?;
    let whence = Whence::from_raw(whence)?;
    file.lseek(offset, whence).map(|pos| pos as i64)
}

pub fn fstat(fd: i32, buf: u64) -> SysResult {
    let p = current()?;
    let file = file_of(&p, fd)?;
    uaccess::copy_to_user(buf, &file.stat()?.to_linux_stat())?;
    Ok(0)
}

pub fn getdents64(fd: i32, buf: u64, len: usize) -> SysResult {
    let p = current()?;
    let file = file_of(&p, fd)?;
    let mut chunk = chunk_buf(len)?;
    let k = file.getdents64(&mut chunk)?;
    uaccess::copy_to_user(buf, &chunk[..k])?;
    Ok(k as i64)
}

pub fn ftruncate(fd: i32, len: i64) -> SysResult {
    let p = current()?;
    let file = file_of(&p, fd)?;
    // Linux: not a regular file (a socket, a pipe, the console) is EINVAL.
    if file.stat()?.mode & S_IFMT != vfs::flags::S_IFREG {
        return Err(Errno::EINVAL);
    }
    file.truncate(len).map(|_| 0)
}

pub fn fsync(fd: i32) -> SysResult {
    let p = current()?;
    file_of(&p, fd)?.fsync().map(|_| 0)
}

pub fn close(fd: i32) -> SysResult {
    let p = current()?;
    let file = p.files.lock().close(fd)?;
    if let Some((h, deadline)) = files::put(file) {
        socket::linger_wait(&p, h, deadline);
    }
    Ok(0)
}

pub fn close_range(first: u32, last: u32, flags: u32) -> SysResult {
    let p = current()?;
    // One table per program (threads share it): CLOSE_RANGE_UNSHARE has nothing to do.
    let r = p.files.lock().close_range(first, last, flags);
    let closed = r?;
    for file in closed {
        let _ = files::put(file);
    }
    Ok(0)
}

pub fn dup(fd: i32) -> SysResult {
    let p = current()?;
    let r = p.files.lock().dup(fd);
    r.map(i64::from)
}

fn put_replaced(r: Result<(i32, Option<Arc<OpenFile>>), Errno>) -> SysResult {
    let (fd, old) = r?;
    if let Some(old) = old {
        let _ = files::put(old);
    }
    Ok(i64::from(fd))
}

pub fn dup2(oldfd: i32, newfd: i32) -> SysResult {
    let p = current()?;
    let r = p.files.lock().dup2(oldfd, newfd);
    put_replaced(r)
}

pub fn dup3(oldfd: i32, newfd: i32, flags: u32) -> SysResult {
    let p = current()?;
    let r = p.files.lock().dup3(oldfd, newfd, flags);
    put_replaced(r)
}

pub fn fcntl(fd: i32, cmd: u32, arg: u64) -> SysResult {
    let p = current()?;
    let mut table = p.files.lock();
    match cmd {
        F_DUPFD | F_DUPFD_CLOEXEC => table
            .dup_from(fd, arg as i32 as i64, cmd == F_DUPFD_CLOEXEC)
            .map(i64::from),
        F_GETFD => table.fd_flags(fd).map(i64::from),
        F_SETFD => table.set_fd_flags(fd, arg as u32).map(|_| 0),
        F_GETFL => table.status_flags(fd).map(i64::from),
        F_SETFL => table.set_status_flags(fd, arg as u32).map(|_| 0),
        _ => {
            table.get(fd)?;
            Err(Errno::EINVAL)
        }
    }
}

pub fn ioctl(fd: i32, cmd: u32, arg: u64) -> SysResult {
    let p = current()?;
    let file = file_of(&p, fd)?;
    if cmd == FIONBIO {
        let on: i32 = uaccess::read(arg)?;
        let flags = file.status_flags();
        file.set_status_flags(if on != 0 {
            flags | O_NONBLOCK
        } else {
            flags & !O_NONBLOCK
        });
        return Ok(0);
    }
    match file.ioctl(cmd, arg)? {
        IoctlReply::Value(v) => Ok(v),
        IoctlReply::StoreInt(v) => uaccess::write(arg, v).map(|_| 0),
    }
}

/// Install two new files (a pipe's ends), or neither.
pub(super) fn install_pair(
    p: &Process,
    a: Arc<OpenFile>,
    b: Arc<OpenFile>,
    cloexec: bool,
) -> Result<[i32; 2], Errno> {
    let mut table = p.files.lock();
    let fa = table.install(a, cloexec)?;
    match table.install(b, cloexec) {
        Ok(fb) => Ok([fa, fb]),
        Err(e) => {
            let first = table.close(fa);
            drop(table);
            drop(first);
            Err(e)
        }
    }
}

pub fn pipe2(fds: u64, flags: u32) -> SysResult {
    let p = current()?;
    uaccess::check(fds, 8)?;
    let now = files::now();
    let (r, w) = vfs::pipe::pipe2(flags, now)?;
    let pair = install_pair(&p, r, w, flags & O_CLOEXEC != 0)?;
    if let Err(e) = uaccess::write(fds, pair) {
        // Linux leaves the descriptors open here; closing them avoids a leak the program
        // cannot see.
        let _ = close(pair[0]);
        let _ = close(pair[1]);
        return Err(e);
    }
    Ok(0)
}

pub fn eventfd2(initval: u32, flags: u32) -> SysResult {
    let p = current()?;
    let file = vfs::eventfd::eventfd2(initval, flags)?;
    let fd = p.files.lock().install(file, flags & O_CLOEXEC != 0)?;
    Ok(i64::from(fd))
}
