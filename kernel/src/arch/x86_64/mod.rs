//! x86-64 support: PVH boot, descriptor tables, traps, port I/O, the
//! legacy PIC, and leaving QEMU.

pub mod apic;
pub mod backtrace;
pub mod boot;
pub mod cpu;
pub mod exit;
pub mod extable;
pub mod gdt;
pub mod idt;
pub mod pic;
pub mod port;
pub mod pvh;
pub mod smp;
pub mod trap;

mod ktests;

/// Per-CPU descriptor tables and exception handling for the boot CPU.
pub fn init_boot_cpu() {
    gdt::init_cpu(0);
    idt::init_cpu();
    pic::disable();
}
