//! What `init=` selects: an ELF program of the root file system, or one of the kernel's own
//! self-tests, each of which ends QEMU with a verdict.
//!
//! Owns the dispatch table; the self-tests' real work lives in the modules they call.
//!
//! Kernel programs (self-tests of the kernel itself) run on the boot thread (`main`). Every
//! ring-3 program is an ELF file of the root file system: `init=NAME` or `init=/path` starts
//! it with `process::run_init_elf`, which ends QEMU when it ends, with its status as the
//! verdict. The kernel holds no application code.

mod kernel_test;
mod mem_checks;
mod net_test;
mod sched_checks;

use crate::process;
use crate::{arch, exit, marker, nic};

/// The kernel self-tests `init=` accepts, for the error message.
pub const PROGRAMS: &[&str] = &[
    "boot-test",
    "crash-test",
    "selftest-link",
    "kernel-test",
    "net-test",
];

/// Run program `name` with `args`. Never returns.
pub fn run(name: &'static str, args: &'static [&'static str]) -> ! {
    if let Some(path) = elf_program(name) {
        if let Err(e) = crate::netstack::wait_ready_if_nic() {
            exit::failure(format_args!("init={name}: {e}"))
        }
        let mut argv: alloc::vec::Vec<&str> = alloc::vec![path.as_str()];
        argv.extend_from_slice(args);
        process::run_init_elf(name, &path, &argv)
    }
    match name {
        "boot-test" => {
            if let Err(e) = crate::netstack::wait_ready_if_nic() {
                exit::failure(format_args!("boot-test: {e}"))
            }
            marker!("rinet: boot-test ok");
            exit::success()
        }
        "crash-test" if args.first() == Some(&"stack-overflow") => stack_overflow_test(),
        "crash-test" if args.first() == Some(&"user") => {
            process::run_init_elf("crash-user", "/bin/crash-user", &["/bin/crash-user"])
        }
        "crash-test" if args.first() == Some(&"thread-stack-overflow") => {
            thread_stack_overflow_test()
        }
        "crash-test" if args.first() == Some(&"panic") => {
            panic!("crash-test: deliberate panic (args {args:?})")
        }
        "crash-test" => crash_test(),
        "kernel-test" => match kernel_test::run() {
            Ok(()) => {
                marker!("rinet: kernel-test ok");
                exit::success()
            }
            Err(e) => exit::failure(format_args!("kernel-test: {e}")),
        },
        "net-test" => net_test::main(args),
        "selftest-link" => match nic::selftest_link(args) {
            Ok(()) => {
                marker!("rinet: selftest-link ok");
                exit::success()
            }
            Err(e) => exit::failure(format_args!("selftest-link: {e}")),
        },
        other => exit::failure(format_args!(
            "unknown program init={other}: no /bin/{other} in the root file system and no \
             kernel self-test of that name (those are: {}); to run a program of your own, \
             ./qemu-run.sh --run 'PROGRAM [ARGS...]' packs it into the initramfs",
            Programs
        )),
    }
}

/// The ELF file `init=name` names: `name` itself when it is a path, else `/bin/name` when
/// the root file system has it (the default initramfs holds the programs of `programs/`
/// there).
fn elf_program(name: &str) -> Option<alloc::string::String> {
    let fs = crate::fs::root()?;
    let path = if name.starts_with('/') {
        alloc::string::String::from(name)
    } else {
        alloc::format!("/bin/{name}")
    };
    if name.starts_with('/') || fs.stat(fs.root(), path.as_bytes(), true).is_ok() {
        Some(path)
    } else {
        None
    }
}

/// Read an unmapped address: the page-fault report must appear and QEMU exit with 35.
fn crash_test() -> ! {
    marker!("rinet: crash-test: reading unmapped address 0x7fffdead0000");
    match arch::fault::deliberate_fault_read(0x0000_7fff_dead_0000) {
        Some(v) => exit::failure(format_args!(
            "crash-test: the unmapped read returned {v:#x}"
        )),
        None => exit::failure("crash-test: 0x7fffdead0000 is mapped"),
    }
}

/// `init=crash-test -- stack-overflow`: recurse until the stack guard page faults; the double
/// fault is reported from its IST stack and QEMU exits with 35.
fn stack_overflow_test() -> ! {
    marker!("rinet: crash-test: overflowing the kernel stack");
    let depth = recurse(0);
    exit::failure(format_args!(
        "crash-test: recursion returned at depth {depth}"
    ))
}

/// `init=crash-test -- thread-stack-overflow`: a kernel thread recurses into its stack's guard
/// page; the double fault is reported and QEMU exits with 35.
fn thread_stack_overflow_test() -> ! {
    marker!("rinet: crash-test: overflowing a kernel thread's stack");
    if let Err(e) = crate::sched::spawn(
        "overflow",
        |_| {
            core::hint::black_box(recurse(0));
        },
        0,
    ) {
        exit::failure(format_args!("crash-test: spawn: {e}"));
    }
    crate::time::sleep(net::time::Duration::from_secs(5));
    exit::failure("crash-test: the overflowing thread was not stopped")
}

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = core::hint::black_box([depth; 64]);
    if depth == u64::MAX {
        return frame[0];
    }
    recurse(depth + 1) + core::hint::black_box(frame[63])
}

struct Programs;

impl core::fmt::Display for Programs {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, p) in PROGRAMS.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(p)?;
        }
        Ok(())
    }
}
