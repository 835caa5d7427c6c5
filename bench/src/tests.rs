//! The harness end to end on tiny sizes: both stacks deliver a verified stream, answer
//! request/response rounds and open and close connections. Nothing is timed.

use crate::rinet::RinetPair;
use crate::scenario::{bulk, connect_close, request_response};
use crate::smol::SmolPair;
use crate::{Pair, Params};

fn exercise<P: Pair>(mut make: impl FnMut() -> P) {
    let total = 256 * 1024;
    let one = bulk(&mut make(), 1, total);
    assert_eq!(one.units, total);
    assert!(one.frames > 0, "frames carried");
    let eight = bulk(&mut make(), 8, total + 5);
    assert_eq!(eight.units, total + 5);
    assert_eq!(request_response(&mut make(), 50).units, 50);
    assert_eq!(connect_close(&mut make(), 20).units, 20);
}

#[test]
fn rinet_moves_verified_bytes() {
    exercise(|| RinetPair::new(Params::default()));
}

#[test]
fn smoltcp_moves_verified_bytes() {
    exercise(|| SmolPair::new(Params::default()));
}

#[test]
fn both_stacks_move_verified_bytes_over_the_link_with_offloads() {
    let offload = Params {
        offload: true,
        ..Params::default()
    };
    exercise(|| RinetPair::new(offload));
    exercise(|| SmolPair::new(offload));
    // Without offloads every data frame fits the 1500-byte MTU; with them rinet's
    // super-segments cross the link whole, smoltcp (no TSO) still sends MTU-sized ones.
    let total = 1 << 20;
    let plain = bulk(&mut RinetPair::new(Params::default()), 1, total);
    assert!(plain.frames >= total / 1460);
    let mut pair = RinetPair::new(offload);
    let tso = bulk(&mut pair, 1, total);
    assert_eq!(tso.units, total);
    assert!(tso.frames < total / 1460 / 4, "{} frames", tso.frames);
    // The receiver kept super-segments in their frames instead of copying them.
    assert!(pair.counters().1.rcv_adopted > 0);
    let smol = bulk(&mut SmolPair::new(offload), 1, total);
    assert!(smol.frames >= total / 1460);
}

#[test]
fn payload_check_rejects_wrong_bytes_and_wrong_offsets() {
    use crate::pattern;
    // A window crossing the end of the pattern is contiguous and still matches.
    let w = pattern::window(pattern::LEN as u64 - 10, 100).to_vec();
    assert!(pattern::matches(pattern::LEN as u64 - 10, &w));
    assert!(pattern::matches(2 * pattern::LEN as u64 - 10, &w));
    let mut bad = w.clone();
    bad[57] ^= 1;
    assert!(!pattern::matches(pattern::LEN as u64 - 10, &bad));
    // The same bytes at another connection's offset do not match.
    assert!(!pattern::matches(
        pattern::start_of(1),
        pattern::window(pattern::start_of(2), 64)
    ));
}
