//! What happens to the bytes of a used receive buffer: its virtio-net header read, the pieces
//! of a merged frame (MRG_RXBUF) gathered into one contiguous frame, the frame checked (runt,
//! segmentation type, and with GUEST_CSUM the checksum verdict for frames the device did not
//! vouch for), counted, and handed up — lent to the stack (`Device::receive`) or handed over
//! as a buffer it may keep (`Device::receive_owned`).
//!
//! The bytes are hostile: `num_buffers` of 0 or above [`MAX_MERGE_BUFFERS`], pieces adding up
//! to more than [`MAX_RX_FRAME`], a first piece shorter than the header, a segmentation type
//! that was not negotiated: each drops the frame and is counted, never a panic. Gathering never
//! grows beyond [`MAX_RX_FRAME`]; its buffer is reserved fallibly. Never touches the rings.

use alloc::vec::Vec;

use net::dev::DevStats;

use super::hdr::{self, RxCheck, RxHdr, GSO_NONE, GSO_TCPV4};
use super::{DriverCounters, Offloads, MAX_MERGE_BUFFERS, MAX_RX_FRAME, MIN_FRAME};

/// What completing one used receive buffer did.
pub(super) enum Step {
    /// The ring had nothing.
    Empty,
    /// The ring returned a buffer this driver never posted (counted).
    Stuck,
    /// A frame was handed up or dropped (counted).
    Frame,
    /// A piece of a merged frame was taken; more are to come.
    Partial,
}

/// Where received frames go.
pub(super) enum Sink<'a> {
    /// Lent for the call (`Device::receive`).
    Borrowed(&'a mut dyn FnMut(&[u8])),
    /// Handed over; the stack gives back the buffers it does not keep
    /// (`Device::receive_owned`).
    Owned(&'a mut dyn FnMut(Vec<u8>) -> Option<Vec<u8>>),
}

/// Why a merged frame is dropped once its last piece is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bad {
    /// `num_buffers` above [`MAX_MERGE_BUFFERS`], or more bytes than [`MAX_RX_FRAME`].
    Hostile,
    /// No memory for the gathering buffer (after the stack kept the last one).
    NoMemory,
}

/// The merged frame being gathered (MRG_RXBUF): one contiguous copy of the pieces, at most
/// [`MAX_RX_FRAME`] bytes.
pub(super) struct Merge {
    frame: Vec<u8>,
    /// Pieces of the current frame still to come; 0 between frames.
    left: u16,
    /// The first piece's header.
    hdr: RxHdr,
    bad: Option<Bad>,
}

impl Merge {
    /// No buffer yet: it is reserved when the first merged frame starts.
    pub(super) fn new() -> Merge {
        Merge {
            frame: Vec::new(),
            left: 0,
            hdr: RxHdr::default(),
            bad: None,
        }
    }

    /// A new frame with header `hdr` and `left` more pieces to come.
    fn start(&mut self, hdr: RxHdr, left: u16) {
        self.frame.clear();
        self.hdr = hdr;
        self.left = left;
        self.bad = None;
        if usize::from(left) >= MAX_MERGE_BUFFERS {
            self.bad = Some(Bad::Hostile);
        } else if self.frame.try_reserve_exact(MAX_RX_FRAME).is_err() {
            self.bad = Some(Bad::NoMemory);
        }
    }

    /// Appends a piece, or marks the frame bad if it would exceed [`MAX_RX_FRAME`] (the
    /// buffer never grows beyond what `start` reserved).
    fn push(&mut self, piece: &[u8]) {
        if self.bad.is_some() {
            return;
        }
        if self.frame.len() + piece.len() > MAX_RX_FRAME {
            self.bad = Some(Bad::Hostile);
            self.frame.clear();
        } else {
            self.frame.extend_from_slice(piece);
        }
    }
}

/// The driver state a received frame may touch on its way up, borrowed for one buffer.
pub(super) struct HandUp<'a, 's> {
    pub(super) counters: &'a mut DriverCounters,
    pub(super) stats: &'a mut DevStats,
    pub(super) offloads: Offloads,
    /// Buffer for copies of single-buffer frames handed over owned; the stack gives it back.
    pub(super) spare: &'a mut Vec<u8>,
    pub(super) sink: &'a mut Sink<'s>,
}

impl HandUp<'_, '_> {
    /// Without MRG_RXBUF: `buf` (the used bytes) holds the header and one whole frame.
    pub(super) fn single(&mut self, buf: &[u8], hdr_len: usize) {
        match buf.get(..hdr_len).and_then(|b| RxHdr::parse(b, false)) {
            Some(h) => self.copied(h, &buf[hdr_len..]),
            None => self.drop_error(),
        }
    }

