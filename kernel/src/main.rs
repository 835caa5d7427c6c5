//! The rinet kernel: boots through PVH, brings up console, CPU tables, memory, time and
//! interrupts, probes the NIC, and runs the program `init=` names (an ELF file of the initramfs, or a kernel self-test).
//!
//! Boot order (each step only uses what the previous ones set up):
//! console -> `rinet: kernel entry` -> TSC calibration window opens -> GDT/TSS/IDT, stack
//! guard, PICs masked -> PVH boot info -> command line -> frames + heap -> paging -> TSC clock
//! (the window closes) -> LAPIC, IO-APIC -> entropy -> threads
//! (this context becomes thread `main`, plus `idle`) -> `syscall` MSRs -> interrupts on -> NIC
//! -> program.
#![no_std]
#![no_main]
// `unsafe` lives only in `arch`, `mem` and `mm` (each block with its `// SAFETY:`); the
// compiler refuses it anywhere else.
#![deny(unsafe_code)]

extern crate alloc;

#[allow(unsafe_code)]
pub mod arch;
pub mod bootinfo;
pub mod cmdline;
pub mod console;
pub mod cputime;
pub mod etc;
pub mod exit;
pub mod files;
pub mod fs;
pub mod loadavg;
#[allow(unsafe_code)]
pub mod mem;
#[allow(unsafe_code)]
pub mod mm;
pub mod netstack;
pub mod nic;
pub mod process;
pub mod procfs;
pub mod program_memory;
pub mod programs;
pub mod sched;
pub mod sync;
pub mod syscall;
pub mod time;
pub mod vecmap;
pub mod wait;

/// Rust entry, called by `arch::boot` in long mode on the boot stack.
pub extern "C" fn kmain(start_info_paddr: u64) -> ! {
    time::mark_boot();
    // Before any other code: the CPU state that keys QEMU's translated code (see there).
    arch::enable_cpu_features();
    mm::paging::enable_smep_smap();
    console::init();
    marker!("rinet: kernel entry");
    // The TSC is calibrated over the steps up to paging, which need no clock.
    time::begin_calibration();
    arch::init_cpu_tables();

    let info = match bootinfo::init(start_info_paddr) {
        Ok(i) => i,
        Err(e) => exit::failure(format_args!("boot info: {e}")),
    };
    let cfg = match cmdline::parse(info.cmdline()) {
        Ok(c) => cmdline::set(c),
        Err(e) => exit::failure(e),
    };
    syscall::set_strace(cfg.strace);
    if let Some(level) = cfg.loglevel {
        console::set_loglevel(level);
    }
    log::info!("cmdline: {}", cfg.raw);

    if let Err(e) = mem::init(info.memmap()) {
        exit::failure(format_args!("memory: {e}"));
    }
    // The initramfs lies in RAM the allocator would hand out: keep it until it is unpacked.
    if let Some((paddr, len)) = info.initrd {
        let frames = len.div_ceil(mem::frames::FRAME_SIZE);
        if (mem::reserve(paddr, len) as u64) < frames {
            log::warn!("initramfs: part of it was not free RAM; it is freed only in part later");
        }
    }
    if let Err(e) = mm::paging::init(!cfg.nosmep, !cfg.nosmap) {
        exit::failure(format_args!("paging: {e}"));
    }
    time::init();
    time::init_realtime();
    arch::init_interrupt_controllers();
    let _ = arch::entropy::source();
    sched::init();
    syscall::init();
    x86_64::instructions::interrupts::enable();
    fs::init(info.initrd);
    // The LAPIC timer was counting since `init_interrupt_controllers` (unless a sleep needed
    // it earlier): unpacking the initramfs overlapped its calibration.
    arch::apic::finish_calibration();
    log::info!(
        "boot: kernel up in {} us (heap {} KiB, {} frames free)",
        time::now().as_micros(),
        mem::heap::heap_bytes() / 1024,
        mem::free_frame_count()
    );

    if let Err(e) = nic::init(cfg.raw) {
        log::error!("nic: {e}");
    }
    nic::enable_stats(cfg.nicstats);
    // The link self-test drives the NIC with raw frames: it owns the device, so the stack (whose
    // poll thread would consume the replies) is not started for it.
    if cfg.init != "selftest-link" {
        netstack::init(cfg);
    }
    programs::run(cfg.init, cfg.args())
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    x86_64::instructions::interrupts::disable();
    match info.location() {
        Some(l) => console::emergency(format_args!(
            "rinet: PANIC at {}:{}:{}: {}",
            l.file(),
            l.line(),
            l.column(),
            info.message()
        )),
        None => console::emergency(format_args!("rinet: PANIC: {}", info.message())),
    }
    exit::failure_quiet()
}
