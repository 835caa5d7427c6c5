//! virtio-net as a `net::dev::Device`, over virtio-drivers' `Transport` (PCI or MMIO) and
//! `VirtQueue`, with the transmit offloads the device offers.
//!
//! Owns the feature negotiation and the two virtqueues' buffers: [`QUEUE_SIZE`] receive buffers
//! of [`BUF_SIZE`] bytes ([`MERGE_BUF_SIZE`] with receive segmentation), all posted to the
//! device and re-posted as soon as their frame has been handed to the stack; as many transmit
//! buffers of [`BUF_SIZE`] bytes, recycled when the device reports them used; and, only when
//! the device cuts TCP super-segments (HOST_TSO4), [`LARGE_BUFFERS`] transmit buffers of
//! [`LARGE_BUF_SIZE`] bytes for them. DMA memory: 1 MiB without offloads, 3.6 MiB with all of
//! them (1 MiB receive, 0.5 MiB transmit, 2.1 MiB large transmit); plus, with receive
//! segmentation, one [`MAX_RX_FRAME`] heap buffer to gather a frame in.
//!
//! Offloads: VIRTIO_NET_F_CSUM (the device finishes partial TCP checksums) and
//! VIRTIO_NET_F_HOST_TSO4 (it cuts super-segments) are negotiated when offered and declared in
//! [`Capabilities`]; the header that asks for them per frame is built in [`hdr`]. On receive,
//! VIRTIO_NET_F_GUEST_CSUM is negotiated when offered: frames the device flags DATA_VALID or
//! NEEDS_CSUM (a host-local sender's partial checksum) are good; the driver verifies the
//! TCP/UDP checksum of every other frame itself, dropping and counting bad ones, so that the
//! device as a whole can declare received checksums verified.
//!
//! Receive segmentation: VIRTIO_NET_F_GUEST_TSO4 is negotiated together with
//! VIRTIO_NET_F_MRG_RXBUF when the device offers both and GUEST_CSUM. The host may then hand
//! over whole TCPv4 super-segments (up to an IPv4 packet of 64 KiB), each spread over as many
//! page-sized receive buffers as it needs (`num_buffers` in the first one's header); the
//! receive path gathers them into one contiguous frame ([`MAX_RX_FRAME`] bytes at most) and
//! hands it to the stack whole, as a buffer the stack may keep (`Device::receive_owned`,
//! `Capabilities::rx_owned`) rather than copy again. A device that offers none of these (QEMU's user network,
//! socket netdevs) is driven exactly as without offloads.
//!
//! Receive is NAPI style: [`Device::receive`] (or `receive_owned`) turns the device's used-buffer notifications off
//! while it drains up to its budget; when the ring runs dry it turns them back on and looks once
//! more (a frame may have landed in between). When it stops because the budget ran out, it sets
//! the shared "work pending" flag so the poll loop comes back without waiting for an interrupt.
//! Frames are hostile bytes: lengths the device reports are clamped to the buffer, runts,
//! impossible `num_buffers` and oversized merged frames are dropped and counted. The budget
//! counts frames; the buffers one round may take are bounded too. Never blocks.

pub mod hdr;
mod pool;
mod rx;
mod rx_frame;
mod tx;

use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use net::dev::{Capabilities, DevStats, Device, TxError};
use net::offload::TxOffload;
use net::wire::MacAddr;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::{DeviceStatus, SomeTransport, Transport};

use crate::hal::{KernelHal, PAGE_SIZE};
use hdr::{feature, NetHdr};
use pool::{BufPool, FreeList};

/// Descriptors per virtqueue: QEMU's default virtio-net ring size, so one receive buffer per
/// descriptor keeps the whole ring stocked.
pub const QUEUE_SIZE: usize = 256;
/// Smallest number of receive (and of transmit) buffers [`set_buffers`] allows.
pub const MIN_BUFFERS: usize = 32;
/// Receive buffers posted, and transmit buffers kept, per queue by the next [`VirtioNet::new`].
static BUFFERS: AtomicUsize = AtomicUsize::new(QUEUE_SIZE);

/// Use `n` receive and `n` transmit buffers (clamped to [`MIN_BUFFERS`]..=[`QUEUE_SIZE`])
/// instead of one per descriptor: a machine of a few MiB keeps its RAM for programs (each
/// buffer pair is a page) at the cost of a shorter burst the ring can absorb.
pub fn set_buffers(n: usize) {
    BUFFERS.store(n.clamp(MIN_BUFFERS, QUEUE_SIZE), Ordering::Relaxed);
}

