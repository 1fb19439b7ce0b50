//! Leaving QEMU with a status the host can read: the `isa-debug-exit`
//! device (iobase 0xf4) turns a written value v into exit status
//! `(v << 1) | 1` (docs/testing.md has the contract).

use super::port::outb;

const ISA_DEBUG_EXIT_PORT: u16 = 0xf4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitCode {
    /// QEMU exits with status 33.
    Success = 0x10,
    /// QEMU exits with status 35.
    Failure = 0x11,
}

pub fn qemu_exit(code: ExitCode) -> ! {
    crate::console::flush();
    // SAFETY: the standard machine has isa-debug-exit at this port; on a
    // machine without it the write is ignored and we halt below.
    unsafe { outb(ISA_DEBUG_EXIT_PORT, code as u8) };
    super::cpu::halt_forever()
}
