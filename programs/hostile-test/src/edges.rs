//! The edges of the program's own memory and huge lengths: the guard page below a thread's
//! stack is not memory (EFAULT in a call, as `write(1, guard, 1)` once crashed rinet), and
//! counts far beyond any buffer get a short count or the errno Linux gives.

use std::thread;

use progkit::sys::{self, name, syscall};
use progkit::{on_rinet, CheckResult, Errno};

use crate::rinet_differs;

const PAGE: u64 = 4096;

/// A raw call's result.
type Ret = Result<usize, Errno>;

/// The end of user memory on x86_64 with 4-level paging (Linux's TASK_SIZE_MAX).
const USER_TOP: u64 = 0x7fff_ffff_f000;

/// The stack a thread gets here: small, so that the walk down to its guard page is short.
const THREAD_STACK: usize = 64 * 1024;

/// Whether the page at `addr` can be read by the kernel on this program's behalf: one byte
/// written from it into a pipe (and read back out).
fn readable(pipe: [i32; 2], addr: u64) -> Result<bool, String> {
    match syscall(libc::SYS_write, [pipe[1] as u64, addr, 1, 0, 0, 0]) {
        Ok(1) => {
            let mut b = [0u8; 1];
            let _ = sys::read(pipe[0], &mut b);
            Ok(true)
        }
        Err(Errno::EFAULT) => Ok(false),
        other => Err(format!("write from {addr:#x}: {}", name(other))),
    }
}

fn pipe() -> Result<[i32; 2], String> {
    let mut fds = [0i32; 2];
    syscall(
        libc::SYS_pipe2,
        [fds.as_mut_ptr() as u64, libc::O_CLOEXEC as u64, 0, 0, 0, 0],
    )
    .map_err(|e| format!("pipe2: {}", e.name()))?;
    Ok(fds)
}

/// On a fresh thread: walk down from the current stack page to the first page the kernel
/// refuses (the guard), within the stack's size, and aim calls at it.
#[inline(never)]
fn guard_checks() -> Result<(), String> {
    let marker = std::hint::black_box(0u8);
    let here = (&marker as *const u8 as u64) & !(PAGE - 1);
    let p = pipe()?;
    let mut guard = None;
    for i in 1..=(THREAD_STACK as u64 / PAGE + 8) {
        if !readable(p, here - i * PAGE)? {
            guard = Some(here - i * PAGE);
            break;
        }
    }
    let _ = sys::close(p[0]);
    let _ = sys::close(p[1]);
    let guard = guard.ok_or("no unmapped page below the thread's stack")?;
    println!(
        "hostile-test: thread stack at {here:#x}, guard page {:#x} below",
        here - guard
    );
    let top = guard + PAGE;
    let checks: [(&str, Ret, Ret); 4] = [
        (
            "getrandom into the stack's lowest 8 bytes",
            syscall(libc::SYS_getrandom, [top, 8, 0, 0, 0, 0]),
            Ok(8),
        ),
        (
            "getrandom into the guard page",
            syscall(libc::SYS_getrandom, [guard, 8, 0, 0, 0, 0]),
            Err(Errno::EFAULT),
        ),
        (
            "getrandom from the guard page up into the stack",
            syscall(libc::SYS_getrandom, [top - 8, 16, 0, 0, 0, 0]),
            Err(Errno::EFAULT),
        ),
        (
            "write(1) from the guard page",
            syscall(libc::SYS_write, [1, guard, 1, 0, 0, 0]),
            Err(Errno::EFAULT),
        ),
    ];
    let mut wrong = Vec::new();
    for (what, got, want) in checks {
        if got != want {
            wrong.push(format!("{what}: got {}, want {}", name(got), name(want)));
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("; "))
    }
}

pub fn stack_edges() -> CheckResult {
    thread::Builder::new()
        .stack_size(THREAD_STACK)
        .spawn(guard_checks)
        .map_err(|e| format!("cannot start the edge thread: {e}"))?
        .join()
        .map_err(|_| "the edge thread panicked".to_string())?
}

/// Two pages of this program's, then an unmapped one: a huge count on it runs into the hole.
struct TwoPages(u64);

impl TwoPages {
    fn map() -> Result<TwoPages, String> {
        let prot = (libc::PROT_READ | libc::PROT_WRITE) as u64;
        let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
        let a = syscall(libc::SYS_mmap, [0, 3 * PAGE, prot, flags, u64::MAX, 0])
            .map_err(|e| format!("mmap: {}", e.name()))? as u64;
        syscall(libc::SYS_munmap, [a + 2 * PAGE, PAGE, 0, 0, 0, 0])
            .map_err(|e| format!("munmap: {}", e.name()))?;
        // Dots, so that what reaches the console is readable: through a pipe, since the
        // pages are not a Rust object.
        let dots = [b'.'; 2 * PAGE as usize];
        let p = pipe()?;
        sys::write_all(p[1], &dots).map_err(|e| e.name().to_string())?;
        let mut filled = 0;
        while filled < 2 * PAGE {
            let left = 2 * PAGE - filled;
            match syscall(libc::SYS_read, [p[0] as u64, a + filled, left, 0, 0, 0]) {
                Ok(n) if n > 0 => filled += n as u64,
                _ => break,
            }
        }
        let _ = sys::close(p[0]);
        let _ = sys::close(p[1]);
        if filled != 2 * PAGE {
            return Err("cannot fill the two pages".into());
        }
        Ok(TwoPages(a))
    }
}

impl Drop for TwoPages {
    fn drop(&mut self) {
        let _ = syscall(libc::SYS_munmap, [self.0, 2 * PAGE, 0, 0, 0, 0]);
    }
}

