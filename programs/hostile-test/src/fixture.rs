//! What the bad-pointer calls share: the descriptors and good buffers besides the bad
//! address ([`Fixture`]), the raw call, and whether a call must exist ([`Need`]).

use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;

use libc::{c_long, sockaddr_in};
use progkit::sys::{self, syscall};
use progkit::{program_path, Errno};

/// Whether a call must exist.
#[derive(Clone, Copy, PartialEq)]
pub enum Need {
    Required,
    /// `ENOSYS` in rinet is a note, not a failure.
    Optional,
}

pub type Ret = Result<usize, Errno>;

/// A call given the bad address `b`.
pub type Call<'a> = (&'static str, Need, Box<dyn Fn(u64) -> Ret + 'a>);

pub fn sc(nr: c_long, a: [u64; 6]) -> Ret {
    syscall(nr, a)
}

/// The descriptors and good buffers the calls use besides the bad address.
pub struct Fixture {
    pub udp: RawFd,
    pub me: sockaddr_in,
    pub tcp: RawFd,
    pub pipe: [RawFd; 2],
    pub file: RawFd,
    pub dir: RawFd,
    pub path: CString,
}

impl Fixture {
    pub fn new() -> Result<Fixture, String> {
        let udp = sys::socket(libc::AF_INET, libc::SOCK_DGRAM)
            .map_err(|e| format!("udp socket: {}", e.name()))?;
        sys::bind(udp, &sys::sockaddr_in([127, 0, 0, 1], 0))
            .map_err(|e| format!("udp bind: {}", e.name()))?;
        let me = sys::getsockname(udp).map_err(|e| format!("getsockname: {}", e.name()))?;
        let tcp = sys::socket(libc::AF_INET, libc::SOCK_STREAM)
            .map_err(|e| format!("tcp socket: {}", e.name()))?;
        let mut fds = [0i32; 2];
        sc(
            libc::SYS_pipe2,
            [fds.as_mut_ptr() as u64, libc::O_CLOEXEC as u64, 0, 0, 0, 0],
        )
        .map_err(|e| format!("pipe2: {}", e.name()))?;
        let path = CString::new(program_path("hostile-test").as_os_str().as_bytes())
            .map_err(|_| "program path")?;
        let file = open(&path, libc::O_RDONLY)?;
        let dir = open(c"/", libc::O_RDONLY | libc::O_DIRECTORY)?;
        Ok(Fixture {
            udp,
            me,
            tcp,
            pipe: fds,
            file,
            dir,
            path,
        })
    }

    /// A byte in the pipe, so that a read reaches its copy-out.
    pub fn fill_pipe(&self) {
        let _ = sys::write(self.pipe[1], b"x");
    }

    /// A datagram queued on the UDP socket, so that a receive reaches its copy-out.
    pub fn queue_datagram(&self) {
        let _ = sys::sendto(self.udp, b"x", 0, &self.me);
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for fd in [
            self.udp,
            self.tcp,
            self.pipe[0],
            self.pipe[1],
            self.file,
            self.dir,
        ] {
            let _ = sys::close(fd);
        }
    }
}

fn open(path: &std::ffi::CStr, flags: i32) -> Result<RawFd, String> {
    sc(
        libc::SYS_openat,
        [
            libc::AT_FDCWD as u64,
            path.as_ptr() as u64,
            flags as u64,
            0,
            0,
            0,
        ],
    )
    .map(|fd| fd as RawFd)
    .map_err(|e| format!("open {path:?}: {}", e.name()))
}

/// Whether the kernel reads one byte at `addr` for this program (written into the pipe and
/// drained again).
pub fn readable(f: &Fixture, addr: u64) -> bool {
    let w = f.pipe[1] as u64;
    if syscall(libc::SYS_write, [w, addr, 1, 0, 0, 0]) != Ok(1) {
        return false;
    }
    let mut b = [0u8; 1];
    let _ = sys::read(f.pipe[0], &mut b);
    true
}
