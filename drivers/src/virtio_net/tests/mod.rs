//! Host tests of the virtio-net glue against a fake device: a `Transport` that records where
//! the driver put its rings, and a device side that fills receive buffers and consumes transmit
//! buffers through those rings, as QEMU would.

use core::cell::RefCell;
use core::sync::atomic::Ordering;
use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::rc::Rc;
use std::vec::Vec;

use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{PhysAddr, Result as VirtioResult};
use zerocopy::{FromBytes, Immutable, IntoBytes};

use super::*;

const MAC: [u8; 6] = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
/// virtio-net header length with VERSION_1 (the fake offers it): 12 bytes.
const HDR: usize = 12;
const FEATURE_MAC: u64 = 1 << 5;
const FEATURE_STATUS: u64 = 1 << 16;
const FEATURE_VERSION_1: u64 = 1 << 32;
const FEATURE_MRG_RXBUF: u64 = 1 << 15;
const DESC_F_NEXT: u16 = 1;

fn host_dma_alloc(pages: usize) -> Option<u64> {
    let layout = Layout::from_size_align(pages * PAGE_SIZE, PAGE_SIZE).ok()?;
    // SAFETY: the layout has a non-zero size (pages >= 1 in every virtio-drivers call).
    let p = unsafe { alloc_zeroed(layout) };
    (!p.is_null()).then_some(p as u64)
}

fn host_dma_free(paddr: u64, pages: usize) {
    let layout = Layout::from_size_align(pages * PAGE_SIZE, PAGE_SIZE).unwrap();
    // SAFETY: `paddr` came from `host_dma_alloc` with the same page count.
    unsafe { dealloc(paddr as *mut u8, layout) }
}

// Device-side memory access: the host's "physical" addresses are its virtual ones.
fn rd16(a: u64) -> u16 {
    // SAFETY: `a` lies in a ring the driver allocated through `host_dma_alloc`.
    unsafe { core::ptr::read_volatile(a as *const u16) }
}
fn rd32(a: u64) -> u32 {
    // SAFETY: as in `rd16`.
    unsafe { core::ptr::read_volatile(a as *const u32) }
}
fn rd64(a: u64) -> u64 {
    // SAFETY: as in `rd16`.
    unsafe { core::ptr::read_volatile(a as *const u64) }
}
fn wr16(a: u64, v: u16) {
    // SAFETY: as in `rd16`.
    unsafe { core::ptr::write_volatile(a as *mut u16, v) }
}
fn wr32(a: u64, v: u32) {
    // SAFETY: as in `rd16`.
    unsafe { core::ptr::write_volatile(a as *mut u32, v) }
}

#[derive(Default, Clone, Copy)]
struct Queue {
    size: u16,
    desc: u64,
    avail: u64,
    used: u64,
    last_avail: u16,
}

#[derive(Default)]
struct State {
    status: u32,
    queues: [Queue; 2],
    notifications: [usize; 2],
    /// Feature bits the device offers, and those the driver wrote back.
    offered: u64,
    accepted: u64,
}

/// The fake device; clones share state (one is given to the driver, one kept by the test).
#[derive(Clone, Default)]
struct FakeNet(Rc<RefCell<State>>);

impl FakeNet {
    /// A device offering `features` (QEMU's user network offers MAC, STATUS and VERSION_1 of
    /// what the driver asks for).
    fn offering(features: u64) -> FakeNet {
        let fake = FakeNet::default();
        fake.0.borrow_mut().offered = features;
        fake
    }

    /// Writes `frame` into the next receive buffer the driver posted; the used length is
    /// `claimed` if given (a lying device), else header + frame. False if none is posted.
    fn deliver(&self, frame: &[u8], claimed: Option<u32>) -> bool {
        self.deliver_flagged(frame, claimed, 0)
    }