pub fn huge_lengths() -> CheckResult {
    let mut big = vec![0u8; 70_000];
    let n = syscall(
        libc::SYS_getrandom,
        [big.as_mut_ptr() as u64, 70_000, 0, 0, 0, 0],
    );
    if !matches!(n, Ok(1..=70_000)) {
        return Err(format!("getrandom of 70000 bytes: {}", name(n)));
    }
    let pages = TwoPages::map()?;
    let p = pages.0;
    let n = syscall(libc::SYS_write, [1, p, 4097, 0, 0, 0]);
    println!();
    if !matches!(n, Ok(1..=4097)) {
        return Err(format!("console write of 4097 bytes: {}", name(n)));
    }
    // A copy cut short by unmapped memory is a short count: at most the two pages. Linux
    // first checks the whole range against the top of user memory (access_ok), so a count
    // that runs past it is EFAULT, wherever the buffer's pages end.
    for len in [1u64 << 20, 1 << 40] {
        let n = syscall(libc::SYS_write, [1, p, len, 0, 0, 0]);
        println!();
        let past_user = p.checked_add(len).is_none_or(|end| end > USER_TOP);
        let good = if past_user {
            n == Err(Errno::EFAULT)
        } else {
            matches!(n, Ok(1..=8192))
        };
        if !good {
            let want = if past_user { "EFAULT" } else { "a short count" };
            return Err(format!(
                "write of {len} bytes from two pages at {p:#x}: {}, want {want}",
                name(n)
            ));
        }
    }
    let udp = sys::socket(libc::AF_INET, libc::SOCK_DGRAM).map_err(|e| e.name().to_string())?;
    let _ = sys::bind(udp, &sys::sockaddr_in([127, 0, 0, 1], 0));
    let me = sys::getsockname(udp).map_err(|e| e.name().to_string())?;
    let me_p = &me as *const libc::sockaddr_in as u64;
    let u = udp as u64;
    let rinet = on_rinet();
    // Linux checks a range only against the top of user memory: a huge count on a valid
    // buffer reaches the protocol (EAGAIN on an empty queue, EMSGSIZE for a datagram over
    // 64 KiB). rinet checks the range against the program's mappings first (EFAULT): stricter
    // on purpose, documented at its uaccess.
    let (recv_want, send_want) = if rinet {
        (Errno::EFAULT, Errno::EFAULT)
    } else {
        (Errno::EAGAIN, Errno::EMSGSIZE)
    };
    let dontwait = libc::MSG_DONTWAIT as u64;
    let checks: [(&str, Result<usize, Errno>, Errno); 7] = [
        // access_ok fails before rw_verify_area would see a negative count.
        (
            "write len usize::MAX",
            syscall(libc::SYS_write, [1, p, u64::MAX, 0, 0, 0]),
            Errno::EFAULT,
        ),
        (
            "read len usize::MAX",
            syscall(libc::SYS_read, [0, p, u64::MAX, 0, 0, 0]),
            Errno::EFAULT,
        ),
        (
            "getrandom at 2^64-16, len usize::MAX",
            syscall(libc::SYS_getrandom, [u64::MAX - 15, u64::MAX, 0, 0, 0, 0]),
            Errno::EFAULT,
        ),
        (
            "recvfrom len 2^40",
            syscall(libc::SYS_recvfrom, [u, p, 1 << 40, dontwait, 0, 0]),
            recv_want,
        ),
        (
            "sendto len usize::MAX",
            syscall(libc::SYS_sendto, [u, p, u64::MAX, 0, me_p, 16]),
            send_want,
        ),
        // More descriptors than RLIMIT_NOFILE.
        (
            "poll nfds 2^32-1",
            syscall(libc::SYS_poll, [p, u32::MAX as u64, 0, 0, 0, 0]),
            Errno::EINVAL,
        ),
        (
            "mmap len usize::MAX",
            syscall(
                libc::SYS_mmap,
                [
                    0,
                    u64::MAX,
                    libc::PROT_READ as u64,
                    (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64,
                    u64::MAX,
                    0,
                ],
            ),
            Errno::ENOMEM,
        ),
    ];
    let _ = sys::close(udp);
    let mut wrong = Vec::new();
    for (what, got, want) in checks {
        if got == Err(want) {
            continue;
        }
        // rinet answers a count negative as ssize_t with EINVAL before checking the range.
        let known = what.ends_with("len usize::MAX")
            && got == Err(Errno::EINVAL)
            && rinet_differs(&format!("{what} is EINVAL"), "EFAULT, from access_ok");
        if !known {
            wrong.push(format!("{what}: got {}, want {}", name(got), want.name()));
        }
    }
    // poll's nfds is an unsigned int: 2^40 is 0 descriptors, a timeout with nothing ready.
    let n = syscall(libc::SYS_poll, [p, 1 << 40, 0, 0, 0, 0]);
    let known = n == Err(Errno::EINVAL)
        && rinet_differs("poll nfds 2^40 is EINVAL", "nfds is an unsigned int: 0");
    if n != Ok(0) && !known {
        wrong.push(format!(
            "poll nfds 2^40 (0 as an unsigned int): got {}, want 0",
            name(n)
        ));
    }
    // brk far beyond any memory: refused by returning the break unchanged.
    let cur = syscall(libc::SYS_brk, [0, 0, 0, 0, 0, 0]).unwrap_or(0) as u64;
    let moved = syscall(libc::SYS_brk, [cur + (1 << 46), 0, 0, 0, 0, 0]);
    if moved != Ok(cur as usize) {
        wrong.push(format!(
            "brk(+2^46) from {cur:#x}: got {}, want the old break",
            name(moved)
        ));
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join("; "))
    }
}
