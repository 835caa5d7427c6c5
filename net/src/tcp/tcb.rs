//! The transmission control block: everything TCP remembers about one connection (RFC 9293
//! §3.3.1), its buffers, its per-socket options, and the small helpers shared by the input,
//! output and timer code.
//!
//! Owns per-connection state only. It never touches the connection table, listeners, or other
//! connections (that is `tcp::Tcp`); segment processing lives in `input.rs`, transmission in
//! `output.rs`, timers in `timer.rs`.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::net::SocketAddrV4;

use super::congestion::{CongestionControl, CongestionFactory};
use super::recv_queue::RecvQueue;
use super::seq::Seq;
use super::{Counters, Shared, State, TcpConfig};
use crate::errno::Errno;
use crate::time::{Duration, Instant};
use crate::wire::tcp::MAX_WSCALE;

/// Segments of receive window a new connection advertises before data arrives (Linux
/// starts at twice its initial congestion window, 20 segments: 29,200 bytes at MSS 1460).
pub const INITIAL_RCV_WINDOW_SEGMENTS: u32 = 20;
/// ... and at most this many bytes, whatever the MSS (Linux's first window over loopback,
/// with its 64 KiB MSS, is 65,495 bytes): an idle loopback connection does not promise a
/// whole socket buffer.
pub const INITIAL_RCV_WINDOW_MAX: u32 = 65535;

/// Memory charged per out-of-order queue entry on top of its bytes, so that a flood of 1-byte
/// segments cannot pin more memory than the receive buffer allows.
pub const OOO_ENTRY_OVERHEAD: usize = 64;
/// Highest duplicate-ACK threshold reordering may raise it to (Linux caps its reordering
/// metric at 300 with SACK; without SACK a long wait for dupacks costs timeouts instead).
pub const MAX_DUPTHRESH: u32 = 16;
/// Smallest MSS accepted from a peer or a caller (RFC 9293 §3.7.1: 536 is the default; Linux
/// clamps the lower bound to 88 bytes of payload, we keep a sane floor).
pub const MIN_MSS: u16 = 88;
/// Smallest buffer a caller may set (Linux's SOCK_MIN_SNDBUF/RCVBUF are in this range).
pub const MIN_BUFFER: usize = 2048;
/// Largest buffer a caller may set: 16 MiB bounds one connection's memory.
pub const MAX_BUFFER: usize = 16 << 20;
/// Write boundaries remembered in the send queue (PSH and MSG_EOR). Each `send` adds at most
/// one; beyond the bound the newest boundary replaces the previous one, so the tail of the
/// queue always carries its push (an application doing thousands of tiny writes into a full
/// window loses only intermediate PSH flags, which are advisory).
pub const MAX_PUSH_MARKS: usize = 256;

/// Longest TCP_LINGER2 (Linux's TCP_FIN_TIMEOUT_MAX, 120 s); larger values are clamped.
pub const MAX_LINGER2: Duration = Duration::from_secs(120);

/// TCP_LINGER2: how long a connection the application closed may wait in FIN-WAIT-2 for the
/// peer's FIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linger2 {
    /// The host's `TcpConfig::fin_timeout` (option value 0, the default).
    Host,
    /// Not at all: reset the connection when it would enter FIN-WAIT-2 orphaned (a
    /// negative option value).
    Abort,
    /// This long (at most [`MAX_LINGER2`]).
    After(Duration),
}

impl Linger2 {
    /// The setting for a TCP_LINGER2 value in seconds, as Linux reads it (man 7 tcp): below
    /// 0 abort, 0 the host default, above 120 s clamped to 120 s.
    pub fn from_secs(v: i32) -> Linger2 {
        match v {
            ..=-1 => Linger2::Abort,
            0 => Linger2::Host,
            v => Linger2::After(Duration::from_secs(v as u64).min(MAX_LINGER2)),
        }
    }
    /// What getsockopt(TCP_LINGER2) reports, as Linux: -1 for abort, else the timeout in
    /// force in seconds (the host's when none was set).
    pub fn as_secs(self, c: &TcpConfig) -> i32 {
        match self {
            Linger2::Abort => -1,
            Linger2::Host => c.fin_timeout.as_secs().min(i32::MAX as u64) as i32,
            Linger2::After(d) => d.as_secs() as i32,
        }
    }
}

