//! Program and thread start-up in ring 3: the kernel `iretq`s to [`program_start`] for a new
//! program and to [`thread_start`] for a thread made with [`spawn`]; both end with the `exit`
//! system calls, never by returning.

use crate::process::UserMain;
use crate::syscall::SYS_SPAWN_THREAD;

/// First ring-3 code of a program: `exit_group(main(args))`.
pub extern "C" fn program_start(main: usize, args: usize, nargs: usize) -> ! {
    // SAFETY: the kernel passes the `UserMain` it registered and a `'static` argument slice
    // (both in the image, user-accessible).
    let (main, args) = unsafe {
        (
            core::mem::transmute::<usize, UserMain>(main),
            core::slice::from_raw_parts(args as *const &'static str, nargs),
        )
    };
    let status = main(args);
    super::exit_group(status)
}

/// First ring-3 code of a spawned thread: `f(arg)`, then `exit(0)` (this thread only).
pub extern "C" fn thread_start(f: usize, arg: usize) -> ! {
    // SAFETY: `spawn` passed a `fn(usize)`.
    let f = unsafe { core::mem::transmute::<usize, fn(usize)>(f) };
    f(arg);
    super::exit(0)
}

/// Start a new thread of this program running `f(arg)`; its thread id or `-errno`.
pub fn spawn(f: fn(usize), arg: usize) -> isize {
    super::syscall3(
        SYS_SPAWN_THREAD,
        thread_start as *const () as u64,
        f as usize as u64,
        arg as u64,
    )
}
