//! rinet's side: two [`net::host::Host`]s (IPv4 stack + TCP, default settings) whose NIC is a
//! port of the in-memory [`Link`]. Driven through `net::tcp::Tcp` calls directly, as the
//! kernel's socket layer does, with `Host::poll` doing receive, timers and transmit.

use std::net::{Ipv4Addr, SocketAddrV4};

use net::dev::{Capabilities, DevStats, Device, TxError};
use net::host::Host;
use net::stack::Stack;
use net::tcp::{Handle, Shutdown, State, Tcp, TcpConfig};
use net::{Errno, Instant, MacAddr};

use crate::link::Link;
use crate::{Pair, Params, Recv, Side};

pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const SERVER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

/// One end of the link as a rinet [`Device`].
struct Port {
    link: Link,
    side: Side,
    mac: MacAddr,
    mtu: usize,
    /// The link's offloads (see `Params::offload`).
    offload: bool,
    stats: DevStats,
}

impl Device for Port {
    fn mac(&self) -> MacAddr {
        self.mac
    }
    fn mtu(&self) -> usize {
        self.mtu
    }
    fn capabilities(&self) -> Capabilities {
        // Without the link's offloads both stacks compute and verify every checksum in
        // software. With them, frames are trusted as they never leave memory, and a TCP
        // super-segment travels whole (a host bridge between two guests with TSO and GRO).
        Capabilities {
            rx_checksum_verified: self.offload,
            tx_checksum: self.offload,
            max_frame: self.mtu + 14,
            tso_max: if self.offload { 65535 } else { 0 },
            // The link queues frames as `Vec`s the receiver may keep (smoltcp's receive
            // token hands its buffer over the same way). Only worth it where frames can
            // carry super-segments: TCP keeps payloads of 8 KiB or more, never an MTU's.
            rx_owned: self.offload,
        }
    }
    fn receive(&mut self, budget: usize, sink: &mut dyn FnMut(&[u8])) -> usize {
        self.receive_owned(budget, &mut |f| {
            sink(&f);
            Some(f)
        })
    }
    fn receive_owned(
        &mut self,
        budget: usize,
        sink: &mut dyn FnMut(Vec<u8>) -> Option<Vec<u8>>,
    ) -> usize {
        let mut n = 0;
        while n < budget {
            let Some(frame) = self.link.take(self.side) else {
                break;
            };
            self.stats.rx_packets += 1;
            self.stats.rx_bytes += frame.len() as u64;
            if let Some(back) = sink(frame) {
                self.link.recycle(back);
            }
            n += 1;
        }
        n
    }
    fn transmit(&mut self, frame: &[u8]) -> Result<(), TxError> {
        if frame.len() > self.mtu + 14 {
            self.stats.tx_dropped += 1;
            return Err(TxError::TooLarge);
        }
        self.stats.tx_packets += 1;
        self.stats.tx_bytes += frame.len() as u64;
        self.link
            .send_with(self.side, frame.len(), |b| b.copy_from_slice(frame));
        Ok(())
    }
    fn transmit_buf(&mut self, frame: &mut Vec<u8>) -> Result<(), TxError> {
        // The link queues `Vec`s: take the stack's buffer, hand back one from the link's pool
        // (as smoltcp's side builds its frames straight into link buffers).
        if frame.len() > self.mtu + 14 {
            self.stats.tx_dropped += 1;
            return Err(TxError::TooLarge);
        }
        self.stats.tx_packets += 1;
        self.stats.tx_bytes += frame.len() as u64;
        let spare = self.link.send_owned(self.side, std::mem::take(frame));
        *frame = spare;
        Ok(())
    }
    fn transmit_offload(
        &mut self,
        frame: &mut Vec<u8>,
        offload: net::dev::TxOffload,
    ) -> Result<(), TxError> {
        if !self.offload {
            // Not declared, so the stack never asks; done in software all the same.
            let mut result = Ok(());
            net::offload::finish_frame(frame, offload, &mut |f| {
                if let Err(e) = self.transmit(f) {
                    result = Err(e);
                }
            })
            .map_err(|_| TxError::TooLarge)?;
            return result;
        }
        // Passed on as it is: the receiving guest is told the checksum is good and takes the
        // super-segment as the segments it carries (virtio-net's NEEDS_CSUM and GSO frames
        // between two guests with TSO and GRO).
        self.stats.tx_packets += 1;
        self.stats.tx_bytes += frame.len() as u64;
        let spare = self.link.send_owned(self.side, std::mem::take(frame));
        *frame = spare;
        Ok(())
    }
    fn stats(&self) -> DevStats {
        self.stats
    }
}

/// Connection ids → handles for one side.
#[derive(Default)]
struct Ids {
    slots: Vec<Option<Handle>>,
    free: Vec<usize>,
}

impl Ids {
    fn add(&mut self, h: Handle) -> usize {
        if let Some(i) = self.free.pop() {
            self.slots[i] = Some(h);
            i
        } else {
            self.slots.push(Some(h));
            self.slots.len() - 1
        }
    }
    fn get(&self, id: usize) -> Handle {
        self.slots[id].expect("live connection id")
    }
    fn remove(&mut self, id: usize) -> Handle {
        let h = self.slots[id].take().expect("live connection id");
        self.free.push(id);
        h
    }
}

/// Two rinet hosts over one link.
pub struct RinetPair {
    link: Link,
    client: Host,
    server: Host,
    listener: Option<Handle>,
    ids: [Ids; 2],
    now: Instant,
}

