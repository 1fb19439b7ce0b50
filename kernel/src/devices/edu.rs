//! QEMU's `edu` device (1234:11e8) bound to the `edu` driver crate.
//!
//! Probe maps BAR0, turns on memory decoding and bus mastering (edu DMAs),
//! checks the device (identification + liveness), allocates a 4 KiB
//! coherent DMA buffer below edu's 28-bit DMA limit and one interrupt —
//! MSI by default, INTx on request (`edu mode intx|msi`). The interrupt
//! handler acknowledges the device and completes whichever operation
//! finished; the shell's `edu fact` and `edu dma` sleep on those
//! completions.

use alloc::boxed::Box;
use alloc::sync::{Arc, Weak};

use edu::{Edu, IrqOutcome};
use hal::dma::DmaRegion;
use hal::irq::IrqReturn;
use pci::id::PciDeviceId;

use crate::bus::pci::driver::{self, Instance, PciDriver};
use crate::bus::pci::irq::{IrqKind, PciIrqs};
use crate::bus::pci::{PciDevice, PciError};
use crate::dma::{alloc_coherent, DmaCoherent};
use crate::mm::ioremap::IoMem;
use crate::resource::Claim;
use crate::sync::{Completion, Mutex, SpinLock, SpinLockIrq};

const IDS: &[PciDeviceId] = &[PciDeviceId::device(0x1234, 0x11e8)];
const BUFFER: usize = 4096;
/// Bounded waits for the device's completions: 2 s.
const TIMEOUT_TICKS: u64 = 2 * crate::time::HZ;

static DRIVER: PciDriver = PciDriver { name: "edu", id_table: IDS, probe, remove: None };

pub struct EduDevice {
    pci: Arc<PciDevice>,
    edu: SpinLockIrq<Edu<IoMem>>,
    irqs: SpinLock<Option<PciIrqs>>,
    factorial_done: Arc<Completion>,
    dma_done: Arc<Completion>,
    /// Serialises users of the device (one operation at a time).
    busy: Mutex<()>,
    to_device: DmaCoherent,
    from_device: DmaCoherent,
    _bar: Claim,
}

/// What the shell and tests hold.
pub type Handle = Arc<EduDevice>;

pub fn register() {
    driver::register(&DRIVER);
}

fn probe(pci: &Arc<PciDevice>) -> Result<Instance, PciError> {
    let (mem, claim) = pci.map_bar(0, "edu")?.into_parts();
    pci.enable(true, false);
    pci.set_bus_master(true);
    let edu = Edu::new(mem).map_err(|e| PciError::Map(alloc::format!("{e}")))?;
    let limit = edu::regs::DMA_ADDR_LIMIT;
    let dma = |_| alloc_coherent(BUFFER, limit).map_err(|e| PciError::Map(alloc::format!("DMA buffer: {e}")));
    let dev = Arc::new(EduDevice {
        pci: pci.clone(),
        edu: SpinLockIrq::new(edu),
        irqs: SpinLock::new(None),
        factorial_done: Arc::new(Completion::new()),
        dma_done: Arc::new(Completion::new()),
        busy: Mutex::new(()),
        to_device: dma(0)?,
        from_device: dma(1)?,
        _bar: claim,
    });
    dev.set_mode(&[IrqKind::Msi, IrqKind::Intx])?;
    Ok(Box::new(dev))
}

/// The top half: acknowledge, then complete what finished.
fn interrupt(dev: &Weak<EduDevice>) -> IrqReturn {
    let Some(dev) = dev.upgrade() else { return IrqReturn::NotMine };
    let IrqOutcome { ret, factorial_done, dma_done, .. } = dev.edu.lock().handle_interrupt();
    if factorial_done {
        dev.factorial_done.complete();
    }
    if dma_done {
        dev.dma_done.complete();
    }
    ret
}

impl EduDevice {
    /// (Re)allocates the interrupt with the first kind in `kinds` that works.
    pub fn set_mode(self: &Arc<Self>, kinds: &[IrqKind]) -> Result<IrqKind, PciError> {
        let mut irqs = self.irqs.lock();
        drop(irqs.take());
        let weak = Arc::downgrade(self);
        let new = self.pci.alloc_irq_vectors(1, 1, kinds, "edu", move |_| interrupt(&weak))?;
        let kind = new.kind();
        *irqs = Some(new);
        Ok(kind)
    }

    pub fn mode(&self) -> Option<IrqKind> {
        self.irqs.lock().as_ref().map(PciIrqs::kind)
    }

    /// The interrupt line number, for `interrupts`.
    pub fn irq(&self) -> Option<u32> {
        self.irqs.lock().as_ref().and_then(|i| i.irq(0))
    }

    /// n! computed by the device, completion signalled by its interrupt.
    pub fn factorial(&self, n: u32) -> Result<u32, alloc::string::String> {
        let _one_at_a_time = self.busy.lock();
        self.edu.lock().start_factorial(n, true).map_err(|e| alloc::format!("{e}"))?;
        if !self.factorial_done.wait_timeout(TIMEOUT_TICKS) {
            return Err("no factorial interrupt within 2 s".into());
        }
        self.edu.lock().factorial_done().map_err(|e| alloc::format!("{e}"))?.ok_or_else(|| "device still busy".into())
    }

    /// Copies `data` to the device by DMA and back into a second buffer;
    /// returns what came back.
    pub fn dma_round_trip(&self, data: &[u8]) -> Result<alloc::vec::Vec<u8>, alloc::string::String> {
        let _one_at_a_time = self.busy.lock();
        let len = data.len();
        self.to_device.write(0, data).map_err(|e| alloc::format!("{e}"))?;
        self.edu.lock().dma_to_device(&self.to_device, len, true).map_err(|e| alloc::format!("{e}"))?;
        if !self.dma_done.wait_timeout(TIMEOUT_TICKS) {
            return Err("no DMA interrupt (to device) within 2 s".into());
        }
        self.edu.lock().dma_from_device(&self.from_device, len, true).map_err(|e| alloc::format!("{e}"))?;
        if !self.dma_done.wait_timeout(TIMEOUT_TICKS) {
            return Err("no DMA interrupt (from device) within 2 s".into());
        }
        let mut back = alloc::vec![0u8; len];
        self.from_device.read(0, &mut back).map_err(|e| alloc::format!("{e}"))?;
        Ok(back)
    }

    pub fn stats(&self) -> edu::EduStats {
        self.edu.lock().stats()
    }
}

/// Every bound edu device, in bus order.
pub fn all() -> alloc::vec::Vec<Handle> {
    crate::bus::pci::devices().iter().filter_map(|d| driver::instance::<Handle>(d)).collect()
}

/// The first bound edu device.
pub fn first() -> Option<Handle> {
    all().into_iter().next()
}

impl EduDevice {
    pub fn bdf(&self) -> pci::config::Bdf {
        self.pci.bdf()
    }
}
