//! Property tests: random interleavings of application calls and network events over an
//! impaired simulated link never panic and never deliver wrong, reordered or missing bytes;
//! hostile segments never panic.

use alloc::vec::Vec;
use core::net::SocketAddrV4;

use proptest::prelude::*;

use super::sim::{pattern, LinkCfg, Net, A, B};
use crate::errno::Errno;
use crate::tcp::{Handle, Shutdown, Tcp, TcpConfig};
use crate::time::{Duration, Instant};

#[derive(Debug, Clone)]
enum Op {
    Send { from_a: bool, len: usize },
    Recv { at_a: bool, max: usize },
    Run(u8),
    Wait(u16),
    ShutWrite { a: bool },
    Nodelay { a: bool, on: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<bool>(), 1usize..30_000).prop_map(|(from_a, len)| Op::Send { from_a, len }),
        3 => (any::<bool>(), 1usize..40_000).prop_map(|(at_a, max)| Op::Recv { at_a, max }),
        4 => (1u8..60).prop_map(Op::Run),
        1 => (1u16..3000).prop_map(Op::Wait),
        1 => any::<bool>().prop_map(|a| Op::ShutWrite { a }),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(a, on)| Op::Nodelay { a, on }),
    ]
}

fn link() -> impl Strategy<Value = LinkCfg> {
    (
        0u32..60,
        0u32..60,
        0u32..300,
        0u32..20,
        1u64..30,
        50u64..2000,
    )
        .prop_map(|(loss, dup, reorder, corrupt, delay, queue_kb)| LinkCfg {
            loss,
            dup,
            reorder,
            corrupt,
            delay: Duration::from_millis(delay),
            queue: (queue_kb as usize / 2).max(8),
            ..LinkCfg::default()
        })
}

/// One direction of the byte stream: what was written and what arrived.
#[derive(Default)]
struct Stream {
    sent: u64,
    received: u64,
    shut: bool,
    eof: bool,
}

/// Stream content: direction B→A is offset so the two streams differ.
fn fill(a_to_b: bool, offset: u64, buf: &mut [u8]) {
    pattern(offset + if a_to_b { 0 } else { 1 << 40 }, buf);
}

struct World {
    net: Net,
    a: Handle,
    b: Option<Handle>,
    l: Handle,
    ab: Stream,
    ba: Stream,
}

impl World {
    fn new(cfg: LinkCfg, seed: u64) -> World {
        let mut net = Net::new(cfg, seed, TcpConfig::default());
        let l = net.b.listen(SocketAddrV4::new(B, 80), 4).unwrap();
        let a = net
            .a
            .connect(
                net.now,
                SocketAddrV4::new(A, 0),
                SocketAddrV4::new(B, 80),
                None,
            )
            .unwrap();
        World {
            net,
            a,
            b: None,
            l,
            ab: Stream::default(),
            ba: Stream::default(),
        }
    }

    fn accept(&mut self) {
        if self.b.is_none() {
            self.b = self.net.b.accept(self.l).ok();
        }
    }

    fn send(&mut self, from_a: bool, len: usize) {
        self.accept();
        let (tcp, h, st) = if from_a {
            (&mut self.net.a, Some(self.a), &mut self.ab)
        } else {
            (&mut self.net.b, self.b, &mut self.ba)
        };
        let Some(h) = h else { return };
        let mut buf = alloc::vec![0u8; len];
        fill(from_a, st.sent, &mut buf);
        match tcp.send(h, &buf) {
            Ok(n) => {
                assert!(n <= len);
                st.sent += n as u64;
            }
            Err(Errno::EAGAIN) => {}
            Err(Errno::EPIPE) => assert!(st.shut, "EPIPE without shutdown"),
            Err(e) => panic!("unexpected send error {e}"),
        }
    }

    fn recv(&mut self, at_a: bool, max: usize) {
        self.accept();
        let (tcp, h, st) = if at_a {
            (&mut self.net.a, Some(self.a), &mut self.ba)
        } else {
            (&mut self.net.b, self.b, &mut self.ab)
        };
        let Some(h) = h else { return };
        let mut buf = alloc::vec![0u8; max];
        match tcp.recv(h, &mut buf) {
            Ok(0) => {
                assert!(st.shut, "end of stream before the peer shut down");
                assert_eq!(st.received, st.sent, "end of stream with bytes missing");
                st.eof = true;
            }
            Ok(n) => {
                let mut want = alloc::vec![0u8; n];
                fill(!at_a, st.received, &mut want);
                assert!(want == buf[..n], "wrong bytes at offset {}", st.received);
                st.received += n as u64;
                assert!(st.received <= st.sent, "more bytes than were sent");
            }
            Err(Errno::EAGAIN) => {}
            Err(e) => panic!("unexpected recv error {e}"),
        }
    }

