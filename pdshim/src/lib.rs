//! rinet's packetdrill shim: a shared object implementing packetdrill's
//! `struct packetdrill_interface`, so that `packetdrill --so_filename=libpdshim.so` drives
//! rinet's TCP/IP stack instead of the host kernel's.
//!
//! This file owns the C ABI: the interface struct and the C types it carries, and
//! `packetdrill_interface_init`. The rest: `entry.rs` has one `extern "C"` function per call
//! (pointers checked and converted with `cptr.rs`, which also runs each call behind
//! `catch_unwind` and returns the Linux way: `-1` and the thread's `errno`); `shim.rs` (with
//! `shim/calls.rs`) holds the stack, the virtual clock and the blocking rules in safe Rust;
//! `link.rs` bridges bare IPv4 datagrams to the stack's Ethernet device; `epoll.rs` the epoll
//! interest lists; `flags.rs` parses `--so_flags`; `os.rs` the host calls (backing fds,
//! errno). All `unsafe` is in `cptr.rs`, `entry.rs`, `os.rs`, here, and the tests that call
//! the C functions.

mod cptr;
mod entry;
mod epoll;
mod flags;
mod link;
mod os;
mod shim;

#[cfg(test)]
mod tests;

use std::ffi::{c_char, c_int, c_longlong, c_uint, c_ulong, c_void, CStr};
use std::panic::catch_unwind;

use shim::Shim;

/// `struct iovec`.
#[repr(C)]
pub struct IoVec {
    pub base: *mut u8,
    pub len: usize,
}

/// glibc's `struct msghdr`.
#[repr(C)]
pub struct MsgHdr {
    pub name: *mut c_void,
    pub namelen: u32,
    pub iov: *mut IoVec,
    pub iovlen: usize,
    pub control: *mut c_void,
    pub controllen: usize,
    pub flags: c_int,
}

/// `struct pollfd`.
#[repr(C)]
pub struct PollFd {
    pub fd: c_int,
    pub events: i16,
    pub revents: i16,
}

/// `struct timeval`.
#[repr(C)]
pub struct TimeVal {
    pub sec: i64,
    pub usec: i64,
}

type Ud = *mut c_void;

/// packetdrill's `struct packetdrill_interface`; the member order is the ABI.
#[repr(C)]
#[derive(Default)]
#[allow(clippy::type_complexity)]
pub struct PacketdrillInterface {
    pub userdata: Ud,
    pub free: Option<unsafe extern "C" fn(Ud)>,
    pub socket: Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int) -> c_int>,
    pub bind: Option<unsafe extern "C" fn(Ud, c_int, *const u8, u32) -> c_int>,
    pub listen: Option<unsafe extern "C" fn(Ud, c_int, c_int) -> c_int>,
    pub accept: Option<unsafe extern "C" fn(Ud, c_int, *mut u8, *mut u32) -> c_int>,
    pub connect: Option<unsafe extern "C" fn(Ud, c_int, *const u8, u32) -> c_int>,
    pub read: Option<unsafe extern "C" fn(Ud, c_int, *mut u8, usize) -> isize>,
    pub readv: Option<unsafe extern "C" fn(Ud, c_int, *const IoVec, c_int) -> isize>,
    pub recv: Option<unsafe extern "C" fn(Ud, c_int, *mut u8, usize, c_int) -> isize>,
    pub recvfrom:
        Option<unsafe extern "C" fn(Ud, c_int, *mut u8, usize, c_int, *mut u8, *mut u32) -> isize>,
    pub recvmsg: Option<unsafe extern "C" fn(Ud, c_int, *mut MsgHdr, c_int) -> isize>,
    pub write: Option<unsafe extern "C" fn(Ud, c_int, *const u8, usize) -> isize>,
    pub writev: Option<unsafe extern "C" fn(Ud, c_int, *const IoVec, c_int) -> isize>,
    pub send: Option<unsafe extern "C" fn(Ud, c_int, *const u8, usize, c_int) -> isize>,
    pub sendto:
        Option<unsafe extern "C" fn(Ud, c_int, *const u8, usize, c_int, *const u8, u32) -> isize>,
    pub sendmsg: Option<unsafe extern "C" fn(Ud, c_int, *const MsgHdr, c_int) -> isize>,
    pub fcntl: Option<unsafe extern "C" fn(Ud, c_int, c_int, usize) -> c_int>,
    pub ioctl: Option<unsafe extern "C" fn(Ud, c_int, c_ulong, usize) -> c_int>,
    pub close: Option<unsafe extern "C" fn(Ud, c_int) -> c_int>,
    pub shutdown: Option<unsafe extern "C" fn(Ud, c_int, c_int) -> c_int>,
    pub getsockopt:
        Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int, *mut u8, *mut u32) -> c_int>,
    pub setsockopt: Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int, *const u8, u32) -> c_int>,
    pub poll: Option<unsafe extern "C" fn(Ud, *mut PollFd, u64, c_int) -> c_int>,
    pub netdev_send: Option<unsafe extern "C" fn(Ud, *const u8, usize) -> c_int>,
    pub netdev_receive:
        Option<unsafe extern "C" fn(Ud, *mut u8, *mut usize, *mut c_longlong) -> c_int>,
    pub usleep: Option<unsafe extern "C" fn(Ud, c_uint) -> c_int>,
    pub gettimeofday: Option<unsafe extern "C" fn(Ud, *mut TimeVal, *mut c_void) -> c_int>,
    pub epoll_create: Option<unsafe extern "C" fn(Ud, c_int) -> c_int>,
    pub epoll_ctl: Option<unsafe extern "C" fn(Ud, c_int, c_int, c_int, *mut c_void) -> c_int>,
    pub epoll_wait: Option<unsafe extern "C" fn(Ud, c_int, *mut c_void, c_int, c_int) -> c_int>,
    pub pipe: Option<unsafe extern "C" fn(Ud, *mut c_int) -> c_int>,
    pub splice:
        Option<unsafe extern "C" fn(Ud, c_int, *mut i64, c_int, *mut i64, usize, c_uint) -> c_int>,
}

