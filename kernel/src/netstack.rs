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
//!
//! Also owns the release queue of socket files whose last open file was dropped where the
//! network lock could not be taken (`files::socket`): [`queue_release`] never allocates (a
//! slot is reserved when the socket file is made, [`reserve_release`]) and never takes `NET`;
//! every entry to the network side ([`with`], [`poll_once`]) releases what is queued first.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use net::config::IpConfig;
use net::dev::{Capabilities, DevStats, Device, TxError};
use net::host::{Host, HostConfig};
use net::offload::TxOffload;
use net::stack::{IfAddr, Stack};
use net::sys::NetSys;
use net::tcp::{Tcp, TcpConfig};
use net::{Duration, Errno, Instant, MacAddr};
use spin::Mutex;

use crate::cmdline::BootConfig;
use crate::sync::SingleCpu;
use crate::{arch, marker, nic, sched, time, wait};

/// How long boot-time programs wait for DHCP before giving up with an error. QEMU's user
/// network answers in milliseconds; a real DHCP server's first OFFER can take a few seconds.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// The network side, once [`init`] built it. `NetSys` is not `Send` only because the stack
/// holds `Box<dyn Device>` (no `Send` bound) and unmarked protocol state; every access goes
/// through `NET`'s lock from thread context (never from an interrupt handler), as
/// [`SingleCpu`] requires.
type Net = SingleCpu<NetSys>;

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
    fn transmit_offload(&mut self, frame: &mut Vec<u8>, offload: TxOffload) -> Result<(), TxError> {
        // The driver's own: it hands the partial checksum or the super-segment to the device
        // when negotiated (the trait's default would finish it in software).
        nic::with_device(|d| d.transmit_offload(frame, offload)).unwrap_or(Err(TxError::LinkDown))
    }
    fn flush(&mut self) {
        nic::with_device(|d| d.flush());
    }
    fn stats(&self) -> DevStats {
        nic::with_device(|d| d.stats()).unwrap_or_default()
    }
}

/// The share of free RAM all TCP buffers together may occupy (the divisor).
const TCP_MEMORY_SHARE: usize = 4;

/// Build the stack (with the NIC if `nic::init` found one, else loopback only), TCP, the DHCP
/// client or static address from `ip=`, the resolver (`nameserver=`), and poll once so the
/// first DISCOVER goes out. Call once, after `nic::init`.
pub fn init(cfg: &BootConfig) {
    let now = time::now();
    let seed = arch::entropy::seed();
    let mut key = [0u8; 16];
    arch::entropy::fill(&mut key);
    // TCP buffers together may take a quarter of the RAM still free: a peer that opens many
    // connections and never reads meets refused writes and dropped segments, not an
    // exhausted heap.
    let nic = nic::with_device(|d| NicDevice {
        mac: d.mac(),
        mtu: d.mtu(),
        caps: d.capabilities(),
    });
    // Segments leave with partial checksums: loopback never needs them (as on Linux) and the
    // stack finishes them for a NIC that cannot, in the one pass TCP would have made itself.
    // Super-segments only when the NIC cuts them: cutting them in software costs a copy.
    let tso_max = nic.as_ref().map_or(0, |n| n.caps.tso_max);
    let tcp_config = TcpConfig {
        memory_limit: crate::mem::free_frame_count() * crate::mem::frames::FRAME_SIZE as usize
            / TCP_MEMORY_SHARE,
        checksum_offload: true,
        tso_max: u32::try_from(tso_max).unwrap_or(0),
        ..TcpConfig::default()
    };
    log::info!(
        "tcp: buffers limited to {} KiB in all (1/{TCP_MEMORY_SHARE} of free RAM)",
        tcp_config.memory_limit / 1024
    );
    let tcp = Tcp::new(tcp_config, key, arch::entropy::seed());
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
    *NET.lock() = Some(SingleCpu(NetSys::new(host)));
    poll_once();
    if let Err(e) = sched::spawn("net-poll", poll_thread, 0) {
        log::error!("netstack: cannot start the poll thread: {e}");
    }
}

/// Run `f` on the network side; `ENETDOWN` before the network is up. Afterwards the sockets
/// whose readiness `f` changed are woken, and the poll thread is kicked when `f` left work for
/// it (loopback frames, an earlier protocol deadline than it sleeps for).
pub fn with<R>(f: impl FnOnce(&mut NetSys) -> R) -> Result<R, Errno> {
    let mut woken = Vec::new();
    let (r, next) = with_quiet(|ns| {
        let r = f(ns);
        ns.take_woken(&mut woken);
        (r, ns.poll_at())
    })?;
    for key in woken {
        wait::wake_all(key);
    }
    let sleeping_until = POLL_SLEEP_UNTIL.load(Ordering::Acquire);
    if next.is_some_and(|t| t.as_nanos() < sleeping_until) {
        // Kicked: it is ready now, so later calls before it runs need not kick it again
        // (each kick scans the thread table). It stores its own value before it sleeps.
        POLL_SLEEP_UNTIL.store(0, Ordering::Release);
        wait::wake_all(wait::NIC_KEY);
    }
    Ok(r)
}

