//! Resolver tests against a small DNS server written here: it parses the resolver's queries
//! with its own code and answers with bytes it builds itself, compression pointers included.

use super::*;
use alloc::string::String;
use alloc::vec;
use std::vec::Vec;

const S1: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);
const S2: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 53);

fn ms(v: u64) -> Instant {
    Instant::from_millis(v)
}

/// A query as the test server sees it.
#[derive(Debug, Clone)]
struct SeenQuery {
    id: u16,
    rd: bool,
    /// The question's name in wire form (offset 12 of the query), and the name as text.
    qname_wire: Vec<u8>,
    qname: String,
    qtype: u16,
    qclass: u16,
}

fn parse_query(b: &[u8]) -> SeenQuery {
    assert_eq!(
        u16::from_be_bytes([b[2], b[3]]) & 0x8000,
        0,
        "QR clear in a query"
    );
    assert_eq!(
        &b[4..12],
        &[0, 1, 0, 0, 0, 0, 0, 0],
        "one question, nothing else"
    );
    let mut i = 12;
    let mut labels = Vec::new();
    while b[i] != 0 {
        let n = b[i] as usize;
        labels.push(String::from_utf8(b[i + 1..i + 1 + n].to_vec()).unwrap());
        i += 1 + n;
    }
    let end = i + 1;
    assert_eq!(b.len(), end + 4, "nothing after the question");
    SeenQuery {
        id: u16::from_be_bytes([b[0], b[1]]),
        rd: b[2] & 1 == 1,
        qname_wire: b[12..end].to_vec(),
        qname: labels.join("."),
        qtype: u16::from_be_bytes([b[end], b[end + 1]]),
        qclass: u16::from_be_bytes([b[end + 2], b[end + 3]]),
    }
}

/// Text name to uncompressed wire form.
fn wire_name(name: &str) -> Vec<u8> {
    let mut v = Vec::new();
    for l in name.split('.') {
        v.push(l.len() as u8);
        v.extend_from_slice(l.as_bytes());
    }
    v.push(0);
    v
}

/// A response to `q`: header with `rcode` and `ancount`, the question echoed, then `answers`
/// (raw bytes; offset 12 is the question name, so owners can be the pointer 0xc00c).
fn response(q: &SeenQuery, rcode: u8, ancount: u16, answers: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&q.id.to_be_bytes());
    b.extend_from_slice(&(0x8180u16 | u16::from(rcode)).to_be_bytes());
    b.extend_from_slice(&1u16.to_be_bytes());
    b.extend_from_slice(&ancount.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]);
    b.extend_from_slice(&q.qname_wire);
    b.extend_from_slice(&q.qtype.to_be_bytes());
    b.extend_from_slice(&q.qclass.to_be_bytes());
    b.extend_from_slice(answers);
    b
}

/// One resource record with an already-encoded owner and data.
fn rr(owner: &[u8], rtype: u16, ttl: u32, data: &[u8]) -> Vec<u8> {
    let mut v = owner.to_vec();
    v.extend_from_slice(&rtype.to_be_bytes());
    v.extend_from_slice(&1u16.to_be_bytes());
    v.extend_from_slice(&ttl.to_be_bytes());
    v.extend_from_slice(&(data.len() as u16).to_be_bytes());
    v.extend_from_slice(data);
    v
}

const QNAME_PTR: [u8; 2] = [0xc0, 0x0c];

/// Start a lookup of `name` and return the resolver, the handle and the first query sent.
fn started(name: &str) -> (Resolver, QueryId, DnsTransmit) {
    let mut r = Resolver::new(&[S1, S2], 5);
    let id = r.start_query(ms(0), name).unwrap();
    let t = r.poll(ms(0)).expect("a query goes out");
    assert_eq!(r.poll(ms(0)), None);
    (r, id, t)
}

fn from_s1() -> SocketAddrV4 {
    SocketAddrV4::new(S1, 53)
}

