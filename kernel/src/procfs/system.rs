//! The system-wide files of /proc: `meminfo` (from the frame allocator and the tree's use),
//! `cpuinfo` (one processor, from CPUID), `stat` (the `cpu` lines and `btime`), `uptime`,
//! `loadavg` and `version`, in Linux's formats (proc(5)).
//!
//! Owns what these files say. CPU times and the load average are the scheduler's accounting
//! (`cputime`, `loadavg`); what the kernel does not tell apart (nice, I/O wait, interrupt
//! time) is 0.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use vfs::Errno;

use super::process::ticks;
use super::render;
use crate::mem::{self, frames::FRAME_SIZE};

/// A file directly under /proc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SystemFile {
    Meminfo,
    Cpuinfo,
    Stat,
    Uptime,
    Loadavg,
    Version,
}

impl SystemFile {
    pub const ALL: [SystemFile; 6] = [
        SystemFile::Cpuinfo,
        SystemFile::Loadavg,
        SystemFile::Meminfo,
        SystemFile::Stat,
        SystemFile::Uptime,
        SystemFile::Version,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SystemFile::Meminfo => "meminfo",
            SystemFile::Cpuinfo => "cpuinfo",
            SystemFile::Stat => "stat",
            SystemFile::Uptime => "uptime",
            SystemFile::Loadavg => "loadavg",
            SystemFile::Version => "version",
        }
    }
}

/// The text of /proc/`f`.
pub fn text(f: SystemFile) -> Result<Vec<u8>, Errno> {
    match f {
        SystemFile::Meminfo => meminfo(),
        SystemFile::Cpuinfo => cpuinfo(),
        SystemFile::Stat => stat(),
        SystemFile::Uptime => {
            let up = ticks(crate::time::now().as_nanos());
            let idle = ticks(crate::cputime::totals().idle);
            render(|s| {
                writeln!(
                    s,
                    "{}.{:02} {}.{:02}",
                    up / 100,
                    up % 100,
                    idle / 100,
                    idle % 100
                )
            })
        }
        SystemFile::Loadavg => {
            let (avg, runnable, threads) = crate::sched::load();
            let last = crate::process::live_pids()
                .and_then(|p| p.last().copied())
                .unwrap_or(0);
            render(|s| {
                for a in avg {
                    write!(s, "{}.{:02} ", a / 100, a % 100)?;
                }
                writeln!(s, "{runnable}/{threads} {last}")
            })
        }
        SystemFile::Version => render(|s| {
            // The release and version `uname` reports.
            writeln!(
                s,
                "Linux version 6.1.0-rinet (rinet@rinet) (rustc) #1 rinet"
            )
        }),
    }
}

fn meminfo() -> Result<Vec<u8>, Errno> {
    let kb = |frames: usize| frames as u64 * FRAME_SIZE / 1024;
    let total = kb(mem::total_frame_count());
    let free = kb(mem::free_frame_count());
    // The tree's files live in memory, as Linux counts tmpfs under Cached and Shmem.
    let cached = crate::fs::root().map_or(0, |fs| fs.usage().0 as u64 / 1024);
    let rows: [(&str, u64); 16] = [
        ("MemTotal", total),
        ("MemFree", free),
        ("MemAvailable", free),
        ("Buffers", 0),
        ("Cached", cached),
        ("SwapCached", 0),
        ("Active", 0),
        ("Inactive", 0),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Dirty", 0),
        ("Writeback", 0),
        (
            "AnonPages",
            total.saturating_sub(free).saturating_sub(cached),
        ),
        ("Mapped", 0),
        ("Shmem", cached),
        ("CommitLimit", total),
    ];
    render(|s| {
        for (name, v) in rows {
            let label = alloc::format!("{name}:");
            writeln!(s, "{label:<16}{v:>8} kB")?;
        }
        Ok(())
    })
}

/// Four CPUID registers as text, for the vendor and brand strings.
fn regs_text(out: &mut String, regs: &[u32]) {
    for r in regs {
        for b in r.to_le_bytes() {
            if b != 0 {
                out.push(char::from(b));
            }
        }
    }
}

