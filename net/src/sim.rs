//! A simulated Ethernet segment for host tests: a hub whose ports are [`Device`]s.
//!
//! Owns only frame movement: a frame flushed by one port is copied to every other connected
//! port whose MAC it is addressed to (or all of them for broadcast/multicast), with bounded
//! queues. Tests can unplug a port (a vanished peer), capture every frame on the wire, rewrite
//! or drop frames in flight, and inject raw frames. It never interprets protocols and is not
//! used by the kernel.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::RefCell;

use crate::dev::{Capabilities, DevStats, Device, TxError};
use crate::wire::MacAddr;

/// Frames a port's receive queue holds; more are dropped (rx_dropped), like a full RX ring.
pub const SIM_RX_QUEUE: usize = 1024;
/// Frames a port queues for transmit before `flush`.
pub const SIM_TX_QUEUE: usize = 1024;
/// Frames the capture log keeps (oldest dropped first).
pub const SIM_CAPTURE_FRAMES: usize = 4096;

/// What a tap decides for a frame in flight.
pub enum TapVerdict {
    Pass,
    Drop,
}

/// A test hook over frames in flight: (sending port, frame) → pass (possibly rewritten) or drop.
pub type Tap = Box<dyn FnMut(usize, &mut Vec<u8>) -> TapVerdict>;

struct Port {
    mac: MacAddr,
    connected: bool,
    rx: VecDeque<Vec<u8>>,
    rx_dropped: u64,
}

#[derive(Default)]
struct HubInner {
    ports: Vec<Port>,
    capture: Option<VecDeque<(usize, Vec<u8>)>>,
    tap: Option<Tap>,
}

impl HubInner {
    fn carry(&mut self, from: usize, mut frame: Vec<u8>) {
        if let Some(tap) = self.tap.as_mut() {
            if let TapVerdict::Drop = tap(from, &mut frame) {
                return;
            }
        }
        if let Some(c) = self.capture.as_mut() {
            if c.len() >= SIM_CAPTURE_FRAMES {
                c.pop_front();
            }
            c.push_back((from, frame.clone()));
        }
        let dst = frame
            .get(..6)
            .map(|d| MacAddr([d[0], d[1], d[2], d[3], d[4], d[5]]));
        for (i, p) in self.ports.iter_mut().enumerate() {
            if i == from || !p.connected {
                continue;
            }
            let wanted = dst.is_some_and(|d| d == p.mac || d.is_multicast());
            if !wanted {
                continue;
            }
            if p.rx.len() >= SIM_RX_QUEUE {
                p.rx_dropped += 1;
            } else {
                p.rx.push_back(frame.clone());
            }
        }
    }
}

/// A shared Ethernet segment.
#[derive(Clone, Default)]
pub struct Hub {
    inner: Rc<RefCell<HubInner>>,
}

impl Hub {
    pub fn new() -> Self {
        Self::default()
    }

    /// A new port with `mac`; returns the device to give a stack.
    pub fn attach(&self, mac: MacAddr) -> SimNic {
        let mut h = self.inner.borrow_mut();
        h.ports.push(Port {
            mac,
            connected: true,
            rx: VecDeque::new(),
            rx_dropped: 0,
        });
        SimNic {
            hub: self.inner.clone(),
            port: h.ports.len() - 1,
            mac,
            mtu: 1500,
            tx: Vec::new(),
            stats: DevStats::default(),
            tx_checksum: false,
            tso_max: 0,
        }
    }

    /// Plug or unplug port `port`: an unplugged port neither sends nor receives.
    pub fn set_connected(&self, port: usize, connected: bool) {
        if let Some(p) = self.inner.borrow_mut().ports.get_mut(port) {
            p.connected = connected;
        }
    }

    /// Start (or stop) recording every frame carried.
    pub fn capture(&self, on: bool) {
        self.inner.borrow_mut().capture = on.then(VecDeque::new);
    }

    /// The frames recorded so far, as (sending port, frame); clears the log.
    pub fn take_captured(&self) -> Vec<(usize, Vec<u8>)> {
        self.inner
            .borrow_mut()
            .capture
            .as_mut()
            .map(|c| c.drain(..).collect())
            .unwrap_or_default()
    }

    /// Install a tap that sees (and may rewrite or drop) every frame before delivery.
    pub fn set_tap(&self, tap: Option<Tap>) {
        self.inner.borrow_mut().tap = tap;
    }

    /// Put a raw frame on the wire as if port `from` had sent it.
    pub fn inject(&self, from: usize, frame: &[u8]) {
        self.inner.borrow_mut().carry(from, frame.to_vec());
    }
}

/// One port of a [`Hub`].
pub struct SimNic {
    hub: Rc<RefCell<HubInner>>,
    port: usize,
    mac: MacAddr,
    mtu: usize,
    tx: Vec<Vec<u8>>,
    stats: DevStats,
    tx_checksum: bool,
    tso_max: usize,
}

impl SimNic {
    /// This port with transmit offloads, as a NIC that completes TCP checksums
    /// (`tx_checksum`) and cuts super-segments of up to `tso_max` bytes (0: none). The work
    /// is `Device::transmit_offload`'s default: every frame on the wire is finished.
    pub fn with_offloads(mut self, tx_checksum: bool, tso_max: usize) -> Self {
        self.tx_checksum = tx_checksum || tso_max > 0;
        self.tso_max = tso_max;
        self
    }

    /// This port's index on the hub.
    pub fn port(&self) -> usize {
        self.port
    }
}

impl Device for SimNic {
    fn mac(&self) -> MacAddr {
        self.mac
    }
    fn mtu(&self) -> usize {
        self.mtu
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            rx_checksum_verified: false,
            tx_checksum: self.tx_checksum,
            max_frame: self.mtu + 14,
            tso_max: self.tso_max,
            rx_owned: false,
        }
    }
    fn receive(&mut self, budget: usize, sink: &mut dyn FnMut(&[u8])) -> usize {
        let mut n = 0;
        while n < budget {
            let frame = {
                let mut h = self.hub.borrow_mut();
                let Some(p) = h.ports.get_mut(self.port) else {
                    break;
                };
                match p.rx.pop_front() {
                    Some(f) => f,
                    None => break,
                }
            };
            self.stats.rx_packets += 1;
            self.stats.rx_bytes += frame.len() as u64;
            sink(&frame);
            n += 1;
        }
        n
    }
    fn transmit(&mut self, frame: &[u8]) -> Result<(), TxError> {
        if frame.len() > self.mtu + 14 {
            self.stats.tx_dropped += 1;
            return Err(TxError::TooLarge);
        }
        if self.tx.len() >= SIM_TX_QUEUE {
            self.stats.tx_dropped += 1;
            return Err(TxError::Full);
        }
        self.tx.push(frame.to_vec());
        Ok(())
    }
    fn flush(&mut self) {
        let mut h = self.hub.borrow_mut();
        let connected = h.ports.get(self.port).is_some_and(|p| p.connected);
        for f in self.tx.drain(..) {
            if connected {
                self.stats.tx_packets += 1;
                self.stats.tx_bytes += f.len() as u64;
                h.carry(self.port, f);
            } else {
                self.stats.tx_dropped += 1;
            }
        }
    }
    fn stats(&self) -> DevStats {
        let mut s = self.stats;
        s.rx_dropped = self
            .hub
            .borrow()
            .ports
            .get(self.port)
            .map_or(0, |p| p.rx_dropped);
        s
    }
}
