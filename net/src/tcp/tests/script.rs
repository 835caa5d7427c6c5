//! A small scripting harness for segment-level tests: one `Tcp` under test at 10.0.0.1, a
//! scripted peer at 10.0.0.2 whose segments are built with [`seg`], a clock that only moves
//! when the script says so (running timers on the way), and the segments the TCP sent,
//! parsed, to expect in order.

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use crate::tcp::{Counters, Handle, State, Tcp, TcpConfig};
use crate::time::{Duration, Instant};
use crate::wire::tcp::{flags, TcpOptions, TcpPacket, TcpRepr};

pub const US: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const US_PORT: u16 = 80;
pub const PEER_PORT: u16 = 40000;
pub const KEY: [u8; 16] = [0x5a; 16];
/// The round trip the SACK tests' peer has.
pub const SACK_RTT: Duration = Duration::from_millis(20);

pub fn us() -> SocketAddrV4 {
    SocketAddrV4::new(US, US_PORT)
}
pub fn peer() -> SocketAddrV4 {
    SocketAddrV4::new(PEER, PEER_PORT)
}

/// A segment the peer sends (builder).
#[derive(Debug, Clone)]
pub struct SegB {
    pub repr: TcpRepr,
    pub data: Vec<u8>,
    pub raw_opts: Option<Vec<u8>>,
    pub src_port: u16,
}

/// Start a peer segment with sequence number `seq` (flags none, window 65535).
pub fn seg(seq: u32) -> SegB {
    SegB {
        repr: TcpRepr {
            src_port: PEER_PORT,
            dst_port: US_PORT,
            seq,
            ack: 0,
            flags: 0,
            window: 65535,
            options: TcpOptions::default(),
        },
        data: Vec::new(),
        raw_opts: None,
        src_port: PEER_PORT,
    }
}

impl SegB {
    pub fn syn(mut self) -> Self {
        self.repr.flags |= flags::SYN;
        self
    }
    pub fn fin(mut self) -> Self {
        self.repr.flags |= flags::FIN;
        self
    }
    pub fn rst(mut self) -> Self {
        self.repr.flags |= flags::RST;
        self
    }
    pub fn ack(mut self, ack: u32) -> Self {
        self.repr.flags |= flags::ACK;
        self.repr.ack = ack;
        self
    }
    pub fn win(mut self, w: u16) -> Self {
        self.repr.window = w;
        self
    }
    pub fn mss(mut self, m: u16) -> Self {
        self.repr.options.mss = Some(m);
        self
    }
    pub fn ws(mut self, s: u8) -> Self {
        self.repr.options.wscale = Some(s);
        self
    }
    pub fn ts(mut self, val: u32, ecr: u32) -> Self {
        self.repr.options.timestamp = Some((val, ecr));
        self
    }
    pub fn sack_perm(mut self) -> Self {
        self.repr.options.sack_permitted = true;
        self
    }
    /// SACK blocks (left, right).
    pub fn sack(mut self, blocks: &[(u32, u32)]) -> Self {
        for (i, b) in blocks.iter().take(4).enumerate() {
            self.repr.options.sack_blocks[i] = *b;
        }
        self.repr.options.sack_count = blocks.len().min(4) as u8;
        self
    }
    pub fn data(mut self, d: &[u8]) -> Self {
        self.data = d.to_vec();
        self
    }
    pub fn port(mut self, p: u16) -> Self {
        self.repr.src_port = p;
        self.src_port = p;
        self
    }
    /// Replace the option bytes verbatim (padded to 4 bytes with zeros).
    pub fn raw_options(mut self, o: &[u8]) -> Self {
        self.raw_opts = Some(o.to_vec());
        self
    }
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.repr.emit(PEER, US, [&self.data, &[]], &mut out);
        if let Some(raw) = &self.raw_opts {
            let mut o = raw.clone();
            while o.len() % 4 != 0 {
                o.push(0);
            }
            let mut b = out[..20].to_vec();
            b[12] = (((20 + o.len()) / 4) as u8) << 4;
            b[16] = 0;
            b[17] = 0;
            b.extend_from_slice(&o);
            b.extend_from_slice(&self.data);
            let c = crate::wire::checksum::transport_checksum(PEER, US, 6, &b);
            b[16..18].copy_from_slice(&c.to_be_bytes());
            out = b;
        }
        out
    }
}

/// A segment the TCP under test sent, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Out {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub opts: TcpOptions,
    pub raw_opts: Vec<u8>,
    pub data: Vec<u8>,
}

impl Out {
    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
    /// Exactly these flags.
    pub fn is(&self, f: u8) -> bool {
        self.flags == f
    }
    pub fn tsval(&self) -> u32 {
        self.opts.timestamp.map_or(0, |t| t.0)
    }
}

/// The TCP under test and its clock.
pub struct Harness {
    pub tcp: Tcp,
    pub now: Instant,
    pub out: VecDeque<Out>,
}

impl Harness {
    pub fn new() -> Self {
        Self::with_config(TcpConfig::default())
    }
    pub fn with_config(c: TcpConfig) -> Self {
        Harness {
            tcp: Tcp::new(c, KEY, 1),
            now: Instant::from_millis(1000),
            out: VecDeque::new(),
        }
    }