#[test]
fn a_record_answer() {
    let (mut r, id, t) = started("WWW.Example.com.");
    assert_eq!(t.dst, SocketAddrV4::new(S1, 53));
    let q = parse_query(&t.payload);
    assert!(q.rd);
    assert_eq!(q.qname, "www.example.com");
    assert_eq!((q.qtype, q.qclass), (1, 1));
    assert_eq!(r.result(id), None, "still waiting");
    let resp = response(
        &q,
        0,
        2,
        &[
            rr(&QNAME_PTR, 1, 60, &[93, 184, 216, 34]),
            rr(&QNAME_PTR, 1, 60, &[93, 184, 216, 35]),
        ]
        .concat(),
    );
    assert_eq!(r.receive(ms(5), from_s1(), &resp), Some(id));
    assert_eq!(
        r.result(id),
        Some(Ok(vec![
            Ipv4Addr::new(93, 184, 216, 34),
            Ipv4Addr::new(93, 184, 216, 35)
        ]))
    );
    assert_eq!(r.result(id), Some(Err(Errno::EINVAL)), "collected once");
    assert_eq!(r.poll_at(), None);
    assert_eq!(r.counters().out_queries, 1);
}

#[test]
fn cname_chain_is_followed() {
    let (mut r, id, t) = started("www.example.com");
    let q = parse_query(&t.payload);
    // Offsets: question name at 12 ("www.example.com" = 17 octets), so answers start at 33.
    // a.example.net written in full in the first record's data; later ones point at it.
    let first_owner_len = 2;
    let first_data_at = 33 + first_owner_len + 10;
    let a_net = wire_name("a.example.net");
    let a_net_ptr = [0xc0, first_data_at as u8];
    let net_ptr = [0xc0, (first_data_at + 2) as u8]; // "example.net" inside it
    let b_net = [&[1, b'b'][..], &net_ptr].concat();
    let first = rr(&QNAME_PTR, 5, 300, &a_net);
    let b_net_at = 33 + first.len() + 2 + 10;
    let answers = [
        first,
        rr(&a_net_ptr, 5, 300, &b_net),
        // Scrambled: an unrelated A record, then the chain's end.
        rr(&wire_name("other.org"), 1, 300, &[9, 9, 9, 9]),
        rr(&[0xc0, b_net_at as u8], 1, 30, &[1, 2, 3, 4]),
    ]
    .concat();
    let resp = response(&q, 0, 4, &answers);
    assert_eq!(r.receive(ms(1), from_s1(), &resp), Some(id));
    assert_eq!(r.result(id), Some(Ok(vec![Ipv4Addr::new(1, 2, 3, 4)])));
}

#[test]
fn cname_loop_ends_in_enoent() {
    let (mut r, id, t) = started("x.test");
    let q = parse_query(&t.payload);
    // x.test CNAME y.test, y.test CNAME x.test.
    let answers = [
        rr(&QNAME_PTR, 5, 300, &wire_name("y.test")),
        rr(&wire_name("y.test"), 5, 300, &QNAME_PTR),
    ]
    .concat();
    r.receive(ms(1), from_s1(), &response(&q, 0, 2, &answers));
    assert_eq!(r.result(id), Some(Err(Errno::ENOENT)));
}

#[test]
fn nxdomain_is_enoent() {
    let (mut r, id, t) = started("nope.example");
    let q = parse_query(&t.payload);
    assert_eq!(
        r.receive(ms(1), from_s1(), &response(&q, 3, 0, &[])),
        Some(id)
    );
    assert_eq!(r.result(id), Some(Err(Errno::ENOENT)));
    assert_eq!(r.counters().in_nxdomain, 1);
}

#[test]
fn silence_retries_rotating_servers_then_times_out() {
    let (mut r, id, first) = started("slow.example");
    let mut sent = vec![(ms(0), first.dst)];
    let mut now = ms(0);
    while let Some(t) = r.poll_at() {
        now = t;
        while let Some(tx) = r.poll(now) {
            assert_eq!(parse_query(&tx.payload).id, parse_query(&first.payload).id);
            sent.push((now, tx.dst));
        }
        if now < ms(7000) {
            assert_eq!(r.result(id), None, "waiting at {now}");
        }
    }
    assert_eq!(
        sent,
        vec![
            (ms(0), SocketAddrV4::new(S1, 53)),
            (ms(1000), SocketAddrV4::new(S2, 53)),
            (ms(3000), SocketAddrV4::new(S1, 53)),
        ]
    );
    assert_eq!(now, ms(7000));
    assert_eq!(r.result(id), Some(Err(Errno::ETIMEDOUT)));
    let c = r.counters();
    assert_eq!((c.out_queries, c.retransmits, c.timeouts), (3, 2, 1));
}

