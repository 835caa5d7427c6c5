//! Bus enumeration: every function on bus 0 and, through PCI-to-PCI bridges, on the buses
//! behind them (their secondary bus number as the firmware programmed it).
//!
//! Bounded: at most [`MAX_FUNCTIONS`] functions are reported and each bus is visited once, so a
//! bridge loop in a broken configuration space cannot make probing run forever.

use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction};

/// Most functions reported: far more than any QEMU machine carries (32 slots × a few
/// functions on a handful of buses), small enough for a stack array.
pub const MAX_FUNCTIONS: usize = 128;

/// One function found on the bus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Function {
    pub df: DeviceFunction,
    pub vendor: u16,
    pub device: u16,
    /// Header layout: 0 for a device (6 BARs), 1 for a PCI-to-PCI bridge (2 BARs).
    pub header_type: u8,
    /// Base class, subclass and programming interface.
    pub class: u32,
}

impl Function {
    /// How many BAR registers this function's header carries.
    pub fn bar_count(&self) -> u8 {
        match self.header_type {
            0 => 6,
            1 => 2,
            _ => 0,
        }
    }
}

/// Fixed-capacity list of the functions found.
pub struct Functions {
    items: [Option<Function>; MAX_FUNCTIONS],
    len: usize,
}

impl Functions {
    pub fn iter(&self) -> impl Iterator<Item = &Function> {
        self.items[..self.len].iter().flatten()
    }
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    fn push(&mut self, f: Function) {
        if self.len < MAX_FUNCTIONS {
            self.items[self.len] = Some(f);
            self.len += 1;
        }
    }
}

/// Enumerates all functions reachable from bus 0.
pub fn enumerate<C: ConfigurationAccess>(cam: &C) -> Functions {
    let mut out = Functions {
        items: [None; MAX_FUNCTIONS],
        len: 0,
    };
    let mut visited = [false; 256];
    // Explicit work list instead of recursion: bus numbers still to scan.
    let mut pending = [0u8; 256];
    let mut npending = 1;
    while npending > 0 {
        npending -= 1;
        let bus = pending[npending];
        if core::mem::replace(&mut visited[usize::from(bus)], true) {
            continue;
        }
        for device in 0..32u8 {
            for function in 0..8u8 {
                let df = DeviceFunction {
                    bus,
                    device,
                    function,
                };
                let id = cam.read_word(df, 0x00);
                let vendor = id as u16;
                if vendor == 0xffff || vendor == 0 {
                    if function == 0 {
                        break;
                    }
                    continue;
                }
                let bhlc = cam.read_word(df, 0x0c);
                let raw_header = (bhlc >> 16) as u8;
                let header_type = raw_header & 0x7f;
                let class = cam.read_word(df, 0x08) >> 8;
                out.push(Function {
                    df,
                    vendor,
                    device: (id >> 16) as u16,
                    header_type,
                    class,
                });
                if header_type == 1 {
                    let secondary = (cam.read_word(df, 0x18) >> 8) as u8;
                    if secondary != 0 && !visited[usize::from(secondary)] && npending < 256 {
                        pending[npending] = secondary;
                        npending += 1;
                    }
                }
                // Functions 1..8 exist only on multi-function devices.
                if function == 0 && raw_header & 0x80 == 0 {
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fake::FakeCam;
    use super::*;

    #[test]
    fn finds_devices_behind_bridges_and_multifunction() {
        let mut cam = FakeCam::default();
        cam.add_device(0, 0, 0, 0x8086, 0x29c0, 0x00);
        cam.add_device(0, 1, 0, 0x1af4, 0x1000, 0x00);
        // A multi-function device: function 0 flags it, function 3 exists.
        cam.add_device(0, 2, 0, 0x8086, 0x1111, 0x80);
        cam.add_device(0, 2, 3, 0x8086, 0x2222, 0x00);
        // Single-function device whose other functions must not be probed.
        cam.add_device(0, 4, 0, 0x8086, 0x3333, 0x00);
        cam.add_device(0, 4, 1, 0x8086, 0x4444, 0x00);
        // A bridge to bus 5 with a device behind it, and a loop back to bus 0.
        cam.add_bridge(0, 3, 0, 5);
        cam.add_device(5, 0, 0, 0x1af4, 0x1041, 0x00);
        cam.add_bridge(5, 1, 0, 0);
        let found = enumerate(&cam);
        let ids: std::vec::Vec<u16> = found.iter().map(|f| f.device).collect();
        assert!(
            ids.contains(&0x1041),
            "device behind the bridge found: {ids:x?}"
        );
        assert!(ids.contains(&0x2222), "second function found");
        assert!(
            !ids.contains(&0x4444),
            "single-function device probed only at fn 0"
        );
        assert_eq!(found.len(), 8, "5 devices, 2 bridges, 1 behind");
        let behind = found.iter().find(|f| f.device == 0x1041).unwrap();
        assert_eq!(behind.df.bus, 5);
    }

    #[test]
    fn empty_bus_yields_nothing() {
        let cam = FakeCam::default();
        assert!(enumerate(&cam).is_empty());
    }
}
