//! virtio-net as a `net::dev::Device`, on virtio-drivers' `VirtIONetRaw` over PCI or MMIO.
//!
//! Owns the two virtqueues' buffers: [`QUEUE_SIZE`] receive buffers of [`BUF_SIZE`] bytes, all
//! posted to the device and re-posted as soon as their frame has been handed to the stack, and
//! as many transmit buffers, recycled when the device reports them used.
//!
//! Receive is NAPI style: [`Device::receive`] turns the device's used-buffer notifications off
//! while it drains up to its budget; when the ring runs dry it turns them back on and looks once
//! more (a frame may have landed in between). When it stops because the budget ran out, it sets
//! the shared "work pending" flag so the poll loop comes back without waiting for an interrupt.
//! Frames are hostile bytes: lengths the device reports are clamped to the buffer, runts are
//! dropped and counted. Never blocks.

use core::sync::atomic::{AtomicBool, Ordering};

use net::dev::{Capabilities, DevStats, Device, TxError};
use net::wire::MacAddr;
use virtio_drivers::device::net::VirtIONetRaw;
use virtio_drivers::transport::{SomeTransport, Transport};

use crate::hal::{self, KernelHal, PAGE_SIZE};

/// Descriptors per virtqueue: QEMU's default virtio-net ring size, so one receive buffer per
/// descriptor keeps the whole ring stocked.
pub const QUEUE_SIZE: usize = 256;
/// Bytes per buffer: the virtio-net header (10 or 12 bytes) plus the largest Ethernet frame
/// with a VLAN tag (1518), rounded up so two buffers share a page.
pub const BUF_SIZE: usize = 2048;
/// Ethernet MTU the device carries (no MTU feature is negotiated).
pub const MTU: usize = 1500;
/// Largest frame accepted for transmit: MTU plus the 14-byte Ethernet header.
pub const MAX_FRAME: usize = MTU + 14;
/// Shortest frame handed up: an Ethernet header.
const MIN_FRAME: usize = 14;
/// Marks a token slot that holds no buffer.
const NO_BUF: u16 = u16::MAX;

type Raw<T> = VirtIONetRaw<KernelHal, T, QUEUE_SIZE>;

/// Driver-level drop and error counters (beyond `DevStats`), for diagnosing lost frames.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverCounters {
    /// Received frames shorter than an Ethernet header.
    pub rx_runts: u64,
    /// Used receive buffers the driver could not complete (device returned a bad chain).
    pub rx_errors: u64,
    /// Receive buffers that could not be re-posted (the ring shrinks by one each time).
    pub rx_repost_failures: u64,
    /// Frames the device refused to queue for transmit.
    pub tx_errors: u64,
    /// Rounds that stopped at the budget with frames still waiting.
    pub rx_budget_exhausted: u64,
}

/// `count` buffers of `BUF_SIZE` bytes in one run of DMA pages.
struct BufPool {
    base: u64,
    pages: usize,
}

impl BufPool {
    fn new(count: usize) -> Option<BufPool> {
        let pages = (count * BUF_SIZE).div_ceil(PAGE_SIZE);
        let base = hal::dma_alloc(pages)?;
        Some(BufPool { base, pages })
    }

    /// Buffer `i`'s bytes. `i` is always below the pool's count (callers index with buffer
    /// numbers they got from this pool's bookkeeping).
    fn buf(&mut self, i: usize) -> &mut [u8] {
        assert!((i + 1) * BUF_SIZE <= self.pages * PAGE_SIZE);
        // SAFETY: the pool exclusively owns `pages` identity-mapped DMA pages from `base`;
        // buffer `i` lies inside them (asserted), and the `&mut self` borrow keeps this the only
        // CPU-side view. The device may own the buffer at the same time only between
        // `*_begin` and `*_complete`, during which the driver does not read it.
        unsafe {
            core::slice::from_raw_parts_mut(
                (self.base as usize + i * BUF_SIZE) as *mut u8,
                BUF_SIZE,
            )
        }
    }
}

impl Drop for BufPool {
    fn drop(&mut self) {
        hal::dma_free(self.base, self.pages);
    }
}

