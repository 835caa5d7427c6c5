//! New threads and programs from a running one: `clone` (and `clone3`) for threads (the flags glibc, musl
//! and Rust's std use) and for `vfork`-style children (`CLONE_VM | CLONE_VFORK`, how musl's
//! and glibc's `posix_spawn` start a program), `execve`, and `wait4`.
//!
//! Differences from Linux, on purpose and commented where they live: a child that does not
//! share its parent's memory (`fork`) is refused with `ENOSYS` (no copy-on-write yet);
//! `execve` from a program with several threads is refused with `EAGAIN` (Linux would end the
//! other threads).
//!
//! Owns the checks of `clone`'s flag combinations; never starts a thread whose program is
//! not counted, never lets a vfork parent run before its child has left its memory.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use uapi::Errno;

use super::start::{comm_of, spawn_with_state, UserStart};
use super::{exec, register, release_vfork_parent, unregister, vfork_key, Process, NEXT_PID};
use crate::arch::usermode::UserRegs;
use crate::mm::uaccess;
use crate::sched::{self, UserState};
use crate::wait;

pub const CLONE_VM: u64 = 0x100;
pub const CLONE_FS: u64 = 0x200;
pub const CLONE_FILES: u64 = 0x400;
pub const CLONE_SIGHAND: u64 = 0x800;
pub const CLONE_PIDFD: u64 = 0x1000;
pub const CLONE_PTRACE: u64 = 0x2000;
pub const CLONE_VFORK: u64 = 0x4000;
pub const CLONE_PARENT: u64 = 0x8000;
pub const CLONE_THREAD: u64 = 0x10000;
pub const CLONE_NEWNS: u64 = 0x20000;
pub const CLONE_SYSVSEM: u64 = 0x40000;
pub const CLONE_SETTLS: u64 = 0x80000;
pub const CLONE_PARENT_SETTID: u64 = 0x100000;
pub const CLONE_CHILD_CLEARTID: u64 = 0x200000;
pub const CLONE_DETACHED: u64 = 0x400000;
pub const CLONE_UNTRACED: u64 = 0x800000;
pub const CLONE_CHILD_SETTID: u64 = 0x1000000;
/// Flags understood; the namespace and other ones are `EINVAL` here (rinet has no
/// namespaces), where Linux might need privileges.
const KNOWN: u64 = 0xff
    | CLONE_VM
    | CLONE_FS
    | CLONE_FILES
    | CLONE_SIGHAND
    | CLONE_PTRACE
    | CLONE_VFORK
    | CLONE_PARENT
    | CLONE_THREAD
    | CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_DETACHED
    | CLONE_UNTRACED
    | CLONE_CHILD_SETTID;

fn canonical_user(a: u64) -> bool {
    a < 1 << 47
}

/// `struct clone_args`'s first version (`CLONE_ARGS_SIZE_VER0`): the smallest size `clone3`
/// accepts.
const CLONE_ARGS_VER0: usize = 64;
/// The fields of `struct clone_args` known here (up to `cgroup`, `CLONE_ARGS_SIZE_VER2`).
const CLONE_ARGS_KNOWN: usize = 88;
/// `CSIGNAL`: the exit signal's bits of `clone`'s flags (`clone3` takes it in its own field).
const CSIGNAL: u64 = 0xff;

/// `clone3(args, size)`: the same as [`clone`], its arguments in a `struct clone_args`. As
/// Linux: `size` below the first version is `EINVAL`, above a page `E2BIG`, and bytes past the
/// fields known here must be zero (`E2BIG`); the exit signal is its own field (`EINVAL` in the
/// flags' low byte or above 64); the child's stack is `[stack, stack + stack_size)` and it
/// starts at the top (both zero: the caller's stack, as `vfork`). `set_tid` (choosing the
/// child's pid) is refused with `EINVAL`: a deliberate difference, pids here have no namespace
/// to pick them in.
pub fn clone3(regs: &UserRegs, args: u64, size: usize) -> Result<i64, Errno> {
    if size < CLONE_ARGS_VER0 {
        return Err(Errno::EINVAL);
    }
    if size > 4096 {
        return Err(Errno::E2BIG);
    }
    let mut raw = [0u8; CLONE_ARGS_KNOWN];
    let known = size.min(CLONE_ARGS_KNOWN);
    uaccess::copy_from_user(&mut raw[..known], args)?;
    let mut at = known;
    while at < size {
        let mut rest = [0u8; 256];
        let n = (size - at).min(rest.len());
        uaccess::copy_from_user(&mut rest[..n], args + at as u64)?;
        if rest[..n].iter().any(|&b| b != 0) {
            return Err(Errno::E2BIG);
        }
        at += n;
    }
    let field = |i: usize| u64::from_ne_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    let (flags, _pidfd, child_tid, parent_tid, exit_signal) =
        (field(0), field(1), field(2), field(3), field(4));
    let (stack, stack_size, tls, set_tid, set_tid_size) =
        (field(5), field(6), field(7), field(8), field(9));
    if flags & CSIGNAL != 0 || exit_signal > 64 || flags >> 32 != 0 {
        return Err(Errno::EINVAL);
    }
    if set_tid != 0 || set_tid_size != 0 {
        return Err(Errno::EINVAL);
    }
    let sp = match (stack, stack_size) {
        (0, 0) => 0,
        (0, _) | (_, 0) => return Err(Errno::EINVAL),
        (base, len) => base.checked_add(len).ok_or(Errno::EINVAL)?,
    };
    clone(regs, flags | exit_signal, sp, parent_tid, child_tid, tls)
}

