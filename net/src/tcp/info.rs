//! TCP_INFO (Linux's `struct tcp_info`, tcp(7)): a connection's state, timers, windows and
//! loss counters as `ss -i` and packetdrill's `%{ }%` blocks read them, in Linux's binary
//! layout (280 bytes: fields, in order, at their natural alignment).
//!
//! Owns the snapshot and its encoding. Fields rinet does not track (pacing rate, busy and
//! limited times, delivery rate, ECN byte counters, rehash counts) are 0, as Linux reports
//! for features that are off.

use alloc::vec::Vec;

use super::tcb::Tcb;
use super::{State, TcpConfig};
use crate::time::Instant;

/// `tcpi_options` bits (linux/tcp.h).
pub const TCPI_OPT_TIMESTAMPS: u8 = 1;
pub const TCPI_OPT_SACK: u8 = 2;
pub const TCPI_OPT_WSCALE: u8 = 4;

/// `tcpi_ca_state` values (Linux's tcp_ca_state).
pub const TCP_CA_OPEN: u8 = 0;
pub const TCP_CA_DISORDER: u8 = 1;
pub const TCP_CA_RECOVERY: u8 = 3;
pub const TCP_CA_LOSS: u8 = 4;

/// Linux's "no threshold yet" ssthresh in TCP_INFO.
const INFINITE_SSTHRESH: u32 = 0x7fff_ffff;

/// Size of Linux's `struct tcp_info` (6.x) that [`TcpInfo::to_bytes`] writes.
pub const TCP_INFO_LEN: usize = 280;

/// One connection's TCP_INFO. Times in microseconds, counts of segments unless named bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpInfo {
    /// Linux's TCP_ESTABLISHED (1) .. TCP_CLOSING (11).
    pub state: u8,
    pub ca_state: u8,
    pub retransmits: u8,
    pub probes: u8,
    pub backoff: u8,
    pub options: u8,
    pub snd_wscale: u8,
    pub rcv_wscale: u8,
    pub rto: u32,
    pub ato: u32,
    pub snd_mss: u32,
    pub rcv_mss: u32,
    pub unacked: u32,
    pub sacked: u32,
    pub lost: u32,
    pub retrans: u32,
    /// Milliseconds since the last data sent / received / ACK received.
    pub last_data_sent: u32,
    pub last_data_recv: u32,
    pub last_ack_recv: u32,
    pub pmtu: u32,
    pub rcv_ssthresh: u32,
    pub rtt: u32,
    pub rttvar: u32,
    pub snd_ssthresh: u32,
    pub snd_cwnd: u32,
    pub advmss: u32,
    pub reordering: u32,
    /// The receiver's round-trip estimate in µs (`autotune`), 0 before one.
    pub rcv_rtt: u32,
    /// What the application read in the last measured round trip (Linux reports its
    /// `rcvq_space.space` here too).
    pub rcv_space: u32,
    pub total_retrans: u32,
    pub bytes_acked: u64,
    pub bytes_received: u64,
    pub segs_out: u32,
    pub segs_in: u32,
    pub notsent_bytes: u32,
    pub min_rtt: u32,
    pub delivered: u32,
    pub bytes_sent: u64,
    pub bytes_retrans: u64,
    pub snd_wnd: u32,
    pub rcv_wnd: u32,
    pub total_rto: u16,
}

/// Linux's state numbers (include/net/tcp_states.h).
pub fn linux_state(s: State) -> u8 {
    match s {
        State::Established => 1,
        State::SynSent => 2,
        State::SynReceived => 3,
        State::FinWait1 => 4,
        State::FinWait2 => 5,
        State::TimeWait => 6,
        State::Closed => 7,
        State::CloseWait => 8,
        State::LastAck => 9,
        State::Listen => 10,
        State::Closing => 11,
    }
}

impl TcpInfo {
    /// A listening socket: its state and nothing else.
    pub fn listener() -> TcpInfo {
        TcpInfo {
            state: linux_state(State::Listen),
            ..TcpInfo::default()
        }
    }

