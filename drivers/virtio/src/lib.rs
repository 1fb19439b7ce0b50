//! virtio 1.x over modern PCI: capabilities, the status handshake, feature
//! negotiation, split virtqueues, and the virtio-net and virtio-blk drivers.
//!
//! virtio is the paravirtual device family of QEMU/KVM (and Firecracker,
//! cloud-hypervisor, crosvm …), standardised by OASIS as *Virtual I/O Device
//! (VIRTIO) Version 1.2* (cited as `virtio 1.2 §N`). Unlike an emulated
//! e1000, a virtio device was designed to be cheap to emulate: its data
//! moves through rings in guest memory ([`queue`]), and the driver touches
//! registers only to set up and to ring a doorbell — which it also tries to
//! avoid ([`queue::notify`]). Every device type shares the same machinery:
//!
//! | module        | mechanism                                                     |
//! |---------------|---------------------------------------------------------------|
//! | [`regs`]      | every offset, bit and constant, with its spec section         |
//! | [`pci`]       | finding the structures through vendor-specific capabilities   |
//! | [`transport`] | status handshake, features, queue set-up, doorbells, ISR, config |
//! | [`queue`]     | the split virtqueue: descriptors, available and used rings     |
//! | [`net`]       | virtio-net: receive and transmit queues, the 12-byte header    |
//! | [`blk`]       | virtio-blk: header + data + status requests, indirect tables   |
//!
//! The drivers speak [`hal::RegisterWindow`] (the BAR) and
//! [`hal::dma::DmaAllocator`] (queue and buffer memory), so the kernel binds
//! them to the device QEMU emulates and `cargo test` binds them to a model
//! (`tests/model/`). The kernel must enable bus mastering on the PCI
//! function (virtio devices DMA into the rings) and route an interrupt:
//! MSI-X vectors ([`Vectors`]) or the INTx line, whose handler must read the
//! ISR ([`transport::isr`]).
//!
//! # Initialisation (§3.1.1)
//!
//! Reset → ACKNOWLEDGE → DRIVER → negotiate features → FEATURES_OK (and check
//! it stuck) → read device config → set up virtqueues → DRIVER_OK. Any
//! failure after queues were handed to the device resets it *before* the
//! queue memory is freed, then sets FAILED; dropping a driver resets the
//! device for the same reason: a device that is never told to stop keeps
//! writing into memory that now belongs to someone else.
//!
//! # Locking
//!
//! Methods that change driver state take `&mut self`: the kernel keeps a
//! [`net::VirtioNet`] / [`blk::VirtioBlk`] under a `SpinLockIrq` shared by the
//! interrupt handler and the poll. `count_interrupt` takes `&self` so an
//! MSI-X handler can count without the lock.

#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod blk;
pub mod error;
pub mod names;
pub mod net;
pub mod pci;
pub mod queue;
pub mod regs;
pub mod transport;
mod vectors;

pub use error::Error;
pub use transport::IsrStatus;
pub use vectors::Vectors;

use hal::dma::{BusAddr, DmaAllocator, DmaRegion};

/// Allocates a coherent region of at least `len` bytes whose bus address is
/// a multiple of `align`, or says why the allocator's answer is unusable.
pub(crate) fn alloc_dma<A: DmaAllocator>(dma: &A, len: usize, align: u64) -> Result<A::Region, Error> {
    let region = dma.alloc_coherent(len, u64::MAX)?;
    let addr = region.bus_addr();
    if region.len() < len || addr.as_u64() % align != 0 {
        return Err(Error::BadDmaRegion { addr, len });
    }
    Ok(region)
}

/// `base + offset` as a bus address (the regions are far below 2^64).
pub(crate) fn bus_at(base: BusAddr, offset: usize) -> BusAddr {
    BusAddr(base.as_u64() + offset as u64)
}
