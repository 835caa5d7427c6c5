//! `crash-user`: reads an unmapped address; the program must die of SIGSEGV (status 139),
//! nothing else.

fn main() {
    println!("crash-user: reading unmapped address 0x7fffdead0000");
    // SAFETY: deliberately faulting: nothing is mapped there, the kernel ends this program.
    let v = unsafe { std::ptr::read_volatile(0x7fff_dead_0000 as *const u64) };
    println!("crash-user: the read returned {v:#x}");
}
