//! smoltcp 0.14's side: two `Interface`s with their `SocketSet`s whose device is a port of the
//! in-memory [`Link`]. smoltcp has no listen backlog, so the server keeps `backlog` sockets
//! listening and "accepts" one when it leaves LISTEN/SYN-RECEIVED, putting a fresh listener
//! in its place. Released sockets are reused (a client socket in TIME-WAIT may `connect`
//! again, a closed server socket `listen`s again), as a smoltcp application does: allocating
//! and zeroing two fresh 256 KiB buffers per connection would otherwise be most of what
//! connect+close measures. Timestamps follow [`Params::timestamps`] on both stacks, so both carry the
//! same options per segment.

use std::sync::atomic::{AtomicU64, Ordering};

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, ChecksumCapabilities, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

use crate::link::Link;
use crate::{Pair, Params, Recv, Side};

/// Virtual time in ns, for the timestamp option generator (smoltcp takes a plain `fn`).
static NOW_NS: AtomicU64 = AtomicU64::new(0);

fn tsval() -> u32 {
    (NOW_NS.load(Ordering::Relaxed) / 1_000_000) as u32
}

/// One end of the link as a smoltcp device.
struct Port {
    link: Link,
    side: Side,
    mtu: usize,
    offload: bool,
}

struct RxTok<'a> {
    link: &'a Link,
    frame: Vec<u8>,
}

struct TxTok<'a> {
    link: &'a Link,
    side: Side,
}

impl phy::RxToken for RxTok<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.frame);
        self.link.recycle(self.frame);
        r
    }
}

impl phy::TxToken for TxTok<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        self.link.send_with(self.side, len, f)
    }
}

impl Device for Port {
    type RxToken<'a> = RxTok<'a>;
    type TxToken<'a> = TxTok<'a>;

    fn receive(&mut self, _t: Instant) -> Option<(RxTok<'_>, TxTok<'_>)> {
        let frame = self.link.take(self.side)?;
        Some((
            RxTok {
                link: &self.link,
                frame,
            },
            TxTok {
                link: &self.link,
                side: self.side,
            },
        ))
    }

    fn transmit(&mut self, _t: Instant) -> Option<TxTok<'_>> {
        Some(TxTok {
            link: &self.link,
            side: self.side,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        // Default checksum capabilities: computed and verified in software, as for rinet;
        // with the link's offloads neither computed nor verified.
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ethernet;
        c.max_transmission_unit = self.mtu + 14;
        if self.offload {
            c.checksum = ChecksumCapabilities::ignored();
        }
        c
    }
}

struct End {
    dev: Port,
    iface: Interface,
    sockets: SocketSet<'static>,
    ids: Vec<Option<SocketHandle>>,
    free: Vec<usize>,
}

impl End {
    fn new(link: &Link, side: Side, ip: [u8; 4], p: Params, seed: u64) -> Self {
        let mut dev = Port {
            link: link.clone(),
            side,
            mtu: p.mtu,
            offload: p.offload,
        };
        let mut config = Config::new(HardwareAddress::Ethernet(EthernetAddress([
            0x02, 0, 0, 0, 0, seed as u8,
        ])));
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut dev, Instant::from_secs(1));
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(IpAddress::v4(ip[0], ip[1], ip[2], ip[3]), 24))
                .expect("address");
        });
        End {
            dev,
            iface,
            sockets: SocketSet::new(vec![]),
            ids: Vec::new(),
            free: Vec::new(),
        }
    }

    fn add(&mut self, h: SocketHandle) -> usize {
        if let Some(i) = self.free.pop() {
            self.ids[i] = Some(h);
            i
        } else {
            self.ids.push(Some(h));
            self.ids.len() - 1
        }
    }

    fn sock(&mut self, id: usize) -> &mut tcp::Socket<'static> {
        let h = self.ids[id].expect("live connection id");
        self.sockets.get_mut::<tcp::Socket>(h)
    }
}

fn new_socket(p: Params) -> tcp::Socket<'static> {
    let mut s = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0u8; p.buffer]),
        tcp::SocketBuffer::new(vec![0u8; p.buffer]),
    );
    if p.timestamps {
        s.set_tsval_generator(Some(tsval));
    }
    s
}

/// Two smoltcp hosts over one link.
pub struct SmolPair {
    link: Link,
    params: Params,
    client: End,
    server: End,
    listen_port: u16,
    /// Server sockets in LISTEN or SYN-RECEIVED.
    listeners: Vec<SocketHandle>,
    /// Released sockets kept for reuse, per side (client in TIME-WAIT, server CLOSED).
    spare: [Vec<SocketHandle>; 2],
    next_port: u16,
}

