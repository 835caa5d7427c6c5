//! Entropy for seeding the stack's PRNG (ISNs, ephemeral ports, DHCP xids): RDSEED if CPUID
//! advertises it, else RDRAND, else TSC jitter mixed through a 64-bit finaliser.
//!
//! Owns only the choice of source; it is not a CSPRNG and keeps no state beyond that choice.

use core::arch::asm;
use core::sync::atomic::{AtomicU8, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Rdseed,
    Rdrand,
    TscJitter,
}

/// 0 = not probed, then 1 + Source index.
static SOURCE: AtomicU8 = AtomicU8::new(0);

/// Which source `seed`/`fill` use (probed once, logged at first use).
pub fn source() -> Source {
    match SOURCE.load(Ordering::Relaxed) {
        1 => Source::Rdseed,
        2 => Source::Rdrand,
        3 => Source::TscJitter,
        _ => {
            let s = probe();
            SOURCE.store(
                match s {
                    Source::Rdseed => 1,
                    Source::Rdrand => 2,
                    Source::TscJitter => 3,
                },
                Ordering::Relaxed,
            );
            log::info!("entropy: using {s:?}");
            s
        }
    }
}

fn probe() -> Source {
    let max_leaf = super::cpuid(0, 0).eax;
    if max_leaf >= 7 && super::cpuid(7, 0).ebx & (1 << 18) != 0 && rdseed().is_some() {
        return Source::Rdseed;
    }
    if super::cpuid(1, 0).ecx & (1 << 30) != 0 && rdrand().is_some() {
        return Source::Rdrand;
    }
    Source::TscJitter
}

/// RDSEED with the recommended bounded retry; None if the CPU keeps reporting underflow.
fn rdseed() -> Option<u64> {
    for _ in 0..100 {
        let value: u64;
        let ok: u8;
        // SAFETY: only called after CPUID.7.EBX[18] says RDSEED exists; it writes a register
        // and CF only.
        unsafe {
            asm!("rdseed {v}", "setc {ok}", v = out(reg) value, ok = out(reg_byte) ok,
                 options(nomem, nostack))
        };
        if ok != 0 {
            return Some(value);
        }
        core::hint::spin_loop();
    }
    None
}

/// RDRAND with the recommended 10 retries.
fn rdrand() -> Option<u64> {
    for _ in 0..10 {
        let value: u64;
        let ok: u8;
        // SAFETY: only called after CPUID.1.ECX[30] says RDRAND exists; it writes a register
        // and CF only.
        unsafe {
            asm!("rdrand {v}", "setc {ok}", v = out(reg) value, ok = out(reg_byte) ok,
                 options(nomem, nostack))
        };
        if ok != 0 {
            return Some(value);
        }
    }
    None
}

/// The splitmix64 finaliser: spreads every input bit over the output.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Gather the low bits of TSC deltas across work whose duration varies (cache, emulation,
/// host scheduling), folding each sample into the state.
fn tsc_jitter() -> u64 {
    let mut state = super::rdtsc();
    for i in 0..64u64 {
        let t0 = super::rdtsc();
        let mut acc = state;
        for j in 0..(16 + (state & 15)) {
            acc = mix(acc ^ j);
        }
        let t1 = super::rdtsc();
        state = mix(state ^ (t1.wrapping_sub(t0)).rotate_left((i % 64) as u32) ^ acc);
    }
    state
}

/// A 64-bit seed.
pub fn seed() -> u64 {
    match source() {
        Source::Rdseed => rdseed().unwrap_or_else(tsc_jitter),
        Source::Rdrand => rdrand().unwrap_or_else(tsc_jitter),
        Source::TscJitter => tsc_jitter(),
    }
}

/// Fill `buf` with entropy.
pub fn fill(buf: &mut [u8]) {
    for chunk in buf.chunks_mut(8) {
        let bytes = seed().to_le_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}
