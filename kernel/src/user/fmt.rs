//! `print!` for ring 3: formats into a stack buffer and writes it to fd 1 with `write(2)`
//! (no heap, no kernel console lock).

use core::fmt::{self, Write};

/// Bytes formatted before a `write` is issued.
const BUF: usize = 256;

/// A `fmt::Write` that buffers and writes to a file descriptor.
pub struct FdWriter {
    fd: i32,
    buf: [u8; BUF],
    len: usize,
}

impl FdWriter {
    pub fn new(fd: i32) -> Self {
        FdWriter {
            fd,
            buf: [0; BUF],
            len: 0,
        }
    }

    pub fn flush(&mut self) {
        let mut off = 0;
        while off < self.len {
            let n = super::write(self.fd, &self.buf[off..self.len]);
            if n <= 0 {
                break;
            }
            off += n as usize;
        }
        self.len = 0;
    }
}

impl Write for FdWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == BUF {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

/// Format `args` to fd 1 in one (or a few) `write` calls.
pub fn print(args: fmt::Arguments) {
    let mut w = FdWriter::new(1);
    let _ = w.write_fmt(args);
    w.flush();
}

/// `print!` for ring-3 programs (fd 1).
#[macro_export]
macro_rules! uprint {
    ($($arg:tt)*) => { $crate::user::fmt::print(format_args!($($arg)*)) };
}

/// `println!` for ring-3 programs (fd 1).
#[macro_export]
macro_rules! uprintln {
    () => { $crate::user::fmt::print(format_args!("\n")) };
    ($($arg:tt)*) => { $crate::user::fmt::print(format_args!("{}\n", format_args!($($arg)*))) };
}