const EPHEMERAL_FIRST: u16 = 49152;

impl SmolPair {
    pub fn new(p: Params) -> Self {
        let link = Link::new();
        SmolPair {
            client: End::new(&link, Side::Client, [10, 0, 0, 1], p, 1),
            server: End::new(&link, Side::Server, [10, 0, 0, 2], p, 2),
            link,
            params: p,
            listen_port: 0,
            listeners: Vec::new(),
            spare: [Vec::new(), Vec::new()],
            next_port: EPHEMERAL_FIRST,
        }
    }

    fn end(&mut self, side: Side) -> &mut End {
        match side {
            Side::Client => &mut self.client,
            Side::Server => &mut self.server,
        }
    }

    fn add_listener(&mut self) {
        let h = match self.spare[1].pop() {
            Some(h) => h,
            None => self.server.sockets.add(new_socket(self.params)),
        };
        let port = self.listen_port;
        self.server
            .sockets
            .get_mut::<tcp::Socket>(h)
            .listen(port)
            .expect("listen");
        self.listeners.push(h);
    }
}

fn poll_end(e: &mut End, t: Instant) {
    e.iface.poll(t, &mut e.dev, &mut e.sockets);
}

impl Pair for SmolPair {
    fn name(&self) -> &'static str {
        "smoltcp"
    }

    fn poll(&mut self, now_ns: u64) {
        NOW_NS.store(now_ns, Ordering::Relaxed);
        let t = Instant::from_micros((now_ns / 1000) as i64);
        poll_end(&mut self.client, t);
        poll_end(&mut self.server, t);
    }

    fn poll_at(&mut self, now_ns: u64) -> Option<u64> {
        let t = Instant::from_micros((now_ns / 1000) as i64);
        let a = self.client.iface.poll_at(t, &self.client.sockets);
        let b = self.server.iface.poll_at(t, &self.server.sockets);
        [a, b]
            .into_iter()
            .flatten()
            .min()
            .map(|i| i.total_micros().max(0) as u64 * 1000)
    }

    fn listen(&mut self, _now_ns: u64, port: u16, backlog: usize) {
        self.listen_port = port;
        for _ in 0..backlog.max(1) {
            self.add_listener();
        }
    }

    fn connect(&mut self, _now_ns: u64, port: u16) -> usize {
        let h = match self.spare[0].pop() {
            Some(h) => h,
            None => self.client.sockets.add(new_socket(self.params)),
        };
        let local = self.next_port;
        self.next_port = if local == u16::MAX {
            EPHEMERAL_FIRST
        } else {
            local + 1
        };
        let c = &mut self.client;
        c.sockets
            .get_mut::<tcp::Socket>(h)
            .connect(c.iface.context(), (IpAddress::v4(10, 0, 0, 2), port), local)
            .expect("connect");
        c.add(h)
    }

    fn accept(&mut self) -> Option<usize> {
        let pos = self.listeners.iter().position(|&h| {
            let s = self.server.sockets.get_mut::<tcp::Socket>(h);
            !matches!(s.state(), tcp::State::Listen | tcp::State::SynReceived)
        })?;
        let h = self.listeners.swap_remove(pos);
        self.add_listener();
        Some(self.server.add(h))
    }

    fn send(&mut self, side: Side, id: usize, data: &[u8]) -> usize {
        let s = self.end(side).sock(id);
        if !s.may_send() {
            return 0;
        }
        s.send_slice(data).unwrap_or(0)
    }

    fn recv(&mut self, side: Side, id: usize, buf: &mut [u8]) -> Recv {
        let s = self.end(side).sock(id);
        match s.recv_slice(buf) {
            Ok(0) => Recv::WouldBlock,
            Ok(n) => Recv::Data(n),
            Err(tcp::RecvError::Finished) => Recv::Eof,
            Err(tcp::RecvError::InvalidState) => Recv::WouldBlock,
        }
    }

    fn set_nodelay(&mut self, side: Side, id: usize) {
        self.end(side).sock(id).set_nagle_enabled(false);
    }

    fn shutdown(&mut self, side: Side, id: usize) {
        self.end(side).sock(id).close();
    }

    fn finished(&mut self, side: Side, id: usize) -> bool {
        matches!(
            self.end(side).sock(id).state(),
            tcp::State::Closed | tcp::State::TimeWait
        )
    }

    fn release(&mut self, side: Side, id: usize) {
        let e = self.end(side);
        let h = e.ids[id].take().expect("live connection id");
        e.free.push(id);
        let k = match side {
            Side::Client => 0,
            Side::Server => 1,
        };
        self.spare[k].push(h);
    }

    fn link(&self) -> &Link {
        &self.link
    }
}
