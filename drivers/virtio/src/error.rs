//! Errors: what can go wrong finding, initialising and talking to a virtio
//! device.
//!
//! DESIGN.md rule 4: a device that misbehaves — rejects our features, offers
//! a queue of size 0, answers a used-ring entry for a descriptor it was never
//! given, claims to have written more bytes than the buffer holds — produces
//! one of these values, never a panic and never a hang.

use core::fmt;

use hal::dma::{BusAddr, DmaError};
use hal::IoError;

/// Why a virtio operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The register window refused an access.
    Io(IoError),
    /// DMA memory could not be allocated or accessed.
    Dma(DmaError),
    /// The device lacks a capability the driver needs (which one).
    MissingCapability(&'static str),
    /// The device is laid out or behaves in a way this driver does not
    /// support (why).
    Unsupported(&'static str),
    /// A structure named by a capability does not fit inside the BAR.
    RegionOutsideBar {
        /// Which structure.
        what: &'static str,
        /// Its offset in the BAR.
        offset: usize,
        /// Its length.
        length: usize,
        /// The BAR window's size.
        bar_size: usize,
    },
    /// An access does not fit inside the structure it addresses.
    OutOfRegion {
        /// Which structure.
        what: &'static str,
        /// Offset from the structure's start.
        offset: usize,
        /// Access length in bytes.
        len: usize,
        /// The structure's length.
        length: usize,
    },
    /// The device status did not read back 0 after a reset (§4.1.4.3.2).
    ResetTimeout,
    /// The device does not offer feature bits the driver requires (these).
    MissingFeature(u64),
    /// The device cleared FEATURES_OK: it cannot work with the features we
    /// accepted (§3.1.1 step 6).
    FeaturesRejected,
    /// The device has no queue with this index, or reports its size as 0.
    QueueUnavailable(u16),
    /// A queue size that is not a power of two in `1..=32768`, or larger
    /// than the device allows.
    BadQueueSize {
        /// The queue.
        index: u16,
        /// The size asked for.
        size: u16,
        /// The largest size allowed.
        max: u16,
    },
    /// The device answered a different MSI-X vector (`NO_VECTOR`) than the
    /// one programmed: it ran out of vectors or MSI-X is off.
    VectorRejected {
        /// The queue, or `None` for the configuration-change vector.
        queue: Option<u16>,
        /// The vector asked for.
        vector: u16,
    },
    /// [`Transport::notify`](crate::transport::Transport::notify) for a queue
    /// that was never set up.
    QueueNotReady(u16),
    /// Not enough free descriptors for the chain: reclaim used ones and retry.
    QueueFull,
    /// A chain the queue cannot take (why).
    BadChain(&'static str),
    /// The device returned a used entry whose id is out of range or is not
    /// the head of a chain in flight. The entry was skipped; the queue's
    /// own bookkeeping is unchanged.
    BadUsed {
        /// The id the device wrote.
        id: u32,
    },
    /// The device claims to have written more bytes than the chain's
    /// device-writable buffers hold. The chain *was* reclaimed (its id is
    /// valid) so the caller can recycle it; the data must not be trusted.
    BadUsedLen {
        /// The chain's head id.
        id: u16,
        /// The length the device wrote.
        len: u32,
        /// The writable bytes in the chain.
        capacity: u64,
    },
    /// The device configuration kept changing while being read (§2.5.1).
    ConfigUnstable,
    /// The device has no device-specific configuration structure.
    NoDeviceConfig,
    /// The allocator returned a region the device cannot use (too short or
    /// misaligned).
    BadDmaRegion {
        /// The region's bus address.
        addr: BusAddr,
        /// The length asked for.
        len: usize,
    },
    /// A driver configuration value is unusable (which).
    InvalidConfig(&'static str),
}

impl From<IoError> for Error {
    fn from(e: IoError) -> Self {
        Error::Io(e)
    }
}

impl From<DmaError> for Error {
    fn from(e: DmaError) -> Self {
        Error::Dma(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Io(e) => write!(f, "virtio: {e}"),
            Error::Dma(e) => write!(f, "virtio: {e}"),
            Error::MissingCapability(what) => write!(f, "virtio: no {what} capability"),
            Error::Unsupported(why) => write!(f, "virtio: unsupported device: {why}"),
            Error::RegionOutsideBar { what, offset, length, bar_size } => write!(
                f,
                "virtio: {what} structure at {offset:#x}+{length:#x} does not fit in a {bar_size:#x}-byte BAR"
            ),
            Error::OutOfRegion { what, offset, len, length } => write!(
                f,
                "virtio: {len}-byte access at offset {offset:#x} is outside the {length:#x}-byte {what} structure"
            ),
            Error::ResetTimeout => write!(f, "virtio: device status did not read 0 after reset"),
            Error::MissingFeature(bits) => write!(f, "virtio: device lacks required features {bits:#x}"),
            Error::FeaturesRejected => {
                write!(f, "virtio: device rejected the negotiated features (FEATURES_OK cleared)")
            }
            Error::QueueUnavailable(q) => write!(f, "virtio: queue {q} does not exist"),
            Error::BadQueueSize { index, size, max } => {
                write!(f, "virtio: queue {index}: size {size} is not a power of two up to {max}")
            }
            Error::VectorRejected { queue: Some(q), vector } => {
                write!(f, "virtio: queue {q}: device rejected MSI-X vector {vector}")
            }
            Error::VectorRejected { queue: None, vector } => {
                write!(f, "virtio: device rejected MSI-X vector {vector} for configuration changes")
            }
            Error::QueueNotReady(q) => write!(f, "virtio: queue {q} was not set up"),
            Error::QueueFull => write!(f, "virtio: not enough free descriptors"),
            Error::BadChain(why) => write!(f, "virtio: bad descriptor chain: {why}"),
            Error::BadUsed { id } => write!(f, "virtio: device returned used id {id}, which is not in flight"),
            Error::BadUsedLen { id, len, capacity } => {
                write!(f, "virtio: device wrote {len} bytes into chain {id} of {capacity} writable bytes")
            }
            Error::ConfigUnstable => write!(f, "virtio: device configuration kept changing while read"),
            Error::NoDeviceConfig => write!(f, "virtio: device has no device-specific configuration"),
            Error::BadDmaRegion { addr, len } => write!(f, "virtio: unusable DMA region of {len} bytes at {addr}"),
            Error::InvalidConfig(what) => write!(f, "virtio: invalid configuration: {what}"),
        }
    }
}

impl core::error::Error for Error {}
