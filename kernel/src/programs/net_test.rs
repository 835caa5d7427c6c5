//! `init=net-test`: the inet module's end-to-end check in the guest, run in kernel mode on the
//! network runtime's `Host` directly. Exits 33 only if every check passes.
//!
//! Checks: the interface is configured (the static `ip=` address and gateway exactly, or a
//! DHCP lease with a router); the gateway is ARP-resolved and answers pings. Arguments after
//! `--`, in any order and repeatable:
//! - `resolve NAME EXPECTED_IP`: a DNS lookup through the configured server must return
//!   EXPECTED_IP among its addresses;
//! - `serve SECONDS`: stay up that long answering ARP and pings (host-side ping tests);
//! - `tcp-echo IP PORT BYTES`: connect to an echo server, send BYTES of a pattern, half-close,
//!   and read the echo back until the server closes: it must be byte-exact;
//! - `counters`: log every network counter at the end (they are logged at debug level anyway).
//!
//! Owns nothing; prints `rinet: net-test ok` before the success exit.

use alloc::format;
use alloc::string::String;
use core::net::{Ipv4Addr, SocketAddrV4};

use net::config::IpConfig;
use net::neigh::NeighState;
use net::tcp::Shutdown;
use net::{Duration, Errno};

use crate::{arch, cmdline, exit, marker, netstack, time};

/// Echo requests sent to the gateway; every one must be answered.
const PINGS: u16 = 3;
/// How long one echo reply may take (QEMU's TCG guest and slirp are slow, a LAN is not).
const PING_TIMEOUT: Duration = Duration::from_secs(3);
/// How long a DNS answer may take: the resolver's own attempts (1 + 2 + 4 s) end sooner.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a `tcp-echo` exchange may take in all (TCG and user networking move a few MB/s).
const TCP_ECHO_TIMEOUT: Duration = Duration::from_secs(60);

/// Run the checks and end QEMU with the verdict.
pub fn main(args: &[&str]) -> ! {
    let result = run(args);
    let counters = args.contains(&"counters");
    netstack::dump_counters(if counters {
        log::Level::Info
    } else {
        log::Level::Debug
    });
    match result {
        Ok(()) => {
            marker!("rinet: net-test ok");
            exit::success()
        }
        Err(e) => exit::failure(format_args!("net-test: {e}")),
    }
}

enum Action {
    Resolve(String, Ipv4Addr),
    Serve(u64),
    TcpEcho(SocketAddrV4, usize),
}

fn parse(args: &[&str]) -> Result<alloc::vec::Vec<Action>, String> {
    let usage = "usage: init=net-test [-- resolve NAME EXPECTED_IP | serve SECONDS | \
                 tcp-echo IP PORT BYTES | counters]...";
    let mut out = alloc::vec::Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match *a {
            "resolve" => {
                let (Some(name), Some(ip)) = (it.next(), it.next()) else {
                    return Err(usage.into());
                };
                let ip = ip
                    .parse()
                    .map_err(|_| format!("resolve: '{ip}' is not an IPv4 address; {usage}"))?;
                out.push(Action::Resolve(String::from(*name), ip));
            }
            "serve" => {
                let secs = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or_else(|| format!("serve needs a number of seconds; {usage}"))?;
                out.push(Action::Serve(secs));
            }
            "tcp-echo" => {
                let parsed = (it.next(), it.next(), it.next());
                let (Some(ip), Some(port), Some(len)) = parsed else {
                    return Err(usage.into());
                };
                let (Ok(ip), Ok(port), Ok(len)) = (ip.parse(), port.parse(), len.parse()) else {
                    return Err(format!("tcp-echo: bad IP, port or length; {usage}"));
                };
                out.push(Action::TcpEcho(SocketAddrV4::new(ip, port), len));
            }
            "counters" => {}
            other => return Err(format!("unknown argument '{other}'; {usage}")),
        }
    }
    Ok(out)
}

