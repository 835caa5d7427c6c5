//! QEMU's `isa-debug-exit` device (iobase 0xf4): one byte written ends QEMU with status
//! `(value << 1) | 1`.
//!
//! Owns the port write; the exit statuses' meaning is `crate::exit`'s.

use x86_64::instructions::port::Port;

const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Write `value` to the debug-exit port: QEMU exits at once with `(value << 1) | 1` when the
/// device is present; when it is absent the write does nothing and this returns.
pub fn write(value: u8) {
    // SAFETY: port 0xf4 is QEMU's isa-debug-exit when present; when absent the write is
    // ignored by the ISA bus. Either way no memory is touched.
    unsafe { Port::<u8>::new(DEBUG_EXIT_PORT).write(value) };
}
