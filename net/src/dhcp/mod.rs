//! The DHCP client (RFC 2131): a sans-I/O state machine over UDP payloads that acquires, renews
//! and rebinds one IPv4 lease for one Ethernet interface.
//!
//! Owns the client's states (INIT, SELECTING, REQUESTING, BOUND, RENEWING, REBINDING), its
//! transaction ids, retransmission back-off and lease timers. It never touches a socket, a clock
//! or an interface: the caller feeds it received payloads and the current [`Instant`], sends
//! what [`DhcpClient::poll`] returns, and applies the [`DhcpEvent`]s it reports. It must never
//! panic on a reply's bytes; malformed and foreign replies are dropped and counted in
//! [`DhcpCounters`].
//!
//! Glue, in full:
//! ```text
//! on a UDP datagram to port 68:   client.receive(now, payload)
//! then, and whenever now >= client.poll_at():
//!     while let Some(out) = client.poll(now) {
//!         Transmit(t)            => udp send t.payload from t.src to t.dst
//!         Event(Configured(l))   => set l.address/l.prefix_len, default route via l.router,
//!                                   resolver servers l.dns_servers (replace any previous lease)
//!         Event(Deconfigured)    => remove the address and routes from the last Configured
//!     }
//! ```
//!
//! Not done: ARP probing of the offered address and DECLINE (RFC 2131 2.2), INIT-REBOOT, the
//! initial 1..10 s random wait of 4.4.1 (the first DISCOVER goes out at once), RFC 3396 long
//! options.

mod wire;
pub use wire::{
    parse_reply, ClientMessage, MessageType, ParseError, Reply, CLIENT_PORT, MAX_DNS_SERVERS,
    SERVER_PORT,
};

#[cfg(test)]
mod tests;

use alloc::vec::Vec;
use core::net::{Ipv4Addr, SocketAddrV4};

use crate::config::netmask_prefix_len;
use crate::rand::Rng;
use crate::time::{Duration, Instant};
use crate::wire::MacAddr;

/// RFC 2131 4.1: the first retransmission waits 4 s, doubling each time...
const BACKOFF_INITIAL: Duration = Duration::from_secs(4);
/// ... up to 64 s ...
const BACKOFF_MAX: Duration = Duration::from_secs(64);
/// ... each randomised by a uniform -1..+1 s.
const BACKOFF_JITTER_MS: u32 = 1_000;
/// REQUESTs sent in REQUESTING before giving up on the offer and starting over from INIT
/// (4 + 8 + 16 + 32 s, about a minute, as RFC 2131 4.4.1's "some number of retransmissions").
const MAX_REQUEST_TRANSMISSIONS: u32 = 4;
/// RFC 2131 4.4.5: in RENEWING and REBINDING, wait half the time remaining, but at least 60 s.
const RENEW_RETRANSMIT_MIN: Duration = Duration::from_secs(60);
/// Leases shorter than this are taken as this long: a hostile or broken server offering a
/// 0-second lease would otherwise keep us renewing in a tight loop.
const MIN_LEASE: Duration = Duration::from_secs(60);
/// After a NAK, wait this long before the new DISCOVER, so a server that NAKs every REQUEST
/// costs one exchange per second rather than a tight loop.
const NAK_RESTART_DELAY: Duration = Duration::from_secs(1);
/// Events not yet taken by `poll`: a receive reports at most one, an expiry one more.
const MAX_PENDING_EVENTS: usize = 2;

/// The client's state (RFC 2131 figure 5, without INIT-REBOOT/REBOOTING).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DhcpState {
    /// No lease; a DISCOVER goes out when the timer fires.
    Init,
    /// DISCOVER sent, waiting for an OFFER.
    Selecting,
    /// REQUEST for an offer sent (broadcast), waiting for ACK/NAK.
    Requesting,
    /// Lease held; waiting for T1.
    Bound,
    /// Past T1: REQUESTs unicast to the leasing server.
    Renewing,
    /// Past T2: REQUESTs broadcast to any server.
    Rebinding,
}

