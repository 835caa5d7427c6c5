//! The kernel's network runtime: owns the `net::sys::NetSys` (stack, TCP, DHCP, DNS, socket
//! files) behind a lock, polls it, and announces when the interface is configured.
//!
//! Owns the global `NetSys`, the adapter that lends the NIC (`nic::with_device`) to the stack,
//! the "poll once" step and, until a scheduler exists, the loop that halts between polls
//! ([`run_until`]). Must never be called from interrupt context (the NIC's handler only raises
//! `nic`'s pending flag) and never holds its lock while halting.
//!
//! The poll step is separate from the waiting so a network kernel thread can run it later:
//! woken by the NIC interrupt (`nic`'s pending flag) or the one-shot timer armed at the
//! deadline [`poll_once`] returns, it calls `poll_once` again.

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};

use net::config::IpConfig;
use net::dev::{Capabilities, DevStats, Device, TxError};
use net::host::{Host, HostConfig};
use net::stack::{IfAddr, Stack};
use net::sys::NetSys;
use net::tcp::{Tcp, TcpConfig};
use net::{Duration, Errno, Instant, MacAddr};
use spin::Mutex;

use crate::cmdline::BootConfig;
use crate::{arch, marker, nic, time};

/// How long boot-time programs wait for DHCP before giving up with an error. QEMU's user
/// network answers in milliseconds; a real DHCP server's first OFFER can take a few seconds.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The network side, once [`init`] built it.
struct Net(NetSys);

// SAFETY: `NetSys` is not `Send` only because the stack holds `Box<dyn Device>` (no `Send`
// bound) and `Rc`-free but unmarked protocol state. The kernel runs on one CPU and every access
// goes through `NET`'s lock from thread context (never from an interrupt handler), so the value
// is never used from two contexts at once.
unsafe impl Send for Net {}

static NET: Mutex<Option<Net>> = Mutex::new(None);
/// The "network ready" marker was printed for the current configuration.
static ANNOUNCED: AtomicBool = AtomicBool::new(false);
/// A NIC was found and handed to the stack.
static HAS_NIC: AtomicBool = AtomicBool::new(false);

/// The NIC as the stack sees it: every call borrows the device from `nic`'s lock.
struct NicDevice {
    mac: MacAddr,
    mtu: usize,
    caps: Capabilities,
}

impl Device for NicDevice {
    fn mac(&self) -> MacAddr {
        self.mac
    }
    fn mtu(&self) -> usize {
        self.mtu
    }
    fn link_up(&self) -> bool {
        nic::with_device(|d| d.link_up()).unwrap_or(false)
    }
    fn capabilities(&self) -> Capabilities {
        self.caps
    }
    fn receive(&mut self, budget: usize, sink: &mut dyn FnMut(&[u8])) -> usize {
        nic::with_device(|d| d.receive(budget, sink)).unwrap_or(0)
    }
    fn transmit(&mut self, frame: &[u8]) -> Result<(), TxError> {
        nic::with_device(|d| d.transmit(frame)).unwrap_or(Err(TxError::LinkDown))
    }
    fn flush(&mut self) {
        nic::with_device(|d| d.flush());
    }
    fn stats(&self) -> DevStats {
        nic::with_device(|d| d.stats()).unwrap_or_default()
    }
}

/// Build the stack (with the NIC if `nic::init` found one, else loopback only), TCP, the DHCP
/// client or static address from `ip=`, the resolver (`nameserver=`), and poll once so the
/// first DISCOVER goes out. Call once, after `nic::init`.
pub fn init(cfg: &BootConfig) {
    let now = time::now();
    let seed = arch::entropy::seed();
    let mut key = [0u8; 16];
    arch::entropy::fill(&mut key);
    let tcp = Tcp::new(TcpConfig::default(), key, arch::entropy::seed());
    let nic = nic::with_device(|d| NicDevice {
        mac: d.mac(),
        mtu: d.mtu(),
        caps: d.capabilities(),
    });
    let dhcp = nic.is_some() && cfg.ip == IpConfig::Dhcp;
    let host = match nic {
        Some(dev) => {
            HAS_NIC.store(true, Ordering::Release);
            let stack = Stack::new(Box::new(dev), seed);
            let hc = HostConfig {
                ip: cfg.ip,
                nameserver: cfg.nameserver,
                seed: arch::entropy::seed(),
            };
            match Host::with_config(stack, tcp, now, &hc) {
                Ok(h) => h,
                Err(e) => {
                    log::error!("netstack: ip= configuration refused by the stack: {e}");
                    return;
                }
            }
        }
        None => Host::new(Stack::new_loopback_only(seed), tcp),
    };
    if dhcp {
        log::info!("netstack: up, asking DHCP");
    } else {
        log::info!("netstack: up");
    }
    *NET.lock() = Some(Net(NetSys::new(host)));
    poll_once();
}

