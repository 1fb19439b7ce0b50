//! In-kernel tests of the block layer on the RAM disk and the machine's
//! virtio-blk disk: data goes through bios, the request queue, the
//! scheduler and the driver, and comes back exact.

use ::block::pattern;
use ::block::SECTOR_SIZE;

use super::{bcache, by_name, io, IoError};
use crate::{check, check_eq, ktest};

fn err(e: impl core::fmt::Display) -> alloc::string::String {
    alloc::format!("{e}")
}

/// A disk by name, or the test's error.
fn disk(name: &str) -> Result<alloc::sync::Arc<super::Disk>, alloc::string::String> {
    by_name(name).ok_or_else(|| alloc::format!("no {name} on this machine"))
}

/// Writes 1 MiB of pattern at `sector` (several bios, merged by the
/// queue) and reads it back in one piece.
fn round_trip(name: &str, sector: u64, seed: u64) -> Result<(), alloc::string::String> {
    let d = disk(name)?;
    let mut data = alloc::vec![0u8; 1 << 20];
    pattern::fill(seed, sector, &mut data);
    let merges_before = d.stats().map_or(0, |s| s.merges);
    io::write(&d, sector, &data, true).map_err(err)?;
    let mut back = alloc::vec![0u8; 1 << 20];
    io::read(&d, sector, &mut back).map_err(err)?;
    check!(pattern::check(seed, sector, &back).is_ok());
    check!(d.stats().map_or(0, |s| s.merges) >= merges_before);
    check_eq!(d.in_flight(), 0);
    Ok(())
}

ktest! {
    fn ramdisk_round_trips_a_megabyte() {
        round_trip("ram0", 100, 7)?;
    }

    fn virtio_blk_round_trips_a_megabyte() {
        // Far from where the end-to-end tests put their data.
        let d = disk("vda")?;
        round_trip("vda", d.sectors() - 4096, 11)?;
    }

    fn out_of_range_is_an_error_and_touches_nothing() {
        let d = disk("ram0")?;
        let mut buf = alloc::vec![0u8; 8 * SECTOR_SIZE];
        let got = io::read(&d, d.sectors() - 4, &mut buf);
        check!(matches!(got, Err(IoError::Invalid(_))));
        check!(io::read(&d, u64::MAX - 2, &mut buf).is_err());
        check_eq!(d.in_flight(), 0);
        // The disk still works.
        io::read(&d, 0, &mut buf).map_err(err)?;
    }

    fn both_schedulers_serve_io() {
        let d = disk("ram0")?;
        for name in ["noop", "deadline", "noop"] {
            d.set_scheduler(name)?;
            check_eq!(d.scheduler_name(), name);
            round_trip("ram0", 4096, 3)?;
        }
    }

    fn buffer_cache_writes_back_on_sync() {
        let d = disk("ram0")?;
        let block = 300u64;
        let sectors_per_block = (bcache::BLOCK_SIZE / SECTOR_SIZE) as u64;
        let mut data = alloc::vec![0u8; bcache::BLOCK_SIZE];
        pattern::fill(42, block * sectors_per_block, &mut data);
        bcache::with(&d, |c, dev| c.write(dev, block, &data)).map_err(err)?;
        // Not on the disk yet: write-back.
        let mut raw = alloc::vec![0u8; bcache::BLOCK_SIZE];
        io::read(&d, block * sectors_per_block, &mut raw).map_err(err)?;
        check!(raw != data);
        let mut cached = alloc::vec![0u8; bcache::BLOCK_SIZE];
        bcache::with(&d, |c, dev| c.read(dev, block, &mut cached)).map_err(err)?;
        check!(cached == data);
        check!(bcache::sync().map_err(err)? >= 1);
        io::read(&d, block * sectors_per_block, &mut raw).map_err(err)?;
        check!(raw == data);
    }
}

ktest! {
    fn virtio_blk_unbind_removes_the_disk_and_rebind_brings_it_back() {
        let old = disk("vda")?;
        let sector = old.sectors() - 8192;
        let mut data = alloc::vec![0u8; 64 * SECTOR_SIZE];
        pattern::fill(99, sector, &mut data);
        io::write(&old, sector, &data, true).map_err(err)?;
        let pci = crate::bus::pci::devices()
            .into_iter()
            .find(|d| d.driver_name() == Some("virtio-blk"))
            .ok_or("virtio-blk not bound")?;
        let vectors = crate::irq::vectors_available();
        let dma_live = || crate::dma::STATS.live_mappings.load(core::sync::atomic::Ordering::SeqCst);
        let dma_before = dma_live();
        check!(crate::bus::pci::driver::unbind(&pci));
        check!(by_name("vda").is_none());
        check!(crate::irq::vectors_available() > vectors, "the vectors were not freed");
        // A holder of the old disk gets an error, not a hang.
        let mut buf = alloc::vec![0u8; SECTOR_SIZE];
        check_eq!(io::read(&old, 0, &mut buf), Err(IoError::Gone));
        drop(old);
        // The last reference gone, the driver's rings and request slots are freed.
        check!(dma_live() < dma_before, "virtio-blk's DMA memory outlived the disk: {} -> {}", dma_before, dma_live());
        crate::bus::pci::driver::bind_all();
        check_eq!(pci.driver_name(), Some("virtio-blk"));
        check_eq!(crate::irq::vectors_available(), vectors);
        let new = disk("vda")?;
        let mut back = alloc::vec![0u8; 64 * SECTOR_SIZE];
        io::read(&new, sector, &mut back).map_err(err)?;
        check!(back == data, "data written before the unbind did not survive it");
    }
}
