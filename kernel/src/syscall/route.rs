//! Which module answers each system call number, learnt on the number's first call.
//!
//! The modules (`fs`, `proc`, `fs_info`, `fs_attr`, `sendfile`, `events`) each answer a fixed
//! set of numbers through their own `match`, and say `None` for the rest. Probing them in turn
//! on every call cost more than the call itself: under TCG a `getpid` round trip executed about
//! 70 translated blocks, 40 of them in the probes. So the first call of a number probes, and the
//! module that answered is remembered for that number; later calls go straight to it. Only the
//! socket calls are routed by hand ([`SOCKET_CALLS`]): whether a socket-pair end or the network
//! answers them depends on the descriptor, not on the number.

use core::sync::atomic::{AtomicU8, Ordering};

use super::{events, fs, fs_attr, fs_info, proc, sendfile, unix, SysResult};

/// Numbers past this are never routed (x86-64's table ends at 462; x32 numbers start at 512).
const ROUTED: usize = 512;

const UNKNOWN: u8 = 0;
const CORE: u8 = 1;
const FS: u8 = 2;
const PROC: u8 = 3;
const FS_INFO: u8 = 4;
const FS_ATTR: u8 = 5;
const SENDFILE: u8 = 6;
const EVENTS: u8 = 7;
const SOCKET: u8 = 8;

/// The socket calls that take a descriptor first, and `socketpair`.
const SOCKET_CALLS: [u64; 15] = [42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 288];

/// A module's entry: the call, or `None` when the number is not its.
type Module = fn(u64, [u64; 6]) -> Option<SysResult>;

static ROUTES: [AtomicU8; ROUTED] = [const { AtomicU8::new(UNKNOWN) }; ROUTED];

/// Run `nr` in the module that answers it; `None`: no module does (the caller's own `match`
/// answers, or says `ENOSYS`).
pub fn call(nr: u64, a: [u64; 6]) -> Option<SysResult> {
    let slot = ROUTES.get(nr as usize);
    let route = slot.map_or(CORE, |s| s.load(Ordering::Relaxed));
    match route {
        CORE => None,
        FS => fs::call(nr, a),
        PROC => proc::call(nr, a),
        FS_INFO => fs_info::call(nr, a),
        FS_ATTR => fs_attr::call(nr, a),
        SENDFILE => sendfile::call(nr, a),
        EVENTS => events::call(nr, a),
        SOCKET => unix::call(nr, a),
        _ => {
            let (found, r) = probe(nr, a);
            if let Some(s) = slot {
                s.store(found, Ordering::Relaxed);
            }
            r
        }
    }
}

/// Ask every module in turn; the route that answered, and its answer.
fn probe(nr: u64, a: [u64; 6]) -> (u8, Option<SysResult>) {
    if SOCKET_CALLS.contains(&nr) {
        return (SOCKET, unix::call(nr, a));
    }
    let modules: [(u8, Module); 6] = [
        (FS, fs::call),
        (PROC, proc::call),
        (FS_INFO, fs_info::call),
        (FS_ATTR, fs_attr::call),
        (SENDFILE, sendfile::call),
        (EVENTS, events::call),
    ];
    for (route, module) in modules {
        if let Some(r) = module(nr, a) {
            return (route, Some(r));
        }
    }
    (CORE, None)
}
