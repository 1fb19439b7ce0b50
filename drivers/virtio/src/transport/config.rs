//! The device-specific configuration space and its generation counter
//! [virtio 1.2 §2.5, §4.1.4.6].
//!
//! Each device type has a small structure of its own settings (virtio-net:
//! MAC address and link status; virtio-blk: capacity, segment limits). The
//! device may change it at any time (the link goes down, the disk is
//! resized) and then raises a configuration-change interrupt.
//!
//! A single access of up to 32 bits is atomic, but a field wider than that,
//! or several fields read together (a 6-byte MAC, a 64-bit capacity read as
//! two halves), could mix old and new values. So the common configuration
//! has a `config_generation` byte that the device bumps on every change, and
//! the driver reads like a seqlock (§2.5.1): generation, fields, generation
//! again, and retries while the two differ — here at most
//! [`CONFIG_RETRY_LIMIT`] times, after which the device is called unstable.

use hal::RegisterWindow;

use super::{Transport, CONFIG_RETRY_LIMIT};
use crate::regs::common;
use crate::Error;

impl<W: RegisterWindow> Transport<W> {
    /// The configuration generation counter.
    pub fn config_generation(&self) -> u8 {
        self.common_read_u8(common::CONFIG_GENERATION).unwrap_or(0)
    }

    fn device_at(&self, offset: usize, len: usize) -> Result<usize, Error> {
        let region = self.layout.device.ok_or(Error::NoDeviceConfig)?;
        Self::at("device configuration", region, offset, len)
    }

    /// Reads an 8-bit device-configuration field.
    pub fn read_config_u8(&self, offset: usize) -> Result<u8, Error> {
        Ok(self.bar.read_u8(self.device_at(offset, 1)?)?)
    }

    /// Reads a 16-bit field.
    pub fn read_config_u16(&self, offset: usize) -> Result<u16, Error> {
        Ok(self.bar.read_u16(self.device_at(offset, 2)?)?)
    }

    /// Reads a 32-bit field.
    pub fn read_config_u32(&self, offset: usize) -> Result<u32, Error> {
        Ok(self.bar.read_u32(self.device_at(offset, 4)?)?)
    }

    /// Reads a 64-bit field as two 32-bit halves under the generation check.
    pub fn read_config_u64(&self, offset: usize) -> Result<u64, Error> {
        self.read_config_consistent(|t| {
            let low = t.read_config_u32(offset)?;
            let high = t.read_config_u32(offset + 4)?;
            Ok(u64::from(high) << 32 | u64::from(low))
        })
    }

    /// Runs `read` until the generation counter is the same before and
    /// after it (§2.5.1), at most [`CONFIG_RETRY_LIMIT`] times.
    pub fn read_config_consistent<T>(&self, read: impl Fn(&Self) -> Result<T, Error>) -> Result<T, Error> {
        for _ in 0..CONFIG_RETRY_LIMIT {
            let before = self.common_read_u8(common::CONFIG_GENERATION)?;
            let value = read(self)?;
            if self.common_read_u8(common::CONFIG_GENERATION)? == before {
                return Ok(value);
            }
        }
        Err(Error::ConfigUnstable)
    }
}
