//! The kernel addresses the cases aim at: given on the command line as `NAME=ADDRESS` words
//! (the host test reads them from rinet's kernel ELF and passes them after `--` on the kernel
//! command line), else Linux's usual layout without KASLR, so that the program is useful on
//! any x86_64 Linux as it is. The program never derives an address from the kernel it runs
//! on: whichever kernel it is, every one of these must be out of its reach.

/// A kernel address by the name the command line gives it.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// `text`, `data`, ...: the word's name, also how messages call it.
    pub key: &'static str,
    /// What it is, for messages.
    pub what: &'static str,
    pub addr: u64,
}

/// The names a command line may set, what they are, and Linux's defaults (x86_64, 4-level
/// paging, no KASLR: Documentation/arch/x86/x86_64/mm.rst).
const DEFAULTS: [(&str, &str, u64); 7] = [
    ("text", "kernel text", 0xffff_ffff_8100_0000),
    ("rodata", "kernel rodata", 0xffff_ffff_8200_0000),
    ("data", "kernel data", 0xffff_ffff_8260_0000),
    // kmalloc memory lives in the direct map.
    ("heap", "kernel heap", 0xffff_8880_0100_0000),
    // vmalloc'd kernel stacks.
    ("kstack", "kernel stack", 0xffff_c900_0000_0000),
    ("pagetables", "page tables", 0xffff_8880_0000_1000),
    // Physical 1 MiB through the direct map of all physical memory.
    ("directmap", "direct map", 0xffff_8880_0010_0000),
];

/// The descriptor tables: only given on the command line; without, the fault program finds
/// them with `sidt`/`sgdt` (which fault where UMIP is on).
const TABLES: [(&str, &str); 2] = [("idt", "IDT"), ("gdt", "GDT")];

/// Every address the cases use.
#[derive(Clone, Debug)]
pub struct Targets {
    pub kernel: Vec<Target>,
    pub idt: Option<u64>,
    pub gdt: Option<u64>,
}

impl Targets {
    /// Linux's defaults, changed by the `NAME=ADDRESS` words of `words`; other words are
    /// returned for the caller. An unknown name or a malformed address is an error.
    pub fn parse(words: &[String]) -> Result<(Targets, Vec<String>), String> {
        let mut t = Targets {
            kernel: DEFAULTS
                .iter()
                .map(|&(key, what, addr)| Target { key, what, addr })
                .collect(),
            idt: None,
            gdt: None,
        };
        let mut rest = Vec::new();
        for w in words {
            let Some((key, value)) = w.split_once('=') else {
                rest.push(w.clone());
                continue;
            };
            let addr = parse_addr(value).ok_or_else(|| format!("{w}: not an address"))?;
            if let Some(k) = t.kernel.iter_mut().find(|k| k.key == key) {
                k.addr = addr;
            } else if key == TABLES[0].0 {
                t.idt = Some(addr);
            } else if key == TABLES[1].0 {
                t.gdt = Some(addr);
            } else {
                return Err(format!("{w}: unknown name {key}"));
            }
        }
        Ok((t, rest))
    }

    /// The address called `key`.
    pub fn get(&self, key: &str) -> u64 {
        match key {
            "idt" => self.idt.unwrap_or(0),
            "gdt" => self.gdt.unwrap_or(0),
            _ => self
                .kernel
                .iter()
                .find(|k| k.key == key)
                .map_or(0, |k| k.addr),
        }
    }

    /// Addresses no system call may read from: the kernel's (text included: Linux maps no
    /// kernel page for a program), plus the first page,
    /// non-canonical ones, the top of the address space (wraps with any length) and an
    /// address nothing maps.
    pub fn unreadable(&self) -> Vec<(&'static str, u64)> {
        let mut v: Vec<(&'static str, u64)> =
            self.kernel.iter().map(|k| (k.what, k.addr)).collect();
        v.extend(self.idt.map(|a| ("IDT", a)));
        v.extend(self.gdt.map(|a| ("GDT", a)));
        v.extend([
            ("first page", 8),
            ("unmapped", UNMAPPED),
            ("non-canonical", 0x0000_8000_0000_0000),
            ("non-canonical high", 0x8000_0000_0000_0000),
            ("top of the address space", 0xffff_ffff_ffff_fff8),
        ]);
        v
    }

    /// What no system call may write: the same (the program's own read-only memory is
    /// added by the caller).
    pub fn unwritable(&self) -> Vec<(&'static str, u64)> {
        self.unreadable()
    }
}

/// A user address nothing maps (crash-user reads it too).
pub const UNMAPPED: u64 = 0x7fff_dead_0000;

/// `0x`-prefixed hexadecimal or decimal.
pub fn parse_addr(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(&hex.replace('_', ""), 16).ok(),
        None => s.parse().ok(),
    }
}
