//! TCP counters in the spirit of /proc/net/snmp (`Tcp:`, RFC 4022 names) and
//! /proc/net/netstat (`TcpExt:`), and their text dump.
//!
//! Owns counting and formatting only; the protocol code increments the fields.

use core::fmt::{self, Write};

type Rows<const N: usize> = [(&'static str, u64); N];

/// Every reason a segment was dropped and every recovery action, by name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    // RFC 4022 / Linux `Tcp:`.
    pub active_opens: u64,
    pub passive_opens: u64,
    pub attempt_fails: u64,
    pub estab_resets: u64,
    pub curr_estab: u64,
    pub in_segs: u64,
    pub out_segs: u64,
    pub retrans_segs: u64,
    pub in_errs: u64,
    pub out_rsts: u64,
    pub in_csum_errors: u64,
    // Linux `TcpExt:`.
    pub listen_overflows: u64,
    pub listen_drops: u64,
    pub challenge_acks: u64,
    pub challenge_acks_suppressed: u64,
    pub malformed_options: u64,
    pub paws_rejected: u64,
    pub oow_acks_suppressed: u64,
    pub ofo_queued: u64,
    pub ofo_drops: u64,
    pub fast_retransmits: u64,
    pub spurious_recoveries: u64,
    pub lost_retransmits: u64,
    pub loss_probes: u64,
    pub timeouts: u64,
    pub timeouts_abort: u64,
    pub delayed_acks: u64,
    pub window_probes: u64,
    pub keepalive_probes: u64,
    pub keepalive_timeouts: u64,
    pub abort_on_close: u64,
    pub abort_on_data: u64,
    /// Orphans reset on close in FIN-WAIT-2 because TCP_LINGER2 was negative.
    pub abort_on_linger: u64,
    pub time_wait_reused: u64,
    /// In-order segments kept in the frame they arrived in instead of copied (`recv_queue`).
    pub rcv_adopted: u64,
    pub icmp_errors: u64,
    pub icmp_ignored: u64,
    pub no_port: u64,
    pub syncookies_sent: u64,
    pub syncookies_recv: u64,
    pub syncookies_failed: u64,
    pub dsack_old_sent: u64,
    pub dsack_ofo_sent: u64,
    pub dsack_recv: u64,
    /// Times host-wide TCP memory went above half its limit.
    pub memory_pressures: u64,
    /// Writes refused (`EAGAIN`) because TCP memory was at its limit.
    pub snd_mem_refused: u64,
    /// Connections not opened (SYN dropped, `connect` gave ENOBUFS): no memory for them.
    pub mem_refused_opens: u64,
    /// ACKs in SACK recovery whose sending allowance PRR set in proportion to the data
    /// delivered (pipe above ssthresh, RFC 6937), and by the slow-start reduction bound.
    pub prr_proportional: u64,
    pub prr_slow_start: u64,
    /// Segments RACK's time-based rule took as lost (RFC 8985 §6.2), and those the DupThresh
    /// rule did before any reordering was seen.
    pub rack_marks: u64,
    pub dupthresh_marks: u64,
    /// RACK's reordering timer expired.
    pub rack_timeouts: u64,
    /// Connections where a segment delivered below one delivered earlier showed reordering.
    pub rack_reordering: u64,
    /// Tail loss probes that repaired a loss (Linux's TCPLossProbeRecovery).
    pub tlp_recoveries: u64,
    /// Writes cut short or refused (`ENOMEM`) because the send buffer could not grow: the
    /// allocator had no room (a small machine), below the TCP memory limit.
    pub snd_alloc_failed: u64,
    /// In-order segments dropped, unacknowledged, because the receive queue could not grow
    /// (the allocator had no room); the peer sends them again.
    pub rcvq_drops: u64,
}

impl Counters {
    fn rows(&self) -> (Rows<15>, Rows<44>) {
        (
            [
                ("RtoAlgorithm", 1),
                ("RtoMin", 200),
                ("RtoMax", 120_000),
                ("MaxConn", u64::MAX),
                ("ActiveOpens", self.active_opens),
                ("PassiveOpens", self.passive_opens),
                ("AttemptFails", self.attempt_fails),
                ("EstabResets", self.estab_resets),
                ("CurrEstab", self.curr_estab),
                ("InSegs", self.in_segs),
                ("OutSegs", self.out_segs),
                ("RetransSegs", self.retrans_segs),
                ("InErrs", self.in_errs),
                ("OutRsts", self.out_rsts),
                ("InCsumErrors", self.in_csum_errors),
            ],
            [
                ("ListenOverflows", self.listen_overflows),
                ("ListenDrops", self.listen_drops),
                ("TCPChallengeACK", self.challenge_acks),
                ("TCPChallengeACKSuppressed", self.challenge_acks_suppressed),
                ("TCPMalformedOptions", self.malformed_options),
                ("PAWSEstab", self.paws_rejected),
                ("TCPACKSkippedSeq", self.oow_acks_suppressed),
                ("TCPOFOQueue", self.ofo_queued),
                ("TCPOFODrop", self.ofo_drops),
                ("TCPFastRetrans", self.fast_retransmits),
                ("TCPSpuriousRecoveries", self.spurious_recoveries),
                ("TCPLostRetransmit", self.lost_retransmits),
                ("TCPLossProbes", self.loss_probes),
                ("TCPTimeouts", self.timeouts),
                ("TCPAbortOnTimeout", self.timeouts_abort),
                ("DelayedACKs", self.delayed_acks),
                ("TCPWinProbe", self.window_probes),
                ("TCPKeepAlive", self.keepalive_probes),
                ("TCPKeepAliveTimeouts", self.keepalive_timeouts),
                ("TCPAbortOnClose", self.abort_on_close),
                ("TCPAbortOnData", self.abort_on_data),
                ("TCPAbortOnLinger", self.abort_on_linger),
                ("TWRecycled", self.time_wait_reused),
                ("RinetRcvAdopted", self.rcv_adopted),
                ("TCPIcmpErrors", self.icmp_errors),
                ("TCPIcmpIgnored", self.icmp_ignored),
                ("TCPNoPort", self.no_port),
                ("SyncookiesSent", self.syncookies_sent),
                ("SyncookiesRecv", self.syncookies_recv),
                ("SyncookiesFailed", self.syncookies_failed),
                ("TCPDSACKOldSent", self.dsack_old_sent),
                ("TCPDSACKOfoSent", self.dsack_ofo_sent),
                ("TCPDSACKRecv", self.dsack_recv),
                ("TCPMemoryPressures", self.memory_pressures),
                ("TCPSndMemRefused", self.snd_mem_refused),
                ("TCPMemRefusedOpens", self.mem_refused_opens),
                ("RinetPRRProportional", self.prr_proportional),
                ("RinetPRRSlowStart", self.prr_slow_start),
                ("RinetRACKMarkedLost", self.rack_marks),
                ("RinetDupThreshMarkedLost", self.dupthresh_marks),
                ("RinetRACKReoTimeouts", self.rack_timeouts),
                ("TCPSACKReorder", self.rack_reordering),
                ("TCPLossProbeRecovery", self.tlp_recoveries),
                ("TCPRcvQDrop", self.rcvq_drops),
            ],
        )
    }

    /// The `Tcp:` columns of /proc/net/snmp, in Linux's order (MaxConn as `u64::MAX`).
    pub fn snmp_rows(&self) -> [(&'static str, u64); 15] {
        self.rows().0
    }

    /// The `TcpExt:` columns of /proc/net/netstat.
    pub fn ext_rows(&self) -> [(&'static str, u64); 44] {
        self.rows().1
    }

    /// Write `Tcp:` and `TcpExt:` header/value line pairs, as /proc/net/snmp and netstat do.
    pub fn dump(&self, w: &mut impl Write) -> fmt::Result {
        let (tcp, ext) = self.rows();
        write_pair(w, "Tcp:", &tcp)?;
        write_pair(w, "TcpExt:", &ext)
    }
}

fn write_pair(w: &mut impl Write, tag: &str, rows: &[(&'static str, u64)]) -> fmt::Result {
    w.write_str(tag)?;
    for (name, _) in rows {
        write!(w, " {name}")?;
    }
    w.write_str("\n")?;
    w.write_str(tag)?;
    for (name, v) in rows {
        // MaxConn is -1 (dynamic) in Linux's table.
        if *name == "MaxConn" {
            w.write_str(" -1")?;
        } else {
            write!(w, " {v}")?;
        }
    }
    w.write_str("\n")
}
