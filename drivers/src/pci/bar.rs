//! BARs: sizing by the all-ones write, and placement of memory BARs the firmware left at zero
//! (qboot and microvm's firmware do not assign them; SeaBIOS does) in a free window below 4 GiB.
//!
//! Placement is a bump allocator over [`WINDOW_START`]..[`WINDOW_END`] that steps over every
//! range already decoded by some device. It never moves a BAR the firmware assigned and never
//! assigns I/O BARs (virtio's modern interface needs only memory BARs).

use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction};

use super::enumerate::Function;

/// Start of the window unassigned memory BARs are placed in: above q35's ECAM window
/// (0xB000_0000..0xC000_0000) and far above the RAM of the small guests rinet runs in.
pub const WINDOW_START: u64 = 0xC000_0000;
/// End (exclusive) of the window: below microvm's virtio-mmio slots (0xFEB0_0000), the IO-APIC
/// (0xFEC0_0000) and the local APIC (0xFEE0_0000).
pub const WINDOW_END: u64 = 0xFEB0_0000;
/// Most ranges remembered as taken: 6 BARs for each of the few devices a QEMU machine carries;
/// beyond that the allocator refuses to place anything rather than risk an overlap.
pub const MAX_RESERVED: usize = 64;

const COMMAND: u8 = 0x04;
const COMMAND_IO: u32 = 1 << 0;
const COMMAND_MEMORY: u32 = 1 << 1;
const COMMAND_BUS_MASTER: u32 = 1 << 2;
const BAR0: u8 = 0x10;

/// What a BAR decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarKind {
    Io,
    Mem32,
    Mem64,
}

/// One sized BAR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bar {
    pub index: u8,
    pub kind: BarKind,
    /// Current address (0: unassigned).
    pub address: u64,
    /// Size in bytes (a power of two).
    pub size: u64,
}

/// Size of a BAR from what it reads back after the all-ones write (`mask_hi` is the upper half
/// of a 64-bit BAR, 0xffff_ffff for a 32-bit one). `None` for an unimplemented BAR.
pub fn bar_size(mask_lo: u32, mask_hi: u32, io: bool) -> Option<u64> {
    let flag_bits: u32 = if io { 0b11 } else { 0b1111 };
    let mut mask_lo = mask_lo & !flag_bits;
    let mut mask_hi = mask_hi;
    if io && mask_lo != 0 {
        // I/O BARs may decode only 16 address bits; the upper bits may read back zero.
        mask_lo |= 0xffff_0000;
        mask_hi = 0xffff_ffff;
    }
    let mask = (u64::from(mask_hi) << 32) | u64::from(mask_lo);
    if mask_lo == 0 && mask_hi == 0 {
        return None;
    }
    let size = (!mask).wrapping_add(1);
    (size != 0 && size.is_power_of_two()).then_some(size)
}

/// Sizes every BAR of `f` (address decoding is off while a BAR holds all ones, then restored).
pub fn size_bars<C: ConfigurationAccess>(cam: &mut C, f: &Function) -> [Option<Bar>; 6] {
    let mut out = [None; 6];
    let df = f.df;
    let command = cam.read_word(df, COMMAND) & 0xffff;
    cam.write_word(df, COMMAND, command & !(COMMAND_IO | COMMAND_MEMORY));
    let mut index = 0u8;
    while index < f.bar_count() {
        let reg = BAR0 + 4 * index;
        let orig = cam.read_word(df, reg);
        let io = orig & 1 == 1;
        let is64 = !io && orig & 0b110 == 0b100 && index + 1 < f.bar_count();
        cam.write_word(df, reg, 0xffff_ffff);
        let mask_lo = cam.read_word(df, reg);
        cam.write_word(df, reg, orig);
        let (orig_hi, mask_hi) = if is64 {
            let orig_hi = cam.read_word(df, reg + 4);
            cam.write_word(df, reg + 4, 0xffff_ffff);
            let mask_hi = cam.read_word(df, reg + 4);
            cam.write_word(df, reg + 4, orig_hi);
            (orig_hi, mask_hi)
        } else {
            (0, if mask_lo & !0xf == 0 { 0 } else { 0xffff_ffff })
        };
        if let Some(size) = bar_size(mask_lo, mask_hi, io) {
            let (kind, address) = if io {
                (BarKind::Io, u64::from(orig & !0b11))
            } else if is64 {
                (
                    BarKind::Mem64,
                    (u64::from(orig_hi) << 32) | u64::from(orig & !0xf),
                )
            } else {
                (BarKind::Mem32, u64::from(orig & !0xf))
            };
            out[usize::from(index)] = Some(Bar {
                index,
                kind,
                address,
                size,
            });
        }
        index += if is64 { 2 } else { 1 };
    }
    cam.write_word(df, COMMAND, command);
    out
}

