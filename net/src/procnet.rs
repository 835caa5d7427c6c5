//! The text of Linux's /proc/net files that show this stack: `snmp`, `netstat`, `dev`, `tcp`
//! and `udp`, byte for byte in Linux's formats (proc(5); net/ipv4/proc.c, tcp_ipv4.c, udp.c,
//! net/core/net-procfs.c), so stock tools (`netstat`, `ss`, `nstat`, `ifconfig`) parse them.
//!
//! Owns only the formatting: the counters and the socket tables come from the protocol
//! modules as plain values ([`SockLine`], the counter structs). It never reads a clock or a
//! device. Fields rinet does not keep are 0, as Linux shows for a feature that is off.

use core::fmt::{self, Write};
use core::net::SocketAddrV4;

use crate::dev::DevStats;
use crate::snmp::{IcmpStats, IpStats, UdpStats};
use crate::tcp::Counters as TcpCounters;

/// Linux's `IPV4_DEVCONF_DFLT(FORWARDING)` as the `Forwarding` column shows it: 2 means "not
/// a router" (RFC 1213 ipForwarding).
const NOT_FORWARDING: u64 = 2;
/// The `DefaultTTL` column.
const DEFAULT_TTL: u64 = 64;
/// Width a /proc/net/tcp line is padded to (Linux's `TMPSZ - 1`).
const TCP_LINE_WIDTH: usize = 149;
/// Width a /proc/net/udp line is padded to.
const UDP_LINE_WIDTH: usize = 127;
/// Linux's `TCP_CLOSE` state number, what an unconnected UDP socket shows.
pub const STATE_CLOSE: u8 = 7;
/// Linux's `TCP_ESTABLISHED`, a connected UDP socket's state.
pub const STATE_ESTABLISHED: u8 = 1;

/// One socket as /proc/net/tcp or /proc/net/udp lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockLine {
    pub local: SocketAddrV4,
    pub remote: SocketAddrV4,
    /// Linux's state number (`TCP_ESTABLISHED` 1 .. `TCP_CLOSING` 11, `TCP_LISTEN` 10).
    pub state: u8,
    /// Bytes written and not acknowledged (TCP) or queued to send (UDP).
    pub tx_queue: usize,
    /// Bytes received and not read (for a listener: connections waiting for `accept`).
    pub rx_queue: usize,
    /// The socket's inode number (0 when no descriptor holds it).
    pub inode: u64,
}

/// An address as Linux prints it: the network-order `__be32` read as a little-endian `u32`,
/// so 127.0.0.1 is `0100007F`; the port in host order.
fn write_addr(out: &mut impl Write, a: SocketAddrV4) -> fmt::Result {
    let raw = u32::from_le_bytes(a.ip().octets());
    write!(out, "{raw:08X}:{:04X}", a.port())
}

/// A line padded with spaces to `width` characters, then a newline (Linux's `seq_pad`).
struct Padded<'a, W: Write> {
    out: &'a mut W,
    len: usize,
}

impl<W: Write> Write for Padded<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.len += s.len();
        self.out.write_str(s)
    }
}

impl<W: Write> Padded<'_, W> {
    fn end(self, width: usize) -> fmt::Result {
        for _ in self.len..width {
            self.out.write_char(' ')?;
        }
        self.out.write_char('\n')
    }
}

/// /proc/net/tcp: the header, then one line per socket.
pub fn render_tcp(lines: &[SockLine], out: &mut impl Write) -> fmt::Result {
    let mut h = Padded { out, len: 0 };
    h.write_str(
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode",
    )?;
    h.end(TCP_LINE_WIDTH)?;
    for (i, l) in lines.iter().enumerate() {
        let mut p = Padded { out, len: 0 };
        write!(p, "{i:4}: ")?;
        write_addr(&mut p, l.local)?;
        p.write_char(' ')?;
        write_addr(&mut p, l.remote)?;
        write!(
            p,
            " {:02X} {:08X}:{:08X} 00:00000000 00000000 {:5} {:8} {} 1 0000000000000000 100 0 0 10 0",
            l.state, l.tx_queue as u32, l.rx_queue as u32, 0, 0, l.inode
        )?;
        p.end(TCP_LINE_WIDTH)?;
    }
    Ok(())
}

