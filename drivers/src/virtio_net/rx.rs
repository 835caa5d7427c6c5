//! The receive path: stocking the receive ring, NAPI-style rounds with interrupt
//! suppression and a budget, hostile lengths clamped, and (with GUEST_CSUM) the checksum
//! verdict for frames the device did not vouch for. Never blocks, never allocates.

use core::sync::atomic::Ordering;

use virtio_drivers::transport::Transport;

use alloc::vec::Vec;

use net::dev::DevStats;

use super::hdr::{self, RxCheck, RxHdr, GSO_NONE, GSO_TCPV4};
use super::{
    DriverCounters, Offloads, VirtioNet, MAX_MERGE_BUFFERS, MAX_RX_FRAME, MIN_FRAME, NO_BUF,
    QUEUE_RECEIVE, QUEUE_SIZE,
};

/// What completing one used receive buffer did.
pub(super) enum Step {
    /// The ring had nothing (or something unusable, counted).
    Empty,
    /// A frame was handed up or dropped (counted).
    Frame,
    /// A piece of a merged frame was taken; more are to come.
    Partial,
}

/// The merged frame being gathered (MRG_RXBUF): one contiguous copy of the pieces, bounded by
/// [`MAX_RX_FRAME`] (allocated once, when the driver starts).
pub(super) struct Merge {
    frame: Vec<u8>,
    /// Pieces of the current frame still to come; 0 between frames.
    left: u16,
    /// The first piece's header.
    hdr: RxHdr,
    /// The current frame is dropped when complete (hostile `num_buffers` or length).
    bad: bool,
}

impl Merge {
    pub(super) fn new() -> Merge {
        Merge {
            frame: Vec::with_capacity(MAX_RX_FRAME),
            left: 0,
            hdr: RxHdr::default(),
            bad: false,
        }
    }

    /// A new frame with header `hdr`, `left` more pieces to come.
    fn start(&mut self, hdr: RxHdr, left: u16) {
        self.frame.clear();
        self.hdr = hdr;
        self.left = left;
        self.bad = false;
    }

    /// Appends a piece, or marks the frame bad if it would exceed [`MAX_RX_FRAME`] (never
    /// grows the allocation).
    fn push(&mut self, piece: &[u8]) {
        if self.bad {
            return;
        }
        if self.frame.len() + piece.len() > MAX_RX_FRAME {
            self.bad = true;
            self.frame.clear();
        } else {
            self.frame.extend_from_slice(piece);
        }
    }
}

/// Hands a received frame with header `h` to `sink`, or drops and counts it: a runt, a
/// segmentation type that was not negotiated, or (with GUEST_CSUM) a bad checksum.
fn deliver(
    counters: &mut DriverCounters,
    stats: &mut DevStats,
    offloads: Offloads,
    h: RxHdr,
    frame: &[u8],
    sink: &mut dyn FnMut(&[u8]),
) {
    if frame.len() < MIN_FRAME {
        counters.rx_runts += 1;
        stats.rx_dropped += 1;
        return;
    }
    let gso = match h.gso_type {
        GSO_NONE => false,
        GSO_TCPV4 if offloads.rx_tso4 => true,
        _ => {
            counters.rx_gso_unsupported += 1;
            stats.rx_dropped += 1;
            return;
        }
    };
    if offloads.rx_checksum && !rx_checksum_ok(counters, h.flags, frame) {
        stats.rx_dropped += 1;
        return;
    }
    if gso {
        counters.rx_gso_frames += 1;
        if counters.rx_gso_frames == 1 {
            log::info!(
                "virtio-net: receiving super-segments ({} bytes in the first)",
                frame.len()
            );
        }
    }
    stats.rx_packets += 1;
    stats.rx_bytes += frame.len() as u64;
    sink(frame);
}

