//! `lspci`, `lspci -v` (laid out like pciutils) and `pci dump` (one
//! machine-readable line per function, compared by xtask against QEMU's own
//! view from QMP `query-pci`).

use alloc::string::String;
use alloc::vec::Vec;

use pci::bar::Bar;
use pci::header::HeaderType;

use crate::bus::pci::{self as pcicore, PciDevice};
use crate::{print, println};

fn sorted() -> Vec<alloc::sync::Arc<PciDevice>> {
    let mut devs = pcicore::devices();
    devs.sort_by_key(|d| (d.bdf().bus, d.bdf().device, d.bdf().function));
    devs
}

fn bar_kind(bar: &Bar) -> &'static str {
    match bar {
        Bar::Io { .. } => "io",
        Bar::Mem32 { prefetchable: false, .. } => "mem32",
        Bar::Mem32 { prefetchable: true, .. } => "mem32p",
        Bar::Mem64 { prefetchable: false, .. } => "mem64",
        Bar::Mem64 { prefetchable: true, .. } => "mem64p",
        Bar::None => "none",
    }
}

fn size_text(size: u64) -> String {
    match size {
        s if s >= 1 << 30 && s % (1 << 30) == 0 => alloc::format!("{}G", s >> 30),
        s if s >= 1 << 20 && s % (1 << 20) == 0 => alloc::format!("{}M", s >> 20),
        s if s >= 1 << 10 && s % (1 << 10) == 0 => alloc::format!("{}K", s >> 10),
        s => alloc::format!("{s}"),
    }
}

pub fn lspci(args: &[&str]) -> Result<(), String> {
    let verbose = match args {
        [] => false,
        ["-v"] => true,
        _ => return Err("expected no option or -v".into()),
    };
    for dev in sorted() {
        println!("{}", dev.info.lspci());
        if verbose {
            verbose_details(&dev);
        }
    }
    if verbose {
        println!(
            "({} via {}; BARs {})",
            pcicore::devices().len(),
            pcicore::access_name(),
            if pcicore::bars_assigned_by_kernel() { "assigned by the kernel" } else { "as firmware assigned them" }
        );
    }
    Ok(())
}

fn verbose_details(dev: &PciDevice) {
    let info = &dev.info;
    let cmd = dev.command();
    println!(
        "\tSubsystem: {:04x}:{:04x}, header type {:?}{}",
        info.subsystem_vendor,
        info.subsystem_device,
        info.header_type,
        if info.multi_function { ", multi-function" } else { "" }
    );
    let decode = |bit: u16, s: &'static str| if cmd & bit != 0 { s } else { "" };
    println!(
        "\tControl: {}{}{}{}",
        decode(pci::config::regs::command::IO_SPACE, "I/O+ "),
        decode(pci::config::regs::command::MEMORY_SPACE, "Mem+ "),
        decode(pci::config::regs::command::BUS_MASTER, "BusMaster+ "),
        decode(pci::config::regs::command::INTX_DISABLE, "DisINTx+")
    );
    match (info.interrupt_pin, dev.intx_gsi) {
        (Some(pin), Some(gsi)) => println!("\tInterrupt: pin {pin} routed to IRQ {gsi}"),
        (Some(pin), None) => println!("\tInterrupt: pin {pin} (no route)"),
        _ => {}
    }
    for (i, bar) in dev.bars.iter().enumerate() {
        let Some(bar) = bar else { continue };
        match bar {
            Bar::None => {}
            Bar::Io { port, size } => {
                println!("\tRegion {i}: I/O ports at {port:04x} [size={}]", size_text(u64::from(*size)))
            }
            _ => println!(
                "\tRegion {i}: Memory at {:08x} ({}-bit, {}) [size={}]",
                bar.address(),
                if matches!(bar, Bar::Mem64 { .. }) { 64 } else { 32 },
                if matches!(bar, Bar::Mem32 { prefetchable: true, .. } | Bar::Mem64 { prefetchable: true, .. }) {
                    "prefetchable"
                } else {
                    "non-prefetchable"
                },
                size_text(bar.size())
            ),
        }
    }
    for cap in &dev.caps {
        println!("\tCapabilities: [{:02x}] {}", cap.offset, cap.name());
    }
    for cap in &dev.ext_caps {
        println!("\tCapabilities: [{:03x} v{}] {}", cap.offset, cap.version, cap.name());
    }
    if let Some(driver) = dev.driver_name() {
        println!("\tKernel driver in use: {driver}");
    }
}

pub fn pci(args: &[&str]) -> Result<(), String> {
    match args {
        ["dump"] => {
            for dev in sorted() {
                dump_line(&dev);
            }
            println!("pci dump: end");
            Ok(())
        }
        ["unbind", bdf] => with_device(bdf, |dev| {
            if crate::bus::pci::driver::unbind(dev) {
                println!("{}: unbound", dev.bdf());
            } else {
                println!("{}: no driver bound", dev.bdf());
            }
        }),
        ["bind"] => {
            crate::bus::pci::driver::bind_all();
            Ok(())
        }
        _ => Err("expected: dump | unbind <bdf> | bind".into()),
    }
}

fn with_device(text: &str, f: impl FnOnce(&alloc::sync::Arc<PciDevice>)) -> Result<(), String> {
    let dev = pcicore::devices()
        .into_iter()
        .find(|d| alloc::format!("{}", d.bdf()) == text || alloc::format!("{}", d.bdf().short()) == text)
        .ok_or_else(|| alloc::format!("no PCI function {text}"))?;
    f(&dev);
    Ok(())
}

fn dump_line(dev: &PciDevice) {
    let info = &dev.info;
    let header = match info.header_type {
        HeaderType::Endpoint => 0,
        HeaderType::PciBridge => 1,
        HeaderType::CardBus => 2,
        HeaderType::Unknown(t) => t & 0x7f,
    };
    let pin = info.interrupt_pin.map_or(0, |p| p as u8 + 1);
    print!(
        "pcifn {} vendor={:04x} device={:04x} class={:02x}{:02x}{:02x} header={header} pin={pin}",
        info.bdf, info.vendor, info.device, info.class.base, info.class.sub, info.class.prog_if
    );
    for (i, bar) in dev.bars.iter().enumerate() {
        let Some(bar) = bar else { continue };
        if matches!(bar, Bar::None) {
            continue;
        }
        print!(" bar{i}={}:{:#x}/{:#x}", bar_kind(bar), bar.address(), bar.size());
    }
    println!();
}
