//! The point-to-point link between rinet's Ethernet-speaking stack and packetdrill's bare IPv4
//! datagrams: a [`Device`] whose far end is the shim.
//!
//! Owns the framing only. Datagrams packetdrill injects are wrapped in Ethernet frames from a
//! fixed peer MAC to the stack's fixed MAC; frames the stack transmits lose their Ethernet
//! header and are queued for `netdev_receive`. ARP never reaches packetdrill: the device itself
//! answers every ARP request with the peer MAC (it is the only other station on the link), so
//! neighbour resolution completes within the same poll round and never delays or drops a
//! segment. Gratuitous ARPs and ARP probes are swallowed. It never reads a clock: the shim
//! stamps drained datagrams with its virtual time.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use net::dev::{Capabilities, DevStats, Device, TxError};
use net::MacAddr;

/// The stack's hardware address (locally administered).
pub const LOCAL_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x01]);
/// The simulated peer's (packetdrill's) hardware address.
pub const PEER_MAC: MacAddr = MacAddr([0x02, 0, 0, 0, 0, 0x02]);

const ETH_HDR: usize = 14;
const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_ARP: u16 = 0x0806;
/// ARP for IPv4 over Ethernet: 8 fixed bytes + 2 × (6 + 4).
const ARP_LEN: usize = 28;

/// Frames waiting for the stack's next poll. packetdrill injects one datagram per script line
/// and the shim polls after each, so a handful suffices; the bound only stops a runaway.
pub const RX_QUEUE_FRAMES: usize = 4096;
/// Datagrams the stack emitted that packetdrill has not read yet. A script reads each packet
/// it expects; a stack that floods the link loses the excess (counted in `tx_dropped`), which
/// then fails the script visibly.
pub const TX_QUEUE_DATAGRAMS: usize = 65536;

/// The queues both ends share.
#[derive(Debug, Default)]
pub struct Queues {
    /// Ethernet frames for the stack (injected datagrams and ARP replies), oldest first.
    to_stack: VecDeque<Vec<u8>>,
    /// IP datagrams the stack emitted, oldest first, with their emission time (µs).
    from_stack: VecDeque<(u64, Vec<u8>)>,
    /// The shim's virtual clock (µs), stamped on every transmitted datagram.
    now_us: u64,
    stats: DevStats,
    /// ARP requests the device answered.
    pub arp_replies: u64,
    /// Transmitted frames that were neither IPv4 nor ARP (or malformed ARP), dropped.
    pub tx_unknown: u64,
}

/// The shim's handle on the link: inject and drain.
#[derive(Debug, Clone, Default)]
pub struct LinkHandle(Arc<Mutex<Queues>>);

impl LinkHandle {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Queues> {
        // A panic while holding the lock left plain queues behind: still consistent.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The device end, to give to `Stack::new`.
    pub fn device(&self, mtu: usize) -> PdDevice {
        PdDevice {
            link: self.clone(),
            mtu,
        }
    }

    /// Queue an IPv4 datagram from the peer; false when the queue is full (dropped, counted).
    pub fn inject(&self, datagram: &[u8]) -> bool {
        let mut q = self.lock();
        if q.to_stack.len() >= RX_QUEUE_FRAMES {
            q.stats.rx_dropped += 1;
            return false;
        }
        let mut f = Vec::with_capacity(ETH_HDR + datagram.len());
        f.extend_from_slice(&LOCAL_MAC.0);
        f.extend_from_slice(&PEER_MAC.0);
        f.extend_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
        f.extend_from_slice(datagram);
        q.to_stack.push_back(f);
        true
    }

    /// Whether frames wait for the stack.
    pub fn rx_pending(&self) -> bool {
        !self.lock().to_stack.is_empty()
    }

    /// Set the time stamped on datagrams transmitted from now on.
    pub fn set_now(&self, now_us: u64) {
        self.lock().now_us = now_us;
    }

    /// The oldest datagram the stack emitted, with its emission time (µs).
    pub fn pop(&self) -> Option<(u64, Vec<u8>)> {
        self.lock().from_stack.pop_front()
    }

