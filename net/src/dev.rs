//! Network devices: the trait through which drivers hand frames to the stack, and the
//! loopback device.
//!
//! A driver (virtio-net in `drivers`, a simulated link in tests) implements [`Device`]. The stack
//! polls it NAPI-style: up to a budget of frames per round, then transmits a burst and kicks the
//! device once. Devices never call into the stack.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

pub use crate::offload::TxOffload;
use crate::wire::MacAddr;

/// Offloads a device performs, so the stack can skip work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Received frames have had their TCP/UDP checksums verified by the device.
    pub rx_checksum_verified: bool,
    /// The device fills in TCP/UDP checksums on transmit (the stack leaves them partial).
    pub tx_checksum: bool,
    /// Largest frame the device accepts for transmit, Ethernet header included.
    pub max_frame: usize,
    /// TCP segmentation offload: the largest IPv4 packet carrying TCP the device cuts into
    /// MSS-sized segments itself (see [`TxOffload::tcp_mss`]); 0 = none. A device that has it
    /// also completes partial TCP checksums.
    pub tso_max: usize,
    /// [`Device::receive_owned`] hands frames over without a copy: the stack may keep a
    /// received frame (a large TCP segment stays in it until the application reads it).
    pub rx_owned: bool,
}

/// Why a frame was not queued for transmission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxError {
    /// The transmit ring is full: try again after the next poll.
    Full,
    /// The frame is larger than the device's `max_frame`.
    TooLarge,
    /// The link is down.
    LinkDown,
}

/// Traffic counters in the spirit of /proc/net/dev.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DevStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_dropped: u64,
}

/// A network interface as the stack sees it: Ethernet frames in and out.
pub trait Device {
    /// The interface's hardware address (all zeroes for loopback).
    fn mac(&self) -> MacAddr;
    /// Largest IP datagram the link carries (1500 for Ethernet, 65535 for loopback).
    fn mtu(&self) -> usize;
    /// Whether the link is up.
    fn link_up(&self) -> bool {
        true
    }
    /// Offloads this device performs.
    fn capabilities(&self) -> Capabilities;
    /// Hand up to `budget` received frames (Ethernet header first) to `sink`, oldest first;
    /// returns how many were handed over. Frames are only borrowed for the call.
    fn receive(&mut self, budget: usize, sink: &mut dyn FnMut(&[u8])) -> usize;
    /// [`Device::receive`] handing each frame over as a buffer the stack may keep; `sink`
    /// gives back the buffers it did not keep, for the device to reuse. Called instead of
    /// `receive` when [`Capabilities::rx_owned`] is set. The default copies each frame.
    fn receive_owned(
        &mut self,
        budget: usize,
        sink: &mut dyn FnMut(Vec<u8>) -> Option<Vec<u8>>,
    ) -> usize {
        self.receive(budget, &mut |f| {
            let _ = sink(f.to_vec());
        })
    }
    /// Queue one frame for transmission. The frame may only be sent at the next `flush`.
    fn transmit(&mut self, frame: &[u8]) -> Result<(), TxError>;
    /// [`Device::transmit`] for a frame the stack holds in a `Vec`: a device that queues
    /// frames as `Vec`s may take the buffer instead of copying it, leaving in `frame` an empty
    /// buffer (ideally a recycled one of its own, which the stack reuses for a later frame).
    /// The default copies through `transmit` and leaves `frame` alone.
    fn transmit_buf(&mut self, frame: &mut Vec<u8>) -> Result<(), TxError> {
        self.transmit(frame)
    }
    /// [`Device::transmit_buf`] for a frame that asks for offloads the device declared in
    /// [`Device::capabilities`] (a partial TCP checksum, a TCP super-segment to cut). The
    /// default does the work in software ([`crate::offload::finish_frame`]) and transmits
    /// each finished frame; a frame that is not IPv4/TCP is refused as `TooLarge`.
    fn transmit_offload(&mut self, frame: &mut Vec<u8>, offload: TxOffload) -> Result<(), TxError> {
        if offload.is_none() {
            return self.transmit_buf(frame);
        }
        let mut result = Ok(());
        let done = crate::offload::finish_frame(frame, offload, &mut |f| {
            if let Err(e) = self.transmit(f) {
                result = Err(e);
            }
        });
        done.map_err(|_| TxError::TooLarge)?;
        result
    }
    /// Kick the device so that queued frames go out (once per burst).
    fn flush(&mut self) {}
    /// Traffic counters.
    fn stats(&self) -> DevStats;
}

