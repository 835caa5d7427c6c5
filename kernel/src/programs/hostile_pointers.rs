//! `hostile-test`'s pointer and length cases: kernel, unmapped, guard-page, non-canonical and
//! wrapping addresses passed to every pointer-taking system call (EFAULT), the edges of the
//! program's own stack, huge lengths (short counts, EINVAL or EFAULT as Linux gives them).
//! Runs in ring 3: only `crate::user` may be called.

use core::sync::atomic::{AtomicUsize, Ordering};

use net::Errno;

use super::hostile_faults;
use super::hostile_test::{errno, LOCALHOST};
use crate::syscall::*;
use crate::uprintln;
use crate::user::{self, syscall2, syscall3, syscall5, syscall6, SockaddrIn, Timespec};

/// Port of the test's own UDP socket (sends to itself to have a datagram queued).
const SELF_PORT: u16 = 4077;

extern "C" {
    static __text_start: u8;
    static __rodata_start: u8;
    static __user_data_end: u8;
    static __kernel_end: u8;
    static boot_pml4: u8;
    static boot_stack_top: u8;
}

/// The kernel's direct map of physical memory (`mem::PHYS_OFFSET`) at the kernel image's
/// physical address: kernel text seen through the kernel half.
const DIRECT_MAP_TEXT: u64 = 0xffff_8000_0010_0000;

/// Addresses no system call may read: kernel data, page tables, heap, kernel stack, the direct
/// map, the first page, non-canonical ones, the top of the address space (wraps with any
/// length).
fn unreadable() -> [(&'static str, u64); 9] {
    [
        ("kernel data", (&raw const __user_data_end) as u64),
        ("page tables", (&raw const boot_pml4) as u64),
        ("kernel heap", (&raw const __kernel_end) as u64 + 0x1_0000),
        ("kernel stack", (&raw const boot_stack_top) as u64 - 256),
        ("direct map", DIRECT_MAP_TEXT),
        ("first page", 8),
        ("non-canonical", 0x0000_8000_0000_0000),
        ("non-canonical high", 0x8000_0000_0000_0000),
        ("top of the address space", 0xffff_ffff_ffff_fff8),
    ]
}

/// What no system call may write: the above and kernel code and constants (which a program
/// may read and run, but not change).
fn unwritable() -> [(&'static str, u64); 11] {
    let r = unreadable();
    [
        r[0],
        r[1],
        r[2],
        r[3],
        r[4],
        r[5],
        r[6],
        r[7],
        r[8],
        ("kernel text", (&raw const __text_start) as u64),
        ("kernel rodata", (&raw const __rodata_start) as u64),
    ]
}

fn udp_bound() -> Result<i32, &'static str> {
    let u = user::socket(user::AF_INET, user::SOCK_DGRAM, 0) as i32;
    if u < 0 || user::bind(u, &SockaddrIn::new(LOCALHOST, SELF_PORT)) < 0 {
        return Err("cannot bind the test's udp socket");
    }
    Ok(u)
}

pub(super) fn bad_pointers() -> Result<(), &'static str> {
    let u = udp_bound()?;
    let tcp = user::socket(user::AF_INET, user::SOCK_STREAM, 0) as i32;
    let me = SockaddrIn::new(LOCALHOST, SELF_PORT);
    let me_p = &me as *const SockaddrIn as u64;
    let mut ok_buf = [0u8; 64];
    let ok = ok_buf.as_mut_ptr() as u64;
    let mut len: u32 = 16;
    let lenp = &mut len as *mut u32 as u64;
    let zero = Timespec::default();
    let zero_p = &zero as *const Timespec as u64;
    let (fd, ufd) = (tcp as u64, u as u64);
    let wrong = AtomicUsize::new(0);
    let expect = |call: &str, what: &str, ret: isize| {
        if errno(ret) != Some(Errno::EFAULT) {
            uprintln!("hostile-test: {call} with {what}: got {ret}, want -EFAULT");
            wrong.fetch_add(1, Ordering::Relaxed);
        }
    };
    for (what, b) in unreadable() {
        expect("write", what, syscall3(SYS_WRITE, 1, b, 8));
        expect(
            "sendto buf",
            what,
            syscall6(SYS_SENDTO, ufd, b, 8, 0, me_p, 16),
        );
        expect(
            "sendto addr",
            what,
            syscall6(SYS_SENDTO, ufd, ok, 8, 0, b, 16),
        );
        expect("connect", what, syscall3(SYS_CONNECT, fd, b, 16));
        expect("bind", what, syscall3(SYS_BIND, fd, b, 16));
        let opt = syscall5(SYS_SETSOCKOPT, ufd, SOL_SOCKET_U, SO_REUSEADDR_U, b, 4);
        expect("setsockopt", what, opt);
        expect("nanosleep", what, syscall2(SYS_NANOSLEEP, b, 0));
        expect("poll", what, syscall3(SYS_POLL, b, 1, 0));
        expect("program_spawn", what, syscall2(SYS_PROGRAM_SPAWN, b, 8));
        expect(
            "gethostbyname name",
            what,
            syscall3(SYS_GETHOSTBYNAME, b, 8, ok),
        );
    }
    for (what, b) in unwritable() {
        expect("clock_gettime", what, syscall2(SYS_CLOCK_GETTIME, 1, b));
        expect("getrandom", what, syscall3(SYS_GETRANDOM, b, 16, 0));
        expect(
            "getsockname addr",
            what,
            syscall3(SYS_GETSOCKNAME, ufd, b, lenp),
        );
        // A length pointer into kernel text or rodata reads a (garbage) length first:
        // Linux then fails with EINVAL for a negative one, EFAULT on the copy-out.
        let ro = what.starts_with("kernel text") || what.starts_with("kernel rodata");
        let expect_len = |call: &str, ret: isize| {
            if ro && errno(ret) == Some(Errno::EINVAL) {
                return;
            }
            expect(call, what, ret);
        };
        expect_len("getsockname len", syscall3(SYS_GETSOCKNAME, ufd, ok, b));
        let opt = syscall5(SYS_GETSOCKOPT, ufd, SOL_SOCKET_U, SO_TYPE_U, b, lenp);
        expect("getsockopt value", what, opt);
        let opt = syscall5(SYS_GETSOCKOPT, ufd, SOL_SOCKET_U, SO_TYPE_U, ok, b);
        expect_len("getsockopt len", opt);
        expect("poll", what, syscall3(SYS_POLL, b, 1, 0));
        let name = b"localhost.invalid";
        let r = syscall3(
            SYS_GETHOSTBYNAME,
            name.as_ptr() as u64,
            name.len() as u64,
            b,
        );
        expect("gethostbyname out", what, r);
        // A datagram waits, so the receive calls reach their copy-out.
        user::sendto(u, b"x", 0, Some(&me));
        let r = syscall6(SYS_RECVFROM, ufd, b, 16, user::MSG_DONTWAIT as u64, 0, 0);
        expect("recvfrom buf", what, r);
        user::sendto(u, b"x", 0, Some(&me));
        let r = syscall6(
            SYS_RECVFROM,
            ufd,
            ok,
            16,
            user::MSG_DONTWAIT as u64,
            b,
            lenp,
        );
        expect("recvfrom addr", what, r);
        user::sendto(u, b"x", 0, Some(&me));
        expect("read", what, syscall3(SYS_READ, ufd, b, 16));
    }
    // Drain what the receive calls left.
    while user::recvfrom(u, &mut ok_buf, user::MSG_DONTWAIT, None) >= 0 {}
    let _ = zero_p;
    user::close(u);
    user::close(tcp);
    if wrong.load(Ordering::Relaxed) == 0 {
        Ok(())
    } else {
        Err("a call did not return EFAULT (lines above)")
    }
}

