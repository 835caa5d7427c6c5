//! The PVH boot information (`struct hvm_start_info`, Xen's arch-x86/hvm/start_info.h): its
//! command line and memory map, copied into kernel-owned statics before anything allocates
//! memory (the originals live in RAM the frame allocator will hand out), and where the first
//! module — the initramfs QEMU's `-initrd` passes — lies.
//!
//! Owns the copies; never trusts the loader beyond checking the magic, version and bounds.

use spin::Once;

use crate::mem::boot_data;

const START_INFO_MAGIC: u32 = 0x336e_c578;

/// Longest command line kept (QEMU's limit for `-append` on PVH is lower).
pub const CMDLINE_MAX: usize = 4096;
/// Memory map entries kept: QEMU produces fewer than 10; firmware maps rarely exceed 64.
pub const MEMMAP_MAX: usize = 128;

/// `hvm_memmap_table_entry.type` for usable RAM (E820 type 1).
pub const MEM_TYPE_RAM: u32 = 1;

/// The fields of `struct hvm_start_info` used here (56 bytes in all).
struct HvmStartInfo {
    magic: u32,
    version: u32,
    nr_modules: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    memmap_paddr: u64,
    memmap_entries: u32,
}

impl HvmStartInfo {
    const SIZE: usize = 56;

    fn parse(b: &[u8; Self::SIZE]) -> Self {
        HvmStartInfo {
            magic: le32(b, 0),
            version: le32(b, 4),
            nr_modules: le32(b, 12),
            modlist_paddr: le64(b, 16),
            cmdline_paddr: le64(b, 24),
            rsdp_paddr: le64(b, 32),
            memmap_paddr: le64(b, 40),
            memmap_entries: le32(b, 48),
        }
    }
}

/// The fields of `struct hvm_modlist_entry` used here (32 bytes in all).
struct HvmModlistEntry {
    paddr: u64,
    size: u64,
}

impl HvmModlistEntry {
    const SIZE: usize = 32;

    fn parse(b: &[u8; Self::SIZE]) -> Self {
        HvmModlistEntry {
            paddr: le64(b, 0),
            size: le64(b, 8),
        }
    }
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from(le32(b, at)) | u64::from(le32(b, at + 4)) << 32
}

/// One memory-map range.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct MemRegion {
    pub addr: u64,
    pub size: u64,
    pub kind: u32,
    pub reserved: u32,
}

pub struct BootInfo {
    cmdline: [u8; CMDLINE_MAX],
    cmdline_len: usize,
    memmap: [MemRegion; MEMMAP_MAX],
    memmap_len: usize,
    pub rsdp_paddr: u64,
    /// The first boot module (QEMU's `-initrd`): physical address and length.
    pub initrd: Option<(u64, u64)>,
}

impl BootInfo {
    pub fn cmdline(&self) -> &str {
        let bytes = &self.cmdline[..self.cmdline_len];
        match core::str::from_utf8(bytes) {
            Ok(s) => s,
            // Keep the valid prefix; a non-UTF-8 tail cannot name a known option anyway.
            Err(e) => core::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or(""),
        }
    }

    pub fn memmap(&self) -> &[MemRegion] {
        &self.memmap[..self.memmap_len]
    }
}

static BOOT_INFO: Once<BootInfo> = Once::new();

/// Highest physical address we may dereference: the direct map covers the first 4 GiB.
const MAPPED_LIMIT: u64 = 1 << 32;

fn readable(paddr: u64, len: u64) -> bool {
    paddr != 0
        && paddr
            .checked_add(len)
            .is_some_and(|end| end <= MAPPED_LIMIT)
}

/// Validate and copy the start info at `paddr`.
pub fn init(paddr: u64) -> Result<&'static BootInfo, &'static str> {
    if !readable(paddr, HvmStartInfo::SIZE as u64) {
        return Err("PVH start_info pointer is null or outside the direct map");
    }
    // The loader put hvm_start_info there (PVH boot ABI) and nothing has overwritten it yet.
    let mut raw = [0u8; HvmStartInfo::SIZE];
    boot_data::copy(paddr, &mut raw)?;
    let si = HvmStartInfo::parse(&raw);
    if si.magic != START_INFO_MAGIC {
        return Err("PVH start_info has a bad magic (not booted through PVH?)");
    }
    if si.version < 1 || si.memmap_paddr == 0 || si.memmap_entries == 0 {
        return Err("PVH start_info carries no memory map (version < 1); cannot find RAM");
    }
    let mut info = BootInfo {
        cmdline: [0; CMDLINE_MAX],
        cmdline_len: 0,
        memmap: [MemRegion::default(); MEMMAP_MAX],
        memmap_len: 0,
        rsdp_paddr: si.rsdp_paddr,
        initrd: None,
    };
    if si.nr_modules > 0 {
        let mut raw = [0u8; HvmModlistEntry::SIZE];
        // The loader wrote the module list there (PVH boot ABI).
        if readable(si.modlist_paddr, raw.len() as u64)
            && boot_data::copy(si.modlist_paddr, &mut raw).is_ok()
        {
            let m = HvmModlistEntry::parse(&raw);
            if m.size > 0 && readable(m.paddr, m.size) {
                info.initrd = Some((m.paddr, m.size));
            } else {
                log::warn!("bootinfo: boot module outside the direct map ignored");
            }
        }
    }
    if si.cmdline_paddr != 0 {
        let mut len = 0;
        while len < CMDLINE_MAX && readable(si.cmdline_paddr + len as u64, 1) {
            let mut b = [0u8; 1];
            if boot_data::copy(si.cmdline_paddr + len as u64, &mut b).is_err() {
                break;
            }
            let b = b[0];
            if b == 0 {
                break;
            }
            info.cmdline[len] = b;
            len += 1;
        }
        info.cmdline_len = len;
        if len == CMDLINE_MAX {
            log::warn!("bootinfo: command line truncated to {CMDLINE_MAX} bytes");
        }
    }
    let entries = (si.memmap_entries as usize).min(MEMMAP_MAX);
    if entries < si.memmap_entries as usize {
        log::warn!(
            "bootinfo: memory map has {} entries, keeping {MEMMAP_MAX}",
            si.memmap_entries
        );
    }
    let entry_size = core::mem::size_of::<MemRegion>() as u64;
    if !readable(si.memmap_paddr, entries as u64 * entry_size) {
        return Err("PVH memory map lies outside the direct map");
    }
    for i in 0..entries {
        let mut raw = [0u8; core::mem::size_of::<MemRegion>()];
        boot_data::copy(si.memmap_paddr + i as u64 * entry_size, &mut raw)?;
        info.memmap[i] = MemRegion {
            addr: le64(&raw, 0),
            size: le64(&raw, 8),
            kind: le32(&raw, 16),
            reserved: le32(&raw, 20),
        };
    }
    info.memmap_len = entries;
    Ok(BOOT_INFO.call_once(|| info))
}
