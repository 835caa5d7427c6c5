//! ICMP errors for TCP (RFC 5927, RFC 1122 §4.2.3.9): which connection a quoted header
//! names, whether to believe it, and what it does.
//!
//! Owns the reaction to ICMP only; parsing the ICMP message itself is the ICMP module's job,
//! which hands over the error kind and the quoted IP header plus 8 bytes. Soft errors never
//! kill a connection; hard errors abort only a connection attempt (SYN-SENT).

use core::net::{Ipv4Addr, SocketAddrV4};

use super::seq::Seq;
use super::tcb::{Owner, MIN_MSS};
use super::{ConnKey, Sock, State, Tcp};
use crate::errno::Errno;
use crate::time::Instant;

/// The ICMP errors TCP reacts to (types 3, 4, 11, 12).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IcmpError {
    NetUnreachable,
    HostUnreachable,
    ProtocolUnreachable,
    PortUnreachable,
    /// Fragmentation needed and DF set, with the next-hop MTU (RFC 1191).
    FragmentationNeeded {
        mtu: u16,
    },
    SourceRouteFailed,
    NetUnknown,
    HostUnknown,
    /// Communication administratively prohibited (codes 9, 10, 13).
    AdminProhibited,
    TimeExceeded,
    ParameterProblem,
    /// Deprecated (RFC 6633): ignored.
    SourceQuench,
}

impl IcmpError {
    /// The errno Linux reports for it.
    pub fn errno(self) -> Errno {
        use IcmpError::*;
        match self {
            NetUnreachable | NetUnknown => Errno::ENETUNREACH,
            HostUnreachable | AdminProhibited | TimeExceeded => Errno::EHOSTUNREACH,
            ProtocolUnreachable => Errno::ENOPROTOOPT,
            PortUnreachable => Errno::ECONNREFUSED,
            FragmentationNeeded { .. } => Errno::EMSGSIZE,
            SourceRouteFailed => Errno::EOPNOTSUPP,
            HostUnknown => Errno::EHOSTDOWN,
            ParameterProblem => Errno::EINVAL,
            SourceQuench => Errno::EAGAIN,
        }
    }

    /// Hard errors (RFC 1122 §4.2.3.9, Linux's `icmp_err_convert` fatal flag).
    pub fn is_hard(self) -> bool {
        use IcmpError::*;
        matches!(
            self,
            ProtocolUnreachable | PortUnreachable | NetUnknown | HostUnknown | AdminProhibited
        )
    }
}

impl Tcp {
    /// An ICMP error quoting one of our segments: `quoted` is the quoted IPv4 header and at
    /// least the first 8 bytes of the TCP header. Unbelievable quotes (unknown connection,
    /// sequence number outside SND.UNA..SND.MAX) are ignored and counted.
    pub fn icmp_error(&mut self, now: Instant, kind: IcmpError, quoted: &[u8]) {
        self.last_now = self.last_now.max(now);
        let Some((local, remote, seq)) = parse_quote(quoted) else {
            self.cx.stats.icmp_ignored += 1;
            return;
        };
        let Some(idx) = self.conns.get(ConnKey::new(local, remote)) else {
            self.cx.stats.icmp_ignored += 1;
            return;
        };
        let Some(Sock::Conn(tcb)) = self.slots.get_mut(idx).and_then(|s| s.sock.as_mut()) else {
            return;
        };
        // RFC 5927 §4.1: the quoted sequence number must be in flight.
        let in_flight = seq >= tcb.snd_una && seq <= tcb.snd_max;
        if !in_flight || kind == IcmpError::SourceQuench {
            self.cx.stats.icmp_ignored += 1;
            return;
        }
        self.cx.stats.icmp_errors += 1;
        let mut learned = None;
        match kind {
            IcmpError::FragmentationNeeded { mtu } => {
                if mtu >= super::pmtu::MIN_PMTU {
                    let mss = u32::from(mtu.saturating_sub(40).max(MIN_MSS));
                    if mss < tcb.mss {
                        tcb.mss = mss;
                        // Resend what was in flight in smaller segments.
                        tcb.snd_nxt = tcb.snd_una;
                    }
                    learned = Some((*tcb.remote.ip(), mtu));
                }
            }
            _ if kind.is_hard() && tcb.state == State::SynSent => {
                tcb.fail(&mut self.cx.stats, kind.errno());
            }
            _ if kind.is_hard()
                && tcb.state == State::SynReceived
                && matches!(tcb.owner, Owner::Listener(_)) =>
            {
                tcb.set_state(&mut self.cx.stats, State::Closed);
            }
            _ => {
                tcb.soft_error = Some(kind.errno());
                tcb.wake = true;
            }
        }
        if let Some((dst, mtu)) = learned {
            self.pmtu.learn(now, dst, mtu);
        }
        self.after(idx);
    }
}

/// (our address, their address, quoted sequence number) from an IPv4 header + 8 bytes.
fn parse_quote(q: &[u8]) -> Option<(SocketAddrV4, SocketAddrV4, Seq)> {
    let first = *q.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 || q.len() < ihl + 8 || q[9] != crate::wire::tcp::PROTOCOL {
        return None;
    }
    let src = Ipv4Addr::new(q[12], q[13], q[14], q[15]);
    let dst = Ipv4Addr::new(q[16], q[17], q[18], q[19]);
    let t = &q[ihl..ihl + 8];
    let sport = u16::from_be_bytes([t[0], t[1]]);
    let dport = u16::from_be_bytes([t[2], t[3]]);
    let seq = u32::from_be_bytes([t[4], t[5], t[6], t[7]]);
    Some((
        SocketAddrV4::new(src, sport),
        SocketAddrV4::new(dst, dport),
        Seq(seq),
    ))
}