/// A lease: what the interface should be configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub address: Ipv4Addr,
    /// From option 1; the classful default (/8, /16, /24) when the server sent none.
    pub prefix_len: u8,
    /// The first router of option 3.
    pub router: Option<Ipv4Addr>,
    /// Option 6, at most [`MAX_DNS_SERVERS`].
    pub dns_servers: heapless::Vec<Ipv4Addr, MAX_DNS_SERVERS>,
    /// Option 54: the server that granted the lease (renewals are unicast to it).
    pub server_id: Ipv4Addr,
    /// Option 51, at least [`MIN_LEASE`]; 0xffffffff ("infinite") becomes ~136 years.
    pub lease_time: Duration,
    /// Renewal time, from `acquired` (option 58, default half the lease).
    pub t1: Duration,
    /// Rebinding time, from `acquired` (option 59, default 7/8 of the lease).
    pub t2: Duration,
    /// When the REQUEST that obtained the lease was first sent: the lease counts from here.
    pub acquired: Instant,
}

impl Lease {
    pub fn netmask(&self) -> Ipv4Addr {
        crate::config::prefix_netmask(self.prefix_len)
    }
    pub fn t1_at(&self) -> Instant {
        self.acquired + self.t1
    }
    pub fn t2_at(&self) -> Instant {
        self.acquired + self.t2
    }
    pub fn expires_at(&self) -> Instant {
        self.acquired + self.lease_time
    }
}

/// What the caller must apply to the interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhcpEvent {
    /// A lease was obtained, renewed or rebound. Replaces any previous lease (the address can
    /// differ after rebinding to another server).
    Configured(Lease),
    /// The lease is gone (expired, or NAKed while renewing/rebinding): remove the address and
    /// the routes. The client is back in INIT and will DISCOVER again by itself.
    Deconfigured,
}

/// A UDP datagram to send: `src` port 68 to `dst` port 67.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpTransmit {
    pub payload: Vec<u8>,
    /// `0.0.0.0:68` until bound, then the leased address.
    pub src: SocketAddrV4,
    /// `255.255.255.255:67` (link broadcast, no routing or ARP), or the leasing server while
    /// RENEWING (route it normally).
    pub dst: SocketAddrV4,
}

/// One thing for the caller to do, from [`DhcpClient::poll`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DhcpOutput {
    Transmit(DhcpTransmit),
    Event(DhcpEvent),
}

/// Counters, in the spirit of /proc/net/snmp.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DhcpCounters {
    /// Payloads handed to `receive`.
    pub in_messages: u64,
    /// Failed to parse (short, not BOOTREPLY, bad cookie, bad option, no message type).
    pub in_malformed: u64,
    /// Well-formed but not ours: xid or chaddr do not match the current transaction.
    pub in_foreign: u64,
    /// Ours, but not expected now: wrong type for the state, or from a server we did not pick.
    pub in_unexpected: u64,
    /// Ours and expected, but unusable: no server id, no lease time in an ACK, an address or
    /// mask that cannot be configured.
    pub in_invalid: u64,
    pub in_offers: u64,
    pub in_acks: u64,
    pub in_naks: u64,
    pub out_discovers: u64,
    pub out_requests: u64,
    /// Transmissions that were retransmissions of an unanswered message.
    pub retransmits: u64,
    /// REQUESTING gave up after [`MAX_REQUEST_TRANSMISSIONS`] and went back to INIT.
    pub request_timeouts: u64,
    /// Leases obtained from INIT (REQUESTING → BOUND).
    pub leases_acquired: u64,
    /// Leases extended by RENEWING or REBINDING.
    pub leases_renewed: u64,
    /// Leases that ran out.
    pub leases_expired: u64,
}

/// The DHCP client for one interface.
#[derive(Debug)]
pub struct DhcpClient {
    mac: MacAddr,
    rng: Rng,
    state: DhcpState,
    xid: u32,
    /// When the current exchange began: for `secs`, and as the start of the lease it obtains.
    started: Instant,
    /// Transmissions so far in the current state.
    attempts: u32,
    /// When the next transmission (or, in INIT, the DISCOVER) is due.
    next_tx: Instant,
    /// SELECTING's chosen offer: (address, server).
    offer: Option<(Ipv4Addr, Ipv4Addr)>,
    lease: Option<Lease>,
    events: heapless::Deque<DhcpEvent, MAX_PENDING_EVENTS>,
    counters: DhcpCounters,
}

