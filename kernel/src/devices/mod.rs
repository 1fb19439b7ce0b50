//! The kernel's side of device drivers: each module binds a driver crate
//! (which knows the device but not the kernel) to the bus, interrupts and
//! DMA, and exposes it to the shell.

pub mod e1000;
pub mod edu;
pub mod virtio;
pub mod virtio_blk;
pub mod virtio_net;

/// What a PCI probe leaves bound to its function: the driver's state, its
/// interrupt vectors and its BAR claim — dropped together on unbind.
/// Nothing reads the fields: holding them is the point.
#[allow(dead_code)]
pub struct Bound<T> {
    pub dev: T,
    pub irqs: crate::bus::pci::irq::PciIrqs,
    pub bar: crate::resource::Claim,
}

/// A NIC driver's `remove`: detach the interface (see `Nic::detach`).
pub fn remove_nic<H: crate::net::nic::NicHw>(
    _pci: &alloc::sync::Arc<crate::bus::pci::PciDevice>,
    instance: &crate::bus::pci::driver::Instance,
) {
    if let Some(bound) = instance.downcast_ref::<Bound<alloc::sync::Arc<crate::net::nic::Nic<H>>>>() {
        bound.dev.detach();
    }
}

/// Registers every driver with its bus.
pub fn init() {
    edu::register();
    e1000::register();
    virtio_net::register();
    virtio_blk::register();
}