/// `clone(flags, newsp, parent_tid, child_tid, tls)` from a program whose registers at the
/// call are `regs` (the child resumes there, with `rax = 0`).
pub fn clone(
    regs: &UserRegs,
    flags: u64,
    newsp: u64,
    ptid: u64,
    ctid: u64,
    tls: u64,
) -> Result<i64, Errno> {
    let p = sched::current_process().ok_or(Errno::EPERM)?;
    if flags & !KNOWN != 0 {
        return Err(Errno::EINVAL);
    }
    // Linux's rules: a thread shares the signal handlers, which need the memory.
    if flags & CLONE_THREAD != 0 && flags & CLONE_SIGHAND == 0 {
        return Err(Errno::EINVAL);
    }
    if flags & CLONE_SIGHAND != 0 && flags & CLONE_VM == 0 {
        return Err(Errno::EINVAL);
    }
    if flags & CLONE_VM == 0 {
        // fork: a copy of the memory. Not offered yet (no copy-on-write); posix_spawn, the
        // way libcs start programs, uses CLONE_VM | CLONE_VFORK.
        return Err(Errno::ENOSYS);
    }
    if flags & CLONE_SETTLS != 0 && !canonical_user(tls) {
        return Err(Errno::EPERM);
    }
    let mut child_regs = *regs;
    child_regs.rax = 0;
    if newsp != 0 {
        child_regs.rsp = newsp;
    }
    let (fs_base, sigmask) = sched::with_user_state(|u| (u.fs_base, u.sigmask));
    let tid = NEXT_PID.fetch_add(1, Ordering::Relaxed);
    let state = UserState {
        tid,
        fs_base: if flags & CLONE_SETTLS != 0 {
            tls
        } else {
            fs_base
        },
        clear_child_tid: if flags & CLONE_CHILD_CLEARTID != 0 {
            ctid
        } else {
            0
        },
        sigmask,
        altstack: [0; 3],
        saved_sigmask: None,
    };
    if flags & CLONE_PARENT_SETTID != 0 {
        uaccess::write(ptid, tid as u32)?;
    }
    if flags & CLONE_CHILD_SETTID != 0 {
        // Same memory (CLONE_VM): the child's word is the parent's.
        uaccess::write(ctid, tid as u32)?;
    }
    if flags & CLONE_THREAD != 0 {
        spawn_with_state(&p, UserStart::Regs(child_regs), state).map_err(|e| {
            log::warn!("clone: program {}: {e}", p.name());
            Errno::EAGAIN
        })?;
        return Ok(tid as i64);
    }
    // A new program sharing this one's memory until it calls execve (vfork).
    let files = if flags & CLONE_FILES != 0 {
        // Sharing one table between programs is not offered: the child gets a copy, which
        // is what posix_spawn's child (the only user of this path) needs.
        p.files.lock().clone()
    } else {
        p.files.lock().clone()
    };
    let ppid = if flags & CLONE_PARENT != 0 {
        p.ppid
    } else {
        p.pid
    };
    let mut child = Process::new(p.name(), ppid, None, p.root(), files, p.cwd.lock().clone());
    // As on Linux, the child's first thread's tid is its pid.
    child.pid = tid;
    let child = Arc::new(child);
    *child.vfork_parent.lock() = Some(p.clone());
    *child.sigactions.lock() = *p.sigactions.lock();
    *child.exec_info.lock() = p.exec_info.lock().clone();
    register(&child).map_err(|_| Errno::EAGAIN)?;
    let key = vfork_key(p.pid);
    let g = wait::generation(key);
    if let Err(e) = spawn_with_state(&child, UserStart::Regs(child_regs), state) {
        log::warn!("clone: {e}");
        child.vfork_parent.lock().take();
        unregister(&child);
        return Err(Errno::EAGAIN);
    }
    // vfork: wait until the child leaves our memory (execve or exit). Without CLONE_VFORK
    // too: two programs must never run in one memory at once here.
    let mut g = g;
    while child.vfork_parent.lock().is_some() {
        wait::sleep_on_if_unchanged(key, g, None);
        g = wait::generation(key);
    }
    Ok(tid as i64)
}