/// Whether a server-supplied address can be configured on an interface.
fn usable_address(a: Ipv4Addr) -> bool {
    !(a.is_unspecified() || a.is_broadcast() || a.is_multicast() || a.is_loopback())
}

/// The pre-CIDR default prefix for an address (what Linux's ipconfig falls back to).
fn classful_prefix(a: Ipv4Addr) -> u8 {
    match a.octets()[0] {
        0..=127 => 8,
        128..=191 => 16,
        _ => 24,
    }
}

impl DhcpClient {
    /// A client for the interface with hardware address `mac`. The first DISCOVER is due at
    /// `now`.
    pub fn new(mac: MacAddr, rng_seed: u64, now: Instant) -> Self {
        DhcpClient {
            mac,
            rng: Rng::new(rng_seed),
            state: DhcpState::Init,
            xid: 0,
            started: now,
            attempts: 0,
            next_tx: now,
            offer: None,
            lease: None,
            events: heapless::Deque::new(),
            counters: DhcpCounters::default(),
        }
    }

    pub fn state(&self) -> DhcpState {
        self.state
    }

    /// The lease currently held (BOUND, RENEWING, REBINDING).
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_ref()
    }

    pub fn counters(&self) -> &DhcpCounters {
        &self.counters
    }

    /// When `poll` next has something to do (always `Some`: the client always has a timer; an
    /// instant in the past means "now").
    pub fn poll_at(&self) -> Option<Instant> {
        if !self.events.is_empty() {
            return Some(Instant::ZERO);
        }
        Some(match (&self.state, &self.lease) {
            (DhcpState::Bound, Some(l)) => l.t1_at(),
            (DhcpState::Renewing, Some(l)) => self.next_tx.min(l.t2_at()),
            (DhcpState::Rebinding, Some(l)) => self.next_tx.min(l.expires_at()),
            _ => self.next_tx,
        })
    }

    /// The next thing to do at `now`: a pending event first, then a due transmission. Call in
    /// a loop until `None`, after every `receive` and whenever `poll_at` is reached.
    pub fn poll(&mut self, now: Instant) -> Option<DhcpOutput> {
        if let Some(ev) = self.events.pop_front() {
            return Some(DhcpOutput::Event(ev));
        }
        self.check_lease_timers(now);
        if let Some(ev) = self.events.pop_front() {
            return Some(DhcpOutput::Event(ev));
        }
        if now < self.next_tx || matches!(self.state, DhcpState::Bound) {
            return None;
        }
        match self.state {
            DhcpState::Init => {
                self.begin_exchange(now, DhcpState::Selecting);
                self.offer = None;
                Some(self.transmit(now))
            }
            DhcpState::Requesting if self.attempts >= MAX_REQUEST_TRANSMISSIONS => {
                self.counters.request_timeouts += 1;
                self.restart(now, now);
                self.poll(now)
            }
            _ => Some(self.transmit(now)),
        }
    }

    /// Feed a UDP payload received on port 68.
    pub fn receive(&mut self, now: Instant, payload: &[u8]) {
        self.counters.in_messages += 1;
        let reply = match parse_reply(payload) {
            Ok(r) => r,
            Err(e) => {
                log::debug!("dhcp: malformed reply dropped: {e:?}");
                self.counters.in_malformed += 1;
                return;
            }
        };
        if reply.xid != self.xid || reply.chaddr != self.mac {
            self.counters.in_foreign += 1;
            return;
        }
        match (self.state, reply.message_type) {
            (DhcpState::Selecting, MessageType::Offer) => self.on_offer(now, &reply),
            (DhcpState::Requesting | DhcpState::Renewing | DhcpState::Rebinding, t) => match t {
                MessageType::Ack => self.on_ack(&reply),
                MessageType::Nak => self.on_nak(now, &reply),
                _ => self.counters.in_unexpected += 1,
            },
            _ => self.counters.in_unexpected += 1,
        }
    }

    fn on_offer(&mut self, now: Instant, r: &Reply) {
        self.counters.in_offers += 1;
        let Some(server) = r.server_id else {
            self.counters.in_invalid += 1;
            return;
        };
        if !usable_address(r.yiaddr) {
            self.counters.in_invalid += 1;
            return;
        }
        // Take the first acceptable offer; REQUEST it at once, keeping the xid (RFC 2131 4.4.1).
        self.offer = Some((r.yiaddr, server));
        self.state = DhcpState::Requesting;
        self.started = now;
        self.attempts = 0;
        self.next_tx = now;
    }

    /// The server this exchange must hear from, if any (REBINDING accepts any server).
    fn expected_server(&self) -> Option<Ipv4Addr> {
        match self.state {
            DhcpState::Requesting => self.offer.map(|(_, s)| s),
            DhcpState::Renewing => self.lease.as_ref().map(|l| l.server_id),
            _ => None,
        }
    }

    fn on_ack(&mut self, r: &Reply) {
        self.counters.in_acks += 1;
        let Some(server_id) = r.server_id else {
            self.counters.in_invalid += 1;
            return;
        };
        if self.expected_server().is_some_and(|s| s != server_id) {
            self.counters.in_unexpected += 1;
            return;
        }
        let Some(lease) = self.lease_from(r, server_id) else {
            self.counters.in_invalid += 1;
            return;
        };
        if self.state == DhcpState::Requesting {
            self.counters.leases_acquired += 1;
        } else {
            self.counters.leases_renewed += 1;
        }
        log::info!(
            "dhcp: bound to {}/{} from {}",
            lease.address,
            lease.prefix_len,
            server_id
        );
        self.state = DhcpState::Bound;
        self.offer = None;
        self.lease = Some(lease.clone());
        self.push_event(DhcpEvent::Configured(lease));
    }

    fn lease_from(&self, r: &Reply, server_id: Ipv4Addr) -> Option<Lease> {
        if !usable_address(r.yiaddr) {
            return None;
        }
        let prefix_len = match r.subnet_mask {
            Some(m) => netmask_prefix_len(m).filter(|&p| (1..=30).contains(&p))?,
            None => classful_prefix(r.yiaddr),
        };
        // RFC 2131 4.3.1: an ACK to a REQUEST carries the lease time.
        let lease_time = Duration::from_secs(u64::from(r.lease_time?)).max(MIN_LEASE);
        let t2 =
            r.t2.map(|s| Duration::from_secs(u64::from(s)))
                .filter(|&t| t <= lease_time)
                .unwrap_or(lease_time * 7 / 8);
        let t1 =
            r.t1.map(|s| Duration::from_secs(u64::from(s)))
                .filter(|&t| t <= t2)
                .unwrap_or((lease_time / 2).min(t2));
        Some(Lease {
            address: r.yiaddr,
            prefix_len,
            router: r.router.filter(|&a| usable_address(a)),
            dns_servers: r.dns_servers.clone(),
            server_id,
            lease_time,
            t1,
            t2,
            acquired: self.started,
        })
    }

    fn on_nak(&mut self, now: Instant, r: &Reply) {
        self.counters.in_naks += 1;
        if let (Some(want), Some(got)) = (self.expected_server(), r.server_id) {
            if want != got {
                self.counters.in_unexpected += 1;
                return;
            }
        }
        log::info!("dhcp: NAK in {:?}, restarting", self.state);
        self.restart(now, now + NAK_RESTART_DELAY);
    }

    /// Lease timers: T1 → RENEWING, T2 → REBINDING, expiry → INIT (and Deconfigured).
    fn check_lease_timers(&mut self, now: Instant) {
        let Some(lease) = &self.lease else { return };
        let (t1, t2, end) = (lease.t1_at(), lease.t2_at(), lease.expires_at());
        if now >= end {
            log::info!("dhcp: lease on {} expired", lease.address);
            self.counters.leases_expired += 1;
            self.restart(now, now);
        } else if now >= t2 && self.state != DhcpState::Rebinding {
            self.begin_exchange(now, DhcpState::Rebinding);
        } else if now >= t1 && self.state == DhcpState::Bound {
            self.begin_exchange(now, DhcpState::Renewing);
        }
    }

    /// Back to INIT, dropping any lease (and reporting it gone); DISCOVER at `discover_at`.
    fn restart(&mut self, now: Instant, discover_at: Instant) {
        if self.lease.take().is_some() {
            self.push_event(DhcpEvent::Deconfigured);
        }
        self.state = DhcpState::Init;
        self.offer = None;
        self.attempts = 0;
        self.started = now;
        self.next_tx = discover_at;
    }

    /// Start a new transaction (fresh xid) in `state`, transmitting at once.
    fn begin_exchange(&mut self, now: Instant, state: DhcpState) {
        self.state = state;
        self.xid = self.rng.next_u32();
        self.started = now;
        self.attempts = 0;
        self.next_tx = now;
    }

    fn push_event(&mut self, ev: DhcpEvent) {
        if self.events.is_full() {
            self.events.pop_front();
        }
        let _ = self.events.push_back(ev);
    }

    /// Delay before retransmitting in SELECTING/REQUESTING after `attempts` transmissions.
    fn backoff(&mut self) -> Duration {
        let shift = self.attempts.saturating_sub(1).min(4);
        let base = (BACKOFF_INITIAL * (1u32 << shift)).min(BACKOFF_MAX);
        let jitter_ms = self.rng.below(2 * BACKOFF_JITTER_MS + 1);
        (base + Duration::from_millis(u64::from(jitter_ms)))
            .saturating_sub(Duration::from_millis(u64::from(BACKOFF_JITTER_MS)))
    }

    /// Build the message for the current state and arm the retransmission timer.
    fn transmit(&mut self, now: Instant) -> DhcpOutput {
        if self.attempts > 0 {
            self.counters.retransmits += 1;
        }
        self.attempts += 1;
        let leased = self.lease.as_ref().map(|l| (l.address, l.server_id));
        let mut msg = ClientMessage {
            message_type: MessageType::Request,
            xid: self.xid,
            secs: wire::secs_field(now.saturating_since(self.started)),
            broadcast: true,
            ciaddr: Ipv4Addr::UNSPECIFIED,
            chaddr: self.mac,
            requested_ip: None,
            server_id: None,
        };
        let mut src = Ipv4Addr::UNSPECIFIED;
        let mut dst = Ipv4Addr::BROADCAST;
        match (self.state, leased) {
            (DhcpState::Selecting, _) => {
                msg.message_type = MessageType::Discover;
                self.counters.out_discovers += 1;
                self.next_tx = now + self.backoff();
            }
            (DhcpState::Requesting, _) => {
                if let Some((addr, server)) = self.offer {
                    msg.requested_ip = Some(addr);
                    msg.server_id = Some(server);
                }
                self.counters.out_requests += 1;
                self.next_tx = now + self.backoff();
            }
            (DhcpState::Renewing | DhcpState::Rebinding, Some((addr, server))) => {
                // RFC 2131 4.3.2 / 4.4.5: ciaddr set, no options 50/54, no broadcast bit.
                msg.ciaddr = addr;
                msg.broadcast = false;
                src = addr;
                if self.state == DhcpState::Renewing {
                    dst = server;
                }
                self.counters.out_requests += 1;
                self.next_tx = now + self.renew_wait(now);
            }
            _ => {}
        }
        DhcpOutput::Transmit(DhcpTransmit {
            payload: msg.emit(),
            src: SocketAddrV4::new(src, CLIENT_PORT),
            dst: SocketAddrV4::new(dst, SERVER_PORT),
        })
    }

    /// RFC 2131 4.4.5: half the time left until T2 (RENEWING) or expiry (REBINDING), at least
    /// 60 s. The T2 and expiry timers still fire on time if this overshoots them.
    fn renew_wait(&self, now: Instant) -> Duration {
        let until = match (&self.lease, self.state) {
            (Some(l), DhcpState::Renewing) => l.t2_at(),
            (Some(l), _) => l.expires_at(),
            (None, _) => now,
        };
        (until.saturating_since(now) / 2).max(RENEW_RETRANSMIT_MIN)
    }
}
