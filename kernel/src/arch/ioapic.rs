//! The IO-APIC(s): 0xfec00000 (GSIs from 0) and, on microvm with `ioapic2`, 0xfec10000 (the
//! GSIs after the first one's last input, normally 24-47). Each one's input count comes from
//! its version register (max redirection entry + 1).
//!
//! Owns the redirection tables: every input starts masked; `route` programs one (fixed
//! delivery, physical destination = this CPU, active-high), `set_masked` flips its mask bit.

use super::apic;
use crate::sync::IrqMutex;

/// Where QEMU puts IO-APICs on pc, q35 and microvm (no ACPI parsing: fixed addresses).
const CANDIDATE_BASES: [u64; 2] = [0xfec0_0000, 0xfec1_0000];
const MAX_IOAPICS: usize = CANDIDATE_BASES.len();

const REG_VERSION: u32 = 0x01;
const REG_REDIR_BASE: u32 = 0x10;

const REDIR_MASKED: u32 = 1 << 16;
const REDIR_LEVEL: u32 = 1 << 15;

#[derive(Clone, Copy)]
struct IoApic {
    base: u64,
    gsi_base: u32,
    inputs: u32,
}

impl IoApic {
    fn read(&self, reg: u32) -> u32 {
        let base = crate::mem::phys_to_virt(self.base);
        // SAFETY: `base` is an IO-APIC's register window, in the direct map uncached; IOREGSEL
        // (offset 0) selects, IOWIN (offset 0x10) transfers. Callers hold the IOAPICS lock,
        // so the select/transfer pair is not interleaved.
        unsafe {
            core::ptr::write_volatile(base as *mut u32, reg);
            core::ptr::read_volatile((base + 0x10) as *const u32)
        }
    }

    fn write(&self, reg: u32, value: u32) {
        let base = crate::mem::phys_to_virt(self.base);
        // SAFETY: as in `read`.
        unsafe {
            core::ptr::write_volatile(base as *mut u32, reg);
            core::ptr::write_volatile((base + 0x10) as *mut u32, value);
        }
    }

    fn covers(&self, gsi: u32) -> bool {
        gsi >= self.gsi_base && gsi < self.gsi_base + self.inputs
    }
}

static IOAPICS: IrqMutex<[Option<IoApic>; MAX_IOAPICS]> = IrqMutex::new([None; MAX_IOAPICS]);

/// Probe both candidate IO-APICs and mask every input.
pub fn init() {
    let mut table = IOAPICS.lock();
    let mut next_gsi = 0;
    for (slot, &base) in table.iter_mut().zip(CANDIDATE_BASES.iter()) {
        let probe = IoApic {
            base,
            gsi_base: next_gsi,
            inputs: 0,
        };
        let version = probe.read(REG_VERSION);
        // Unbacked MMIO reads as 0 (QEMU) or all-ones; real IO-APICs report 0x11 or 0x20.
        let ver = version & 0xff;
        if ver == 0 || ver == 0xff {
            continue;
        }
        let ioapic = IoApic {
            inputs: ((version >> 16) & 0xff) + 1,
            ..probe
        };
        for i in 0..ioapic.inputs {
            ioapic.write(REG_REDIR_BASE + 2 * i, REDIR_MASKED);
            ioapic.write(REG_REDIR_BASE + 2 * i + 1, 0);
        }
        log::info!(
            "ioapic: {:#x} version {:#x}, GSIs {}-{}",
            base,
            ver,
            ioapic.gsi_base,
            ioapic.gsi_base + ioapic.inputs - 1
        );
        next_gsi += ioapic.inputs;
        *slot = Some(ioapic);
    }
    if next_gsi == 0 {
        log::warn!("ioapic: none found; device interrupts will not be delivered");
    }
}

fn find(table: &[Option<IoApic>; MAX_IOAPICS], gsi: u32) -> Result<IoApic, &'static str> {
    table
        .iter()
        .flatten()
        .find(|io| io.covers(gsi))
        .copied()
        .ok_or("no IO-APIC input for this GSI")
}

/// Route `gsi` to `vector` on this CPU (active-high, edge or level), unmasked.
pub fn route(gsi: u8, vector: u8, level_triggered: bool) -> Result<(), &'static str> {
    let table = IOAPICS.lock();
    let io = find(&table, gsi as u32)?;
    let index = gsi as u32 - io.gsi_base;
    let mut low = vector as u32;
    if level_triggered {
        low |= REDIR_LEVEL;
    }
    io.write(REG_REDIR_BASE + 2 * index + 1, (apic::id() & 0xff) << 24);
    io.write(REG_REDIR_BASE + 2 * index, low);
    Ok(())
}

/// Set or clear the mask bit of `gsi`'s redirection entry.
pub fn set_masked(gsi: u8, masked: bool) -> Result<(), &'static str> {
    let table = IOAPICS.lock();
    let io = find(&table, gsi as u32)?;
    let reg = REG_REDIR_BASE + 2 * (gsi as u32 - io.gsi_base);
    let low = io.read(reg);
    io.write(
        reg,
        if masked {
            low | REDIR_MASKED
        } else {
            low & !REDIR_MASKED
        },
    );
    Ok(())
}