/// Bytes per buffer: the virtio-net header (10 or 12 bytes) plus the largest Ethernet frame
/// with a VLAN tag (1518), rounded up so two buffers share a page.
pub const BUF_SIZE: usize = 2048;
/// Ethernet MTU the device carries (no MTU feature is negotiated).
pub const MTU: usize = 1500;
/// Largest frame accepted for transmit: MTU plus the 14-byte Ethernet header.
pub const MAX_FRAME: usize = MTU + 14;
/// Largest IPv4 packet handed to the device to cut (TSO): IPv4's own limit.
pub const TSO_MAX: usize = 65535;
/// Bytes per large transmit buffer: header, Ethernet header and a [`TSO_MAX`] packet, rounded
/// up to whole pages (17 pages).
pub const LARGE_BUF_SIZE: usize =
    (hdr::HDR_LEN_MODERN + ETH_LEN + TSO_MAX).div_ceil(PAGE_SIZE) * PAGE_SIZE;
/// Large transmit buffers, allocated only when HOST_TSO4 is negotiated: 32 × 68 KiB = 2.1 MiB
/// of DMA memory, two megabytes of super-segments in flight (more than a TCP send window the
/// stack keeps per connection); a super-segment finding none free waits for the next flush
/// like any frame meeting a full ring.
pub const LARGE_BUFFERS: usize = 32;
/// Bytes per receive buffer when buffers are merged (MRG_RXBUF, negotiated with GUEST_TSO4):
/// one page, so a super-segment spans [`MAX_MERGE_BUFFERS`] of them and the ring holds about
/// fifteen; 256 × 4 KiB = 1 MiB of DMA memory for the receive ring.
pub const MERGE_BUF_SIZE: usize = PAGE_SIZE;
/// Largest frame gathered from merged buffers: an Ethernet header with a VLAN tag in front of
/// the largest IPv4 packet. A longer one is dropped and counted (`rx_merge_errors`).
pub const MAX_RX_FRAME: usize = ETH_LEN + 4 + TSO_MAX;
/// Most buffers one merged frame may span: header and [`MAX_RX_FRAME`] in [`MERGE_BUF_SIZE`]
/// buffers (17). A header claiming more is hostile: its buffers are consumed and dropped.
pub const MAX_MERGE_BUFFERS: usize = (hdr::HDR_LEN_MODERN + MAX_RX_FRAME).div_ceil(MERGE_BUF_SIZE);
/// Shortest frame handed up: an Ethernet header.
const MIN_FRAME: usize = 14;
const ETH_LEN: usize = 14;
/// Marks a token slot that holds no buffer.
const NO_BUF: u16 = u16::MAX;

const QUEUE_RECEIVE: u16 = 0;
const QUEUE_TRANSMIT: u16 = 1;
/// Features asked for from every device; the offloads are added when offered.
///
/// Not VIRTIO_F_RING_EVENT_IDX: virtio-drivers 0.13 publishes `used_event` on every
/// `pop_used` (so used-buffer interrupts cannot be suppressed while a round polls) and decides
/// kicks with `avail_idx >= avail_event + 1` (one kick per re-posted receive buffer). With
/// the flag-based suppression of virtio 1.x §2.7.7/§2.7.10 the driver does what it means:
/// measured over the mixed load on q35 and pc (100 concurrent + 1000 sequential echo
/// connections, 64 MiB discard), receive kicks fell from ~24,500 to ~350 with the same
/// interrupt count and bulk rate.
const BASE_FEATURES: u64 = feature::MAC | feature::STATUS | feature::VERSION_1;

type Queue = VirtQueue<KernelHal, QUEUE_SIZE>;

