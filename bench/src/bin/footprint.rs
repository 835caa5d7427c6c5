//! `footprint`: heap bytes per established, idle TCP connection (both ends together), rinet
//! against smoltcp 0.14 over the same in-memory link and socket-buffer size as `stackbench`.
//! Counted by a wrapping global allocator (the `cap` crate), in this binary only so that
//! `stackbench`'s timings pay nothing for it.
//!
//! Run with `cargo run --release -p bench --bin footprint [-- CONNECTIONS]` (default 64).
//! smoltcp's sockets own their buffers from creation (the application hands them in);
//! rinet's grow with the data, so an idle connection holds its control block only.

use std::alloc::System;
use std::process::ExitCode;

use bench::rinet::RinetPair;
use bench::smol::SmolPair;
use bench::{Clock, Pair, Params};
use cap::Cap;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// Iterations without a new accepted connection before giving up.
const STALL_LIMIT: u32 = 1_000_000;

/// Heap bytes the pair holds for `n` established connections (listen, connect, accept; no
/// data), measured from before the listener existed.
fn per_connection<P: Pair>(mut p: P, n: usize) -> Result<usize, String> {
    const PORT: u16 = 5004;
    let mut clock = Clock::new();
    let before = ALLOCATOR.allocated();
    p.listen(clock.now(), PORT, n);
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(p.connect(clock.now(), PORT));
    }
    let mut accepted = Vec::with_capacity(n);
    let mut idle = 0u32;
    while accepted.len() < n {
        let now = clock.now();
        p.poll(now);
        let mut progress = false;
        while let Some(id) = p.accept() {
            accepted.push(id);
            progress = true;
        }
        if progress || p.link().in_flight() > 0 {
            idle = 0;
        } else {
            idle += 1;
            if let Some(t) = p.poll_at(now) {
                clock.jump_to(t);
            }
            if idle > STALL_LIMIT {
                return Err(format!(
                    "{}: only {} of {n} accepted",
                    p.name(),
                    accepted.len()
                ));
            }
        }
    }
    // Let the last ACKs land.
    for _ in 0..100 {
        p.poll(clock.now());
    }
    let after = ALLOCATOR.allocated();
    drop(p);
    Ok(after.saturating_sub(before) / n)
}

fn main() -> ExitCode {
    let n = match std::env::args().nth(1).map(|a| a.parse::<usize>()) {
        None => 64,
        Some(Ok(n)) if n > 0 => n,
        _ => {
            eprintln!("usage: footprint [CONNECTIONS]");
            return ExitCode::from(2);
        }
    };
    let params = Params::default();
    let rinet = per_connection(RinetPair::new(params), n);
    let smol = per_connection(SmolPair::new(params), n);
    let (rinet, smol) = match (rinet, smol) {
        (Ok(r), Ok(s)) => (r, s),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("footprint: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "{n} idle established connections, socket buffers {} KiB each side, MTU {}",
        params.buffer / 1024,
        params.mtu
    );
    println!("| heap per connection (both ends) | rinet | smoltcp | rinet/smoltcp |");
    println!("|---|---:|---:|---:|");
    println!(
        "| bytes | {rinet} | {smol} | {:.4} |",
        rinet as f64 / smol.max(1) as f64
    );
    ExitCode::SUCCESS
}
