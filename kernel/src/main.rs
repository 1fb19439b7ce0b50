//! ioxide: a kernel built around the device I/O subsystem.
//!
//! `kernel_entry` is the table of contents: each step brings up one
//! mechanism, in dependency order.

#![no_std]
#![no_main]

extern crate alloc;

mod acpi;
mod arch;
mod bench;
mod block;
mod bus;
mod cmdline;
mod console;
mod devices;
mod dma;
mod irq;
mod klog;
mod ktest;
mod mm;
mod net;
mod percpu;
mod power;
mod resource;
mod sched;
mod shell;
mod sync;
mod time;
mod timer;
mod workqueue;

use arch::pvh::BootInfo;

/// Called by the PVH trampoline (arch/x86_64/boot.rs) in 64-bit mode, on the
/// boot stack, with the physical address of the start info.
#[no_mangle]
pub extern "C" fn kernel_entry(start_info: u32) -> ! {
    time::mark_boot();
    percpu::init_cpu(0, 0);
    arch::init_boot_cpu();
    let console = console::init();
    // SAFETY: QEMU passed this address in ebx; the boot tables direct-map it.
    let boot = match unsafe { BootInfo::read(u64::from(start_info)) } {
        Ok(boot) => boot,
        Err(e) => panic!("bad PVH start info: {e}"),
    };
    let args = cmdline::parse(boot.cmdline());
    time::calibrate_tsc();
    klog::init(args.log_level);
    log::info!("ioxide {} booting, command line \"{}\"", env!("CARGO_PKG_VERSION"), boot.cmdline());
    for word in cmdline::unknown_words(boot.cmdline()) {
        log::warn!("ignoring unknown command-line word '{word}'");
    }
    if let Err(e) = console {
        log::warn!("COM1 self-test failed: {e}");
    }
    log::info!("TSC {} MHz (PIT calibration)", time::tsc_hz() / 1_000_000);
    for r in boot.memory_map() {
        log::info!("memory map: {:#012x}..{:#012x} {:?}", r.start, r.end(), r.kind);
    }

    mm::init(boot.memory_map(), acpi::root_table_phys(boot.rsdp));
    mm::log_summary();
    cmdline::keep(boot.cmdline()); // needs the heap

    match acpi::init(boot.rsdp) {
        Ok(info) => log::info!(
            "ACPI revision {}, {} tables, {} MADT entries, {} ECAM ranges",
            info.revision,
            info.tables.len(),
            info.madt.len(),
            info.ecam.len()
        ),
        Err(e) => log::error!("ACPI: {e}"),
    }

    resource::init(boot.memory_map());
    sched::init_cpu("init");
    irq::init();
    timer::init();
    percpu::set_online();
    irq::softirq::start_ksoftirqd();
    if let Err(e) = arch::apic::start_tick(time::HZ) {
        log::error!("no timer tick: {e}");
    }
    arch::cpu::enable_interrupts();
    if let Err(e) = console::enable_interrupts() {
        log::warn!("console stays polled: {e}");
    }
    let aps = arch::smp::boot_aps();
    log::info!("{} CPUs online", aps + 1);
    workqueue::init();
    net::init();
    devices::init();
    block::init();
    bus::pci::init();

    let init_ns = time::uptime_ns();
    log::info!("kernel init done in {}.{:03} ms", init_ns / 1_000_000, (init_ns / 1000) % 1000);

    if let Some(filter) = args.ktest {
        ktest::run_all(filter);
    }
    shell::run()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    console::emergency_print(format_args!("\nKERNEL PANIC: {info}\n"));
    arch::exit::qemu_exit(arch::exit::ExitCode::Failure)
}
