//! Shell commands. Each takes the words after its name and returns an
//! error message for bad arguments; nothing a user types can panic the
//! kernel except `crash`, whose purpose that is.

use alloc::string::String;
use core::sync::atomic::Ordering;

use super::block;
use super::{bench, edu, irq, mem, net, pci, resources, sched, serial, virtio};
use crate::acpi::{self, MadtInfo};
use crate::{klog, println};

struct Command {
    name: &'static str,
    usage: &'static str,
    help: &'static str,
    run: fn(&[&str]) -> Result<(), String>,
}

const COMMANDS: &[Command] = &[
    Command { name: "help", usage: "help", help: "list commands", run: help },
    Command {
        name: "meminfo",
        usage: "meminfo",
        help: "page allocator, page tables, heap, slab caches and mempools",
        run: mem::meminfo,
    },
    Command {
        name: "lspci",
        usage: "lspci [-v]",
        help: "PCI functions (verbose: BARs, IRQs, capabilities)",
        run: pci::lspci,
    },
    Command {
        name: "pci",
        usage: "pci dump | unbind <bdf> | bind",
        help: "machine-readable PCI dump; driver binding",
        run: pci::pci,
    },
    Command {
        name: "edu",
        usage: "edu fact <n> | dma <bytes> | mode intx|msi | stats",
        help: "QEMU's edu device: factorial and DMA by interrupt",
        run: edu::edu,
    },
    Command { name: "ifconfig", usage: "ifconfig", help: "network interfaces and counters", run: net::ifconfig },
    Command { name: "ethtool", usage: "ethtool -S <if>", help: "driver statistics", run: net::ethtool },
    Command { name: "ping", usage: "ping <ip> [count]", help: "ICMP echo", run: net::ping },
    Command { name: "netstat", usage: "netstat", help: "sockets and service counters", run: net::netstat },
    Command {
        name: "net",
        usage: "net mode <if> irq|napi|poll | watchdog-test <if>",
        help: "receive mode; TX watchdog test",
        run: net::net,
    },
    Command { name: "virtio", usage: "virtio", help: "virtio devices: features, interrupts, virtqueue counters", run: virtio::virtio_cmd },
    Command { name: "lsblk", usage: "lsblk", help: "block devices and partitions", run: block::lsblk },
    Command {
        name: "blk",
        usage: "blk read|write|verify <dev> <sector> <count> [seed] | flush <dev> | stress <dev> <ops> <seed> <max> | sched <dev> [noop|deadline] | bench <dev> randread|seqread|seqwrite <qd> <bytes> <ms>",
        help: "block I/O through the request queue",
        run: block::blk,
    },
    Command { name: "blkstat", usage: "blkstat", help: "per-disk requests, merges, in flight, latency", run: block::blkstat },
    Command {
        name: "bcache",
        usage: "bcache read <dev> <block> | write <dev> <block> <seed> | sync | stats",
        help: "the write-back buffer cache (4 KiB blocks)",
        run: block::bcache_cmd,
    },
    Command { name: "iomem", usage: "iomem", help: "physical address ranges and their owners", run: resources::iomem },
    Command { name: "ioports", usage: "ioports", help: "I/O port ranges and their owners", run: resources::ioports },
    Command {
        name: "interrupts",
        usage: "interrupts",
        help: "interrupt counts per line and CPU",
        run: irq::interrupts,
    },
    Command { name: "softirqs", usage: "softirqs", help: "softirq counts per vector and CPU", run: irq::softirqs },
    Command { name: "irq", usage: "irq affinity <gsi> <cpu>", help: "route an interrupt line to a CPU", run: irq::irq },
    Command { name: "ps", usage: "ps", help: "kernel threads", run: sched::ps },
    Command { name: "uptime", usage: "uptime", help: "time since boot, jiffies, CPUs", run: sched::uptime },
    Command {
        name: "bench",
        usage: "bench irq <count>",
        help: "interrupt latency (JSON for xtask)",
        run: bench::bench,
    },
    Command {
        name: "serial",
        usage: "serial sink <bytes> [busy] | stats",
        help: "read raw bytes (count, FNV-1a); UART counters",
        run: serial::serial,
    },
    Command { name: "dmesg", usage: "dmesg", help: "kernel log with timestamps", run: dmesg },
    Command { name: "acpi", usage: "acpi", help: "ACPI tables, MADT entries, MCFG ranges, HPET", run: acpi_cmd },
    Command {
        name: "peek",
        usage: "peek <hex address>",
        help: "read a u64 at a kernel address, fault-safe",
        run: peek,
    },
    Command {
        name: "crash",
        usage: "crash pagefault|panic|breakpoint",
        help: "trigger a fault to see the exception report",
        run: crash,
    },
    Command { name: "poweroff", usage: "poweroff", help: "power the machine off (ACPI S5)", run: poweroff },
];

pub fn execute(line: &str) {
    let mut words = line.split_ascii_whitespace();
    let Some(name) = words.next() else { return };
    let args: alloc::vec::Vec<&str> = words.collect();
    match COMMANDS.iter().find(|c| c.name == name) {
        Some(cmd) => {
            if let Err(msg) = (cmd.run)(&args) {
                println!("{name}: {msg}");
                println!("usage: {}", cmd.usage);
            }
        }
        None => println!("{name}: unknown command (try 'help')"),
    }
}

pub fn no_args(args: &[&str]) -> Result<(), String> {
    match args.first() {
        None => Ok(()),
        Some(extra) => Err(alloc::format!("unexpected argument '{extra}'")),
    }
}

