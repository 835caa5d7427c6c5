//! The initial process stack as Linux builds it for a new program (x86-64 psABI §3.4.1):
//! at the stack pointer `argc`, then `argv[]` and a NULL, `envp[]` and a NULL, the auxiliary
//! vector ending in AT_NULL; above them the 16 `AT_RANDOM` bytes and the platform string; at
//! the top the argument strings, the environment strings and the file name (`AT_EXECFN`).
//! The stack pointer is 16-byte aligned.
//!
//! Bounded: each string at most [`MAX_ARG_STRLEN`] bytes, strings and pointers together at
//! most [`MAX_ARG_BYTES`]; more is `E2BIG`, as on Linux.

use alloc::vec::Vec;

use crate::auxv::at;
use crate::ExecError;

/// Longest single argument or environment string, NUL included (Linux: 32 pages).
pub const MAX_ARG_STRLEN: usize = 32 * 4096;
/// Strings, pointers and the auxiliary vector together at most (Linux's guaranteed minimum
/// ARG_MAX, 32 pages; our program stacks are small).
pub const MAX_ARG_BYTES: usize = 128 * 1024;

/// What goes on a new program's stack.
#[derive(Debug, Clone, Copy)]
pub struct StackRequest<'a> {
    /// First address above the stack (16-byte aligned).
    pub top: u64,
    /// Strings without their NUL (one is added).
    pub argv: &'a [&'a [u8]],
    pub envp: &'a [&'a [u8]],
    /// The path the program was run as (`AT_EXECFN`).
    pub execfn: &'a [u8],
    /// `AT_PLATFORM`'s string, e.g. `x86_64`.
    pub platform: &'a [u8],
    /// The auxiliary vector without AT_RANDOM, AT_EXECFN, AT_PLATFORM and AT_NULL.
    pub auxv: &'a [(u64, u64)],
    /// The 16 bytes `AT_RANDOM` points at (libcs seed stack protectors and pointer guards).
    pub random: [u8; 16],
}

/// The stack image: `bytes` belong at `[sp, top)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialStack {
    pub sp: u64,
    pub bytes: Vec<u8>,
    /// Where argv[0]'s string starts and where the last environment string ends (Linux's
    /// arg_start .. env_end, for /proc/self/cmdline and environ).
    pub arg_start: u64,
    pub env_end: u64,
}

fn too_big() -> ExecError {
    ExecError::TooBig
}

/// Lays out the initial stack for `req`.
pub fn build_stack(req: &StackRequest<'_>) -> Result<InitialStack, ExecError> {
    if !req.top.is_multiple_of(16) {
        return Err(ExecError::NotExecutable("stack top not 16-byte aligned"));
    }
    let strings = req
        .argv
        .iter()
        .chain(req.envp.iter())
        .chain(core::iter::once(&req.execfn))
        .chain(core::iter::once(&req.platform));
    let mut string_bytes = 0usize;
    for s in strings {
        if s.len() >= MAX_ARG_STRLEN || s.contains(&0) {
            return Err(too_big());
        }
        string_bytes += s.len() + 1;
        if string_bytes > MAX_ARG_BYTES {
            return Err(too_big());
        }
    }
    // Pointer table: argc, argv + NULL, envp + NULL, auxv (+3 of ours) + AT_NULL.
    let words = 1 + req.argv.len() + 1 + req.envp.len() + 1 + 2 * (req.auxv.len() + 4);
    let table = words.checked_mul(8).ok_or_else(too_big)?;
    let total_estimate = table + string_bytes + 16 + 32;
    if total_estimate > MAX_ARG_BYTES {
        return Err(too_big());
    }

    // Addresses, from the top down: 8 zero bytes, the strings, then (8-aligned) the random
    // bytes, then the table, 16-aligned.
    let below = |a: u64, n: u64| a.checked_sub(n).ok_or_else(too_big);
    let strings_start = below(req.top, 8 + string_bytes as u64)?;
    let random_at = below(strings_start, 16)? & !7;
    let sp = below(random_at, table as u64)? & !15;
    let len = (req.top - sp) as usize;
    let mut bytes = alloc::vec![0u8; len];
    let off = |addr: u64| (addr - sp) as usize;

    // Each string lands at `cursor` (ascending), NUL-terminated by the zeroed buffer.
    let mut cursor = strings_start;
    let mut place_all = |bytes: &mut Vec<u8>, list: &[&[u8]]| -> Vec<u64> {
        list.iter()
            .map(|s| {
                let at = cursor;
                let o = off(at);
                bytes[o..o + s.len()].copy_from_slice(s);
                cursor += s.len() as u64 + 1;
                at
            })
            .collect()
    };
    let argv_ptrs = place_all(&mut bytes, req.argv);
    let envp_ptrs = place_all(&mut bytes, req.envp);
    let tail = place_all(&mut bytes, &[req.execfn, req.platform]);
    let (execfn_at, platform_at) = (tail[0], tail[1]);
    let env_end = execfn_at;
    let o = off(random_at);
    bytes[o..o + 16].copy_from_slice(&req.random);

    let mut w = off(sp);
    let mut put = |bytes: &mut Vec<u8>, v: u64| {
        bytes[w..w + 8].copy_from_slice(&v.to_le_bytes());
        w += 8;
    };
    put(&mut bytes, req.argv.len() as u64);
    for p in argv_ptrs.iter().copied().chain([0]) {
        put(&mut bytes, p);
    }
    for p in envp_ptrs.iter().copied().chain([0]) {
        put(&mut bytes, p);
    }
    let ours = [
        (at::RANDOM, random_at),
        (at::EXECFN, execfn_at),
        (at::PLATFORM, platform_at),
        (at::NULL, 0),
    ];
    for &(k, v) in req.auxv.iter().chain(ours.iter()) {
        put(&mut bytes, k);
        put(&mut bytes, v);
    }
    Ok(InitialStack {
        sp,
        bytes,
        arg_start: strings_start,
        env_end,
    })
}