/// Bump allocator over the free window, stepping over reserved ranges.
#[derive(Debug)]
pub struct BarAllocator {
    next: u64,
    end: u64,
    reserved: [(u64, u64); MAX_RESERVED],
    nreserved: usize,
    overflowed: bool,
}

impl BarAllocator {
    pub fn new(start: u64, end: u64) -> Self {
        BarAllocator {
            next: start,
            end,
            reserved: [(0, 0); MAX_RESERVED],
            nreserved: 0,
            overflowed: false,
        }
    }

    /// Remembers that `base..base+size` is decoded by someone.
    pub fn reserve(&mut self, base: u64, size: u64) {
        if size == 0 {
            return;
        }
        if self.nreserved == MAX_RESERVED {
            self.overflowed = true;
            return;
        }
        self.reserved[self.nreserved] = (base, base.saturating_add(size));
        self.nreserved += 1;
    }

    /// A naturally aligned free range of `size` bytes (a power of two), marked as taken.
    pub fn alloc(&mut self, size: u64) -> Option<u64> {
        if self.overflowed || size == 0 || !size.is_power_of_two() {
            return None;
        }
        // Memory BARs are at least 16 bytes; place at page granularity so each BAR can be
        // mapped on its own.
        let align = size.max(4096);
        let mut candidate = self.next.checked_next_multiple_of(align)?;
        'search: loop {
            let end = candidate.checked_add(size)?;
            if end > self.end {
                return None;
            }
            for &(lo, hi) in &self.reserved[..self.nreserved] {
                if candidate < hi && lo < end {
                    candidate = hi.checked_next_multiple_of(align)?;
                    continue 'search;
                }
            }
            self.next = end;
            self.reserve(candidate, size);
            return Some(candidate);
        }
    }
}

/// Gives every unassigned memory BAR of `f` an address from `alloc`, then enables memory
/// decoding and bus mastering. Returns how many BARs were placed.
pub fn assign_and_enable<C: ConfigurationAccess>(
    cam: &mut C,
    f: &Function,
    alloc: &mut BarAllocator,
) -> Result<usize, &'static str> {
    let mut placed = 0;
    for bar in size_bars(cam, f).into_iter().flatten() {
        if bar.kind == BarKind::Io || bar.address != 0 {
            continue;
        }
        let base = alloc
            .alloc(bar.size)
            .ok_or("pci: no room below 4 GiB for an unassigned memory BAR")?;
        let reg = BAR0 + 4 * bar.index;
        cam.write_word(f.df, reg, base as u32);
        if bar.kind == BarKind::Mem64 {
            cam.write_word(f.df, reg + 4, (base >> 32) as u32);
        }
        log::debug!(
            "pci {:02x}:{:02x}.{}: BAR{} placed at {:#x} ({} bytes)",
            f.df.bus,
            f.df.device,
            f.df.function,
            bar.index,
            base,
            bar.size
        );
        placed += 1;
    }
    enable(cam, f.df);
    Ok(placed)
}

/// Turns on memory decoding and bus mastering (the device DMAs into our rings).
pub fn enable<C: ConfigurationAccess>(cam: &mut C, df: DeviceFunction) {
    let command = cam.read_word(df, COMMAND) & 0xffff;
    cam.write_word(df, COMMAND, command | COMMAND_MEMORY | COMMAND_BUS_MASTER);
}

/// Host bridges (class 06.00) and ISA/LPC bridges (06.01) are never sized: QEMU's have no
/// BARs, and briefly turning off an LPC bridge's decoding could hide the serial port and the
/// exit device behind it.
fn never_sized(f: &Function) -> bool {
    matches!(f.class >> 8, 0x0600 | 0x0601)
}

