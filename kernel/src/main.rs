//! The rinet kernel (to be written: PVH boot, memory, interrupts, time, devices).
#![no_std]
#![no_main]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
