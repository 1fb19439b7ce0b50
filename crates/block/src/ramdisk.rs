//! The RAM disk: a block device that is a byte array.
//!
//! LDD3's first block driver, `sbull` (and Linux's `brd`), keeps the disk in
//! memory: a read copies from the array, a write copies into it, a flush
//! has nothing to do. The seeds call it a *logical block driver* — block
//! semantics (sectors, range checks, a request queue in front) with no
//! hardware behind (`seeds/002`). This module is the byte moving; the
//! kernel's RAM disk driver wraps it with a request queue and completes
//! every request at once.
//!
//! It also implements [`BlockIo`], so the buffer
//! cache and the partition scanner can be tested against it on the host.

use alloc::vec;
use alloc::vec::Vec;

use crate::bio::BioError;
use crate::cache::{BlockIo, IoFailed};
use crate::SECTOR_SIZE;

/// A disk held in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RamDisk {
    data: Vec<u8>,
    /// Successful read calls.
    pub reads: u64,
    /// Successful write calls.
    pub writes: u64,
    /// Flush calls.
    pub flushes: u64,
}

impl RamDisk {
    /// A zero-filled disk of `sectors` sectors.
    pub fn new(sectors: u64) -> Self {
        Self::from_image(vec![0; sectors as usize * SECTOR_SIZE])
    }

    /// A disk holding `image`; a trailing partial sector is dropped.
    pub fn from_image(mut image: Vec<u8>) -> Self {
        image.truncate(image.len() / SECTOR_SIZE * SECTOR_SIZE);
        RamDisk { data: image, reads: 0, writes: 0, flushes: 0 }
    }

    /// Size in sectors.
    pub fn sectors(&self) -> u64 {
        (self.data.len() / SECTOR_SIZE) as u64
    }

    /// The whole disk.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// The byte range of `len` bytes at `sector`, if it is whole sectors
    /// inside the disk.
    fn range(&self, sector: u64, len: usize) -> Result<core::ops::Range<usize>, BioError> {
        if !len.is_multiple_of(SECTOR_SIZE) {
            return Err(BioError::Unaligned { offset: 0, len });
        }
        let sectors = (len / SECTOR_SIZE) as u64;
        let out = BioError::OutOfRange { sector, sectors, capacity: self.sectors() };
        match sector.checked_add(sectors) {
            Some(end) if end <= self.sectors() => {
                let start = sector as usize * SECTOR_SIZE;
                Ok(start..start + len)
            }
            _ => Err(out),
        }
    }

    /// Copies sectors starting at `sector` into `buf` (a whole number of
    /// sectors).
    pub fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), BioError> {
        let r = self.range(sector, buf.len())?;
        buf.copy_from_slice(&self.data[r]);
        self.reads += 1;
        Ok(())
    }

    /// Copies `buf` (a whole number of sectors) to the disk at `sector`.
    pub fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), BioError> {
        let r = self.range(sector, buf.len())?;
        self.data[r].copy_from_slice(buf);
        self.writes += 1;
        Ok(())
    }
}

impl BlockIo for RamDisk {
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), IoFailed> {
        RamDisk::read(self, sector, buf).map_err(|_| IoFailed)
    }

    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), IoFailed> {
        RamDisk::write(self, sector, buf).map_err(|_| IoFailed)
    }

    fn flush(&mut self) -> Result<(), IoFailed> {
        self.flushes += 1;
        Ok(())
    }

    fn capacity(&self) -> u64 {
        self.sectors()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_write_and_ranges() {
        let mut d = RamDisk::new(4);
        assert_eq!(d.sectors(), 4);
        d.write(1, &[7u8; 1024]).unwrap();
        let mut b = [0u8; 1536];
        d.read(0, &mut b).unwrap();
        assert!(b[..512].iter().all(|&x| x == 0));
        assert!(b[512..].iter().all(|&x| x == 7));
        assert!(matches!(d.read(3, &mut [0u8; 1024]), Err(BioError::OutOfRange { .. })));
        assert!(matches!(d.write(u64::MAX, &[0u8; 512]), Err(BioError::OutOfRange { .. })));
        assert!(matches!(d.write(0, &[0u8; 100]), Err(BioError::Unaligned { .. })));
        assert_eq!((d.reads, d.writes), (1, 1));
        assert_eq!(RamDisk::from_image(vec![1; 1000]).sectors(), 1);
    }
}
