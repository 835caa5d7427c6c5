//! Host-wide TCP memory (`tcp::memory`): many connections whose reader stalls cannot take
//! more than the limit, writers are refused and woken again, and every byte still arrives.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;
use core::net::SocketAddrV4;

use super::sim::{pattern, LinkCfg, Net, A, B};
use crate::errno::Errno;
use crate::tcp::{Handle, TcpConfig, PER_SOCKET_FLOOR};
use crate::time::{Duration, Instant};

const CONNS: usize = 16;
const PER_CONN: u64 = 256 * 1024;
const LIMIT: usize = 1024 * 1024;

/// Where connection `i`'s stream starts in the pattern, so mixed-up streams are caught.
fn start_of(i: usize) -> u64 {
    i as u64 * 7919
}

struct Writer {
    h: Handle,
    sent: u64,
    ready: bool,
    closed: bool,
}

/// Write while the connection takes data; a refused write waits for a wakeup.
fn write_some(net: &mut Net, writers: &mut [Writer], woken: &mut Vec<Handle>) {
    woken.clear();
    net.a.take_woken(woken);
    for w in writers.iter_mut() {
        if woken.contains(&w.h) {
            w.ready = true;
        }
    }
    let mut chunk = vec![0u8; 16 * 1024];
    for (i, w) in writers.iter_mut().enumerate() {
        while w.ready && w.sent < PER_CONN {
            let n = ((PER_CONN - w.sent) as usize).min(chunk.len());
            pattern(start_of(i) + w.sent, &mut chunk[..n]);
            match net.a.send(w.h, &chunk[..n]) {
                Ok(k) => w.sent += k as u64,
                Err(Errno::EAGAIN) => w.ready = false,
                Err(e) => panic!("send: {e}"),
            }
        }
        if w.sent == PER_CONN && !w.closed {
            net.a.close(w.h).unwrap();
            w.closed = true;
        }
    }
}

#[test]
fn stalled_readers_cannot_take_more_than_the_memory_limit_and_no_byte_is_lost() {
    let cfg = TcpConfig {
        memory_limit: LIMIT,
        ..TcpConfig::default()
    };
    let mut net = Net::new(LinkCfg::default(), 7, cfg);
    let l = net.b.listen(SocketAddrV4::new(B, 80), 64).unwrap();
    let mut writers: Vec<Writer> = (0..CONNS)
        .map(|_| Writer {
            h: net
                .a
                .connect(
                    net.now,
                    SocketAddrV4::new(A, 0),
                    SocketAddrV4::new(B, 80),
                    Some(1500),
                )
                .unwrap(),
            sent: 0,
            ready: true,
            closed: false,
        })
        .collect();
    let index_of_port: BTreeMap<u16, usize> = writers
        .iter()
        .enumerate()
        .map(|(i, w)| (net.a.local_addr(w.h).unwrap().port(), i))
        .collect();
    let mut woken = Vec::new();
    let mut readers: Vec<(Handle, usize, u64, bool)> = Vec::new();

    // Phase 1: the server accepts but reads nothing for five simulated seconds.
    let stall_end = Instant::ZERO + Duration::from_secs(5);
    while net.now < stall_end {
        write_some(&mut net, &mut writers, &mut woken);
        while let Ok(s) = net.b.accept(l) {
            let port = net.b.peer_addr(s).unwrap().port();
            readers.push((s, index_of_port[&port], 0, false));
        }
        net.dispatch();
        net.step_until(Some(stall_end));
    }
    let slack = CONNS * 3 * PER_SOCKET_FLOOR;
    let (ma, mb) = (net.a.memory(), net.b.memory());
    assert_eq!(readers.len(), CONNS, "every connection was accepted");
    assert!(
        ma.peak <= LIMIT + slack && mb.peak <= LIMIT + slack,
        "peaks {} / {} over the {LIMIT}-byte limit",
        ma.peak,
        mb.peak
    );
    let sent: u64 = writers.iter().map(|w| w.sent).sum();
    assert!(
        sent < CONNS as u64 * PER_CONN,
        "writers were held back ({sent} bytes written)"
    );
    assert!(
        net.a.counters().snd_mem_refused > 0,
        "{:?}",
        net.a.counters()
    );
    assert!(
        net.b.counters().memory_pressures > 0,
        "{:?}",
        net.b.counters()
    );

    // Phase 2: the server reads everything; every stream must arrive whole and in order.
    let mut buf = vec![0u8; 64 * 1024];
    let mut expect = vec![0u8; 64 * 1024];
    let limit = Instant::ZERO + Duration::from_secs(600);
    while readers.iter().any(|r| !r.3) {
        write_some(&mut net, &mut writers, &mut woken);
        for r in readers.iter_mut().filter(|r| !r.3) {
            loop {
                match net.b.recv(r.0, &mut buf) {
                    Ok(0) => {
                        r.3 = true;
                        net.b.close(r.0).unwrap();
                        break;
                    }
                    Ok(n) => {
                        pattern(start_of(r.1) + r.2, &mut expect[..n]);
                        assert!(buf[..n] == expect[..n], "stream {} corrupt at {}", r.1, r.2);
                        r.2 += n as u64;
                    }
                    Err(Errno::EAGAIN) => break,
                    Err(e) => panic!("recv: {e}"),
                }
            }
        }
        net.dispatch();
        assert!(net.step(), "stalled at {}", net.now);
        assert!(net.now < limit, "transfer did not finish");
    }
    for r in &readers {
        assert_eq!(r.2, PER_CONN, "stream {} length", r.1);
    }
    let (ma, mb) = (net.a.memory(), net.b.memory());
    assert!(ma.peak <= LIMIT + slack && mb.peak <= LIMIT + slack);
    // Once the server's closes complete, nothing of it stays charged.
    let settle = net.now + Duration::from_secs(2);
    while net.now < settle {
        net.dispatch();
        net.step_until(Some(settle));
    }
    assert_eq!(net.b.memory().used, 0, "{:?}", net.b.memory());
}

