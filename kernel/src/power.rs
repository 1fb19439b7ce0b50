//! Powering the machine off through ACPI: write `SLP_TYPa(S5) | SLP_EN` to
//! the PM1a control register (ACPI spec §4.8.3.2.1 PM1 Control Registers,
//! §16.1.7 soft-off). On QEMU q35 this is the ICH9 PM block at port 0x604
//! and QEMU exits with status 0. If ACPI is missing, fall back to the
//! isa-debug-exit device.

use crate::arch::exit::{qemu_exit, ExitCode};
use crate::arch::port::outw;

const SLP_EN: u16 = 1 << 13;
const SLP_TYP_SHIFT: u16 = 10;

pub fn poweroff() -> ! {
    log::info!("powering off");
    if let Some(info) = crate::acpi::info() {
        if let (Some(port), Some(typ)) = (info.pm1a_control_port, info.s5_sleep_type) {
            crate::console::flush();
            // SAFETY: the FADT names this port as the PM1a control register.
            unsafe { outw(port, (u16::from(typ) << SLP_TYP_SHIFT) | SLP_EN) };
            // The write takes effect asynchronously in QEMU; give it a moment.
            for _ in 0..1_000_000 {
                crate::arch::cpu::pause();
            }
        }
    }
    log::error!("ACPI power-off did not take effect");
    qemu_exit(ExitCode::Success)
}