/// Who holds a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    /// The application holds a handle.
    User,
    /// A passive child not yet accepted: in its listener's SYN or accept queue.
    Listener(usize),
    /// The application closed its handle; TCP finishes the connection alone.
    Orphan,
}

/// Per-socket options (setsockopt), inherited by children from their listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockOpts {
    /// TCP_NODELAY: disable Nagle.
    pub nodelay: bool,
    /// TCP_CORK: only full-sized segments leave until it is cleared (the FIN and the
    /// persist timer still flush the tail).
    pub cork: bool,
    /// SO_KEEPALIVE.
    pub keepalive: bool,
    /// TCP_KEEPIDLE.
    pub keepalive_idle: Duration,
    /// TCP_KEEPINTVL.
    pub keepalive_interval: Duration,
    /// TCP_KEEPCNT.
    pub keepalive_count: u32,
    /// TCP_USER_TIMEOUT: how long transmitted data may stay unacknowledged.
    pub user_timeout: Option<Duration>,
    /// SO_SNDBUF in bytes: what the send queue may hold now (autotuning grows it).
    pub send_buffer: usize,
    /// SO_RCVBUF in bytes: unread bytes plus the window may not exceed it (autotuning grows
    /// it).
    pub recv_buffer: usize,
    /// SO_SNDBUF was set explicitly: the send buffer is not autotuned (Linux's
    /// SOCK_SNDBUF_LOCK).
    pub send_buffer_locked: bool,
    /// SO_RCVBUF was set explicitly: the receive buffer is not autotuned and the window
    /// scale follows it (Linux's SOCK_RCVBUF_LOCK).
    pub recv_buffer_locked: bool,
    /// The MTU of the path, giving our MSS (MTU − 40).
    pub mtu: u16,
    /// TCP_MAXSEG: a cap on the MSS we announce and send with.
    pub user_mss: Option<u16>,
    /// A path MTU learned towards the peer (RFC 1191, `pmtu`): caps what we send, not the
    /// MSS we announce (that is about what we can receive; Linux announces the device's).
    pub path_mtu: Option<u16>,
    /// TCP_NOTSENT_LOWAT: most bytes written but not yet sent that a write may add to; 0
    /// (the default) takes the host default, which is no limit beyond the send buffer
    /// (Linux's sysctl default, `u32::MAX`).
    pub notsent_lowat: u32,
    /// TCP_LINGER2: the orphan FIN-WAIT-2 timeout.
    pub linger2: Linger2,
    /// TCP_CONGESTION: the algorithm's name, `None` for the host's
    /// [`TcpConfig::congestion`].
    pub congestion: Option<&'static str>,
    /// IP_TOS: the TOS/DSCP byte of every segment's IPv4 header (ECN bits clear: TCP owns
    /// them, as Linux strips them from a stream socket's IP_TOS).
    pub tos: u8,
}

impl SockOpts {
    pub fn from_config(c: &TcpConfig) -> Self {
        SockOpts {
            nodelay: false,
            cork: false,
            keepalive: false,
            keepalive_idle: c.keepalive_idle,
            keepalive_interval: c.keepalive_interval,
            keepalive_count: c.keepalive_count,
            user_timeout: None,
            send_buffer: c.send_buffer,
            recv_buffer: c.recv_buffer,
            send_buffer_locked: false,
            recv_buffer_locked: false,
            mtu: c.default_mtu,
            user_mss: None,
            path_mtu: None,
            notsent_lowat: 0,
            linger2: Linger2::Host,
            congestion: None,
            tos: 0,
        }
    }
    /// The factory for this socket's congestion controller.
    pub fn congestion_factory(&self, c: &TcpConfig) -> CongestionFactory {
        self.congestion
            .and_then(super::congestion::by_name)
            .unwrap_or(c.congestion)
    }
    /// The TCP_NOTSENT_LOWAT limit in force, `None` for none.
    pub fn notsent_limit(&self) -> Option<usize> {
        match self.notsent_lowat {
            0 | u32::MAX => None,
            n => Some(n as usize),
        }
    }
    /// The largest this socket's receive buffer may become: the buffer as set when SO_RCVBUF
    /// locked it (or autotuning is off host-wide), else autotuning's ceiling.
    pub fn recv_buffer_ceiling(&self, c: &TcpConfig) -> usize {
        if self.recv_buffer_locked || !c.moderate_rcvbuf {
            self.recv_buffer
        } else {
            self.recv_buffer.max(c.recv_buffer_max.min(MAX_BUFFER))
        }
    }
    /// The largest this socket's send buffer may become (see
    /// [`recv_buffer_ceiling`](Self::recv_buffer_ceiling)).
    pub fn send_buffer_ceiling(&self, c: &TcpConfig) -> usize {
        if self.send_buffer_locked {
            self.send_buffer
        } else {
            self.send_buffer.max(c.send_buffer_max.min(MAX_BUFFER))
        }
    }
    /// The window scale to offer on a SYN: the smallest shift that lets the window reach the
    /// receive buffer's ceiling (so a buffer that grows later can still be advertised; Linux
    /// sizes it from `tcp_rmem[2]` too, or from the locked SO_RCVBUF).
    pub fn rcv_wscale(&self, c: &TcpConfig) -> u8 {
        let ceiling = self.recv_buffer_ceiling(c);
        let mut shift = 0;
        while shift < MAX_WSCALE && (ceiling >> shift) > 0xffff {
            shift += 1;
        }
        shift
    }
    /// The MSS we announce: from the interface's MTU and TCP_MAXSEG.
    pub fn mss(&self) -> u16 {
        let path = self.mtu.saturating_sub(40);
        self.user_mss.map_or(path, |u| path.min(u)).max(MIN_MSS)
    }

