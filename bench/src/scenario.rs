//! The scenarios, written once against [`Pair`]: bulk transfer over N connections,
//! 1-byte request/response rounds, and connections opened and closed. Each returns what it
//! moved (so the caller can check it) and the wall-clock time it took.

use std::time::{Duration, Instant};

use crate::{pattern, Clock, Pair, Recv, Side};

/// Driver iterations in a row with nothing in flight, no application progress and no future
/// deadline before the run is declared stalled.
const STALL_LIMIT: u32 = 100_000;

/// Outcome of one scenario run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// Payload bytes delivered and verified (bulk), rounds completed (rr), or connections
    /// opened and closed (cps).
    pub units: u64,
    /// Wall-clock time of the run.
    pub wall: Duration,
    /// Virtual time the stacks saw (wall time plus idle jumps).
    pub virtual_ns: u64,
    /// Idle jumps to a protocol deadline.
    pub jumps: u64,
    /// Frames carried by the link.
    pub frames: u64,
}

impl Outcome {
    pub fn per_sec(&self) -> f64 {
        self.units as f64 / self.wall.as_secs_f64()
    }
    pub fn gbit_per_sec(&self) -> f64 {
        self.units as f64 * 8.0 / self.wall.as_secs_f64() / 1e9
    }
}

/// Run `app` then poll both hosts, until `app` says done. `app(pair, now)` returns
/// (made progress, done). Idle rounds jump the clock to the next deadline.
fn drive<P: Pair>(p: &mut P, clock: &mut Clock, mut app: impl FnMut(&mut P, u64) -> (bool, bool)) {
    let mut idle = 0u32;
    loop {
        let now = clock.now();
        let (progress, done) = app(p, now);
        if done {
            return;
        }
        // Frames received count as work: the application must get a look at what they
        // delivered before the clock may jump.
        let before = p.link().activity();
        p.poll(now);
        let moved = p.link().activity() != before;
        if progress || moved || p.link().in_flight() > 0 {
            idle = 0;
            continue;
        }
        idle += 1;
        match p.poll_at(now) {
            Some(t) if t > now => clock.jump_to(t),
            _ => {}
        }
        assert!(
            idle < STALL_LIMIT,
            "{}: stalled (nothing in flight, no deadline, no progress)",
            p.name()
        );
    }
}

fn finish<P: Pair>(p: &P, clock: &mut Clock, t0: Instant, frames0: u64, units: u64) -> Outcome {
    Outcome {
        units,
        wall: t0.elapsed(),
        virtual_ns: clock.virtual_elapsed_ns(),
        jumps: clock.jumps,
        frames: p.link().frames() - frames0,
    }
}

/// Bytes the receiver reads per call (the pattern length, so a chunk is one memcmp).
const RECV_CHUNK: usize = pattern::LEN;
/// Each stream starts with its connection index (8 bytes, little endian) so the server knows
/// which pattern offset to check against, whatever order connections are accepted in.
const HEADER: usize = 8;

struct Sender {
    id: usize,
    header: [u8; HEADER],
    header_sent: usize,
    start: u64,
    sent: u64,
    total: u64,
}

struct Receiver {
    id: usize,
    header: [u8; HEADER],
    header_got: usize,
    start: u64,
    got: u64,
}

/// Bulk transfer: `total` payload bytes split over `conns` connections, client to server.
/// The sender writes as fast as the socket takes; the receiver drains everything each round
/// and checks every byte. Panics if a byte is wrong or a stream is short.
pub fn bulk<P: Pair>(p: &mut P, conns: usize, total: u64) -> Outcome {
    const PORT: u16 = 5001;
    let mut clock = Clock::new();
    // Sockets (and smoltcp's up-front buffers) are created before the clock starts; the
    // handshakes are timed with the transfer.
    p.listen(clock.now(), PORT, conns);
    let per = total / conns as u64;
    let mut senders: Vec<Sender> = (0..conns)
        .map(|i| Sender {
            id: p.connect(clock.now(), PORT),
            header: (i as u64).to_le_bytes(),
            header_sent: 0,
            start: pattern::start_of(i),
            sent: 0,
            total: if i + 1 == conns {
                total - per * (conns as u64 - 1)
            } else {
                per
            },
        })
        .collect();
    let frames0 = p.link().frames();
    let t0 = Instant::now();
    let mut receivers: Vec<Receiver> = Vec::new();
    let mut buf = vec![0u8; RECV_CHUNK];
    let mut delivered = 0u64;
    drive(p, &mut clock, |p, _now| {
        let mut progress = false;
        while let Some(id) = p.accept() {
            receivers.push(Receiver {
                id,
                header: [0; HEADER],
                header_got: 0,
                start: 0,
                got: 0,
            });
            progress = true;
        }
        for s in senders.iter_mut() {
            while s.header_sent < HEADER {
                let n = p.send(Side::Client, s.id, &s.header[s.header_sent..]);
                if n == 0 {
                    break;
                }
                s.header_sent += n;
                progress = true;
            }
            if s.header_sent < HEADER {
                continue;
            }
            while s.sent < s.total {
                let want = (s.total - s.sent).min(pattern::LEN as u64) as usize;
                let n = p.send(Side::Client, s.id, pattern::window(s.start + s.sent, want));
                if n == 0 {
                    break;
                }
                s.sent += n as u64;
                progress = true;
            }
        }
        for r in receivers.iter_mut() {
            loop {
                let (mut off, n) = match p.recv(Side::Server, r.id, &mut buf) {
                    Recv::Data(n) => (0, n),
                    Recv::WouldBlock => break,
                    Recv::Eof => panic!("{}: unexpected end of stream", p.name()),
                };
                progress = true;
                while r.header_got < HEADER && off < n {
                    r.header[r.header_got] = buf[off];
                    r.header_got += 1;
                    off += 1;
                    if r.header_got == HEADER {
                        let i = u64::from_le_bytes(r.header) as usize;
                        assert!(i < conns, "{}: bad stream header", p.name());
                        r.start = pattern::start_of(i);
                    }
                }
                let data = &buf[off..n];
                assert!(
                    pattern::matches(r.start + r.got, data),
                    "{}: corrupted stream at byte {}",
                    p.name(),
                    r.got
                );
                r.got += data.len() as u64;
                delivered += data.len() as u64;
            }
        }
        let done = receivers.len() == conns && delivered >= total;
        (progress, done)
    });
    assert_eq!(delivered, total, "{}: byte count", p.name());
    finish(p, &mut clock, t0, frames0, delivered)
}