    /// [`FakeNet::deliver`] with `flags` in the virtio-net header (and `num_buffers` 1 when
    /// mergeable buffers were negotiated).
    fn deliver_flagged(&self, frame: &[u8], claimed: Option<u32>, flags: u8) -> bool {
        let mut bytes = std::vec![0u8; HDR];
        bytes[0] = flags;
        if self.0.borrow().accepted & FEATURE_MRG_RXBUF != 0 {
            bytes[10] = 1;
        }
        bytes.extend_from_slice(frame);
        self.deliver_piece(&bytes, claimed)
    }

    /// Writes `bytes` (cut to the buffer) into the next receive buffer the driver posted and
    /// returns it used with length `claimed` if given, else the bytes written. False if none
    /// is posted.
    fn deliver_piece(&self, bytes: &[u8], claimed: Option<u32>) -> bool {
        let mut st = self.0.borrow_mut();
        let q = &mut st.queues[0];
        if q.last_avail == rd16(q.avail + 2) {
            return false;
        }
        let head = rd16(q.avail + 4 + 2 * u64::from(q.last_avail % q.size));
        q.last_avail = q.last_avail.wrapping_add(1);
        let d = q.desc + 16 * u64::from(head);
        let (addr, len) = (rd64(d), rd32(d + 8) as usize);
        let written = bytes.len().min(len);
        // SAFETY: the descriptor names a `len`-byte receive buffer owned by the device now.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, written) };
        Self::push_used(q, head, claimed.unwrap_or(written as u32));
        true
    }

    /// Size of the receive buffers the driver posts (the next one's descriptor).
    fn rx_buffer_len(&self) -> usize {
        let st = self.0.borrow();
        let q = &st.queues[0];
        let head = rd16(q.avail + 4 + 2 * u64::from(q.last_avail % q.size));
        rd32(q.desc + 16 * u64::from(head) + 8) as usize
    }

    /// Consumes every queued transmit chain; returns the bytes of each (header included).
    fn take_tx(&self) -> Vec<Vec<u8>> {
        let mut st = self.0.borrow_mut();
        let q = &mut st.queues[1];
        let mut out = Vec::new();
        while q.last_avail != rd16(q.avail + 2) {
            let head = rd16(q.avail + 4 + 2 * u64::from(q.last_avail % q.size));
            q.last_avail = q.last_avail.wrapping_add(1);
            let mut bytes = Vec::new();
            let mut i = head;
            loop {
                let d = q.desc + 16 * u64::from(i);
                let (addr, len) = (rd64(d), rd32(d + 8) as usize);
                // SAFETY: the descriptor names a `len`-byte buffer the driver shared.
                bytes.extend_from_slice(unsafe {
                    core::slice::from_raw_parts(addr as *const u8, len)
                });
                if rd16(d + 12) & DESC_F_NEXT == 0 {
                    break;
                }
                i = rd16(d + 14);
            }
            Self::push_used(q, head, 0);
            out.push(bytes);
        }
        out
    }

    fn push_used(q: &Queue, head: u16, len: u32) {
        let idx = rd16(q.used + 2);
        let elem = q.used + 4 + 8 * u64::from(idx % q.size);
        wr32(elem, u32::from(head));
        wr32(elem + 4, len);
        wr16(q.used + 2, idx.wrapping_add(1));
    }

    /// Whether the driver currently wants used-buffer interrupts for the receive queue.
    fn rx_interrupts_enabled(&self) -> bool {
        rd16(self.0.borrow().queues[0].avail) & 1 == 0
    }
}

