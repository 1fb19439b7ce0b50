//! Interrupts for PCI functions: MSI-X, MSI or INTx, best first (Linux's
//! `pci_alloc_irq_vectors`).
//!
//! * **MSI-X**: a table in one of the function's BARs, one entry (address,
//!   data, mask bit) per vector; we ioremap the table, give each vector its
//!   own IDT vector and program the entries. Vectors can be masked one by one.
//! * **MSI**: one address/data pair in configuration space; with
//!   multi-message the device adds the message number to the data's low
//!   bits, so its vectors must be a naturally aligned block.
//! * **INTx**: the legacy pin, routed through the q35 swizzle and PIRQ
//!   table to an IOAPIC GSI, level-triggered, active low, and shared — the
//!   driver's handler must check its device's status and say `NotMine`.
//!
//! MSI and MSI-X are memory writes from the device, so the function must be
//! a bus master; INTx is turned off (Command.INTX_DISABLE) while they are in
//! use. Dropping [`PciIrqs`] turns the device's interrupts off and frees
//! every vector.

use alloc::sync::Arc;
use alloc::vec::Vec;

use hal::io::RegisterWindow;
use hal::irq::IrqReturn;
use pci::config::regs::command;
use pci::msi::{self, MsiCap, MsixCap, MsixTable};

use super::{PciDevice, PciError};
use crate::irq::{self as core_irq, IrqHandle, SHARED};
use crate::mm::ioremap::{ioremap, IoMem};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IrqKind {
    MsiX,
    Msi,
    Intx,
}

/// An MSI-X table reached through its uncached mapping.
struct Table(IoMem);

impl MsixTable for Table {
    fn read32(&self, offset: usize) -> u32 {
        self.0.read_u32(offset).unwrap_or(u32::MAX)
    }
    fn write32(&self, offset: usize, value: u32) {
        let _ = self.0.write_u32(offset, value);
    }
}

enum Mode {
    MsiX { cap: MsixCap, table: Arc<Table> },
    Msi { cap: MsiCap },
    Intx,
}

/// A function's interrupt vectors; dropping it releases them.
pub struct PciIrqs {
    dev: Arc<PciDevice>,
    mode: Mode,
    handles: Vec<IrqHandle>,
}

impl PciIrqs {
    pub fn kind(&self) -> IrqKind {
        match self.mode {
            Mode::MsiX { .. } => IrqKind::MsiX,
            Mode::Msi { .. } => IrqKind::Msi,
            Mode::Intx => IrqKind::Intx,
        }
    }

    /// How many vectors were allocated.
    pub fn count(&self) -> usize {
        self.handles.len()
    }

    /// The kernel's line number of vector `i` (as `interrupts` shows it).
    pub fn irq(&self, i: usize) -> Option<u32> {
        self.handles.get(i).map(IrqHandle::irq)
    }

    /// Masks vector `i` at the device (MSI-X entry) or at the controller.
    pub fn mask(&self, i: usize) -> Result<(), PciError> {
        self.set_masked(i, true)
    }

    pub fn unmask(&self, i: usize) -> Result<(), PciError> {
        self.set_masked(i, false)
    }

    fn set_masked(&self, i: usize, masked: bool) -> Result<(), PciError> {
        let handle = self.handles.get(i).ok_or(PciError::NoInterrupt)?;
        match &self.mode {
            Mode::MsiX { cap, table } => {
                let r = if masked { cap.mask(&**table, i as u16) } else { cap.unmask(&**table, i as u16) };
                r.map_err(|e| PciError::Msi(alloc::format!("{e}")))
            }
            _ => {
                if masked {
                    handle.mask();
                } else {
                    handle.unmask();
                }
                Ok(())
            }
        }
    }

    /// Whether the device itself has vector `i` masked (MSI-X only).
    pub fn is_masked(&self, i: usize) -> Option<bool> {
        match &self.mode {
            Mode::MsiX { cap, table } => cap.is_masked(&**table, i as u16).ok(),
            _ => None,
        }
    }

    /// Delivers vector `i` as a self-IPI, as if the device had signalled it
    /// (tests of the dispatch path).
    pub fn raise_for_test(&self, i: usize) -> Result<(), PciError> {
        let irq = self.irq(i).ok_or(PciError::NoInterrupt)?;
        core_irq::raise_for_test(irq).map_err(|e| PciError::Irq(alloc::format!("{e}")))
    }
}

impl Drop for PciIrqs {
    fn drop(&mut self) {
        let access = self.dev.access();
        let bdf = self.dev.bdf();
        match &self.mode {
            Mode::MsiX { cap, table } => {
                for i in 0..self.handles.len() {
                    let _ = cap.mask(&**table, i as u16);
                }
                cap.disable(access, bdf);
            }
            Mode::Msi { cap } => msi::disable(access, bdf, cap),
            Mode::Intx => {}
        }
        pci::config::update_command(access, bdf, command::INTX_DISABLE, 0);
        // `handles` drop after this: the vectors are freed once the device
        // can no longer signal them.
    }
}

type Handler = Arc<dyn Fn(usize) -> IrqReturn + Send + Sync>;

