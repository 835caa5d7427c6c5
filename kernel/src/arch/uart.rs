//! COM1, the 16550 UART at 0x3f8: programming it and pushing bytes out in FIFO-sized bursts
//! (wait until the transmitter holding register is empty, then up to a FIFO's worth of bytes).
//!
//! Owns every port access to COM1. A [`Uart`] is only the port numbers: two handles drive the
//! same device (the console's emergency path relies on that); nothing here allocates.

use x86_64::instructions::port::{Port, PortReadOnly};

const COM1: u16 = 0x3f8;
/// Bytes the 16550's transmit FIFO accepts once the holding register reports empty.
pub const TX_FIFO_DEPTH: usize = 16;
const LSR_THR_EMPTY: u8 = 1 << 5;
const LSR_TX_IDLE: u8 = 1 << 6;

/// A handle on COM1 (see [`Uart::init_com1`] and [`Uart::com1`]).
pub struct Uart {
    data: Port<u8>,
    line_status: PortReadOnly<u8>,
}

impl Uart {
    /// Program COM1 (8N1, FIFOs on, as `uart_16550` sets it up) and return a handle on it.
    pub fn init_com1() -> Uart {
        // SAFETY: 0x3f8 is COM1 on every machine type we boot on (pc, q35, microvm's
        // isa-serial); programming it touches no memory.
        let mut port = unsafe { uart_16550::SerialPort::new(COM1) };
        port.init();
        Uart::com1()
    }

    /// A handle on COM1 as it is programmed (by [`Uart::init_com1`]).
    pub fn com1() -> Uart {
        Uart {
            data: Port::new(COM1),
            line_status: PortReadOnly::new(COM1 + 5),
        }
    }

    fn line_status(&mut self) -> u8 {
        // SAFETY: reading the line status register of COM1 has no side effect.
        unsafe { self.line_status.read() }
    }

    fn wait_thr_empty(&mut self) {
        while self.line_status() & LSR_THR_EMPTY == 0 {
            core::hint::spin_loop();
        }
    }

    fn push_burst(&mut self, burst: &[u8]) {
        self.wait_thr_empty();
        for &b in burst {
            // SAFETY: writing COM1's data register only sends the byte; the FIFO is empty
            // (THRE), so these <= 16 bytes fit without overrun.
            unsafe { self.data.write(b) };
        }
    }

    /// Write `bytes`, translating `\n` to `\r\n`, in FIFO-sized bursts.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
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
    pub fn flush(&mut self) {
        for _ in 0..1_000_000 {
            if self.line_status() & LSR_TX_IDLE != 0 {
                return;
            }
            core::hint::spin_loop();
        }
    }
}
