//! `stackbench`: rinet against smoltcp, stack to stack over an in-memory Ethernet link, one
//! table. Run with `cargo run --release -p bench --bin stackbench [-- options]`.
//!
//! Options: `--quick` (small sizes, a few seconds), `--bulk-mib N` (total per bulk run),
//! `--rr N` (request/response rounds), `--cps N` (connections), `--buffer KIB` (socket
//! buffers), `--timestamps` (TCP timestamps on both stacks), `--only rinet|smoltcp`,
//! `--runs N` (repeat each measurement, report the best: other processes on a shared machine
//! only ever slow a run down; default 3), `--scenario
//! bulk1|bulk8|rr|cps|cps-small|bulk1-offload|bulk8-offload` (only these rows; repeatable),
//! `--verbose` (frames, virtual time and idle jumps per run).
//!
//! The `-offload` rows run the bulk scenarios over a link with the offloads a virtio-net link
//! between two guests on one host offers: checksums neither computed nor verified (frames
//! never leave memory) and TCP segmentation offload. Both stacks are told about the checksum
//! offload (smoltcp's `ChecksumCapabilities::ignored`); only rinet has TSO to use, smoltcp
//! sends MTU-sized segments as before. The link carries each super-segment whole to the
//! receiver, as a host bridge carries GSO frames between two guests with TSO and GRO.

use std::process::ExitCode;

use bench::rinet::RinetPair;
use bench::scenario::{bulk, connect_close, request_response, Outcome};
use bench::smol::SmolPair;
use bench::{Pair, Params};

struct Opts {
    bulk_bytes: u64,
    rr: u64,
    cps: u64,
    params: Params,
    cps_small: u64,
    only: Option<String>,
    scenarios: Vec<String>,
    runs: usize,
    verbose: bool,
}

const SCENARIOS: [&str; 7] = [
    "bulk1",
    "bulk8",
    "rr",
    "cps",
    "cps-small",
    "bulk1-offload",
    "bulk8-offload",
];

fn parse() -> Result<Opts, String> {
    let mut o = Opts {
        bulk_bytes: 1 << 30,
        rr: 500_000,
        cps: 10_000,
        cps_small: 1_000,
        params: Params::default(),
        only: None,
        scenarios: Vec::new(),
        runs: 3,
        verbose: false,
    };
    let mut args = std::env::args().skip(1);
    let num = |v: Option<String>, name: &str| -> Result<u64, String> {
        v.ok_or(format!("{name} needs a value"))?
            .parse::<u64>()
            .map_err(|e| format!("{name}: {e}"))
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--quick" => {
                o.bulk_bytes = 32 << 20;
                o.rr = 20_000;
                o.cps = 2_000;
                o.cps_small = 200;
            }
            "--bulk-mib" => o.bulk_bytes = num(args.next(), &a)? << 20,
            "--rr" => o.rr = num(args.next(), &a)?,
            "--cps" => o.cps = num(args.next(), &a)?,
            "--buffer" => o.params.buffer = num(args.next(), &a)? as usize * 1024,
            "--timestamps" => o.params.timestamps = true,
            "--only" => o.only = args.next(),
            "--runs" => o.runs = num(args.next(), &a)?.max(1) as usize,
            "--scenario" => {
                let v = args.next().unwrap_or_default();
                if !SCENARIOS.contains(&v.as_str()) {
                    return Err(format!("--scenario: one of {SCENARIOS:?}"));
                }
                o.scenarios.push(v);
            }
            "--verbose" => o.verbose = true,
            "--bench" => {} // passed by `cargo bench`
            "-h" | "--help" => {
                return Err(
                    "usage: stackbench [--quick] [--bulk-mib N] [--rr N] [--cps N] \
                            [--buffer KIB] [--timestamps] [--only rinet|smoltcp] [--runs N] \
                            [--scenario bulk1|bulk8|rr|cps|cps-small] [--verbose]"
                        .into(),
                )
            }
            _ => return Err(format!("unknown option {a}")),
        }
    }
    Ok(o)
}

/// One scenario's figure for each stack (None when skipped).
struct Row {
    label: String,
    unit: &'static str,
    rinet: Option<f64>,
    smol: Option<f64>,
}

