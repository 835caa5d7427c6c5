//! lossyrelay — a userspace link impairment between two QEMU `-netdev socket,udp=` endpoints
//! (this host's kernel has no netem): every Ethernet frame one side sends is lost, corrupted,
//! duplicated, delayed or reordered by the settings of its direction, then handed to the
//! other side. Used by scripts/lossybench.sh; a benchmark tool, not a test.
//!
//! Usage:
//!   lossyrelay --guest LISTEN:SEND --outer LISTEN:SEND [--to-guest SPEC] [--to-outer SPEC]
//!              [--seed N]
//! LISTEN and SEND are UDP ports on 127.0.0.1: the relay receives the guest NIC's frames on
//! `--guest LISTEN` and sends frames for the guest to `--guest SEND` (the NIC netdev's
//! `localaddr`); the same for the outer side (the netdev that leads to the host).
//! SPEC: comma-separated `loss=P,dup=P,corrupt=P,reorder=P,delay=MS` (P in percent). As
//! netem does, `reorder=P` sends P % of the frames at once and delays the others by `delay`,
//! so a reordered frame overtakes the ones before it. `corrupt` flips one bit past the
//! Ethernet header. Decisions come from a seeded generator: a run is repeatable given the
//! same frames.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::UdpSocket;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// Impairments of one direction.
#[derive(Debug, Clone, Copy, Default)]
struct Impair {
    loss: f64,
    dup: f64,
    corrupt: f64,
    reorder: f64,
    delay: Duration,
}

impl Impair {
    fn parse(spec: &str) -> Result<Impair, String> {
        let mut i = Impair::default();
        for part in spec.split(',').filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| format!("'{part}' is not key=value"))?;
            let v: f64 = value
                .parse()
                .map_err(|_| format!("'{value}' is not a number"))?;
            if !(0.0..=100_000.0).contains(&v) {
                return Err(format!("'{part}' is out of range"));
            }
            match key {
                "loss" => i.loss = v / 100.0,
                "dup" => i.dup = v / 100.0,
                "corrupt" => i.corrupt = v / 100.0,
                "reorder" => i.reorder = v / 100.0,
                "delay" => i.delay = Duration::from_secs_f64(v / 1000.0),
                _ => return Err(format!("unknown impairment '{key}'")),
            }
        }
        Ok(i)
    }
}

/// xorshift64*: small, seeded, good enough for coin flips.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Frames waiting for their departure time: (due, arrival order, frame).
type Queue = BinaryHeap<Reverse<(Instant, u64, Vec<u8>)>>;

/// Most frames held in one direction; beyond it new frames are dropped (a full link queue).
const MAX_HELD: usize = 65536;

/// Ethernet header length: corruption flips bits past it (a damaged MAC header would only
/// look like a loss).
const ETH_HEADER: usize = 14;

/// One direction: frames arrive on `from`, leave through `to_sock` for port `to_port`.
fn direction(from: UdpSocket, to_sock: UdpSocket, to_port: u16, imp: Impair, seed: u64) {
    let queue: Arc<(Mutex<Queue>, Condvar)> = Arc::new((Mutex::new(Queue::new()), Condvar::new()));
    let sender = Arc::clone(&queue);
    thread::spawn(move || {
        let (lock, cv) = &*sender;
        let mut q = lock.lock().expect("queue");
        loop {
            let now = Instant::now();
            match q.peek() {
                Some(Reverse((due, _, _))) if *due <= now => {
                    if let Some(Reverse((_, _, frame))) = q.pop() {
                        // A full socket buffer on the far side is a loss, as on a wire.
                        let _ = to_sock.send_to(&frame, ("127.0.0.1", to_port));
                    }
                }
                Some(Reverse((due, _, _))) => {
                    let wait = *due - now;
                    q = cv.wait_timeout(q, wait).expect("queue").0;
                }
                None => q = cv.wait(q).expect("queue"),
            }
        }
    });
    let mut rng = Rng(seed | 1);
    let mut order = 0u64;
    let mut buf = vec![0u8; 65536];
    let (lock, cv) = &*queue;
    loop {
        let Ok((n, _)) = from.recv_from(&mut buf) else {
            continue;
        };
        if rng.chance(imp.loss) {
            continue;
        }
        let copies = if rng.chance(imp.dup) { 2 } else { 1 };
        let now = Instant::now();
        let mut q = lock.lock().expect("queue");
        for _ in 0..copies {
            let mut frame = buf[..n].to_vec();
            if rng.chance(imp.corrupt) && frame.len() > ETH_HEADER {
                let i = ETH_HEADER + rng.below(frame.len() - ETH_HEADER);
                frame[i] ^= 1 << rng.below(8);
            }
            let due = if rng.chance(imp.reorder) {
                now
            } else {
                now + imp.delay
            };
            if q.len() < MAX_HELD {
                order += 1;
                q.push(Reverse((due, order, frame)));
            }
        }
        cv.notify_one();
    }
}

fn ports(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = s
        .split_once(':')
        .ok_or_else(|| format!("'{s}' is not LISTEN:SEND"))?;
    let p = |x: &str| x.parse::<u16>().map_err(|_| format!("'{x}' is not a port"));
    Ok((p(a)?, p(b)?))
}

fn run() -> Result<(), String> {
    let mut guest = None;
    let mut outer = None;
    let mut to_guest = Impair::default();
    let mut to_outer = Impair::default();
    let mut seed = 1u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--guest" => guest = Some(ports(&value()?)?),
            "--outer" => outer = Some(ports(&value()?)?),
            "--to-guest" => to_guest = Impair::parse(&value()?)?,
            "--to-outer" => to_outer = Impair::parse(&value()?)?,
            "--seed" => seed = value()?.parse().map_err(|_| "--seed needs a number")?,
            _ => {
                return Err(format!(
                    "unknown argument '{a}' (see the header of lossyrelay.rs)"
                ))
            }
        }
    }
    let (g_listen, g_send) = guest.ok_or("--guest LISTEN:SEND is required")?;
    let (o_listen, o_send) = outer.ok_or("--outer LISTEN:SEND is required")?;
    let bind = |p: u16| {
        UdpSocket::bind(("127.0.0.1", p)).map_err(|e| format!("binding 127.0.0.1:{p}: {e}"))
    };
    let g = bind(g_listen)?;
    let o = bind(o_listen)?;
    let clone = |s: &UdpSocket| s.try_clone().map_err(|e| e.to_string());
    let (g2, o2) = (clone(&g)?, clone(&o)?);
    eprintln!("lossyrelay: to guest {to_guest:?}; to outer {to_outer:?}");
    let up = thread::spawn(move || direction(g, o2, o_send, to_outer, seed));
    direction(
        o,
        g2,
        g_send,
        to_guest,
        seed.wrapping_mul(0x9e37_79b9_7f4a_7c15),
    );
    let _ = up.join();
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("lossyrelay: {e}");
        std::process::exit(2);
    }
}