/// Driver-level drop and error counters (beyond `DevStats`), for diagnosing lost frames and
/// seeing which offloads were used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverCounters {
    /// Received frames shorter than an Ethernet header.
    pub rx_runts: u64,
    /// Used receive buffers the driver could not complete (device returned a bad chain, or a
    /// length shorter than the virtio-net header).
    pub rx_errors: u64,
    /// Receive buffers that could not be re-posted (the ring shrinks by one each time).
    pub rx_repost_failures: u64,
    /// Frames the device refused to queue for transmit.
    pub tx_errors: u64,
    /// Rounds that stopped at the budget with frames still waiting.
    pub rx_budget_exhausted: u64,
    /// Frames sent with a partial checksum for the device to finish (super-segments included).
    pub tx_csum_offloaded: u64,
    /// Super-segments handed to the device to cut (TSO).
    pub tx_tso_frames: u64,
    /// Offload requests done in software instead (a super-segment with CWR set, or an offload
    /// the device did not negotiate).
    pub tx_sw_fallback: u64,
    /// Offload requests for frames that are not Ethernet/IPv4/TCP: dropped.
    pub tx_bad_offload: u64,
    /// Received frames the device vouched for (DATA_VALID or NEEDS_CSUM), with GUEST_CSUM.
    pub rx_csum_device: u64,
    /// Received TCP/UDP frames whose checksum the driver verified itself, with GUEST_CSUM.
    pub rx_csum_verified: u64,
    /// Received TCP/UDP frames with a wrong checksum, dropped by the driver (GUEST_CSUM only;
    /// without it the stack counts them).
    pub rx_csum_errors: u64,
    /// Received TCPv4 super-segments (GSO_TCPV4 headers), handed to the stack whole.
    pub rx_gso_frames: u64,
    /// Received frames gathered from more than one buffer (MRG_RXBUF).
    pub rx_merged_frames: u64,
    /// Merged frames dropped: `num_buffers` of 0 or above [`MAX_MERGE_BUFFERS`], or more bytes
    /// than [`MAX_RX_FRAME`].
    pub rx_merge_errors: u64,
    /// Received frames with a segmentation type that was not negotiated: dropped.
    pub rx_gso_unsupported: u64,
    /// Received frames dropped for want of heap memory to hand them over in (`receive_owned`
    /// after the stack kept the previous buffer).
    pub rx_no_memory: u64,
    /// Receive rounds (`Device::receive` / `receive_owned` calls).
    pub rx_rounds: u64,
    /// Re-arm races caught: after used-buffer notifications were turned back on, the re-check
    /// found a buffer the device had used meanwhile (it would not have interrupted for it).
    pub rx_rearm_races: u64,
    /// Times the driver notified (kicked) the device after adding buffers, per queue.
    pub rx_kicks: u64,
    pub tx_kicks: u64,
}

/// A snapshot of both virtqueues ([`VirtioNet::ring_state`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RingState {
    pub rx_used_waiting: bool,
    pub rx_free_desc: usize,
    pub tx_used_waiting: bool,
    pub tx_free_desc: usize,
}

/// The transmit offloads negotiated with the device.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Offloads {
    /// VIRTIO_NET_F_CSUM: the device finishes partial TCP checksums.
    pub tx_checksum: bool,
    /// VIRTIO_NET_F_HOST_TSO4: the device cuts TCPv4 super-segments.
    pub tso4: bool,
    /// VIRTIO_NET_F_GUEST_CSUM: received checksums are vouched for by the device or verified
    /// by the driver.
    pub rx_checksum: bool,
    /// VIRTIO_NET_F_GUEST_TSO4 (with MRG_RXBUF): the device hands over TCPv4 super-segments.
    pub rx_tso4: bool,
}

impl core::fmt::Display for Offloads {
    /// `none`, or the offloads joined by `+`: `csum+tso4+rxcsum+rxtso4`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let names = [
            (self.tx_checksum, "csum"),
            (self.tso4, "tso4"),
            (self.rx_checksum, "rxcsum"),
            (self.rx_tso4, "rxtso4"),
        ];
        let mut first = true;
        for (_, name) in names.iter().filter(|(on, _)| *on) {
            if !first {
                f.write_str("+")?;
            }
            f.write_str(name)?;
            first = false;
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// A virtio network card (over PCI or MMIO in the kernel; over a fake device in tests).
pub struct VirtioNet<T: Transport = SomeTransport<'static>> {
    transport: T,
    rxq: Queue,
    txq: Queue,
    rx: BufPool,
    tx: BufPool,
    /// Transmit buffers for super-segments; `None` unless HOST_TSO4 was negotiated.
    large: Option<BufPool>,
    mac: [u8; 6],
    /// Feature bits the device offered and the ones negotiated.
    offered: u64,
    features: u64,
    offloads: Offloads,
    /// virtio-net header bytes in front of every frame (10 legacy, 12 modern).
    hdr_len: usize,
    /// Bytes per receive buffer ([`BUF_SIZE`], or [`MERGE_BUF_SIZE`] when merged).
    rx_buf_size: usize,
    /// The merged frame being gathered (MRG_RXBUF only).
    merge: Option<rx_frame::Merge>,
    /// Buffer for copies of single-buffer frames handed over owned (`receive_owned`).
    spare: Vec<u8>,
    /// Receive buffer number posted under each descriptor token.
    rx_of_token: [u16; QUEUE_SIZE],
    /// Transmit buffer in flight under each descriptor token: below `QUEUE_SIZE` a small
    /// buffer, from `QUEUE_SIZE` on a large one.
    tx_of_token: [u16; QUEUE_SIZE],
    /// Bytes (header + frame) handed to the device for each transmit buffer.
    tx_len: [u32; QUEUE_SIZE + LARGE_BUFFERS],
    tx_free: FreeList<QUEUE_SIZE>,
    large_free: FreeList<LARGE_BUFFERS>,
    stats: DevStats,
    counters: DriverCounters,
    /// Set when a receive round stopped at its budget, so the poll loop returns promptly.
    pending: &'static AtomicBool,
}

