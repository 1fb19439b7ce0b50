//! IRQ descriptors: one per requested line (vector), holding the handlers
//! and the line's bookkeeping; `request` / `IrqHandle` (free on drop).

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use ::apic::vector::VectorAllocator;
use ::apic::Trigger;
use hal::irq::IrqReturn;

use super::SPURIOUS;
use crate::arch::apic;
use crate::percpu;
use crate::sync::SpinLockIrq;

/// The line may be shared with other handlers that also pass `SHARED`.
pub const SHARED: u32 = 1 << 0;
/// Consecutive unclaimed interrupts after which a line is disabled.
pub const NOBODY_CARED_LIMIT: u32 = 1000;

type Handler = Box<dyn Fn() -> IrqReturn + Send + Sync>;

struct Action {
    id: u64,
    name: String,
    shared: bool,
    handler: Handler,
}

/// Which controller delivers a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chip {
    /// An IOAPIC pin; the line number is the GSI.
    IoApic,
    /// A message-signalled interrupt: the device writes `MsiMessage.data`
    /// to `MsiMessage.address`; the line number is allocated from 24 up.
    Msi,
}

/// Reprograms the device when an MSI line moves to another CPU.
type MsiWriter = Box<dyn Fn(::apic::msi::MsiMessage) + Send + Sync>;

struct Line {
    /// GSI for IOAPIC lines, a number from 24 up for MSI lines.
    gsi: u32,
    chip: Chip,
    msi_writer: Option<MsiWriter>,
    trigger: Trigger,
    actions: Vec<Action>,
    /// Disabled by the nobody-cared detector.
    disabled: bool,
    /// Masked by a driver (`IrqHandle::mask`): interrupts are not wanted now.
    masked: bool,
    unhandled_in_a_row: u32,
    unhandled_total: u64,
    cpu: usize,
}

impl Line {
    /// A fresh line with one handler, aimed at the boot CPU.
    fn new(gsi: u32, chip: Chip, trigger: Trigger, action: Action) -> Line {
        Line {
            gsi,
            chip,
            msi_writer: None,
            trigger,
            actions: alloc::vec![action],
            disabled: false,
            masked: false,
            unhandled_in_a_row: 0,
            unhandled_total: 0,
            cpu: 0,
        }
    }
}

/// Descriptor per vector; a vector's lock also serialises its handlers.
static VECTORS: [SpinLockIrq<Option<Line>>; 256] = [const { SpinLockIrq::new(None) }; 256];
static ALLOCATOR: SpinLockIrq<VectorAllocator> = SpinLockIrq::new(VectorAllocator::new());
static NEXT_ACTION: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(1);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IrqError {
    /// The line is taken by a handler that did not agree to share.
    Busy,
    /// Nobody requested this line.
    NotRequested(u32),
    NoSuchCpu(usize),
    NoVectors,
    Controller(String),
}

impl core::fmt::Display for IrqError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IrqError::Busy => write!(f, "line busy (not shared)"),
            IrqError::NotRequested(gsi) => write!(f, "no handler on irq {gsi}"),
            IrqError::NoSuchCpu(cpu) => write!(f, "cpu {cpu} is not online"),
            IrqError::NoVectors => write!(f, "no free vectors"),
            IrqError::Controller(e) => write!(f, "interrupt controller: {e}"),
        }
    }
}

/// Reserves the fixed vectors so the allocator never hands them out.
pub fn init() {
    let mut alloc = ALLOCATOR.lock();
    for v in [
        apic::TIMER_VECTOR,
        apic::CALL_FUNCTION_VECTOR,
        apic::RESCHEDULE_VECTOR,
        apic::ERROR_VECTOR,
        crate::bench::BENCH_TIMER_VECTOR,
        crate::bench::BENCH_IPI_VECTOR,
    ] {
        let _ = alloc.reserve(v);
    }
    // The legacy PIC range: a spurious IRQ7/15 from the masked PICs lands here.
    for v in 0x20..0x30 {
        let _ = alloc.reserve(v);
    }
}

/// Owns one handler on a line; dropping it frees the handler, and the line
/// when it was the last one.
pub struct IrqHandle {
    vector: u8,
    action: u64,
}

impl IrqHandle {
    /// Masks the line at the IOAPIC (Linux's `disable_irq_nosync`): the
    /// device may still raise it, nothing is delivered until `unmask`.
    pub fn mask(&self) {
        self.set_masked(true);
    }

    pub fn unmask(&self) {
        self.set_masked(false);
    }

    fn set_masked(&self, masked: bool) {
        if let Some(line) = VECTORS[usize::from(self.vector)].lock().as_mut() {
            line.masked = masked;
            if line.chip == Chip::IoApic {
                let _ = if masked { apic::mask_gsi(line.gsi) } else { apic::unmask_gsi(line.gsi) };
            }
        }
    }

    /// The line number (`interrupts`' first column).
    pub fn irq(&self) -> u32 {
        VECTORS[usize::from(self.vector)].lock().as_ref().map_or(0, |l| l.gsi)
    }

