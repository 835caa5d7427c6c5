//! The legacy 8259 PIC pair: remapped to vectors 0x20-0x2f (away from the exception vectors,
//! so a spurious IRQ 7/15 cannot masquerade as an exception) and then fully masked. The IO-APIC
//! delivers device interrupts instead. Absent PICs (microvm may have none) ignore the writes.

use x86_64::instructions::port::Port;

/// First vector of the remapped master PIC; the dispatcher ignores 0x20..0x30.
pub const PIC_VECTOR_BASE: u8 = 0x20;

pub fn disable() {
    let mut m_cmd = Port::<u8>::new(0x20);
    let mut m_data = Port::<u8>::new(0x21);
    let mut s_cmd = Port::<u8>::new(0xa0);
    let mut s_data = Port::<u8>::new(0xa1);
    // SAFETY: the standard ICW1-ICW4 initialisation sequence of the 8259 pair followed by
    // masking every line; no other code in the kernel uses the PICs.
    unsafe {
        m_cmd.write(0x11); // ICW1: init, ICW4 follows
        s_cmd.write(0x11);
        m_data.write(PIC_VECTOR_BASE); // ICW2: vector base
        s_data.write(PIC_VECTOR_BASE + 8);
        m_data.write(0x04); // ICW3: slave on IRQ2
        s_data.write(0x02);
        m_data.write(0x01); // ICW4: 8086 mode
        s_data.write(0x01);
        m_data.write(0xff); // mask all
        s_data.write(0xff);
    }
}
