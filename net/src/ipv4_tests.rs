//! Unit tests of input checks, fragmentation and reassembly.

use super::*;
use crate::wire::ipv4::protocol;

fn repr(ident: u16, off: u16, mf: bool, len: usize) -> Ipv4Repr {
    Ipv4Repr {
        src: Ipv4Addr::new(10, 0, 0, 1),
        dst: Ipv4Addr::new(10, 0, 0, 2),
        protocol: protocol::UDP,
        ttl: 64,
        tos: 0,
        ident,
        dont_frag: false,
        more_frags: mf,
        frag_offset: off,
        payload_len: len,
    }
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

struct R {
    r: Reassembler,
    s: IpStats,
    d: IpDropStats,
}

impl R {
    fn new() -> Self {
        R {
            r: Reassembler::new(),
            s: IpStats::default(),
            d: IpDropStats::default(),
        }
    }
    fn add(&mut self, now: u64, ident: u16, off: u16, mf: bool, payload: &[u8]) -> Option<Vec<u8>> {
        let rp = repr(ident, off, mf, payload.len());
        let mut h = [0u8; 20];
        rp.emit(&mut h).unwrap();
        self.r
            .add(
                Instant::from_millis(now),
                &rp,
                &h,
                payload,
                &mut self.s,
                &mut self.d,
            )
            .map(|x| x.payload)
    }
}

#[test]
fn fragment_then_reassemble_in_any_order() {
    let payload = data(4000);
    let mut st = IpStats::default();
    let mut frags = Vec::new();
    fragment(
        &repr(9, 0, false, 4000),
        &payload,
        1500,
        &mut st,
        &mut |p| frags.push(p),
    )
    .unwrap();
    assert_eq!(frags.len(), 3);
    assert_eq!((st.frag_oks, st.frag_creates), (1, 3));
    assert!(frags.iter().all(|f| f.len() <= 1500));
    let mut r = R::new();
    let mut out = None;
    for f in frags.iter().rev() {
        let p = Packet::new_checked(&f[..]).unwrap();
        let rp = Ipv4Repr::parse(&p).unwrap();
        out =
            r.r.add(
                Instant::ZERO,
                &rp,
                p.header(),
                p.payload(),
                &mut r.s,
                &mut r.d,
            )
            .map(|x| x.payload);
    }
    assert_eq!(out, Some(payload));
    assert_eq!(r.s.reasm_oks, 1);
    assert_eq!(r.r.bytes(), 0);
}

#[test]
fn dont_fragment_too_big_is_emsgsize() {
    let mut st = IpStats::default();
    let mut r = repr(1, 0, false, 2000);
    r.dont_frag = true;
    assert_eq!(
        fragment(&r, &data(2000), 1500, &mut st, &mut |_| {}),
        Err(Errno::EMSGSIZE)
    );
    assert_eq!(st.frag_fails, 1);
}

#[test]
fn overlap_discards_the_whole_set() {
    let mut r = R::new();
    assert!(r.add(0, 1, 0, true, &data(16)).is_none());
    assert!(r.add(0, 1, 8, true, &data(16)).is_none());
    assert_eq!(r.d.reasm_overlaps, 1);
    assert_eq!(r.s.reasm_fails, 1);
    assert_eq!(r.r.sets(), 0);
    // The rest of the datagram no longer completes anything.
    assert!(r.add(0, 1, 16, false, &data(8)).is_none());
}

#[test]
fn exact_duplicate_is_dropped_and_the_set_completes() {
    let mut r = R::new();
    assert!(r.add(0, 2, 0, true, &data(16)).is_none());
    assert!(r.add(0, 2, 0, true, &data(16)).is_none());
    assert_eq!(r.d.reasm_duplicates, 1);
    assert_eq!(r.add(0, 2, 16, false, &data(8)).map(|d| d.len()), Some(24));
}

#[test]
fn oversize_and_bad_lengths_are_dropped() {
    let mut r = R::new();
    assert!(r.add(0, 3, 65528, false, &data(16)).is_none());
    assert_eq!(r.d.reasm_oversize, 1);
    assert!(r.add(0, 3, 0, true, &data(13)).is_none());
    assert_eq!(r.d.reasm_bad_frag_len, 1);
    assert_eq!(r.r.sets(), 0);
}

#[test]
fn incomplete_sets_time_out_with_a_quote() {
    let mut r = R::new();
    r.add(0, 4, 0, true, &data(16));
    r.add(10, 5, 8, true, &data(16));
    assert_eq!(r.r.poll_at(), Some(Instant::ZERO + REASM_TIMEOUT));
    let q = r.r.poll(Instant::ZERO + REASM_TIMEOUT, &mut r.s);
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].len(), 28);
    assert_eq!(r.s.reasm_timeout, 1);
    assert_eq!(r.r.sets(), 1);
    r.r.poll(Instant::from_millis(10) + REASM_TIMEOUT, &mut r.s);
    assert_eq!(r.r.sets(), 0);
    assert_eq!(r.s.reasm_fails, 2);
}

#[test]
fn many_incomplete_sets_stay_within_bounds() {
    let mut r = R::new();
    for id in 0..1000u16 {
        r.add(u64::from(id), id, 0, true, &data(1480));
        assert!(r.r.sets() <= REASM_MAX_SETS);
        assert!(r.r.bytes() <= REASM_MAX_BYTES);
    }
    assert!(r.d.reasm_evictions >= 1000 - REASM_MAX_SETS as u64);
    assert_eq!(r.s.reasm_fails, r.d.reasm_evictions);
}

#[test]
fn input_checks_count_each_reason() {
    let mut s = IpStats::default();
    let mut d = IpDropStats::default();
    let mut good = vec![0u8; 28];
    repr(1, 0, false, 8).emit(&mut good).unwrap();
    assert!(check_input(&good, &mut s, &mut d).is_some());
    let mut ttl0 = good.clone();
    let mut p = Packet::new_unchecked(&mut ttl0[..]);
    p.set_ttl(0);
    p.fill_checksum();
    assert!(check_input(&ttl0, &mut s, &mut d).is_none());
    assert_eq!(d.ttl_zero, 1);
    assert!(check_input(&good[..27], &mut s, &mut d).is_none());
    assert_eq!(s.in_truncated_pkts, 1);
    assert_eq!(s.in_receives, 3);
}

#[test]
fn ip_ids_differ_per_destination() {
    let mut g = IpIdGen::new(&mut Rng::new(1));
    let a = Ipv4Addr::new(10, 0, 0, 1);
    let b = Ipv4Addr::new(10, 0, 0, 2);
    let c = Ipv4Addr::new(10, 0, 0, 3);
    let x1 = g.next(a, b, 17);
    let x2 = g.next(a, b, 17);
    assert_eq!(x2, x1.wrapping_add(1));
    // Sending to another destination does not advance b's sequence (unless they collide).
    let _ = g.next(a, c, 17);
    let x3 = g.next(a, b, 17);
    assert_eq!(x3, x2.wrapping_add(1));
}
