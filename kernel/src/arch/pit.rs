//! The 8254 PIT's channel 0, used only as a reference clock for calibrating the TSC
//! (`time`): run free, read back through the latch command, stopped again.
//!
//! Owns ports 0x40 (channel 0 data) and 0x43 (mode/command). Channel 0's IRQ 0 is masked at
//! both PICs and the IO-APIC, so the running counter interrupts nobody. The latch command
//! works without the port 0x61 speaker gate, which microvm lacks.

use x86_64::instructions::port::Port;

use super::rdtsc;

const CHANNEL0_DATA: u16 = 0x40;
const COMMAND: u16 = 0x43;
/// Channel 0, low then high byte, mode 2 (rate generator), binary.
const CMD_CH0_RATE_GENERATOR: u8 = 0b0011_0100;
/// Channel 0, low then high byte, mode 0 (one-shot: stops toggling after one count).
const CMD_CH0_ONE_SHOT: u8 = 0b0011_0000;
/// Channel 0 latch command: snapshot the count for the next two reads.
const CMD_CH0_LATCH: u8 = 0x00;

/// The PIT's input clock (Hz): one count every 838 ns.
pub const HZ: u64 = 1_193_182;

/// One read of channel 0's count, bracketed by TSC reads.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// The count, running down from 65535 and wrapping (every 54.9 ms).
    pub count: u16,
    /// TSC at the middle of the read.
    pub tsc: u64,
    /// TSC ticks the read took (a large value: the vCPU was preempted inside it).
    pub cost: u64,
}

/// Start channel 0 as a free-running counter (mode 2, reload 65536).
pub fn start_free_running() {
    program_channel0(CMD_CH0_RATE_GENERATOR);
}

/// Put channel 0 in the mode `command` names, with reload value 0 (65536).
fn program_channel0(command: u8) {
    // SAFETY: programming channel 0's mode and reload value; nothing else in the kernel uses
    // the PIT, and its interrupt is masked everywhere.
    unsafe {
        Port::<u8>::new(COMMAND).write(command);
        let mut data = Port::<u8>::new(CHANNEL0_DATA);
        data.write(0);
        data.write(0);
    }
}

/// Read channel 0's current count (latch, then low and high byte).
pub fn sample() -> Sample {
    let t0 = rdtsc();
    // SAFETY: latching and reading channel 0 only snapshots its counter.
    let count = unsafe {
        Port::<u8>::new(COMMAND).write(CMD_CH0_LATCH);
        let mut data = Port::<u8>::new(CHANNEL0_DATA);
        let lo = data.read() as u16;
        let hi = data.read() as u16;
        (hi << 8) | lo
    };
    let t1 = rdtsc();
    Sample {
        count,
        tsc: t0 / 2 + t1 / 2,
        cost: t1.wrapping_sub(t0),
    }
}

/// Leave channel 0 in one-shot mode 0, so it stops toggling after one more count.
pub fn stop() {
    program_channel0(CMD_CH0_ONE_SHOT);
}
