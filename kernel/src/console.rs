//! The console: COM1 (16550 UART at 0x3f8) and the `log` facade on top of it.
//!
//! Owns: the UART's lock (the device itself is `arch::uart`'s), the logger, the max log level
//! (`loglevel=`/`quiet`) and the always-printed marker lines the host harness matches. Each
//! line is stamped with the monotonic time like Linux's printk: `[    0.001234] message`.
//! Never allocates (it must work before the heap and inside the panic handler).

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, Ordering};

use log::{LevelFilter, Log, Metadata, Record};
use x86_64::instructions::interrupts;

use crate::arch::uart::Uart;
use crate::sync::IrqMutex;

/// Collects a line's formatted pieces so they reach the UART in full bursts rather than one
/// short burst per `write_str` call.
struct LineBuffer<'a> {
    uart: &'a mut Uart,
    buf: [u8; LINE_BUFFER],
    len: usize,
}

/// Bytes collected before a forced flush (longer lines are sent in several pieces).
const LINE_BUFFER: usize = 256;

impl LineBuffer<'_> {
    fn flush(&mut self) {
        self.uart.write_bytes(&self.buf[..self.len]);
        self.len = 0;
    }
}

impl Write for LineBuffer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for chunk in s.as_bytes().chunks(LINE_BUFFER) {
            if self.len + chunk.len() > LINE_BUFFER {
                self.flush();
            }
            self.buf[self.len..self.len + chunk.len()].copy_from_slice(chunk);
            self.len += chunk.len();
        }
        Ok(())
    }
}

static UART: IrqMutex<Option<Uart>> = IrqMutex::new(None);
/// Set by [`emergency`] on the way to ending the machine: from then on every writer drives
/// COM1 through a handle of its own instead of taking [`UART`], which the code the panic or
/// exception interrupted may still hold (it never resumes).
static EMERGENCY: AtomicBool = AtomicBool::new(false);
/// COM1 is programmed ([`init`]): before, there is no output, emergency or not.
static READY: AtomicBool = AtomicBool::new(false);

/// Run `f` on the UART, under its lock (interrupts off), or without the lock once
/// [`emergency`] was called (interrupts off too). Does nothing before [`init`].
fn with_uart(f: impl FnOnce(&mut Uart)) {
    if EMERGENCY.load(Ordering::Relaxed) {
        if READY.load(Ordering::Relaxed) {
            interrupts::without_interrupts(|| f(&mut Uart::com1()));
        }
        return;
    }
    if let Some(uart) = UART.lock().as_mut() {
        f(uart);
    }
}

struct Logger;
static LOGGER: Logger = Logger;

/// Bring up COM1 and install the logger (max level info until the command line says
/// otherwise).
pub fn init() {
    *UART.lock() = Some(Uart::init_com1());
    READY.store(true, Ordering::Relaxed);
    // A second call would fail; there is none.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(LevelFilter::Info);
}

/// Set the max level from a Linux console log level (0-7): 0-3 error, 4-5 warn, 6 info,
/// 7 debug, 8 and above trace.
pub fn set_loglevel(linux_level: u8) {
    let filter = match linux_level {
        0..=3 => LevelFilter::Error,
        4 | 5 => LevelFilter::Warn,
        6 => LevelFilter::Info,
        7 => LevelFilter::Debug,
        _ => LevelFilter::Trace,
    };
    log::set_max_level(filter);
}

fn write_line(args: fmt::Arguments) {
    let now = crate::time::now().as_micros();
    with_uart(|uart| {
        let mut line = LineBuffer {
            uart,
            buf: [0; LINE_BUFFER],
            len: 0,
        };
        let _ = writeln!(
            line,
            "[{:5}.{:06}] {}",
            now / 1_000_000,
            now % 1_000_000,
            args
        );
        line.flush();
    });
}

/// Print a marker line whatever the log level (the host harness and benchmarks match these).
pub fn marker(args: fmt::Arguments) {
    write_line(args);
}

/// Print from the panic/exception path, even if the faulting code held the console lock: from
/// now on the console no longer takes it (see [`EMERGENCY`]). Only on the way to ending the
/// machine.
pub fn emergency(args: fmt::Arguments) {
    EMERGENCY.store(true, Ordering::Relaxed);
    write_line(args);
}

/// Write `bytes` as they are (no timestamp): a program's `write` to fd 1 or 2.
pub fn write_raw(bytes: &[u8]) {
    // A line buffer's worth per lock: a large write does not hold interrupts off throughout.
    for chunk in bytes.chunks(LINE_BUFFER) {
        with_uart(|uart| uart.write_bytes(chunk));
    }
}

/// Wait until everything written has left the UART (before ending QEMU).
pub fn flush() {
    with_uart(Uart::flush);
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if self.enabled(record.metadata()) {
            write_line(*record.args());
        }
    }

    fn flush(&self) {
        flush();
    }
}

/// `marker!("rinet: ...")`: a line printed regardless of `loglevel`/`quiet`.
#[macro_export]
macro_rules! marker {
    ($($arg:tt)*) => { $crate::console::marker(format_args!($($arg)*)) };
}
