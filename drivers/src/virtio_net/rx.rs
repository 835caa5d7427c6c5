//! The receive ring: stocking it, NAPI-style rounds with interrupt suppression and a budget
//! (counted in frames, with a bound on the buffers a round may take), used lengths clamped to
//! the buffer, every buffer re-posted once its bytes are handed up. What happens to the bytes
//! is [`super::rx_frame`]'s business. Never blocks, never allocates.

use core::sync::atomic::{fence, Ordering};

use virtio_drivers::transport::Transport;

use super::rx_frame::{HandUp, Sink, Step};
use super::{VirtioNet, MAX_MERGE_BUFFERS, NO_BUF, QUEUE_RECEIVE, QUEUE_SIZE};

impl<T: Transport> VirtioNet<T> {
    /// Hands up to `budget` received frames to `sink` (`Device::receive` and
    /// `Device::receive_owned`).
    pub(super) fn receive_round(&mut self, budget: usize, mut sink: Sink<'_>) -> usize {
        self.counters.rx_rounds += 1;
        // No used-buffer interrupts while we are polling anyway.
        self.set_interrupts(false);
        let mut n = 0;
        // Buffers may be pieces of merged frames: bounded too, so a device that only ever
        // returns pieces cannot keep the round going.
        let mut buffers = 0;
        let buffer_limit = budget.saturating_mul(MAX_MERGE_BUFFERS);
        while n < budget && buffers < buffer_limit {
            match self.receive_one(&mut sink) {
                Step::Frame => {
                    n += 1;
                    buffers += 1;
                    continue;
                }
                Step::Partial => {
                    buffers += 1;
                    continue;
                }
                Step::Empty => {}
                Step::Stuck => {
                    // The head of the used ring is not ours and will stay there: stop rather
                    // than spin on it (counted in `rx_errors`).
                    self.set_interrupts(true);
                    self.reclaim_tx();
                    return n;
                }
            }
            // Ring empty: re-arm, then check once more for a frame that slipped in before the
            // device saw the re-arm (it would not interrupt for it).
            self.set_interrupts(true);
            if self.rxq.peek_used().is_none() {
                self.reclaim_tx();
                return n;
            }
            self.counters.rx_rearm_races += 1;
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
                // The avail index store must be visible before the device's suppression
                // state is read (virtio 1.x §2.7.13.3.1), or a device that just ran out of
                // buffers and asked to be kicked may not be.
                fence(Ordering::SeqCst);
                if self.rxq.should_notify() {
                    self.counters.rx_kicks += 1;
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

    /// Takes the next used receive buffer from the ring: its number and the length the device
    /// wrote, clamped to the buffer. `Ok(None)` when the ring is empty, `Err` when it returned
    /// a token or chain this driver never posted (counted).
    fn take_used(&mut self) -> Result<Option<(u16, usize)>, ()> {
        let Some(token) = self.rxq.peek_used() else {
            return Ok(None);
        };
        let i = match self.rx_of_token.get(usize::from(token)) {
            Some(&i) if i != NO_BUF => i,
            _ => {
                self.counters.rx_errors += 1;
                return Err(());
            }
        };
        let buf = self.rx.buf(usize::from(i));
        // SAFETY: `buf` is the very buffer posted under this token.
        match unsafe { self.rxq.pop_used(token, &[], &mut [&mut *buf]) } {
            Ok(len) => {
                self.rx_of_token[usize::from(token)] = NO_BUF;
                Ok(Some((i, (len as usize).min(self.rx_buf_size))))
            }
            Err(_) => {
                self.counters.rx_errors += 1;
                Err(())
            }
        }
    }

    /// Completes one used receive buffer (a whole frame, or one piece of a merged one) and
    /// re-posts it.
    fn receive_one(&mut self, sink: &mut Sink<'_>) -> Step {
        let (i, used) = match self.take_used() {
            Ok(Some(taken)) => taken,
            Ok(None) => return Step::Empty,
            Err(()) => return Step::Stuck,
        };
        let hdr_len = self.hdr_len;
        let buf = &self.rx.buf(usize::from(i))[..used];
        let mut up = HandUp {
            counters: &mut self.counters,
            stats: &mut self.stats,
            offloads: self.offloads,
            spare: &mut self.spare,
            sink,
        };
        let step = match self.merge.as_mut() {
            None => {
                up.single(buf, hdr_len);
                Step::Frame
            }
            Some(merge) => up.piece(merge, buf, hdr_len),
        };
        self.post_rx(i);
        step
    }

    /// Used-buffer notifications from both queues on or off (virtio 1.x §2.7.7).
    ///
    /// Turning them on is followed by a full fence: the caller re-checks the used ring next,
    /// and that load must not be satisfied before the device can see the re-arm (with
    /// EVENT_IDX the re-arm is the `used_event` store of the last `pop_used`, otherwise the
    /// flags store). x86 lets a later load pass an earlier store; without the fence the device
    /// can read the stale `used_event` and decide not to interrupt while the driver reads the
    /// stale used index and goes to sleep, and with EVENT_IDX no later buffer interrupts
    /// either (the device only interrupts when crossing `used_event`).
    fn set_interrupts(&mut self, on: bool) {
        self.rxq.set_dev_notify(on);
        self.txq.set_dev_notify(on);
        if on {
            fence(Ordering::SeqCst);
        }
    }
}