/// A virtio network card (over PCI or MMIO in the kernel; over a fake device in tests).
pub struct VirtioNet<T: Transport = SomeTransport<'static>> {
    // Declared first so it is dropped first: the queues are detached from the device before
    // the buffers they point at are freed.
    raw: Raw<T>,
    rx: BufPool,
    tx: BufPool,
    /// Receive buffer number posted under each descriptor token.
    rx_of_token: [u16; QUEUE_SIZE],
    /// Transmit buffer number in flight under each descriptor token.
    tx_of_token: [u16; QUEUE_SIZE],
    /// Bytes (header + frame) handed to the device for each transmit buffer.
    tx_len: [u16; QUEUE_SIZE],
    /// Stack of free transmit buffer numbers.
    tx_free: [u16; QUEUE_SIZE],
    tx_nfree: usize,
    stats: DevStats,
    counters: DriverCounters,
    /// Set when a receive round stopped at its budget, so the poll loop returns promptly.
    pending: &'static AtomicBool,
}

impl<T: Transport> VirtioNet<T> {
    /// Initialises the device behind `transport` and stocks its receive ring.
    pub fn new(transport: T, pending: &'static AtomicBool) -> Result<VirtioNet<T>, &'static str> {
        let raw = Raw::new(transport).map_err(|_| "virtio-net: device initialisation failed")?;
        let rx = BufPool::new(QUEUE_SIZE).ok_or("virtio-net: out of DMA memory for rx")?;
        let tx = BufPool::new(QUEUE_SIZE).ok_or("virtio-net: out of DMA memory for tx")?;
        let mut dev = VirtioNet {
            raw,
            rx,
            tx,
            rx_of_token: [NO_BUF; QUEUE_SIZE],
            tx_of_token: [NO_BUF; QUEUE_SIZE],
            tx_len: [0; QUEUE_SIZE],
            tx_free: core::array::from_fn(|i| i as u16),
            tx_nfree: QUEUE_SIZE,
            stats: DevStats::default(),
            counters: DriverCounters::default(),
            pending,
        };
        for i in 0..QUEUE_SIZE {
            if !dev.post_rx(i as u16) {
                return Err("virtio-net: could not post receive buffers");
            }
        }
        Ok(dev)
    }

    /// Driver-level counters.
    pub fn counters(&self) -> DriverCounters {
        self.counters
    }

    /// Hands receive buffer `i` to the device; false if the ring refused it.
    fn post_rx(&mut self, i: u16) -> bool {
        let buf = self.rx.buf(usize::from(i));
        // SAFETY: the buffer belongs to this driver's pool and is not touched again until the
        // device returns it through `poll_receive`/`receive_complete` with this token.
        match unsafe { self.raw.receive_begin(buf) } {
            Ok(token) if usize::from(token) < QUEUE_SIZE => {
                self.rx_of_token[usize::from(token)] = i;
                true
            }
            _ => {
                self.counters.rx_repost_failures += 1;
                false
            }
        }
    }

    /// Takes back transmit buffers the device has finished with.
    fn reclaim_tx(&mut self) {
        while let Some(token) = self.raw.poll_transmit() {
            let slot = usize::from(token);
            let i = match self.tx_of_token.get(slot) {
                Some(&i) if i != NO_BUF => i,
                _ => {
                    // A token we never issued: the ring is corrupt; stop rather than guess.
                    self.counters.tx_errors += 1;
                    return;
                }
            };
            let len = usize::from(self.tx_len[usize::from(i)]);
            let buf = self.tx.buf(usize::from(i));
            // SAFETY: `buf[..len]` is exactly the slice passed to `transmit_begin` for this
            // token.
            let _ = unsafe { self.raw.transmit_complete(token, &buf[..len]) };
            self.tx_of_token[slot] = NO_BUF;
            self.tx_free[self.tx_nfree] = i;
            self.tx_nfree += 1;
        }
    }

    /// Completes one used receive buffer and hands its frame to `sink`; returns false when the
    /// ring is empty.
    fn receive_one(&mut self, sink: &mut dyn FnMut(&[u8])) -> bool {
        let Some(token) = self.raw.poll_receive() else {
            return false;
        };
        let i = match self.rx_of_token.get(usize::from(token)) {
            Some(&i) if i != NO_BUF => i,
            _ => {
                self.counters.rx_errors += 1;
                return false;
            }
        };
        self.rx_of_token[usize::from(token)] = NO_BUF;
        let buf = self.rx.buf(usize::from(i));
        // SAFETY: `buf` is the very buffer posted with `receive_begin` under this token.
        match unsafe { self.raw.receive_complete(token, buf) } {
            Ok((hdr, len)) => {
                let len = len.min(BUF_SIZE.saturating_sub(hdr));
                if len < MIN_FRAME {
                    self.counters.rx_runts += 1;
                    self.stats.rx_dropped += 1;
                } else {
                    self.stats.rx_packets += 1;
                    self.stats.rx_bytes += len as u64;
                    sink(&buf[hdr..hdr + len]);
                }
            }
            Err(_) => {
                self.counters.rx_errors += 1;
                self.stats.rx_dropped += 1;
            }
        }
        self.post_rx(i);
        true
    }
}

impl<T: Transport> Device for VirtioNet<T> {
    fn mac(&self) -> MacAddr {
        MacAddr(self.raw.mac_address())
    }

