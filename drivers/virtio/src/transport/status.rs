//! Reset, the status handshake, and feature negotiation [virtio 1.2 §2.1,
//! §2.2, §3.1.1].
//!
//! The device status byte records how far the driver has got, one bit per
//! step, and the driver only ever *adds* bits (§2.1):
//!
//! ```text
//! write 0            reset: the device forgets everything, stops all DMA
//! ACKNOWLEDGE   (1)  "I have seen you"
//! DRIVER        (2)  "I know how to drive you"
//!                    read device features, write the subset we accept
//! FEATURES_OK   (8)  "that subset is final" — re-read: the device may say no
//!                    set up virtqueues, read device config
//! DRIVER_OK     (4)  "go": the device may now use the queues
//! FAILED      (128)  "I gave up" (any time)
//! ```
//!
//! Features are 64 bits, read and written 32 at a time through a *select*
//! register (0 = bits 0–31, 1 = bits 32–63). The driver accepts the
//! intersection of what the device offers and what it understands; a device
//! that cannot live with that answer clears FEATURES_OK, and the driver must
//! check by reading the status back — a write that "worked" proves nothing.
//! This transport only speaks virtio 1.x, so VIRTIO_F_VERSION_1 is always
//! required (a device without it is a legacy device).

use hal::RegisterWindow;

use super::{Transport, RESET_POLL_LIMIT};
use crate::regs::{common, features, status};
use crate::Error;

impl<W: RegisterWindow> Transport<W> {
    /// Resets the device (writes status 0) and waits, for a bounded number
    /// of reads, until the status reads back 0 (§4.1.4.3.2): only then has
    /// the device stopped using the queues' memory.
    pub fn reset(&self) -> Result<(), Error> {
        self.common_write_u8(common::DEVICE_STATUS, 0)?;
        // Every queue is gone with the reset.
        drop(self.notify_at.take());
        for _ in 0..RESET_POLL_LIMIT {
            if self.common_read_u8(common::DEVICE_STATUS)? == 0 {
                return Ok(());
            }
        }
        Err(Error::ResetTimeout)
    }

    /// The device status byte (0 if the register cannot be read).
    pub fn status(&self) -> u8 {
        self.common_read_u8(common::DEVICE_STATUS).unwrap_or(0)
    }

    /// Adds `bits` to the device status (read, OR, write).
    pub fn add_status(&self, bits: u8) {
        let _ = self.common_write_u8(common::DEVICE_STATUS, self.status() | bits);
    }

    /// Tells the device the driver is ready: it may now use the queues.
    pub fn driver_ok(&self) {
        self.add_status(status::DRIVER_OK);
    }

    /// Tells the device the driver has given up on it.
    pub fn fail(&self) {
        self.add_status(status::FAILED);
    }

    /// The 64 feature bits the device offers.
    pub fn device_features(&self) -> Result<u64, Error> {
        self.common_write_u32(common::DEVICE_FEATURE_SELECT, 0)?;
        let low = self.common_read_u32(common::DEVICE_FEATURE)?;
        self.common_write_u32(common::DEVICE_FEATURE_SELECT, 1)?;
        let high = self.common_read_u32(common::DEVICE_FEATURE)?;
        Ok(u64::from(high) << 32 | u64::from(low))
    }

    fn write_driver_features(&self, accepted: u64) -> Result<(), Error> {
        self.common_write_u32(common::DRIVER_FEATURE_SELECT, 0)?;
        self.common_write_u32(common::DRIVER_FEATURE, accepted as u32)?;
        self.common_write_u32(common::DRIVER_FEATURE_SELECT, 1)?;
        self.common_write_u32(common::DRIVER_FEATURE, (accepted >> 32) as u32)
    }

    /// Steps 1–6 of §3.1.1: reset, ACKNOWLEDGE, DRIVER, read the device's
    /// features, accept `device & (wanted | required)`, FEATURES_OK, and
    /// check it stuck. Returns the accepted features.
    ///
    /// [`Error::MissingFeature`] if the device lacks a bit of `required`
    /// (VERSION_1 is always required); [`Error::FeaturesRejected`] if it
    /// clears FEATURES_OK. Both set FAILED.
    pub fn negotiate(&self, wanted: u64, required: u64) -> Result<u64, Error> {
        let required = required | features::VERSION_1;
        self.reset()?;
        self.add_status(status::ACKNOWLEDGE);
        self.add_status(status::DRIVER);
        let offered = self.device_features()?;
        let missing = required & !offered;
        if missing != 0 {
            self.fail();
            return Err(Error::MissingFeature(missing));
        }
        let accepted = offered & (wanted | required);
        self.write_driver_features(accepted)?;
        self.add_status(status::FEATURES_OK);
        // §3.1.1 step 6: re-read; a device that cannot support our subset
        // leaves FEATURES_OK clear.
        if self.status() & status::FEATURES_OK == 0 {
            self.fail();
            return Err(Error::FeaturesRejected);
        }
        Ok(accepted)
    }
}
