//! Device interrupt registration for the drivers: a GSI gets a free vector, its IO-APIC entry
//! is programmed, and the interrupt dispatcher calls the registered handler then sends the
//! LAPIC EOI.
//!
//! Handler contract: handlers run with interrupts disabled, must be short, must not allocate
//! or take locks the interrupted code may hold, and for a level-triggered GSI must silence the
//! device (acknowledge it, or `mask` the GSI and unmask later) before returning, or the line
//! fires again right after the EOI.

use super::ioapic;
use crate::sync::IrqMutex;

/// Vectors handed out to devices: above the remapped PICs (0x20-0x2f), below the LAPIC's own
/// (0xf0 and up).
pub const FIRST_DEVICE_VECTOR: u8 = 0x30;
pub const LAST_DEVICE_VECTOR: u8 = 0xef;

struct Table {
    handlers: [Option<fn()>; 256],
    /// Vector assigned to each GSI (GSIs 0-255).
    gsi_vector: [Option<u8>; 256],
    next_vector: u8,
}

static TABLE: IrqMutex<Table> = IrqMutex::new(Table {
    handlers: [None; 256],
    gsi_vector: [None; 256],
    next_vector: FIRST_DEVICE_VECTOR,
});

/// Route `gsi` (active-high; edge or level triggered) to a new vector whose interrupts call
/// `handler`, and unmask it. Returns the vector.
pub fn register(gsi: u8, level_triggered: bool, handler: fn()) -> Result<u8, &'static str> {
    let vector = {
        let mut t = TABLE.lock();
        if t.gsi_vector[gsi as usize].is_some() {
            return Err("this GSI already has a handler");
        }
        if t.next_vector > LAST_DEVICE_VECTOR {
            return Err("out of interrupt vectors");
        }
        let vector = t.next_vector;
        t.next_vector += 1;
        t.handlers[vector as usize] = Some(handler);
        t.gsi_vector[gsi as usize] = Some(vector);
        vector
    };
    if let Err(e) = ioapic::route(gsi, vector, level_triggered) {
        let mut t = TABLE.lock();
        t.handlers[vector as usize] = None;
        t.gsi_vector[gsi as usize] = None;
        return Err(e);
    }
    log::info!(
        "irq: GSI {gsi} ({}) -> vector {vector:#x}",
        if level_triggered { "level" } else { "edge" }
    );
    Ok(vector)
}

/// Stop `gsi` from interrupting (IO-APIC mask bit).
pub fn mask(gsi: u8) -> Result<(), &'static str> {
    ioapic::set_masked(gsi, true)
}

/// Let `gsi` interrupt again.
pub fn unmask(gsi: u8) -> Result<(), &'static str> {
    ioapic::set_masked(gsi, false)
}

/// Run the handler registered for `vector`; false if there is none.
pub(super) fn dispatch(vector: u8) -> bool {
    // Interrupts are off in the dispatcher and every holder of TABLE keeps them off, so this
    // lock is always free here on our single CPU.
    let handler = TABLE.lock().handlers[vector as usize];
    match handler {
        Some(h) => {
            h();
            true
        }
        None => false,
    }
}

/// Raise `vector` as a software interrupt (`int`): it goes through the same stub and
/// dispatcher as a device interrupt, so its handler runs (and the EOI is sent) as if the
/// device had interrupted. Only vectors 0x30-0x3f with a registered handler: an error (and no
/// interrupt) otherwise.
pub fn raise_soft(vector: u8) -> Result<(), &'static str> {
    if !(0x30..=0x3f).contains(&vector) {
        return Err("handler vector outside 0x30-0x3f");
    }
    if TABLE.lock().handlers[vector as usize].is_none() {
        return Err("no handler registered for this vector");
    }
    macro_rules! int_arms {
        ($($v:literal)*) => {
            match vector {
                $(
                    // SAFETY: the vector has a registered handler, which the dispatcher runs
                    // under the handler contract above; `int` from ring 0 through a DPL-0 gate
                    // is allowed.
                    $v => unsafe { core::arch::asm!(concat!("int ", $v)) },
                )*
                _ => return Err("handler vector outside 0x30-0x3f"),
            }
        };
    }
    int_arms!(0x30 0x31 0x32 0x33 0x34 0x35 0x36 0x37 0x38 0x39 0x3a 0x3b 0x3c 0x3d 0x3e 0x3f);
    Ok(())
}
