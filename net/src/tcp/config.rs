//! Host-wide TCP settings (the sysctls) and the named bounds of the TCP table.
//!
//! Owns defaults only; nothing here acts on them.

use super::congestion::CongestionFactory;
use crate::time::Duration;

/// Default initial send buffer (SO_SNDBUF; autotuning grows it up to
/// [`DEFAULT_SEND_BUFFER_MAX`]): 512 KiB. It holds the unacknowledged data as well as
/// what waits to be sent, so it needs about twice the bandwidth-delay product for the writer
/// to refill it before the path drains: 2 × 250 KB for 20 ms × 100 Mbit/s (with 256 KiB that
/// path ran at ~70 % in the simulation).
pub const DEFAULT_SEND_BUFFER: usize = 512 * 1024;
/// Default initial receive buffer (SO_RCVBUF; autotuning grows it up to
/// [`DEFAULT_RECV_BUFFER_MAX`]): 256 KiB, one bandwidth-delay product of a 20 ms × 100 Mbit/s
/// path; it also bounds the out-of-order queue.
pub const DEFAULT_RECV_BUFFER: usize = 256 * 1024;
/// Largest receive buffer autotuning grows a connection's to (Linux's `tcp_rmem[2]`,
/// 6 MiB): the window a 100 ms path needs for ~60 MB/s. The window scale offered on the SYN
/// follows this ceiling (7 for 6 MiB), not the initial buffer, so the window can grow later.
pub const DEFAULT_RECV_BUFFER_MAX: usize = 6 * 1024 * 1024;
/// Largest send buffer autotuning grows a connection's to (Linux's `tcp_wmem[2]`, 4 MiB):
/// about twice the largest congestion window a 100 ms path at ~20 MB/s reaches.
pub const DEFAULT_SEND_BUFFER_MAX: usize = 4 * 1024 * 1024;
/// Default host-wide limit on what all TCP buffers together occupy (see `memory`): 64 MiB.
/// A host with less RAM sets `TcpConfig::memory_limit` from its own size (the kernel uses a
/// quarter of its RAM).
pub const DEFAULT_MEMORY_LIMIT: usize = 64 * 1024 * 1024;
/// Largest listen backlog (Linux's SOMAXCONN).
pub const SOMAXCONN: usize = 4096;
/// Most sockets (listeners + connections, TIME-WAIT included) one host keeps: bounds memory
/// against SYN floods and TIME-WAIT accumulation.
pub const MAX_SOCKETS: usize = 65536;
/// Most stateless replies (RSTs to stray segments, SYN-cookie SYN-ACKs) queued between two
/// `dispatch` calls; beyond it they are dropped, as a rate limit.
pub const MAX_PENDING_RSTS: usize = 256;
/// Ephemeral port range (Linux's ip_local_port_range default).
pub const EPHEMERAL_PORTS: core::ops::RangeInclusive<u16> = 32768..=60999;

