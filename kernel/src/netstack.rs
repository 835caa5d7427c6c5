//! The kernel's network runtime: owns the `net::sys::NetSys` (stack, protocols, socket files)
//! behind a lock, runs the network poll loop, and wakes socket wait queues (integrator's file;
//! being written).

use net::sys::NetSys;
use net::Errno;

/// Run `f` on the network side; `ENETDOWN` before the network is up.
pub fn with<R>(f: impl FnOnce(&mut NetSys) -> R) -> Result<R, Errno> {
    let _ = f;
    Err(Errno::ENETDOWN)
}