/// Device initialisation up to FEATURES_OK (virtio 1.x §3.1.1): reset, acknowledge, negotiate.
/// Returns (offered, negotiated) feature bits.
fn negotiate<T: Transport>(transport: &mut T) -> Result<(u64, u64), &'static str> {
    transport.set_status(DeviceStatus::empty());
    transport.set_status(DeviceStatus::ACKNOWLEDGE | DeviceStatus::DRIVER);
    let offered = transport.read_device_features();
    let mut wanted = BASE_FEATURES | feature::CSUM | feature::GUEST_CSUM;
    // HOST_TSO4 requires CSUM (§5.1.3.1).
    if offered & feature::CSUM != 0 {
        wanted |= feature::HOST_TSO4;
    }
    // GUEST_TSO4 requires GUEST_CSUM (§5.1.3.1); it is only taken with mergeable buffers, so
    // that the ring stays made of small buffers rather than 64 KiB ones (§5.1.6.3.1).
    let rx_gso = feature::GUEST_CSUM | feature::GUEST_TSO4 | feature::MRG_RXBUF;
    if offered & rx_gso == rx_gso {
        wanted |= feature::GUEST_TSO4 | feature::MRG_RXBUF;
    }
    let features = offered & wanted;
    transport.write_driver_features(features);
    let ok = DeviceStatus::ACKNOWLEDGE | DeviceStatus::DRIVER | DeviceStatus::FEATURES_OK;
    transport.set_status(ok);
    // A modern device confirms by keeping FEATURES_OK set; a legacy one has no such step.
    if features & feature::VERSION_1 != 0
        && !transport.get_status().contains(DeviceStatus::FEATURES_OK)
    {
        transport.set_status(ok | DeviceStatus::FAILED);
        return Err("virtio-net: device refused the negotiated features");
    }
    transport.set_guest_page_size(PAGE_SIZE as u32);
    Ok((offered, features))
}

