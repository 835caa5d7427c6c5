//! Unit tests of the neighbour table's state machine (stack-level ARP tests live in
//! `stack_tests`).

use super::*;
use alloc::vec;

const ME: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
const PEER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
const MY_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn ours(ip: Ipv4Addr) -> bool {
    ip == MY_IP
}

fn reply(from_ip: Ipv4Addr, from_mac: MacAddr) -> ArpRepr {
    ArpRepr {
        operation: ArpOp::Reply,
        source_hw: from_mac,
        source_ip: from_ip,
        target_hw: ME,
        target_ip: MY_IP,
    }
}

#[test]
fn incomplete_then_reachable_then_stale_then_probe_then_failed() {
    let mut t = NeighTable::new();
    let mut s = ArpStats::default();
    let mut a = Vec::new();
    let t0 = Instant::from_millis(1000);
    t.output(t0, PEER, vec![1, 2, 3], &mut s, &mut a).unwrap();
    assert_eq!(
        a,
        vec![Action::Request {
            target: PEER,
            dst_mac: MacAddr::BROADCAST
        }]
    );
    assert_eq!(t.lookup(PEER).unwrap().0, NeighState::Incomplete);
    a.clear();
    t.input(t0, ME, &reply(PEER, PEER_MAC), &ours, &mut s, &mut a);
    assert_eq!(
        a,
        vec![Action::Transmit {
            mac: PEER_MAC,
            packet: vec![1, 2, 3]
        }]
    );
    assert_eq!(t.lookup(PEER), Some((NeighState::Reachable, PEER_MAC)));
    a.clear();
    let t1 = t0 + REACHABLE_TIME;
    t.poll(t1, &mut s, &mut a);
    assert_eq!(t.lookup(PEER).unwrap().0, NeighState::Stale);
    t.output(t1, PEER, vec![4], &mut s, &mut a).unwrap();
    assert_eq!(t.lookup(PEER).unwrap().0, NeighState::Delay);
    a.clear();
    let t2 = t1 + DELAY_FIRST_PROBE;
    t.poll(t2, &mut s, &mut a);
    assert_eq!(t.lookup(PEER).unwrap().0, NeighState::Probe);
    assert_eq!(
        a,
        vec![Action::Request {
            target: PEER,
            dst_mac: PEER_MAC
        }]
    );
    for k in 1..=UCAST_PROBES {
        t.poll(t2 + RETRANS_TIME * u32::from(k), &mut s, &mut a);
    }
    assert_eq!(t.lookup(PEER).unwrap().0, NeighState::Failed);
    assert_eq!(s.resolve_failures, 1);
    // Unused FAILED entries are collected.
    t.poll(t2 + GC_STALE_TIME * 2, &mut s, &mut a);
    assert!(t.lookup(PEER).is_none());
}

#[test]
fn unanswered_resolution_fails_and_returns_the_queue() {
    let mut t = NeighTable::new();
    let mut s = ArpStats::default();
    let mut a = Vec::new();
    let t0 = Instant::from_millis(1);
    t.output(t0, PEER, vec![1], &mut s, &mut a).unwrap();
    t.output(t0, PEER, vec![2], &mut s, &mut a).unwrap();
    let mut now = t0;
    for _ in 0..MCAST_PROBES {
        now = t.poll_at().unwrap();
        t.poll(now, &mut s, &mut a);
    }
    let requests = a
        .iter()
        .filter(|x| matches!(x, Action::Request { .. }))
        .count();
    assert_eq!(requests, usize::from(MCAST_PROBES));
    assert_eq!(
        a.last(),
        Some(&Action::Failed {
            ip: PEER,
            packets: vec![vec![1], vec![2]]
        })
    );
    assert_eq!(s.queue_drops, 2);
    assert_eq!(t.queued_bytes(), 0);
    assert!(now >= t0 + RETRANS_TIME * u32::from(MCAST_PROBES));
}

#[test]
fn queue_is_bounded() {
    let mut t = NeighTable::new();
    let mut s = ArpStats::default();
    let mut a = Vec::new();
    for _ in 0..NEIGH_QUEUE_PACKETS {
        t.output(Instant::ZERO, PEER, vec![0; 10], &mut s, &mut a)
            .unwrap();
    }
    assert_eq!(
        t.output(Instant::ZERO, PEER, vec![0; 10], &mut s, &mut a),
        Err(Errno::EHOSTUNREACH)
    );
    assert_eq!(s.queue_drops, 1);
}

