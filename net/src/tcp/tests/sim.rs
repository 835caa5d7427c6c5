//! Deterministic simulation: two `Tcp` hosts over a link with delay, bandwidth, a drop-tail
//! queue, loss, duplication, reordering and corruption, all drawn from a seeded `Rng`. The
//! event loop jumps the clock to the next packet arrival or timer, so megabytes of simulated
//! transfer take well under a second of real time.

use alloc::collections::BinaryHeap;
use alloc::vec::Vec;
use core::cmp::Reverse;
use core::net::{Ipv4Addr, SocketAddrV4};

use crate::errno::Errno;
use crate::offload;
use crate::rand::Rng;
use crate::tcp::{Handle, Tcp, TcpConfig};
use crate::time::{Duration, Instant};

pub const A: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const B: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// Link impairments (per direction, probabilities in per mille).
#[derive(Debug, Clone, Copy)]
pub struct LinkCfg {
    pub delay: Duration,
    /// Bytes per second.
    pub bandwidth: u64,
    /// Packets the bottleneck queue holds before dropping the tail.
    pub queue: usize,
    pub loss: u32,
    pub dup: u32,
    /// Probability that a packet is held back by up to `reorder_extra`.
    pub reorder: u32,
    pub reorder_extra: Duration,
    pub corrupt: u32,
    /// Which directions suffer loss, duplication, reordering and corruption (delay, bandwidth
    /// and the queue apply both ways).
    pub impaired: Impaired,
}

/// The directions a [`LinkCfg`]'s impairments apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impaired {
    Both,
    /// Only packets from A to B (the bulk data of [`bulk`]).
    ToB,
    /// Only packets from B to A (the ACKs of [`bulk`]).
    ToA,
}

impl Default for LinkCfg {
    fn default() -> Self {
        LinkCfg {
            delay: Duration::from_millis(10),
            bandwidth: 12_500_000,
            queue: 128,
            loss: 0,
            dup: 0,
            reorder: 0,
            reorder_extra: Duration::from_millis(5),
            corrupt: 0,
            impaired: Impaired::Both,
        }
    }
}

/// A packet in flight: (arrival, tie-breaker, to B?, src, dst, bytes).
type InFlight = Reverse<(Instant, u64, bool, Vec<u8>)>;

pub struct Net {
    pub cfg: LinkCfg,
    pub rng: Rng,
    pub now: Instant,
    pub a: Tcp,
    pub b: Tcp,
    heap: BinaryHeap<InFlight>,
    tie: u64,
    /// When each direction's transmitter is free (index: to B?).
    busy_until: [Instant; 2],
    /// Packets queued or on the wire per direction, with their departure time.
    queued: [Vec<Instant>; 2],
    pub delivered: u64,
    pub dropped: u64,
    /// Segments B sent to addresses other than A (replies to spoofed sources): they leave
    /// by another path and are only counted.
    pub offlink: u64,
    /// Super-segments the NICs cut (TSO).
    pub tso_frames: u64,
}

impl Net {
    pub fn new(cfg: LinkCfg, seed: u64, tcp_cfg: TcpConfig) -> Net {
        Net {
            cfg,
            rng: Rng::new(seed),
            now: Instant::ZERO,
            a: Tcp::new(tcp_cfg.clone(), [1; 16], seed ^ 1),
            b: Tcp::new(tcp_cfg, [2; 16], seed ^ 2),
            heap: BinaryHeap::new(),
            tie: 0,
            busy_until: [Instant::ZERO; 2],
            queued: [Vec::new(), Vec::new()],
            delivered: 0,
            dropped: 0,
            offlink: 0,
            tso_frames: 0,
        }
    }

    fn chance(rng: &mut Rng, per_mille: u32) -> bool {
        per_mille > 0 && rng.below(1000) < per_mille
    }