/// /proc/net/tcp6 and /proc/net/udp6 as a stack without IPv6 sockets shows them: the
/// header alone (`udp` true for udp6's).
pub fn render_empty_v6(udp: bool, out: &mut impl Write) -> fmt::Result {
    writeln!(
        out,
        "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode{}",
        if udp { " ref pointer drops" } else { "" }
    )
}

/// /proc/net/udp: the header, then one line per socket.
pub fn render_udp(lines: &[SockLine], out: &mut impl Write) -> fmt::Result {
    let mut h = Padded { out, len: 0 };
    h.write_str(
        "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops",
    )?;
    h.end(UDP_LINE_WIDTH)?;
    for (i, l) in lines.iter().enumerate() {
        let mut p = Padded { out, len: 0 };
        write!(p, "{i:5}: ")?;
        write_addr(&mut p, l.local)?;
        p.write_char(' ')?;
        write_addr(&mut p, l.remote)?;
        write!(
            p,
            " {:02X} {:08X}:{:08X} 00:00000000 00000000 {:5} {:8} {} 2 0000000000000000 0",
            l.state, l.tx_queue as u32, l.rx_queue as u32, 0, 0, l.inode
        )?;
        p.end(UDP_LINE_WIDTH)?;
    }
    Ok(())
}

/// Writes a header line and a value line under one tag, as every /proc/net/snmp section.
fn write_section(out: &mut impl Write, tag: &str, rows: &[(&str, i128)]) -> fmt::Result {
    write!(out, "{tag}:")?;
    for (name, _) in rows {
        write!(out, " {name}")?;
    }
    write!(out, "\n{tag}:")?;
    for (_, v) in rows {
        write!(out, " {v}")?;
    }
    out.write_char('\n')
}

