//! Segmentation and checksum offload: a sender with `TcpConfig::tso_max` hands its NIC
//! super-segments of whole MSS segments, the NIC (the simulation's, or `Tcp::dispatch` for a
//! caller without one) cuts them, and the stream arrives whole and in order, under loss,
//! reordering and corruption as on a clean link.

use alloc::vec;
use alloc::vec::Vec;
use core::net::SocketAddrV4;

use super::sim::{bulk_with, LinkCfg, Net, A, B};
use crate::offload::TxOffload;
use crate::tcp::{TcpConfig, TSO_MAX_PAYLOAD};
use crate::wire::checksum;
use crate::wire::ipv4::protocol;
use crate::wire::tcp::flags;

/// The TCP header length of `seg`.
fn header_len(seg: &[u8]) -> usize {
    usize::from(seg[12] >> 4) * 4
}

fn offloading() -> TcpConfig {
    TcpConfig {
        tso_max: TSO_MAX_PAYLOAD,
        checksum_offload: true,
        ..TcpConfig::default()
    }
}

#[test]
fn super_segments_deliver_the_stream_under_every_impairment() {
    let total = 3 * 1024 * 1024;
    for (name, cfg, seed) in [
        ("clean", LinkCfg::default(), 11),
        (
            "loss 2%",
            LinkCfg {
                loss: 20,
                ..LinkCfg::default()
            },
            12,
        ),
        (
            "all",
            LinkCfg {
                loss: 10,
                dup: 10,
                reorder: 100,
                corrupt: 5,
                ..LinkCfg::default()
            },
            13,
        ),
    ] {
        let t = bulk_with(cfg, seed, total, offloading());
        std::println!(
            "sim tso {name:<6} 3 MiB in {:.3} s, {} super-segments, {} retransmitted",
            t.elapsed.as_secs_f64(),
            t.tso_frames,
            t.retrans
        );
        assert_eq!(t.received, total, "{name}: bytes missing");
        assert!(t.hash_ok, "{name}: stream corrupted or reordered");
        assert!(t.tso_frames > 0, "{name}: no super-segment was sent");
    }
    // Without the setting every segment is at most one MSS.
    let t = bulk_with(LinkCfg::default(), 11, total, TcpConfig::default());
    assert!(t.hash_ok);
    assert_eq!(t.tso_frames, 0);
}

/// A connection from A to B over `net`, established, with the server's handle.
fn established(net: &mut Net) -> (crate::tcp::Handle, crate::tcp::Handle) {
    let l = net.b.listen(SocketAddrV4::new(B, 80), 4).unwrap();
    let c = net
        .a
        .connect(
            net.now,
            SocketAddrV4::new(A, 0),
            SocketAddrV4::new(B, 80),
            Some(1500),
        )
        .unwrap();
    for _ in 0..20 {
        net.dispatch();
        net.step();
        if let Ok(s) = net.b.accept(l) {
            net.dispatch();
            net.step();
            return (c, s);
        }
    }
    panic!("no connection");
}

#[test]
fn a_write_leaves_as_super_segments_of_whole_mss_segments_with_a_partial_checksum() {
    let mut net = Net::new(LinkCfg::default(), 3, offloading());
    let (c, _s) = established(&mut net);
    // The initial window is 10 segments: one write of more goes out as one super-segment
    // of 10 segments.
    let data: Vec<u8> = (0..40_000u32).map(|i| (i % 253) as u8).collect();
    assert_eq!(net.a.send(c, &data).unwrap(), data.len());
    let mut seen: Vec<(TxOffload, Vec<u8>)> = Vec::new();
    net.a.dispatch_in_place(net.now, &mut |_, _, _, off, fill| {
        let mut seg = Vec::new();
        fill(&mut seg);
        seen.push((off, seg));
    });
    assert_eq!(seen.len(), 1, "one super-segment");
    let (off, seg) = &seen[0];
    let mss = usize::from(off.tcp_mss);
    // The MSS less the timestamp option every segment carries.
    assert_eq!(mss, 1460 - 12);
    assert!(off.tcp_checksum);
    let payload = &seg[header_len(seg)..];
    assert_eq!(payload.len(), 10 * mss);
    assert!(payload == &data[..10 * mss], "the written bytes");
    let partial = checksum::partial_transport_checksum(A, B, protocol::TCP, seg.len() as u16);
    assert_eq!(u16::from_be_bytes([seg[16], seg[17]]), partial);
    // The end of this burst (not of the write) carries PSH: the last segment cut from it.
    assert_ne!(seg[13] & flags::PSH, 0);
}

#[test]
fn dispatch_cuts_super_segments_for_a_caller_without_offloads() {
    let mut net = Net::new(LinkCfg::default(), 4, offloading());
    let (c, _s) = established(&mut net);
    let data: Vec<u8> = (0..40_000u32).map(|i| (i % 241) as u8).collect();
    net.a.send(c, &data).unwrap();
    let mut segs: Vec<Vec<u8>> = Vec::new();
    net.a
        .dispatch(net.now, &mut |_, _, seg| segs.push(seg.to_vec()));
    assert_eq!(segs.len(), 10);
    let mut stream = vec![];
    for (i, s) in segs.iter().enumerate() {
        assert!(
            checksum::verify_transport(A, B, protocol::TCP, s),
            "segment {i}"
        );
        assert_eq!(s.len(), 1460 + 20);
        assert_eq!(s[13] & flags::PSH != 0, i == 9, "PSH on the last only");
        stream.extend_from_slice(&s[header_len(s)..]);
    }
    assert!(
        stream == data[..stream.len()],
        "the written bytes, in order"
    );
}

#[test]
fn checksum_offload_alone_leaves_segments_of_one_mss_with_partial_checksums() {
    let cfg = TcpConfig {
        checksum_offload: true,
        ..TcpConfig::default()
    };
    let mut net = Net::new(LinkCfg::default(), 5, cfg);
    let (c, _s) = established(&mut net);
    // Three full segments; Nagle holds the 656-byte tail while they are unacknowledged.
    net.a.send(c, &[7u8; 5000]).unwrap();
    let mut seen = Vec::new();
    net.a.dispatch_in_place(net.now, &mut |_, _, _, off, fill| {
        let mut seg = Vec::new();
        fill(&mut seg);
        seen.push((off, seg));
    });
    assert_eq!(seen.len(), 3);
    for (off, seg) in &mut seen {
        assert_eq!(seg.len() - header_len(seg), 1448);
        assert_eq!(
            *off,
            TxOffload {
                tcp_checksum: true,
                tcp_mss: 0
            }
        );
        assert!(!checksum::verify_transport(A, B, protocol::TCP, seg));
        crate::offload::complete_tcp_checksum(seg).unwrap();
        assert!(checksum::verify_transport(A, B, protocol::TCP, seg));
    }
}