    /// The largest segment we send before the peer's MSS is known: [`Self::mss`], lowered by
    /// a path MTU learned towards the peer.
    pub fn send_mss(&self) -> u16 {
        let m = self.mss();
        self.path_mtu
            .map_or(m, |p| m.min(p.saturating_sub(40)))
            .max(MIN_MSS)
    }
}

/// One connection.
#[derive(Debug)]
pub(crate) struct Tcb {
    pub state: State,
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
    pub owner: Owner,
    pub opts: SockOpts,
    /// Whether the connection ever reached a synchronized state (for ENOTCONN vs EPIPE).
    pub was_connected: bool,

    // Send sequence space.
    pub iss: Seq,
    pub snd_una: Seq,
    pub snd_nxt: Seq,
    /// Highest sequence number sent (snd_nxt goes back on a retransmission timeout).
    pub snd_max: Seq,
    pub snd_wnd: u32,
    pub max_snd_wnd: u32,
    pub snd_wl1: Seq,
    pub snd_wl2: Seq,
    /// Unacknowledged and unsent data; `snd_buf[0]` has sequence number `snd_buf_seq`.
    pub snd_buf: VecDeque<u8>,
    pub snd_buf_seq: Seq,
    /// The application shut down writing: a FIN follows the queued data.
    pub fin_queued: bool,
    /// Ends of the application's writes still in the send queue, ascending: (sequence number
    /// just past the write, whether it ended a record with MSG_EOR). A segment that carries a
    /// write's last byte gets PSH (RFC 9293 §3.9.1, as Linux marks the tail of each
    /// sendmsg); no segment extends past the end of a record.
    pub push_marks: VecDeque<(Seq, bool)>,
    /// End of the last new-data segment sent with PSH (Linux's `pushed_seq`), for the forced
    /// push once more than half the peer's largest window went out without one.
    pub pushed_seq: Seq,
    /// Where the segment that last extended SND.MAX began: what a tail loss probe resends.
    pub tail_seg: Seq,
    /// The last write said MSG_MORE: the tail waits for more data like TCP_CORK.
    pub more_pending: bool,

    // Receive sequence space.
    pub irs: Seq,
    pub rcv_nxt: Seq,
    /// Right edge of the window we last advertised (never moves left).
    pub rcv_adv: Seq,
    /// In-order data not yet read by the application.
    pub rcv_buf: RecvQueue,
    /// Stream offset (bytes since the SYN) of `rcv_nxt`; the out-of-order queue is keyed by
    /// stream offsets so it needs no wrapping arithmetic.
    pub rcv_off: u64,
    /// Out-of-order data: non-overlapping runs keyed by stream offset.
    pub ooo: BTreeMap<u64, Vec<u8>>,
    /// Bytes plus per-entry overhead held in `ooo`; bounded by the receive buffer.
    pub ooo_mem: usize,
    /// Stream offset of a FIN that arrived out of order.
    pub ooo_fin: Option<u64>,
    /// Bytes charged for this block's queues against the host-wide TCP memory (`memory`).
    pub charged: usize,
    /// A write was refused for want of host-wide memory: wake the writer when it returns.
    pub mem_blocked: bool,
    pub fin_received: bool,
    pub rd_shutdown: bool,