fn run(args: &[&str]) -> Result<(), String> {
    let actions = parse(args)?;
    let cfg = cmdline::boot_config().ok_or("no boot configuration")?;
    if !netstack::has_nic() {
        return Err("no NIC: boot with a network device (qemu-run.sh --net user)".into());
    }
    let addr = netstack::wait_ready(netstack::READY_TIMEOUT).map_err(|e| {
        format!(
            "interface not configured within {} s: {e}",
            netstack::READY_TIMEOUT.as_secs()
        )
    })?;
    let gateway = net_with(|ns| ns.host.gateway())?;
    log::info!(
        "net-test: address {}/{} gateway {gateway:?}",
        addr.addr,
        addr.prefix_len
    );
    match cfg.ip {
        IpConfig::Static(s) => {
            if (addr.addr, addr.prefix_len) != (s.address, s.prefix_len) || gateway != s.gateway {
                return Err(format!(
                    "static configuration not applied: have {}/{} via {gateway:?}",
                    addr.addr, addr.prefix_len
                ));
            }
        }
        IpConfig::Dhcp => {
            let lease = net_with(|ns| ns.host.dhcp_lease().map(|l| (l.address, l.router)))?;
            if lease != Some((addr.addr, gateway)) {
                return Err(format!("DHCP lease {lease:?} does not match the interface"));
            }
        }
    }
    let gateway = gateway.ok_or("no gateway configured: nothing to ping")?;
    ping_gateway(gateway)?;
    for a in actions {
        match a {
            Action::Resolve(name, expected) => resolve(&name, expected)?,
            Action::Serve(secs) => {
                marker!("rinet: net-test serving for {secs} s");
                let until = time::now() + Duration::from_secs(secs);
                netstack::run_until(until, |_| false);
            }
            Action::TcpEcho(to, len) => tcp_echo(to, len)?,
        }
    }
    Ok(())
}

fn net_with<R>(f: impl FnOnce(&mut net::sys::NetSys) -> R) -> Result<R, String> {
    netstack::with(f).map_err(|e| format!("network: {e}"))
}

/// ARP-resolve the gateway and ping it [`PINGS`] times; every reply must come back.
fn ping_gateway(gw: Ipv4Addr) -> Result<(), String> {
    let ident = arch::entropy::seed() as u16;
    let payload = *b"rinet net-test ping payload 0123456789abcdef";
    for seq in 1..=PINGS {
        let sent_at = time::now();
        net_with(|ns| ns.host.ping(sent_at, gw, ident, seq, &payload))?
            .map_err(|e| format!("ping {gw}: send: {e}"))?;
        let mut reply = None;
        netstack::run_until(sent_at + PING_TIMEOUT, |ns| {
            while let Some(r) = ns.host.stack.icmp_recv_echo_reply_for(ident) {
                if r.seq == seq && r.from == gw && r.data[..] == payload[..] {
                    reply = Some(r);
                }
            }
            reply.is_some()
        });
        let r = reply.ok_or_else(|| format!("ping {gw}: no echo reply to seq {seq}"))?;
        log::info!(
            "net-test: {} bytes from {gw}: icmp_seq={seq} time={} us",
            r.data.len() + 8,
            r.received_at.saturating_since(sent_at).as_micros()
        );
    }
    let neigh = net_with(|ns| ns.host.stack.neighbour(gw))?;
    match neigh {
        Some((state, mac)) if state != NeighState::Failed && state != NeighState::Incomplete => {
            log::info!("net-test: {gw} is at {mac} ({state:?})");
            Ok(())
        }
        other => Err(format!("gateway {gw} not resolved by ARP: {other:?}")),
    }
}

