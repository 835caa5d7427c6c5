//! The files of /proc/net: `snmp`, `netstat`, `dev`, `tcp`, `udp`, made from the stack's
//! counters and socket tables. The formats are `net::procnet`'s (host-tested); this module
//! only takes the snapshot, under the stack's lock (`net::sys` fills in the socket inodes).
//!
//! Owns nothing else. Without a network stack the files exist and show no sockets.

use alloc::vec::Vec;

use net::procnet::{self, SockLine};
use vfs::Errno;

use super::render;
use crate::netstack;

/// Lines of /proc/net/tcp or udp at most (a table can be large; Linux pages through it).
const MAX_SOCKET_LINES: usize = 4096;

/// A file of /proc/net.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetFile {
    Snmp,
    Netstat,
    Dev,
    Tcp,
    Udp,
    /// IPv6 tables: rinet has no IPv6 sockets, so headers only (tools such as `netstat`
    /// read them beside the IPv4 ones).
    Tcp6,
    Udp6,
}

impl NetFile {
    pub const ALL: [NetFile; 7] = [
        NetFile::Dev,
        NetFile::Netstat,
        NetFile::Snmp,
        NetFile::Tcp,
        NetFile::Tcp6,
        NetFile::Udp,
        NetFile::Udp6,
    ];

    pub fn name(self) -> &'static str {
        match self {
            NetFile::Snmp => "snmp",
            NetFile::Netstat => "netstat",
            NetFile::Dev => "dev",
            NetFile::Tcp => "tcp",
            NetFile::Udp => "udp",
            NetFile::Tcp6 => "tcp6",
            NetFile::Udp6 => "udp6",
        }
    }
}

/// The text of /proc/net/`f`.
pub fn text(f: NetFile) -> Result<Vec<u8>, Errno> {
    if matches!(f, NetFile::Tcp6 | NetFile::Udp6) {
        return empty(f);
    }
    let snapshot = netstack::with(|ns| {
        let host = &ns.host;
        let c = host.stack.counters();
        let tcp = host.tcp.counters();
        match f {
            NetFile::Snmp => render(|s| procnet::render_snmp(&c.ip, &c.icmp, &tcp, &c.udp, s)),
            NetFile::Netstat => render(|s| procnet::render_netstat(&c.ip, &tcp, s)),
            NetFile::Dev => {
                let rows = host.stack.dev_rows();
                let named: Vec<(&str, net::dev::DevStats)> =
                    rows.iter().map(|(n, s)| (n.as_str(), *s)).collect();
                render(|s| procnet::render_dev(&named, s))
            }
            NetFile::Tcp => {
                let lines = ns.proc_tcp_lines(MAX_SOCKET_LINES);
                render(|s| procnet::render_tcp(&lines, s))
            }
            NetFile::Udp => {
                let lines = ns.proc_udp_lines(MAX_SOCKET_LINES);
                render(|s| procnet::render_udp(&lines, s))
            }
            NetFile::Tcp6 | NetFile::Udp6 => empty(f),
        }
    });
    match snapshot {
        Ok(text) => text,
        // No stack (no network at all): the files show their headers only.
        Err(_) => empty(f),
    }
}

fn empty(f: NetFile) -> Result<Vec<u8>, Errno> {
    let none: [SockLine; 0] = [];
    match f {
        NetFile::Tcp => render(|s| procnet::render_tcp(&none, s)),
        NetFile::Udp => render(|s| procnet::render_udp(&none, s)),
        NetFile::Tcp6 => render(|s| procnet::render_empty_v6(false, s)),
        NetFile::Udp6 => render(|s| procnet::render_empty_v6(true, s)),
        NetFile::Dev => render(|s| procnet::render_dev(&[], s)),
        NetFile::Snmp => render(|s| {
            procnet::render_snmp(
                &Default::default(),
                &Default::default(),
                &Default::default(),
                &Default::default(),
                s,
            )
        }),
        NetFile::Netstat => {
            render(|s| procnet::render_netstat(&Default::default(), &Default::default(), s))
        }
    }
}