    /// Transmit whatever the TCP has and collect it.
    pub fn flush(&mut self) {
        let out = &mut self.out;
        self.tcp.dispatch(self.now, &mut |s, d, b| {
            let p = TcpPacket::new_checked(b).expect("TCP emitted a truncated segment");
            assert!(p.verify_checksum(s, d), "bad checksum on output");
            out.push_back(Out {
                src: SocketAddrV4::new(s, p.src_port()),
                dst: SocketAddrV4::new(d, p.dst_port()),
                seq: p.seq(),
                ack: p.ack(),
                flags: p.flags(),
                window: p.window(),
                opts: TcpOptions::parse(p.options()).expect("TCP emitted bad options"),
                raw_opts: p.options().to_vec(),
                data: p.payload().to_vec(),
            });
        });
    }

    /// Deliver a peer segment (from 10.0.0.2) and collect the reaction.
    pub fn inject(&mut self, s: SegB) {
        let b = s.bytes();
        self.tcp.input(self.now, PEER, US, &b, false);
        self.flush();
    }

    /// Deliver raw bytes as a segment from the peer.
    pub fn inject_raw(&mut self, b: &[u8]) {
        self.tcp.input(self.now, PEER, US, b, false);
        self.flush();
    }

    /// The next segment the TCP sent (panics if none).
    #[track_caller]
    pub fn expect(&mut self) -> Out {
        self.flush();
        self.out
            .pop_front()
            .expect("expected a segment, TCP sent none")
    }

    /// Nothing (more) was sent.
    #[track_caller]
    pub fn expect_none(&mut self) {
        self.flush();
        assert!(
            self.out.is_empty(),
            "expected silence, got {:?}",
            self.out.front()
        );
    }

    /// Move the clock forward by `d`, running every timer that falls due on the way.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.flush();
            match self.tcp.poll_at() {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.tcp.poll(self.now);
                }
                _ => break,
            }
        }
        self.now = end;
        self.tcp.poll(self.now);
        self.flush();
    }

    /// Advance to just after the next timer (returns the time taken).
    pub fn advance_to_next_timer(&mut self) -> Duration {
        let start = self.now;
        self.flush();
        if let Some(t) = self.tcp.poll_at() {
            self.now = self.now.max(t);
            self.tcp.poll(self.now);
        }
        self.flush();
        self.now.saturating_since(start)
    }

    pub fn state(&self, h: Handle) -> State {
        self.tcp.state(h).expect("live handle")
    }
    pub fn counters(&self) -> Counters {
        self.tcp.counters()
    }

    /// Active open to the peer, answered by a SYN-ACK with timestamps and window scaling
    /// (peer ISN 5000, window scale 0). Returns (handle, our ISS).
    pub fn connected(&mut self) -> (Handle, u32) {
        let h = self
            .tcp
            .connect(self.now, us(), peer(), Some(1500))
            .expect("connect");
        let syn = self.expect();
        assert!(syn.is(flags::SYN));
        self.inject(
            seg(5000)
                .syn()
                .ack(syn.seq.wrapping_add(1))
                .mss(1460)
                .ws(0)
                .ts(100, syn.tsval()),
        );
        let ack = self.expect();
        assert!(ack.is(flags::ACK));
        assert_eq!(self.state(h), State::Established);
        (h, syn.seq)
    }

    /// Like `connected`, without timestamps or window scaling on the peer's side.
    pub fn connected_plain(&mut self) -> (Handle, u32) {
        let h = self
            .tcp
            .connect(self.now, us(), peer(), Some(1500))
            .expect("connect");
        let syn = self.expect();
        self.inject(seg(5000).syn().ack(syn.seq.wrapping_add(1)).mss(1460));
        let _ack = self.expect();
        assert_eq!(self.state(h), State::Established);
        (h, syn.seq)
    }

    /// Feed 1-byte segments from peer sequence number `seq` until the quick-ACK period of a
    /// new connection is over (an ACK no longer follows each segment), let the delayed ACK
    /// go, read the data; returns the peer's next sequence number. Panics if the period
    /// does not end within 32 segments.
    pub fn past_quickack(&mut self, c: Handle, iss: u32, mut seq: u32) -> u32 {
        for _ in 0..32 {
            self.inject(seg(seq).ack(iss + 1).data(b"q"));
            seq += 1;
            self.flush();
            if self.out.is_empty() {
                self.advance(Duration::from_millis(200));
                let a = self.expect();
                assert_eq!(a.ack, seq, "delayed ACK");
                self.read_all(c);
                return seq;
            }
            self.out.clear();
        }
        panic!("still acknowledging every segment at once");
    }

    /// Like `connected_plain`, with SACK permitted by both sides, and a round trip of
    /// [`SACK_RTT`] for the handshake (RACK's reordering window is a quarter of the lowest
    /// round trip: with none, any SACK would show every hole below it lost).
    pub fn connected_sack(&mut self) -> (Handle, u32) {
        let h = self
            .tcp
            .connect(self.now, us(), peer(), Some(1500))
            .expect("connect");
        let syn = self.expect();
        assert!(syn.opts.sack_permitted);
        self.advance(SACK_RTT);
        self.inject(
            seg(5000)
                .syn()
                .ack(syn.seq.wrapping_add(1))
                .mss(1460)
                .sack_perm(),
        );
        let _ack = self.expect();
        assert_eq!(self.state(h), State::Established);
        (h, syn.seq)
    }

    /// Read everything available.
    pub fn read_all(&mut self, h: Handle) -> Vec<u8> {
        let mut v = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = self.tcp.recv(h, &mut buf) {
            if n == 0 {
                break;
            }
            v.extend_from_slice(&buf[..n]);
        }
        self.flush();
        v
    }
}