#[test]
fn late_answer_from_the_first_server_is_accepted() {
    let (mut r, id, t) = started("late.example");
    let q = parse_query(&t.payload);
    let _ = r.poll(ms(1000)).unwrap(); // retransmission to S2
    let resp = response(&q, 0, 1, &rr(&QNAME_PTR, 1, 0, &[5, 6, 7, 8]));
    assert_eq!(r.receive(ms(1200), from_s1(), &resp), Some(id));
    assert_eq!(r.result(id), Some(Ok(vec![Ipv4Addr::new(5, 6, 7, 8)])));
}

#[test]
fn wrong_id_server_or_question_is_ignored() {
    let (mut r, id, t) = started("www.example.com");
    let q = parse_query(&t.payload);
    let good = response(&q, 0, 1, &rr(&QNAME_PTR, 1, 60, &[1, 1, 1, 1]));
    let mut wrong_id = good.clone();
    wrong_id[1] ^= 1;
    r.receive(ms(1), from_s1(), &wrong_id);
    r.receive(ms(1), SocketAddrV4::new(S1, 5353), &good);
    r.receive(ms(1), SocketAddrV4::new(S2, 53), &good); // not asked yet
    r.receive(
        ms(1),
        SocketAddrV4::new(Ipv4Addr::new(6, 6, 6, 6), 53),
        &good,
    );
    assert_eq!(r.counters().in_unmatched, 4);
    let mut other_q = q.clone();
    other_q.qname_wire = wire_name("www.evil.com");
    r.receive(
        ms(1),
        from_s1(),
        &response(&other_q, 0, 1, &rr(&QNAME_PTR, 1, 60, &[6, 6, 6, 6])),
    );
    assert_eq!(r.counters().in_mismatched, 1);
    assert_eq!(r.result(id), None);
    assert_eq!(r.receive(ms(2), from_s1(), &good), Some(id));
    assert_eq!(r.result(id), Some(Ok(vec![Ipv4Addr::new(1, 1, 1, 1)])));
}

