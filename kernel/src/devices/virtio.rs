//! What every virtio PCI device needs from the kernel before its driver
//! crate takes over: the vendor-specific capabilities that locate the
//! common, notify, ISR and device-config structures (virtio 1.2 §4.1.4),
//! the BAR that holds them mapped and claimed, and interrupt vectors —
//! MSI-X with one vector for configuration changes and one per queue
//! (§4.1.5.1.2), or the shared INTx line, whose handler must read the ISR
//! register to de-assert it (`virtio.irq=intx` forces that path).

use alloc::string::String;
use alloc::sync::{Arc, Weak};
use alloc::vec::Vec;

use hal::irq::IrqReturn;
use virtio::pci::{CapInfo, Layout};
use virtio::transport::Transport;

use crate::bus::pci::irq::{IrqKind, PciIrqs};
use crate::bus::pci::{PciDevice, PciError};
use crate::mm::ioremap::IoMem;
use crate::resource::Claim;
use crate::sync::SpinLock;

/// PCI capability ID of vendor-specific capabilities (virtio's).
const CAP_VENDOR: u8 = 0x09;
/// Bytes of a virtio PCI capability, notify's extra word included.
const CAP_BYTES: u16 = 20;

/// The transport over the device's mapped BAR, and the BAR's claim.
pub fn transport(pci: &Arc<PciDevice>, owner: &str) -> Result<(Transport<IoMem>, Claim), PciError> {
    let access = pci.access();
    let caps: Vec<CapInfo> = pci
        .caps
        .iter()
        .filter(|c| c.id == CAP_VENDOR)
        .filter_map(|c| {
            let bytes: Vec<u8> = (0..CAP_BYTES).map(|i| access.read8(pci.bdf(), c.offset + i)).collect();
            CapInfo::parse(&bytes)
        })
        .collect();
    let layout = Layout::from_caps(&caps).map_err(|e| PciError::Map(alloc::format!("virtio capabilities: {e}")))?;
    let (mem, claim) = pci.map_bar(usize::from(layout.bar), owner)?.into_parts();
    pci.enable(true, false);
    pci.set_bus_master(true);
    let transport = Transport::new(mem, layout).map_err(|e| PciError::Map(alloc::format!("virtio: {e}")))?;
    Ok((transport, claim))
}

/// Interrupt kinds to try: MSI-X, then INTx (virtio PCI has no plain MSI),
/// or INTx alone with `virtio.irq=intx`.
pub fn irq_kinds() -> &'static [IrqKind] {
    if crate::cmdline::value("virtio.irq") == Some("intx") {
        &[IrqKind::Intx]
    } else {
        &[IrqKind::MsiX, IrqKind::Intx]
    }
}

/// What vector `i` of a device with `queues` queues serves.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum VectorUse {
    /// Configuration changes (and, with a single vector, everything).
    Config,
    Queue(u16),
    /// INTx: read the ISR to learn what happened.
    Shared,
}

/// The vector layout for `irqs`: config on 0 and queue `q` on `1 + q` when
/// there are enough MSI-X vectors, everything on vector 0 otherwise.
pub fn vectors(irqs: &PciIrqs, queues: usize) -> virtio::net::Vectors {
    if irqs.kind() != IrqKind::MsiX {
        return virtio::net::Vectors { config: None, queues: alloc::vec![None; queues] };
    }
    let one_each = irqs.count() > queues;
    virtio::net::Vectors {
        config: Some(0),
        queues: (0..queues).map(|q| Some(if one_each { 1 + q as u16 } else { 0 })).collect(),
    }
}

/// Inverse of [`vectors`]: what vector `i` serves.
pub fn vector_use(irqs_kind: IrqKind, count: usize, queues: usize, i: usize) -> VectorUse {
    match irqs_kind {
        IrqKind::MsiX if count > queues && i > 0 => VectorUse::Queue((i - 1) as u16),
        IrqKind::MsiX => VectorUse::Config,
        _ => VectorUse::Shared,
    }
}

/// Allocates up to `1 + queues` vectors for a virtio device.
pub fn alloc_irqs(
    pci: &Arc<PciDevice>,
    queues: usize,
    name: &str,
    handler: impl Fn(usize) -> IrqReturn + Send + Sync + 'static,
) -> Result<PciIrqs, PciError> {
    pci.alloc_irq_vectors(1, 1 + queues, irq_kinds(), name, handler)
}

/// What the `virtio` shell command shows of one device.
pub struct Report {
    /// `virtio-blk vda`, `virtio-net 0000:00:05.0`, …
    pub name: String,
    /// virtio device type (1 = net, 2 = blk), for naming feature bits.
    pub device_id: u16,
    pub features: u64,
    pub interrupts: IrqKind,
    pub vectors: usize,
    /// Each queue's name and counters.
    pub queues: Vec<(&'static str, virtio::queue::QueueStats)>,
}

/// A bound virtio device that can describe itself.
pub trait Describe: Send + Sync {
    fn report(&self) -> Report;
}

static BOUND: SpinLock<Vec<Weak<dyn Describe>>> = SpinLock::new(Vec::new());

/// Lists a bound device for the `virtio` command (forgotten once dropped).
pub fn announce(dev: Weak<dyn Describe>) {
    let mut bound = BOUND.lock();
    bound.retain(|w| w.strong_count() > 0);
    bound.push(dev);
}

/// Reports of every bound virtio device.
pub fn reports() -> Vec<Report> {
    let live: Vec<Arc<dyn Describe>> = BOUND.lock().iter().filter_map(Weak::upgrade).collect();
    live.iter().map(|d| d.report()).collect()
}
