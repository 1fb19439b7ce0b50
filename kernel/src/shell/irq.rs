//! `interrupts` (Linux's /proc/interrupts), `softirqs` (/proc/softirqs)
//! and `irq affinity`.

use alloc::string::String;
use core::sync::atomic::Ordering;

use super::commands::{no_args, parse_number};
use crate::arch::apic;
use crate::irq::softirq::{self, SoftirqVector};
use crate::percpu;
use crate::{print, println};

fn online() -> impl Iterator<Item = &'static percpu::PerCpu> {
    percpu::possible().filter(|c| c.online.load(Ordering::Acquire))
}

fn header() {
    print!("     ");
    for c in online() {
        print!(" {:>10}", alloc::format!("CPU{}", c.cpu()));
    }
    println!();
}

fn row(label: &str, vector: u8, what: &str) {
    print!("{label:>4}:");
    for c in online() {
        print!(" {:>10}", c.vector_counts[usize::from(vector)].load(Ordering::Relaxed));
    }
    println!("   {what}");
}

pub fn interrupts(args: &[&str]) -> Result<(), String> {
    no_args(args)?;
    header();
    for line in crate::irq::lines() {
        let trigger = match line.trigger {
            ::apic::Trigger::Edge => "edge",
            ::apic::Trigger::Level => "level",
        };
        let label = alloc::format!("{}", line.gsi);
        print!("{label:>4}:");
        for c in online() {
            print!(" {:>10}", c.vector_counts[usize::from(line.vector)].load(Ordering::Relaxed));
        }
        let state = match (line.disabled, line.masked) {
            (true, _) => " (disabled: nobody cared)",
            (false, true) => " (masked)",
            _ => "",
        };
        let chip = match line.chip {
            crate::irq::Chip::IoApic => "IO-APIC",
            crate::irq::Chip::Msi => "PCI-MSI",
        };
        println!(
            "   {chip} {:>3}-{trigger:<5} vec {:#04x} -> cpu{}  {}{state}",
            line.gsi, line.vector, line.cpu, line.names
        );
    }
    row("LOC", apic::TIMER_VECTOR, "Local timer interrupts");
    row("RES", apic::RESCHEDULE_VECTOR, "Rescheduling interrupts");
    row("CAL", apic::CALL_FUNCTION_VECTOR, "Function call interrupts");
    row("ERR", apic::ERROR_VECTOR, "APIC error interrupts");
    row("SPU", apic::SPURIOUS_VECTOR, "Spurious interrupts (APIC)");
    println!(
        "unclaimed: {} (stray vectors, disabled lines)   IPIs received: {}",
        crate::irq::SPURIOUS.load(Ordering::Relaxed),
        crate::irq::IPIS_RECEIVED.load(Ordering::Relaxed)
    );
    Ok(())
}

pub fn softirqs(args: &[&str]) -> Result<(), String> {
    no_args(args)?;
    print!("         ");
    for c in online() {
        print!(" {:>10}", alloc::format!("CPU{}", c.cpu()));
    }
    println!();
    for v in SoftirqVector::ALL {
        print!("{:>8}:", v.name());
        for c in online() {
            let handled = softirq::stats(c.cpu()).map_or(0, |s| s.handled[v.index()]);
            print!(" {handled:>10}");
        }
        println!();
    }
    for c in online() {
        let s = softirq::stats(c.cpu()).unwrap_or_default();
        println!(
            "cpu{}: {} runs, {} restarts, {} handed to ksoftirqd ({} wake-ups, {} ksoftirqd runs)",
            c.cpu(),
            s.invocations,
            s.restarts,
            s.deferred_to_thread,
            c.softirq.ksoftirqd_wakeups.load(Ordering::Relaxed),
            c.softirq.ksoftirqd_runs.load(Ordering::Relaxed)
        );
    }
    Ok(())
}

pub fn irq(args: &[&str]) -> Result<(), String> {
    match args {
        ["affinity", gsi, cpu] => {
            let gsi = parse_number(gsi)? as u32;
            let cpu = parse_number(cpu)? as usize;
            crate::irq::set_affinity(gsi, cpu).map_err(|e| alloc::format!("irq {gsi} -> cpu {cpu}: {e}"))?;
            println!("irq {gsi} -> cpu {cpu}");
            Ok(())
        }
        _ => Err("expected: affinity <gsi> <cpu>".into()),
    }
}