const SOL_SOCKET_U: u64 = user::SOL_SOCKET as u64;
const SO_REUSEADDR_U: u64 = user::SO_REUSEADDR as u64;
const SO_TYPE_U: u64 = 3;

/// Results of [`edge_thread`]: calls that went wrong, and 1 + that once it is done.
#[link_section = ".user_data"]
static EDGE_WRONG: AtomicUsize = AtomicUsize::new(0);
#[link_section = ".user_data"]
static EDGE_DONE: AtomicUsize = AtomicUsize::new(0);

/// On a fresh thread the stack's top is the page boundary just above this frame, its bottom
/// 128 KiB lower, and the guard page below that.
#[inline(never)]
fn edge_thread(_: usize) {
    let marker = 0u8;
    let top = ((&marker as *const u8 as u64) & !0xfff) + 0x1000;
    let bottom = top - (crate::process::USER_STACK_FRAMES as u64) * 4096;
    let guard = bottom - 4096;
    // Kept mapped after this thread ends (the program keeps its stacks): another program
    // must still not reach it.
    hostile_faults::OTHER_STACK.store(top - 64, Ordering::SeqCst);
    let checks: [(&str, isize, Option<Errno>); 5] = [
        ("stack bottom", syscall3(SYS_GETRANDOM, bottom, 8, 0), None),
        ("top 8 bytes", syscall3(SYS_GETRANDOM, top - 8, 8, 0), None),
        (
            "guard page",
            syscall3(SYS_GETRANDOM, guard, 8, 0),
            Some(Errno::EFAULT),
        ),
        (
            "above the top",
            syscall3(SYS_GETRANDOM, top, 8, 0),
            Some(Errno::EFAULT),
        ),
        (
            "across the top",
            syscall3(SYS_GETRANDOM, top - 16, 32, 0),
            Some(Errno::EFAULT),
        ),
    ];
    for (what, ret, want) in checks {
        let good = match want {
            None => ret == 8,
            Some(e) => errno(ret) == Some(e),
        };
        if !good {
            uprintln!("hostile-test: getrandom at the {what}: got {ret}, want {want:?}");
            EDGE_WRONG.fetch_add(1, Ordering::SeqCst);
        }
    }
    // write(1, guard page) was a kernel crash once (exit 35): now EFAULT.
    if errno(syscall3(SYS_WRITE, 1, guard, 1)) != Some(Errno::EFAULT) {
        uprintln!("hostile-test: write from the guard page did not fail with EFAULT");
        EDGE_WRONG.fetch_add(1, Ordering::SeqCst);
    }
    EDGE_DONE.store(1, Ordering::SeqCst);
}