fn run<P: Pair>(
    o: &Opts,
    which: &str,
    mut make: impl FnMut(Params) -> P,
    verbose: &mut Vec<String>,
) -> [Option<f64>; SCENARIOS.len()] {
    let mut out = [None; SCENARIOS.len()];
    if o.only.as_deref().is_some_and(|w| w != which) {
        return out;
    }
    for (k, name) in SCENARIOS.iter().enumerate() {
        if !o.scenarios.is_empty() && !o.scenarios.iter().any(|s| s == name) {
            continue;
        }
        let mut figures = Vec::new();
        let plain = o.params;
        let offload = Params {
            offload: true,
            ..o.params
        };
        for _ in 0..o.runs {
            let r: Outcome = match *name {
                "bulk1" => bulk(&mut make(plain), 1, o.bulk_bytes),
                "bulk8" => bulk(&mut make(plain), 8, o.bulk_bytes),
                "rr" => request_response(&mut make(plain), o.rr),
                "cps" => connect_close(&mut make(plain), o.cps),
                "cps-small" => connect_close(&mut make(plain), o.cps_small),
                "bulk1-offload" => bulk(&mut make(offload), 1, o.bulk_bytes),
                _ => bulk(&mut make(offload), 8, o.bulk_bytes),
            };
            verbose.push(format!(
                "{which:8} {name:10} units {:>10}  wall {:>8.3} s  virtual {:>8.3} s  jumps {:>6}  frames {:>9}",
                r.units,
                r.wall.as_secs_f64(),
                r.virtual_ns as f64 / 1e9,
                r.jumps,
                r.frames
            ));
            figures.push(if name.starts_with("bulk") {
                r.gbit_per_sec()
            } else {
                r.per_sec()
            });
        }
        figures.sort_by(f64::total_cmp);
        out[k] = figures.last().copied();
    }
    out
}

fn main() -> ExitCode {
    let o = match parse() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let mut verbose = Vec::new();
    let p = o.params;
    let r = run(&o, "rinet", RinetPair::new, &mut verbose);
    let s = run(&o, "smoltcp", SmolPair::new, &mut verbose);
    let mib = o.bulk_bytes >> 20;
    let size = if mib >= 1024 && mib % 1024 == 0 {
        format!("{} GiB", mib / 1024)
    } else {
        format!("{mib} MiB")
    };
    let labels = [
        (format!("bulk, 1 connection ({size})"), "Gbit/s"),
        (format!("bulk, 8 connections ({size})"), "Gbit/s"),
        (
            format!("1-byte request/response ({} rounds)", o.rr),
            "rounds/s",
        ),
        (format!("connect+close ({} connections)", o.cps), "conns/s"),
        (
            format!("connect+close ({} connections)", o.cps_small),
            "conns/s",
        ),
        (format!("bulk, 1 conn., link offloads ({size})"), "Gbit/s"),
        (format!("bulk, 8 conn., link offloads ({size})"), "Gbit/s"),
    ];
    let rows: Vec<Row> = labels
        .into_iter()
        .enumerate()
        .map(|(i, (label, unit))| Row {
            label,
            unit,
            rinet: r[i],
            smol: s[i],
        })
        .filter(|row| row.rinet.is_some() || row.smol.is_some())
        .collect();
    println!(
        "stack to stack over an in-memory Ethernet link: MTU {}, buffers {} KiB each side, \
         timestamps {}, no loss, no delay; both endpoints on one thread; best of {} runs",
        p.mtu,
        p.buffer / 1024,
        if p.timestamps { "on" } else { "off" },
        o.runs
    );
    println!(
        "| {:<40} | {:>8} | {:>12} | {:>12} | {:>13} |",
        "scenario", "unit", "rinet", "smoltcp", "rinet/smoltcp"
    );
    println!(
        "|{:-<42}|{:-<10}|{:-<14}|{:-<14}|{:-<15}|",
        "", "", "", "", ""
    );
    let fmt = |v: Option<f64>, unit: &str| match v {
        None => "-".to_string(),
        Some(x) if unit == "Gbit/s" => format!("{x:.2}"),
        Some(x) => format!("{x:.0}"),
    };
    for row in &rows {
        let ratio = match (row.rinet, row.smol) {
            (Some(a), Some(b)) if b > 0.0 && a / b < 0.1 => format!("{:.4}", a / b),
            (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
            _ => "-".into(),
        };
        println!(
            "| {:<40} | {:>8} | {:>12} | {:>12} | {:>13} |",
            row.label,
            row.unit,
            fmt(row.rinet, row.unit),
            fmt(row.smol, row.unit),
            ratio
        );
    }
    if o.verbose {
        for v in verbose {
            println!("{v}");
        }
    }
    ExitCode::SUCCESS
}
