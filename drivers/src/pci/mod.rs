//! PCI: configuration space access (port I/O mechanism #1 and q35's ECAM), bus enumeration
//! through bridges, and BAR placement for devices the firmware left unassigned.
//!
//! Owns the configuration-space view of the machine during probing. Must never touch a device's
//! BARs except to size and place them, and never enable I/O decoding the firmware did not.

pub mod bar;
pub mod config;
pub mod enumerate;

pub use config::Cam;
pub use enumerate::{enumerate, Function};

#[cfg(test)]
pub(crate) mod fake;
