//! The receive path: stocking the receive ring, NAPI-style rounds with interrupt
//! suppression and a budget, hostile lengths clamped, and (with GUEST_CSUM) the checksum
//! verdict for frames the device did not vouch for. Never blocks, never allocates.

use core::sync::atomic::Ordering;

use virtio_drivers::transport::Transport;

use super::hdr::{self, RxCheck};
use super::{DriverCounters, VirtioNet, BUF_SIZE, MIN_FRAME, NO_BUF, QUEUE_RECEIVE, QUEUE_SIZE};

impl<T: Transport> VirtioNet<T> {
    /// Hands up to `budget` received frames to `sink` (`Device::receive`).
    pub(super) fn receive_round(&mut self, budget: usize, sink: &mut dyn FnMut(&[u8])) -> usize {
        // No used-buffer interrupts while we are polling anyway.
        self.set_interrupts(false);
        let mut n = 0;
        while n < budget {
            if self.receive_one(sink) {
                n += 1;
                continue;
            }
            // Ring empty: re-arm, then check once more for a frame that slipped in before the
            // device saw the re-arm (it would not interrupt for it).
            self.set_interrupts(true);
            if self.rxq.peek_used().is_none() {
                self.reclaim_tx();
                return n;
            }
            self.set_interrupts(false);
        }
        // Budget spent with frames possibly still waiting: stay in polling mode.
        if self.rxq.peek_used().is_some() {
            self.counters.rx_budget_exhausted += 1;
            self.pending.store(true, Ordering::Release);
        } else {
            self.set_interrupts(true);
            if self.rxq.peek_used().is_some() {
                self.pending.store(true, Ordering::Release);
            }
        }
        self.reclaim_tx();
        n
    }

    /// Hands receive buffer `i` to the device; false if the ring refused it.
    pub(super) fn post_rx(&mut self, i: u16) -> bool {
        let buf = self.rx.buf(usize::from(i));
        // SAFETY: the buffer belongs to this driver's pool and is not touched again until the
        // device returns it through the used ring under this token (`receive_one`).
        match unsafe { self.rxq.add(&[], &mut [buf]) } {
            Ok(token) if usize::from(token) < QUEUE_SIZE => {
                self.rx_of_token[usize::from(token)] = i;
                if self.rxq.should_notify() {
                    self.transport.notify(QUEUE_RECEIVE);
                }
                true
            }
            _ => {
                self.counters.rx_repost_failures += 1;
                false
            }
        }
    }

    /// Completes one used receive buffer and hands its frame to `sink`; returns false when the
    /// ring is empty.
    fn receive_one(&mut self, sink: &mut dyn FnMut(&[u8])) -> bool {
        let Some(token) = self.rxq.peek_used() else {
            return false;
        };
        let i = match self.rx_of_token.get(usize::from(token)) {
            Some(&i) if i != NO_BUF => i,
            _ => {
                self.counters.rx_errors += 1;
                return false;
            }
        };
        let buf = self.rx.buf(usize::from(i));
        // SAFETY: `buf` is the very buffer posted under this token.
        let used = match unsafe { self.rxq.pop_used(token, &[], &mut [&mut *buf]) } {
            Ok(len) => len as usize,
            Err(_) => {
                self.counters.rx_errors += 1;
                return false;
            }
        };
        self.rx_of_token[usize::from(token)] = NO_BUF;
        let hdr = self.hdr_len;
        match used.checked_sub(hdr) {
            Some(len) => {
                let len = len.min(BUF_SIZE - hdr);
                let frame = &buf[hdr..hdr + len];
                if len < MIN_FRAME {
                    self.counters.rx_runts += 1;
                    self.stats.rx_dropped += 1;
                } else if self.offloads.rx_checksum
                    && !Self::rx_checksum_ok(&mut self.counters, buf[0], frame)
                {
                    self.stats.rx_dropped += 1;
                } else {
                    self.stats.rx_packets += 1;
                    self.stats.rx_bytes += len as u64;
                    sink(frame);
                }
            }
            None => {
                self.counters.rx_errors += 1;
                self.stats.rx_dropped += 1;
            }
        }
        self.post_rx(i);
        true
    }

    /// With GUEST_CSUM: whether a received frame may go up as checksum-verified; a frame
    /// the device did not vouch for (`flags`) is checked here. Counts either way.
    fn rx_checksum_ok(counters: &mut DriverCounters, flags: u8, frame: &[u8]) -> bool {
        if flags & (hdr::F_NEEDS_CSUM | hdr::F_DATA_VALID) != 0 {
            counters.rx_csum_device += 1;
            return true;
        }
        match hdr::verify_rx(frame) {
            RxCheck::Good => {
                counters.rx_csum_verified += 1;
                true
            }
            RxCheck::NotChecked => true,
            RxCheck::Bad => {
                counters.rx_csum_errors += 1;
                false
            }
        }
    }

    /// Used-buffer notifications from both queues on or off (virtio 1.x §2.7.7).
    fn set_interrupts(&mut self, on: bool) {
        self.rxq.set_dev_notify(on);
        self.txq.set_dev_notify(on);
    }
}
