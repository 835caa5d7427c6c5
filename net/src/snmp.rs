//! Counters for every layer, in the spirit of Linux's /proc/net/snmp: each drop and each
//! recovery increments a named counter so a test (or the console) can tell why a packet
//! vanished.
//!
//! Owns the counter structs and their text rendering. It never decides what to count; the
//! protocol modules increment the fields. Names follow /proc/net/snmp where Linux has one;
//! rinet's finer drop reasons (Linux folds them into InHdrErrors) are listed under `IpExt`-style
//! extra lines with a `Rinet` prefix.

use core::fmt::Write;

macro_rules! counters {
    ($(#[$m:meta])* $name:ident, $prefix:literal { $($field:ident => $label:literal,)* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $name {
            $(pub $field: u64,)*
        }

        impl $name {
            /// The /proc/net/snmp line prefix, e.g. `Ip`.
            pub const PREFIX: &'static str = $prefix;

            /// Every counter as (name, value), in rendering order.
            pub fn entries(&self) -> impl Iterator<Item = (&'static str, u64)> {
                [$(($label, self.$field),)*].into_iter()
            }

            /// Two lines, header then values, like one /proc/net/snmp section.
            pub fn render(&self, out: &mut impl Write) -> core::fmt::Result {
                write!(out, "{}:", $prefix)?;
                for (n, _) in self.entries() {
                    write!(out, " {}", n)?;
                }
                write!(out, "\n{}:", $prefix)?;
                for (_, v) in self.entries() {
                    write!(out, " {}", v)?;
                }
                writeln!(out)
            }
        }
    };
}

counters! {
    /// IPv4 (RFC 4293 ipSystemStats, as /proc/net/snmp's `Ip:` line).
    IpStats, "Ip" {
        in_receives => "InReceives",
        in_hdr_errors => "InHdrErrors",
        in_addr_errors => "InAddrErrors",
        in_unknown_protos => "InUnknownProtos",
        in_discards => "InDiscards",
        in_delivers => "InDelivers",
        out_requests => "OutRequests",
        out_discards => "OutDiscards",
        out_no_routes => "OutNoRoutes",
        reasm_timeout => "ReasmTimeout",
        reasm_reqds => "ReasmReqds",
        reasm_oks => "ReasmOKs",
        reasm_fails => "ReasmFails",
        frag_oks => "FragOKs",
        frag_fails => "FragFails",
        frag_creates => "FragCreates",
        in_truncated_pkts => "InTruncatedPkts",
        in_csum_errors => "InCsumErrors",
        in_bcast_pkts => "InBcastPkts",
        out_bcast_pkts => "OutBcastPkts",
    }
}

counters! {
    /// Why IPv4 headers and fragments were dropped, finer than `IpStats` (each also counts
    /// in InHdrErrors / ReasmFails there).
    IpDropStats, "RinetIp" {
        bad_version => "BadVersion",
        bad_ihl => "BadIhl",
        ihl_beyond_total_len => "IhlBeyondTotalLen",
        bad_options => "BadOptions",
        ttl_zero => "TtlZero",
        bad_src_addr => "BadSrcAddr",
        reasm_overlaps => "ReasmOverlaps",
        reasm_duplicates => "ReasmDuplicates",
        reasm_oversize => "ReasmOversize",
        reasm_evictions => "ReasmEvictions",
        reasm_bad_frag_len => "ReasmBadFragLen",
        tx_device_errors => "TxDeviceErrors",
    }
}

counters! {
    /// ICMP (/proc/net/snmp's `Icmp:` line).
    IcmpStats, "Icmp" {
        in_msgs => "InMsgs",
        in_errors => "InErrors",
        in_csum_errors => "InCsumErrors",
        in_dest_unreachs => "InDestUnreachs",
        in_time_excds => "InTimeExcds",
        in_parm_probs => "InParmProbs",
        in_echos => "InEchos",
        in_echo_reps => "InEchoReps",
        out_msgs => "OutMsgs",
        out_errors => "OutErrors",
        out_rate_limited => "OutRateLimited",
        out_dest_unreachs => "OutDestUnreachs",
        out_time_excds => "OutTimeExcds",
        out_echos => "OutEchos",
        out_echo_reps => "OutEchoReps",
        in_echo_reps_dropped => "InEchoRepsDropped",
    }
}

counters! {
    /// UDP (/proc/net/snmp's `Udp:` line).
    UdpStats, "Udp" {
        in_datagrams => "InDatagrams",
        no_ports => "NoPorts",
        in_errors => "InErrors",
        out_datagrams => "OutDatagrams",
        rcvbuf_errors => "RcvbufErrors",
        sndbuf_errors => "SndbufErrors",
        in_csum_errors => "InCsumErrors",
        mem_errors => "MemErrors",
    }
}

counters! {
    /// ARP and the neighbour table (Linux keeps these in /proc/net/stat/arp_cache).
    ArpStats, "Arp" {
        in_packets => "InPackets",
        in_requests => "InRequests",
        in_replies => "InReplies",
        in_runts => "InRunts",
        in_bad_lengths => "InBadLengths",
        in_unsupported => "InUnsupported",
        in_bad_sender => "InBadSender",
        out_requests => "OutRequests",
        out_replies => "OutReplies",
        out_gratuitous => "OutGratuitous",
        requests_rate_limited => "RequestsRateLimited",
        resolve_failures => "ResolveFailures",
        queue_drops => "QueueDrops",
        table_evictions => "TableEvictions",
        table_full => "TableFull",
    }
}

counters! {
    /// Ethernet-level drops before any protocol saw the frame, and transmit offload work.
    LinkStats, "Link" {
        in_runts => "InRunts",
        in_unknown_ethertype => "InUnknownEthertype",
        in_other_host => "InOtherHost",
        out_tso_frames => "OutTsoFrames",
        out_gso_software => "OutGsoSoftware",
        out_csum_software => "OutCsumSoftware",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    #[test]
    fn renders_like_proc_net_snmp() {
        let u = UdpStats {
            in_datagrams: 3,
            no_ports: 1,
            ..Default::default()
        };
        let mut s = String::new();
        u.render(&mut s).unwrap();
        let mut lines = s.lines();
        assert!(lines
            .next()
            .unwrap()
            .starts_with("Udp: InDatagrams NoPorts InErrors"));
        assert!(lines.next().unwrap().starts_with("Udp: 3 1 0"));
    }
}
