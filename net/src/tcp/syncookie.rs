//! SYN cookies: when a listener's SYN queue is full, the SYN-ACK's sequence number carries
//! what the connection needs, and the listener keeps no state until a valid ACK returns.
//!
//! The cookie (our ISS) is `[counter mod 64: 6 bits][MSS index: 2 bits][hash: 24 bits]`, the
//! hash a SipHash-2-4 (isn.rs) under the host key of the 4-tuple, the peer's ISN, the full
//! coarse counter ([`COOKIE_PERIOD`]) and the MSS index. Window scale and SACK-permitted
//! survive only when the peer sent timestamps: they ride in the low [`TS_OPT_BITS`] bits of
//! our TSval and come back in the ACK's TSecr; without timestamps both are off.
//!
//! Owns cookie encoding and checking, and turning a valid cookie ACK into a child. It never
//! stores anything per SYN; every reply goes through the table's bounded stateless queue.

use alloc::vec::Vec;
use core::net::SocketAddrV4;

use super::input::Segment;
use super::isn;
use super::seq::Seq;
use super::tcb::{Owner, Tcb};
use super::{Shared, Sock, State, Tcp, MAX_PENDING_RSTS};
use crate::time::{Duration, Instant};
use crate::wire::tcp::{flags, TcpOptions, TcpRepr, MAX_WSCALE};

/// The MSS values a cookie can carry (Linux's IPv4 table): the largest not above the peer's.
pub const COOKIE_MSS: [u16; 4] = [536, 1300, 1440, 1460];
/// One tick of the cookie counter.
pub const COOKIE_PERIOD: Duration = Duration::from_secs(64);
/// A cookie is accepted during the period it was made in and the next one (64–128 s),
/// longer than any handshake's SYN-ACK round trip.
pub const COOKIE_MAX_AGE: u32 = 1;
/// Low TSval bits carrying the peer's options: window scale (4 bits, 15 = none) and
/// SACK-permitted (bit 4).
pub const TS_OPT_BITS: u32 = 5;
const WS_NONE: u32 = 0xf;
const SACK_BIT: u32 = 1 << 4;

fn counter(now: Instant) -> u32 {
    (now.as_millis() / (COOKIE_PERIOD.as_secs() * 1000)) as u32
}

fn hash24(
    key: &[u8; 16],
    local: SocketAddrV4,
    remote: SocketAddrV4,
    peer_isn: u32,
    count: u32,
    mss_idx: u32,
) -> u32 {
    let mut buf = [0u8; 22];
    buf[0] = 4; // purpose tag, distinct from isn.rs's
    buf[1..5].copy_from_slice(&local.ip().octets());
    buf[5..7].copy_from_slice(&local.port().to_be_bytes());
    buf[7..11].copy_from_slice(&remote.ip().octets());
    buf[11..13].copy_from_slice(&remote.port().to_be_bytes());
    buf[13..17].copy_from_slice(&peer_isn.to_be_bytes());
    buf[17..21].copy_from_slice(&count.to_be_bytes());
    buf[21] = mss_idx as u8;
    (isn::siphash24(key, &buf) as u32) & 0x00ff_ffff
}

/// The cookie ISS for a SYN with sequence number `peer_isn` and MSS option `peer_mss`.
pub fn make(
    key: &[u8; 16],
    now: Instant,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    peer_isn: u32,
    peer_mss: Option<u16>,
) -> u32 {
    let mss = peer_mss.unwrap_or(536);
    let idx = COOKIE_MSS.iter().rposition(|&m| m <= mss).unwrap_or(0) as u32;
    let count = counter(now);
    ((count & 0x3f) << 26) | (idx << 24) | hash24(key, local, remote, peer_isn, count, idx)
}

/// Check a cookie: `Some(mss)` when it is ours, for this 4-tuple and peer ISN, and young
/// enough.
pub fn check(
    key: &[u8; 16],
    now: Instant,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    peer_isn: u32,
    cookie: u32,
) -> Option<u16> {
    let now_count = counter(now);
    let low = cookie >> 26;
    // The most recent counter value not after now whose low 6 bits match.
    let age = now_count.wrapping_sub(low) & 0x3f;
    if age > COOKIE_MAX_AGE {
        return None;
    }
    let count = now_count.wrapping_sub(age);
    let idx = (cookie >> 24) & 0x3;
    (hash24(key, local, remote, peer_isn, count, idx) == cookie & 0x00ff_ffff)
        .then(|| COOKIE_MSS[idx as usize])
}