pub(super) fn stack_edges() -> Result<(), &'static str> {
    if crate::user::rt::spawn(edge_thread, 0) < 0 {
        return Err("cannot start the edge thread");
    }
    for _ in 0..500 {
        if EDGE_DONE.load(Ordering::SeqCst) == 1 {
            return match EDGE_WRONG.load(Ordering::SeqCst) {
                0 => Ok(()),
                _ => Err("a stack edge was accepted or refused wrongly (lines above)"),
            };
        }
        user::sleep_ms(10);
    }
    Err("the edge thread never finished")
}

pub(super) fn huge_lengths() -> Result<(), &'static str> {
    let mut big = [0u8; 70_000];
    let n = syscall3(SYS_GETRANDOM, big.as_mut_ptr() as u64, big.len() as u64, 0);
    if !(1..70_000).contains(&n) {
        uprintln!("hostile-test: getrandom of 70000 bytes returned {n}: want a short count");
        return Err("getrandom is not bounded");
    }
    big[..4097].fill(b'.');
    let n = syscall3(SYS_WRITE, 1, big.as_ptr() as u64, 4097);
    uprintln!();
    if !(1..4097).contains(&n) {
        uprintln!("hostile-test: console write of 4097 bytes returned {n}: want a short count");
        return Err("console write is not bounded");
    }
    let p = big.as_mut_ptr() as u64;
    let u = udp_bound()?;
    // Linux clamps a count to MAX_RW_COUNT, so a huge one on a valid buffer is a short write.
    let n = syscall3(SYS_WRITE, 1, p, 1 << 40);
    uprintln!();
    if !(1..=4096).contains(&n) {
        uprintln!("hostile-test: console write of 2^40 bytes returned {n}: want a short count");
        return Err("console write is not bounded");
    }
    let checks: [(&str, isize); 6] = [
        ("write len usize::MAX", syscall3(SYS_WRITE, 1, p, u64::MAX)),
        ("read len usize::MAX", syscall3(SYS_READ, 0, p, u64::MAX)),
        (
            "getrandom len usize::MAX",
            syscall3(SYS_GETRANDOM, u64::MAX - 15, u64::MAX, 0),
        ),
        (
            "recvfrom len 2^40",
            syscall6(SYS_RECVFROM, u as u64, p, 1 << 40, 0x40, 0, 0),
        ),
        (
            "sendto len usize::MAX",
            syscall6(SYS_SENDTO, u as u64, p, u64::MAX, 0, 0, 0),
        ),
        ("poll nfds 2^40", syscall3(SYS_POLL, p, 1 << 40, 0)),
    ];
    user::close(u);
    let mut wrong = 0;
    for (what, ret) in checks {
        // A count negative as ssize_t is EINVAL (rw_verify_area), so is poll with more
        // descriptors than RLIMIT_NOFILE; the rest is EFAULT: the range is not the
        // program's memory. (Linux checks a range only against the user address limit, and
        // would answer the recvfrom with EAGAIN and the sendto with EMSGSIZE.)
        let rw = what.starts_with("write") || what.starts_with("read");
        let want = if what.starts_with("poll") || rw {
            Errno::EINVAL
        } else {
            Errno::EFAULT
        };
        if errno(ret) != Some(want) {
            uprintln!("hostile-test: {what}: got {ret}, want -{}", want.name());
            wrong += 1;
        }
    }
    if wrong == 0 {
        Ok(())
    } else {
        Err("a huge length was not refused (lines above)")
    }
}
