//! One network host: the IPv4 [`Stack`] (devices, ARP, routes, ICMP, UDP) with [`Tcp`] plugged
//! into it as the transport for protocol 6, the DHCP client that configures its interface and
//! the DNS stub resolver, all driven together by one `poll`.
//!
//! This is the seam between the inet module, TCP and the configuration protocols: segments TCP
//! emits are routed and sent by the stack with DF set; datagrams and ICMP errors for protocol 6
//! reach TCP; DHCP and DNS run over two UDP sockets of the stack that only this file uses
//! (0.0.0.0:68 and one ephemeral port). It owns no user sockets and never blocks or reads a
//! clock; the socket layer ([`crate::sys`]) calls into `stack` and `tcp` directly and then
//! [`Host::flush`] to transmit what the call made sendable.

use alloc::vec::Vec;
use core::fmt::Write;
use core::net::{Ipv4Addr, SocketAddrV4};

use crate::config::IpConfig;
use crate::dev::TxOffload;
use crate::dhcp::{DhcpClient, DhcpEvent, DhcpOutput, DhcpState, Lease, CLIENT_PORT};
use crate::dns::{QueryId, Resolver};
use crate::errno::Errno;
use crate::icmp::IcmpError as IpIcmpError;
use crate::stack::{AppendSink, IfAddr, SegmentSink, SendOptions, Stack, TransportHandler};
use crate::tcp::{IcmpError as TcpIcmpError, Tcp};
use crate::time::Instant;
use crate::wire::ipv4::protocol;

/// How a host gets its address and name servers (the kernel's `ip=` and `nameserver=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostConfig {
    /// DHCP or a static address.
    pub ip: IpConfig,
    /// A name server that replaces whatever DHCP offers (`nameserver=`).
    pub nameserver: Option<Ipv4Addr>,
    /// Seeds the DHCP transaction ids and the DNS query ids.
    pub seed: u64,
}

/// The DHCP client and its socket (bound to 0.0.0.0:68).
struct Dhcp {
    client: DhcpClient,
    sock: crate::stack::UdpHandle,
}

/// Counters of the glue itself (the protocols keep their own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostCounters {
    /// Leases applied to the interface (`Configured` events).
    pub leases_applied: u64,
    /// Leases the stack refused to configure (an address it cannot hold): the interface stays
    /// as it was.
    pub lease_apply_errors: u64,
    /// Leases lost (`Deconfigured` events).
    pub deconfigured: u64,
    /// DHCP or DNS datagrams the stack refused to send (no route, neighbour queue full): the
    /// protocol's own retransmission timer tries again.
    pub udp_send_errors: u64,
}

/// A host's network side: the stack, its TCP, and the DHCP client and resolver configuring it.
pub struct Host {
    pub stack: Stack,
    pub tcp: Tcp,
    dhcp: Option<Dhcp>,
    resolver: Resolver,
    /// The resolver's socket, opened with the first server (`None`: no server known yet).
    dns_sock: Option<crate::stack::UdpHandle>,
    /// `nameserver=`: overrides the lease's servers.
    nameserver: Option<Ipv4Addr>,
    gateway: Option<Ipv4Addr>,
    counters: HostCounters,
}

impl Host {
    /// A host with no DHCP client and no name server (tests, loopback-only machines). Configure
    /// its address with `stack.configure`.
    pub fn new(mut stack: Stack, tcp: Tcp) -> Self {
        // UDP receive queues get half of what TCP's buffers may hold (Linux sizes udp_mem and
        // tcp_mem alike from RAM; a datagram beyond it is dropped and counted).
        stack.set_udp_memory_limit(tcp.memory().limit / 2);
        Host {
            stack,
            tcp,
            dhcp: None,
            resolver: Resolver::new(&[], 0),
            dns_sock: None,
            nameserver: None,
            gateway: None,
            counters: HostCounters::default(),
        }
    }

