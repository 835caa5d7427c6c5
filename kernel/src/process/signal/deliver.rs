//! Delivery on the way back to ring 3 and `rt_sigreturn`.
//!
//! [`deliver`] runs at a system call's return and at an interrupt's return to ring 3: it takes
//! the lowest pending signal the thread does not block and either ignores it, ends the program
//! (default action: killed by the signal, with the core bit for the core-dump ones), or builds
//! a `struct rt_sigframe` (`frame`) on the thread's stack — or its alternate stack with
//! SA_ONSTACK — and points the registers at the handler: rdi = signo, rsi = &siginfo,
//! rdx = &ucontext, rax = 0, rsp = the frame (pretcode = sa_restorer on top). The handler's
//! mask is the thread's plus sa_mask plus the signal (unless SA_NODEFER); SA_RESETHAND resets
//! the action. The x87/SSE registers are saved in the frame and reset for the handler.
//! [`fault`] does the same at once for a fault's signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL).
//!
//! [`rt_sigreturn`] reads the frame back: registers (rip/rsp must be canonical; cs/ss are
//! always the user selectors and rflags keeps only the bits a program may set, see
//! `arch::usermode`), the mask (SIGKILL and SIGSTOP never blocked), the FPU image (MXCSR
//! sanitized) and the alternate stack after SS_AUTODISARM.
//!
//! Never panics on what a program wrote: a frame that cannot be written or read ends the
//! program with SIGSEGV, as Linux does.

use crate::arch::fpu::FpuState;
use crate::arch::gdt;
use crate::arch::usermode::UserRegs;
use crate::mm::uaccess;
use crate::process::{self, Process};
use crate::sched;

use super::frame::{self, RtSigFrame, SigContext, UContext};
use super::pending::{self, DefaultAction, Info, SIG_DFL, SIG_IGN};
use super::{unblockable, SigAction, SIGKILL, SIGSEGV};

pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;
pub const SA_RESTORER: u64 = 0x0400_0000;
const SS_ONSTACK: i32 = 1;
const SS_DISABLE: i32 = 2;
const SS_AUTODISARM: i32 = 1 << 31;
/// RFLAGS a handler starts without: TF, DF, RF.
const HANDLER_FLAGS_CLEARED: u64 = 0x100 | 0x400 | 0x1_0000;
/// The `syscall` instruction's length: a restarted call goes back over it.
const SYSCALL_LEN: u64 = 2;

fn bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

fn is_canonical(addr: u64) -> bool {
    let top = addr >> 47;
    top == 0 || top == 0x1ffff
}

/// Deliver what is pending for the running thread into `regs` (its ring-3 registers at this
/// return). `restart`: the number of the system call returning `EINTR` now, when Linux would
/// restart it for a handler installed with SA_RESTART. Returns whether a handler was set up
/// (the registers now enter it); never returns if the signal ends the program.
pub fn deliver(regs: &mut UserRegs, mut restart: Option<u64>) -> bool {
    let Some(p) = sched::current_process() else {
        return false;
    };
    loop {
        let (tid, mask) = sched::with_user_state(|u| (u.tid, u.sigmask));
        let Some(info) = pending::take(&p, tid, mask) else {
            // No handler ran: a mask `rt_sigsuspend` replaced comes back now.
            sched::with_user_state(|u| {
                if let Some(m) = u.saved_sigmask.take() {
                    u.sigmask = m;
                }
            });
            return false;
        };
        let sig = info.signo;
        let act = p.sigactions.lock()[sig as usize - 1];
        if sig == SIGKILL || act.handler == SIG_DFL {
            match pending::default_action(sig) {
                DefaultAction::Ignore if sig != SIGKILL => continue,
                DefaultAction::Core => die(p, sig, true),
                _ => die(p, sig, false),
            }
        }
        if act.handler == SIG_IGN {
            continue;
        }
        if let Some(nr) = restart.take() {
            if act.flags & SA_RESTART != 0 {
                regs.rip = regs.rip.wrapping_sub(SYSCALL_LEN);
                regs.rax = nr;
            }
        }
        if setup(&p, regs, &info, &act, mask).is_err() {
            let name = p.name();
            log::error!("program {name}: cannot write the frame for signal {sig}");
            die(p, SIGSEGV, true);
        }
        return true;
    }
}

/// A fault's signal (`info`: signo, code, si_addr, trap number, error code) for the running
/// thread, whose registers at the fault are `regs`: set up its handler now. False when the
/// program has none for it, blocks or ignores it, or the frame cannot be written: the caller
/// then ends the program by the signal, as Linux's force_sig does.
pub fn fault(regs: &mut UserRegs, info: &Info) -> bool {
    let Some(p) = sched::current_process() else {
        return false;
    };
    let sig = info.signo;
    let act = p.sigactions.lock()[sig as usize - 1];
    let mask = sched::with_user_state(|u| u.sigmask);
    if act.handler == SIG_DFL || act.handler == SIG_IGN || mask & bit(sig) != 0 {
        return false;
    }
    setup(&p, regs, info, &act, mask).is_ok()
}

/// End the program, killed by `sig`.
fn die(p: alloc::sync::Arc<Process>, sig: i32, core: bool) -> ! {
    log::info!("program {} killed by signal {sig}", p.name());
    drop(p);
    let status = process::killed_status(sig) | if core { process::CORE_DUMPED } else { 0 };
    process::exit_group(status)
}

/// Whether `sp` is on the alternate stack `alt` ([sp, flags, size]).
fn on_alt(alt: [u64; 3], sp: u64) -> bool {
    sp > alt[0] && sp - alt[0] <= alt[2]
}

