//! `crash-user-gp`: a privileged instruction (`cli`) in ring 3, a general protection fault;
//! the program must die of SIGSEGV (status 139).

fn main() {
    println!("crash-user-gp: executing cli in ring 3");
    // SAFETY: deliberately faulting: `cli` at CPL 3 with IOPL 0 raises #GP, and the kernel
    // ends this program.
    unsafe { std::arch::asm!("cli") };
    println!("crash-user-gp: cli did not fault");
}