    /// With MRG_RXBUF: `buf` (the used bytes) is either the first piece of a frame (header
    /// with `num_buffers`, then the frame's first bytes) or the next piece of the frame being
    /// gathered in `merge`.
    pub(super) fn piece(&mut self, merge: &mut Merge, buf: &[u8], hdr_len: usize) -> Step {
        if merge.left == 0 {
            let Some(h) = buf.get(..hdr_len).and_then(|b| RxHdr::parse(b, true)) else {
                self.drop_error();
                return Step::Frame;
            };
            let body = &buf[hdr_len..];
            return match h.num_buffers {
                0 => {
                    self.counters.rx_merge_errors += 1;
                    self.stats.rx_dropped += 1;
                    Step::Frame
                }
                1 => {
                    self.copied(h, body);
                    Step::Frame
                }
                n => {
                    merge.start(h, n - 1);
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
        match merge.bad {
            Some(Bad::Hostile) => {
                self.counters.rx_merge_errors += 1;
                self.stats.rx_dropped += 1;
            }
            Some(Bad::NoMemory) => {
                self.counters.rx_no_memory += 1;
                self.stats.rx_dropped += 1;
            }
            None => {
                self.counters.rx_merged_frames += 1;
                self.gathered(merge.hdr, &mut merge.frame);
            }
        }
        Step::Frame
    }

    /// A first buffer without a whole header.
    fn drop_error(&mut self) {
        self.counters.rx_errors += 1;
        self.stats.rx_dropped += 1;
    }

    /// Hands up a frame that lies in a receive buffer: lent, or copied into the spare buffer
    /// and handed over.
    fn copied(&mut self, h: RxHdr, frame: &[u8]) {
        if !self.accept(h, frame) {
            return;
        }
        match self.sink {
            Sink::Borrowed(f) => f(frame),
            Sink::Owned(f) => {
                self.spare.clear();
                if self.spare.try_reserve(frame.len()).is_err() {
                    self.counters.rx_no_memory += 1;
                    self.stats.rx_dropped += 1;
                    return;
                }
                self.spare.extend_from_slice(frame);
                if let Some(back) = f(core::mem::take(self.spare)) {
                    *self.spare = back;
                }
            }
        }
        self.count(frame.len());
    }

    /// Hands up the frame gathered in `buf`: lent, or handed over (if the stack keeps it,
    /// `buf` is left empty and a new one is reserved for the next merged frame).
    fn gathered(&mut self, h: RxHdr, buf: &mut Vec<u8>) {
        if !self.accept(h, buf) {
            return;
        }
        let len = buf.len();
        match self.sink {
            Sink::Borrowed(f) => f(buf),
            Sink::Owned(f) => {
                if let Some(back) = f(core::mem::take(buf)) {
                    *buf = back;
                }
            }
        }
        self.count(len);
    }

    /// Whether a received frame with header `h` may go up; drops and counts it otherwise: a
    /// runt, a segmentation type that was not negotiated, or (with GUEST_CSUM) a bad checksum.
    fn accept(&mut self, h: RxHdr, frame: &[u8]) -> bool {
        if frame.len() < MIN_FRAME {
            self.counters.rx_runts += 1;
            self.stats.rx_dropped += 1;
            return false;
        }
        let gso = match h.gso_type {
            GSO_NONE => false,
            GSO_TCPV4 if self.offloads.rx_tso4 => true,
            _ => {
                self.counters.rx_gso_unsupported += 1;
                self.stats.rx_dropped += 1;
                return false;
            }
        };
        if self.offloads.rx_checksum && !rx_checksum_ok(self.counters, h.flags, frame) {
            self.stats.rx_dropped += 1;
            return false;
        }
        if gso {
            self.counters.rx_gso_frames += 1;
            if self.counters.rx_gso_frames == 1 {
                log::info!(
                    "virtio-net: receiving super-segments ({} bytes in the first)",
                    frame.len()
                );
            }
        }
        true
    }

    /// A frame of `len` bytes went up.
    fn count(&mut self, len: usize) {
        self.stats.rx_packets += 1;
        self.stats.rx_bytes += len as u64;
    }
}

/// With GUEST_CSUM: whether a received frame may go up as checksum-verified; a frame the device
/// did not vouch for (`flags`) is checked here. Counts either way.
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