    fn shut(&mut self, a: bool) {
        self.accept();
        let (tcp, h, st) = if a {
            (&mut self.net.a, Some(self.a), &mut self.ab)
        } else {
            (&mut self.net.b, self.b, &mut self.ba)
        };
        let Some(h) = h else { return };
        if tcp.shutdown(h, Shutdown::Write).is_ok() {
            st.shut = true;
        }
    }

    fn run(&mut self, events: u32) {
        for _ in 0..events {
            self.net.dispatch();
            if !self.net.step() {
                break;
            }
        }
        self.net.dispatch();
    }

    fn wait(&mut self, ms: u64) {
        let end = self.net.now + Duration::from_millis(ms);
        loop {
            self.net.dispatch();
            let next = [self.net.a.poll_at(), self.net.b.poll_at()]
                .into_iter()
                .flatten()
                .min();
            // `step` also delivers packets; stop once the next event is past the wait.
            match next {
                Some(t) if t <= end => {
                    if !self.net.step() {
                        break;
                    }
                }
                _ => break,
            }
        }
        self.net.now = self.net.now.max(end);
        self.net.dispatch();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_interleavings_deliver_exact_streams(
        cfg in link(),
        seed in any::<u64>(),
        ops in proptest::collection::vec(op(), 1..80),
    ) {
        let mut w = World::new(cfg, seed);
        for o in ops {
            match o {
                Op::Send { from_a, len } => w.send(from_a, len),
                Op::Recv { at_a, max } => w.recv(at_a, max),
                Op::Run(n) => w.run(u32::from(n)),
                Op::Wait(ms) => w.wait(u64::from(ms)),
                Op::ShutWrite { a } => w.shut(a),
                Op::Nodelay { a, on } => {
                    w.accept();
                    let h = if a { Some(w.a) } else { w.b };
                    if let Some(h) = h {
                        let tcp = if a { &mut w.net.a } else { &mut w.net.b };
                        let _ = tcp.set_nodelay(h, on);
                    }
                }
            }
        }
        // Finish: both sides shut down writing and read until end of stream; every byte
        // written must arrive.
        let limit = w.net.now + Duration::from_secs(1200);
        while !(w.ab.eof && w.ba.eof) {
            w.accept();
            if w.b.is_some() {
                if !w.ab.shut { w.shut(true); }
                if !w.ba.shut { w.shut(false); }
            }
            if !w.ab.eof { w.recv(false, 65536); }
            if !w.ba.eof { w.recv(true, 65536); }
            w.run(20);
            prop_assert!(w.net.now < limit, "streams did not finish: {} of {} and {} of {}",
                w.ab.received, w.ab.sent, w.ba.received, w.ba.sent);
        }
        prop_assert_eq!(w.ab.received, w.ab.sent);
        prop_assert_eq!(w.ba.received, w.ba.sent);
    }

    #[test]
    fn hostile_segments_never_panic(
        segs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 1..60),
        mutate in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..40),
    ) {
        // One TCP with a listener and an established connection, fed random bytes and
        // mutated copies of real segments (checksums skipped so they reach the parser).
        let mut net = Net::new(LinkCfg::default(), 1, TcpConfig::default());
        let _l = net.b.listen(SocketAddrV4::new(B, 80), 4).unwrap();
        let _c = net.a.connect(net.now, SocketAddrV4::new(A, 0), SocketAddrV4::new(B, 80), None).unwrap();
        let mut real: Vec<Vec<u8>> = Vec::new();
        for _ in 0..10 {
            let now = net.now;
            net.a.dispatch(now, &mut |_, _, b| real.push(b.to_vec()));
            net.dispatch();
            net.step();
        }
        let mut t = Instant::from_millis(5000);
        let tcp: &mut Tcp = &mut net.b;
        for (i, s) in segs.iter().enumerate() {
            t = t + Duration::from_millis(7);
            tcp.input(t, A, B, s, true);
            if let Some(r) = real.get(i % real.len().max(1)) {
                let mut m = r.clone();
                for &(pos, v) in &mutate {
                    if !m.is_empty() {
                        let p = pos % m.len();
                        m[p] = v;
                    }
                }
                tcp.input(t, A, B, &m, true);
            }
            tcp.poll(t);
            tcp.dispatch(t, &mut |_, _, b| assert!(b.len() >= 20));
        }
        let mut s = alloc::string::String::new();
        tcp.counters().dump(&mut s).unwrap();
        prop_assert!(s.starts_with("Tcp: RtoAlgorithm"));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Overlapping, duplicated pieces of a stream arriving in any order reassemble exactly.
    #[test]
    fn reassembly_of_overlapping_pieces_in_any_order(
        pieces in proptest::collection::vec((0u32..20_000, 1u32..3000), 1..60),
        order in proptest::collection::vec(any::<u32>(), 60),
    ) {
        use super::script::{seg, Harness};
        let total = 20_000u32;
        let stream: Vec<u8> = (0..total).map(|i| (i.wrapping_mul(31) >> 3) as u8).collect();
        // The pieces plus a final full cover, so the whole stream is always sent.
        let mut ps: Vec<(u32, u32)> = pieces
            .into_iter()
            .map(|(s, l)| (s, l.min(total - s)))
            .collect();
        let mut i = 0;
        while i < total {
            ps.push((i, 1400.min(total - i)));
            i += 1400;
        }
        // Shuffle deterministically by the random keys.
        let mut keyed: Vec<(u32, (u32, u32))> =
            ps.into_iter().enumerate().map(|(k, p)| (order[k % order.len()] ^ k as u32, p)).collect();
        keyed.sort_by_key(|&(k, _)| k);
        let mut h = Harness::new();
        let (c, iss) = h.connected_plain();
        let mut got = Vec::new();
        for (_, (s, l)) in keyed {
            h.inject(seg(5001 + s).ack(iss + 1).data(&stream[s as usize..(s + l) as usize]));
            got.extend(h.read_all(c));
            h.out.clear();
        }
        prop_assert_eq!(got.len(), stream.len());
        prop_assert!(got == stream);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Well-formed but hostile segments near the connection's sequence space (any flags, SACK
    /// blocks, windows, timestamps), interleaved with application calls and timers: no panic,
    /// and the bounds hold.
    #[test]
    fn hostile_segments_near_the_window(
        segs in proptest::collection::vec(
            (any::<u8>(), -3000i32..70_000, -70_000i32..3000, any::<u16>(), 0usize..1500,
             any::<Option<(u32, u32)>>(), proptest::collection::vec((-5000i32..70_000, 0u32..5000), 0..4),
             0u16..500),
            1..80),
    ) {
        use super::script::{seg, Harness};
        let mut h = Harness::new();
        let (c, iss) = h.connected();
        let _ = h.tcp.send(c, &[7u8; 40_000]);
        h.flush();
        h.out.clear();
        let mut rcv = 5001u32;
        for (flags, dseq, dack, win, len, ts, sack, wait) in segs {
            let mut s = seg(rcv.wrapping_add(dseq as u32))
                .ack((iss + 1).wrapping_add(dack as u32))
                .win(win)
                .data(&alloc::vec![0x55u8; len]);
            s.repr.flags = flags;
            if let Some((v, e)) = ts {
                s = s.ts(v, e);
            }
            let blocks: Vec<(u32, u32)> = sack
                .iter()
                .map(|&(o, l)| {
                    let l0 = (iss + 1).wrapping_add(o as u32);
                    (l0, l0.wrapping_add(l))
                })
                .collect();
            s = s.sack(&blocks);
            h.inject(s);
            h.advance(Duration::from_millis(u64::from(wait)));
            let _ = h.tcp.recv(c, &mut [0u8; 3000]);
            let _ = h.tcp.send(c, &[1u8; 2000]);
            h.flush();
            if let Some(last) = h.out.back() {
                rcv = last.ack;
            }
            h.out.clear();
            if let Ok(idx) = h.tcp.check_handle(c) {
                if let Some(t) = h.tcp.conn(idx) {
                    prop_assert!(t.ooo_mem <= t.opts.recv_buffer);
                    prop_assert!(t.sacked.len() <= crate::tcp::MAX_SACK_RANGES);
                    prop_assert!(t.snd_buf.len() <= t.opts.send_buffer);
                }
            }
        }
    }
}