fn host(link: &Link, side: Side, ip: Ipv4Addr, p: Params, seed: u64) -> Host {
    let port = Port {
        link: link.clone(),
        side,
        mac: MacAddr([0x02, 0, 0, 0, 0, seed as u8]),
        mtu: p.mtu,
        offload: p.offload,
        stats: DevStats::default(),
    };
    let mut stack = Stack::new(Box::new(port), seed);
    stack
        .configure(Instant::from_millis(1000), ip, 24, None)
        .expect("configure");
    let config = TcpConfig {
        send_buffer: p.buffer,
        recv_buffer: p.buffer,
        // smoltcp's buffers are fixed: pin rinet's (no autotuning past them) so that both
        // stacks run with the buffers the scenario names.
        send_buffer_max: p.buffer,
        recv_buffer_max: p.buffer,
        default_mtu: p.mtu as u16,
        timestamps: p.timestamps,
        tso_max: if p.offload {
            net::tcp::TSO_MAX_PAYLOAD
        } else {
            0
        },
        checksum_offload: p.offload,
        ..TcpConfig::default()
    };
    Host::new(stack, Tcp::new(config, [seed as u8; 16], seed))
}

impl RinetPair {
    pub fn new(p: Params) -> Self {
        let link = Link::new();
        RinetPair {
            client: host(&link, Side::Client, CLIENT_IP, p, 1),
            server: host(&link, Side::Server, SERVER_IP, p, 2),
            link,
            listener: None,
            ids: [Ids::default(), Ids::default()],
            now: Instant::from_millis(1000),
        }
    }

    fn side(&mut self, side: Side) -> (&mut Tcp, &mut Ids) {
        match side {
            Side::Client => (&mut self.client.tcp, &mut self.ids[0]),
            Side::Server => (&mut self.server.tcp, &mut self.ids[1]),
        }
    }

    /// Both hosts' stack counters, /proc/net/snmp style.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        let _ = self.client.stack.dump_counters(&mut out);
        let _ = self.server.stack.dump_counters(&mut out);
        out
    }

    /// Connections (TIME-WAIT included) the server and client TCPs still hold.
    pub fn counters(&self) -> (net::tcp::Counters, net::tcp::Counters) {
        (self.client.tcp.counters(), self.server.tcp.counters())
    }
}

impl Pair for RinetPair {
    fn name(&self) -> &'static str {
        "rinet"
    }

    fn poll(&mut self, now_ns: u64) {
        self.now = Instant::from_nanos(now_ns);
        self.client.poll(self.now);
        self.server.poll(self.now);
    }

    fn poll_at(&mut self, _now_ns: u64) -> Option<u64> {
        [self.client.poll_at(), self.server.poll_at()]
            .into_iter()
            .flatten()
            .min()
            .map(|t| t.as_nanos())
    }

    fn listen(&mut self, _now_ns: u64, port: u16, backlog: usize) {
        let h = self
            .server
            .tcp
            .listen(SocketAddrV4::new(SERVER_IP, port), backlog)
            .expect("listen");
        self.listener = Some(h);
    }

    fn connect(&mut self, now_ns: u64, port: u16) -> usize {
        let h = self
            .client
            .tcp
            .connect(
                Instant::from_nanos(now_ns),
                SocketAddrV4::new(CLIENT_IP, 0),
                SocketAddrV4::new(SERVER_IP, port),
                None,
            )
            .expect("connect");
        self.ids[0].add(h)
    }

    fn accept(&mut self) -> Option<usize> {
        let l = self.listener?;
        match self.server.tcp.accept(l) {
            Ok(h) => Some(self.ids[1].add(h)),
            Err(Errno::EAGAIN) => None,
            Err(e) => panic!("rinet accept: {e:?}"),
        }
    }

    fn send(&mut self, side: Side, id: usize, data: &[u8]) -> usize {
        let (tcp, ids) = self.side(side);
        match tcp.send(ids.get(id), data) {
            Ok(n) => n,
            Err(Errno::EAGAIN) => 0,
            Err(e) => panic!("rinet send: {e:?}"),
        }
    }

    fn recv(&mut self, side: Side, id: usize, buf: &mut [u8]) -> Recv {
        let (tcp, ids) = self.side(side);
        match tcp.recv(ids.get(id), buf) {
            Ok(0) => Recv::Eof,
            Ok(n) => Recv::Data(n),
            Err(Errno::EAGAIN) => Recv::WouldBlock,
            Err(e) => panic!("rinet recv: {e:?}"),
        }
    }

    fn set_nodelay(&mut self, side: Side, id: usize) {
        let (tcp, ids) = self.side(side);
        tcp.set_nodelay(ids.get(id), true).expect("set_nodelay");
    }

    fn shutdown(&mut self, side: Side, id: usize) {
        let (tcp, ids) = self.side(side);
        tcp.shutdown(ids.get(id), Shutdown::Write)
            .expect("shutdown");
    }

    fn finished(&mut self, side: Side, id: usize) -> bool {
        let (tcp, ids) = self.side(side);
        matches!(tcp.state(ids.get(id)), Ok(State::Closed | State::TimeWait))
    }

    fn release(&mut self, side: Side, id: usize) {
        let (tcp, ids) = self.side(side);
        let h = ids.remove(id);
        tcp.close(h).expect("close");
    }

    fn link(&self) -> &Link {
        &self.link
    }
}