    /// The snapshot of `tcb` at `now`.
    pub(crate) fn of(tcb: &Tcb, now: Instant, cfg: &TcpConfig) -> TcpInfo {
        let us = |d: crate::time::Duration| d.as_micros().min(u128::from(u32::MAX)) as u32;
        let mss = tcb.mss.max(1);
        let segs = |bytes: u32| bytes.div_ceil(mss);
        let ms_since = |t: Instant| {
            now.saturating_since(t)
                .as_millis()
                .min(u128::from(u32::MAX)) as u32
        };
        let flight = tcb.flight();
        let sacked = tcb.sacked_bytes();
        let (lost, retrans) = if tcb.in_recovery && tcb.sack_ok {
            (segs(tcb.lost_bytes()), segs(tcb.rexmitted_in_flight()))
        } else if tcb.backoff > 0 {
            // After a timeout everything outstanding is taken as lost (Linux's Loss state).
            (segs(flight.saturating_sub(sacked)), 0)
        } else {
            (0, 0)
        };
        let ca_state = if tcb.backoff > 0 || tcb.rto_slow_start && tcb.snd_una < tcb.snd_max {
            TCP_CA_LOSS
        } else if tcb.in_recovery {
            TCP_CA_RECOVERY
        } else if tcb.dupacks > 0 || sacked > 0 {
            TCP_CA_DISORDER
        } else {
            TCP_CA_OPEN
        };
        let mut options = 0;
        if tcb.ts_ok {
            options |= TCPI_OPT_TIMESTAMPS;
        }
        if tcb.sack_ok {
            options |= TCPI_OPT_SACK;
        }
        if tcb.ws_ok {
            options |= TCPI_OPT_WSCALE;
        }
        let ssthresh = tcb.cc.ssthresh();
        let bytes_acked = tcb.snd_una.since(tcb.iss + 1);
        TcpInfo {
            state: linux_state(tcb.state),
            ca_state,
            retransmits: tcb.retries.min(255) as u8,
            probes: tcb.persist_backoff.min(255) as u8,
            backoff: tcb.backoff.min(255) as u8,
            options,
            snd_wscale: if tcb.ws_ok { tcb.snd_wscale } else { 0 },
            rcv_wscale: if tcb.ws_ok { tcb.rcv_wscale } else { 0 },
            rto: us(tcb.backed_off_rto(cfg)),
            ato: us(cfg.delayed_ack),
            snd_mss: tcb.send_mss(),
            rcv_mss: tcb.rcv_mss,
            unacked: segs(flight),
            sacked: segs(sacked),
            lost,
            retrans,
            last_data_sent: ms_since(tcb.last_send),
            last_data_recv: ms_since(tcb.last_recv),
            last_ack_recv: ms_since(tcb.last_recv),
            pmtu: tcb.mss + 40,
            rcv_ssthresh: tcb.rcv_ssthresh,
            rtt: tcb.srtt_us.unwrap_or(0).min(u64::from(u32::MAX)) as u32,
            rttvar: tcb.rttvar_us.min(u64::from(u32::MAX)) as u32,
            snd_ssthresh: if ssthresh >= INFINITE_SSTHRESH {
                INFINITE_SSTHRESH
            } else {
                ssthresh / mss
            },
            snd_cwnd: tcb.cc.cwnd() / mss,
            advmss: u32::from(tcb.opts.mss()),
            reordering: tcb.dupthresh,
            rcv_rtt: tcb.rcv_tuning.rtt_us.min(u64::from(u32::MAX)) as u32,
            rcv_space: tcb.rcv_tuning.space.min(u32::MAX as usize) as u32,
            total_retrans: tcb.total_retrans,
            bytes_acked: u64::from(bytes_acked),
            bytes_received: tcb.rcv_off,
            segs_out: tcb.segs_out,
            segs_in: tcb.segs_in,
            notsent_bytes: tcb.notsent().min(u32::MAX as usize) as u32,
            min_rtt: tcb.min_rtt_us.min(u64::from(u32::MAX)) as u32,
            delivered: segs(bytes_acked) + segs(sacked),
            bytes_sent: u64::from(tcb.snd_max.since(tcb.iss + 1)) + tcb.bytes_retrans,
            bytes_retrans: tcb.bytes_retrans,
            snd_wnd: tcb.snd_wnd,
            rcv_wnd: tcb.rcv_wnd(),
            total_rto: tcb.total_rto.min(u32::from(u16::MAX)) as u16,
        }
    }

    /// Linux's binary `struct tcp_info` (native byte order, [`TCP_INFO_LEN`] bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(TCP_INFO_LEN);
        b.extend_from_slice(&[
            self.state,
            self.ca_state,
            self.retransmits,
            self.probes,
            self.backoff,
            self.options,
            (self.snd_wscale & 0xf) | (self.rcv_wscale << 4),
            0, // delivery_rate_app_limited and friends
        ]);
        let u32s = |b: &mut Vec<u8>, v: &[u32]| {
            v.iter().for_each(|x| b.extend_from_slice(&x.to_ne_bytes()))
        };
        let u64s = |b: &mut Vec<u8>, v: &[u64]| {
            v.iter().for_each(|x| b.extend_from_slice(&x.to_ne_bytes()))
        };
        u32s(
            &mut b,
            &[
                self.rto,
                self.ato,
                self.snd_mss,
                self.rcv_mss,
                self.unacked,
                self.sacked,
                self.lost,
                self.retrans,
                0, // fackets
                self.last_data_sent,
                0, // last_ack_sent: not remembered (as in Linux)
                self.last_data_recv,
                self.last_ack_recv,
                self.pmtu,
                self.rcv_ssthresh,
                self.rtt,
                self.rttvar,
                self.snd_ssthresh,
                self.snd_cwnd,
                self.advmss,
                self.reordering,
                self.rcv_rtt,
                self.rcv_space,
                self.total_retrans,
            ],
        );
        u64s(&mut b, &[0, 0, self.bytes_acked, self.bytes_received]); // pacing rates first
        u32s(
            &mut b,
            &[
                self.segs_out,
                self.segs_in,
                self.notsent_bytes,
                self.min_rtt,
                0, // data_segs_in
                0, // data_segs_out
            ],
        );
        u64s(&mut b, &[0, 0, 0, 0]); // delivery_rate, busy, rwnd_limited, sndbuf_limited
        u32s(&mut b, &[self.delivered, 0]); // delivered_ce
        u64s(&mut b, &[self.bytes_sent, self.bytes_retrans]);
        u32s(
            &mut b,
            &[0, 0, 0, self.snd_wnd, self.rcv_wnd, 0], // dsack_dups, reord_seen, rcv_ooopack, .., rehash
        );
        b.extend_from_slice(&self.total_rto.to_ne_bytes());
        b.extend_from_slice(&0u16.to_ne_bytes()); // total_rto_recoveries
        u32s(&mut b, &[0; 9]); // total_rto_time, received_ce, AccECN counters, ecn bits
        b
    }
}
