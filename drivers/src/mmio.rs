//! virtio-mmio discovery: the `virtio_mmio.device=<size>@<base>:<irq>` words QEMU's microvm
//! appends to the kernel command line (one per attached device), and, as a fallback, a scan of
//! microvm's transport slots for the virtio magic.
//!
//! Owns only the reading of a slot's identification registers; the transport itself is
//! virtio-drivers' `MmioTransport`. Command line words are caller input: malformed ones are
//! skipped, never trusted.

/// Where microvm places its virtio-mmio transports.
pub const SCAN_BASE: u64 = 0xfeb0_0000;
/// Distance between two transports.
pub const SCAN_STRIDE: u64 = 0x200;
/// How many transport slots microvm has.
pub const SCAN_SLOTS: u64 = 32;
/// Most devices taken from the command line (microvm has 32 slots).
pub const MAX_CMDLINE_DEVICES: usize = 32;

/// "virt" in little-endian: the first register of every virtio-mmio transport.
pub const MAGIC: u32 = 0x7472_6976;
/// virtio device id of a network card.
pub const DEVICE_ID_NET: u32 = 1;

const PREFIX: &str = "virtio_mmio.device=";

/// One virtio-mmio transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioDesc {
    pub base: u64,
    pub size: u64,
    pub irq: u32,
}

/// Parses a number the way Linux's `memparse` does for these words: decimal, or hex with a
/// `0x` prefix, optionally followed by a K, M or G multiplier.
fn parse_size(s: &str) -> Option<u64> {
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let n = parse_u64(digits)?;
    n.checked_mul(1u64 << shift)
}

fn parse_u64(s: &str) -> Option<u64> {
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else {
        s.parse().ok()
    }
}

/// Parses one `virtio_mmio.device=<size>@<base>:<irq>[:<id>]` word.
pub fn parse_word(word: &str) -> Option<MmioDesc> {
    let spec = word.strip_prefix(PREFIX)?;
    let (size, rest) = spec.split_once('@')?;
    let (base, rest) = rest.split_once(':')?;
    // An optional platform device id may follow the irq.
    let irq = rest.split(':').next()?;
    let desc = MmioDesc {
        size: parse_size(size)?,
        base: parse_u64(base)?,
        irq: irq.parse().ok()?,
    };
    // The transport's registers take 0x100 bytes before the device config space.
    if desc.size < 0x100 || desc.base.checked_add(desc.size)? > 1 << 32 {
        return None;
    }
    Some(desc)
}

/// Every well-formed `virtio_mmio.device=` word in `cmdline`, in order, at most
/// [`MAX_CMDLINE_DEVICES`].
pub fn parse_cmdline(cmdline: &str) -> impl Iterator<Item = MmioDesc> + '_ {
    cmdline
        .split_ascii_whitespace()
        .filter_map(parse_word)
        .take(MAX_CMDLINE_DEVICES)
}

/// The interrupt (GSI) microvm wires to transport `slot`, given how many transports answer.
///
/// QEMU's microvm creates 8 transports on GSIs 5..13 with a single IO-APIC, or 24 transports
/// on GSIs 24..48 when ACPI is on and a second IO-APIC exists (`ioapic2`, the default). The
/// number of transports answering with the magic tells the two layouts apart.
pub fn microvm_irq(transports: u64, slot: u64) -> Option<u8> {
    let base = match transports {
        1..=8 => 5,
        9..=24 => 24,
        _ => return None,
    };
    if slot >= transports {
        return None;
    }
    u8::try_from(base + slot).ok()
}

/// A transport's identification registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotId {
    pub magic: u32,
    pub version: u32,
    pub device_id: u32,
}

impl SlotId {
    /// A virtio network card behind a transport version virtio-drivers speaks (1 legacy,
    /// 2 modern). Device id 0 means the slot is empty.
    pub fn is_net(&self) -> bool {
        self.magic == MAGIC && matches!(self.version, 1 | 2) && self.device_id == DEVICE_ID_NET
    }
}

