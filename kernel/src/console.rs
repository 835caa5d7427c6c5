//! The console: COM1 (16550 UART at 0x3f8) and the `log` facade on top of it.
//!
//! Owns: the UART, the logger, the max log level (`loglevel=`/`quiet`) and the always-printed
//! marker lines the host harness matches. Each line is stamped with the monotonic time like
//! Linux's printk: `[    0.001234] message`. Output goes out in bursts: wait until the
//! transmitter holding register is empty, then push up to a FIFO's worth of bytes.
//! Never allocates (it must work before the heap and inside the panic handler).

use core::fmt::{self, Write};

use log::{LevelFilter, Log, Metadata, Record};
use x86_64::instructions::port::Port;

use crate::sync::IrqMutex;

const COM1: u16 = 0x3f8;
/// Bytes the 16550's transmit FIFO accepts once the holding register reports empty.
const TX_FIFO_DEPTH: usize = 16;
const LSR_THR_EMPTY: u8 = 1 << 5;
const LSR_TX_IDLE: u8 = 1 << 6;

struct Uart {
    data: Port<u8>,
    line_status: Port<u8>,
}

impl Uart {
    fn wait_thr_empty(&mut self) {
        // SAFETY: reading the line status register of COM1 has no side effect.
        while unsafe { self.line_status.read() } & LSR_THR_EMPTY == 0 {
            core::hint::spin_loop();
        }
    }

    fn push_burst(&mut self, burst: &[u8]) {
        self.wait_thr_empty();
        for &b in burst {
            // SAFETY: the FIFO is empty (THRE), so these <= 16 bytes fit without overrun.
            unsafe { self.data.write(b) };
        }
    }

    /// Write `bytes`, translating `\n` to `\r\n`, in FIFO-sized bursts.
    fn write_bytes(&mut self, bytes: &[u8]) {
        let mut burst = [0u8; TX_FIFO_DEPTH];
        let mut n = 0;
        for &b in bytes {
            if b == b'\n' {
                if n == TX_FIFO_DEPTH {
                    self.push_burst(&burst[..n]);
                    n = 0;
                }
                burst[n] = b'\r';
                n += 1;
            }
            if n == TX_FIFO_DEPTH {
                self.push_burst(&burst[..n]);
                n = 0;
            }
            burst[n] = b;
            n += 1;
        }
        if n > 0 {
            self.push_burst(&burst[..n]);
        }
    }

    /// Wait (bounded) until the last byte has left the shift register.
    fn flush(&mut self) {
        for _ in 0..1_000_000 {
            // SAFETY: reading the line status register of COM1 has no side effect.
            if unsafe { self.line_status.read() } & LSR_TX_IDLE != 0 {
                return;
            }
            core::hint::spin_loop();
        }
    }
}

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

struct Logger;
static LOGGER: Logger = Logger;

/// Bring up COM1 and install the logger (max level info until the command line says
/// otherwise).
pub fn init() {
    // SAFETY: 0x3f8 is COM1 on every machine type we boot on (pc, q35, microvm's isa-serial).
    let mut port = unsafe { uart_16550::SerialPort::new(COM1) };
    port.init();
    *UART.lock() = Some(Uart {
        data: Port::new(COM1),
        line_status: Port::new(COM1 + 5),
    });
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
    let mut guard = UART.lock();
    if let Some(uart) = guard.as_mut() {
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
    }
}

/// Print a marker line whatever the log level (the host harness and benchmarks match these).
pub fn marker(args: fmt::Arguments) {
    write_line(args);
}

/// Print from the panic/exception path: breaks the console lock if the faulting code held it.
pub fn emergency(args: fmt::Arguments) {
    // SAFETY: called only on the way to ending the machine; the interrupted holder (if any)
    // never resumes.
    unsafe { UART.force_unlock() };
    write_line(args);
}

/// Write `bytes` as they are (no timestamp): a program's `write` to fd 1 or 2.
pub fn write_raw(bytes: &[u8]) {
    // A line buffer's worth per lock: a large write does not hold interrupts off throughout.
    for chunk in bytes.chunks(LINE_BUFFER) {
        if let Some(uart) = UART.lock().as_mut() {
            uart.write_bytes(chunk);
        }
    }
}

/// Wait until everything written has left the UART (before ending QEMU).
pub fn flush() {
    if let Some(uart) = UART.lock().as_mut() {
        uart.flush();
    }
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