    /// For MSI lines: the message that reaches this line's CPU now.
    pub fn msi_message(&self) -> Option<::apic::msi::MsiMessage> {
        let slot = VECTORS[usize::from(self.vector)].lock();
        let line = slot.as_ref().filter(|l| l.chip == Chip::Msi)?;
        msi_message_for(self.vector, line.cpu)
    }

    /// For MSI lines: how to reprogram the device when the line's affinity
    /// changes (the PCI layer writes the MSI capability or MSI-X entry).
    pub fn set_msi_writer(&self, writer: impl Fn(::apic::msi::MsiMessage) + Send + Sync + 'static) {
        if let Some(line) = VECTORS[usize::from(self.vector)].lock().as_mut() {
            line.msi_writer = Some(Box::new(writer));
        }
    }
}

fn msi_message_for(vector: u8, cpu: usize) -> Option<::apic::msi::MsiMessage> {
    let apic_id = percpu::cpu(cpu)?.apic_id.load(Ordering::Relaxed) as u8;
    ::apic::msi::MsiMessage::compose(vector, apic_id, Trigger::Edge, false).ok()
}

static NEXT_MSI_IRQ: core::sync::atomic::AtomicU32 = core::sync::atomic::AtomicU32::new(24);

/// Installs `count` (a power of two, ≤ 32) message-signalled lines on a
/// naturally aligned block of vectors, as multi-message MSI requires: the
/// device adds the message number to the data's low bits (PCI 3.0 §6.8.1.6).
/// `handler(i)` serves message `i`. The handles come back in message order.
pub fn request_msi_block(
    name: &str,
    count: usize,
    handler: impl Fn(usize) -> IrqReturn + Send + Sync + Clone + 'static,
) -> Result<alloc::vec::Vec<IrqHandle>, IrqError> {
    let first = ALLOCATOR.lock().alloc_block(count, true).map_err(|_| IrqError::NoVectors)?;
    let mut handles = alloc::vec::Vec::with_capacity(count);
    for i in 0..count {
        let vector = first + i as u8;
        let irq = NEXT_MSI_IRQ.fetch_add(1, Ordering::Relaxed);
        let id = NEXT_ACTION.fetch_add(1, Ordering::Relaxed);
        let h = handler.clone();
        let action = Action { id, name: String::from(name), shared: false, handler: Box::new(move || h(i)) };
        *VECTORS[usize::from(vector)].lock() = Some(Line::new(irq, Chip::Msi, Trigger::Edge, action));
        handles.push(IrqHandle { vector, action: id });
    }
    Ok(handles)
}

/// Installs `handler` on a new message-signalled line aimed at the boot
/// CPU; the caller programs the device with `IrqHandle::msi_message`.
pub fn request_msi(name: &str, handler: impl Fn() -> IrqReturn + Send + Sync + 'static) -> Result<IrqHandle, IrqError> {
    let handler = alloc::sync::Arc::new(handler);
    let mut handles = request_msi_block(name, 1, move |_| handler())?;
    handles.pop().ok_or(IrqError::NoVectors)
}

fn find_gsi(gsi: u32) -> Option<u8> {
    (0..=255u8).find(|&v| VECTORS[usize::from(v)].lock().as_ref().is_some_and(|l| l.gsi == gsi))
}

/// Installs `handler` on `gsi` (Linux's `request_irq`). The first request
/// allocates a vector and unmasks the pin, routed to the boot CPU.
pub fn request(
    gsi: u32,
    name: &str,
    flags: u32,
    handler: impl Fn() -> IrqReturn + Send + Sync + 'static,
) -> Result<IrqHandle, IrqError> {
    let shared = flags & SHARED != 0;
    let action = Action {
        id: NEXT_ACTION.fetch_add(1, Ordering::Relaxed),
        name: String::from(name),
        shared,
        handler: Box::new(handler),
    };
    let id = action.id;
    if let Some(vector) =
        find_gsi(gsi).filter(|&v| VECTORS[usize::from(v)].lock().as_ref().is_some_and(|l| l.chip == Chip::IoApic))
    {
        let mut slot = VECTORS[usize::from(vector)].lock();
        let line = slot.as_mut().ok_or(IrqError::Busy)?;
        if !shared || line.actions.iter().any(|a| !a.shared) {
            return Err(IrqError::Busy);
        }
        line.actions.push(action);
        return Ok(IrqHandle { vector, action: id });
    }
    let vector = ALLOCATOR.lock().alloc().map_err(|_| IrqError::NoVectors)?;
    let boot_apic = percpu::cpu(0).map_or(0, |c| c.apic_id.load(Ordering::Relaxed)) as u8;
    let (trigger, _) = apic::gsi_wiring(gsi);
    *VECTORS[usize::from(vector)].lock() = Some(Line::new(gsi, Chip::IoApic, trigger, action));
    if let Err(e) = apic::route_gsi(gsi, vector, boot_apic, false) {
        *VECTORS[usize::from(vector)].lock() = None;
        let _ = ALLOCATOR.lock().free(vector);
        return Err(IrqError::Controller(alloc::format!("{e}")));
    }
    Ok(IrqHandle { vector, action: id })
}