/// Linux's names of the CPUID leaf 1 EDX and ECX feature bits, by bit.
const EDX_FLAGS: [&str; 32] = [
    "fpu", "vme", "de", "pse", "tsc", "msr", "pae", "mce", "cx8", "apic", "", "sep", "mtrr", "pge",
    "mca", "cmov", "pat", "pse36", "pn", "clflush", "", "dts", "acpi", "mmx", "fxsr", "sse",
    "sse2", "ss", "ht", "tm", "ia64", "pbe",
];
const ECX_FLAGS: [&str; 32] = [
    "pni",
    "pclmulqdq",
    "dtes64",
    "monitor",
    "ds_cpl",
    "vmx",
    "smx",
    "est",
    "tm2",
    "ssse3",
    "cid",
    "sdbg",
    "fma",
    "cx16",
    "xtpr",
    "pdcm",
    "",
    "pcid",
    "dca",
    "sse4_1",
    "sse4_2",
    "x2apic",
    "movbe",
    "popcnt",
    "tsc_deadline_timer",
    "aes",
    "xsave",
    "",
    "avx",
    "f16c",
    "rdrand",
    "hypervisor",
];

fn cpuinfo() -> Result<Vec<u8>, Errno> {
    use crate::arch::cpuid;
    let l0 = cpuid(0, 0);
    let mut vendor = String::new();
    regs_text(&mut vendor, &[l0.ebx, l0.edx, l0.ecx]);
    let l1 = cpuid(1, 0);
    let family = (l1.eax >> 8) & 0xf;
    let ext_family = (l1.eax >> 20) & 0xff;
    let model = ((l1.eax >> 4) & 0xf) | (((l1.eax >> 16) & 0xf) << 4);
    let stepping = l1.eax & 0xf;
    let mut brand = String::new();
    if cpuid(0x8000_0000, 0).eax >= 0x8000_0004 {
        for leaf in 0x8000_0002..=0x8000_0004 {
            let r = cpuid(leaf, 0);
            regs_text(&mut brand, &[r.eax, r.ebx, r.ecx, r.edx]);
        }
    }
    let brand = brand.trim();
    let mut flags = String::new();
    for (bits, names) in [(l1.edx, &EDX_FLAGS), (l1.ecx, &ECX_FLAGS)] {
        for (i, name) in names.iter().enumerate() {
            if bits & (1 << i) != 0 && !name.is_empty() {
                if !flags.is_empty() {
                    flags.push(' ');
                }
                flags.push_str(name);
            }
        }
    }
    let mhz = crate::time::tsc_hz() / 1000;
    render(|s| {
        writeln!(s, "processor\t: 0")?;
        writeln!(s, "vendor_id\t: {vendor}")?;
        writeln!(
            s,
            "cpu family\t: {}",
            family + if family == 0xf { ext_family } else { 0 }
        )?;
        writeln!(s, "model\t\t: {model}")?;
        writeln!(s, "model name\t: {brand}")?;
        writeln!(s, "stepping\t: {stepping}")?;
        writeln!(s, "cpu MHz\t\t: {}.{:03}", mhz / 1000, mhz % 1000)?;
        writeln!(s, "physical id\t: 0")?;
        writeln!(s, "siblings\t: 1")?;
        writeln!(s, "core id\t\t: 0")?;
        writeln!(s, "cpu cores\t: 1")?;
        writeln!(s, "fpu\t\t: yes")?;
        writeln!(s, "flags\t\t: {flags}")?;
        writeln!(s, "address sizes\t: 48 bits physical, 48 bits virtual")?;
        writeln!(s)
    })
}

fn stat() -> Result<Vec<u8>, Errno> {
    let cpu = crate::cputime::totals();
    let (user, system, idle) = (ticks(cpu.user), ticks(cpu.system), ticks(cpu.idle));
    let btime = crate::time::realtime_offset().as_secs();
    let procs = crate::process::programs_created();
    let (_, runnable, _) = crate::sched::load();
    render(|s| {
        // user nice system idle iowait irq softirq steal guest guest_nice; one CPU.
        for name in ["cpu ", "cpu0"] {
            writeln!(s, "{name} {user} 0 {system} {idle} 0 0 0 0 0 0")?;
        }
        writeln!(s, "intr 0")?;
        writeln!(s, "ctxt {}", cpu.switches)?;
        writeln!(s, "btime {btime}")?;
        writeln!(s, "processes {procs}")?;
        writeln!(s, "procs_running {runnable}")?;
        writeln!(s, "procs_blocked 0")
    })
}
