//! The hostile programs `hostile-test` starts one at a time: each does one thing a ring-3
//! program must not be able to do to the kernel (read, write or jump into kernel text, data,
//! heap, stack, IDT, GDT, page tables; execute its own stack or data; write its own code) and
//! must be killed for it with the status a shell shows for SIGSEGV (139). Reaching the end of
//! one of them is the failure: it exits with [`SURVIVED`].
//!
//! Runs in ring 3: only `crate::user` may be called. The `unsafe` blocks are the deliberate
//! faults, like `user_test::crash_user`'s.

use core::sync::atomic::{AtomicU64, Ordering};

use net::Errno;

use crate::syscall::SYS_WRITE;
use crate::uprintln;
use crate::user;

/// Exit status of a hostile program that was not stopped.
pub const SURVIVED: i32 = 42;

extern "C" {
    // Linker symbols (kernel/linker.ld, arch::boot): only their addresses are used here.
    static __text_start: u8;
    static __rodata_start: u8;
    /// Start of the kernel's own `.data` (it follows the programs' `.user_data`).
    static __user_data_end: u8;
    static __kernel_end: u8;
    static boot_pml4: u8;
    static boot_stack_top: u8;
}

/// A byte of the programs' own data, to try executing it.
#[link_section = ".user_data"]
static mut USER_DATA_RET: [u8; 16] = [0xc3; 16];

/// The hostile programs, by name (registered in `programs::USER_PROGRAMS`).
pub const CASES: &[(&str, crate::process::UserMain)] = &[
    ("hostile-write-text", write_text),
    ("hostile-write-rodata", write_rodata),
    ("hostile-read-data", read_data),
    ("hostile-write-data", write_data),
    ("hostile-read-heap", read_heap),
    ("hostile-read-direct-map", read_direct_map),
    ("hostile-read-kstack", read_kernel_stack),
    ("hostile-read-pagetables", read_page_tables),
    ("hostile-write-pagetables", write_page_tables),
    ("hostile-read-idt", read_idt),
    ("hostile-read-gdt", read_gdt),
    ("hostile-jump-data", jump_data),
    ("hostile-jump-heap", jump_heap),
    ("hostile-jump-kernel-code", jump_kernel_code),
    ("hostile-exec-stack", exec_stack),
    ("hostile-exec-user-data", exec_user_data),
    ("hostile-read-other-stack", read_other_stack),
];

/// An address on another program's stack (`hostile-test`'s, published by it before it starts
/// [`read_other_stack`]); the built-in programs' statics are shared, their stacks are not.
#[link_section = ".user_data"]
pub static OTHER_STACK: AtomicU64 = AtomicU64::new(0);

fn addr_text() -> u64 {
    (&raw const __text_start) as u64
}

fn addr_kernel_data() -> u64 {
    (&raw const __user_data_end) as u64
}

/// Kernel heap and frames: the frame bitmap and the heap's first arena start here.
fn addr_heap() -> u64 {
    (&raw const __kernel_end) as u64 + 0x1_0000
}

fn read_at(name: &str, addr: u64) -> i32 {
    uprintln!("{name}: reading {addr:#x}");
    // SAFETY: deliberately unsound: a kernel address, which must fault and end this program.
    let v = unsafe { core::ptr::read_volatile(addr as *const u64) };
    uprintln!("{name}: read {v:#x}: the kernel is readable");
    SURVIVED
}

fn write_at(name: &str, addr: u64) -> i32 {
    uprintln!("{name}: writing {addr:#x}");
    // SAFETY: deliberately unsound: a kernel address, which must fault and end this program.
    unsafe { core::ptr::write_volatile(addr as *mut u8, 0xcc) };
    uprintln!("{name}: the write went through");
    SURVIVED
}

fn jump_to(name: &str, addr: u64) -> i32 {
    uprintln!("{name}: jumping to {addr:#x}");
    // SAFETY: deliberately unsound: not code this program may run; it must fault.
    let f = unsafe { core::mem::transmute::<u64, extern "C" fn()>(addr) };
    f();
    uprintln!("{name}: came back");
    SURVIVED
}

fn write_text(_: &[&str]) -> i32 {
    write_at("hostile-write-text", addr_text())
}