impl Drop for IrqHandle {
    fn drop(&mut self) {
        let mut slot = VECTORS[usize::from(self.vector)].lock();
        let Some(line) = slot.as_mut() else { return };
        line.actions.retain(|a| a.id != self.action);
        if line.actions.is_empty() {
            if line.chip == Chip::IoApic {
                let _ = apic::mask_gsi(line.gsi);
            }
            *slot = None;
            drop(slot);
            let _ = ALLOCATOR.lock().free(self.vector);
        }
    }
}

/// Runs the handlers of the line behind `vector` (hard-IRQ context).
pub fn dispatch(vector: u8) {
    {
        let mut slot = VECTORS[usize::from(vector)].lock();
        match slot.as_mut() {
            Some(line) if !line.disabled && !line.masked => run_actions(line),
            _ => {
                SPURIOUS.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    // Level-triggered lines: the local APIC EOI is broadcast to the IOAPIC,
    // which clears Remote IRR (the apic crate keeps EOI broadcast on).
    apic::eoi();
}

fn run_actions(line: &mut Line) {
    let mut handled = false;
    for action in &line.actions {
        if (action.handler)() == IrqReturn::Handled {
            handled = true;
            if !action.shared {
                break;
            }
        }
    }
    if handled {
        line.unhandled_in_a_row = 0;
        return;
    }
    line.unhandled_in_a_row += 1;
    line.unhandled_total += 1;
    if line.unhandled_in_a_row >= NOBODY_CARED_LIMIT {
        line.disabled = true;
        let _ = apic::mask_gsi(line.gsi);
        // No allocation here: we are in interrupt context.
        let first = line.actions.first().map_or("?", |a| a.name.as_str());
        log::error!(
            "irq {}: nobody cared ({} interrupts in a row unclaimed by {} handler(s), first '{first}'); disabling",
            line.gsi,
            line.unhandled_in_a_row,
            line.actions.len()
        );
    }
}

/// Sends the line's interrupts to `cpu` (IOAPIC destination field).
pub fn set_affinity(gsi: u32, cpu: usize) -> Result<(), IrqError> {
    let target = percpu::cpu(cpu).filter(|c| c.online.load(Ordering::Acquire)).ok_or(IrqError::NoSuchCpu(cpu))?;
    let vector = find_gsi(gsi).ok_or(IrqError::NotRequested(gsi))?;
    let mut slot = VECTORS[usize::from(vector)].lock();
    let line = slot.as_mut().ok_or(IrqError::NotRequested(gsi))?;
    match line.chip {
        Chip::IoApic => apic::set_gsi_destination(gsi, target.apic_id.load(Ordering::Relaxed) as u8)
            .map_err(|e| IrqError::Controller(alloc::format!("{e}")))?,
        Chip::Msi => {
            let writer = line.msi_writer.as_ref().ok_or(IrqError::Controller("MSI line without a writer".into()))?;
            writer(msi_message_for(vector, cpu).ok_or(IrqError::NoSuchCpu(cpu))?);
        }
    }
    line.cpu = cpu;
    Ok(())
}

/// A snapshot of one line for `interrupts`.
pub struct LineInfo {
    pub gsi: u32,
    pub chip: Chip,
    pub masked: bool,
    pub vector: u8,
    pub trigger: Trigger,
    pub names: String,
    pub disabled: bool,
    pub unhandled: u64,
    pub cpu: usize,
}

pub fn lines() -> Vec<LineInfo> {
    let mut out = Vec::new();
    for v in 0..=255u8 {
        if let Some(line) = VECTORS[usize::from(v)].lock().as_ref() {
            out.push(LineInfo {
                gsi: line.gsi,
                chip: line.chip,
                masked: line.masked,
                vector: v,
                trigger: line.trigger,
                names: line.actions.iter().map(|a| a.name.as_str()).collect::<Vec<_>>().join(", "),
                disabled: line.disabled,
                unhandled: line.unhandled_total,
                cpu: line.cpu,
            });
        }
    }
    out.sort_by_key(|l| l.gsi);
    out
}

/// Delivers the line's vector to this CPU with a self-IPI, as if the device
/// had interrupted: for tests of the dispatch path.
pub fn raise_for_test(gsi: u32) -> Result<(), IrqError> {
    let vector = find_gsi(gsi).ok_or(IrqError::NotRequested(gsi))?;
    let me = percpu::this_cpu().apic_id.load(Ordering::Relaxed);
    apic::send_ipi(me, vector).map_err(|e| IrqError::Controller(alloc::format!("{e}")))
}

pub fn is_disabled(gsi: u32) -> bool {
    find_gsi(gsi).is_some_and(|v| VECTORS[usize::from(v)].lock().as_ref().is_some_and(|l| l.disabled))
}

/// Vectors still free for devices (a leak check for probe/remove).
pub fn vectors_available() -> usize {
    ALLOCATOR.lock().available()
}