    // Options negotiated on the SYN.
    pub mss: u32,
    /// Estimate of the peer's segment size, for delayed ACKs.
    pub rcv_mss: u32,
    /// The receiver's round-trip estimate and what the application reads per round trip,
    /// for receive-buffer autotuning (`autotune`).
    pub rcv_tuning: super::autotune::RcvTuning,
    /// Largest window we would advertise now (Linux's rcv_ssthresh): starts at
    /// `INITIAL_RCV_WINDOW_SEGMENTS` segments and grows by two segments per in-order
    /// segment received, up to the receive buffer.
    pub rcv_ssthresh: u32,
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    pub ws_ok: bool,
    pub ts_ok: bool,
    pub ts_recent: u32,
    pub ts_recent_at: Instant,
    pub ts_offset: u32,
    /// Our TSval at the last retransmission timeout: older echoes give no RTT sample.
    pub ts_last_rto: u32,
    pub last_ack_sent: Seq,
    /// Both sides offered SACK-permitted.
    pub sack_ok: bool,
    /// SACK scoreboard: ranges above SND.UNA the peer holds, sorted, disjoint.
    pub sacked: Vec<(Seq, Seq)>,
    /// RACK (RFC 8985): what is outstanding, when it left, what is lost.
    pub rack: super::rack::Rack,
    /// Stream offset of the most recent out-of-order arrival (the first SACK block).
    pub last_ooo: u64,
    /// A duplicate range to report as the first block of our next ACK (D-SACK, RFC 2883).
    pub dsack: Option<(Seq, Seq)>,
    /// The peer's SYN offered window scaling / timestamps (passive side).
    pub peer_ws: Option<u8>,
    pub peer_ts: bool,

    // Round-trip time (RFC 6298), in microseconds.
    pub srtt_us: Option<u64>,
    pub rttvar_us: u64,
    pub rto: Duration,
    pub backoff: u32,
    /// Karn timing of one segment: (end sequence, send time).
    pub rtt_timing: Option<(Seq, Instant)>,

    // Timers.
    pub rto_at: Option<Instant>,
    /// Tail loss probe deadline (RFC 8985 §7), armed after new data when SRTT is known.
    pub tlp_at: Option<Instant>,
    /// The probe outstanding (RFC 8985 TLP.end_seq and TLP.is_retrans): where it ended and
    /// whether it resent data. One probe per episode, until an ACK settles it (`tlp`).
    pub tlp_probe: Option<(Seq, bool)>,
    /// RACK's reordering timer (RFC 8985 §6.2 step 5).
    pub rack_at: Option<Instant>,
    /// The next output sends the probe.
    pub tlp_now: bool,
    pub persist_at: Option<Instant>,
    pub persist_backoff: u32,
    pub delack_at: Option<Instant>,
    /// TIME-WAIT expiry, or the FIN-WAIT-2 timeout of an orphan.
    pub timewait_at: Option<Instant>,
    /// TCP_DEFER_ACCEPT: an established child of a listener waits in its accept queue,
    /// unseen by `accept`, until data comes or this deadline passes.
    pub defer_until: Option<Instant>,
    /// The deferral deadline passed: the table makes the child acceptable and wakes its
    /// listener.
    pub defer_expired: bool,
    /// Retransmissions since forward progress.
    pub retries: u32,
    /// When the first of those retransmissions happened (TCP_USER_TIMEOUT).
    pub retrans_start: Option<Instant>,
    pub last_recv: Instant,
    /// When we last sent a segment occupying sequence space (restart after idle).
    pub last_send: Instant,
    pub ka_probes: u32,