    /// Put one packet on the link.
    fn send(&mut self, to_b: bool, bytes: &[u8]) {
        assert!(
            bytes.len() + 20 <= 1500,
            "a {}-byte segment exceeds the 1500-byte MTU",
            bytes.len()
        );
        let d = usize::from(to_b);
        let now = self.now;
        self.queued[d].retain(|&t| t > now);
        let impaired = match self.cfg.impaired {
            Impaired::Both => true,
            Impaired::ToB => to_b,
            Impaired::ToA => !to_b,
        };
        let p = |per_mille: u32| if impaired { per_mille } else { 0 };
        if self.queued[d].len() >= self.cfg.queue || Self::chance(&mut self.rng, p(self.cfg.loss)) {
            self.dropped += 1;
            return;
        }
        let ser =
            Duration::from_nanos((bytes.len() as u64 + 40) * 1_000_000_000 / self.cfg.bandwidth);
        let depart = self.busy_until[d].max(now) + ser;
        self.busy_until[d] = depart;
        self.queued[d].push(depart);
        let copies = if Self::chance(&mut self.rng, p(self.cfg.dup)) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let mut at = depart + self.cfg.delay;
            if Self::chance(&mut self.rng, p(self.cfg.reorder)) {
                let extra = self.cfg.reorder_extra.as_nanos() as u32;
                at = at + Duration::from_nanos(u64::from(self.rng.below(extra.max(1))));
            }
            let mut b = bytes.to_vec();
            if Self::chance(&mut self.rng, p(self.cfg.corrupt)) && !b.is_empty() {
                let i = self.rng.below(b.len() as u32) as usize;
                b[i] ^= 1 + self.rng.below(255) as u8;
            }
            self.tie += 1;
            self.heap.push(Reverse((at, self.tie, to_b, b)));
        }
    }

    /// Transmit both hosts' pending output onto the link. Each host's NIC does what a
    /// segment leaves to it (`TcpConfig::tso_max`, `checksum_offload`): completes partial
    /// checksums and cuts super-segments into MSS-sized segments, counted in `tso_frames`.
    pub fn dispatch(&mut self) {
        let mut out: Vec<(bool, Vec<u8>)> = Vec::new();
        let now = self.now;
        let mut offlink = 0;
        let mut tso_frames = 0;
        let mut scratch = Vec::new();
        for (host, from) in [(&mut self.a, A), (&mut self.b, B)] {
            host.dispatch_in_place(now, &mut |src, d, _tos, offload, fill| {
                let mut seg = Vec::new();
                fill(&mut seg);
                if from == B && d != A {
                    offlink += 1;
                    return;
                }
                let to_b = d == B;
                if offload.tcp_mss > 0 {
                    tso_frames += 1;
                    offload::split_tcp(
                        src,
                        d,
                        &seg,
                        usize::from(offload.tcp_mss),
                        &mut scratch,
                        &mut |p| out.push((to_b, p.to_vec())),
                    )
                    .expect("TCP emits well-formed super-segments");
                } else {
                    if offload.tcp_checksum {
                        offload::complete_tcp_checksum(&mut seg).expect("a TCP segment");
                    }
                    out.push((to_b, seg));
                }
            });
        }
        self.offlink += offlink;
        self.tso_frames += tso_frames;
        for (to_b, b) in out {
            self.send(to_b, &b);
        }
    }

    /// Advance to the next event (packet arrival or timer) and process everything due.
    /// Returns false when nothing at all is scheduled.
    pub fn step(&mut self) -> bool {
        self.step_until(None)
    }

    /// [`step`](Self::step), but never past `limit` (then only the clock moves to it).
    pub fn step_until(&mut self, limit: Option<Instant>) -> bool {
        let next_pkt = self.heap.peek().map(|Reverse((t, ..))| *t);
        let next = [next_pkt, self.a.poll_at(), self.b.poll_at()]
            .into_iter()
            .flatten()
            .min();
        let next = match (next, limit) {
            (Some(n), Some(l)) => n.min(l),
            (n, l) => match n.or(l) {
                Some(t) => t,
                None => return false,
            },
        };
        self.now = self.now.max(next);
        while let Some(Reverse((t, ..))) = self.heap.peek() {
            if *t > self.now {
                break;
            }
            let Some(Reverse((_, _, to_b, bytes))) = self.heap.pop() else {
                break;
            };
            self.delivered += 1;
            if to_b {
                self.b.input(self.now, A, B, &bytes, false);
            } else {
                self.a.input(self.now, B, A, &bytes, false);
            }
        }
        self.a.poll(self.now);
        self.b.poll(self.now);
        true
    }
}

