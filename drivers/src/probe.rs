//! Finding the NIC: virtio-mmio devices named on the command line first, then virtio-net on the
//! PCI bus (placing its BARs if the firmware did not), then — only on machines without a PCI
//! host bridge — a scan of microvm's virtio-mmio slots.
//!
//! Owns the decision of which device becomes the NIC and which interrupt line it uses. Must
//! never scan MMIO addresses on a machine with PCI (they may belong to a BAR).

use core::fmt;
use core::ptr::NonNull;
use core::sync::atomic::AtomicBool;

use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::pci::bus::{ConfigurationAccess, DeviceFunction, PciRoot};
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::SomeTransport;

use crate::hal::KernelHal;
use crate::irq::IrqAck;
use crate::mmio;
use crate::pci::bar::{self, BarAllocator, WINDOW_END, WINDOW_START};
use crate::pci::{enumerate, Cam, Function};
use crate::virtio_net::VirtioNet;

/// virtio's PCI vendor id.
pub const VIRTIO_VENDOR: u16 = 0x1af4;
/// Transitional (legacy-capable) virtio-net PCI device id.
pub const VIRTIO_NET_TRANSITIONAL: u16 = 0x1000;
/// Modern-only virtio-net PCI device id (0x1040 + device type 1).
pub const VIRTIO_NET_MODERN: u16 = 0x1041;

/// The message for a device without the modern (virtio 1.0) PCI interface.
pub const LEGACY_PCI_ERROR: &str = "virtio-net-pci with disable-modern=on is not supported: use \
    -device virtio-net-pci,disable-modern=off (the default) or virtio-net-device on microvm";

/// virtio PCI capability types (virtio 1.x section 4.1.4).
const CAP_COMMON_CFG: u8 = 1;
const CAP_ISR_CFG: u8 = 3;
/// PCI capability id of vendor-specific capabilities, which virtio uses.
const CAP_ID_VENDOR: u8 = 0x09;
/// Bound on the capability list walk (a 256-byte configuration space holds at most 48).
const MAX_CAPS: usize = 48;

/// How the NIC is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    Pci,
    Mmio,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Pci => "pci",
            TransportKind::Mmio => "mmio",
        })
    }
}

/// A NIC ready to use, and how to take its interrupt.
pub struct Probed {
    pub net: VirtioNet,
    pub transport: TransportKind,
    /// IO-APIC input (GSI) the device interrupts on; level triggered.
    pub irq: u8,
    /// How to acknowledge the device's interrupt from the handler.
    pub irq_ack: IrqAck,
}

/// Finds and initialises the NIC. `pending` is the poll loop's "work pending" flag, which the
/// driver sets when it stops a receive round at the budget.
pub fn probe(cmdline: &str, pending: &'static AtomicBool) -> Result<Probed, &'static str> {
    for desc in mmio::parse_cmdline(cmdline) {
        if mmio::read_slot(desc.base).is_net() {
            let irq = u8::try_from(desc.irq).map_err(|_| "virtio-mmio: irq out of range")?;
            return probe_mmio(desc.base, desc.size, irq, pending);
        }
    }
    let cam = Cam::detect();
    if cam.host_bridge_present() {
        return probe_pci(cam, pending);
    }
    // No PCI at all: microvm whose firmware did not append command line words (QEMU only
    // appends them with ACPI off).
    let transports = (0..mmio::SCAN_SLOTS)
        .filter(|&slot| {
            mmio::read_slot(mmio::SCAN_BASE + slot * mmio::SCAN_STRIDE).magic == mmio::MAGIC
        })
        .count() as u64;
    for slot in 0..mmio::SCAN_SLOTS {
        let base = mmio::SCAN_BASE + slot * mmio::SCAN_STRIDE;
        if mmio::read_slot(base).is_net() {
            let irq = mmio::microvm_irq(transports, slot)
                .ok_or("virtio-mmio: cannot tell the slot's interrupt")?;
            return probe_mmio(base, mmio::SCAN_STRIDE, irq, pending);
        }
    }
    Err("no virtio-net device found (virtio_mmio.device= words, PCI bus, microvm slots)")
}

fn probe_mmio(
    base: u64,
    size: u64,
    irq: u8,
    pending: &'static AtomicBool,
) -> Result<Probed, &'static str> {
    let header = NonNull::new(crate::hal::phys_to_virt(base) as usize as *mut VirtIOHeader)
        .ok_or("virtio-mmio: null base")?;
    // SAFETY: `base..base+size` is a virtio-mmio transport (its magic was just checked) below
    // 4 GiB, in the kernel's map of physical memory and used by nothing else for the program's
    // lifetime.
    let transport = unsafe { MmioTransport::new(header, size as usize) }
        .map_err(|_| "virtio-mmio: transport rejected the device")?;
    let net = VirtioNet::new(SomeTransport::from(transport), pending)?;
    Ok(Probed {
        net,
        transport: TransportKind::Mmio,
        irq,
        irq_ack: IrqAck::Mmio { base },
    })
}