/// One connection, TCP_NODELAY on both ends; the client sends one byte, the server answers
/// with that byte plus one, `rounds` times. Returns rounds completed.
pub fn request_response<P: Pair>(p: &mut P, rounds: u64) -> Outcome {
    const PORT: u16 = 5002;
    let mut clock = Clock::new();
    p.listen(clock.now(), PORT, 1);
    let c = p.connect(clock.now(), PORT);
    let mut s = None;
    drive(p, &mut clock, |p, _| {
        s = s.or_else(|| p.accept());
        (s.is_some(), s.is_some())
    });
    let s = s.expect("accepted");
    p.set_nodelay(Side::Client, c);
    p.set_nodelay(Side::Server, s);
    let frames0 = p.link().frames();
    let t0 = Instant::now();
    let mut done_rounds = 0u64;
    let mut waiting = false;
    let mut buf = [0u8; 64];
    drive(p, &mut clock, |p, _| {
        let mut progress = false;
        if !waiting && p.send(Side::Client, c, &[done_rounds as u8]) == 1 {
            waiting = true;
            progress = true;
        }
        if let Recv::Data(n) = p.recv(Side::Server, s, &mut buf) {
            for b in buf[..n].iter_mut() {
                *b = b.wrapping_add(1);
            }
            assert_eq!(p.send(Side::Server, s, &buf[..n]), n, "{}", p.name());
            progress = true;
        }
        if waiting {
            match p.recv(Side::Client, c, &mut buf[..1]) {
                Recv::Data(1) => {
                    assert_eq!(buf[0], (done_rounds as u8).wrapping_add(1), "{}", p.name());
                    done_rounds += 1;
                    waiting = false;
                    progress = true;
                }
                Recv::Data(_) | Recv::WouldBlock => {}
                Recv::Eof => panic!("{}: unexpected end of stream", p.name()),
            }
        }
        (progress, done_rounds >= rounds)
    });
    finish(p, &mut clock, t0, frames0, done_rounds)
}

/// `count` connections, one after another: connect, accept, the client shuts down writing,
/// the server sees end of stream and shuts down too, until the client is in TIME-WAIT (or
/// CLOSED) and the server CLOSED; then both handles are released.
pub fn connect_close<P: Pair>(p: &mut P, count: u64) -> Outcome {
    const PORT: u16 = 5003;
    let mut clock = Clock::new();
    let frames0 = p.link().frames();
    let t0 = Instant::now();
    p.listen(clock.now(), PORT, 1);
    let mut buf = [0u8; 16];
    for _ in 0..count {
        let c = p.connect(clock.now(), PORT);
        let mut s = None;
        let mut client_shut = false;
        let mut server_shut = false;
        drive(p, &mut clock, |p, _| {
            let mut progress = false;
            if s.is_none() {
                s = p.accept();
                progress |= s.is_some();
            }
            let Some(s) = s else {
                return (progress, false);
            };
            if !client_shut {
                p.shutdown(Side::Client, c);
                client_shut = true;
                progress = true;
            }
            if !server_shut {
                match p.recv(Side::Server, s, &mut buf) {
                    Recv::Eof => {
                        p.shutdown(Side::Server, s);
                        server_shut = true;
                        progress = true;
                    }
                    Recv::Data(_) => panic!("{}: unexpected data", p.name()),
                    Recv::WouldBlock => {}
                }
            }
            let done = server_shut && p.finished(Side::Client, c) && p.finished(Side::Server, s);
            (progress, done)
        });
        p.release(Side::Client, c);
        p.release(Side::Server, s.expect("accepted"));
    }
    finish(p, &mut clock, t0, frames0, count)
}
