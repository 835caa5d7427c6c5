//! Deliberate faults for the crash self-tests: the exception path must report them and end
//! the machine.
//!
//! Owns nothing; never reads memory that is mapped.

/// Read the 8 bytes at `addr` if no page maps it in the live page tables: the read faults,
/// the exception handler reports it and ends the machine, so this does not return then. If
/// `addr` is mapped, nothing is read and None comes back (the test has failed).
pub fn deliberate_fault_read(addr: u64) -> Option<u64> {
    let (cr3, _) = x86_64::registers::control::Cr3::read_raw();
    if crate::mm::paging::translate(cr3.start_address().as_u64(), addr).is_some() {
        return None;
    }
    // SAFETY: no page maps `addr` (checked just above, in the hierarchy the CPU uses), so the
    // read touches no memory: it raises a page fault, whose handler ends the machine for a
    // kernel-mode fault outside a user-access fixup; execution never continues past it.
    Some(unsafe { core::ptr::read_volatile(addr as *const u64) })
}