    /// A host configured by `cfg`: a static address is applied at once (`EINVAL` for one the
    /// stack refuses); DHCP starts with its first DISCOVER at the next `poll` (`ENETDOWN` without
    /// a NIC). `nameserver` is used from the start and never replaced by DHCP's.
    pub fn with_config(
        stack: Stack,
        tcp: Tcp,
        now: Instant,
        cfg: &HostConfig,
    ) -> Result<Self, Errno> {
        let mut h = Host::new(stack, tcp);
        // DNS ids come from a generator seeded apart from DHCP's xids ("dns_seed" in ASCII),
        // so one seed does not make the two sequences equal.
        h.resolver = Resolver::new(&[], cfg.seed ^ 0x646e_735f_7365_6564);
        h.nameserver = cfg.nameserver;
        match cfg.ip {
            IpConfig::Static(s) => {
                h.stack.configure(now, s.address, s.prefix_len, s.gateway)?;
                h.gateway = s.gateway;
            }
            IpConfig::Dhcp => {
                let mac = h.stack.mac().ok_or(Errno::ENETDOWN)?;
                let sock = h.stack.udp_open()?;
                let any = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT);
                if let Err(e) = h.stack.udp_bind(sock, any) {
                    let _ = h.stack.udp_close(sock);
                    return Err(e);
                }
                h.dhcp = Some(Dhcp {
                    client: DhcpClient::new(mac, cfg.seed, now),
                    sock,
                });
            }
        }
        if let Some(ns) = cfg.nameserver {
            h.set_servers(&[ns])?;
        }
        Ok(h)
    }

    /// Receive from the devices, run every protocol timer (TCP, ARP, reassembly, DHCP, DNS),
    /// and transmit. Returns true when any device had frames.
    pub fn poll(&mut self, now: Instant) -> bool {
        self.tcp.poll(now);
        let work = self.stack.poll(now, &mut self.tcp);
        self.run_dhcp(now);
        // The resolver has work only with its socket open (answers to take in) or a query
        // waiting (a retransmission or a verdict may be due); most loops have neither.
        if self.dns_sock.is_some() || self.resolver.has_waiting() {
            self.run_dns(now);
        }
        work
    }

    /// The earliest deadline of every protocol; `Instant::ZERO` means "poll again now".
    pub fn poll_at(&self) -> Option<Instant> {
        [
            self.stack.poll_at(),
            self.tcp.poll_at(),
            self.dhcp.as_ref().and_then(|d| d.client.poll_at()),
            self.resolver.poll_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Transmit the TCP segments that socket calls made sendable since the last poll.
    pub fn flush(&mut self, now: Instant) {
        let stack = &mut self.stack;
        self.tcp
            .dispatch_in_place(now, &mut |src, dst, tos, offload, fill| {
                // A segment that cannot be routed or queued is lost like one dropped on the
                // wire: TCP's retransmission timer recovers or reports it; the stack counts it.
                let _ = send_segment(stack, now, src, dst, tos, offload, fill);
            });
        self.stack.flush();
    }

    /// Whether the NIC has an address (static, or a DHCP lease is held).
    pub fn is_configured(&self) -> bool {
        self.stack.address().is_some()
    }

    /// The NIC's address and prefix, once configured.
    pub fn address(&self) -> Option<IfAddr> {
        self.stack.address()
    }

    /// The default gateway (static, or the lease's router).
    pub fn gateway(&self) -> Option<Ipv4Addr> {
        self.gateway
    }

    /// The name servers the resolver asks, in order.
    pub fn nameservers(&self) -> &[Ipv4Addr] {
        self.resolver.servers()
    }

    /// The DHCP client's state (`None` for a static configuration).
    pub fn dhcp_state(&self) -> Option<DhcpState> {
        self.dhcp.as_ref().map(|d| d.client.state())
    }

    /// The lease held, if any.
    pub fn dhcp_lease(&self) -> Option<&Lease> {
        self.dhcp.as_ref().and_then(|d| d.client.lease())
    }

    pub fn dhcp_counters(&self) -> Option<&crate::dhcp::DhcpCounters> {
        self.dhcp.as_ref().map(|d| d.client.counters())
    }

    pub fn dns_counters(&self) -> &crate::dns::DnsCounters {
        self.resolver.counters()
    }

    pub fn counters(&self) -> HostCounters {
        self.counters
    }

    /// Start resolving `name` to IPv4 addresses; the first query goes out now. Errors as
    /// [`Resolver::start_query`]: `EINVAL` (not a host name), `EAGAIN` (too many queries),
    /// `ENETUNREACH` (no name server known yet).
    pub fn resolve_start(&mut self, now: Instant, name: &str) -> Result<QueryId, Errno> {
        let q = self.resolver.start_query(now, name)?;
        self.run_dns(now);
        Ok(q)
    }

    /// A query's outcome: `None` while it waits; then its addresses or errno (see
    /// [`crate::dns`]), which frees the id.
    pub fn resolve_result(&mut self, q: QueryId) -> Option<Result<Vec<Ipv4Addr>, Errno>> {
        self.resolver.result(q)
    }

    /// Give up on a query.
    pub fn resolve_cancel(&mut self, q: QueryId) {
        self.resolver.cancel(q);
    }

    /// Send one ICMP echo request (ping) to `dst`; the reply shows up in
    /// `stack.icmp_recv_echo_reply_for(ident)` after a later poll.
    pub fn ping(
        &mut self,
        now: Instant,
        dst: Ipv4Addr,
        ident: u16,
        seq: u16,
        data: &[u8],
    ) -> Result<(), Errno> {
        self.stack.icmp_send_echo(now, dst, ident, seq, data)
    }

    /// Every counter: the stack's (/proc/net/snmp style), TCP's, DHCP's, DNS's and the glue's.
    pub fn dump_counters(&self, out: &mut impl Write) -> core::fmt::Result {
        self.stack.dump_counters(out)?;
        self.tcp.counters().dump(out)?;
        if let Some(c) = self.dhcp_counters() {
            writeln!(out, "Dhcp: {c:?}")?;
        }
        writeln!(out, "Dns: {:?}", self.resolver.counters())?;
        writeln!(out, "Host: {:?}", self.counters)
    }

    /// Replace the resolver's servers, opening its socket with the first one.
    fn set_servers(&mut self, servers: &[Ipv4Addr]) -> Result<(), Errno> {
        self.resolver.set_servers(servers);
        if servers.is_empty() {
            return Ok(());
        }
        open_dns_sock(&mut self.stack, &mut self.dns_sock)
    }

    /// Feed the DHCP client what arrived on port 68, send what it wants sent, apply its
    /// events to the interface and the resolver.
    fn run_dhcp(&mut self, now: Instant) {
        let Some(d) = self.dhcp.as_mut() else {
            return;
        };
        loop {
            match self.stack.udp_recv(d.sock) {
                Ok(dgram) => d.client.receive(now, &dgram.data),
                // A pending socket error (an ICMP error about a renewal) is consumed here;
                // the client's timers retransmit.
                Err(Errno::EAGAIN) | Err(Errno::EBADF) => break,
                Err(_) => {}
            }
        }
        while let Some(out) = d.client.poll(now) {
            match out {
                DhcpOutput::Transmit(t) => {
                    let _ = self.stack.udp_take_error(d.sock);
                    if self
                        .stack
                        .udp_send_to(now, d.sock, &t.payload, Some(t.dst))
                        .is_err()
                    {
                        self.counters.udp_send_errors += 1;
                    }
                }
                DhcpOutput::Event(DhcpEvent::Configured(lease)) => {
                    match self
                        .stack
                        .configure(now, lease.address, lease.prefix_len, lease.router)
                    {
                        Ok(()) => {
                            self.counters.leases_applied += 1;
                            self.gateway = lease.router;
                            log::debug!(
                                "dhcp: applied {}/{} router {:?} dns {:?} lease {} s",
                                lease.address,
                                lease.prefix_len,
                                lease.router,
                                &lease.dns_servers[..],
                                lease.lease_time.as_secs()
                            );
                        }
                        Err(e) => {
                            self.counters.lease_apply_errors += 1;
                            log::warn!("dhcp: lease {} not applied: {e:?}", lease.address);
                        }
                    }
                    if self.nameserver.is_none() {
                        self.resolver.set_servers(&lease.dns_servers);
                        if !lease.dns_servers.is_empty()
                            && open_dns_sock(&mut self.stack, &mut self.dns_sock).is_err()
                        {
                            self.counters.udp_send_errors += 1;
                        }
                    }
                }
                DhcpOutput::Event(DhcpEvent::Deconfigured) => {
                    self.counters.deconfigured += 1;
                    self.stack.deconfigure();
                    self.gateway = None;
                    if self.nameserver.is_none() {
                        self.resolver.set_servers(&[]);
                    }
                    log::warn!("dhcp: lease lost; interface deconfigured");
                }
            }
        }
    }

    /// Feed the resolver what arrived on its socket and send its queries.
    fn run_dns(&mut self, now: Instant) {
        let Some(sock) = self.dns_sock else {
            // No socket: no server was ever known, so no query can be waiting for an answer;
            // `poll` still finishes queries whose servers went away.
            while self.resolver.poll(now).is_some() {}
            return;
        };
        loop {
            match self.stack.udp_recv(sock) {
                Ok(d) => {
                    self.resolver.receive(now, d.from, &d.data);
                }
                // A pending error (port unreachable from a dead server) is consumed; the
                // resolver's timeout moves on to the next server.
                Err(Errno::EAGAIN) | Err(Errno::EBADF) => break,
                Err(_) => {}
            }
        }
        while let Some(t) = self.resolver.poll(now) {
            let _ = self.stack.udp_take_error(sock);
            if self
                .stack
                .udp_send_to(now, sock, &t.payload, Some(t.dst))
                .is_err()
            {
                self.counters.udp_send_errors += 1;
            }
        }
    }
}

/// Open the resolver's UDP socket (0.0.0.0, an ephemeral port) unless it is open.
fn open_dns_sock(
    stack: &mut Stack,
    sock: &mut Option<crate::stack::UdpHandle>,
) -> Result<(), Errno> {
    if sock.is_some() {
        return Ok(());
    }
    let h = stack.udp_open()?;
    if let Err(e) = stack.udp_bind(h, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)) {
        let _ = stack.udp_close(h);
        return Err(e);
    }
    *sock = Some(h);
    Ok(())
}

