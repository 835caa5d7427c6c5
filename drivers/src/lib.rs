//! Device glue for rinet: PCI configuration access, virtio-mmio probing and virtio-net over the
//! virtio-drivers crate, handed to the stack through `net::dev::Device`.
//!
//! Owns: finding the NIC (PCI enumeration with BAR assignment, virtio-mmio from the command line
//! or by scanning), driving it through virtio-drivers, acknowledging its interrupt. Must never:
//! parse protocols above Ethernet (the stack's job), allocate memory other than through the DMA
//! operations the kernel registers, or block waiting for the device.
//!
//! Hardware is touched only in small functions marked `// SAFETY:` (port I/O in
//! [`pci::config`], MMIO register reads in [`irq`], DMA buffer views in [`virtio_net`]). The pure
//! logic (command line parsing, BAR placement, bus enumeration over an abstract configuration
//! space, the self-test's ARP frames) is tested on the host.
#![no_std]

extern crate alloc;

#[cfg(test)]
extern crate std;

pub mod hal;
pub mod irq;
pub mod mmio;
pub mod pci;
pub mod probe;
pub mod selftest;
pub mod virtio_net;

pub use hal::{set_mem_ops, MemOps};
pub use probe::{probe, Probed, TransportKind};
pub use virtio_net::VirtioNet;