/// /proc/net/snmp: the `Ip:`, `Icmp:`, `Tcp:`, `Udp:` and `UdpLite:` sections with Linux's
/// columns in Linux's order.
pub fn render_snmp(
    ip: &IpStats,
    icmp: &IcmpStats,
    tcp: &TcpCounters,
    udp: &UdpStats,
    out: &mut impl Write,
) -> fmt::Result {
    let n = |v: u64| i128::from(v);
    write_section(
        out,
        "Ip",
        &[
            ("Forwarding", n(NOT_FORWARDING)),
            ("DefaultTTL", n(DEFAULT_TTL)),
            ("InReceives", n(ip.in_receives)),
            ("InHdrErrors", n(ip.in_hdr_errors)),
            ("InAddrErrors", n(ip.in_addr_errors)),
            ("ForwDatagrams", 0),
            ("InUnknownProtos", n(ip.in_unknown_protos)),
            ("InDiscards", n(ip.in_discards)),
            ("InDelivers", n(ip.in_delivers)),
            ("OutRequests", n(ip.out_requests)),
            ("OutDiscards", n(ip.out_discards)),
            ("OutNoRoutes", n(ip.out_no_routes)),
            ("ReasmTimeout", n(ip.reasm_timeout)),
            ("ReasmReqds", n(ip.reasm_reqds)),
            ("ReasmOKs", n(ip.reasm_oks)),
            ("ReasmFails", n(ip.reasm_fails)),
            ("FragOKs", n(ip.frag_oks)),
            ("FragFails", n(ip.frag_fails)),
            ("FragCreates", n(ip.frag_creates)),
            ("OutTransmits", n(ip.out_requests)),
        ],
    )?;
    write_section(
        out,
        "Icmp",
        &[
            ("InMsgs", n(icmp.in_msgs)),
            ("InErrors", n(icmp.in_errors)),
            ("InCsumErrors", n(icmp.in_csum_errors)),
            ("InDestUnreachs", n(icmp.in_dest_unreachs)),
            ("InTimeExcds", n(icmp.in_time_excds)),
            ("InParmProbs", n(icmp.in_parm_probs)),
            ("InSrcQuenchs", 0),
            ("InRedirects", 0),
            ("InEchos", n(icmp.in_echos)),
            ("InEchoReps", n(icmp.in_echo_reps)),
            ("InTimestamps", 0),
            ("InTimestampReps", 0),
            ("InAddrMasks", 0),
            ("InAddrMaskReps", 0),
            ("OutMsgs", n(icmp.out_msgs)),
            ("OutErrors", n(icmp.out_errors)),
            ("OutRateLimitGlobal", n(icmp.out_rate_limited)),
            ("OutRateLimitHost", 0),
            ("OutDestUnreachs", n(icmp.out_dest_unreachs)),
            ("OutTimeExcds", n(icmp.out_time_excds)),
            ("OutParmProbs", 0),
            ("OutSrcQuenchs", 0),
            ("OutRedirects", 0),
            ("OutEchos", n(icmp.out_echos)),
            ("OutEchoReps", n(icmp.out_echo_reps)),
            ("OutTimestamps", 0),
            ("OutTimestampReps", 0),
            ("OutAddrMasks", 0),
            ("OutAddrMaskReps", 0),
        ],
    )?;
    let mut tcp_rows = [("", 0i128); 15];
    for (slot, (name, v)) in tcp_rows.iter_mut().zip(tcp.snmp_rows()) {
        // MaxConn is -1 ("dynamic") in Linux's table.
        *slot = (name, if name == "MaxConn" { -1 } else { n(v) });
    }
    write_section(out, "Tcp", &tcp_rows)?;
    let udp_rows = |u: &UdpStats| {
        [
            ("InDatagrams", n(u.in_datagrams)),
            ("NoPorts", n(u.no_ports)),
            ("InErrors", n(u.in_errors)),
            ("OutDatagrams", n(u.out_datagrams)),
            ("RcvbufErrors", n(u.rcvbuf_errors)),
            ("SndbufErrors", n(u.sndbuf_errors)),
            ("InCsumErrors", n(u.in_csum_errors)),
            ("IgnoredMulti", 0),
            ("MemErrors", n(u.mem_errors)),
        ]
    };
    write_section(out, "Udp", &udp_rows(udp))?;
    write_section(out, "UdpLite", &udp_rows(&UdpStats::default()))
}

/// /proc/net/netstat: `TcpExt:` (Linux's names where Linux has the counter, `Rinet*` for
/// rinet's own) and `IpExt:`.
pub fn render_netstat(ip: &IpStats, tcp: &TcpCounters, out: &mut impl Write) -> fmt::Result {
    let ext = tcp.ext_rows();
    let mut rows = [("", 0i128); 64];
    let k = ext.len().min(rows.len());
    for (slot, (name, v)) in rows.iter_mut().zip(ext) {
        *slot = (name, i128::from(v));
    }
    write_section(out, "TcpExt", &rows[..k])?;
    let n = |v: u64| i128::from(v);
    write_section(
        out,
        "IpExt",
        &[
            ("InNoRoutes", 0),
            ("InTruncatedPkts", n(ip.in_truncated_pkts)),
            ("InMcastPkts", 0),
            ("OutMcastPkts", 0),
            ("InBcastPkts", n(ip.in_bcast_pkts)),
            ("OutBcastPkts", n(ip.out_bcast_pkts)),
            ("InOctets", 0),
            ("OutOctets", 0),
            ("InMcastOctets", 0),
            ("OutMcastOctets", 0),
            ("InBcastOctets", 0),
            ("OutBcastOctets", 0),
            ("InCsumErrors", n(ip.in_csum_errors)),
            ("InNoECTPkts", 0),
            ("InECT1Pkts", 0),
            ("InECT0Pkts", 0),
            ("InCEPkts", 0),
        ],
    )
}