/// Copy a NULL-terminated array of string pointers (argv, envp) in, within the exec limits.
fn strings_in(array: u64) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if array == 0 {
        return Ok(out);
    }
    let mut total = 0usize;
    for i in 0.. {
        let at = array.checked_add(i * 8).ok_or(Errno::EFAULT)?;
        let ptr: u64 = uaccess::read(at)?;
        if ptr == 0 {
            break;
        }
        let s = crate::syscall::fs::path_in_limited(ptr, ::exec::MAX_ARG_STRLEN)?;
        total += s.len() + 1 + 8;
        if total > ::exec::MAX_ARG_BYTES {
            return Err(Errno::E2BIG);
        }
        out.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        out.push(s);
    }
    Ok(out)
}

/// `execve(path, argv, envp)`: on success the calling thread's registers (`regs`) start the
/// new program; the old memory is gone.
pub fn execve(regs: &mut UserRegs, path: u64, argv: u64, envp: u64) -> Result<i64, Errno> {
    let p = sched::current_process().ok_or(Errno::EPERM)?;
    let path = crate::syscall::fs::nonempty_path_in(path)?;
    let argv = strings_in(argv)?;
    let envp = strings_in(envp)?;
    if sched::process_has_other_threads(&p) {
        // Linux ends the other threads; not offered yet.
        return Err(Errno::EAGAIN);
    }
    let cwd = p.cwd.lock().clone();
    let image = exec::load(&path, &argv, &envp, cwd.as_ref())?;
    // Point of no return: the program becomes the new one.
    let root = image.memory.root();
    let old = {
        let mut m = p.memory.lock();
        let old = m.replace(image.memory);
        p.root.store(root, Ordering::Release);
        crate::mm::space::activate(root);
        old
    };
    // The replaced image's peak size and faults still count for getrusage, as on Linux.
    if let Some(map) = old.as_ref().map(|m| m.map()) {
        let mut replaced = p.replaced_usage.lock();
        replaced.0 = replaced.0.max(map.peak_committed);
        replaced.1 += map.faults;
    }
    drop(old);
    release_vfork_parent(&p);
    *p.comm.lock() = comm_of(&path);
    *p.exec_info.lock() = super::ExecInfo::new(&path, &argv);
    let closing = p.files.lock().close_on_exec();
    for f in closing {
        crate::files::put(f);
    }
    // Caught signals return to their default; ignored ones stay ignored (execve(2)).
    for a in p.sigactions.lock().iter_mut() {
        if a.handler > 1 {
            *a = super::signal::SigAction::default();
        }
    }
    sched::with_user_state(|u| {
        u.fs_base = 0;
        u.clear_child_tid = 0;
        u.altstack = [0; 3];
    });
    crate::arch::set_fs_base(0);
    *regs = UserRegs {
        rip: image.entry,
        rsp: image.sp,
        rflags: 0x202,
        ..UserRegs::default()
    };
    Ok(0)
}

const WNOHANG: i32 = 1;
const WUNTRACED: i32 = 2;
const WCONTINUED: i32 = 8;
const WALL: i32 = 0x4000_0000;
const WCLONE: i32 = 0x8000_0000u32 as i32;
const WNOTHREAD: i32 = 0x2000_0000;

/// `wait4(pid, wstatus, options, rusage)`.
pub fn wait4(pid: i64, wstatus: u64, options: i32, rusage: u64) -> Result<i64, Errno> {
    let p = sched::current_process().ok_or(Errno::EPERM)?;
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WALL | WCLONE | WNOTHREAD) != 0 {
        return Err(Errno::EINVAL);
    }
    match super::wait_child(&p, pid, options & WNOHANG != 0)? {
        None => Ok(0),
        Some((child, status, usage)) => {
            if wstatus != 0 {
                uaccess::write(wstatus, status)?;
            }
            if rusage != 0 {
                crate::syscall::rusage::write_rusage(rusage, &usage)?;
            }
            Ok(child as i64)
        }
    }
}