/// Reads the magic, version and device id registers of the transport at `base`.
///
/// Only for addresses that are virtio-mmio slots (from the command line, or microvm's fixed
/// slots when no PCI host bridge exists): reading them has no side effects.
pub fn read_slot(base: u64) -> SlotId {
    let reg = |offset: u64| -> u32 {
        let reg = crate::hal::phys_to_virt(base + offset);
        // SAFETY: `base` is a virtio-mmio transport region below 4 GiB (in the kernel's map of
        // physical memory); offsets 0, 4 and 8 are its read-only MagicValue, Version and
        // DeviceID registers, aligned dwords whose reads do not change device state.
        unsafe { core::ptr::read_volatile(reg as usize as *const u32) }
    };
    SlotId {
        magic: reg(0x000),
        version: reg(0x004),
        device_id: reg(0x008),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    #[test]
    fn parses_what_microvm_appends() {
        let line = "init=selftest-link -- 52:54:00:12:34:56 \
                    virtio_mmio.device=512@0xfeb00e00:12 virtio_mmio.device=4K@0xfeb00c00:11:3";
        let found: Vec<MmioDesc> = parse_cmdline(line).collect();
        assert_eq!(
            found,
            [
                MmioDesc {
                    base: 0xfeb0_0e00,
                    size: 512,
                    irq: 12
                },
                MmioDesc {
                    base: 0xfeb0_0c00,
                    size: 4096,
                    irq: 11
                },
            ]
        );
    }

    #[test]
    fn rejects_malformed_words() {
        for bad in [
            "virtio_mmio.device=",
            "virtio_mmio.device=512",
            "virtio_mmio.device=512@0xfeb00e00",
            "virtio_mmio.device=512@0xfeb00e00:",
            "virtio_mmio.device=512@zz:12",
            "virtio_mmio.device=16@0xfeb00e00:12",
            "virtio_mmio.device=512@0xffffffffff:12",
            "virtio_mmio.device=99999999999999999999G@0x0:1",
            "virtio_mmio.dev=512@0xfeb00e00:12",
        ] {
            assert_eq!(parse_word(bad), None, "{bad}");
        }
        assert_eq!(parse_cmdline("console=ttyS0 ip=dhcp").count(), 0);
    }

    #[test]
    fn bounded_number_of_devices() {
        let mut line = std::string::String::new();
        for i in 0..40 {
            line += &std::format!("virtio_mmio.device=512@{}:5 ", 0xfeb0_0000u64 + i * 0x200);
        }
        assert_eq!(parse_cmdline(&line).count(), MAX_CMDLINE_DEVICES);
    }

    #[test]
    fn microvm_interrupt_layouts() {
        // acpi=off: 8 transports, the first device lands in the last one (GSI 12).
        assert_eq!(microvm_irq(8, 7), Some(12));
        assert_eq!(microvm_irq(8, 0), Some(5));
        // Default (ACPI, second IO-APIC): 24 transports on GSIs 24..48.
        assert_eq!(microvm_irq(24, 23), Some(47));
        assert_eq!(microvm_irq(24, 0), Some(24));
        assert_eq!(microvm_irq(8, 8), None, "slot beyond the transports");
        assert_eq!(microvm_irq(0, 0), None);
        assert_eq!(microvm_irq(32, 0), None, "not a layout microvm uses");
    }

    #[test]
    fn slot_identification() {
        let net = SlotId {
            magic: MAGIC,
            version: 2,
            device_id: 1,
        };
        assert!(net.is_net());
        assert!(
            !SlotId {
                device_id: 0,
                ..net
            }
            .is_net(),
            "empty slot"
        );
        assert!(!SlotId { version: 3, ..net }.is_net());
        assert!(!SlotId { magic: 0, ..net }.is_net());
        assert!(
            !SlotId {
                device_id: 2,
                ..net
            }
            .is_net(),
            "block device"
        );
    }
}