impl Transport for FakeNet {
    fn device_type(&self) -> DeviceType {
        DeviceType::Network
    }
    fn read_device_features(&mut self) -> u64 {
        self.0.borrow().offered
    }
    fn write_driver_features(&mut self, driver_features: u64) {
        self.0.borrow_mut().accepted = driver_features;
    }
    fn max_queue_size(&mut self, _queue: u16) -> u32 {
        QUEUE_SIZE as u32
    }
    fn notify(&mut self, queue: u16) {
        self.0.borrow_mut().notifications[usize::from(queue)] += 1;
    }
    fn get_status(&self) -> DeviceStatus {
        DeviceStatus::from_bits_truncate(self.0.borrow().status)
    }
    fn set_status(&mut self, status: DeviceStatus) {
        self.0.borrow_mut().status = status.bits();
    }
    fn set_guest_page_size(&mut self, _guest_page_size: u32) {}
    fn requires_legacy_layout(&self) -> bool {
        false
    }
    fn queue_set(
        &mut self,
        queue: u16,
        size: u32,
        desc: PhysAddr,
        avail: PhysAddr,
        used: PhysAddr,
    ) {
        self.0.borrow_mut().queues[usize::from(queue)] = Queue {
            size: size as u16,
            desc,
            avail,
            used,
            last_avail: 0,
        };
    }
    fn queue_unset(&mut self, queue: u16) {
        self.0.borrow_mut().queues[usize::from(queue)] = Queue::default();
    }
    fn queue_used(&mut self, queue: u16) -> bool {
        self.0.borrow().queues[usize::from(queue)].desc != 0
    }
    fn ack_interrupt(&mut self) -> InterruptStatus {
        InterruptStatus::empty()
    }
    fn read_config_generation(&self) -> u32 {
        0
    }
    fn read_config_space<T: FromBytes + IntoBytes>(&self, offset: usize) -> VirtioResult<T> {
        // virtio_net_config: mac[6], status (LINK_UP).
        let config = [MAC[0], MAC[1], MAC[2], MAC[3], MAC[4], MAC[5], 1, 0];
        let bytes = config
            .get(offset..offset + core::mem::size_of::<T>())
            .ok_or(virtio_drivers::Error::ConfigSpaceTooSmall)?;
        T::read_from_bytes(bytes).map_err(|_| virtio_drivers::Error::InvalidParam)
    }
    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        _offset: usize,
        _value: T,
    ) -> VirtioResult<()> {
        Ok(())
    }
}

fn device(pending: &'static AtomicBool) -> (VirtioNet<FakeNet>, FakeNet) {
    device_offering(pending, FEATURE_MAC | FEATURE_STATUS | FEATURE_VERSION_1)
}

fn device_offering(pending: &'static AtomicBool, features: u64) -> (VirtioNet<FakeNet>, FakeNet) {
    crate::hal::set_mem_ops(crate::hal::MemOps {
        alloc: host_dma_alloc,
        free: host_dma_free,
        phys_to_virt: |p| p,
        virt_to_phys: |v| v,
    });
    let fake = FakeNet::offering(features);
    let dev = VirtioNet::new(fake.clone(), pending).expect("driver initialises");
    (dev, fake)
}

fn frame(n: u16, len: usize) -> Vec<u8> {
    let mut f = std::vec![0u8; len];
    f[..2].copy_from_slice(&n.to_be_bytes());
    f
}

fn collect(dev: &mut VirtioNet<FakeNet>, budget: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    dev.receive(budget, &mut |f| got.push(f.to_vec()));
    got
}

#[test]
fn receives_in_order_within_budget_and_flags_leftovers() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (mut dev, fake) = device(&PENDING);
    assert_eq!(dev.mac(), MacAddr(MAC));
    for n in 0..3 {
        assert!(fake.deliver(&frame(n, 60), None));
    }
    let first = collect(&mut dev, 2);
    assert_eq!(first, [frame(0, 60), frame(1, 60)]);
    assert!(PENDING.load(Ordering::Acquire), "budget spent: poll again");
    assert!(
        !fake.rx_interrupts_enabled(),
        "still polling: no interrupts"
    );
    assert_eq!(collect(&mut dev, 16), [frame(2, 60)]);
    assert!(
        fake.rx_interrupts_enabled(),
        "ring drained: interrupts back on"
    );
    assert_eq!(dev.stats().rx_packets, 3);
    assert_eq!(dev.stats().rx_bytes, 180);
}