/// Connection blocks are charged too: with no room for another, `connect` says ENOBUFS and
/// a listener drops the SYN; once a connection is gone, opening works again.
#[test]
fn no_room_for_a_connection_block_refuses_the_open() {
    use super::script::{peer, us, Harness};
    use crate::tcp::memory::TCB_COST;
    let limit = 64 * 1024;
    let mut h = Harness::with_config(TcpConfig {
        memory_limit: limit,
        ..TcpConfig::default()
    });
    let mut open = Vec::new();
    let refused = loop {
        let remote = SocketAddrV4::new(*peer().ip(), 1000 + open.len() as u16);
        match h.tcp.connect(h.now, us(), remote, None) {
            Ok(c) => open.push(c),
            Err(e) => break e,
        }
        h.flush();
        assert!(open.len() < 64, "never refused: {:?}", h.tcp.memory());
    };
    assert_eq!(refused, Errno::ENOBUFS);
    assert!(!open.is_empty());
    assert_eq!(h.counters().mem_refused_opens, 1);
    let m = h.tcp.memory();
    assert!(m.peak <= limit + TCB_COST + 64 * 1024, "{m:?}");
    // A SYN for a listener now finds no room either: dropped, nothing sent.
    let l = h.tcp.listen(us(), 8).unwrap();
    h.out.clear();
    h.inject(super::script::seg(5000).syn());
    h.expect_none();
    assert_eq!(h.counters().mem_refused_opens, 2);
    let _ = l;
    // Closing one opening connection frees its block: the next connect goes through.
    h.tcp.close(open.pop().unwrap()).unwrap();
    h.flush();
    let remote = SocketAddrV4::new(*peer().ip(), 2000);
    assert!(h.tcp.connect(h.now, us(), remote, None).is_ok());
}

/// Connections closed into TIME-WAIT hold no buffers and promise no window: a host that
/// opens and closes thousands of connections within 2·MSL is not refused for want of memory
/// (it was, with ENOBUFS, when TIME-WAIT blocks kept their window's charge).
#[test]
fn time_wait_blocks_hold_no_buffer_memory() {
    const OPENS: usize = 400;
    let cfg = TcpConfig {
        // Room for every block, but not for a window's promise each.
        memory_limit: OPENS * crate::tcp::memory::TCB_COST * 3,
        ..TcpConfig::default()
    };
    let mut net = Net::new(LinkCfg::default(), 21, cfg);
    let l = net.b.listen(SocketAddrV4::new(B, 80), 64).unwrap();
    let mut clients = Vec::new();
    for i in 0..OPENS {
        let c = net
            .a
            .connect(
                net.now,
                SocketAddrV4::new(A, 0),
                SocketAddrV4::new(B, 80),
                Some(1500),
            )
            .unwrap_or_else(|e| panic!("connection {i}: {e:?}"));
        clients.push(c);
        let mut s = None;
        let mut buf = [0u8; 16];
        for _ in 0..200 {
            net.dispatch();
            net.step();
            if s.is_none() {
                s = net.b.accept(l).ok();
                if s.is_some() {
                    net.a.send(c, b"ping").unwrap();
                    net.a.close(c).unwrap();
                }
            }
            if let Some(h) = s {
                match net.b.recv(h, &mut buf) {
                    Ok(0) => {
                        net.b.close(h).unwrap();
                        s = None;
                        break;
                    }
                    Ok(_) | Err(Errno::EAGAIN) => {}
                    Err(e) => panic!("recv: {e:?}"),
                }
            }
        }
        assert!(s.is_none(), "connection {i} did not close");
    }
    for _ in 0..50 {
        net.dispatch();
        net.step_until(Some(net.now + Duration::from_millis(100)));
    }
    assert_eq!(net.a.counters().mem_refused_opens, 0);
    // Closed by the application, every client block is still held, in TIME-WAIT.
    assert_eq!(clients.len(), OPENS);
    assert_eq!(net.a.conns.len(), OPENS, "every client block in TIME-WAIT");
    let used = net.a.memory().used;
    assert!(
        used <= OPENS * crate::tcp::memory::TCB_COST,
        "{used} bytes charged for {OPENS} TIME-WAIT blocks"
    );
}