fn help(args: &[&str]) -> Result<(), String> {
    no_args(args)?;
    for c in COMMANDS {
        println!("  {:<36} {}", c.usage, c.help);
    }
    Ok(())
}

fn dmesg(args: &[&str]) -> Result<(), String> {
    no_args(args)?;
    klog::for_each_line(|line| {
        crate::console::write_text(line);
        crate::console::write_text(b"\n");
    });
    let dropped = klog::STATS.dropped_lines.load(Ordering::Relaxed);
    if dropped > 0 {
        println!("({dropped} older lines dropped)");
    }
    Ok(())
}

fn acpi_cmd(args: &[&str]) -> Result<(), String> {
    no_args(args)?;
    let info = acpi::info().ok_or("ACPI tables were not found at boot")?;
    println!("RSDP at {:#x}, revision {}", info.rsdp, info.revision);
    println!("tables:");
    for t in &info.tables {
        let sig = core::str::from_utf8(&t.signature).unwrap_or("????");
        let oem = core::str::from_utf8(&t.oem_id).unwrap_or("?");
        println!("  {sig} at {:#010x} length {:5} revision {} OEM {oem}", t.phys, t.length, t.revision);
    }
    println!(
        "MADT: local APIC at {:#x}, legacy PICs {}",
        info.local_apic_address,
        if info.legacy_pics { "present" } else { "absent" }
    );
    for e in &info.madt {
        match e {
            MadtInfo::LocalApic { processor_uid, apic_id, enabled } => {
                println!(
                    "  LocalApic processor {processor_uid} apic id {apic_id} {}",
                    if *enabled { "enabled" } else { "disabled" }
                )
            }
            MadtInfo::IoApic { id, address, gsi_base } => {
                println!("  IoApic id {id} at {address:#x} gsi base {gsi_base}")
            }
            MadtInfo::InterruptOverride { bus, irq, gsi, polarity, trigger } => {
                println!("  InterruptOverride bus {bus} irq {irq} -> gsi {gsi} {polarity:?} {trigger:?}")
            }
            MadtInfo::NmiSource { gsi, polarity, trigger } => {
                println!("  NmiSource gsi {gsi} {polarity:?} {trigger:?}")
            }
            MadtInfo::LocalApicNmi { processor_uid, lint } => {
                println!("  LocalApicNmi processor {processor_uid:#x} LINT{lint}")
            }
            MadtInfo::Other { entry_type } => println!("  {entry_type}"),
        }
    }
    println!("MCFG:");
    for r in &info.ecam {
        println!("  ECAM {:#x} segment {} buses {}-{}", r.base, r.segment, r.bus_start, r.bus_end);
    }
    match &info.hpet {
        Some(h) => println!(
            "HPET: at {:#x}, {} comparators, {}-bit counter, min tick {}",
            h.base,
            h.comparators,
            if h.counter_64bit { 64 } else { 32 },
            h.min_tick
        ),
        None => println!("HPET: none"),
    }
    match (info.pm1a_control_port, info.s5_sleep_type) {
        (Some(port), Some(typ)) => println!("power-off: PM1a control port {port:#x}, S5 sleep type {typ}"),
        _ => println!("power-off: no ACPI S5 path (falls back to isa-debug-exit)"),
    }
    Ok(())
}

/// A decimal number, or hex with `0x`.
pub fn parse_number(s: &str) -> Result<u64, String> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    }
    .map_err(|_| alloc::format!("'{s}' is not a number"))
}

fn parse_hex(s: &str) -> Result<u64, String> {
    let digits = s.strip_prefix("0x").unwrap_or(s);
    u64::from_str_radix(digits, 16).map_err(|_| alloc::format!("'{s}' is not a hex number"))
}

fn peek(args: &[&str]) -> Result<(), String> {
    let [addr] = args else { return Err("expected one address".into()) };
    let addr = parse_hex(addr)?;
    match crate::arch::extable::probe_read_u64(addr) {
        Ok(v) => println!("{addr:#x}: {v:#018x}"),
        Err(f) => println!("{addr:#x}: fault ({} at {:#x})", crate::arch::trap::exception_name(f.vector), f.address),
    }
    Ok(())
}

/// An address no mapping will ever cover: the hole between the kernel image
/// and the direct map, well above the first MiB.
const UNMAPPED_ADDRESS: u64 = 0xdead_b000;

fn crash(args: &[&str]) -> Result<(), String> {
    match args {
        ["pagefault"] => {
            println!("crash: reading unmapped address {UNMAPPED_ADDRESS:#x}");
            // SAFETY: deliberately not: this faults, and the fatal-exception
            // path reports it and stops the kernel — the command's purpose.
            let v = unsafe { core::ptr::read_volatile(UNMAPPED_ADDRESS as *const u64) };
            println!("crash: read {v:#x}?!");
            Ok(())
        }
        ["panic"] => panic!("crash command"),
        ["breakpoint"] => {
            let before = crate::arch::trap::STATS.breakpoints.load(Ordering::Relaxed);
            crate::arch::cpu::breakpoint();
            let after = crate::arch::trap::STATS.breakpoints.load(Ordering::Relaxed);
            println!("crash: int3 returned, breakpoints {before} -> {after}");
            Ok(())
        }
        _ => Err("expected pagefault, panic or breakpoint".into()),
    }
}

fn poweroff(args: &[&str]) -> Result<(), String> {
    no_args(args)?;
    // Dirty cached blocks and device write caches reach the disks first.
    crate::block::sync_all();
    crate::power::poweroff()
}