#[test]
fn receive_buffers_are_recycled() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (mut dev, fake) = device(&PENDING);
    let mut seen = 0u16;
    // Three times the ring: only possible if every buffer goes back to the device.
    for round in 0..3u16 {
        for i in 0..QUEUE_SIZE as u16 {
            assert!(
                fake.deliver(&frame(round * 1000 + i, 100), None),
                "buffer posted"
            );
        }
        assert!(
            !fake.deliver(&frame(0, 100), None),
            "ring full until the driver polls"
        );
        while seen < (round + 1) * QUEUE_SIZE as u16 {
            let got = collect(&mut dev, 64);
            assert!(!got.is_empty());
            seen += got.len() as u16;
        }
    }
    assert_eq!(dev.stats().rx_packets, 3 * QUEUE_SIZE as u64);
    assert_eq!(dev.counters().rx_repost_failures, 0);
}

#[test]
fn runts_are_dropped_and_counted_and_lying_lengths_clamped() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (mut dev, fake) = device(&PENDING);
    assert!(fake.deliver(&frame(1, 10), None));
    assert!(fake.deliver(&frame(2, 60), Some(70_000)));
    assert!(fake.deliver(&[], Some(3)), "shorter than the virtio header");
    let got = collect(&mut dev, 16);
    assert_eq!(got.len(), 1, "only the clamped frame is handed up");
    assert_eq!(got[0].len(), BUF_SIZE - HDR, "length clamped to the buffer");
    assert_eq!(&got[0][..2], &[0, 2]);
    assert_eq!(dev.counters().rx_runts, 1);
    assert_eq!(dev.counters().rx_errors, 1);
    assert_eq!(dev.stats().rx_dropped, 2);
    // Every buffer went back: a full ring's worth can still be delivered.
    for i in 0..QUEUE_SIZE as u16 {
        assert!(fake.deliver(&frame(i, 60), None));
    }
}

#[test]
fn transmit_carries_header_and_frame_and_reports_full_ring() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (mut dev, fake) = device(&PENDING);
    assert_eq!(dev.transmit(&[0u8; MAX_FRAME + 1]), Err(TxError::TooLarge));
    assert_eq!(dev.stats().tx_dropped, 1);

    // One descriptor per frame (header and frame share a buffer): the whole ring.
    let capacity = QUEUE_SIZE;
    for i in 0..capacity as u16 {
        assert_eq!(dev.transmit(&frame(i, 64)), Ok(()));
    }
    assert_eq!(dev.transmit(&frame(999, 64)), Err(TxError::Full));
    assert_eq!(dev.stats().tx_dropped, 1, "a full ring is not a drop");
    dev.flush();
    let sent = fake.take_tx();
    assert_eq!(sent.len(), capacity);
    assert!(
        sent[0][..HDR].iter().all(|&b| b == 0),
        "zeroed virtio-net header"
    );
    assert_eq!(&sent[0][HDR..], &frame(0, 64)[..]);
    assert_eq!(
        &sent[capacity - 1][HDR..],
        &frame(capacity as u16 - 1, 64)[..]
    );

    // Completed buffers are reclaimed: the ring takes frames again.
    assert_eq!(dev.transmit(&frame(7, MAX_FRAME)), Ok(()));
    dev.flush();
    assert_eq!(fake.take_tx()[0][HDR..], frame(7, MAX_FRAME)[..]);
    assert_eq!(dev.stats().tx_packets, capacity as u64 + 1);
    assert!(fake.0.borrow().notifications[1] > 0, "device kicked");
}

mod merge;
mod offload;

#[test]
fn a_used_buffer_the_driver_never_posted_ends_the_round_counted() {
    static PENDING: AtomicBool = AtomicBool::new(false);
    let (mut dev, fake) = device(&PENDING);
    {
        let st = fake.0.borrow();
        FakeNet::push_used(&st.queues[0], 999, 60);
    }
    // Returns (rather than spinning on the bogus entry) and says why.
    assert_eq!(collect(&mut dev, 16), Vec::<Vec<u8>>::new());
    assert_eq!(dev.counters().rx_errors, 1);
    assert!(fake.rx_interrupts_enabled());
}