/// Run `f` on the network side; `ENETDOWN` before the network is up.
pub fn with<R>(f: impl FnOnce(&mut NetSys) -> R) -> Result<R, Errno> {
    let mut guard = NET.lock();
    match guard.as_mut() {
        Some(net) => Ok(f(&mut net.0)),
        None => Err(Errno::ENETDOWN),
    }
}

/// Whether a NIC is part of the stack.
pub fn has_nic() -> bool {
    HAS_NIC.load(Ordering::Acquire)
}

/// One round: take the NIC's pending flag, receive, run every protocol timer, transmit, and
/// print the ready marker when the interface became configured. Returns the next deadline
/// (`Instant::ZERO`: poll again at once); `None` when nothing is scheduled (or no network).
pub fn poll_once() -> Option<Instant> {
    let now = time::now();
    let _ = nic::take_pending();
    let (next, ready) = with(|ns| {
        ns.host.poll(now);
        (ns.host.poll_at(), ready_line(&ns.host))
    })
    .ok()?;
    match ready {
        Some(line) if !ANNOUNCED.swap(true, Ordering::AcqRel) => marker!("{line}"),
        None if ANNOUNCED.swap(false, Ordering::AcqRel) => {
            log::warn!("netstack: interface lost its address")
        }
        _ => {}
    }
    next
}

/// `rinet: network ready addr=A/P gw=G dns=D[,D...]` for a configured host.
fn ready_line(host: &Host) -> Option<String> {
    let IfAddr { addr, prefix_len } = host.address()?;
    let mut s = String::new();
    let _ = write!(s, "rinet: network ready addr={addr}/{prefix_len} gw=");
    match host.gateway() {
        Some(g) => {
            let _ = write!(s, "{g}");
        }
        None => s.push_str("none"),
    }
    s.push_str(" dns=");
    if host.nameservers().is_empty() {
        s.push_str("none");
    }
    for (i, d) in host.nameservers().iter().enumerate() {
        let _ = write!(s, "{}{d}", if i > 0 { "," } else { "" });
    }
    Some(s)
}

/// Poll until `cond` holds (true) or `deadline` passes (false). Between polls the CPU halts
/// until the NIC interrupts or the next protocol deadline, whichever is first. Thread context,
/// interrupts enabled.
pub fn run_until(deadline: Instant, mut cond: impl FnMut(&mut NetSys) -> bool) -> bool {
    let met = loop {
        let next = poll_once();
        if with(&mut cond).unwrap_or(false) {
            break true;
        }
        let now = time::now();
        if now >= deadline {
            break false;
        }
        let wake = next.map_or(deadline, |t| t.min(deadline));
        if wake > now {
            nic::wait_pending(wake);
        }
    };
    time::cancel_deadline();
    met
}

/// Wait (at most `timeout`) until the NIC has an address; returns it. `ENETDOWN` without a
/// network, `ETIMEDOUT` when DHCP found no server in time.
pub fn wait_ready(timeout: Duration) -> Result<IfAddr, Errno> {
    with(|_| ())?;
    let deadline = time::now() + timeout;
    run_until(deadline, |ns| ns.host.is_configured());
    match with(|ns| ns.host.address())? {
        Some(a) => Ok(a),
        None => Err(Errno::ETIMEDOUT),
    }
}

/// For boot-time programs: when a NIC exists, wait for "network ready" ([`READY_TIMEOUT`]);
/// the error names what went wrong. Without a NIC, returns at once.
pub fn wait_ready_if_nic() -> Result<(), String> {
    if !has_nic() {
        return Ok(());
    }
    wait_ready(READY_TIMEOUT).map(|_| ()).map_err(|e| match e {
        Errno::ETIMEDOUT => alloc::format!(
            "network not ready after {} s: no DHCP lease (is a DHCP server on the link? \
             use ip=<addr>::<gw>:<mask>::eth0:off for a static address)",
            READY_TIMEOUT.as_secs()
        ),
        e => alloc::format!("network not available: {e}"),
    })
}

/// Log every network counter at `level`, one line each.
pub fn dump_counters(level: log::Level) {
    if !log::log_enabled!(level) {
        return;
    }
    let mut out = String::new();
    if with(|ns| ns.host.dump_counters(&mut out)).is_err() {
        return;
    }
    for line in out.lines() {
        log::log!(level, "{line}");
    }
}
