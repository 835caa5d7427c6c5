//! PCI configuration space access: mechanism #1 through ports 0xCF8/0xCFC, and the PCI Express
//! ECAM window when the q35 MCH has one enabled (PCIEXBAR, bus 0 device 0 function 0, offset
//! 0x60). Both implement virtio-drivers' `ConfigurationAccess`, so its `PciRoot` and
//! `PciTransport` run on top.
//!
//! Port I/O is a two-step select-then-access sequence: it is only used during single-threaded
//! probing, never from interrupt context.

use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction};

/// Mechanism #1 address port.
const CONFIG_ADDRESS: u16 = 0xCF8;
/// Mechanism #1 data port.
const CONFIG_DATA: u16 = 0xCFC;

/// Vendor/device id of QEMU's q35 memory controller hub (Intel 82G33/P35 MCH).
const Q35_MCH_ID: u32 = 0x29C0_8086;
/// Offset of the MCH's PCIEXBAR register (64 bits) in its configuration space.
const PCIEXBAR: u8 = 0x60;

/// The mechanism #1 address selecting `register` (dword-aligned) of `df`.
pub fn port_address(df: DeviceFunction, register: u8) -> u32 {
    0x8000_0000
        | (u32::from(df.bus) << 16)
        | (u32::from(df.device & 0x1f) << 11)
        | (u32::from(df.function & 0x7) << 8)
        | u32::from(register & 0xfc)
}

/// The offset of `register` of `df` inside an ECAM window.
pub fn ecam_offset(df: DeviceFunction, register: u8) -> u64 {
    (u64::from(df.bus) << 20)
        | (u64::from(df.device & 0x1f) << 15)
        | (u64::from(df.function & 0x7) << 12)
        | u64::from(register & 0xfc)
}

/// Decodes the q35 PCIEXBAR register: `Some((base, number_of_buses))` if ECAM is enabled.
///
/// Bit 0 enables the window; bits 2:1 select its length (0: 256 MiB = 256 buses, 1: 128 MiB,
/// 2: 64 MiB); the base is aligned to the length, within bits 35:26.
pub fn decode_pciexbar(value: u64) -> Option<(u64, u16)> {
    if value & 1 == 0 {
        return None;
    }
    let (buses, mask) = match (value >> 1) & 0b11 {
        0 => (256u16, 0xF_F000_0000u64),
        1 => (128, 0xF_F800_0000),
        2 => (64, 0xF_FC00_0000),
        _ => return None,
    };
    let base = value & mask;
    if base == 0 {
        return None;
    }
    Some((base, buses))
}

/// Configuration access through whichever mechanism the machine offers.
#[derive(Debug)]
pub enum Cam {
    /// Mechanism #1 (ports 0xCF8/0xCFC): 256 bytes per function, every x86 PC has it.
    Port,
    /// PCI Express ECAM at physical `base` covering buses `0..buses`.
    Ecam { base: u64, buses: u16 },
}

impl Cam {
    /// Picks ECAM when the q35 MCH reports an enabled window, port I/O otherwise.
    pub fn detect() -> Cam {
        let host = DeviceFunction {
            bus: 0,
            device: 0,
            function: 0,
        };
        if port_read(port_address(host, 0)) == Q35_MCH_ID {
            let lo = u64::from(port_read(port_address(host, PCIEXBAR)));
            let hi = u64::from(port_read(port_address(host, PCIEXBAR + 4)));
            if let Some((base, buses)) = decode_pciexbar(lo | (hi << 32)) {
                // The kernel maps only the first 4 GiB of physical memory.
                if base + (u64::from(buses) << 20) <= 1 << 32 {
                    return Cam::Ecam { base, buses };
                }
            }
        }
        Cam::Port
    }

    /// Whether a PCI host bridge answers at all (microvm has none unless pcie=on).
    pub fn host_bridge_present(&self) -> bool {
        let host = DeviceFunction {
            bus: 0,
            device: 0,
            function: 0,
        };
        self.read_word(host, 0) & 0xffff != 0xffff
    }
}