/// /proc/net/dev: two header lines, then one line per interface `(name, counters)`.
pub fn render_dev(devices: &[(&str, DevStats)], out: &mut impl Write) -> fmt::Result {
    out.write_str(
        "Inter-|   Receive                                                |  Transmit\n",
    )?;
    out.write_str(
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n",
    )?;
    for (name, s) in devices {
        writeln!(
            out,
            "{name:>6}:{:8} {:7} {:4} {:4} {:4} {:5} {:10} {:9} {:8} {:7} {:4} {:4} {:4} {:5} {:7} {:10}",
            s.rx_bytes, s.rx_packets, 0, s.rx_dropped, 0, 0, 0, 0,
            s.tx_bytes, s.tx_packets, 0, s.tx_dropped, 0, 0, 0, 0
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;
    use core::net::Ipv4Addr;

    #[test]
    fn tcp_lines_use_linux_byte_order_and_width() {
        let listen = SockLine {
            local: SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 1), 3306),
            remote: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            state: 0x0A,
            tx_queue: 0,
            rx_queue: 2,
            inode: 1234,
        };
        let mut s = String::new();
        render_tcp(&[listen], &mut s).unwrap();
        let lines: alloc::vec::Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("  sl  local_address rem_address   st tx_queue"));
        assert_eq!(lines[0].len(), TCP_LINE_WIDTH);
        assert!(lines[1].starts_with(
            "   0: 0100007F:0CEA 00000000:0000 0A 00000000:00000002 00:00000000 00000000     0        0 1234 "
        ));
        assert_eq!(lines[1].len(), TCP_LINE_WIDTH);
    }

    #[test]
    fn udp_lines_are_padded_to_their_width() {
        let sock = SockLine {
            local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 2, 15), 68),
            remote: SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0),
            state: STATE_CLOSE,
            tx_queue: 0,
            rx_queue: 0,
            inode: 0,
        };
        let mut s = String::new();
        render_udp(&[sock], &mut s).unwrap();
        let line = s.lines().nth(1).unwrap();
        assert!(line.starts_with("    0: 0F02000A:0044 00000000:0000 07 "));
        assert_eq!(line.len(), UDP_LINE_WIDTH);
    }

    #[test]
    fn snmp_sections_have_as_many_values_as_names() {
        let tcp = TcpCounters {
            active_opens: 3,
            ..Default::default()
        };
        let mut s = String::new();
        render_snmp(
            &IpStats::default(),
            &IcmpStats::default(),
            &tcp,
            &UdpStats::default(),
            &mut s,
        )
        .unwrap();
        let lines: alloc::vec::Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 10);
        for pair in lines.chunks(2) {
            let tag = pair[0].split(' ').next().unwrap();
            assert_eq!(pair[1].split(' ').next().unwrap(), tag);
            assert_eq!(pair[0].split(' ').count(), pair[1].split(' ').count());
        }
        assert!(lines[0].starts_with("Ip: Forwarding DefaultTTL InReceives"));
        assert!(lines[1].starts_with("Ip: 2 64 0"));
        let names: alloc::vec::Vec<&str> = lines[4].split(' ').collect();
        let values: alloc::vec::Vec<&str> = lines[5].split(' ').collect();
        let at = names.iter().position(|&n| n == "ActiveOpens").unwrap();
        assert_eq!(values[at], "3");
        let at = names.iter().position(|&n| n == "MaxConn").unwrap();
        assert_eq!(values[at], "-1");
    }

    #[test]
    fn v6_tables_have_a_header_only() {
        let mut s = String::new();
        render_empty_v6(false, &mut s).unwrap();
        assert_eq!(s.lines().count(), 1);
        assert!(s.contains("remote_address"));
    }

    #[test]
    fn netstat_and_dev_render() {
        let mut s = String::new();
        render_netstat(&IpStats::default(), &TcpCounters::default(), &mut s).unwrap();
        assert!(s.starts_with("TcpExt: ListenOverflows"));
        assert!(s.contains("\nIpExt: InNoRoutes"));
        let mut d = String::new();
        let stats = DevStats {
            rx_bytes: 100,
            rx_packets: 2,
            ..Default::default()
        };
        render_dev(&[("lo", stats)], &mut d).unwrap();
        let line = d.lines().nth(2).unwrap();
        assert!(line.starts_with("    lo:     100       2    0    0"));
    }
}
