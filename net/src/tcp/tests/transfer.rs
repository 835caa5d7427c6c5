//! 10 MB bulk transfers through the simulated link under each impairment; each run prints its
//! simulated completion time (visible with `--nocapture`).

use super::sim::{bulk, bulk_with, LinkCfg};
use crate::tcp::TcpConfig;
use crate::time::Duration;

const TEN_MB: u64 = 10 * 1024 * 1024;

fn run(name: &str, cfg: LinkCfg, seed: u64) {
    let t = bulk(cfg, seed, TEN_MB);
    std::println!(
        "sim {name:<12} 10 MiB in {:>8.3} s simulated: {:>5} retransmitted, {:>4} timeouts, {:>4} fast retransmits, {:>5} dropped by the link",
        t.elapsed.as_secs_f64(),
        t.retrans,
        t.timeouts,
        t.fast_retransmits,
        t.dropped
    );
    assert_eq!(t.received, TEN_MB, "{name}: bytes missing");
    assert!(t.hash_ok, "{name}: stream corrupted or reordered");
}

#[test]
fn clean_link() {
    run("clean", LinkCfg::default(), 1);
}

#[test]
fn loss_1_percent() {
    run(
        "loss 1%",
        LinkCfg {
            loss: 10,
            ..LinkCfg::default()
        },
        2,
    );
}

#[test]
fn loss_5_percent() {
    run(
        "loss 5%",
        LinkCfg {
            loss: 50,
            ..LinkCfg::default()
        },
        3,
    );
}

#[test]
fn loss_20_percent() {
    run(
        "loss 20%",
        LinkCfg {
            loss: 200,
            ..LinkCfg::default()
        },
        4,
    );
}

#[test]
fn reorder_25_percent() {
    run(
        "reorder 25%",
        LinkCfg {
            reorder: 250,
            ..LinkCfg::default()
        },
        5,
    );
}

#[test]
fn duplicate_5_percent() {
    run(
        "dup 5%",
        LinkCfg {
            dup: 50,
            ..LinkCfg::default()
        },
        6,
    );
}

#[test]
fn corrupt_1_percent() {
    run(
        "corrupt 1%",
        LinkCfg {
            corrupt: 10,
            ..LinkCfg::default()
        },
        7,
    );
}

#[test]
fn everything_at_once() {
    let cfg = LinkCfg {
        loss: 50,
        reorder: 250,
        dup: 50,
        corrupt: 10,
        delay: Duration::from_millis(20),
        ..LinkCfg::default()
    };
    run("all at once", cfg, 8);
}

/// The SACK evidence: the same 5 %-loss link and seeds with and without SACK. Each
/// seed's run is deterministic, so the comparison is of simulated time, not of the machine.
#[test]
fn sack_beats_no_sack_at_5_percent_loss() {
    let link = LinkCfg {
        loss: 50,
        ..LinkCfg::default()
    };
    let (mut with, mut without) = (0.0, 0.0);
    for seed in [3, 11, 12] {
        let sack = bulk_with(link, seed, TEN_MB, TcpConfig::default());
        let plain = bulk_with(
            link,
            seed,
            TEN_MB,
            TcpConfig {
                sack_permitted: false,
                ..TcpConfig::default()
            },
        );
        assert!(sack.hash_ok && plain.hash_ok, "seed {seed}: stream damaged");
        std::println!(
            "sim loss 5% seed {seed:>2}: SACK {:>7.3} s ({} timeouts), no SACK {:>7.3} s ({} timeouts)",
            sack.elapsed.as_secs_f64(),
            sack.timeouts,
            plain.elapsed.as_secs_f64(),
            plain.timeouts
        );
        with += sack.elapsed.as_secs_f64();
        without += plain.elapsed.as_secs_f64();
    }
    std::println!("sim loss 5% total: SACK {with:.3} s, no SACK {without:.3} s");
    assert!(
        with < without,
        "SACK ({with:.3} s) was not faster than no SACK ({without:.3} s)"
    );
}

/// HyStart++ (RFC 9406) on a path with a deep bottleneck queue (1000 packets, 20 ms RTT,
/// 100 Mbit/s) and buffers large enough not to cap the window (16 MiB): without it slow start
/// doubles until the queue overflows and loses hundreds of segments; with it slow start ends
/// before that, with no loss, and the transfer finishes sooner.
#[test]
fn hystart_ends_slow_start_before_a_deep_queue_overflows() {
    let link = LinkCfg {
        queue: 1000,
        ..LinkCfg::default()
    };
    let run = |hystart: bool| {
        let cfg = TcpConfig {
            send_buffer: 16 << 20,
            recv_buffer: 16 << 20,
            hystart,
            ..TcpConfig::default()
        };
        let t = bulk_with(link, 1, TEN_MB, cfg);
        std::println!(
            "sim deep queue, HyStart++ {:<5}: 10 MiB in {:.3} s, {} retransmitted, {} dropped by the link",
            hystart,
            t.elapsed.as_secs_f64(),
            t.retrans,
            t.dropped
        );
        assert!(t.hash_ok && t.received == TEN_MB);
        t
    };
    let (off, on) = (run(false), run(true));
    assert!(
        off.dropped > 100,
        "the overshoot loses segments without HyStart++"
    );
    assert_eq!(on.dropped, 0, "no segment lost with HyStart++");
    assert!(on.elapsed < off.elapsed);
}
