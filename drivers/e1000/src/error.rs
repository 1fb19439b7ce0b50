//! Errors: what can go wrong setting the device up, and why a frame was
//! refused for transmission.

use core::fmt;

use hal::dma::{BusAddr, DmaError};
use hal::IoError;

use crate::regs;
#[cfg(doc)]
use crate::{Config, DMA_ADDR_LIMIT, E1000};
use crate::{MAX_TX_FRAME, MIN_TX_FRAME};

/// What can go wrong setting up or resetting the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The register window refused an access.
    Io(IoError),
    /// DMA memory could not be allocated or accessed.
    Dma(DmaError),
    /// The window does not cover the registers the driver uses.
    WindowTooSmall {
        /// The window's size in bytes.
        size: usize,
    },
    /// A [`Config`] field is out of range (its name).
    InvalidConfig(&'static str),
    /// CTRL.RST did not clear within the poll limit.
    ResetTimeout,
    /// An EEPROM read did not finish within the poll limit.
    EepromTimeout {
        /// The EEPROM word being read.
        word: u32,
    },
    /// Neither RAL0/RAH0 nor the EEPROM holds a usable (non-zero, unicast)
    /// Ethernet address; the one found.
    InvalidMac([u8; 6]),
    /// The allocator returned a region the device cannot use: shorter than
    /// asked, misaligned, or not below [`DMA_ADDR_LIMIT`].
    BadDmaRegion {
        /// The region's bus address.
        addr: BusAddr,
        /// The length the driver asked for.
        len: usize,
    },
    /// [`E1000::add_multicast`] was given a unicast address.
    NotMulticast([u8; 6]),
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

pub(crate) struct Mac(pub(crate) [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", m[0], m[1], m[2], m[3], m[4], m[5])
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Io(e) => write!(f, "e1000: {e}"),
            Error::Dma(e) => write!(f, "e1000: {e}"),
            Error::WindowTooSmall { size } => {
                write!(f, "e1000: register window of {size:#x} bytes, need {:#x}", regs::MIN_WINDOW_SIZE)
            }
            Error::InvalidConfig(field) => write!(f, "e1000: invalid configuration: {field}"),
            Error::ResetTimeout => write!(f, "e1000: device reset did not complete"),
            Error::EepromTimeout { word } => write!(f, "e1000: EEPROM read of word {word} did not complete"),
            Error::InvalidMac(mac) => write!(f, "e1000: no valid Ethernet address (found {})", Mac(mac)),
            Error::BadDmaRegion { addr, len } => write!(f, "e1000: unusable DMA region of {len} bytes at {addr}"),
            Error::NotMulticast(mac) => write!(f, "e1000: {} is not a multicast address", Mac(mac)),
        }
    }
}

impl core::error::Error for Error {}

/// Why [`E1000::transmit`] refused a frame. Nothing was queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxError {
    /// Every descriptor is in flight: reclaim with [`E1000::clean_tx`] (and
    /// make sure [`E1000::flush_tx`] was called) and retry.
    RingFull,
    /// Longer than [`MAX_TX_FRAME`].
    TooLong,
    /// Shorter than [`MIN_TX_FRAME`].
    TooShort,
}

impl fmt::Display for TxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxError::RingFull => write!(f, "e1000: transmit ring full"),
            TxError::TooLong => write!(f, "e1000: frame longer than {MAX_TX_FRAME} bytes"),
            TxError::TooShort => write!(f, "e1000: frame shorter than {MIN_TX_FRAME} bytes"),
        }
    }
}

impl core::error::Error for TxError {}
