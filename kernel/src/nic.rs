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
/// Interrupts on the NIC's line whose status said the device had not raised them (another
/// device sharing the line, or a spurious delivery).
static SPURIOUS: AtomicU64 = AtomicU64::new(0);
/// Interrupt causes found pending when the line was routed (each one would have left the
/// line asserted and never delivered, had it not been acknowledged then).
static EARLY_ACKS: AtomicU64 = AtomicU64::new(0);
/// Whether the counters are printed at exit (`nicstats`).
static REPORT_AT_EXIT: AtomicBool = AtomicBool::new(false);

/// Finds the NIC (virtio-mmio from the command line, then PCI, then microvm's slots), routes its
/// level-triggered interrupt and logs `rinet: nic up ...` (with the offloads negotiated:
/// `offloads=none`, or e.g. `csum+tso4+rxcsum+rxtso4` on a tap with vnet headers).
pub fn init(cmdline: &str) -> Result<(), &'static str> {
    drivers::set_mem_ops(drivers::MemOps {
        alloc: mem::dma_alloc_pages,
        free: mem::dma_free_pages,
        phys_to_virt: mem::phys_to_virt,
        virt_to_phys: mem::virt_to_phys,
    });
    // A receive and a transmit buffer per 32 frames of RAM: all 256 of each from 32 MiB up,
    // a few dozen in a guest of 8 MiB, whose programs need the pages more.
    drivers::virtio_net::set_buffers(mem::total_frame_count() / 32);
    let probed = drivers::probe(cmdline, &PENDING).inspect_err(|e| {
        INIT_ERROR.call_once(|| e);
    })?;
    let mac = probed.net.mac();
    let mtu = probed.net.mtu();
    let offloads = probed.net.offloads();
    IRQ_ACK.call_once(|| probed.irq_ack);
    *NIC.lock() = Some(probed.net);
    arch::irq::register(probed.irq, true, on_interrupt)?;
    // The device may have raised its line before it was routed: frames arrive from the moment
    // the receive ring is stocked (a host probing the guest while it boots). The IO-APIC pin
    // was then still masked and edge-triggered, and QEMU's IO-APIC drops an edge on a masked
    // pin: it never sees the assertion, and because the device keeps its line asserted until
    // its status is read, it never sees another one either: the NIC went deaf for good on
    // q35 and pc (issue 11). So, now that the pin is level-triggered and unmasked, read and
    // clear the device's status (the line drops; every later cause raises it afresh and is
    // delivered), then poll once for whatever came before.
    if let Some(ack) = IRQ_ACK.get() {
        if ack.ack() != 0 {
            EARLY_ACKS.fetch_add(1, Ordering::Relaxed);
        }
    }
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
        if ack.ack() == 0 {
            SPURIOUS.fetch_add(1, Ordering::Relaxed);
        }
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

/// Arranges for [`report`] at exit (`nicstats`) and, with `nicstats=MS`, every MS ms from a
/// thread of its own.
pub fn enable_stats(mode: crate::cmdline::NicStats) {
    use crate::cmdline::NicStats;
    match mode {
        NicStats::Off => {}
        NicStats::AtExit => REPORT_AT_EXIT.store(true, Ordering::Relaxed),
        NicStats::Every(ms) => {
            REPORT_AT_EXIT.store(true, Ordering::Relaxed);
            if let Err(e) = crate::sched::spawn("nic-stats", stats_thread, ms as usize) {
                log::warn!("nic: cannot start the nicstats thread: {e}");
            }
        }
    }
}

fn stats_thread(period_ms: usize) {
    loop {
        time::sleep(Duration::from_millis(period_ms as u64));
        report();
    }
}

/// Prints the counters if `nicstats` asked for them (the exit path calls this).
pub fn report_at_exit() {
    if REPORT_AT_EXIT.load(Ordering::Relaxed) {
        report();
    }
}

/// Prints one line with every NIC counter (whatever the log level):
/// `rinet: nic stats interrupts=N spurious=N rx_rounds=N rx_frames=N tx_frames=N ...`.
/// Never waits for the device lock (the exit path may run while it is held): without it,
/// only the interrupt counters are printed.
pub fn report() {
    let interrupts = INTERRUPTS.load(Ordering::Relaxed);
    let spurious = SPURIOUS.load(Ordering::Relaxed);
    let early = EARLY_ACKS.load(Ordering::Relaxed);
    let pending = PENDING.load(Ordering::Relaxed);
    let Some(guard) = NIC.try_lock() else {
        crate::marker!(
            "rinet: nic stats interrupts={interrupts} spurious={spurious} pending={pending} \
             (device busy)"
        );
        return;
    };
    let Some(nic) = guard.as_ref() else {
        crate::marker!("rinet: nic stats interrupts={interrupts} (no NIC)");
        return;
    };
    let s = nic.stats();
    let c = nic.counters();
    let r = nic.ring_state();
    drop(guard);
    crate::marker!(
        "rinet: nic stats interrupts={interrupts} spurious={spurious} early_acks={early} rx_rounds={} \
         rearm_races={} rx_frames={} tx_frames={} rx_dropped={} tx_dropped={} \
         rx_budget_exhausted={} rx_kicks={} tx_kicks={} rx_runts={} rx_errors={} \
         rx_repost_failures={} rx_csum_errors={} rx_merge_errors={} rx_gso_unsupported={} \
         rx_no_memory={} tx_errors={} tx_bad_offload={} pending={pending} rx_used_waiting={} \
         rx_free_desc={} tx_free_desc={}",
        c.rx_rounds,
        c.rx_rearm_races,
        s.rx_packets,
        s.tx_packets,
        s.rx_dropped,
        s.tx_dropped,
        c.rx_budget_exhausted,
        c.rx_kicks,
        c.tx_kicks,
        c.rx_runts,
        c.rx_errors,
        c.rx_repost_failures,
        c.rx_csum_errors,
        c.rx_merge_errors,
        c.rx_gso_unsupported,
        c.rx_no_memory,
        c.tx_errors,
        c.tx_bad_offload,
        r.rx_used_waiting,
        r.rx_free_desc,
        r.tx_free_desc,
    );
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

    // Boot leaves the work flag raised for frames that came before the line was routed; take
    // that round now, so the reply below can only be noticed through an interrupt (slirp
    // answers ARP within the transmit notify, before a first round would run).
    if take_pending() {
        with_device(|d| d.receive(SELFTEST_BUDGET, &mut |_| {}));
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