/// Host-wide TCP settings (the sysctls).
#[derive(Debug, Clone)]
pub struct TcpConfig {
    /// Initial send buffer (SO_SNDBUF before autotuning grows it).
    pub send_buffer: usize,
    /// Initial receive buffer (SO_RCVBUF before autotuning grows it).
    pub recv_buffer: usize,
    /// Ceiling of receive-buffer autotuning (`tcp_rmem[2]`); also decides the window scale
    /// offered on SYNs. A socket with an explicit SO_RCVBUF is never tuned.
    pub recv_buffer_max: usize,
    /// Ceiling of send-buffer autotuning (`tcp_wmem[2]`). A socket with an explicit
    /// SO_SNDBUF is never tuned.
    pub send_buffer_max: usize,
    /// Grow receive buffers with what the application reads per round trip
    /// (`tcp_moderate_rcvbuf`, see `autotune`).
    pub moderate_rcvbuf: bool,
    /// Bytes all connections' send, receive and out-of-order queues may occupy together
    /// (Linux's tcp_mem); above half of it windows stay small, at it new data is refused.
    pub memory_limit: usize,
    /// MTU used for listeners' children and when a caller gives none.
    pub default_mtu: u16,
    /// 2·MSL.
    pub time_wait: Duration,
    /// How long an orphaned connection waits in FIN-WAIT-2 (tcp_fin_timeout).
    pub fin_timeout: Duration,
    pub syn_retries: u32,
    pub synack_retries: u32,
    /// tcp_retries2.
    pub data_retries: u32,
    pub rto_min: Duration,
    pub rto_initial: Duration,
    pub rto_max: Duration,
    pub delayed_ack: Duration,
    /// Initial congestion window in segments (RFC 6928).
    pub initial_window: u32,
    pub keepalive_idle: Duration,
    pub keepalive_interval: Duration,
    pub keepalive_count: u32,
    /// Challenge ACKs per second per connection (RFC 5961 §7). Per connection, not
    /// host-wide as RFC 5961 suggests: a shared counter is an off-path side channel that
    /// reveals whether a guessed 4-tuple exists (CVE-2016-5696).
    pub challenge_ack_limit: u32,
    pub window_scaling: bool,
    pub timestamps: bool,
    /// Offer SACK-permitted on SYNs and use SACK (RFC 2018) when the peer does too.
    pub sack_permitted: bool,
    /// Answer SYNs with SYN cookies when a listener's SYN queue is full (tcp_syncookies=1);
    /// off, such SYNs are dropped.
    pub syncookies: bool,
    /// Leave the initial slow start by HyStart++ (RFC 9406) when the RTT starts to rise.
    pub hystart: bool,
    /// Makes the congestion controller of each new socket (CUBIC by default; per socket with
    /// `Tcp::set_congestion`).
    pub congestion: CongestionFactory,
    /// TCP segmentation offload: new data leaves in super-segments of up to this many payload
    /// bytes (a multiple of the MSS) that the NIC cuts into MSS-sized segments
    /// (`dev::Capabilities::tso_max`); 0 (the default) = every segment at most one MSS. The
    /// stack cuts them in software for a device that cannot, so this is a hint, never a
    /// correctness matter. Capped at [`TSO_MAX_PAYLOAD`].
    pub tso_max: u32,
    /// Leave each segment's checksum partial for the NIC to complete
    /// (`dev::Capabilities::tx_checksum`; the stack completes it for a device that cannot).
    pub checksum_offload: bool,
}

/// Largest super-segment payload: an IPv4 packet of at most 65,535 bytes with 20 bytes of IP
/// header and up to 60 of TCP header.
pub const TSO_MAX_PAYLOAD: u32 = 65535 - 80;

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            send_buffer: DEFAULT_SEND_BUFFER,
            recv_buffer: DEFAULT_RECV_BUFFER,
            recv_buffer_max: DEFAULT_RECV_BUFFER_MAX,
            send_buffer_max: DEFAULT_SEND_BUFFER_MAX,
            moderate_rcvbuf: true,
            memory_limit: DEFAULT_MEMORY_LIMIT,
            default_mtu: 1500,
            time_wait: Duration::from_secs(60),
            fin_timeout: Duration::from_secs(60),
            syn_retries: 6,
            synack_retries: 5,
            data_retries: 15,
            rto_min: Duration::from_millis(200),
            rto_initial: Duration::from_secs(1),
            rto_max: Duration::from_secs(120),
            delayed_ack: Duration::from_millis(40),
            initial_window: 10,
            keepalive_idle: Duration::from_secs(7200),
            keepalive_interval: Duration::from_secs(75),
            keepalive_count: 9,
            challenge_ack_limit: 10,
            window_scaling: true,
            timestamps: true,
            sack_permitted: true,
            syncookies: true,
            tso_max: 0,
            checksum_offload: false,
            hystart: true,
            congestion: super::congestion::cubic,
        }
    }
}
