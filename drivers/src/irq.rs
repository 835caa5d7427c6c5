//! Acknowledging the NIC's interrupt from interrupt context, without the device lock.
//!
//! The interrupt handler cannot take the lock around the driver (the poll loop may hold it when
//! the interrupt arrives), yet a level-triggered line stays asserted until the device's
//! interrupt status is acknowledged. So probing records where that status register is, and
//! [`IrqAck::ack`] reads/acknowledges it directly. It touches nothing else: queues are left to
//! the poll side.

/// Where the device's interrupt status lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqAck {
    /// Modern virtio-pci: the ISR status byte (read-to-clear) at this physical address.
    PciIsr { isr: u64 },
    /// virtio-mmio: InterruptStatus at `base + 0x60`, InterruptACK at `base + 0x64` (physical).
    Mmio { base: u64 },
}

/// Offset of virtio-mmio's InterruptStatus register.
const MMIO_INTERRUPT_STATUS: u64 = 0x60;
/// Offset of virtio-mmio's InterruptACK register.
const MMIO_INTERRUPT_ACK: u64 = 0x64;

impl IrqAck {
    /// Acknowledges the device's pending interrupt causes so its line deasserts; returns them
    /// (bit 0: a queue was used, bit 1: configuration changed; 0: the interrupt was not ours).
    pub fn ack(&self) -> u32 {
        match *self {
            IrqAck::PciIsr { isr } => {
                let isr = crate::hal::phys_to_virt(isr);
                // SAFETY: `isr` is the ISR status register found in the device's
                // VIRTIO_PCI_CAP_ISR_CFG capability, inside a memory BAR below 4 GiB (in the
                // kernel's map of physical memory). Reading it clears it and deasserts INTx,
                // which is the intent.
                u32::from(unsafe { core::ptr::read_volatile(isr as usize as *const u8) })
            }
            IrqAck::Mmio { base } => {
                let base = crate::hal::phys_to_virt(base);
                let status_reg = (base + MMIO_INTERRUPT_STATUS) as usize as *const u32;
                let ack_reg = (base + MMIO_INTERRUPT_ACK) as usize as *mut u32;
                // SAFETY: `base` is a virtio-mmio transport (below 4 GiB, in the kernel's map
                // of physical memory);
                // InterruptStatus is a read-only dword.
                let status = unsafe { core::ptr::read_volatile(status_reg) };
                if status != 0 {
                    // SAFETY: InterruptACK is the transport's write-only dword that clears the
                    // given status bits; it affects only the device's interrupt line.
                    unsafe { core::ptr::write_volatile(ack_reg, status) };
                }
                status
            }
        }
    }
}