fn alt_enabled(alt: [u64; 3]) -> bool {
    alt[2] != 0 && (alt[1] as u32 as i32) & SS_DISABLE == 0
}

/// Build the frame for `info` below the thread's stack and enter the handler of `act`.
fn setup(
    p: &Process,
    regs: &mut UserRegs,
    info: &Info,
    act: &SigAction,
    mask: u64,
) -> Result<(), uapi::Errno> {
    let sig = info.signo;
    if act.flags & SA_RESTORER == 0 {
        return Err(uapi::Errno::EFAULT);
    }
    let (alt, saved) = sched::with_user_state(|u| (u.altstack, u.saved_sigmask));
    let on = alt_enabled(alt) && on_alt(alt, regs.rsp);
    let switch = act.flags & SA_ONSTACK != 0 && alt_enabled(alt) && !on;
    let top = if switch { alt[0] + alt[2] } else { regs.rsp };
    let (base, fp) = frame::place(top, switch).ok_or(uapi::Errno::EFAULT)?;
    let ss_flags = if !alt_enabled(alt) {
        SS_DISABLE
    } else if on {
        SS_ONSTACK
    } else {
        0
    } | (alt[1] as u32 as i32 & SS_AUTODISARM);
    let sel = gdt::selectors();
    let cs = u64::from(sel.user_code.0 | 3);
    let ss = u64::from(sel.user_data.0 | 3);
    let f = RtSigFrame {
        pretcode: act.restorer,
        uc: UContext {
            flags: frame::UC_FLAGS,
            link: 0,
            ss_sp: alt[0],
            ss_flags,
            _pad: 0,
            ss_size: alt[2],
            mcontext: SigContext {
                r8: regs.r8,
                r9: regs.r9,
                r10: regs.r10,
                r11: regs.r11,
                r12: regs.r12,
                r13: regs.r13,
                r14: regs.r14,
                r15: regs.r15,
                rdi: regs.rdi,
                rsi: regs.rsi,
                rbp: regs.rbp,
                rbx: regs.rbx,
                rdx: regs.rdx,
                rax: regs.rax,
                rcx: regs.rcx,
                rsp: regs.rsp,
                rip: regs.rip,
                eflags: regs.rflags,
                csgsfs: cs | (ss << 48),
                err: info.err,
                trapno: info.trapno,
                oldmask: saved.unwrap_or(mask),
                cr2: if info.trapno == 14 { info.addr } else { 0 },
                fpstate: fp,
                reserved: [0; 8],
            },
            sigmask: saved.unwrap_or(mask),
        },
        info: frame::siginfo(info),
    };
    uaccess::copy_to_user(fp, FpuState::live().bytes())?;
    uaccess::write(base, f)?;
    FpuState::reset_live();
    let mut add = act.mask;
    if act.flags & SA_NODEFER == 0 {
        add |= bit(sig);
    }
    sched::with_user_state(|u| {
        u.sigmask = (mask | add) & !unblockable();
        u.saved_sigmask = None;
        if switch && (alt[1] as u32 as i32) & SS_AUTODISARM != 0 {
            u.altstack = [0; 3];
        }
    });
    if act.flags & SA_RESETHAND != 0 {
        p.sigactions.lock()[sig as usize - 1] = SigAction::default();
    }
    regs.rip = act.handler;
    regs.rsp = base;
    regs.rdi = sig as u64;
    regs.rsi = base + frame::INFO_OFFSET;
    regs.rdx = base + frame::UC_OFFSET;
    regs.rax = 0;
    regs.rflags &= !HANDLER_FLAGS_CLEARED;
    Ok(())
}

/// `rt_sigreturn`: the registers to resume with, from the frame the handler returned over
/// (`rsp` is the thread's at the call: the restorer ran after `ret` popped pretcode). A frame
/// that cannot be read or holds a non-canonical rip/rsp ends the program with SIGSEGV.
pub fn rt_sigreturn(rsp: u64) -> UserRegs {
    let uc: UContext = match uaccess::read(rsp) {
        Ok(uc) => uc,
        Err(_) => bad_frame("unreadable signal frame", rsp),
    };
    let m = uc.mcontext;
    if !is_canonical(m.rip) || !is_canonical(m.rsp) {
        bad_frame("non-canonical rip or rsp in a signal frame", m.rip);
    }
    if m.fpstate != 0 {
        let mut img = [0u8; 512];
        if uaccess::copy_from_user(&mut img, m.fpstate).is_err() {
            bad_frame("unreadable FPU state in a signal frame", m.fpstate);
        }
        FpuState::from_user(&img).restore();
    } else {
        FpuState::reset_live();
    }
    sched::with_user_state(|u| {
        u.sigmask = uc.sigmask & !unblockable();
        if uc.ss_flags & SS_AUTODISARM != 0 && uc.ss_flags & SS_DISABLE == 0 {
            u.altstack = [uc.ss_sp, SS_AUTODISARM as u32 as u64, uc.ss_size];
        }
    });
    UserRegs {
        r15: m.r15,
        r14: m.r14,
        r13: m.r13,
        r12: m.r12,
        rbp: m.rbp,
        rbx: m.rbx,
        r11: m.r11,
        r10: m.r10,
        r9: m.r9,
        r8: m.r8,
        rax: m.rax,
        rcx: m.rcx,
        rdx: m.rdx,
        rsi: m.rsi,
        rdi: m.rdi,
        rip: m.rip,
        rsp: m.rsp,
        // `usermode::enter_regs` keeps only the flags a program may set.
        rflags: m.eflags,
    }
}

fn bad_frame(what: &str, at: u64) -> ! {
    process::user_fault_sig(SIGSEGV, what, at, None)
}
