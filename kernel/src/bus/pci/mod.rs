//! The PCI/PCIe subsystem: find the functions, give them resources, and
//! bind drivers to them.
//!
//! At boot ([`init`]) the kernel picks configuration access (ECAM from the
//! MCFG, else mechanism #1), scans depth-first through PCI-to-PCI bridges
//! and PCIe root ports (numbering buses the firmware left unnumbered),
//! sizes every BAR, assigns BARs and bridge windows itself when the firmware
//! did not (qboot assigns nothing), records each BAR and bridge window in
//! the `iomem`/`ioports` resource trees, and works out each INTx pin's GSI.
//! The logic lives in the host-tested `pci` crate; this module owns the
//! devices and the driver model (`driver.rs`), interrupts (`irq.rs`) and the
//! shell's views (`lspci`, `pci dump`).
//!
//! Decoding and bus mastering stay as the firmware left them until a driver
//! asks: a device nobody drives does not get to DMA.

pub mod config;
pub mod driver;
pub mod irq;

mod ktests;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::ops::Range;

use pci::assign::{self, ResourceKind, Windows};
use pci::bar::{Bar, Bars};
use pci::caps::{self, Capability, ExtCapability};
use pci::config::regs::command;
use pci::config::{Bdf, ConfigAccess};
use pci::enumerate::{self, BusNumbering, Topology};
use pci::header::FunctionInfo;
use spin::Once;

use crate::resource::{Claim, IOMEM, IOPORTS};
use crate::sync::SpinLock;

/// q35's PCI apertures. Linux reads them from the host bridge's `_CRS`
/// (AML); without an AML interpreter we use the layout QEMU builds for
/// q35 (hw/i386/pc_q35.c, hw/i386/acpi-build.c): 32-bit MMIO from the end
/// of the ECAM window up to the IOAPIC, I/O ports above the legacy range.
const Q35_MEM32: Range<u64> = 0xc000_0000..0xfec0_0000;
const Q35_IO: Range<u64> = 0x1000..0x1_0000;

/// One PCI function as the kernel knows it.
pub struct PciDevice {
    pub info: FunctionInfo,
    pub bars: Bars,
    pub caps: Vec<Capability>,
    pub ext_caps: Vec<ExtCapability>,
    /// The GSI its INTx pin reaches (q35 swizzle + PIRQ routing).
    pub intx_gsi: Option<u32>,
    /// BAR claims in the resource trees (dropped with the device).
    _claims: Vec<Claim>,
    /// The bound driver's name and instance (dropping the instance is `remove`).
    pub(crate) binding: SpinLock<Option<driver::Binding>>,
}

impl PciDevice {
    pub fn bdf(&self) -> Bdf {
        self.info.bdf
    }

    pub fn access(&self) -> &'static dyn ConfigAccess {
        access()
    }

    /// Turns memory and/or I/O decoding on (`pci_enable_device`).
    pub fn enable(&self, memory: bool, io: bool) {
        let mut set = 0;
        if memory {
            set |= command::MEMORY_SPACE;
        }
        if io {
            set |= command::IO_SPACE;
        }
        pci::config::update_command(access(), self.bdf(), set, 0);
    }

    /// Lets the function master the bus (DMA and MSI writes need it).
    pub fn set_bus_master(&self, on: bool) {
        let (set, clear) = if on { (command::BUS_MASTER, 0) } else { (0, command::BUS_MASTER) };
        pci::config::update_command(access(), self.bdf(), set, clear);
    }

    pub fn command(&self) -> u16 {
        access().read16(self.bdf(), pci::config::regs::COMMAND)
    }

    /// Disables decoding and bus mastering (on unbind).
    pub fn disable(&self) {
        pci::config::update_command(
            access(),
            self.bdf(),
            0,
            command::MEMORY_SPACE | command::IO_SPACE | command::BUS_MASTER,
        );
    }

    pub fn driver_name(&self) -> Option<&'static str> {
        self.binding.lock().as_ref().map(|b| b.driver.name)
    }

    /// Maps memory BAR `index` (uncached) after claiming it for `owner`.
    pub fn map_bar(&self, index: usize, owner: &str) -> Result<BarMapping, PciError> {
        let bar = self.bars.get(index).copied().flatten().ok_or(PciError::NoSuchBar(index))?;
        if !bar.is_memory() || bar.address() == 0 {
            return Err(PciError::NoSuchBar(index));
        }
        let claim = IOMEM
            .claim_busy(owner, bar.address(), bar.size())
            .map_err(|e| PciError::Resource(alloc::format!("{e}")))?;
        let mem =
            crate::mm::ioremap::ioremap(bar.address(), bar.size()).map_err(|e| PciError::Map(alloc::format!("{e}")))?;
        Ok(BarMapping { mem, claim })
    }
}

