//! The loss-recovery table: seeds × impaired links, 4 MiB each, through the deterministic link
//! simulation. Prints simulated time, retransmissions, timeouts and the spurious ones per
//! scenario (`cargo test -p net perf_table -- --nocapture`); asserts only that every stream
//! arrives intact and that retransmissions and timeouts stay bounded by what the link lost —
//! never on time, which is the table's to show.

use super::sim::{bulk, Impaired, LinkCfg};
use crate::time::Duration;

/// Seeds per scenario (the recovery branch's 12 × 4 MiB measurement).
const SEEDS: u64 = 12;
/// Bytes per transfer.
const BYTES: u64 = 4 << 20;

fn scenarios() -> [(&'static str, LinkCfg); 10] {
    let d = LinkCfg::default();
    [
        ("clean, 128-pkt queue", d),
        ("1% loss both ways", LinkCfg { loss: 10, ..d }),
        ("5% loss both ways", LinkCfg { loss: 50, ..d }),
        (
            "20% loss A->B (data)",
            LinkCfg {
                loss: 200,
                impaired: Impaired::ToB,
                ..d
            },
        ),
        (
            "20% loss B->A (acks)",
            LinkCfg {
                loss: 200,
                impaired: Impaired::ToA,
                ..d
            },
        ),
        ("1% corrupted", LinkCfg { corrupt: 10, ..d }),
        (
            "25% reordered (10 ms)",
            LinkCfg {
                reorder: 250,
                reorder_extra: Duration::from_millis(10),
                ..d
            },
        ),
        ("5% duplicated", LinkCfg { dup: 50, ..d }),
        (
            "all at once",
            LinkCfg {
                loss: 50,
                dup: 50,
                reorder: 250,
                reorder_extra: Duration::from_millis(10),
                corrupt: 10,
                ..d
            },
        ),
        (
            "1% loss + 25% reorder",
            LinkCfg {
                loss: 10,
                reorder: 250,
                reorder_extra: Duration::from_millis(10),
                ..d
            },
        ),
    ]
}

#[test]
fn perf_table() {
    std::println!(
        "{:<24} {:>9} {:>8} {:>8} {:>8} {:>7} {:>8} {:>7}",
        "scenario (12 x 4 MiB)",
        "time s",
        "dropped",
        "retrans",
        "timeouts",
        "dsacks",
        "undone",
        "probes"
    );
    for (name, link) in scenarios() {
        let (mut time, mut dropped, mut retrans, mut rto, mut dsack, mut undo, mut tlp) =
            (0.0, 0, 0, 0, 0, 0, 0);
        for seed in 1..=SEEDS {
            let t = bulk(link, seed, BYTES);
            assert!(t.hash_ok, "{name} seed {seed}: stream damaged");
            assert_eq!(t.received, BYTES, "{name} seed {seed}");
            // Bounded: a segment resent about once per loss, plus a few probes per loss.
            assert!(
                t.retrans <= 3 * t.dropped + 64,
                "{name} seed {seed}: {} resent for {} dropped",
                t.retrans,
                t.dropped
            );
            assert!(
                t.timeouts <= t.dropped / 4 + 8,
                "{name} seed {seed}: {} timeouts for {} dropped",
                t.timeouts,
                t.dropped
            );
            time += t.elapsed.as_secs_f64();
            dropped += t.dropped;
            retrans += t.retrans;
            rto += t.timeouts;
            dsack += t.counters.dsack_recv;
            undo += t.counters.spurious_recoveries;
            tlp += t.counters.loss_probes;
        }
        std::println!(
            "{name:<24} {time:>9.3} {dropped:>8} {retrans:>8} {rto:>8} {dsack:>7} {undo:>8} {tlp:>7}"
        );
    }
}

/// Slow start with grown buffers overflows a 128-packet queue and leaves some 80 holes, far
/// more than 32 SACK ranges: each dropped segment is resent once and nothing else is (no
/// D-SACK comes back). A scoreboard that forgot the ranges above its 32nd resent the data
/// they covered too, twice per drop.
#[test]
fn queue_overflow_resends_each_drop_once() {
    for seed in [1, 2] {
        let t = bulk(LinkCfg::default(), seed, BYTES);
        assert!(t.hash_ok);
        assert!(t.dropped > 32, "seed {seed}: {} dropped", t.dropped);
        assert_eq!(t.retrans, t.dropped, "seed {seed}");
        assert_eq!(t.counters.dsack_recv, 0, "seed {seed}");
    }
}