impl Tcp {
    /// Answer a SYN to a listener whose SYN queue is full with a cookie SYN-ACK.
    pub(crate) fn send_cookie(
        &mut self,
        lidx: usize,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        seg: &Segment,
    ) {
        let Some(Sock::Listener(l)) = self.slots.get_mut(lidx).and_then(|s| s.sock.as_mut()) else {
            return;
        };
        l.last_overflow = Some(now);
        if self.rsts.len() >= MAX_PENDING_RSTS {
            // The stateless queue is the rate limit: the client retries its SYN.
            self.cx.stats.listen_drops += 1;
            return;
        }
        let opts = l.opts;
        let cfg = &self.cx.config;
        let iss = make(&self.cx.key, now, local, remote, seg.seq.0, seg.opts.mss);
        let mut o = TcpOptions {
            mss: Some(opts.mss()),
            ..TcpOptions::default()
        };
        if let (Some((tsval, _)), true) = (seg.opts.timestamp, cfg.timestamps) {
            let ws = match seg.opts.wscale {
                Some(w) if cfg.window_scaling => {
                    o.wscale = Some(opts.rcv_wscale(cfg));
                    u32::from(w.min(MAX_WSCALE))
                }
                _ => WS_NONE,
            };
            let sack = if seg.opts.sack_permitted && cfg.sack_permitted {
                o.sack_permitted = true;
                SACK_BIT
            } else {
                0
            };
            // Below the child's clock, so its later TSvals never go backwards.
            let base = (now.as_millis() as u32)
                .wrapping_add(isn::ts_offset(&self.cx.key, local, remote))
                .wrapping_sub(1 << TS_OPT_BITS);
            o.timestamp = Some(((base & !((1 << TS_OPT_BITS) - 1)) | ws | sack, tsval));
        }
        let repr = TcpRepr {
            src_port: local.port(),
            dst_port: remote.port(),
            seq: iss,
            ack: (seg.seq + 1).0,
            flags: flags::SYN | flags::ACK,
            window: opts.recv_buffer.min(0xffff) as u16,
            options: o,
        };
        let mut buf = Vec::new();
        repr.emit(*local.ip(), *remote.ip(), [&[], &[]], &mut buf);
        self.cx.stats.syncookies_sent += 1;
        self.cx.stats.out_segs += 1;
        // A cookie SYN-ACK is the listener's: its IP_TOS, as Linux's SYN-ACK carries.
        let tos = opts.tos;
        self.rsts.push_back((*local.ip(), *remote.ip(), tos, buf));
    }

    /// The listener answered a SYN with a cookie recently enough for an ACK to carry one.
    pub(crate) fn cookies_recent(&self, lidx: usize, now: Instant) -> bool {
        match self.slots.get(lidx).and_then(|s| s.sock.as_ref()) {
            Some(Sock::Listener(l)) => l
                .last_overflow
                .is_some_and(|t| now.saturating_since(t) < COOKIE_PERIOD * (COOKIE_MAX_AGE + 1)),
            _ => false,
        }
    }

