//! The interrupt controllers of a PC: each CPU's local APIC and the IOAPIC,
//! programmed through the `apic` crate's register-level code.
//!
//! * The **local APIC** (xAPIC at 0xfee00000 through `ioremap`, or x2APIC
//!   through MSRs when CPUID offers it) takes every interrupt to its CPU,
//!   needs an EOI after each one, has a timer, and sends IPIs. Every CPU
//!   sees *its own* local APIC at the same address, so one mapping serves
//!   all.
//! * The **IOAPIC** (from the MADT) turns device pins (GSIs) into messages
//!   to a CPU: one redirection entry per pin with vector, destination,
//!   polarity, trigger and mask. ISA IRQs keep their numbers as GSIs unless
//!   the MADT has an interrupt source override (q35: IRQ0 → GSI2, and IRQs
//!   5/9/10/11 are level/high).
//! * The legacy 8259 PICs stay masked (`pic.rs`).

use alloc::boxed::Box;
use core::sync::atomic::{AtomicU64, Ordering};

use ::apic::ioapic::{IoApic, RedirectionEntry};
use ::apic::lapic::{ApicOps, LocalApic, MsrAccess, TimerDivide, X2Apic};
use ::apic::{Polarity, Trigger};
use spin::Once;

use super::cpu;
use crate::acpi::{self, MadtInfo};
use crate::mm::ioremap::{ioremap, IoMem};
use crate::sync::SpinLockIrq;

/// Fixed vectors (Linux's choices, `arch/x86/include/asm/irq_vectors.h`).
pub const TIMER_VECTOR: u8 = 0xec;
pub const CALL_FUNCTION_VECTOR: u8 = 0xfc;
pub const RESCHEDULE_VECTOR: u8 = 0xfd;
pub const ERROR_VECTOR: u8 = 0xfe;
pub const SPURIOUS_VECTOR: u8 = 0xff;

const LAPIC_WINDOW: u64 = 0x400;
const IOAPIC_WINDOW: u64 = 0x40;
/// CPUID.1:ECX bit 21.
const CPUID_X2APIC: u32 = 1 << 21;

/// MSR access for x2APIC mode.
struct Msrs;

impl MsrAccess for Msrs {
    fn read(&self, msr: u32) -> u64 {
        // SAFETY: the apic crate only names x2APIC MSRs and IA32_APIC_BASE.
        unsafe { cpu::rdmsr(msr) }
    }
    fn write(&self, msr: u32, value: u64) {
        // SAFETY: as above.
        unsafe { cpu::wrmsr(msr, value) }
    }
}

type Lapic = Box<dyn ApicOps + Send + Sync>;

static LAPIC: Once<Lapic> = Once::new();
static IOAPIC: SpinLockIrq<Option<IoApic<IoMem>>> = SpinLockIrq::new(None);
/// Local APIC timer ticks per millisecond (divide-by-16), measured once.
static LAPIC_TICKS_PER_MS: AtomicU64 = AtomicU64::new(0);

pub fn lapic() -> &'static Lapic {
    LAPIC.get().expect("local APIC initialised")
}

pub fn x2apic_supported() -> bool {
    let leaf = core::arch::x86_64::__cpuid(1);
    leaf.ecx & CPUID_X2APIC != 0
}

#[derive(Debug)]
pub enum ApicInitError {
    NoAcpi,
    Map(crate::mm::MmError),
    Apic(::apic::Error),
}

impl core::fmt::Display for ApicInitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ApicInitError::NoAcpi => write!(f, "no MADT"),
            ApicInitError::Map(e) => write!(f, "mapping: {e}"),
            ApicInitError::Apic(e) => write!(f, "{e}"),
        }
    }
}

impl From<::apic::Error> for ApicInitError {
    fn from(e: ::apic::Error) -> Self {
        ApicInitError::Apic(e)
    }
}

/// Boot CPU: chooses x2APIC or xAPIC, enables the local APIC, maps and
/// masks the IOAPIC.
pub fn init_boot() -> Result<(), ApicInitError> {
    let info = acpi::info().ok_or(ApicInitError::NoAcpi)?;
    let chosen: Lapic = if x2apic_supported() {
        Box::new(X2Apic::new(Msrs))
    } else {
        let window = ioremap(info.local_apic_address, LAPIC_WINDOW).map_err(ApicInitError::Map)?;
        Box::new(LocalApic::new(window)?)
    };
    LAPIC.call_once(|| chosen);
    init_local()?;
    let Some(&MadtInfo::IoApic { address, gsi_base, .. }) =
        info.madt.iter().find(|e| matches!(e, MadtInfo::IoApic { .. }))
    else {
        return Err(ApicInitError::NoAcpi);
    };
    let window = ioremap(address, IOAPIC_WINDOW).map_err(ApicInitError::Map)?;
    let mut ioapic = IoApic::new(window, gsi_base)?;
    ioapic.mask_all()?;
    log::info!(
        "local APIC: {} (id {}), IOAPIC version {:#x} with {} pins at {address:#x}",
        if x2apic_supported() { "x2APIC" } else { "xAPIC" },
        lapic().id()?,
        ioapic.version(),
        ioapic.pins()
    );
    *IOAPIC.lock() = Some(ioapic);
    calibrate_timer();
    Ok(())
}