#[test]
fn answers_requests_for_our_address_only_and_learns_the_asker() {
    let mut t = NeighTable::new();
    let mut s = ArpStats::default();
    let mut a = Vec::new();
    let mut req = ArpRepr {
        operation: ArpOp::Request,
        source_hw: PEER_MAC,
        source_ip: PEER,
        target_hw: MacAddr::ZERO,
        target_ip: Ipv4Addr::new(10, 0, 0, 77),
    };
    t.input(Instant::ZERO, ME, &req, &ours, &mut s, &mut a);
    assert!(a.is_empty());
    assert!(t.lookup(PEER).is_none());
    req.target_ip = MY_IP;
    t.input(Instant::ZERO, ME, &req, &ours, &mut s, &mut a);
    assert_eq!(
        a,
        vec![Action::Reply {
            our_ip: MY_IP,
            dst_mac: PEER_MAC,
            dst_ip: PEER
        }]
    );
    assert_eq!(t.lookup(PEER), Some((NeighState::Stale, PEER_MAC)));
    // A broadcast sender hardware address is refused and counted.
    req.source_hw = MacAddr::BROADCAST;
    t.input(Instant::ZERO, ME, &req, &ours, &mut s, &mut a);
    assert_eq!(s.in_bad_sender, 1);
}

#[test]
fn table_evicts_oldest_resolved_entry() {
    let mut t = NeighTable::new();
    let mut s = ArpStats::default();
    let mut a = Vec::new();
    for i in 0..NEIGH_MAX_ENTRIES {
        let ip = Ipv4Addr::from(0x0a01_0000 + i as u32);
        let req = ArpRepr {
            operation: ArpOp::Request,
            source_hw: MacAddr([2, 0, 0, 0, 1, i as u8]),
            source_ip: ip,
            target_hw: MacAddr::ZERO,
            target_ip: MY_IP,
        };
        t.input(
            Instant::from_millis(i as u64),
            ME,
            &req,
            &ours,
            &mut s,
            &mut a,
        );
    }
    assert_eq!(t.len(), NEIGH_MAX_ENTRIES);
    t.output(Instant::from_millis(100_000), PEER, vec![1], &mut s, &mut a)
        .unwrap();
    assert_eq!(t.len(), NEIGH_MAX_ENTRIES);
    assert_eq!(s.table_evictions, 1);
    assert!(t.lookup(Ipv4Addr::from(0x0a01_0000)).is_none());
}

#[test]
fn resolved_fast_path_matches_output_and_timers_still_fire() {
    let mut t = NeighTable::new();
    let mut s = ArpStats::default();
    let mut a = Vec::new();
    let t0 = Instant::from_millis(1000);
    // Unknown and INCOMPLETE neighbours are not usable; asking creates nothing.
    assert_eq!(t.resolved(t0, PEER), None);
    assert!(t.is_empty());
    t.output(t0, PEER, vec![1], &mut s, &mut a).unwrap();
    assert_eq!(t.resolved(t0, PEER), None);
    t.input(t0, ME, &reply(PEER, PEER_MAC), &ours, &mut s, &mut a);
    assert_eq!(t.resolved(t0, PEER), Some(PEER_MAC));
    // A poll before any deadline changes nothing; the REACHABLE timer still fires on time
    // even though earlier polls skipped the walk.
    a.clear();
    t.poll(t0 + Duration::from_secs(1), &mut s, &mut a);
    assert_eq!(t.lookup(PEER).unwrap().0, NeighState::Reachable);
    let t1 = t0 + REACHABLE_TIME;
    // Used after REACHABLE expired: STALE, then DELAY as `output` would do.
    assert_eq!(t.resolved(t1, PEER), Some(PEER_MAC));
    assert_eq!(t.lookup(PEER).unwrap().0, NeighState::Delay);
    assert_eq!(t.poll_at(), Some(t1 + DELAY_FIRST_PROBE));
    // The DELAY timer set through the fast path is honoured: PROBE and a unicast request.
    t.poll(t1 + DELAY_FIRST_PROBE, &mut s, &mut a);
    assert_eq!(t.lookup(PEER).unwrap().0, NeighState::Probe);
    assert_eq!(
        a,
        vec![Action::Request {
            target: PEER,
            dst_mac: PEER_MAC
        }]
    );
}