    /// (ARP replies given, unknown frames dropped, device counters).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn counters(&self) -> (u64, u64, DevStats) {
        let q = self.lock();
        (q.arp_replies, q.tx_unknown, q.stats)
    }
}

/// The stack's NIC.
#[derive(Debug)]
pub struct PdDevice {
    link: LinkHandle,
    mtu: usize,
}

/// The reply to an ARP request for anything but the requester's own address, as a frame.
fn arp_reply(req: &[u8]) -> Option<Vec<u8>> {
    let arp = req.get(ETH_HDR..ETH_HDR + ARP_LEN)?;
    // htype 1 (Ethernet), ptype IPv4, hlen 6, plen 4, oper 1 (request).
    if arp[0..8] != [0, 1, 0x08, 0x00, 6, 4, 0, 1] {
        return None;
    }
    let (sha, spa, tpa) = (&arp[8..14], &arp[14..18], &arp[24..28]);
    // Gratuitous ARP (spa == tpa) and probes (spa 0.0.0.0) ask nobody.
    if spa == tpa || spa == [0, 0, 0, 0] {
        return None;
    }
    let mut f = Vec::with_capacity(ETH_HDR + ARP_LEN);
    f.extend_from_slice(sha);
    f.extend_from_slice(&PEER_MAC.0);
    f.extend_from_slice(&ETHERTYPE_ARP.to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 2]);
    f.extend_from_slice(&PEER_MAC.0);
    f.extend_from_slice(tpa);
    f.extend_from_slice(sha);
    f.extend_from_slice(spa);
    Some(f)
}

impl Device for PdDevice {
    fn mac(&self) -> MacAddr {
        LOCAL_MAC
    }
    fn mtu(&self) -> usize {
        self.mtu
    }
    fn capabilities(&self) -> Capabilities {
        // No offloads: packetdrill checks the IPv4 checksum, and the stack verifies the
        // checksums packetdrill computed.
        Capabilities {
            rx_checksum_verified: false,
            tx_checksum: false,
            max_frame: self.mtu + ETH_HDR,
            tso_max: 0,
            rx_owned: false,
        }
    }
    fn receive(&mut self, budget: usize, sink: &mut dyn FnMut(&[u8])) -> usize {
        let mut frames = Vec::new();
        {
            let mut q = self.link.lock();
            while frames.len() < budget {
                let Some(f) = q.to_stack.pop_front() else {
                    break;
                };
                q.stats.rx_packets += 1;
                q.stats.rx_bytes += f.len() as u64;
                frames.push(f);
            }
        }
        for f in &frames {
            sink(f);
        }
        frames.len()
    }
    fn transmit(&mut self, frame: &[u8]) -> Result<(), TxError> {
        let mut q = self.link.lock();
        if frame.len() > self.mtu + ETH_HDR {
            q.stats.tx_dropped += 1;
            return Err(TxError::TooLarge);
        }
        let ethertype = frame.get(12..14).map(|t| u16::from_be_bytes([t[0], t[1]]));
        match ethertype {
            Some(ETHERTYPE_IPV4) => {
                if q.from_stack.len() >= TX_QUEUE_DATAGRAMS {
                    q.stats.tx_dropped += 1;
                    return Err(TxError::Full);
                }
                let stamp = q.now_us;
                q.from_stack.push_back((stamp, frame[ETH_HDR..].to_vec()));
            }
            Some(ETHERTYPE_ARP) => {
                if let Some(reply) = arp_reply(frame) {
                    if q.to_stack.len() < RX_QUEUE_FRAMES {
                        q.to_stack.push_back(reply);
                        q.arp_replies += 1;
                    } else {
                        q.stats.rx_dropped += 1;
                    }
                }
            }
            _ => q.tx_unknown += 1,
        }
        q.stats.tx_packets += 1;
        q.stats.tx_bytes += frame.len() as u64;
        Ok(())
    }
    fn stats(&self) -> DevStats {
        self.link.lock().stats
    }
}