    /// An ACK to a listener in cookie mode: a valid cookie creates the connection (and the
    /// ACK is then processed by it, data included); anything else is dropped and counted.
    pub(crate) fn cookie_ack(
        &mut self,
        lidx: usize,
        now: Instant,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        seg: &Segment,
    ) {
        let Some(Sock::Listener(l)) = self.slots.get(lidx).and_then(|s| s.sock.as_ref()) else {
            return;
        };
        let opts = l.opts;
        let accept_full = l.accept_queue.len() >= l.backlog;
        let iss = seg.ack - 1;
        let irs = seg.seq - 1;
        let Some(mss) = check(&self.cx.key, now, local, remote, irs.0, iss.0) else {
            self.cx.stats.syncookies_failed += 1;
            return;
        };
        if !self.may_add_child(accept_full) {
            return;
        }
        let syn_opts = recovered_options(&self.cx, now, local, remote, seg, mss);
        self.cx.stats.syncookies_recv += 1;
        let mut tcb = Tcb::new(
            &self.cx,
            now,
            local,
            remote,
            opts,
            State::SynReceived,
            iss.0,
            isn::ts_offset(&self.cx.key, local, remote),
        );
        tcb.owner = Owner::Listener(lidx);
        tcb.irs = irs;
        tcb.rcv_nxt = seg.seq;
        // The window our cookie SYN-ACK advertised (never scaled on a SYN).
        tcb.rcv_adv = seg.seq + opts.recv_buffer.min(0xffff) as u32;
        tcb.snd_nxt = iss + 1;
        tcb.snd_max = iss + 1;
        tcb.snd_wl1 = irs;
        let syn = Segment {
            seq: irs,
            ack: Seq(0),
            flags: flags::SYN,
            window: seg.window,
            opts: syn_opts,
            payload: &[],
        };
        tcb.take_first_syn_options(&self.cx, &syn, now);
        let Some(idx) = self.file_child(tcb) else {
            return;
        };
        // The ACK completes the handshake through the ordinary SYN-RECEIVED path.
        self.conn_input(idx, now, seg);
        if self
            .conn(idx)
            .is_some_and(|t| t.state == State::SynReceived)
        {
            self.free_slot(idx);
        }
    }
}

/// The SYN options a cookie ACK lets us recover: the MSS from the cookie; window scale and
/// SACK-permitted from the TSecr's low bits when timestamps are in use (and the echo is one
/// of ours from the cookie's lifetime), otherwise none of them.
fn recovered_options(
    cx: &Shared,
    now: Instant,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    seg: &Segment,
    mss: u16,
) -> TcpOptions {
    let mut o = TcpOptions {
        mss: Some(mss),
        ..TcpOptions::default()
    };
    let Some((tsval, ecr)) = seg.opts.timestamp else {
        return o;
    };
    let ours = (now.as_millis() as u32).wrapping_add(isn::ts_offset(&cx.key, local, remote));
    let age_ms = ours.wrapping_sub(ecr);
    let max_ms = (COOKIE_PERIOD * (COOKIE_MAX_AGE + 1)).as_millis() as u32;
    if !cx.config.timestamps || age_ms > max_ms {
        return o;
    }
    o.timestamp = Some((tsval, ecr));
    let ws = ecr & WS_NONE;
    if ws != WS_NONE && cx.config.window_scaling {
        o.wscale = Some((ws as u8).min(MAX_WSCALE));
    }
    o.sack_permitted = ecr & SACK_BIT != 0 && cx.config.sack_permitted;
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    fn ends() -> (SocketAddrV4, SocketAddrV4) {
        (
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80),
            SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 40000),
        )
    }

    #[test]
    fn cookie_round_trip_age_and_tampering() {
        let (l, r) = ends();
        let k = [9u8; 16];
        let t = Instant::from_millis(1_000_000);
        let c = make(&k, t, l, r, 1234, Some(1460));
        assert_eq!(check(&k, t, l, r, 1234, c), Some(1460));
        // MSS rounds down to the table.
        let c2 = make(&k, t, l, r, 1234, Some(1400));
        assert_eq!(check(&k, t, l, r, 1234, c2), Some(1300));
        assert_eq!(
            check(&k, t, l, r, 1234, make(&k, t, l, r, 1234, None)),
            Some(536)
        );
        // Still valid one period later, not two.
        assert_eq!(check(&k, t + COOKIE_PERIOD, l, r, 1234, c), Some(1460));
        assert_eq!(check(&k, t + COOKIE_PERIOD * 2, l, r, 1234, c), None);
        // Another key, tuple, peer ISN or a flipped bit fails.
        assert_eq!(check(&[8; 16], t, l, r, 1234, c), None);
        assert_eq!(check(&k, t, r, l, 1234, c), None);
        assert_eq!(check(&k, t, l, r, 1235, c), None);
        for bit in 0..32 {
            assert_eq!(check(&k, t, l, r, 1234, c ^ (1 << bit)), None, "bit {bit}");
        }
    }
}
