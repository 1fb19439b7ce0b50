//! Raw port I/O for the few fixed legacy ports the arch code owns itself
//! (8259 PIC, PIT, isa-debug-exit, ACPI PM1 control). Drivers use
//! `hal::pio::PortWindow` instead.

use core::arch::asm;

/// # Safety
/// Writing an I/O port can have any effect on the machine; the caller owns the port.
#[inline]
pub unsafe fn outb(port: u16, value: u8) {
    // SAFETY: forwarded to the caller.
    unsafe { asm!("out dx, al", in("dx") port, in("al") value, options(nomem, nostack, preserves_flags)) };
}

/// # Safety
/// See [`outb`].
#[inline]
pub unsafe fn outw(port: u16, value: u16) {
    // SAFETY: forwarded to the caller.
    unsafe { asm!("out dx, ax", in("dx") port, in("ax") value, options(nomem, nostack, preserves_flags)) };
}

/// # Safety
/// Reading an I/O port can have side effects; the caller owns the port.
#[inline]
pub unsafe fn inb(port: u16) -> u8 {
    let v: u8;
    // SAFETY: forwarded to the caller.
    unsafe { asm!("in al, dx", out("al") v, in("dx") port, options(nomem, nostack, preserves_flags)) };
    v
}