#[test]
fn hostile_responses_are_rejected_without_panic() {
    let (mut r, id, t) = started("www.example.com");
    let q = parse_query(&t.payload);
    let at = |resp: &[u8]| resp.len() as u8;
    // An owner that points at itself.
    let mut self_loop = response(&q, 0, 1, &[]);
    let here = at(&self_loop);
    self_loop.extend(rr(&[0xc0, here], 1, 60, &[1, 1, 1, 1]));
    // A label then a pointer back to that label: backwards, but a loop.
    let mut label_loop = response(&q, 0, 1, &[]);
    let here = at(&label_loop);
    label_loop.extend(rr(&[1, b'a', 0xc0, here], 1, 60, &[1, 1, 1, 1]));
    // A pointer past the end of the message.
    let past_end = response(&q, 0, 1, &rr(&[0xc0, 0xff], 1, 60, &[1, 1, 1, 1]));
    // A forward pointer, into the record's own data.
    let mut forward = response(&q, 0, 1, &[]);
    let data_at = at(&forward) + 12;
    forward.extend(rr(&[0xc0, data_at], 1, 60, &[0, 0, 0, 0]));
    // Counts larger than the data.
    let too_many = response(&q, 0, 5, &rr(&QNAME_PTR, 1, 60, &[1, 1, 1, 1]));
    // rdlength past the end, and an A record of 5 octets.
    let mut long_rdata = response(&q, 0, 1, &rr(&QNAME_PTR, 1, 60, &[1, 1, 1, 1]));
    let n = long_rdata.len();
    long_rdata[n - 5] = 200;
    let bad_a = response(&q, 0, 1, &rr(&QNAME_PTR, 1, 60, &[1, 1, 1, 1, 1]));
    // A name growing past 255 octets through a chain of backward pointers: each 63-octet label
    // ends in a pointer to the one before.
    // The chain sits in the data of a first (TXT) record, since pointers must point backwards.
    let mut too_long = response(&q, 0, 2, &[]);
    let chain_at = too_long.len() + 2 + 10;
    let mut chain = Vec::new();
    let mut prev = 12u16;
    for _ in 0..5 {
        let here = (chain_at + chain.len()) as u16;
        chain.push(63);
        chain.extend_from_slice(&[b'x'; 63]);
        chain.extend_from_slice(&(0xc000 | prev).to_be_bytes());
        prev = here;
    }
    too_long.extend(rr(&QNAME_PTR, 16, 60, &chain));
    too_long.extend(rr(&(0xc000 | prev).to_be_bytes(), 1, 60, &[1, 1, 1, 1]));
    // The same chain entered at its third link (3 * 64 + 17 octets) is a fine name.
    let mut fine = too_long[..chain_at + chain.len()].to_vec();
    let third_link = (chain_at + 2 * 66) as u16;
    fine.extend(rr(
        &(0xc000 | third_link).to_be_bytes(),
        1,
        60,
        &[1, 1, 1, 1],
    ));
    let parsed = parse_response(&fine).unwrap();
    assert_eq!(parsed.answers[1].owner.as_bytes().len(), 3 * 64 + 17);
    let extended_label = response(&q, 0, 1, &rr(&[0x41, 0], 1, 60, &[1, 1, 1, 1]));
    let not_response = {
        let mut m = response(&q, 0, 1, &rr(&QNAME_PTR, 1, 60, &[1, 1, 1, 1]));
        m[2] &= 0x7f;
        m
    };
    let short = response(&q, 0, 0, &[])[..11].to_vec();
    use ParseError::*;
    let cases = [
        (self_loop, BadPointer),
        (label_loop, BadPointer),
        (past_end, BadPointer),
        (forward, BadPointer),
        (too_many, Truncated),
        (long_rdata, Truncated),
        (bad_a, BadRecord),
        (too_long, NameTooLong),
        (extended_label, BadLabel),
        (not_response, NotResponse),
        (short, Truncated),
    ];
    for (i, (c, why)) in cases.iter().enumerate() {
        assert_eq!(parse_response(c), Err(*why), "case {i}");
        assert_eq!(r.receive(ms(1), from_s1(), c), None, "case {i}");
        assert_eq!(r.counters().in_malformed, i as u64 + 1, "case {i} counted");
    }
    assert_eq!(
        r.result(id),
        None,
        "the query still waits for a real answer"
    );
}

#[test]
fn server_failure_moves_to_the_next_server_then_eagain() {
    let (mut r, id, t) = started("broken.example");
    let q = parse_query(&t.payload);
    r.receive(ms(10), from_s1(), &response(&q, 2, 0, &[]));
    let next = r.poll(ms(10)).expect("next server at once");
    assert_eq!(next.dst, SocketAddrV4::new(S2, 53));
    r.receive(ms(20), SocketAddrV4::new(S2, 53), &response(&q, 5, 0, &[]));
    let third = r.poll(ms(20)).unwrap();
    assert_eq!(third.dst, SocketAddrV4::new(S1, 53));
    r.receive(ms(30), from_s1(), &response(&q, 2, 0, &[]));
    assert_eq!(r.poll(ms(30)), None);
    assert_eq!(r.result(id), Some(Err(Errno::EAGAIN)));
    assert_eq!(r.counters().in_server_errors, 3);
}

