//! The kernel's NIC: probes the virtio-net device through `drivers`, routes its interrupt, and
//! hands it to the network stack through [`with_device`].
//!
//! Owns the one NIC (behind a lock), its interrupt handler and the "work pending" flag the
//! handler raises (NAPI style: the handler only acknowledges the device and flags work; frames
//! are received by whoever polls). Also the link self-test (`init=selftest-link`). Must never
//! take the device lock from interrupt context.

use core::net::Ipv4Addr;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use drivers::irq::IrqAck;
use drivers::selftest::{arp_reply_from, arp_request, parse_mac};
use drivers::VirtioNet;
use net::dev::Device;
use net::time::Duration;
use spin::{Mutex, Once};

use crate::{arch, mem, time};

static NIC: Mutex<Option<VirtioNet>> = Mutex::new(None);
/// How the interrupt handler silences the device; set once before the IRQ is routed.
static IRQ_ACK: Once<IrqAck> = Once::new();
/// Raised by the interrupt handler (and by the driver when a receive round ends at its
/// budget); taken by the poll loop.
static PENDING: AtomicBool = AtomicBool::new(false);
/// Why `init` found no NIC, for later users to report.
static INIT_ERROR: Once<&'static str> = Once::new();
/// NIC interrupts taken since boot.
static INTERRUPTS: AtomicU64 = AtomicU64::new(0);

/// Finds the NIC (virtio-mmio from the command line, then PCI, then microvm's slots), routes its
/// level-triggered interrupt and logs `rinet: nic up ...` (with the offloads negotiated:
/// `offloads=none`, or e.g. `csum+tso4+rxcsum+rxtso4` on a tap with vnet headers).
pub fn init(cmdline: &str) -> Result<(), &'static str> {
    drivers::set_dma_ops(mem::dma_alloc_pages, mem::dma_free_pages);
    let probed = drivers::probe(cmdline, &PENDING).inspect_err(|e| {
        INIT_ERROR.call_once(|| e);
    })?;
    let mac = probed.net.mac();
    let mtu = probed.net.mtu();
    let offloads = probed.net.offloads();
    IRQ_ACK.call_once(|| probed.irq_ack);
    *NIC.lock() = Some(probed.net);
    arch::irq::register(probed.irq, true, on_interrupt)?;
    // Frames may have arrived before the line was routed: poll once without waiting.
    PENDING.store(true, Ordering::Release);
    // A boot milestone: printed even with `quiet` (the boot benchmark times it).
    crate::marker!(
        "rinet: nic up mac={mac} mtu={mtu} transport={} irq={} offloads={offloads}",
        probed.transport,
        probed.irq
    );
    Ok(())
}

/// The NIC's interrupt: acknowledge the device so the level-triggered line drops, flag work.
fn on_interrupt() {
    INTERRUPTS.fetch_add(1, Ordering::Relaxed);
    if let Some(ack) = IRQ_ACK.get() {
        ack.ack();
    }
    PENDING.store(true, Ordering::Release);
    // Wake the network poll thread (allocation-free, safe in interrupt context).
    crate::wait::wake_all(crate::wait::NIC_KEY);
}

/// Runs `f` on the NIC; `None` if there is none. Not for interrupt context.
pub fn with_device<R>(f: impl FnOnce(&mut dyn Device) -> R) -> Option<R> {
    let mut nic = NIC.lock();
    nic.as_mut().map(|d| f(d as &mut dyn Device))
}

/// Whether the NIC has work (an interrupt came, or the last round stopped at its budget);
/// clears the flag.
pub fn take_pending() -> bool {
    PENDING.swap(false, Ordering::AcqRel)
}

/// NIC interrupts taken since boot.
pub fn interrupt_count() -> u64 {
    INTERRUPTS.load(Ordering::Relaxed)
}

/// Sleeps until the NIC flags work or `deadline` passes, whichever is first; never spins and
/// lets other threads run meanwhile. Thread context.
pub fn wait_pending(deadline: net::Instant) {
    let gen = crate::wait::generation(crate::wait::NIC_KEY);
    if !PENDING.load(Ordering::Acquire) && time::now() < deadline {
        crate::wait::sleep_on_if_unchanged(crate::wait::NIC_KEY, gen, Some(deadline));
    }
}