fn write_rodata(_: &[&str]) -> i32 {
    write_at("hostile-write-rodata", (&raw const __rodata_start) as u64)
}

fn read_data(_: &[&str]) -> i32 {
    read_at("hostile-read-data", addr_kernel_data())
}

fn write_data(_: &[&str]) -> i32 {
    write_at("hostile-write-data", addr_kernel_data())
}

fn read_heap(_: &[&str]) -> i32 {
    read_at("hostile-read-heap", addr_heap())
}

/// Kernel text through the kernel's direct map of physical memory (`mem::PHYS_OFFSET` + its
/// physical address, 1 MiB): its leaves are the ones that let ring 3 run `.text` at its
/// identity address, so only the direct map's supervisor-only top-level entry stops this.
fn read_direct_map(_: &[&str]) -> i32 {
    read_at("hostile-read-direct-map", 0xffff_8000_0010_0000)
}

fn read_kernel_stack(_: &[&str]) -> i32 {
    read_at(
        "hostile-read-kstack",
        (&raw const boot_stack_top) as u64 - 64,
    )
}

fn read_page_tables(_: &[&str]) -> i32 {
    read_at("hostile-read-pagetables", (&raw const boot_pml4) as u64)
}

fn write_page_tables(_: &[&str]) -> i32 {
    write_at("hostile-write-pagetables", (&raw const boot_pml4) as u64)
}

/// The base of a descriptor table register as `sidt`/`sgdt` store it (10 bytes).
fn table_base(idt: bool) -> u64 {
    let mut buf = [0u8; 10];
    // SAFETY: sidt/sgdt store 10 bytes at the pointer, our own stack buffer. With UMIP on
    // (arch::enable_umip, when the CPU has it) they fault right here, ending the program;
    // without, they reveal where the table is, and reading it faults.
    unsafe {
        if idt {
            core::arch::asm!("sidt [{}]", in(reg) buf.as_mut_ptr(), options(nostack));
        } else {
            core::arch::asm!("sgdt [{}]", in(reg) buf.as_mut_ptr(), options(nostack));
        }
    }
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[2..10]);
    u64::from_le_bytes(b)
}

fn read_idt(_: &[&str]) -> i32 {
    read_at("hostile-read-idt", table_base(true))
}

fn read_gdt(_: &[&str]) -> i32 {
    read_at("hostile-read-gdt", table_base(false))
}

fn jump_data(_: &[&str]) -> i32 {
    jump_to("hostile-jump-data", addr_kernel_data())
}

fn jump_heap(_: &[&str]) -> i32 {
    jump_to("hostile-jump-heap", addr_heap())
}

/// Kernel code runs in ring 3 only with ring 3's rights: its privileged instructions fault.
fn jump_kernel_code(_: &[&str]) -> i32 {
    jump_to(
        "hostile-jump-kernel-code",
        crate::arch::halt_forever as *const () as u64,
    )
}

fn exec_stack(_: &[&str]) -> i32 {
    let code = core::hint::black_box([0xc3u8; 16]); // ret
    jump_to("hostile-exec-stack", code.as_ptr() as u64)
}

fn exec_user_data(_: &[&str]) -> i32 {
    jump_to("hostile-exec-user-data", (&raw const USER_DATA_RET) as u64)
}

/// Another program's stack is not in this program's address space: a system call given it
/// fails with EFAULT, and touching it kills the program.
fn read_other_stack(_: &[&str]) -> i32 {
    let addr = OTHER_STACK.load(Ordering::SeqCst);
    if addr == 0 {
        uprintln!("hostile-read-other-stack: no address published");
        return SURVIVED;
    }
    let r = user::syscall3(SYS_WRITE, 1, addr, 8);
    if r != -(Errno::EFAULT.code() as isize) {
        uprintln!("hostile-read-other-stack: write(1, {addr:#x}, 8) returned {r}, not -EFAULT");
        return SURVIVED;
    }
    read_at("hostile-read-other-stack", addr)
}

/// `hostile-sleeper`: sleeps a little and exits 0 (hostile-test starts many of these).
pub fn sleeper(_: &[&str]) -> i32 {
    user::sleep_ms(300);
    0
}