// The interface is 33 pointer-sized members.
const _: () = assert!(core::mem::size_of::<PacketdrillInterface>() == 33 * 8);

/// packetdrill's entry point: parse `flags` (`--so_flags`, may be NULL), build the stack and
/// fill every member of `iface`. A bad `--so_flags` is fatal (the run would test the wrong
/// addresses): the message goes to stderr and the process exits with status 2.
///
/// # Safety
/// `flags` is NULL or a NUL-terminated string; `iface` points at a writable
/// `struct packetdrill_interface`.
#[no_mangle]
pub unsafe extern "C" fn packetdrill_interface_init(
    flags: *const c_char,
    iface: *mut PacketdrillInterface,
) {
    let text = if flags.is_null() {
        String::new()
    } else {
        // SAFETY: non-null, NUL-terminated per packetdrill's contract.
        unsafe { CStr::from_ptr(flags) }
            .to_string_lossy()
            .into_owned()
    };
    let built = catch_unwind(|| {
        let cfg = flags::parse(&text)?;
        Shim::new(cfg).map_err(|e| format!("configuring the stack: {e:?}"))
    });
    let shim = match built {
        Ok(Ok(s)) => s,
        Ok(Err(msg)) => {
            eprintln!("pdshim: {msg}");
            std::process::exit(2);
        }
        Err(_) => {
            eprintln!("pdshim: panic while building the stack");
            std::process::exit(2);
        }
    };
    if iface.is_null() {
        eprintln!("pdshim: NULL interface");
        std::process::exit(2);
    }
    let filled = PacketdrillInterface {
        userdata: Box::into_raw(Box::new(shim)) as Ud,
        free: Some(entry::pd_free),
        socket: Some(entry::pd_socket),
        bind: Some(entry::pd_bind),
        listen: Some(entry::pd_listen),
        accept: Some(entry::pd_accept),
        connect: Some(entry::pd_connect),
        read: Some(entry::pd_read),
        readv: Some(entry::pd_readv),
        recv: Some(entry::pd_recv),
        recvfrom: Some(entry::pd_recvfrom),
        recvmsg: Some(entry::pd_recvmsg),
        write: Some(entry::pd_write),
        writev: Some(entry::pd_writev),
        send: Some(entry::pd_send),
        sendto: Some(entry::pd_sendto),
        sendmsg: Some(entry::pd_sendmsg),
        fcntl: Some(entry::pd_fcntl),
        ioctl: Some(entry::pd_ioctl),
        close: Some(entry::pd_close),
        shutdown: Some(entry::pd_shutdown),
        getsockopt: Some(entry::pd_getsockopt),
        setsockopt: Some(entry::pd_setsockopt),
        poll: Some(entry::pd_poll),
        netdev_send: Some(entry::pd_netdev_send),
        netdev_receive: Some(entry::pd_netdev_receive),
        usleep: Some(entry::pd_usleep),
        gettimeofday: Some(entry::pd_gettimeofday),
        epoll_create: Some(entry::pd_epoll_create),
        epoll_ctl: Some(entry::pd_epoll_ctl),
        epoll_wait: Some(entry::pd_epoll_wait),
        pipe: Some(entry::pd_pipe),
        splice: Some(entry::pd_splice),
    };
    // SAFETY: `iface` is non-null and writable per the contract; the old (zeroed) contents
    // hold nothing to drop.
    unsafe { std::ptr::write(iface, filled) };
}