#[test]
fn answers_are_cached_within_their_ttl() {
    let (mut r, id, t) = started("cached.example");
    let q = parse_query(&t.payload);
    r.receive(
        ms(0),
        from_s1(),
        &response(&q, 0, 1, &rr(&QNAME_PTR, 1, 10, &[4, 4, 4, 4])),
    );
    assert!(matches!(r.result(id), Some(Ok(_))));
    let again = r.start_query(ms(9_000), "CACHED.example").unwrap();
    assert_eq!(r.poll(ms(9_000)), None, "no query sent");
    assert_eq!(r.result(again), Some(Ok(vec![Ipv4Addr::new(4, 4, 4, 4)])));
    let later = r.start_query(ms(10_000), "cached.example").unwrap();
    assert!(r.poll(ms(10_000)).is_some(), "expired: asked again");
    assert_eq!(r.result(later), None);
}

#[test]
fn literals_and_bad_names() {
    let mut r = Resolver::new(&[], 1);
    let id = r.start_query(ms(0), "10.1.2.3").unwrap();
    assert_eq!(r.result(id), Some(Ok(vec![Ipv4Addr::new(10, 1, 2, 3)])));
    let id = r.start_query(ms(0), "localhost").unwrap();
    assert_eq!(r.result(id), Some(Ok(vec![Ipv4Addr::LOCALHOST])));
    assert_eq!(r.poll(ms(0)), None);
    assert_eq!(r.start_query(ms(0), "example.com"), Err(Errno::ENETUNREACH));
    let long_label = "a".repeat(64);
    let long_name = ["abcdefghi"; 26].join(".");
    for bad in [
        "",
        ".",
        "a..b",
        "foo bar",
        "x\0y",
        &long_label,
        &long_name,
        "1.2.3.4.5..",
        "é.com",
    ] {
        assert_eq!(r.start_query(ms(0), bad), Err(Errno::EINVAL), "{bad:?}");
    }
    let longest = Name::from_text(&["abcdefghi"; 25].join(".")).unwrap();
    assert_eq!(longest.as_bytes().len(), 251);
}

#[test]
fn the_query_table_is_bounded() {
    let mut r = Resolver::new(&[S1], 1);
    let ids: Vec<QueryId> = (0..MAX_QUERIES)
        .map(|i| {
            r.start_query(ms(0), &alloc::format!("h{i}.example"))
                .unwrap()
        })
        .collect();
    assert_eq!(r.start_query(ms(0), "one.more"), Err(Errno::EAGAIN));
    r.cancel(ids[3]);
    assert_eq!(r.result(ids[3]), Some(Err(Errno::EINVAL)));
    let again = r.start_query(ms(0), "one.more").unwrap();
    assert_ne!(again, ids[3], "a reused slot gets a new handle");
    let mut tx_ids = Vec::new();
    while let Some(t) = r.poll(ms(0)) {
        tx_ids.push(parse_query(&t.payload).id);
    }
    assert_eq!(tx_ids.len(), MAX_QUERIES);
    tx_ids.sort();
    tx_ids.dedup();
    assert_eq!(tx_ids.len(), MAX_QUERIES, "distinct transaction ids");
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parsing_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse_response(&bytes);
        }

        #[test]
        fn names_at_any_offset_never_panic(
            bytes in proptest::collection::vec(any::<u8>(), 12..300),
            at in 0usize..320,
        ) {
            if let Ok((name, end)) = read_name(&bytes, at) {
                prop_assert!(name.as_bytes().len() <= MAX_NAME_LEN);
                prop_assert!(end <= bytes.len());
            }
        }

        #[test]
        fn arbitrary_bodies_under_a_matching_header_never_panic(
            flags in any::<u16>(),
            counts in any::<[u8; 8]>(),
            body in proptest::collection::vec(any::<u8>(), 0..300),
            keep_question in any::<bool>(),
        ) {
            let (mut r, id, t) = started("www.example.com");
            let mut m = t.payload.clone();
            m[2..4].copy_from_slice(&(flags | 0x8000).to_be_bytes());
            m[4..12].copy_from_slice(&counts);
            if keep_question {
                m[5] = 1;
            } else {
                m.truncate(12);
            }
            m.extend_from_slice(&body);
            let _ = r.receive(ms(1), from_s1(), &m);
            let _ = r.result(id);
            let _ = r.poll(ms(10_000));
            prop_assert_eq!(r.counters().in_responses, 1);
        }
    }
}