/// A mapped BAR: the register window plus its resource claim.
pub struct BarMapping {
    pub mem: crate::mm::ioremap::IoMem,
    claim: Claim,
}

impl BarMapping {
    /// Splits the window (for a driver crate that owns it) from the claim
    /// (which the caller keeps alive as long as the window).
    pub fn into_parts(self) -> (crate::mm::ioremap::IoMem, Claim) {
        (self.mem, self.claim)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PciError {
    NoSuchBar(usize),
    Resource(String),
    Map(String),
    NoInterrupt,
    Irq(String),
    Msi(String),
}

impl core::fmt::Display for PciError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PciError::NoSuchBar(i) => write!(f, "BAR{i} is not an assigned memory BAR"),
            PciError::Resource(e) => write!(f, "resource: {e}"),
            PciError::Map(e) => write!(f, "ioremap: {e}"),
            PciError::NoInterrupt => write!(f, "no usable interrupt (no MSI-X, MSI or INTx)"),
            PciError::Irq(e) => write!(f, "irq: {e}"),
            PciError::Msi(e) => write!(f, "msi: {e}"),
        }
    }
}

static ACCESS: Once<Box<dyn ConfigAccess + Send + Sync>> = Once::new();
static DEVICES: SpinLock<Vec<Arc<PciDevice>>> = SpinLock::new(Vec::new());
static TOPOLOGY: Once<Topology> = Once::new();
/// Bridge-window claims, kept for the kernel's life.
static WINDOW_CLAIMS: SpinLock<Vec<Claim>> = SpinLock::new(Vec::new());
static ASSIGNED_BY_KERNEL: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

pub fn access() -> &'static dyn ConfigAccess {
    ACCESS.get().map(|a| &**a as &dyn ConfigAccess).unwrap_or(&NO_ACCESS)
}

/// Before `init`: every function reads as absent.
struct NoAccess;
static NO_ACCESS: NoAccess = NoAccess;
impl ConfigAccess for NoAccess {
    fn read32(&self, _: Bdf, _: u16) -> u32 {
        u32::MAX
    }
    fn write32(&self, _: Bdf, _: u16, _: u32) {}
}

/// Which configuration mechanism is in use, for `lspci -v`.
pub fn access_name() -> &'static str {
    match crate::acpi::info().and_then(|i| i.ecam.first()) {
        Some(_) => "ECAM (MCFG)",
        None => "configuration mechanism #1 (0xCF8/0xCFC)",
    }
}

pub fn devices() -> Vec<Arc<PciDevice>> {
    DEVICES.lock().clone()
}

pub fn bars_assigned_by_kernel() -> bool {
    ASSIGNED_BY_KERNEL.load(core::sync::atomic::Ordering::Relaxed)
}

fn unassigned(bars: &[Bars]) -> bool {
    bars.iter().flatten().flatten().any(|b| !matches!(b, Bar::None) && b.address() == 0)
}

