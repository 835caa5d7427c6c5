//! One network host: the IPv4 [`Stack`] (devices, ARP, routes, ICMP, UDP) with [`Tcp`] plugged
//! into it as the transport for protocol 6, driven together by one `poll`.
//!
//! This is the seam between the inet module and TCP: segments TCP emits are routed and sent by
//! the stack with DF set; datagrams and ICMP errors for protocol 6 reach TCP. It owns no sockets
//! and never blocks; the socket layer ([`crate::sys`]) calls into `stack` and `tcp` directly and
//! then [`Host::flush`] to transmit what the call made sendable.

use core::net::Ipv4Addr;

use crate::errno::Errno;
use crate::icmp::IcmpError as IpIcmpError;
use crate::stack::{SegmentSink, SendOptions, Stack, TransportHandler};
use crate::tcp::{IcmpError as TcpIcmpError, Tcp};
use crate::time::Instant;
use crate::wire::ipv4::protocol;

/// A host's network side: the stack and its TCP.
pub struct Host {
    pub stack: Stack,
    pub tcp: Tcp,
}

impl Host {
    pub fn new(stack: Stack, tcp: Tcp) -> Self {
        Host { stack, tcp }
    }

    /// Receive from the devices, run every protocol timer, and transmit. Returns true when
    /// any device had frames.
    pub fn poll(&mut self, now: Instant) -> bool {
        self.tcp.poll(now);
        self.stack.poll(now, &mut self.tcp)
    }

    /// The earliest protocol deadline (stack or TCP); `Instant::ZERO` means "poll again now".
    pub fn poll_at(&self) -> Option<Instant> {
        match (self.stack.poll_at(), self.tcp.poll_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Transmit the TCP segments that socket calls made sendable since the last poll.
    pub fn flush(&mut self, now: Instant) {
        let stack = &mut self.stack;
        self.tcp.dispatch(now, &mut |src, dst, seg| {
            // A segment that cannot be routed or queued is lost like one dropped on the
            // wire: TCP's retransmission timer recovers or reports it; the stack counts it.
            let _ = send_segment(stack, now, src, dst, seg);
        });
        self.stack.flush();
    }
}

fn send_segment(
    stack: &mut Stack,
    now: Instant,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    seg: &[u8],
) -> Result<(), Errno> {
    let src = (!src.is_unspecified()).then_some(src);
    let opts = SendOptions {
        dont_frag: true,
        ..SendOptions::default()
    };
    stack.send_ipv4_with(now, src, dst, protocol::TCP, seg, opts)
}

/// The ICMP error as TCP classifies it (RFC 792 / RFC 1122 codes).
fn tcp_icmp_error(e: IpIcmpError) -> TcpIcmpError {
    match e {
        IpIcmpError::DstUnreachable { code } => match code {
            0 => TcpIcmpError::NetUnreachable,
            1 => TcpIcmpError::HostUnreachable,
            2 => TcpIcmpError::ProtocolUnreachable,
            3 => TcpIcmpError::PortUnreachable,
            5 => TcpIcmpError::SourceRouteFailed,
            6 => TcpIcmpError::NetUnknown,
            7 => TcpIcmpError::HostUnknown,
            9 | 10 | 13 => TcpIcmpError::AdminProhibited,
            _ => TcpIcmpError::HostUnreachable,
        },
        IpIcmpError::FragNeeded { mtu } => TcpIcmpError::FragmentationNeeded { mtu },
        IpIcmpError::TimeExceeded { .. } => TcpIcmpError::TimeExceeded,
        IpIcmpError::ParamProblem => TcpIcmpError::ParameterProblem,
    }
}

impl TransportHandler for Tcp {
    fn protocol(&self) -> u8 {
        protocol::TCP
    }

    fn receive(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload: &[u8],
        checksum_verified: bool,
    ) {
        self.input(now, src, dst, payload, checksum_verified);
    }

    fn icmp_error(&mut self, now: Instant, error: IpIcmpError, quoted: &[u8]) {
        Tcp::icmp_error(self, now, tcp_icmp_error(error), quoted);
    }

    fn dispatch(&mut self, now: Instant, tx: &mut SegmentSink<'_>) {
        Tcp::dispatch(self, now, &mut |src, dst, seg| {
            let _ = tx(src, dst, seg);
        });
    }

    fn poll_at(&self) -> Option<Instant> {
        Tcp::poll_at(self)
    }
}
