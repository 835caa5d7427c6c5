//! A fake configuration space for host tests: functions with registers and BARs that answer
//! the all-ones sizing write the way hardware does.

use std::collections::BTreeMap;

use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction};

#[derive(Default, Clone)]
pub struct FakeFunction {
    pub regs: BTreeMap<u8, u32>,
    /// Per BAR register: (size mask of writable address bits, read-only flag bits).
    pub bar_masks: BTreeMap<u8, (u32, u32)>,
}

#[derive(Default)]
pub struct FakeCam {
    pub functions: BTreeMap<(u8, u8, u8), FakeFunction>,
    /// Configuration writes received, per function.
    pub writes: BTreeMap<(u8, u8, u8), usize>,
}

impl FakeCam {
    pub fn add_device(&mut self, bus: u8, dev: u8, func: u8, vendor: u16, device: u16, hdr: u8) {
        let mut f = FakeFunction::default();
        f.regs
            .insert(0, u32::from(vendor) | (u32::from(device) << 16));
        f.regs.insert(0x0c, u32::from(hdr) << 16);
        // Unimplemented BARs are hardwired to zero.
        for bar in 0..6 {
            f.bar_masks.insert(0x10 + 4 * bar, (0, 0));
        }
        self.functions.insert((bus, dev, func), f);
    }
    pub fn add_bridge(&mut self, bus: u8, dev: u8, func: u8, secondary: u8) {
        self.add_device(bus, dev, func, 0x8086, 0x0001, 0x01);
        let f = self.f(bus, dev, func);
        f.regs
            .insert(0x18, u32::from(bus) | (u32::from(secondary) << 8));
        // Bus number registers are not BARs.
        f.bar_masks.remove(&0x18);
        f.bar_masks.remove(&0x1c);
        f.bar_masks.remove(&0x20);
        f.bar_masks.remove(&0x24);
    }
    /// Adds a BAR of `size` bytes (power of two) with the given flag bits, unassigned.
    pub fn add_bar(&mut self, bus: u8, dev: u8, func: u8, index: u8, size: u64, flags: u32) {
        let reg = 0x10 + 4 * index;
        let mask = !(size - 1);
        let f = self.f(bus, dev, func);
        f.bar_masks.insert(reg, ((mask as u32) & !0xf, flags));
        f.regs.insert(reg, flags);
        if flags & 0b110 == 0b100 {
            f.bar_masks.insert(reg + 4, ((mask >> 32) as u32, 0));
            f.regs.insert(reg + 4, 0);
        }
    }
    pub fn f(&mut self, bus: u8, dev: u8, func: u8) -> &mut FakeFunction {
        self.functions.get_mut(&(bus, dev, func)).unwrap()
    }
    pub fn reg(&self, bus: u8, dev: u8, func: u8, reg: u8) -> u32 {
        self.functions[&(bus, dev, func)]
            .regs
            .get(&reg)
            .copied()
            .unwrap_or(0)
    }
}

impl ConfigurationAccess for FakeCam {
    fn read_word(&self, df: DeviceFunction, register: u8) -> u32 {
        match self.functions.get(&(df.bus, df.device, df.function)) {
            Some(f) => f.regs.get(&register).copied().unwrap_or(0),
            None => 0xffff_ffff,
        }
    }
    fn write_word(&mut self, df: DeviceFunction, register: u8, data: u32) {
        *self
            .writes
            .entry((df.bus, df.device, df.function))
            .or_default() += 1;
        if let Some(f) = self.functions.get_mut(&(df.bus, df.device, df.function)) {
            let value = match f.bar_masks.get(&register) {
                Some(&(mask, flags)) => (data & mask) | flags,
                None => data,
            };
            f.regs.insert(register, value);
        }
    }
    unsafe fn unsafe_clone(&self) -> Self {
        FakeCam {
            functions: self.functions.clone(),
            writes: BTreeMap::new(),
        }
    }
}