fn send_segment(
    stack: &mut Stack,
    now: Instant,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    tos: u8,
    offload: TxOffload,
    fill: &mut dyn FnMut(&mut Vec<u8>),
) -> Result<(), Errno> {
    let src = (!src.is_unspecified()).then_some(src);
    let opts = SendOptions {
        dont_frag: true,
        tos,
        ..SendOptions::default()
    };
    // Queued only: `Host::flush` kicks the device once for the whole burst. The segment is
    // written straight into the frame buffer behind the IP and link headroom.
    stack.queue_ipv4_append(now, src, dst, protocol::TCP, opts, offload, fill)
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

    fn receive_adoptable(
        &mut self,
        now: Instant,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        payload: &[u8],
        checksum_verified: bool,
    ) -> bool {
        Tcp::input_adoptable(self, now, src, dst, payload, checksum_verified)
    }

    fn adopt(&mut self, frame: Vec<u8>) {
        Tcp::adopt(self, frame)
    }

    fn dispatch_in_place(&mut self, now: Instant, tx: &mut AppendSink<'_>) {
        Tcp::dispatch_in_place(self, now, &mut |src, dst, tos, offload, fill| {
            // Lost like a segment dropped on the wire (see `Host::flush`).
            let _ = tx(src, dst, tos, offload, fill);
        });
    }

    fn poll_at(&self) -> Option<Instant> {
        Tcp::poll_at(self)
    }

    fn has_output(&self) -> bool {
        Tcp::has_output(self)
    }
}

#[cfg(test)]
#[path = "host_tests.rs"]
mod tests;