impl<T: Transport> VirtioNet<T> {
    /// Initialises the device behind `transport`, negotiating the transmit offloads it offers,
    /// and stocks its receive ring.
    pub fn new(
        mut transport: T,
        pending: &'static AtomicBool,
    ) -> Result<VirtioNet<T>, &'static str> {
        let (offered, features) = negotiate(&mut transport)?;
        let event_idx = features & feature::RING_EVENT_IDX != 0;
        let init_failed = "virtio-net: device initialisation failed";
        let rxq =
            Queue::new(&mut transport, QUEUE_RECEIVE, false, event_idx).map_err(|_| init_failed)?;
        let txq = Queue::new(&mut transport, QUEUE_TRANSMIT, false, event_idx)
            .map_err(|_| init_failed)?;
        let mac: [u8; 6] = transport
            .read_consistent(|| transport.read_config_space(0))
            .map_err(|_| "virtio-net: cannot read the MAC address")?;
        let offloads = Offloads {
            tx_checksum: features & feature::CSUM != 0,
            tso4: features & feature::HOST_TSO4 != 0,
            rx_checksum: features & feature::GUEST_CSUM != 0,
            rx_tso4: features & feature::GUEST_TSO4 != 0,
        };
        let merged = features & feature::MRG_RXBUF != 0;
        let rx_buf_size = if merged { MERGE_BUF_SIZE } else { BUF_SIZE };
        let buffers = BUFFERS.load(Ordering::Relaxed);
        let rx =
            BufPool::new(buffers, rx_buf_size).ok_or("virtio-net: out of DMA memory for rx")?;
        let tx = BufPool::new(buffers, BUF_SIZE).ok_or("virtio-net: out of DMA memory for tx")?;
        let large = if offloads.tso4 {
            Some(
                BufPool::new(LARGE_BUFFERS, LARGE_BUF_SIZE)
                    .ok_or("virtio-net: out of DMA memory for TSO buffers")?,
            )
        } else {
            None
        };
        transport.finish_init();
        let mut dev = VirtioNet {
            transport,
            rxq,
            txq,
            rx,
            tx,
            large,
            mac,
            offered,
            features,
            offloads,
            hdr_len: hdr::header_len(features),
            rx_buf_size,
            merge: merged.then(rx_frame::Merge::new),
            spare: Vec::new(),
            rx_of_token: [NO_BUF; QUEUE_SIZE],
            tx_of_token: [NO_BUF; QUEUE_SIZE],
            tx_len: [0; QUEUE_SIZE + LARGE_BUFFERS],
            tx_free: FreeList::first(buffers),
            large_free: FreeList::full(),
            stats: DevStats::default(),
            counters: DriverCounters::default(),
            pending,
        };
        for i in 0..buffers {
            if !dev.post_rx(i as u16) {
                return Err("virtio-net: could not post receive buffers");
            }
        }
        log::info!(
            "virtio-net: features offered {offered:#x}, negotiated {features:#x}; \
             offloads {offloads}"
        );
        Ok(dev)
    }

    /// Driver-level counters.
    pub fn counters(&self) -> DriverCounters {
        self.counters
    }

    /// What the rings hold right now, for diagnosing a device that stopped talking: whether
    /// a used buffer waits on each queue, and how many descriptors are free.
    pub fn ring_state(&self) -> RingState {
        RingState {
            rx_used_waiting: self.rxq.can_pop(),
            rx_free_desc: self.rxq.available_desc(),
            tx_used_waiting: self.txq.can_pop(),
            tx_free_desc: self.txq.available_desc(),
        }
    }

    /// The transmit offloads negotiated with the device.
    pub fn offloads(&self) -> Offloads {
        self.offloads
    }

    /// Feature bits the device offered and the ones negotiated.
    pub fn features(&self) -> (u64, u64) {
        (self.offered, self.features)
    }
}

impl<T: Transport> Drop for VirtioNet<T> {
    fn drop(&mut self) {
        // Detach the rings from the device before they and the buffers they point at are
        // freed (the fields are dropped after this).
        self.transport.queue_unset(QUEUE_RECEIVE);
        self.transport.queue_unset(QUEUE_TRANSMIT);
    }
}

impl<T: Transport> Device for VirtioNet<T> {
    fn mac(&self) -> MacAddr {
        MacAddr(self.mac)
    }

    fn mtu(&self) -> usize {
        MTU
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            rx_checksum_verified: self.offloads.rx_checksum,
            tx_checksum: self.offloads.tx_checksum,
            max_frame: MAX_FRAME,
            tso_max: if self.offloads.tso4 { TSO_MAX } else { 0 },
            // With merged buffers a super-segment is gathered into a heap buffer anyway:
            // the stack may keep it rather than copy it again.
            rx_owned: self.merge.is_some(),
        }
    }

    fn receive(&mut self, budget: usize, sink: &mut dyn FnMut(&[u8])) -> usize {
        self.receive_round(budget, rx_frame::Sink::Borrowed(sink))
    }

    fn receive_owned(
        &mut self,
        budget: usize,
        sink: &mut dyn FnMut(Vec<u8>) -> Option<Vec<u8>>,
    ) -> usize {
        self.receive_round(budget, rx_frame::Sink::Owned(sink))
    }

    fn transmit(&mut self, frame: &[u8]) -> Result<(), TxError> {
        if frame.len() > MAX_FRAME {
            self.stats.tx_dropped += 1;
            return Err(TxError::TooLarge);
        }
        self.queue_frame(frame, &NetHdr::default())
    }

    fn transmit_offload(&mut self, frame: &mut Vec<u8>, offload: TxOffload) -> Result<(), TxError> {
        self.transmit_with_offload(frame, offload)
    }

    /// Frames are handed to the device as they are queued (unless it suppressed
    /// notifications), so flushing only recycles completed transmit buffers.
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