/// Look `name` up through the configured name server; `expected` must be among the answers.
fn resolve(name: &str, expected: Ipv4Addr) -> Result<(), String> {
    let now = time::now();
    let servers = net_with(|ns| alloc::vec::Vec::from(ns.host.nameservers()))?;
    let q = net_with(|ns| ns.host.resolve_start(now, name))?
        .map_err(|e| format!("resolve {name}: {e} (name servers {servers:?})"))?;
    let mut result: Option<Result<alloc::vec::Vec<Ipv4Addr>, Errno>> = None;
    netstack::run_until(now + RESOLVE_TIMEOUT, |ns| {
        result = ns.host.resolve_result(q);
        result.is_some()
    });
    match result {
        Some(Ok(addrs)) if addrs.contains(&expected) => {
            log::info!("net-test: {name} is {addrs:?} (via {servers:?})");
            Ok(())
        }
        Some(Ok(addrs)) => Err(format!(
            "resolve {name}: got {addrs:?}, expected {expected}"
        )),
        Some(Err(e)) => Err(format!("resolve {name}: {e} (name servers {servers:?})")),
        None => {
            let _ = net_with(|ns| ns.host.resolve_cancel(q));
            Err(format!(
                "resolve {name}: no answer within {} s",
                RESOLVE_TIMEOUT.as_secs()
            ))
        }
    }
}

/// The byte at offset `i` of the `tcp-echo` stream: not periodic in any power of two, so a
/// misplaced segment shows.
fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(131) ^ (i / 1021)) as u8
}

/// Connect to `to`, send `len` bytes and half-close; the echo must come back byte-exact,
/// followed by the server's FIN.
fn tcp_echo(to: SocketAddrV4, len: usize) -> Result<(), String> {
    let start = time::now();
    let h = net_with(|ns| {
        let route = ns.host.stack.route(*to.ip())?;
        let local = SocketAddrV4::new(route.source, 0);
        let mtu = u16::try_from(route.mtu).unwrap_or(u16::MAX);
        let h = ns.host.tcp.connect(start, local, to, Some(mtu))?;
        ns.host.flush(start);
        Ok::<_, Errno>(h)
    })?
    .map_err(|e| format!("tcp-echo {to}: connect: {e}"))?;
    let mut out = alloc::vec![0u8; 16 * 1024];
    let mut inbuf = alloc::vec![0u8; 16 * 1024];
    let (mut sent, mut got, mut shut, mut eof) = (0usize, 0usize, false, false);
    let mut failure: Option<String> = None;
    netstack::run_until(start + TCP_ECHO_TIMEOUT, |ns| {
        let tcp = &mut ns.host.tcp;
        while sent < len {
            let n = out.len().min(len - sent);
            for (k, b) in out[..n].iter_mut().enumerate() {
                *b = pattern(sent + k);
            }
            match tcp.send(h, &out[..n]) {
                Ok(k) => sent += k,
                Err(Errno::EAGAIN) => break,
                Err(e) => {
                    failure = Some(format!("send after {sent} bytes: {e}"));
                    return true;
                }
            }
        }
        if sent == len && !shut {
            if let Err(e) = tcp.shutdown(h, Shutdown::Write) {
                failure = Some(format!("shutdown: {e}"));
                return true;
            }
            shut = true;
        }
        loop {
            match tcp.recv(h, &mut inbuf) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => {
                    if let Some(k) = (0..n).find(|&k| inbuf[k] != pattern(got + k)) {
                        failure = Some(format!("byte {} differs", got + k));
                        return true;
                    }
                    got += n;
                }
                Err(Errno::EAGAIN) => break,
                Err(e) => {
                    failure = Some(format!("recv after {got} bytes: {e}"));
                    return true;
                }
            }
        }
        ns.host.flush(time::now());
        eof
    });
    let _ = net_with(|ns| {
        let _ = ns.host.tcp.close(h);
        ns.host.flush(time::now());
    });
    if let Some(f) = failure {
        return Err(format!("tcp-echo {to}: {f}"));
    }
    if !eof || got != len {
        return Err(format!(
            "tcp-echo {to}: sent {sent} of {len}, got back {got} bytes, eof {eof} after {} s",
            TCP_ECHO_TIMEOUT.as_secs()
        ));
    }
    let us = time::now().saturating_since(start).as_micros().max(1);
    log::info!(
        "net-test: tcp-echo {to}: {len} bytes echoed byte-exact in {us} us ({} KiB/s)",
        (len as u128 * 2 * 1_000_000 / us) / 1024
    );
    Ok(())
}