    fn mtu(&self) -> usize {
        MTU
    }

    fn capabilities(&self) -> Capabilities {
        // No checksum offloads are negotiated (virtio-drivers offers MAC, STATUS and ring
        // features only): the stack computes and verifies every checksum itself.
        Capabilities {
            rx_checksum_verified: false,
            tx_checksum: false,
            max_frame: MAX_FRAME,
            tso_max: 0,
            rx_owned: false,
        }
    }

    fn receive(&mut self, budget: usize, sink: &mut dyn FnMut(&[u8])) -> usize {
        // No used-buffer interrupts while we are polling anyway.
        self.raw.disable_interrupts();
        let mut n = 0;
        while n < budget {
            if self.receive_one(sink) {
                n += 1;
                continue;
            }
            // Ring empty: re-arm, then check once more for a frame that slipped in before the
            // device saw the re-arm (it would not interrupt for it).
            self.raw.enable_interrupts();
            if self.raw.poll_receive().is_none() {
                self.reclaim_tx();
                return n;
            }
            self.raw.disable_interrupts();
        }
        // Budget spent with frames possibly still waiting: stay in polling mode.
        if self.raw.poll_receive().is_some() {
            self.counters.rx_budget_exhausted += 1;
            self.pending.store(true, Ordering::Release);
        } else {
            self.raw.enable_interrupts();
            if self.raw.poll_receive().is_some() {
                self.pending.store(true, Ordering::Release);
            }
        }
        self.reclaim_tx();
        n
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), TxError> {
        if frame.len() > MAX_FRAME {
            self.stats.tx_dropped += 1;
            return Err(TxError::TooLarge);
        }
        if self.tx_nfree == 0 || !self.raw.can_send() {
            self.reclaim_tx();
        }
        if self.tx_nfree == 0 || !self.raw.can_send() {
            return Err(TxError::Full);
        }
        self.tx_nfree -= 1;
        let i = self.tx_free[self.tx_nfree];
        let buf = self.tx.buf(usize::from(i));
        let Ok(hdr) = self.raw.fill_buffer_header(buf) else {
            self.tx_nfree += 1;
            self.stats.tx_dropped += 1;
            return Err(TxError::TooLarge);
        };
        let len = hdr + frame.len();
        buf[hdr..len].copy_from_slice(frame);
        // SAFETY: the buffer stays untouched until `reclaim_tx` sees its token come back, and
        // `transmit_complete` then gets the same `buf[..len]`.
        match unsafe { self.raw.transmit_begin(&buf[..len]) } {
            Ok(token) if usize::from(token) < QUEUE_SIZE => {
                self.tx_of_token[usize::from(token)] = i;
                self.tx_len[usize::from(i)] = len as u16;
                self.stats.tx_packets += 1;
                self.stats.tx_bytes += frame.len() as u64;
                Ok(())
            }
            _ => {
                self.tx_nfree += 1;
                self.counters.tx_errors += 1;
                self.stats.tx_dropped += 1;
                Err(TxError::Full)
            }
        }
    }

    /// virtio-drivers notifies the device as each frame is queued (when the device has not
    /// suppressed notifications), so flushing only recycles completed transmit buffers.
    fn flush(&mut self) {
        self.reclaim_tx();
    }

    fn stats(&self) -> DevStats {
        self.stats
    }
}

// The kernel keeps the NIC in a `static` behind a lock, which requires `Send`.
const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<VirtioNet>();
};

#[cfg(test)]
mod tests;
