//! Why a block request was refused or failed.

use core::fmt;

use crate::Error;

/// A refused request (nothing reached the device) or a failed one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlkError {
    /// No free request slot or not enough free descriptors: poll
    /// completions and retry.
    QueueFull,
    /// More data segments than [`max_segments`](super::VirtioBlk::max_segments).
    TooManySegments,
    /// The request runs past the end of the disk.
    OutOfRange {
        /// First sector of the request.
        sector: u64,
        /// Sectors it covers.
        sectors: u64,
        /// The disk's capacity in sectors.
        capacity: u64,
    },
    /// A read or write segment whose length is not a non-zero multiple of
    /// 512 bytes.
    Unaligned,
    /// A flush, but the device did not offer VIRTIO_BLK_F_FLUSH.
    FlushUnsupported,
    /// A write to a read-only device (VIRTIO_BLK_F_RO).
    ReadOnly,
    /// A request that is malformed in some other way (why): a read or write
    /// without data, a flush with data, a GET_ID without exactly one buffer,
    /// a segment longer than the device's `size_max`.
    BadRequest(&'static str),
    /// The device completed the request with this status: 1 = IOERR, 2 =
    /// UNSUPP, anything else is a device bug (0xff: it wrote no status).
    Device(u8),
    /// The queue or transport failed (e.g. a bad used-ring entry).
    Transport(Error),
}

impl From<Error> for BlkError {
    fn from(e: Error) -> Self {
        match e {
            Error::QueueFull => BlkError::QueueFull,
            e => BlkError::Transport(e),
        }
    }
}

impl fmt::Display for BlkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            BlkError::QueueFull => write!(f, "virtio-blk: request queue full"),
            BlkError::TooManySegments => write!(f, "virtio-blk: too many segments"),
            BlkError::OutOfRange { sector, sectors, capacity } => {
                write!(f, "virtio-blk: {sectors} sectors at {sector} run past the end of a {capacity}-sector disk")
            }
            BlkError::Unaligned => write!(f, "virtio-blk: segment length not a multiple of 512 bytes"),
            BlkError::FlushUnsupported => write!(f, "virtio-blk: device has no flush command"),
            BlkError::ReadOnly => write!(f, "virtio-blk: device is read-only"),
            BlkError::BadRequest(why) => write!(f, "virtio-blk: bad request: {why}"),
            BlkError::Device(1) => write!(f, "virtio-blk: device reported an I/O error"),
            BlkError::Device(2) => write!(f, "virtio-blk: device does not support the request"),
            BlkError::Device(s) => write!(f, "virtio-blk: device returned invalid status {s:#x}"),
            BlkError::Transport(e) => write!(f, "virtio-blk: {e}"),
        }
    }
}

impl core::error::Error for BlkError {}
