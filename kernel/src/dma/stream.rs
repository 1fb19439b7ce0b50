//! Streaming DMA mappings: an existing kernel buffer lent to a device for
//! one transfer (Linux's `dma_map_single`), with the transfer's direction
//! in the type so that reading back a to-device buffer does not compile.

use core::sync::atomic::{AtomicU64, Ordering};

use hal::dma::{BusAddr, DmaError};

use super::mapper;

/// Which way the data flows in a streaming mapping (Linux's
/// `enum dma_data_direction`, made a type so the wrong sync is a compile
/// error, as Asterinas's `DmaStream<Direction>`).
pub trait Direction: Send + Sync + 'static {
    const NAME: &'static str;
}
// Marker types: used only as `DmaStream`'s type parameter, never built.
/// The CPU fills the buffer, the device reads it (a packet to send).
#[allow(dead_code)]
pub struct ToDevice;
/// The device fills the buffer, the CPU reads it (a received packet).
pub struct FromDevice;
/// Both.
#[allow(dead_code)]
pub struct Bidirectional;
impl Direction for ToDevice {
    const NAME: &'static str = "to-device";
}
impl Direction for FromDevice {
    const NAME: &'static str = "from-device";
}
impl Direction for Bidirectional {
    const NAME: &'static str = "bidirectional";
}

/// Can the CPU read what the device wrote? (FromDevice, Bidirectional)
pub trait DeviceWrites: Direction {}
impl DeviceWrites for FromDevice {}
impl DeviceWrites for Bidirectional {}

pub static STREAMING_LIVE: AtomicU64 = AtomicU64::new(0);
pub static STREAMING_BYTES: AtomicU64 = AtomicU64::new(0);

/// An existing kernel buffer lent to a device (a *streaming* mapping).
///
/// Mapping takes the buffer away from the CPU side — Rust ownership moves
/// into the mapping — so nothing can touch it behind the device's back;
/// [`unmap`](Self::unmap) gives it back. On x86 DMA is cache-coherent, so
/// `sync_*` are ordering fences only; on other architectures (and with
/// bounce buffers) they are where cache maintenance or copying happens, so
/// drivers must call them at the same points regardless.
pub struct DmaStream<D: Direction> {
    buf: alloc::boxed::Box<[u8]>,
    bus: BusAddr,
    _dir: core::marker::PhantomData<D>,
}

impl<D: Direction> DmaStream<D> {
    /// Maps `buf` for the device. Heap buffers are physically contiguous in
    /// ioxide (slab objects live in one slab block, large allocations are
    /// buddy blocks), which a device without an IOMMU needs.
    pub fn map(buf: alloc::boxed::Box<[u8]>) -> Result<Self, DmaError> {
        if buf.is_empty() {
            return Err(DmaError::OutOfMemory);
        }
        let virt = buf.as_ptr() as u64;
        let phys = crate::mm::virt_to_phys(virt).ok_or(DmaError::AddressLimit)?;
        let bus = mapper().map(phys, buf.len() as u64);
        STREAMING_LIVE.fetch_add(1, Ordering::Relaxed);
        STREAMING_BYTES.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(DmaStream { buf, bus, _dir: core::marker::PhantomData })
    }

    pub fn bus_addr(&self) -> BusAddr {
        self.bus
    }

    /// Which way the data flows (for diagnostics).
    pub fn direction(&self) -> &'static str {
        D::NAME
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Hands the buffer to the device after CPU writes.
    pub fn sync_for_device(&self) {
        core::sync::atomic::fence(Ordering::Release);
    }

    /// Ends the mapping and returns the buffer to the CPU.
    pub fn unmap(self) -> alloc::boxed::Box<[u8]> {
        mapper().unmap(self.bus, self.buf.len() as u64);
        STREAMING_LIVE.fetch_sub(1, Ordering::Relaxed);
        STREAMING_BYTES.fetch_sub(self.buf.len() as u64, Ordering::Relaxed);
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again; we move the box out once.
        unsafe { core::ptr::read(&this.buf) }
    }
}

impl<D: DeviceWrites> DmaStream<D> {
    /// Makes what the device wrote visible to the CPU, then copies `len`
    /// bytes from `offset` out (volatile: the device wrote them).
    pub fn sync_for_cpu_read(&self, offset: usize, out: &mut [u8]) -> Result<(), DmaError> {
        hal::dma::check_range(offset, out.len(), self.buf.len())?;
        core::sync::atomic::fence(Ordering::Acquire);
        for (i, b) in out.iter_mut().enumerate() {
            // SAFETY: in bounds (checked); the buffer is owned by the mapping.
            *b = unsafe { self.buf.as_ptr().add(offset + i).read_volatile() };
        }
        Ok(())
    }
}

impl<D: Direction> Drop for DmaStream<D> {
    fn drop(&mut self) {
        mapper().unmap(self.bus, self.buf.len() as u64);
        STREAMING_LIVE.fetch_sub(1, Ordering::Relaxed);
        STREAMING_BYTES.fetch_sub(self.buf.len() as u64, Ordering::Relaxed);
    }
}