/// Reserves every memory range already decoded by any of `functions`.
pub fn reserve_assigned<'a, C: ConfigurationAccess>(
    cam: &mut C,
    functions: impl Iterator<Item = &'a Function>,
    alloc: &mut BarAllocator,
) {
    for f in functions.filter(|f| !never_sized(f)) {
        for bar in size_bars(cam, f).into_iter().flatten() {
            if bar.kind != BarKind::Io && bar.address != 0 {
                alloc.reserve(bar.address, bar.size);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::enumerate::enumerate;
    use super::super::fake::FakeCam;
    use super::*;

    #[test]
    fn host_and_isa_bridges_are_not_sized() {
        let mut cam = FakeCam::default();
        cam.add_device(0, 31, 0, 0x8086, 0x2918, 0);
        cam.f(0, 31, 0).regs.insert(0x08, 0x0601_0002); // ISA bridge, rev 2
        cam.f(0, 31, 0).regs.insert(0x04, 0x0007);
        let functions = enumerate(&cam);
        let mut alloc = BarAllocator::new(WINDOW_START, WINDOW_END);
        reserve_assigned(&mut cam, functions.iter(), &mut alloc);
        assert_eq!(
            cam.writes.get(&(0, 31, 0)),
            None,
            "no configuration write at all"
        );
        // The same function with a device class is sized (writes happen).
        cam.f(0, 31, 0).regs.insert(0x08, 0x0200_0000);
        let functions = enumerate(&cam);
        reserve_assigned(&mut cam, functions.iter(), &mut alloc);
        assert!(cam.writes.contains_key(&(0, 31, 0)));
    }

    #[test]
    fn sizes_from_readback() {
        assert_eq!(bar_size(0xffff_c00c, 0xffff_ffff, false), Some(0x4000));
        assert_eq!(bar_size(0xffff_f000, 0xffff_ffff, false), Some(0x1000));
        assert_eq!(bar_size(0xffff_ffe1, 0, true), Some(0x20));
        assert_eq!(bar_size(0, 0, false), None, "unimplemented BAR");
        // A 64-bit BAR of 8 GiB.
        assert_eq!(
            bar_size(0x0000_000c, 0xffff_fffe, false),
            Some(0x2_0000_0000)
        );
    }

    #[test]
    fn allocator_aligns_and_skips_reserved() {
        let mut a = BarAllocator::new(0xC000_0000, 0xC010_0000);
        a.reserve(0xC000_0000, 0x1000);
        a.reserve(0xC000_4000, 0x4000);
        // 16 KiB must be 16 KiB aligned and skip both reserved ranges.
        assert_eq!(a.alloc(0x4000), Some(0xC000_8000));
        assert_eq!(a.alloc(0x1000), Some(0xC000_C000));
        assert_eq!(a.alloc(0x100), Some(0xC000_D000), "page granularity");
        assert_eq!(a.alloc(0x10_0000), None, "does not fit the window");
        assert_eq!(a.alloc(0x3000), None, "not a power of two");
    }

    #[test]
    fn allocator_refuses_after_reservation_overflow() {
        let mut a = BarAllocator::new(0xC000_0000, 0xF000_0000);
        for i in 0..=MAX_RESERVED as u64 {
            a.reserve(0xD000_0000 + i * 0x1000, 0x1000);
        }
        assert_eq!(a.alloc(0x1000), None);
    }

    #[test]
    fn assigns_unassigned_memory_bars_only() {
        let mut cam = FakeCam::default();
        cam.add_device(0, 3, 0, 0x1af4, 0x1000, 0);
        cam.add_bar(0, 3, 0, 0, 0x20, 0b01); // I/O BAR: left alone
        cam.add_bar(0, 3, 0, 1, 0x1000, 0b0000); // 32-bit memory
        cam.add_bar(0, 3, 0, 4, 0x4000, 0b1100); // 64-bit prefetchable
                                                 // Another device already decodes 0xC000_0000..0xC000_1000.
        cam.add_device(0, 2, 0, 0x1234, 0x1111, 0);
        cam.add_bar(0, 2, 0, 0, 0x1000, 0);
        cam.f(0, 2, 0).regs.insert(0x10, 0xC000_0000);

        let functions = enumerate(&cam);
        let mut alloc = BarAllocator::new(WINDOW_START, WINDOW_END);
        reserve_assigned(&mut cam, functions.iter(), &mut alloc);
        let nic = *functions.iter().find(|f| f.vendor == 0x1af4).unwrap();
        assert_eq!(assign_and_enable(&mut cam, &nic, &mut alloc), Ok(2));

        assert_eq!(cam.reg(0, 3, 0, 0x10), 0b01, "I/O BAR untouched");
        assert_eq!(cam.reg(0, 3, 0, 0x14), 0xC000_1000);
        assert_eq!(cam.reg(0, 3, 0, 0x20), 0xC000_4000 | 0b1100);
        assert_eq!(cam.reg(0, 3, 0, 0x24), 0);
        let command = cam.reg(0, 3, 0, 0x04);
        assert_eq!(command & 0b111, COMMAND_MEMORY | COMMAND_BUS_MASTER);

        // Sizing reads them back as assigned and of the right size.
        let bars = size_bars(&mut cam, &nic);
        assert_eq!(
            bars[4],
            Some(Bar {
                index: 4,
                kind: BarKind::Mem64,
                address: 0xC000_4000,
                size: 0x4000
            })
        );
        assert_eq!(bars[5], None, "upper half of the 64-bit BAR");
    }
}
