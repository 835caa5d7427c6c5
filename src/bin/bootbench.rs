//! Boot benchmark (not a test): per machine type, the median over N boots under TCG of the time
//! from QEMU launch to each boot milestone the kernel prints, and to QEMU's exit.
//!
//! `cargo run --release --bin bootbench -- [RUNS]` (default 5 runs per machine).

use std::time::Duration;

use rinet::{Guest, Machine, Net, MARK_KERNEL_ENTRY, MARK_NETWORK_READY, MARK_NIC_UP};

fn median(mut v: Vec<Duration>) -> Option<Duration> {
    if v.is_empty() {
        return None;
    }
    v.sort();
    Some(v[v.len() / 2])
}

fn fmt(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.3}", d.as_secs_f64()))
        .unwrap_or_else(|| "-".into())
}

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    let image = std::fs::metadata(rinet::kernel_path())
        .map(|m| m.len())
        .unwrap_or(0);
    println!("rinet boot benchmark: {runs} runs per machine, TCG, -m 128M, user networking, init=boot-test");
    println!(
        "kernel image: {} ({} bytes)",
        rinet::kernel_path().display(),
        image
    );
    println!();
    println!(
        "| machine | kernel entry (s) | NIC up (s) | network ready (s) | QEMU exit (s) | ok runs |"
    );
    println!("|---|---|---|---|---|---|");
    for machine in Machine::ALL {
        let (mut entry, mut nic, mut ready, mut exit) = (vec![], vec![], vec![], vec![]);
        let mut ok = 0;
        for _ in 0..runs {
            let guest = Guest::new(machine)
                .net(Net::User {
                    port_base: rinet::free_port_base(),
                })
                .append("init=boot-test quiet");
            let mut running = guest.spawn();
            let timeout = Duration::from_secs(120);
            let e = running.wait_for(MARK_KERNEL_ENTRY, timeout);
            let n = running.wait_for(MARK_NIC_UP, timeout);
            let r = running.wait_for(MARK_NETWORK_READY, timeout);
            let out = running.wait(timeout);
            entry.extend(e);
            nic.extend(n);
            ready.extend(r);
            if out.exit_code == Some(rinet::EXIT_SUCCESS) {
                ok += 1;
                exit.push(out.elapsed);
            }
        }
        println!(
            "| {} | {} | {} | {} | {} | {ok}/{runs} |",
            machine.name(),
            fmt(median(entry)),
            fmt(median(nic)),
            fmt(median(ready)),
            fmt(median(exit))
        );
    }
}