    // Loss recovery.
    pub cc: Box<dyn CongestionControl>,
    /// TCP_INFO counters: segments in and out, retransmissions (segments, bytes), timeouts,
    /// and the lowest RTT sample (µs; `u64::MAX` before any).
    pub segs_in: u32,
    pub segs_out: u32,
    pub total_retrans: u32,
    pub bytes_retrans: u64,
    pub total_rto: u32,
    pub min_rtt_us: u64,
    /// HyStart++ for the initial slow start.
    pub hystart: super::hystart::HyStart,
    /// In the slow start that follows a retransmission timeout: the window grows by every
    /// byte an ACK cumulatively acknowledges (RFC 5681's N), SACKed before or not.
    pub rto_slow_start: bool,
    pub dupacks: u32,
    /// New-data bytes limited transmit (RFC 3042) sent beyond cwnd since the last cumulative
    /// ACK: not part of the FlightSize that sets ssthresh (RFC 5681 §3.2 step 2).
    pub limited_sent: u32,
    pub in_recovery: bool,
    /// Proportional Rate Reduction of the current SACK recovery (`prr`).
    pub prr: super::prr::Prr,
    pub recover: Seq,
    pub rexmit_head: bool,
    /// Duplicate ACKs that signal a loss: 3 (RFC 5681), raised when reordering made a fast
    /// retransmit spurious, up to [`MAX_DUPTHRESH`].
    pub dupthresh: u32,
    /// Our TSval when the current fast recovery began: an ACK echoing an older one shows the
    /// original arrived and the retransmission was spurious (RFC 3522).
    pub undo_ts: Option<u32>,

    // What the next output must do.
    pub ack_now: bool,
    /// Start of the current one-second challenge ACK budget, and what was spent of it.
    pub challenge_window: Instant,
    pub challenge_count: u32,
    /// When we last answered an unacceptable segment without data.
    pub last_oow_ack: Option<Instant>,
    pub unacked_bytes: u32,
    /// When in-order data last arrived (`None` before the first): quick-ACK and ping-pong
    /// decisions (delack.rs).
    pub last_data_rcv: Option<Instant>,
    /// ACKs still to send at once in the current quick-ACK period.
    pub quickacks: u32,
    /// Interactive exchange: our data answered the peer's within the delayed-ACK time, so
    /// ACKs wait to ride on the next reply instead of going out at once.
    pub pingpong: bool,
    pub probe_now: bool,
    pub force_send: bool,
    /// The persist timer is flushing held data into an open window: that segment carries PSH
    /// (Linux's window-probe send, `tcp_write_wakeup`, pushes).
    pub persist_push: bool,

    // Errors.
    pub error: Option<Errno>,
    pub soft_error: Option<Errno>,

    // Bookkeeping for the table.
    /// Send a RST when the table reaps this CLOSED block (keepalive timeout, abort).
    pub send_rst_on_close: bool,
    pub wake: bool,
    /// Already in the table's wake list.
    pub in_woken: bool,
    pub dirty: bool,
    /// The deadline under which the table's timer index holds this block.
    pub timer_key: Option<Instant>,
    /// That entry is in the TIME-WAIT queue (`tw_queue`), not the B-tree.
    pub timer_in_tw_queue: bool,
}

