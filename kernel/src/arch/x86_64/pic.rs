//! The legacy 8259A PIC pair: remapped away from the exception vectors and
//! fully masked. ioxide routes interrupts through the IOAPIC; the PICs only
//! need to be kept quiet (a spurious IRQ7/IRQ15 could still arrive and is
//! counted as an unexpected vector).

use super::port::outb;

const PIC1_CMD: u16 = 0x20;
const PIC1_DATA: u16 = 0x21;
const PIC2_CMD: u16 = 0xa0;
const PIC2_DATA: u16 = 0xa1;
/// Vectors 0x20..0x2f; out of the exception range (Intel 8259A datasheet, ICW2).
const PIC1_VECTOR_BASE: u8 = 0x20;

pub fn disable() {
    // SAFETY: the PIC ports belong to the arch code; the ICW1–ICW4 sequence
    // (8259A datasheet, "Initialization Command Words") then OCW1 mask-all.
    unsafe {
        outb(PIC1_CMD, 0x11); // ICW1: init, ICW4 needed
        outb(PIC2_CMD, 0x11);
        outb(PIC1_DATA, PIC1_VECTOR_BASE); // ICW2: vector base
        outb(PIC2_DATA, PIC1_VECTOR_BASE + 8);
        outb(PIC1_DATA, 4); // ICW3: slave on IR2
        outb(PIC2_DATA, 2); // ICW3: slave identity 2
        outb(PIC1_DATA, 0x01); // ICW4: 8086 mode
        outb(PIC2_DATA, 0x01);
        outb(PIC1_DATA, 0xff); // OCW1: mask everything
        outb(PIC2_DATA, 0xff);
    }
}