/// Fill `buf` with the deterministic stream content at `offset`.
pub fn pattern(offset: u64, buf: &mut [u8]) {
    for (i, b) in buf.iter_mut().enumerate() {
        let x = offset + i as u64;
        *b = (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8;
    }
}

/// Result of a bulk transfer.
#[derive(Debug)]
pub struct Transfer {
    pub elapsed: Duration,
    pub received: u64,
    pub hash_ok: bool,
    pub retrans: u64,
    pub timeouts: u64,
    pub fast_retransmits: u64,
    pub dropped: u64,
    /// Super-segments the sender's NIC cut (TSO).
    pub tso_frames: u64,
    /// The sender's counters at the end.
    pub counters: crate::tcp::Counters,
}

/// Send `total` bytes from A to B, then close both ends; returns when B saw the end of the
/// stream and both sides are closed.
pub fn bulk(cfg: LinkCfg, seed: u64, total: u64) -> Transfer {
    bulk_with(cfg, seed, total, TcpConfig::default())
}

/// [`bulk`] with both hosts using `tcp_cfg`.
pub fn bulk_with(cfg: LinkCfg, seed: u64, total: u64, tcp_cfg: TcpConfig) -> Transfer {
    let mut net = Net::new(cfg, seed, tcp_cfg);
    let l = net.b.listen(SocketAddrV4::new(B, 80), 16).unwrap();
    let c = net
        .a
        .connect(
            net.now,
            SocketAddrV4::new(A, 0),
            SocketAddrV4::new(B, 80),
            Some(1500),
        )
        .unwrap();
    let mut server: Option<Handle> = None;
    let mut sent = 0u64;
    let mut received = 0u64;
    let mut sent_hash = Fnv::new();
    let mut got_hash = Fnv::new();
    let mut chunk = alloc::vec![0u8; 64 * 1024];
    let mut rbuf = alloc::vec![0u8; 64 * 1024];
    let mut eof_at = None;
    let mut closed_a = false;
    let limit = Instant::from_millis(3_600_000);
    while eof_at.is_none() {
        // Sender application: write while the socket says it is writable.
        while sent < total && net.a.poll_events(c).map(|e| e.writable).unwrap_or(false) {
            let n = ((total - sent) as usize).min(chunk.len());
            pattern(sent, &mut chunk[..n]);
            match net.a.send(c, &chunk[..n]) {
                Ok(k) => {
                    sent_hash.update(&chunk[..k]);
                    sent += k as u64;
                }
                Err(Errno::EAGAIN) => break,
                Err(e) => panic!("send failed: {e}"),
            }
        }
        if sent == total && !closed_a {
            net.a.close(c).unwrap();
            closed_a = true;
        }
        // Receiver application: read everything, close at end of stream.
        if server.is_none() {
            server = net.b.accept(l).ok();
        }
        if let Some(s) = server {
            loop {
                match net.b.recv(s, &mut rbuf) {
                    Ok(0) => {
                        eof_at = Some(net.now);
                        net.b.close(s).unwrap();
                        break;
                    }
                    Ok(n) => {
                        got_hash.update(&rbuf[..n]);
                        received += n as u64;
                    }
                    Err(Errno::EAGAIN) => break,
                    Err(e) => panic!("recv failed: {e}"),
                }
            }
        }
        net.dispatch();
        if eof_at.is_some() {
            break;
        }
        assert!(
            net.step(),
            "simulation stalled at {} (sent {sent}, received {received})",
            net.now
        );
        assert!(
            net.now < limit,
            "transfer did not finish in an hour of simulated time: sent {sent} received {received} a={:?}",
            net.a.counters()
        );
    }
    Transfer {
        elapsed: eof_at.unwrap_or(net.now).saturating_since(Instant::ZERO),
        received,
        hash_ok: got_hash.0 == sent_hash.0 && received == total,
        retrans: net.a.counters().retrans_segs,
        timeouts: net.a.counters().timeouts,
        fast_retransmits: net.a.counters().fast_retransmits,
        dropped: net.dropped,
        tso_frames: net.tso_frames,
        counters: net.a.counters(),
    }
}

/// FNV-1a over a byte stream: independent of how the stream was chunked.
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}