impl<T: Transport> VirtioNet<T> {
    /// Hands up to `budget` received frames to `sink` (`Device::receive`).
    pub(super) fn receive_round(&mut self, budget: usize, sink: &mut dyn FnMut(&[u8])) -> usize {
        // No used-buffer interrupts while we are polling anyway.
        self.set_interrupts(false);
        let mut n = 0;
        // Buffers may be pieces of merged frames: bounded too, so a device that only ever
        // returns pieces cannot keep the round going.
        let mut buffers = 0;
        let buffer_limit = budget.saturating_mul(MAX_MERGE_BUFFERS);
        while n < budget && buffers < buffer_limit {
            match self.receive_one(sink) {
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

    /// Takes the next used receive buffer from the ring: its number and the length the device
    /// wrote, clamped to the buffer. `None` when the ring is empty or returned a token or
    /// chain this driver never posted (counted).
    fn take_used(&mut self) -> Option<(u16, usize)> {
        let token = self.rxq.peek_used()?;
        let i = match self.rx_of_token.get(usize::from(token)) {
            Some(&i) if i != NO_BUF => i,
            _ => {
                self.counters.rx_errors += 1;
                return None;
            }
        };
        let buf = self.rx.buf(usize::from(i));
        // SAFETY: `buf` is the very buffer posted under this token.
        match unsafe { self.rxq.pop_used(token, &[], &mut [&mut *buf]) } {
            Ok(len) => {
                self.rx_of_token[usize::from(token)] = NO_BUF;
                Some((i, (len as usize).min(self.rx_buf_size)))
            }
            Err(_) => {
                self.counters.rx_errors += 1;
                None
            }
        }
    }

    /// Completes one used receive buffer (a whole frame, or one piece of a merged one) and
    /// re-posts it.
    fn receive_one(&mut self, sink: &mut dyn FnMut(&[u8])) -> Step {
        let Some((i, used)) = self.take_used() else {
            return Step::Empty;
        };
        let step = match self.merge.take() {
            None => {
                self.receive_single(i, used, sink);
                Step::Frame
            }
            Some(mut merge) => {
                let step = self.receive_merged(&mut merge, i, used, sink);
                self.merge = Some(merge);
                step
            }
        };
        self.post_rx(i);
        step
    }

    /// Without MRG_RXBUF: buffer `i` holds the header and one whole frame.
    fn receive_single(&mut self, i: u16, used: usize, sink: &mut dyn FnMut(&[u8])) {
        let hdr_len = self.hdr_len;
        let buf = self.rx.buf(usize::from(i));
        match buf
            .get(..used)
            .filter(|b| b.len() >= hdr_len)
            .and_then(|b| RxHdr::parse(b, false))
        {
            Some(h) => deliver(
                &mut self.counters,
                &mut self.stats,
                self.offloads,
                h,
                &buf[hdr_len..used],
                sink,
            ),
            None => {
                self.counters.rx_errors += 1;
                self.stats.rx_dropped += 1;
            }
        }
    }

    /// With MRG_RXBUF: buffer `i` is either the first of a frame (header, `num_buffers`, the
    /// frame's first bytes) or the next piece of the frame being gathered in `merge`.
    fn receive_merged(
        &mut self,
        merge: &mut Merge,
        i: u16,
        used: usize,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Step {
        let hdr_len = self.hdr_len;
        let buf = self.rx.buf(usize::from(i));
        let buf = &buf[..used];
        if merge.left == 0 {
            let Some(h) = buf
                .get(..hdr_len)
                .filter(|b| b.len() == hdr_len)
                .and_then(|b| RxHdr::parse(b, true))
            else {
                self.counters.rx_errors += 1;
                self.stats.rx_dropped += 1;
                return Step::Frame;
            };
            let body = &buf[hdr_len..];
            return match h.num_buffers {
                1 => {
                    let (c, s, o) = (&mut self.counters, &mut self.stats, self.offloads);
                    deliver(c, s, o, h, body, sink);
                    Step::Frame
                }
                0 => {
                    self.counters.rx_merge_errors += 1;
                    self.stats.rx_dropped += 1;
                    Step::Frame
                }
                n => {
                    merge.start(h, n - 1);
                    merge.bad = usize::from(n) > MAX_MERGE_BUFFERS;
                    merge.push(body);
                    Step::Partial
                }
            };
        }
        merge.left -= 1;
        merge.push(buf);
        if merge.left > 0 {
            return Step::Partial;
        }
        if merge.bad {
            self.counters.rx_merge_errors += 1;
            self.stats.rx_dropped += 1;
        } else {
            self.counters.rx_merged_frames += 1;
            let (c, s, o) = (&mut self.counters, &mut self.stats, self.offloads);
            deliver(c, s, o, merge.hdr, &merge.frame, sink);
        }
        Step::Frame
    }

    /// Used-buffer notifications from both queues on or off (virtio 1.x §2.7.7).
    fn set_interrupts(&mut self, on: bool) {
        self.rxq.set_dev_notify(on);
        self.txq.set_dev_notify(on);
    }
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