impl ConfigurationAccess for Cam {
    fn read_word(&self, df: DeviceFunction, register: u8) -> u32 {
        match *self {
            Cam::Port => port_read(port_address(df, register)),
            Cam::Ecam { base, buses } => {
                if u16::from(df.bus) >= buses {
                    return 0xffff_ffff;
                }
                ecam_read(base + ecam_offset(df, register))
            }
        }
    }

    fn write_word(&mut self, df: DeviceFunction, register: u8, data: u32) {
        match *self {
            Cam::Port => port_write(port_address(df, register), data),
            Cam::Ecam { base, buses } => {
                if u16::from(df.bus) < buses {
                    ecam_write(base + ecam_offset(df, register), data);
                }
            }
        }
    }

    unsafe fn unsafe_clone(&self) -> Self {
        match *self {
            Cam::Port => Cam::Port,
            Cam::Ecam { base, buses } => Cam::Ecam { base, buses },
        }
    }
}

fn port_read(address: u32) -> u32 {
    use x86_64::instructions::port::Port;
    // SAFETY: 0xCF8/0xCFC are the PCI configuration mechanism #1 ports present on every PC
    // chipset QEMU emulates (and ignored where absent: reads return all ones). Selecting and
    // reading a configuration register has no effect on memory the program owns.
    unsafe {
        Port::<u32>::new(CONFIG_ADDRESS).write(address);
        Port::<u32>::new(CONFIG_DATA).read()
    }
}

fn port_write(address: u32, data: u32) {
    use x86_64::instructions::port::Port;
    // SAFETY: as in `port_read`; writes go to configuration registers (BARs, command) that
    // only change where devices decode, which probing does deliberately.
    unsafe {
        Port::<u32>::new(CONFIG_ADDRESS).write(address);
        Port::<u32>::new(CONFIG_DATA).write(data);
    }
}

fn ecam_read(address: u64) -> u32 {
    let reg = crate::hal::phys_to_virt(address);
    // SAFETY: `address` lies inside the ECAM window the MCH reported (checked against its bus
    // count by the caller) and below 4 GiB, which the kernel maps (`reg`); a dword-aligned
    // volatile read of configuration space has no side effects on memory.
    unsafe { core::ptr::read_volatile(reg as usize as *const u32) }
}

fn ecam_write(address: u64, data: u32) {
    let reg = crate::hal::phys_to_virt(address);
    // SAFETY: as in `ecam_read`; the write targets a configuration register, not RAM.
    unsafe { core::ptr::write_volatile(reg as usize as *mut u32, data) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn df(bus: u8, device: u8, function: u8) -> DeviceFunction {
        DeviceFunction {
            bus,
            device,
            function,
        }
    }

    #[test]
    fn mechanism1_address_layout() {
        assert_eq!(port_address(df(0, 0, 0), 0x60), 0x8000_0060);
        assert_eq!(port_address(df(1, 3, 2), 0x3d), 0x8001_1a3c);
        assert_eq!(port_address(df(255, 31, 7), 0xff), 0x80ff_fffc);
    }

    #[test]
    fn ecam_offset_layout() {
        assert_eq!(ecam_offset(df(0, 1, 0), 0x10), 0x8010);
        assert_eq!(ecam_offset(df(2, 31, 7), 4), 0x2f_f004);
    }

    #[test]
    fn pciexbar_decoding() {
        // What SeaBIOS programs on q35: 0xB0000000, 256 buses, enabled.
        assert_eq!(decode_pciexbar(0xB000_0001), Some((0xB000_0000, 256)));
        assert_eq!(decode_pciexbar(0xB000_0000), None, "disabled");
        assert_eq!(decode_pciexbar(0xE800_0003), Some((0xE800_0000, 128)));
        assert_eq!(decode_pciexbar(0xE400_0005), Some((0xE400_0000, 64)));
        assert_eq!(decode_pciexbar(0xB000_0007), None, "reserved length");
        assert_eq!(decode_pciexbar(0x1), None, "zero base");
    }
}
