//! `hostile-fault CASE [ADDRESS]`: does one thing no program may do and must die of SIGSEGV
//! for it (status 139 in a shell), as Linux kills it: read, write or jump to ADDRESS (a
//! kernel address hostile-test gives, or another process's memory), execute its own stack,
//! data or heap, write its own code, read through a null or non-canonical pointer. Reaching
//! the end is the failure: it prints what it got away with and exits [`SURVIVED`].
//!
//! std's start-up installs a SIGSEGV handler (for stack overflows); the default action is put
//! back first so that the fault itself ends the program, as it ends a C program. The `unsafe`
//! blocks are the deliberate faults.

use std::hint::black_box;
use std::process::ExitCode;

/// Exit status of a program that was not stopped.
const SURVIVED: u8 = 42;

const USAGE: &str = "usage: hostile-fault read|write|jump ADDRESS | read-other ADDRESS | \
                     read-idt|read-gdt [ADDRESS] | exec-stack|exec-data|exec-heap|\
                     write-own-code|read-null|read-noncanonical";

/// A byte of this program's own data (writable, never executable), to try running it.
static mut DATA_RET: [u8; 16] = [0xc3; 16];

fn read_at(addr: u64) -> ExitCode {
    println!("hostile-fault: reading {addr:#x}");
    // SAFETY: deliberately unsound: not memory of this program; the read must end it.
    let v = unsafe { std::ptr::read_volatile(addr as *const u64) };
    println!("hostile-fault: read {v:#x} at {addr:#x}: it is readable");
    ExitCode::from(SURVIVED)
}

fn write_at(addr: u64) -> ExitCode {
    println!("hostile-fault: writing {addr:#x}");
    // SAFETY: deliberately unsound: not writable memory of this program; the write must end it.
    unsafe { std::ptr::write_volatile(addr as *mut u8, 0xcc) };
    println!("hostile-fault: the write to {addr:#x} went through");
    ExitCode::from(SURVIVED)
}

fn jump_to(addr: u64) -> ExitCode {
    println!("hostile-fault: jumping to {addr:#x}");
    // SAFETY: deliberately unsound: not code this program may run; the call must end it.
    let f = unsafe { std::mem::transmute::<u64, extern "C" fn()>(addr) };
    f();
    println!("hostile-fault: came back from {addr:#x}");
    ExitCode::from(SURVIVED)
}

/// The base of a descriptor table register as `sidt`/`sgdt` store it (10 bytes). Where UMIP
/// is on they fault right here (Linux does not emulate them for 64-bit programs); without,
/// they reveal where the table is, and reading it faults.
fn table_base(idt: bool) -> u64 {
    let mut buf = [0u8; 10];
    println!("hostile-fault: {}", if idt { "sidt" } else { "sgdt" });
    // SAFETY: sidt/sgdt store 10 bytes at the pointer, a buffer of ours.
    unsafe {
        if idt {
            std::arch::asm!("sidt [{}]", in(reg) buf.as_mut_ptr(), options(nostack));
        } else {
            std::arch::asm!("sgdt [{}]", in(reg) buf.as_mut_ptr(), options(nostack));
        }
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[2..10]);
    u64::from_le_bytes(b)
}

/// Another process's page is not in this one: a system call given it fails with EFAULT,
/// and touching it ends the program.
fn read_other(addr: u64) -> ExitCode {
    let r = unsafe_free_write(addr);
    if r != -(libc::EFAULT as i64) {
        println!("hostile-fault: write(1, {addr:#x}, 8) returned {r}, not -EFAULT");
        return ExitCode::from(SURVIVED);
    }
    read_at(addr)
}

/// `write(1, addr, 8)`: -errno or the count.
fn unsafe_free_write(addr: u64) -> i64 {
    // SAFETY: the kernel checks the pointer; no memory of ours is touched.
    let r = unsafe { libc::syscall(libc::SYS_write, 1, addr, 8) };
    if r < 0 {
        -(std::io::Error::last_os_error().raw_os_error().unwrap_or(0) as i64)
    } else {
        r
    }
}

fn address(arg: Option<&String>) -> Option<u64> {
    let s = arg?;
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn main() -> ExitCode {
    // SAFETY: restoring the default action of signals; no handler of ours is involved.
    unsafe {
        libc::signal(libc::SIGSEGV, libc::SIG_DFL);
        libc::signal(libc::SIGBUS, libc::SIG_DFL);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = address(args.get(1));
    let case = args.first().map_or("", String::as_str);
    match (case, addr) {
        ("read", Some(a)) => read_at(a),
        ("write", Some(a)) => write_at(a),
        ("jump", Some(a)) => jump_to(a),
        ("read-other", Some(a)) => read_other(a),
        ("read-idt", a) => read_at(a.unwrap_or_else(|| table_base(true))),
        ("read-gdt", a) => read_at(a.unwrap_or_else(|| table_base(false))),
        ("exec-stack", None) => {
            let code = black_box([0xc3u8; 16]); // ret
            jump_to(code.as_ptr() as u64)
        }
        ("exec-data", None) => jump_to((&raw const DATA_RET) as u64),
        ("exec-heap", None) => {
            let code = Box::leak(black_box(Box::new([0xc3u8; 16])));
            jump_to(code.as_ptr() as u64)
        }
        ("write-own-code", None) => write_at(main as fn() -> ExitCode as usize as u64),
        ("read-null", None) => read_at(0),
        ("read-noncanonical", None) => read_at(0x0000_8000_0000_0000),
        _ => {
            eprintln!("hostile-fault: {USAGE}");
            ExitCode::from(2)
        }
    }
}