/// Enumerates the PCI hierarchy and records its resources.
pub fn init() {
    let chosen: Box<dyn ConfigAccess + Send + Sync> = match crate::acpi::info().and_then(|i| i.ecam.first()) {
        Some(r) => Box::new(config::Ecam::new(r.base, r.segment, r.bus_start, r.bus_end)),
        None => Box::new(config::Legacy::new()),
    };
    ACCESS.call_once(|| chosen);
    let access = access();
    let topology = match enumerate::scan(access, 0, BusNumbering::AssignIfMissing) {
        Ok(t) => t,
        Err(e) => {
            log::error!("pci: scan failed: {e}");
            return;
        }
    };
    for p in &topology.problems {
        log::warn!("pci: {p:?}");
    }
    let mut bars = match assign::probe(access, &topology) {
        Ok(b) => b,
        Err(e) => {
            log::error!("pci: sizing BARs: {e}");
            return;
        }
    };
    if unassigned(&bars) {
        assign_everything(access, &topology, &mut bars);
    }
    claim_bridge_windows(access, &topology);
    let mut devices = Vec::new();
    for (index, (function, bars)) in topology.functions.iter().zip(bars).enumerate() {
        let bdf = function.info.bdf;
        let claims = claim_bars(bdf, &bars);
        devices.push(Arc::new(PciDevice {
            info: function.info,
            bars,
            caps: caps::capabilities(access, bdf).filter_map(Result::ok).collect(),
            ext_caps: caps::extended_capabilities(access, bdf).filter_map(Result::ok).collect(),
            intx_gsi: function.info.interrupt_pin.and_then(|_| pci::intx::q35_gsi_for(&topology, index)),
            _claims: claims,
            binding: SpinLock::new(None),
        }));
    }
    log::info!(
        "pci: {} functions, {} bridges, {} buses via {}{}",
        devices.len(),
        topology.bridges.len(),
        u32::from(topology.max_bus()) + 1,
        access_name(),
        if bars_assigned_by_kernel() { "; BARs assigned by the kernel" } else { "" }
    );
    *DEVICES.lock() = devices;
    TOPOLOGY.call_once(|| topology);
    driver::bind_all();
}

/// Firmware assigned nothing (or not everything): place every BAR and
/// bridge window ourselves.
fn assign_everything(access: &dyn ConfigAccess, topology: &Topology, bars: &mut Vec<Bars>) {
    let windows = Windows { mem32: Q35_MEM32, pref: Q35_MEM32, io: Q35_IO };
    let plan = match assign::plan(topology, bars, &windows) {
        Ok(p) => p,
        Err(e) => {
            log::error!("pci: cannot assign BARs: {e}");
            return;
        }
    };
    match assign::apply(&plan, access) {
        Ok(_) => {
            ASSIGNED_BY_KERNEL.store(true, core::sync::atomic::Ordering::Relaxed);
            log::info!("pci: firmware left BARs unassigned; assigned {} ranges", plan.len());
        }
        Err(e) => log::error!("pci: programming BARs: {e}"),
    }
    match assign::probe(access, topology) {
        Ok(b) => *bars = b,
        Err(e) => log::error!("pci: re-reading BARs: {e}"),
    }
}

fn claim_bridge_windows(access: &dyn ConfigAccess, topology: &Topology) {
    let mut claims = WINDOW_CLAIMS.lock();
    for bridge in &topology.bridges {
        let name = alloc::format!("PCI Bus {:04x}:{:02x}", bridge.bdf.segment, bridge.secondary);
        for (kind, tree) in
            [(ResourceKind::Io, &IOPORTS), (ResourceKind::Mem, &IOMEM), (ResourceKind::Prefetchable, &IOMEM)]
        {
            if let Some(w) = assign::read_window(access, bridge.bdf, kind) {
                match tree.claim(&name, w.start, w.end - w.start) {
                    Ok(c) => claims.push(c),
                    Err(e) => log::warn!("pci: {name} {kind:?} window: {e}"),
                }
            }
        }
    }
}

fn claim_bars(bdf: Bdf, bars: &Bars) -> Vec<Claim> {
    let name = alloc::format!("{bdf}");
    let mut claims = Vec::new();
    for bar in bars.iter().flatten() {
        if matches!(bar, Bar::None) || bar.address() == 0 {
            continue;
        }
        let tree = if bar.is_io() { &IOPORTS } else { &IOMEM };
        match tree.claim(&name, bar.address(), bar.size()) {
            Ok(c) => claims.push(c),
            Err(e) => log::warn!("pci: {name} BAR at {:#x}: {e}", bar.address()),
        }
    }
    claims
}