/// Our address and the gateway's on QEMU's user-mode network.
const SELFTEST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
const SELFTEST_GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
/// How long to wait for the gateway's ARP reply.
const SELFTEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Frames taken from the ring per poll round.
const SELFTEST_BUDGET: usize = 16;
/// Second phase: this many bursts of [`SELFTEST_BURST`] ARP requests, enough to cycle every
/// receive and transmit buffer (`drivers::virtio_net::QUEUE_SIZE`) three times.
const SELFTEST_BURSTS: usize = 24;
const SELFTEST_BURST: usize = 32;

/// `init=selftest-link -- <expected mac>`: checks the MAC, ARPs for 10.0.2.2 from 10.0.2.15 and
/// waits, interrupt-driven, for the reply.
pub fn selftest_link(args: &[&str]) -> Result<(), &'static str> {
    let expected = args
        .first()
        .and_then(|a| parse_mac(a))
        .ok_or("usage: init=selftest-link -- <expected mac>")?;
    let mac = with_device(|d| d.mac()).ok_or_else(|| *INIT_ERROR.get().unwrap_or(&"no NIC"))?;
    if mac != expected {
        log::error!("selftest-link: MAC is {mac}, expected {expected}");
        return Err("MAC mismatch");
    }

    let request = arp_request(mac, SELFTEST_IP, SELFTEST_GATEWAY);
    with_device(|d| {
        let sent = d.transmit(&request);
        d.flush();
        sent
    })
    .ok_or("no NIC")?
    .map_err(|_| "transmit refused")?;

    let mut rounds = 0u64;
    let mut gateway_mac = None;
    await_replies(1, &mut gateway_mac, &mut rounds).map_err(|_| "no ARP reply from 10.0.2.2")?;
    let gateway_mac = gateway_mac.ok_or("no ARP reply from 10.0.2.2")?;
    let interrupts = interrupt_count();
    log::info!(
        "selftest-link: {SELFTEST_GATEWAY} is at {gateway_mac} ({interrupts} NIC interrupts, \
         {rounds} poll rounds)"
    );
    if interrupts == 0 {
        return Err("reply seen but no NIC interrupt was taken");
    }

    // Bursts: every ring slot is used and recycled several times.
    for _ in 0..SELFTEST_BURSTS {
        let queued = with_device(|d| {
            let n = (0..SELFTEST_BURST)
                .take_while(|_| d.transmit(&request).is_ok())
                .count();
            d.flush();
            n
        })
        .unwrap_or(0);
        if queued == 0 {
            return Err("transmit ring never frees up");
        }
        await_replies(queued, &mut Some(gateway_mac), &mut rounds)?;
    }
    let stats = with_device(|d| d.stats()).unwrap_or_default();
    log::info!(
        "selftest-link: bursts ok: rx {} tx {} rx_dropped {} ({} NIC interrupts, {rounds} poll rounds)",
        stats.rx_packets,
        stats.tx_packets,
        stats.rx_dropped,
        interrupt_count()
    );
    Ok(())
}

/// Polls, interrupt-driven, until `want` ARP replies from the gateway arrived (recording the
/// sender in `mac`), or fails after [`SELFTEST_TIMEOUT`].
fn await_replies(
    want: usize,
    mac: &mut Option<net::MacAddr>,
    rounds: &mut u64,
) -> Result<(), &'static str> {
    let deadline = time::now() + SELFTEST_TIMEOUT;
    let mut got = 0;
    while got < want {
        if take_pending() {
            *rounds += 1;
            with_device(|d| {
                d.receive(SELFTEST_BUDGET, &mut |frame| {
                    if let Some(m) = arp_reply_from(frame, SELFTEST_IP, SELFTEST_GATEWAY) {
                        *mac = Some(m);
                        got += 1;
                    }
                })
            });
            continue;
        }
        if time::now() >= deadline {
            log::error!(
                "selftest-link: {got} of {want} ARP replies after {rounds} poll rounds, {} \
                 interrupts",
                interrupt_count()
            );
            return Err("ARP replies missing");
        }
        wait_pending(deadline);
    }
    Ok(())
}