/// Bound on frames the loopback device holds: a sender that outruns the receiver loses frames
/// (counted in `tx_dropped`) rather than growing memory without limit.
pub const LOOPBACK_QUEUE_FRAMES: usize = 1024;

/// The loopback device: every transmitted frame comes back on the next `receive`.
///
/// Frames carry an Ethernet header like any other device's, with zero addresses, so the stack
/// has one receive path.
#[derive(Debug, Default)]
pub struct Loopback {
    queue: VecDeque<Vec<u8>>,
    stats: DevStats,
}

impl Loopback {
    pub fn new() -> Self {
        Self::default()
    }
}

impl Device for Loopback {
    fn mac(&self) -> MacAddr {
        MacAddr::ZERO
    }
    fn mtu(&self) -> usize {
        65535
    }
    fn capabilities(&self) -> Capabilities {
        // Frames never leave memory, so checksums cannot be corrupted in flight (Linux's
        // loopback sets CHECKSUM_UNNECESSARY the same way).
        Capabilities {
            rx_checksum_verified: true,
            tx_checksum: true,
            max_frame: 65535 + 14,
            tso_max: 0,
            rx_owned: true,
        }
    }
    fn receive(&mut self, budget: usize, sink: &mut dyn FnMut(&[u8])) -> usize {
        self.receive_owned(budget, &mut |f| {
            sink(&f);
            Some(f)
        })
    }
    fn receive_owned(
        &mut self,
        budget: usize,
        sink: &mut dyn FnMut(Vec<u8>) -> Option<Vec<u8>>,
    ) -> usize {
        let mut n = 0;
        while n < budget {
            let Some(frame) = self.queue.pop_front() else {
                break;
            };
            self.stats.rx_packets += 1;
            self.stats.rx_bytes += frame.len() as u64;
            // A frame the stack did not keep is freed (the transmit side allocates anew).
            let _ = sink(frame);
            n += 1;
        }
        n
    }
    fn transmit(&mut self, frame: &[u8]) -> Result<(), TxError> {
        self.transmit_buf(&mut frame.to_vec())
    }
    fn transmit_buf(&mut self, frame: &mut Vec<u8>) -> Result<(), TxError> {
        if frame.len() > self.capabilities().max_frame {
            self.stats.tx_dropped += 1;
            return Err(TxError::TooLarge);
        }
        if self.queue.len() >= LOOPBACK_QUEUE_FRAMES {
            self.stats.tx_dropped += 1;
            return Err(TxError::Full);
        }
        self.stats.tx_packets += 1;
        self.stats.tx_bytes += frame.len() as u64;
        // The buffer itself joins the queue: no copy.
        self.queue.push_back(core::mem::take(frame));
        Ok(())
    }
    fn stats(&self) -> DevStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn loopback_returns_frames_in_order_and_is_bounded() {
        let mut lo = Loopback::new();
        lo.transmit(&[1, 2, 3]).unwrap();
        lo.transmit(&[4]).unwrap();
        let mut got = Vec::new();
        assert_eq!(lo.receive(8, &mut |f| got.push(f.to_vec())), 2);
        assert_eq!(got, [vec![1, 2, 3], vec![4]]);
        for _ in 0..LOOPBACK_QUEUE_FRAMES {
            lo.transmit(&[0]).unwrap();
        }
        assert_eq!(lo.transmit(&[0]), Err(TxError::Full));
        assert_eq!(lo.stats().tx_dropped, 1);
        assert_eq!(lo.transmit(&[0; 70000]), Err(TxError::TooLarge));
    }

    #[test]
    fn loopback_takes_transmitted_buffers_and_keeps_its_bounds() {
        let mut lo = Loopback::new();
        let mut f = vec![9u8, 8, 7];
        lo.transmit_buf(&mut f).unwrap();
        assert!(f.is_empty(), "the buffer was taken, not copied");
        let mut big = vec![0u8; 70000];
        assert_eq!(lo.transmit_buf(&mut big), Err(TxError::TooLarge));
        assert_eq!(big.len(), 70000, "a refused frame stays with the caller");
        let mut got = Vec::new();
        assert_eq!(lo.receive(8, &mut |f| got.push(f.to_vec())), 1);
        assert_eq!(got, [vec![9, 8, 7]]);
        assert_eq!(lo.stats().tx_packets, 1);
        assert_eq!(lo.stats().tx_dropped, 1);
    }
}