/// Run `f` on the network side without the wakeups of [`with`] (the poll thread's own use).
/// Queued socket releases happen first.
fn with_quiet<R>(f: impl FnOnce(&mut NetSys) -> R) -> Result<R, Errno> {
    let mut guard = NET.lock();
    match guard.as_mut() {
        Some(net) => {
            drain_releases(&mut net.0);
            Ok(f(&mut net.0))
        }
        None => Err(Errno::ENETDOWN),
    }
}

/// Socket files waiting to be released, and how many socket files may still be queued.
struct Releases {
    /// Open socket files plus queued ones: the queue's capacity never falls below it.
    reserved: usize,
    queue: Vec<net::sockfs::FileId>,
}

static RELEASES: Mutex<Releases> = Mutex::new(Releases {
    reserved: 0,
    queue: Vec::new(),
});

/// Reserve room in the release queue for one more socket file (`ENOMEM` when the queue cannot
/// grow); its [`queue_release`] then never allocates.
pub fn reserve_release() -> Result<(), Errno> {
    let mut r = RELEASES.lock();
    let want = r.reserved + 1;
    let extra = want.saturating_sub(r.queue.len());
    r.queue.try_reserve(extra).map_err(|_| Errno::ENOMEM)?;
    r.reserved = want;
    Ok(())
}

/// A socket file was released directly: its reserved slot is free.
pub fn unreserve_release() {
    let mut r = RELEASES.lock();
    r.reserved = r.reserved.saturating_sub(1);
}

/// Queue a socket file for release (its last open file was dropped). Takes only the queue's
/// own lock, never allocates (the slot was reserved), and kicks the poll thread.
pub fn queue_release(file: net::sockfs::FileId) {
    {
        let mut r = RELEASES.lock();
        if r.queue.len() < r.queue.capacity() {
            r.queue.push(file);
        } else {
            // Unreachable while every socket file reserved its slot; never allocate here.
            log::error!("netstack: release queue full, socket {file:?} stays open");
        }
    }
    wait::wake_all(wait::NIC_KEY);
}

/// Release every queued socket file (under `NET`, one queue entry at a time).
fn drain_releases(ns: &mut NetSys) {
    loop {
        let next = {
            let mut r = RELEASES.lock();
            let f = r.queue.pop();
            if f.is_some() {
                r.reserved = r.reserved.saturating_sub(1);
            }
            f
        };
        match next {
            Some(f) => {
                let _ = ns.release_file(time::now(), f);
            }
            None => break,
        }
    }
}

/// When the poll thread will wake by itself (ns since boot; `u64::MAX`: only on an event).
static POLL_SLEEP_UNTIL: AtomicU64 = AtomicU64::new(0);

/// The network poll thread (the NAPI loop): poll, wake sockets, then sleep until the NIC
/// interrupts, a socket call kicks it, or the next protocol deadline.
fn poll_thread(_: usize) {
    loop {
        let gen = wait::generation(wait::NIC_KEY);
        // Announce "awake" first so callers kick us for anything they add while we poll.
        POLL_SLEEP_UNTIL.store(0, Ordering::Release);
        let next = poll_once();
        if nic::take_pending() || next == Some(Instant::ZERO) {
            // The NIC stopped at its budget or frames are waiting on loopback: go again, but
            // let ready threads run first.
            sched::yield_now();
            continue;
        }
        POLL_SLEEP_UNTIL.store(next.map_or(u64::MAX, Instant::as_nanos), Ordering::Release);
        wait::sleep_on_if_unchanged(wait::NIC_KEY, gen, next);
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
    let mut woken = Vec::new();
    let (next, configured) = with_quiet(|ns| {
        ns.poll(now);
        ns.take_woken(&mut woken);
        (ns.poll_at(), ns.host.address().is_some())
    })
    .ok()?;
    for key in woken {
        wait::wake_all(key);
    }
    // The line is formatted only when the interface changes state, not on every poll.
    if configured && !ANNOUNCED.swap(true, Ordering::AcqRel) {
        // /etc first, so a program waiting for this line finds its address there.
        let state = with_quiet(|ns| {
            let addr = ns.host.address()?.addr;
            Some((addr, ns.host.nameservers().to_vec(), ready_line(&ns.host)?))
        });
        if let Ok(Some((addr, dns, line))) = state {
            crate::etc::network_configured(addr, &dns);
            marker!("{line}")
        }
    } else if !configured && ANNOUNCED.swap(false, Ordering::AcqRel) {
        log::warn!("netstack: interface lost its address")
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
    loop {
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
    }
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
