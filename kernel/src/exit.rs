//! Ending the machine through QEMU's `isa-debug-exit` device (iobase 0xf4): the exit status is
//! the verdict of a test boot.
//!
//! Convention: success writes 0x10 (QEMU exits with status 33), failure writes 0x11 (status
//! 35). If the device is absent the write does nothing and the CPU halts forever with
//! interrupts off. Owns nothing else.

use core::fmt::Display;

/// QEMU exits with `(value << 1) | 1`: 0x10 -> 33.
pub const SUCCESS_VALUE: u8 = 0x10;
/// 0x11 -> 35.
pub const FAILURE_VALUE: u8 = 0x11;
/// Host-visible exit statuses.
pub const SUCCESS_STATUS: i32 = 33;
pub const FAILURE_STATUS: i32 = 35;

/// End QEMU with status 33.
pub fn success() -> ! {
    log::debug!(
        "exit: stack high water {} KiB of {} KiB",
        crate::arch::paging::stack_high_water() / 1024,
        crate::arch::boot::BOOT_STACK_SIZE / 1024
    );
    log::debug!(
        "exit: exited threads used at most {} KiB of kernel stack",
        crate::sched::stack_high_water() / 1024
    );
    quit(SUCCESS_VALUE)
}

/// Print `rinet: failure: <reason>` (whatever the log level) and end QEMU with status 35.
pub fn failure(reason: impl Display) -> ! {
    crate::console::emergency(format_args!("rinet: failure: {reason}"));
    quit(FAILURE_VALUE)
}

/// End QEMU with status 35 after the caller already printed why (exception and panic paths).
pub fn failure_quiet() -> ! {
    quit(FAILURE_VALUE)
}

fn quit(value: u8) -> ! {
    crate::nic::report_at_exit();
    crate::console::flush();
    crate::arch::debug_exit::write(value);
    crate::arch::halt_forever()
}
