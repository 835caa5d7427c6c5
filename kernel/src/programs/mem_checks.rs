//! kernel-test checks of the kernel's own memory routines (`mem::string`'s memcpy, memmove
//! and memset, reached through slice copies and fills with run-time lengths) and of the
//! sorted-vector map (`vecmap`) the scheduler and the memory map keep their tables in: every
//! length and alignment around the routines' 8- and 64-byte steps, against byte-by-byte
//! references.
//!
//! Owns nothing.

use alloc::vec;
use alloc::vec::Vec;
use core::hint::black_box;

use crate::vecmap::VecMap;

/// Lengths around the loops' 8- and 64-byte steps.
const LENGTHS: &[usize] = &[0, 1, 7, 8, 9, 63, 64, 65, 127, 128, 129, 200, 4096, 4099];
/// Offsets of source and destination (unaligned ones included).
const OFFSETS: &[usize] = &[0, 1, 3, 8, 13];

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect()
}

/// memcpy, memmove both ways (overlapping by every offset) and memset.
pub fn memory_routines() -> Result<(), &'static str> {
    for &len in LENGTHS {
        for &from in OFFSETS {
            for &to in OFFSETS {
                let src = pattern(from + len + 16, 0x5a);
                let mut dst = vec![0xeeu8; to + len + 16];
                dst[black_box(to)..to + len].copy_from_slice(&src[black_box(from)..from + len]);
                let mut want = vec![0xeeu8; to + len + 16];
                // The references copy byte by byte: they must not call the routines checked.
                #[allow(clippy::manual_memcpy)]
                for i in 0..len {
                    want[to + i] = src[from + i];
                }
                if dst != want {
                    return Err("memcpy copied wrong bytes or wrote outside its range");
                }
                // Within one buffer: from < to moves up (backward copy), from > to down.
                let mut buf = pattern(from.max(to) + len + 16, 0xa5);
                let orig = buf.clone();
                let mut want = buf.clone();
                buf.copy_within(black_box(from)..from + len, black_box(to));
                #[allow(clippy::manual_memcpy)]
                for i in 0..len {
                    want[to + i] = orig[from + i];
                }
                if buf != want {
                    return Err("memmove of overlapping ranges lost or misplaced bytes");
                }
            }
            let mut buf = vec![0x11u8; from + len + 16];
            buf[black_box(from)..from + len].fill(black_box(0xc3));
            let ok = buf.iter().enumerate().all(|(i, &b)| {
                let inside = i >= from && i < from + len;
                b == if inside { 0xc3 } else { 0x11 }
            });
            if !ok {
                return Err("memset filled wrong bytes or wrote outside its range");
            }
        }
    }
    Ok(())
}

/// Inserts in any order keep key order; lookups, neighbours, ranges and removal agree with a
/// plain sorted list.
pub fn vecmap_order() -> Result<(), &'static str> {
    let mut m = VecMap::new();
    let keys = [50u64, 10, 40, 20, 30, 60, 0];
    for k in keys {
        if m.insert(k, k * 2).is_some() {
            return Err("insert of a new key replaced something");
        }
    }
    if m.insert(30, 7) != Some(60) || m.get(&30) != Some(&7) {
        return Err("insert of an existing key did not replace its value");
    }
    let order: Vec<u64> = m.iter().map(|(k, _)| *k).collect();
    if order != [0, 10, 20, 30, 40, 50, 60] {
        return Err("entries out of key order");
    }
    if m.at_or_below(35).map(|(k, _)| k) != Some(30)
        || m.at_or_below(30).map(|(k, _)| k) != Some(30)
    {
        return Err("at_or_below found the wrong entry");
    }
    if m.below(30).map(|(k, _)| k) != Some(20) || m.below(0).is_some() {
        return Err("below found the wrong entry");
    }
    let mid: Vec<u64> = m.range(15..45).map(|(k, _)| k).collect();
    if mid != [20, 30, 40] || m.range(black_box(45)..black_box(15)).next().is_some() {
        return Err("range returned the wrong entries");
    }
    let mut drained = Vec::new();
    m.drain_range(10..31, |k, _| drained.push(k));
    let left: Vec<u64> = m.iter().map(|(k, _)| *k).collect();
    if drained != [10, 20, 30] || left != [0, 40, 50, 60] {
        return Err("drain_range removed the wrong entries");
    }
    if m.remove(&40) != Some(80) || m.remove(&40).is_some() || m.len() != 3 {
        return Err("remove disagreed with the table");
    }
    Ok(())
}
