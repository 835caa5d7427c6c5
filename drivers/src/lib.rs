//! Device glue for rinet: PCI configuration access, virtio-mmio probing and virtio-net over the
//! virtio-drivers crate, handed to the stack through `net::dev::Device`.
#![no_std]