/// Per CPU: enable this CPU's local APIC with our spurious and error vectors.
pub fn init_local() -> Result<(), ::apic::Error> {
    let l = lapic();
    l.enable(SPURIOUS_VECTOR)?;
    l.mask_lints()?;
    l.set_error_vector(ERROR_VECTOR)?;
    Ok(())
}

/// Measures the local APIC timer against the (calibrated) TSC over 2 ms
/// (the APIC timer runs at a fixed rate; 2 ms of TSC gives 0.1% or better).
fn calibrate_timer() {
    let l = lapic();
    const START: u32 = u32::MAX;
    let hz = crate::time::tsc_hz();
    if l.timer_oneshot(TIMER_VECTOR, START, TimerDivide::By16).is_err() {
        return;
    }
    // Masked one-shot: count down, never fire (vector programmed, LVT masked
    // by timer_stop afterwards).
    let t0 = cpu::rdtsc();
    while cpu::rdtsc() - t0 < hz / 500 {
        cpu::pause();
    }
    let left = l.timer_current().unwrap_or(START);
    let _ = l.timer_stop();
    let per_ms = u64::from(START - left) / 2;
    LAPIC_TICKS_PER_MS.store(per_ms, Ordering::Relaxed);
    log::info!("local APIC timer: {} kHz (divide 16, calibrated against the TSC)", per_ms);
}

/// Starts this CPU's periodic tick at `hz`.
pub fn start_tick(hz: u64) -> Result<(), ::apic::Error> {
    let per_ms = LAPIC_TICKS_PER_MS.load(Ordering::Relaxed).max(1);
    let count = (per_ms * 1000 / hz).clamp(1, u64::from(u32::MAX)) as u32;
    lapic().timer_periodic(TIMER_VECTOR, count, TimerDivide::By16)
}

/// Arms a one-shot timer interrupt after `ticks` LAPIC ticks (divide 16).
pub fn oneshot(vector: u8, ticks: u32) -> Result<(), ::apic::Error> {
    lapic().timer_oneshot(vector, ticks.max(1), TimerDivide::By16)
}

pub fn ticks_per_ms() -> u64 {
    LAPIC_TICKS_PER_MS.load(Ordering::Relaxed)
}

pub fn eoi() {
    let _ = lapic().eoi();
}

pub fn send_ipi(apic_id: u32, vector: u8) -> Result<(), ::apic::Error> {
    lapic().send_ipi(apic_id, vector)
}

/// How an ISA IRQ or a GSI is wired: the MADT override, else ISA defaults
/// (edge, active high) below 16 and PCI defaults (level, active low) above.
pub fn gsi_wiring(gsi: u32) -> (Trigger, Polarity) {
    let overridden = acpi::info().and_then(|info| {
        info.madt.iter().find_map(|e| match e {
            MadtInfo::InterruptOverride { gsi: g, polarity, trigger, .. } if *g == gsi => Some((*trigger, *polarity)),
            _ => None,
        })
    });
    let isa = gsi < 16;
    let trigger = match overridden.map(|o| o.0) {
        Some(acpi::Trigger::Level) => Trigger::Level,
        Some(acpi::Trigger::Edge) => Trigger::Edge,
        _ if isa => Trigger::Edge,
        _ => Trigger::Level,
    };
    let polarity = match overridden.map(|o| o.1) {
        Some(acpi::Polarity::ActiveLow) => Polarity::ActiveLow,
        Some(acpi::Polarity::ActiveHigh) => Polarity::ActiveHigh,
        _ if isa => Polarity::ActiveHigh,
        _ => Polarity::ActiveLow,
    };
    (trigger, polarity)
}

/// The GSI an ISA IRQ arrives on (MADT interrupt source overrides).
pub fn isa_irq_to_gsi(irq: u8) -> u32 {
    acpi::info()
        .and_then(|info| {
            info.madt.iter().find_map(|e| match e {
                MadtInfo::InterruptOverride { bus: 0, irq: i, gsi, .. } if *i == irq => Some(*gsi),
                _ => None,
            })
        })
        .unwrap_or(u32::from(irq))
}

/// Routes `gsi` to `vector` on the CPU with `apic_id`, masked or not.
pub fn route_gsi(gsi: u32, vector: u8, apic_id: u8, masked: bool) -> Result<Trigger, ::apic::Error> {
    let (trigger, polarity) = gsi_wiring(gsi);
    let mut entry = RedirectionEntry::fixed(vector, apic_id, trigger, polarity);
    entry.masked = masked;
    let mut io = IOAPIC.lock();
    io.as_mut().ok_or(::apic::Error::NotPresent)?.program(gsi, entry)?;
    Ok(trigger)
}

pub fn mask_gsi(gsi: u32) -> Result<(), ::apic::Error> {
    IOAPIC.lock().as_mut().ok_or(::apic::Error::NotPresent)?.mask(gsi)
}

pub fn unmask_gsi(gsi: u32) -> Result<(), ::apic::Error> {
    IOAPIC.lock().as_mut().ok_or(::apic::Error::NotPresent)?.unmask(gsi)
}

pub fn set_gsi_destination(gsi: u32, apic_id: u8) -> Result<(), ::apic::Error> {
    IOAPIC.lock().as_mut().ok_or(::apic::Error::NotPresent)?.set_destination(gsi, apic_id)
}

/// The destination APIC ID programmed for `gsi` (its affinity).
pub fn gsi_destination(gsi: u32) -> Option<u8> {
    IOAPIC.lock().as_mut()?.entry(gsi).ok().map(|e| e.destination)
}