impl PciDevice {
    /// Allocates between `min` and `max` vectors of the first kind in
    /// `kinds` the function supports; `handler(i)` serves vector `i`.
    pub fn alloc_irq_vectors(
        self: &Arc<Self>,
        min: usize,
        max: usize,
        kinds: &[IrqKind],
        name: &str,
        handler: impl Fn(usize) -> IrqReturn + Send + Sync + 'static,
    ) -> Result<PciIrqs, PciError> {
        let handler: Handler = Arc::new(handler);
        let mut last_error = PciError::NoInterrupt;
        for kind in kinds {
            let attempt = match kind {
                IrqKind::MsiX => self.try_msix(min, max, name, &handler),
                IrqKind::Msi => self.try_msi(min, max, name, &handler),
                IrqKind::Intx => self.try_intx(min, name, &handler),
            };
            match attempt {
                Ok(Some(irqs)) => return Ok(irqs),
                Ok(None) => {}
                Err(e) => last_error = e,
            }
        }
        Err(last_error)
    }

    fn try_msix(
        self: &Arc<Self>,
        min: usize,
        max: usize,
        name: &str,
        handler: &Handler,
    ) -> Result<Option<PciIrqs>, PciError> {
        let access = self.access();
        let bdf = self.bdf();
        let Some(cap) = MsixCap::find(access, bdf).map_err(|e| PciError::Msi(alloc::format!("{e}")))? else {
            return Ok(None);
        };
        let count = max.min(usize::from(cap.table_size));
        if count < min || count == 0 {
            return Ok(None);
        }
        let bar = self
            .bars
            .get(usize::from(cap.table_bar))
            .copied()
            .flatten()
            .ok_or(PciError::NoSuchBar(cap.table_bar.into()))?;
        let table_phys = bar.address() + u64::from(cap.table_offset);
        let mem = ioremap(table_phys, cap.table_bytes() as u64).map_err(|e| PciError::Map(alloc::format!("{e}")))?;
        let table = Arc::new(Table(mem));
        self.enable(true, false);
        self.set_bus_master(true);
        let mut handles = Vec::with_capacity(count);
        for i in 0..count {
            let h = handler.clone();
            let handle = core_irq::request_msi(name, move || h(i)).map_err(|e| PciError::Irq(alloc::format!("{e}")))?;
            let msg = handle.msi_message().ok_or(PciError::NoInterrupt)?;
            cap.write_entry(&*table, i as u16, msg.address, msg.data)
                .map_err(|e| PciError::Msi(alloc::format!("{e}")))?;
            let (t, c) = (table.clone(), cap);
            handle.set_msi_writer(move |m| {
                let _ = c.write_entry(&*t, i as u16, m.address, m.data);
            });
            handles.push(handle);
        }
        pci::config::update_command(access, bdf, command::INTX_DISABLE, 0);
        cap.enable(access, bdf);
        Ok(Some(PciIrqs { dev: self.clone(), mode: Mode::MsiX { cap, table }, handles }))
    }

    fn try_msi(
        self: &Arc<Self>,
        min: usize,
        max: usize,
        name: &str,
        handler: &Handler,
    ) -> Result<Option<PciIrqs>, PciError> {
        let access = self.access();
        let bdf = self.bdf();
        let Some(cap) = MsiCap::find(access, bdf).map_err(|e| PciError::Msi(alloc::format!("{e}")))? else {
            return Ok(None);
        };
        // The largest power of two within both the request and the device.
        let capable = 1usize << cap.multiple_message_capable;
        let wanted = max.min(capable).max(1);
        let log2 = usize::BITS - 1 - wanted.leading_zeros();
        let count = 1usize << log2;
        if count < min {
            return Ok(None);
        }
        let h = handler.clone();
        let handles = core_irq::request_msi_block(name, count, move |i| h(i))
            .map_err(|e| PciError::Irq(alloc::format!("{e}")))?;
        let msg = handles[0].msi_message().ok_or(PciError::NoInterrupt)?;
        // One Command write (each one makes QEMU remap the device's BARs):
        // MSI is a memory write, so bus mastering; INTx off while MSI is on.
        pci::config::update_command(access, bdf, command::BUS_MASTER | command::INTX_DISABLE, 0);
        msi::configure(access, bdf, &cap, msg.address, msg.data as u16, log2 as u8)
            .map_err(|e| PciError::Msi(alloc::format!("{e}")))?;
        let data = msg.data as u16;
        handles[0].set_msi_writer(move |m| {
            // One address for the whole block: moving vector 0 moves them all.
            let _ = msi::configure(super::access(), bdf, &cap, m.address, data, log2 as u8);
        });
        Ok(Some(PciIrqs { dev: self.clone(), mode: Mode::Msi { cap }, handles }))
    }

    fn try_intx(self: &Arc<Self>, min: usize, name: &str, handler: &Handler) -> Result<Option<PciIrqs>, PciError> {
        let Some(gsi) = self.intx_gsi else { return Ok(None) };
        if min > 1 {
            return Ok(None);
        }
        let h = handler.clone();
        let handle =
            core_irq::request(gsi, name, SHARED, move || h(0)).map_err(|e| PciError::Irq(alloc::format!("{e}")))?;
        pci::config::update_command(self.access(), self.bdf(), 0, command::INTX_DISABLE);
        Ok(Some(PciIrqs { dev: self.clone(), mode: Mode::Intx, handles: alloc::vec![handle] }))
    }
}
