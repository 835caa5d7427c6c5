//! The transmit path: a free buffer of the right size for each frame, the virtio-net header
//! in front, completed buffers taken back; offload requests turned into headers, or done in
//! software when the device cannot. Never blocks: a full ring is `TxError::Full`.

use core::sync::atomic::{fence, Ordering};

use net::dev::{Device, TxError};
use net::offload::{self, TxOffload};
use virtio_drivers::transport::Transport;

use super::hdr::{self, HdrError, NetHdr, GSO_NONE};
use super::pool::BufPool;
use super::{VirtioNet, BUF_SIZE, LARGE_BUF_SIZE, MAX_FRAME, NO_BUF, QUEUE_SIZE, QUEUE_TRANSMIT};

impl<T: Transport> VirtioNet<T> {
    /// `Device::transmit_offload`: the offload asked of the device when negotiated.
    pub(super) fn transmit_with_offload(
        &mut self,
        frame: &[u8],
        offload: TxOffload,
    ) -> Result<(), TxError> {
        if offload.is_none() {
            return self.transmit(frame);
        }
        let device_can = self.offloads.tx_checksum && (offload.tcp_mss == 0 || self.offloads.tso4);
        if !device_can {
            return self.offload_in_software(frame, offload);
        }
        match hdr::offload_header(frame, offload) {
            Ok(h) => {
                if h.gso_type == GSO_NONE && frame.len() > MAX_FRAME {
                    self.stats.tx_dropped += 1;
                    return Err(TxError::TooLarge);
                }
                self.queue_frame(frame, &h)?;
                self.counters.tx_csum_offloaded += 1;
                if h.gso_type != GSO_NONE {
                    self.counters.tx_tso_frames += 1;
                }
                Ok(())
            }
            Err(HdrError::NeedsEcn) => self.offload_in_software(frame, offload),
            Err(HdrError::NotTcp) => {
                self.counters.tx_bad_offload += 1;
                self.stats.tx_dropped += 1;
                Err(TxError::TooLarge)
            }
        }
    }

    /// Transmit buffer `id`'s bytes: a small buffer below `QUEUE_SIZE`, a large one above.
    /// (A function of the two pools, so the queue can be borrowed alongside.)
    fn tx_buf<'a>(
        small: &'a mut BufPool,
        large: &'a mut Option<BufPool>,
        id: u16,
    ) -> Option<&'a mut [u8]> {
        let id = usize::from(id);
        if id < QUEUE_SIZE {
            Some(small.buf(id))
        } else {
            large.as_mut().map(|p| p.buf(id - QUEUE_SIZE))
        }
    }

    /// Takes back transmit buffers the device has finished with.
    pub(super) fn reclaim_tx(&mut self) {
        while let Some(token) = self.txq.peek_used() {
            let slot = usize::from(token);
            let id = match self.tx_of_token.get(slot) {
                Some(&id) if id != NO_BUF => id,
                _ => {
                    // A token we never issued: the ring is corrupt; stop rather than guess.
                    self.counters.tx_errors += 1;
                    return;
                }
            };
            let len = self.tx_len[usize::from(id)] as usize;
            let Some(buf) = Self::tx_buf(&mut self.tx, &mut self.large, id) else {
                self.counters.tx_errors += 1;
                return;
            };
            let buf: &[u8] = &buf[..len];
            // SAFETY: `buf` is exactly the slice added to the queue under this token.
            if unsafe { self.txq.pop_used(token, &[buf], &mut []) }.is_err() {
                self.counters.tx_errors += 1;
                return;
            }
            self.tx_of_token[slot] = NO_BUF;
            self.release_tx(id);
        }
    }

    /// Puts transmit buffer `id` back on its pool's free list.
    fn release_tx(&mut self, id: u16) {
        match id.checked_sub(QUEUE_SIZE as u16) {
            None => self.tx_free.push(id),
            Some(large) => self.large_free.push(large),
        }
    }

    /// Queues `frame` behind `header` in a free transmit buffer large enough for it.
    pub(super) fn queue_frame(&mut self, frame: &[u8], header: &NetHdr) -> Result<(), TxError> {
        let total = self.hdr_len + frame.len();
        let large = total > BUF_SIZE;
        if (large && self.large.is_none()) || total > LARGE_BUF_SIZE {
            self.stats.tx_dropped += 1;
            return Err(TxError::TooLarge);
        }
        if !self.tx_room(large) {
            self.reclaim_tx();
            if !self.tx_room(large) {
                return Err(TxError::Full);
            }
        }
        let id = if large {
            self.large_free.pop().map(|i| i + QUEUE_SIZE as u16)
        } else {
            self.tx_free.pop()
        };
        let Some(id) = id else {
            return Err(TxError::Full);
        };
        let hdr_len = self.hdr_len;
        // Cannot fail: a large buffer number only comes from the large pool's free list.
        let Some(buf) = Self::tx_buf(&mut self.tx, &mut self.large, id) else {
            self.release_tx(id);
            self.counters.tx_errors += 1;
            return Err(TxError::TooLarge);
        };
        header.write(&mut buf[..hdr_len]);
        buf[hdr_len..total].copy_from_slice(frame);
        let buf: &[u8] = &buf[..total];
        // SAFETY: the buffer stays untouched until `reclaim_tx` sees its token come back and
        // hands `pop_used` the same `buf[..total]`.
        match unsafe { self.txq.add(&[buf], &mut []) } {
            Ok(token) if usize::from(token) < QUEUE_SIZE => {
                self.tx_of_token[usize::from(token)] = id;
                self.tx_len[usize::from(id)] = total as u32;
                // As in `post_rx`: publish the avail index before reading whether to kick.
                fence(Ordering::SeqCst);
                if self.txq.should_notify() {
                    self.counters.tx_kicks += 1;
                    self.transport.notify(QUEUE_TRANSMIT);
                }
                self.stats.tx_packets += 1;
                self.stats.tx_bytes += frame.len() as u64;
                Ok(())
            }
            _ => {
                self.release_tx(id);
                self.counters.tx_errors += 1;
                self.stats.tx_dropped += 1;
                Err(TxError::Full)
            }
        }
    }

    /// Whether a descriptor and a transmit buffer of the needed kind are free.
    fn tx_room(&self, large: bool) -> bool {
        let buffer = if large {
            !self.large_free.is_empty()
        } else {
            !self.tx_free.is_empty()
        };
        buffer && self.txq.available_desc() >= 1
    }

    /// What `Device::transmit_offload`'s default does: the offload in software, each finished
    /// frame transmitted on its own.
    fn offload_in_software(&mut self, frame: &[u8], offload: TxOffload) -> Result<(), TxError> {
        self.counters.tx_sw_fallback += 1;
        let mut result = Ok(());
        let done = offload::finish_frame(frame, offload, &mut |f| {
            if let Err(e) = self.transmit(f) {
                result = Err(e);
            }
        });
        if done.is_err() {
            self.counters.tx_bad_offload += 1;
            self.stats.tx_dropped += 1;
            return Err(TxError::TooLarge);
        }
        result
    }
}