impl Tcb {
    /// A fresh block in `state` (SYN-SENT for an active open, SYN-RECEIVED for a child), with
    /// initial send sequence `iss` and TSval offset `ts_offset` (see `isn`).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cx: &Shared,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        opts: SockOpts,
        state: State,
        iss: u32,
        ts_offset: u32,
    ) -> Tcb {
        let iss = Seq(iss);
        let mss = u32::from(opts.send_mss());
        let rcv_wscale = opts.rcv_wscale(&cx.config);
        Tcb {
            state,
            local,
            remote,
            owner: Owner::User,
            opts,
            was_connected: false,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: Seq(0),
            snd_wl2: iss,
            snd_buf: VecDeque::new(),
            snd_buf_seq: iss + 1,
            fin_queued: false,
            push_marks: VecDeque::new(),
            pushed_seq: iss + 1,
            tail_seg: iss,
            more_pending: false,
            irs: Seq(0),
            rcv_nxt: Seq(0),
            rcv_adv: Seq(0),
            rcv_buf: RecvQueue::new(),
            rcv_off: 0,
            ooo: BTreeMap::new(),
            ooo_mem: 0,
            ooo_fin: None,
            charged: 0,
            mem_blocked: false,
            fin_received: false,
            rd_shutdown: false,
            mss,
            rcv_mss: mss,
            rcv_tuning: super::autotune::RcvTuning::new(now, mss),
            rcv_ssthresh: INITIAL_RCV_WINDOW_SEGMENTS
                .saturating_mul(mss)
                .min(INITIAL_RCV_WINDOW_MAX.max(mss)),
            snd_wscale: 0,
            rcv_wscale,
            ws_ok: false,
            ts_ok: false,
            ts_recent: 0,
            ts_recent_at: now,
            ts_offset,
            // "Before any timeout": no echo of ours can be older than our clock at creation
            // (0 would make every echo with the offset's top bit set look stale).
            ts_last_rto: (now.as_millis() as u32).wrapping_add(ts_offset),
            last_ack_sent: Seq(0),
            sack_ok: false,
            sacked: Vec::new(),
            rack: super::rack::Rack::new(iss),
            last_ooo: 0,
            dsack: None,
            peer_ws: None,
            peer_ts: false,
            srtt_us: None,
            rttvar_us: 0,
            rto: cx.config.rto_initial,
            backoff: 0,
            rtt_timing: None,
            rto_at: None,
            tlp_at: None,
            tlp_probe: None,
            rack_at: None,
            tlp_now: false,
            persist_at: None,
            persist_backoff: 0,
            delack_at: None,
            timewait_at: None,
            defer_until: None,
            defer_expired: false,
            retries: 0,
            retrans_start: None,
            last_recv: now,
            last_send: now,
            ka_probes: 0,
            cc: opts.congestion_factory(&cx.config)(cx.config.initial_window, mss),
            hystart: super::hystart::HyStart::new(cx.config.hystart),
            rto_slow_start: false,
            segs_in: 0,
            segs_out: 0,
            total_retrans: 0,
            bytes_retrans: 0,
            total_rto: 0,
            min_rtt_us: u64::MAX,
            dupacks: 0,
            limited_sent: 0,
            in_recovery: false,
            prr: super::prr::Prr::default(),
            recover: iss,
            rexmit_head: false,
            dupthresh: 3,
            undo_ts: None,
            ack_now: false,
            last_oow_ack: None,
            challenge_window: now,
            challenge_count: 0,
            unacked_bytes: 0,
            last_data_rcv: None,
            quickacks: 0,
            pingpong: false,
            probe_now: false,
            force_send: false,
            persist_push: false,
            error: None,
            soft_error: None,
            send_rst_on_close: false,
            wake: false,
            in_woken: false,
            dirty: false,
            timer_key: None,
            timer_in_tw_queue: false,
        }
    }

    /// Change state, keeping the RFC 4022 counters (CurrEstab, EstabResets, AttemptFails) in
    /// step, and wake the application.
    pub fn set_state(&mut self, stats: &mut Counters, new: State) {
        use State::*;
        let old = self.state;
        if old == new {
            return;
        }
        let est = |s: State| matches!(s, Established | CloseWait);
        if est(old) && !est(new) {
            stats.curr_estab = stats.curr_estab.saturating_sub(1);
            if new == Closed {
                stats.estab_resets += 1;
            }
        } else if !est(old) && est(new) {
            stats.curr_estab += 1;
        }
        if matches!(old, SynSent | SynReceived) && matches!(new, Closed) {
            stats.attempt_fails += 1;
        }
        if new.is_synchronized() {
            self.was_connected = true;
        }
        if new == Closed {
            self.rto_at = None;
            self.tlp_at = None;
            self.rack_at = None;
            self.persist_at = None;
            self.delack_at = None;
            self.timewait_at = None;
        }
        self.state = new;
        self.wake = true;
    }

    /// Close with `err` reported through SO_ERROR (reset, refused, timed out).
    pub fn fail(&mut self, stats: &mut Counters, err: Errno) {
        self.error = Some(err);
        self.set_state(stats, State::Closed);
    }

    /// How long this connection, orphaned, may wait in FIN-WAIT-2 (TCP_LINGER2, else the
    /// host's tcp_fin_timeout), at least 3.5 RTOs so that the peer's FIN, retransmitted,
    /// still finds it (Linux's `tcp_fin_time` keeps the same floor); `None`: reset at once.
    pub fn fin_wait2_timeout(&self, c: &TcpConfig) -> Option<Duration> {
        let t = match self.opts.linger2 {
            Linger2::Abort => return None,
            Linger2::Host => c.fin_timeout,
            Linger2::After(d) => d,
        };
        let rto = self.backed_off_rto(c);
        Some(t.max(rto.saturating_mul(3).saturating_add(rto / 2)))
    }

    /// This orphan just entered FIN-WAIT-2 (its FIN was acknowledged): wait for the peer's
    /// FIN until the TCP_LINGER2 timeout, or with TCP_LINGER2 < 0 reset at once (Linux
    /// resets too, counting TCPAbortOnData).
    pub(crate) fn orphan_enters_fin_wait2(&mut self, cx: &mut Shared, now: Instant) {
        match self.fin_wait2_timeout(&cx.config) {
            Some(t) => self.timewait_at = Some(now + t),
            None => {
                cx.stats.abort_on_data += 1;
                super::socket::reset(self, cx);
            }
        }
    }

    /// Sequence number of our FIN, once the application shut down writing.
    pub fn fin_seq(&self) -> Option<Seq> {
        if self.fin_queued {
            Some(self.data_end())
        } else {
            None
        }
    }
    /// Sequence number just past the queued data.
    pub fn data_end(&self) -> Seq {
        self.snd_buf_seq + self.snd_buf.len() as u32
    }
    /// Largest payload for our next segment: the MSS less the TCP options it will carry
    /// (RFC 6691: the MSS counts neither IP nor TCP options), so segments fit the MTU.
    pub fn send_mss(&self) -> u32 {
        let mut options = 0;
        if self.ts_ok {
            options += 12;
        }
        if self.sack_ok && (!self.ooo.is_empty() || self.dsack.is_some()) {
            // NOP NOP, kind, length and 3 blocks (4 without timestamps).
            options += if self.ts_ok { 28 } else { 36 };
        }
        self.mss.saturating_sub(options).max(32)
    }
    /// Bytes sent and not yet acknowledged.
    pub fn flight(&self) -> u32 {
        self.snd_max.since(self.snd_una)
    }
    /// Memory charged for this block's queues (see `memory`): the send queue's capacity, the
    /// receive queue's capacity or its promise (unread bytes plus the advertised window) if
    /// larger, and the out-of-order runs with their overhead.
    /// Once the peer's FIN is in, no data can arrive: the window promises nothing.
    pub fn footprint(&self) -> usize {
        let window = if self.fin_received {
            0
        } else {
            self.rcv_wnd() as usize
        };
        let promised = self.rcv_buf.len() + window;
        super::memory::TCB_COST
            + self.snd_buf.capacity()
            + self.rcv_buf.capacity().max(promised)
            + self.ooo_mem
    }
    /// What the receive side may always promise whatever the host-wide memory: the
    /// per-socket floor, or one of the peer's segments if larger (a smaller window would
    /// leave the sender waiting on its silly-window-syndrome timer).
    pub fn rcv_floor(&self) -> usize {
        super::memory::PER_SOCKET_FLOOR.max(self.rcv_mss as usize)
    }
    /// Give back buffer capacity far above what the queues hold (under memory pressure): an
    /// emptied queue frees its buffer, a mostly empty one shrinks to twice its contents.
    pub fn reclaim(&mut self) {
        fn trim(q: &mut VecDeque<u8>) {
            if q.is_empty() {
                if q.capacity() > 0 {
                    *q = VecDeque::new();
                }
            } else if q.capacity() > 4 * q.len().max(super::memory::PER_SOCKET_FLOOR) {
                q.shrink_to(2 * q.len());
            }
        }
        trim(&mut self.snd_buf);
        self.rcv_buf.reclaim(super::memory::PER_SOCKET_FLOOR);
        self.rack.reclaim();
    }
    /// Free space in the send buffer, bounded so that data left unsent once the windows are
    /// filled stays within TCP_NOTSENT_LOWAT.
    pub fn send_space(&self) -> usize {
        let free = self.opts.send_buffer.saturating_sub(self.snd_buf.len());
        let Some(lowat) = self.opts.notsent_limit() else {
            return free;
        };
        let edge = self.snd_una + self.snd_wnd.min(self.cc.cwnd());
        let sendable = if edge > self.snd_max {
            edge.since(self.snd_max) as usize
        } else {
            0
        };
        let room = (lowat + sendable).saturating_sub(self.notsent());
        free.min(room)
    }
    /// Bytes written by the application and never sent.
    pub fn notsent(&self) -> usize {
        let sent = self.snd_max.max(self.snd_buf_seq);
        if self.data_end() > sent {
            self.data_end().since(sent) as usize
        } else {
            0
        }
    }
    /// Free space in the receive buffer.
    pub fn recv_space(&self) -> usize {
        self.opts.recv_buffer.saturating_sub(self.rcv_buf.len())
    }
    /// The window we currently advertise (right edge minus RCV.NXT).
    pub fn rcv_wnd(&self) -> u32 {
        if self.rcv_adv > self.rcv_nxt {
            self.rcv_adv.since(self.rcv_nxt)
        } else {
            0
        }
    }
    /// Our timestamp clock: milliseconds plus a per-connection offset.
    pub fn ts_now(&self, now: Instant) -> u32 {
        (now.as_millis() as u32).wrapping_add(self.ts_offset)
    }
    /// The current retransmission timeout with exponential backoff applied.
    pub fn backed_off_rto(&self, cfg: &TcpConfig) -> Duration {
        let mut d = self.rto;
        for _ in 0..self.backoff.min(16) {
            d = d.saturating_mul(2);
            if d >= cfg.rto_max {
                return cfg.rto_max;
            }
        }
        d.min(cfg.rto_max)
    }

    /// RFC 6298 §2: fold one RTT measurement into SRTT/RTTVAR and recompute the RTO.
    pub fn rtt_sample(&mut self, cfg: &TcpConfig, r_us: u64) {
        let r = r_us.max(1);
        self.min_rtt_us = self.min_rtt_us.min(r);
        match self.srtt_us {
            None => {
                self.srtt_us = Some(r);
                self.rttvar_us = r / 2;
            }
            Some(srtt) => {
                let delta = srtt.abs_diff(r);
                self.rttvar_us = (3 * self.rttvar_us + delta) / 4;
                self.srtt_us = Some((7 * srtt + r) / 8);
            }
        }
        let srtt = self.srtt_us.unwrap_or(r);
        // G = 1 ms clock granularity.
        let rto_us = srtt + (4 * self.rttvar_us).max(1000);
        self.rto = Duration::from_micros(rto_us).clamp(cfg.rto_min, cfg.rto_max);
    }

    /// Earliest timer deadline of this connection.
    #[inline]
    pub fn next_deadline(&self) -> Option<Instant> {
        // Pairwise rather than through an iterator: this runs after every output.
        fn earlier(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
            match (a, b) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, None) => x,
                (None, y) => y,
            }
        }
        let t = earlier(
            earlier(earlier(self.rto_at, self.tlp_at), self.rack_at),
            earlier(self.persist_at, self.delack_at),
        );
        let t = earlier(t, self.defer_until);
        earlier(earlier(t, self.timewait_at), self.keepalive_at())
    }

    /// When the next keepalive probe (or the keepalive verdict) is due.
    pub fn keepalive_at(&self) -> Option<Instant> {
        if !self.opts.keepalive
            || !matches!(self.state, State::Established | State::CloseWait)
            || self.snd_max != self.snd_una
        {
            return None;
        }
        let wait = self
            .opts
            .keepalive_idle
            .saturating_add(self.opts.keepalive_interval.saturating_mul(self.ka_probes));
        Some(self.last_recv + wait)
    }

    /// Readable: data, end of stream, or an error to report.
    pub fn readable(&self) -> bool {
        !self.rcv_buf.is_empty()
            || self.fin_received
            || self.rd_shutdown
            || self.error.is_some()
            || (self.state == State::Closed && self.was_connected)
    }

    /// Writable: connected with room in the send buffer (at least half of what is queued,
    /// like Linux's stream write space), or writes would fail at once.
    pub fn writable(&self) -> bool {
        match self.state {
            State::Established | State::CloseWait if !self.fin_queued => {
                if self.mem_blocked {
                    return false;
                }
                let free = self.opts.send_buffer.saturating_sub(self.snd_buf.len());
                // With TCP_NOTSENT_LOWAT, writable once unsent data fell below half the
                // mark (Linux wakes writers at that point, so they write in large pieces).
                let lowat = self
                    .opts
                    .notsent_limit()
                    .is_none_or(|l| self.notsent().saturating_mul(2) < l);
                free > 0 && free * 2 >= self.snd_buf.len().min(self.opts.send_buffer) && lowat
            }
            State::SynSent | State::SynReceived => false,
            _ => true,
        }
    }
}