fn probe_pci(mut cam: Cam, pending: &'static AtomicBool) -> Result<Probed, &'static str> {
    match cam {
        Cam::Ecam { base, buses } => log::debug!("pci: ECAM at {base:#x} ({buses} buses)"),
        Cam::Port => log::debug!("pci: port I/O configuration access"),
    }
    let functions = enumerate(&cam);
    let nic = *functions
        .iter()
        .find(|f| {
            f.vendor == VIRTIO_VENDOR
                && (f.device == VIRTIO_NET_TRANSITIONAL || f.device == VIRTIO_NET_MODERN)
        })
        .ok_or("no virtio-net device found on the PCI bus")?;
    if find_virtio_cap(&cam, nic.df, CAP_COMMON_CFG).is_none() {
        return Err(LEGACY_PCI_ERROR);
    }
    let mut alloc = BarAllocator::new(WINDOW_START, WINDOW_END);
    bar::reserve_assigned(&mut cam, functions.iter(), &mut alloc);
    let placed = bar::assign_and_enable(&mut cam, &nic, &mut alloc)?;
    log::debug!(
        "pci: virtio-net at {} ({} functions on the bus, {placed} BARs placed by us)",
        nic.df,
        functions.len()
    );

    let irq = (cam.read_word(nic.df, 0x3c) & 0xff) as u8;
    if irq == 0 || irq == 0xff {
        return Err("virtio-net-pci: firmware routed no INTx line (interrupt line register)");
    }
    let irq_ack = isr_address(&mut cam, &nic).ok_or("virtio-net-pci: no usable ISR capability")?;

    let mut root = PciRoot::new(cam);
    let transport = PciTransport::new::<KernelHal, _>(&mut root, nic.df)
        .map_err(|_| "virtio-net-pci: transport rejected the device")?;
    let net = VirtioNet::new(SomeTransport::from(transport), pending)?;
    Ok(Probed {
        net,
        transport: TransportKind::Pci,
        irq,
        irq_ack,
    })
}

/// Address of the ISR status byte: the ISR capability's BAR address plus its offset.
fn isr_address<C: ConfigurationAccess>(cam: &mut C, nic: &Function) -> Option<IrqAck> {
    let (bar_index, offset) = find_virtio_cap(cam, nic.df, CAP_ISR_CFG)?;
    let bar = bar::size_bars(cam, nic)
        .get(usize::from(bar_index))
        .copied()??;
    if bar.kind == bar::BarKind::Io || bar.address == 0 || u64::from(offset) >= bar.size {
        return None;
    }
    Some(IrqAck::PciIsr {
        isr: bar.address + u64::from(offset),
    })
}

/// Finds the virtio vendor capability of `cfg_type`: `(bar, offset within the BAR)`.
pub fn find_virtio_cap<C: ConfigurationAccess>(
    cam: &C,
    df: DeviceFunction,
    cfg_type: u8,
) -> Option<(u8, u32)> {
    let status = cam.read_word(df, 0x04) >> 16;
    if status & (1 << 4) == 0 {
        return None;
    }
    let mut ptr = (cam.read_word(df, 0x34) & 0xfc) as u8;
    for _ in 0..MAX_CAPS {
        if ptr < 0x40 {
            return None;
        }
        let head = cam.read_word(df, ptr);
        let (id, next, cap_len, ty) = (
            head as u8,
            (head >> 8) as u8 & 0xfc,
            (head >> 16) as u8,
            (head >> 24) as u8,
        );
        if id == CAP_ID_VENDOR && ty == cfg_type && cap_len >= 16 && ptr <= 0xf0 {
            let bar = cam.read_word(df, ptr + 4) as u8;
            let offset = cam.read_word(df, ptr + 8);
            if bar < 6 {
                return Some((bar, offset));
            }
        }
        ptr = next;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pci::fake::FakeCam;

    fn nic_df() -> DeviceFunction {
        DeviceFunction {
            bus: 0,
            device: 3,
            function: 0,
        }
    }

    /// A transitional virtio-net with the modern capabilities QEMU gives it: common config and
    /// ISR in BAR 4.
    fn modern_nic() -> FakeCam {
        let mut cam = FakeCam::default();
        cam.add_device(0, 3, 0, VIRTIO_VENDOR, VIRTIO_NET_TRANSITIONAL, 0);
        cam.add_bar(0, 3, 0, 4, 0x4000, 0b1100);
        let f = cam.f(0, 3, 0);
        f.regs.insert(0x04, 1 << 20); // status: capability list
        f.regs.insert(0x34, 0x40);
        // 0x40: MSI-X (id 0x11) -> 0x50: virtio common (type 1) -> 0x60: virtio ISR (type 3)
        f.regs.insert(0x40, 0x11 | (0x50 << 8));
        f.regs
            .insert(0x50, 0x09 | (0x60 << 8) | (16 << 16) | (1 << 24));
        f.regs.insert(0x54, 4);
        f.regs.insert(0x58, 0);
        f.regs.insert(0x60, 0x09 | (16 << 16) | (3 << 24));
        f.regs.insert(0x64, 4);
        f.regs.insert(0x68, 0x1000);
        cam
    }

    #[test]
    fn finds_virtio_capabilities() {
        let cam = modern_nic();
        assert_eq!(
            find_virtio_cap(&cam, nic_df(), CAP_COMMON_CFG),
            Some((4, 0))
        );
        assert_eq!(
            find_virtio_cap(&cam, nic_df(), CAP_ISR_CFG),
            Some((4, 0x1000))
        );
        assert_eq!(
            find_virtio_cap(&cam, nic_df(), 2),
            None,
            "no notify cap in this fake"
        );
    }

    #[test]
    fn legacy_only_device_has_no_common_cfg() {
        let mut cam = FakeCam::default();
        cam.add_device(0, 3, 0, VIRTIO_VENDOR, VIRTIO_NET_TRANSITIONAL, 0);
        assert_eq!(find_virtio_cap(&cam, nic_df(), CAP_COMMON_CFG), None);
    }

    #[test]
    fn capability_loop_is_bounded() {
        let mut cam = modern_nic();
        // 0x40 points to itself forever.
        cam.f(0, 3, 0).regs.insert(0x40, 0x11 | (0x40 << 8));
        assert_eq!(find_virtio_cap(&cam, nic_df(), CAP_COMMON_CFG), None);
    }

    #[test]
    fn isr_address_follows_the_bar() {
        let mut cam = modern_nic();
        cam.f(0, 3, 0).regs.insert(0x20, 0xFEBF_0000 | 0b1100);
        let nic = enumerate(&cam).iter().copied().next().unwrap();
        assert_eq!(
            isr_address(&mut cam, &nic),
            Some(IrqAck::PciIsr { isr: 0xFEBF_1000 })
        );
        // Unassigned BAR: no address to read.
        cam.f(0, 3, 0).regs.insert(0x20, 0b1100);
        assert_eq!(isr_address(&mut cam, &nic), None);
    }
}
