//! In-process TCP benchmark: two hosts of one stack (rinet's `net`, or smoltcp 0.14) joined by
//! an in-memory Ethernet link, driven by one thread with a virtual clock.
//!
//! Owns the harness only: the link ([`link`]), the clock ([`Clock`]), the payload pattern
//! ([`pattern`]), the per-stack adapters ([`rinet`], [`smol`]) behind one [`Pair`] trait, and
//! the scenarios ([`scenario`]): bulk transfer, 1-byte request/response, connect/close. It
//! never changes either stack; figures are wall-clock time (`std::time::Instant`) around the
//! whole exchange, so they measure the CPU work of both endpoints together.
//!
//! The virtual clock given to the stacks advances with real elapsed time; when nothing is in
//! flight and no application call made progress it jumps to the earliest protocol deadline,
//! so a delayed-ACK or retransmission timer costs no wall time (the count of such jumps is
//! reported, so a stack that stalls on timers is visible).

pub mod link;
pub mod pattern;
pub mod rinet;
pub mod scenario;
pub mod smol;

#[cfg(test)]
mod tests;

/// Which end of a pair: the client (10.0.0.1, connects) or the server (10.0.0.2, listens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// Result of a receive call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recv {
    Data(usize),
    WouldBlock,
    Eof,
}

/// Settings applied identically to both stacks.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// Socket send and receive buffer sizes (bytes, each).
    pub buffer: usize,
    /// IP MTU of the link.
    pub mtu: usize,
    /// TCP timestamp option (RFC 7323) on both stacks. Off by default (smoltcp's default).
    /// rinet before main's dd91b99 ("MSS less options") does not subtract the 12 option
    /// bytes from its segment size, so with timestamps its full-sized data segments exceed
    /// the MTU and are dropped (DF set, counted in `FragFails`) and bulk transfers stall.
    pub timestamps: bool,
    /// The link offloads checksums (both stacks skip computing and verifying them) and
    /// offers TCP segmentation offload (only rinet has it to use; see `stackbench`).
    pub offload: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            buffer: 256 * 1024,
            mtu: 1500,
            timestamps: false,
            offload: false,
        }
    }
}

/// Two hosts of one stack over one [`link::Link`], with connection ids per side.
///
/// Connection ids are small integers the adapter maps to its own handles; a listener is
/// internal to the adapter (one per pair).
pub trait Pair {
    /// Stack name for the table.
    fn name(&self) -> &'static str;
    /// Run both hosts once at `now_ns` (receive, timers, transmit): client first, then server.
    fn poll(&mut self, now_ns: u64);
    /// The earliest deadline of either host, in virtual ns (at or before `now_ns` = poll now).
    fn poll_at(&mut self, now_ns: u64) -> Option<u64>;
    /// Server: listen on `port` with room for `backlog` pending connections.
    fn listen(&mut self, now_ns: u64, port: u16, backlog: usize);
    /// Client: start connecting to the server's `port`; returns the client id.
    fn connect(&mut self, now_ns: u64, port: u16) -> usize;
    /// Server: take an established connection, if one is ready.
    fn accept(&mut self) -> Option<usize>;
    /// Queue bytes; returns how many were taken (0 when the buffer is full or not yet open).
    fn send(&mut self, side: Side, id: usize, data: &[u8]) -> usize;
    fn recv(&mut self, side: Side, id: usize, buf: &mut [u8]) -> Recv;
    /// Disable Nagle (TCP_NODELAY).
    fn set_nodelay(&mut self, side: Side, id: usize);
    /// Close the sending direction (FIN after queued data); the id stays valid.
    fn shutdown(&mut self, side: Side, id: usize);
    /// Whether the connection is CLOSED or in TIME-WAIT.
    fn finished(&mut self, side: Side, id: usize) -> bool;
    /// Forget the connection (after `finished`); its id may be reused.
    fn release(&mut self, side: Side, id: usize);
    /// The link, for frame counters.
    fn link(&self) -> &link::Link;
}

/// The virtual clock handed to the stacks: real elapsed time plus the idle jumps taken.
#[derive(Debug)]
pub struct Clock {
    start: std::time::Instant,
    skipped_ns: u64,
    /// Never go backwards, even across jumps.
    last: u64,
    /// How many idle jumps were taken.
    pub jumps: u64,
}

impl Clock {
    /// A clock starting at virtual time 1 s (so zero never means "unset").
    pub fn new() -> Self {
        Clock {
            start: std::time::Instant::now(),
            skipped_ns: 1_000_000_000,
            last: 0,
            jumps: 0,
        }
    }

    pub fn now(&mut self) -> u64 {
        let t = self.start.elapsed().as_nanos() as u64 + self.skipped_ns;
        self.last = self.last.max(t);
        self.last
    }

    /// Jump forward to `t` (no-op if already there).
    pub fn jump_to(&mut self, t: u64) {
        let now = self.now();
        if t > now {
            self.skipped_ns += t - now;
            self.last = t;
            self.jumps += 1;
        }
    }

    /// Virtual time passed since the clock started.
    pub fn virtual_elapsed_ns(&mut self) -> u64 {
        self.now() - 1_000_000_000
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}
